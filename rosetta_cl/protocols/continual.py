"""The continual protocol: a stream D1 -> D2 -> ... -> DT of any length.

Every method x seed trains one strategy through the whole stream. Each keeps a RosettaPlugin
that selects k anchors from its own model after every experience (``accumulate``: keep all,
keep the latest, or re-select k over the union); only anchored methods (the R-VAE) use them in
the loss (rho), but every method gets the current x_r added to its data (AnchorInputsPlugin),
as in the two-experience protocols. With ``reinit`` (default) each experience starts from fresh
weights: the paper's portability setting, where only the anchors carry the past.

After each experience t >= 2 the model is compared with a VAE trained jointly on D1..Dt (seed
``config.seed``): LSD under ONE affine map fitted on the validation data of every part seen so
far, reported per part (column ``after_Dt/LSD_Dj``; every pairwise metric of ``--metrics`` the
same way); and the reconstruction NLL of every seen part (forgetting), in ``extra["recon"]``
(``after_Dt/recon_Dj``).
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets

from rosetta_cl.anchors.rosetta_plugin import AnchorInputsPlugin, RosettaPlugin
from rosetta_cl.config.options import resolve_device
from rosetta_cl.data.streams import tensor_dataset
from rosetta_cl.data.tensors import dataset_tensors
from rosetta_cl.methods.epoch_metrics import MetricHistory
from rosetta_cl.metrics.summary import summarize
from rosetta_cl.metrics.transfer import stream_transfer
from rosetta_cl.models.vae import VAE, elbo_terms, encode_means
from rosetta_cl.records import Emit, RunRecord
from rosetta_cl.registry import METHODS, make_plugins
from rosetta_cl.training.divergence import check_latents
from rosetta_cl.training.executors import LocalExecutor
from rosetta_cl.training.progress import GridBar
from rosetta_cl.training.results import (
    ProtocolResult,
    column_key,
    column_of,
    pairwise_scores,
    tabulated,
)
from rosetta_cl.training.trainer import Trainer, units_of


def _joint(bench, t: int):
    """D1 u ... u Dt train data as one experience."""
    dataset = bench.train_stream[0].dataset
    for experience in list(bench.train_stream)[1:t]:
        dataset = dataset.concat(experience.dataset)
    return benchmark_from_datasets(train=[dataset]).train_stream[0]


def run_continual(bench, config, emit: Emit | None = None, progress: bool = False,
                  executor=None, reuse=None) -> ProtocolResult:
    start = time.perf_counter()
    trainer = Trainer(bench, config, emit, progress, executor, reuse)
    parts = bench.parts
    targets = {}
    for t in range(2, len(parts) + 1):
        latents = trainer.train("vae", config.seed, _joint(bench, t),
                                name=f"target@{parts[t - 1]}", role="target",
                                val_x=torch.cat(trainer.valid_x[:t])).latents
        targets[t] = np.concatenate([latents[f"mu_{p}"] for p in parts[:t]])

    columns = tabulated(config.metrics)
    values: dict[str, dict[str, list[float]]] = {}
    recon: dict[str, dict[str, list[float]]] = {}
    runs = trainer.method_runs()
    if isinstance(trainer.executor, LocalExecutor):
        shared = (trainer, list(bench.train_stream), targets)
        outputs = (_through_stream(shared, run) for run in runs)
    else:  # Ray tasks side by side; the stream travels as tensors
        shared = (trainer.portable(), [dataset_tensors(e.dataset) for e in bench.train_stream],
                  targets)
        outputs = trainer.executor.map(_through_stream, shared, runs)
    bar = trainer.grid or GridBar(len(runs), trainer.progress)
    units: dict[str, list[float]] = {}
    for (method, _), (record, logged) in zip(runs, outputs, strict=True):
        trainer.emit(record)
        bar.update(name=record.name)
        units.setdefault(method, []).append(logged["active_units"])
        for key, value in logged.items():
            into = recon if "/recon_" in key else (
                values if "/" in key and column_of(key.split("/", 1)[1], columns) else None)
            if into is not None:
                into.setdefault(method, {}).setdefault(key, []).append(value)
    if bar is not trainer.grid:
        bar.close()
    first = next(iter(values.values()))
    table = summarize({m: {k: np.array(v) for k, v in cols.items()} for m, cols in values.items()},
                      next(iter(columns)),
                      {k: columns[column_key(k.split("/", 1)[1], columns)] for k in first})
    transfer = {m: stream_transfer({**values.get(m, {}), **recon.get(m, {})}, list(parts),
                                   next(iter(columns))) for m in values}
    extra = {"recon": {m: {k: float(np.median(v)) for k, v in cols.items()}
                       for m, cols in recon.items()},
             "transfer": {m: {name: {after: float(np.median(v)) for after, v in cols.items()}
                              for name, cols in measures.items()}
                          for m, measures in transfer.items()},
             "latent_spread": {}, "anchors_per_method": config.accumulate,
             "active_units": units}
    metrics = {f"{name}_{after}/{m}": value for m, measures in extra["transfer"].items()
               for name, cols in measures.items() for after, value in cols.items()}
    return ProtocolResult(config, table, values, None, time.perf_counter() - start, extra=extra,
                          metrics=metrics)


def _through_stream(shared, run: tuple[str, int]) -> tuple[RunRecord, dict[str, float]]:
    """One method x seed through the whole stream: its record and what it logged after each
    experience. ``shared`` = (trainer, the stream's experiences or their (x, y) tensors,
    the joint targets' latents); runs in this process or in a Ray worker."""
    trainer, stream, targets = shared
    config, parts = trainer.config, trainer.bench.parts
    if stream and isinstance(stream[0], tuple):  # in a worker: rebuild the experiences
        stream = benchmark_from_datasets(train=[tensor_dataset(x, y) for x, y in stream]
                                         ).train_stream
        trainer = copy.copy(trainer)
        trainer.device = resolve_device(config.device)
    method, seed = run
    started = time.time()
    spec = METHODS[method]
    name = f"{method}/seed{seed}"
    torch.manual_seed(seed)
    model = VAE(trainer.model_configs["method"]).to(trainer.device)
    rosetta = RosettaPlugin(config.rosetta_points, config.rho if spec.anchored else 0.0,
                            reinit=config.reinit, seed=seed, selection=config.selection,
                            accumulate=config.accumulate)
    history = MetricHistory()
    strategy = spec.make(
        model, config, None, lr=config.lr, train_mb_size=config.batch_size,
        train_epochs=config.epochs, device=trainer.device, seed=seed,
        loggers=[history], val_x=None,
        plugins=[rosetta, AnchorInputsPlugin(rosetta), *trainer.watch(name, seed),
                 *make_plugins(config.plugins)])
    logged: dict[str, float] = {}
    arrays: dict = {}
    for t, experience in enumerate(stream, start=1):
        strategy.train(experience)
        metrics, more = _evaluate(model, trainer, targets.get(t), t, seed)
        logged.update(metrics)
        arrays.update(more)
    latents = {f"mu_{p}": encode_means(model, x).cpu().numpy()
               for p, x in zip(parts, trainer.valid_x, strict=True)}
    check_latents(f"{name} (seed {seed})", config.epochs * len(stream), latents, config.lr)
    logged["active_units"] = float(units_of(latents))
    record = RunRecord(
        name, trainer.params(method, seed, "method"), trainer.tags("method", method, seed),
        history=history.values, metrics=logged,
        arrays={**arrays, **trainer.model_arrays(model, latents, rosetta.anchors)},
        model=model.cpu(), anchors=rosetta.anchors, started=started,
        epoch_times=history.times)
    return record, logged


def _evaluate(model, trainer, target, t: int, seed: int) -> tuple[dict[str, float], dict]:
    parts = trainer.bench.parts[:t]
    metrics = {f"after_{parts[-1]}/recon_{p}": elbo_terms(model, x, seed)[0]
               for p, x in zip(parts, trainer.valid_x[:t], strict=True)}
    if target is None:  # after D1 there is nothing to compare with yet
        return metrics, {}
    source = np.concatenate([encode_means(model, x).cpu().numpy() for x in trainer.valid_x[:t]])
    sizes = np.cumsum([0] + [len(x) for x in trainer.valid_x[:t]])
    rows = np.arange(len(source))
    groups = {p: (rows >= lo) & (rows < hi)
              for p, lo, hi in zip(parts, sizes[:-1], sizes[1:], strict=True)}
    scores, arrays = pairwise_scores(trainer.config.metrics, source, target, groups,
                                     prefix=f"after_{parts[-1]}/")
    return {**metrics, **scores}, arrays
