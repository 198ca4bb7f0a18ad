"""The continual protocol: a stream D1 -> D2 -> ... -> DT of any length.

Every method x seed trains one strategy through the whole stream. Each keeps a RosettaPlugin
that selects k anchors from its own model after every experience (``accumulate``: keep all,
keep the latest, or re-select k over the union); only anchored methods (the R-VAE) use them in
the loss (rho), but every method gets the current x_r added to its data (AnchorInputsPlugin),
as in the two-experience protocols. With ``reinit`` (default) each experience starts from fresh
weights: the paper's portability setting, where only the anchors carry the past.

After each experience t >= 2 the model is compared with a VAE trained jointly on D1..Dt (seed
``config.seed``): LSD under ONE affine map fitted on the validation data of every part seen so
far, reported per part (column ``after_Dt/LSD_Dj``); and the reconstruction NLL of every seen
part (forgetting), in ``extra["recon"]`` (``after_Dt/recon_Dj``).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
from tqdm.auto import tqdm

from .extensions import make_plugins
from .metrics import fit_linear_map, lsd_per_point
from .models import VAE, elbo_terms, encode_means
from .plugin import AnchorInputsPlugin, RosettaPlugin
from .protocols import ProtocolResult, _EpochBar, _Runner
from .registry import METHODS
from .runs import NullTracker
from .summary import summarize


def _joint(bench, t: int):
    """D1 u ... u Dt train data as one experience."""
    dataset = bench.train_stream[0].dataset
    for experience in list(bench.train_stream)[1:t]:
        dataset = dataset.concat(experience.dataset)
    return benchmark_from_datasets(train=[dataset]).train_stream[0]


def run_continual(bench, config, tracker=None, progress: bool = False) -> ProtocolResult:
    tracker = tracker or NullTracker()
    start = time.perf_counter()
    runner = _Runner(bench, config, tracker, progress)
    parts = bench.parts
    targets = {}
    for t in range(2, len(parts) + 1):
        _, latents, _, _ = runner.train("vae", config.seed, _joint(bench, t),
                                        name=f"target@{parts[t - 1]}", role="target",
                                        val_x=torch.cat(runner.valid_x[:t]))
        targets[t] = np.concatenate([latents[f"mu_{p}"] for p in parts[:t]])

    values: dict[str, dict[str, list[float]]] = {}
    recon: dict[str, dict[str, list[float]]] = {}
    for method, seed in tqdm(runner.method_runs(), desc="runs", disable=None if progress else True):
        spec = METHODS[method]
        name = f"{method}/seed{seed}"
        with tracker.child(name, runner.params(method, seed, "method"),
                           runner.tags("method", method, seed)):
            torch.manual_seed(seed)
            model = VAE(runner.model_configs["method"]).to(runner.device)
            rosetta = RosettaPlugin(config.rosetta_points, config.rho if spec.anchored else 0.0,
                                    reinit=config.reinit, seed=seed, selection=config.selection,
                                    accumulate=config.accumulate)
            strategy = spec.make(
                model, config, None, lr=config.lr, train_mb_size=config.batch_size,
                train_epochs=config.epochs, device=runner.device, seed=seed,
                loggers=tracker.loggers(), val_x=None,
                plugins=[rosetta, AnchorInputsPlugin(rosetta), _EpochBar(name, progress),
                         *make_plugins(config.plugins)])
            for t, experience in enumerate(bench.train_stream, start=1):
                strategy.train(experience)
                metrics = _evaluate(model, runner, targets.get(t), t, seed)
                tracker.log_metrics(metrics)
                for key, value in metrics.items():
                    into = recon if "/recon_" in key else values
                    into.setdefault(method, {}).setdefault(key, []).append(value)
            tracker.log_model(model)
            tracker.log_anchors(rosetta.anchors)
            runner.log_latents(model, {f"mu_{p}": encode_means(model, x).cpu().numpy()
                                       for p, x in zip(parts, runner.valid_x)}, rosetta.anchors)
    table = summarize({m: {k: np.array(v) for k, v in cols.items()} for m, cols in values.items()},
                      "LSD")
    extra = {"recon": {m: {k: float(np.median(v)) for k, v in cols.items()}
                       for m, cols in recon.items()},
             "latent_spread": {}, "anchors_per_method": config.accumulate}
    return ProtocolResult(config, table, values, None, time.perf_counter() - start,
                          tracker.parent_run_id, extra)


def _evaluate(model, runner, target, t: int, seed: int) -> dict[str, float]:
    parts = runner.bench.parts[:t]
    metrics = {f"after_{parts[-1]}/recon_{p}": elbo_terms(model, x, seed)[0]
               for p, x in zip(parts, runner.valid_x)}
    if target is None:  # after D1 there is nothing to compare with yet
        return metrics
    source = np.concatenate([encode_means(model, x).cpu().numpy() for x in runner.valid_x[:t]])
    A, b = fit_linear_map(source, target)
    per_point = lsd_per_point(source, target, A, b)
    sizes = np.cumsum([0] + [len(x) for x in runner.valid_x[:t]])
    for p, lo, hi in zip(parts, sizes[:-1], sizes[1:]):
        metrics[f"after_{parts[-1]}/LSD_{p}"] = float(per_point[lo:hi].mean())
    return metrics
