"""The paper's two experiments, as library functions.

sequential:      template VAE on D1 -> Rosetta points R1; target VAE on D1 u D2; every method
                 trained from scratch on D2 u x_r for each seed; LSD of each model to the target
                 on D1 and D2 (validation splits) under ONE linear map fitted on D1 u D2.
reproducibility: template VAE on D1 -> R1; every method retrained on D1 u x_r for each seed;
                 RV over the retrainings on D1 (validation split).

Every method sees the same data (the x_r are added to the baselines' data too); only the R-VAE
is anchored. Seeds: the template and target use ``config.seed``, the i-th run of every method
uses ``config.seed + 1 + i`` (paired across methods).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
from avalanche.core import SupervisedPlugin
from tqdm.auto import tqdm

from .anchors import Anchors
from .config import RunConfig, resolve_device
from .data import dataset_tensors
from .ensemble import Objective, train_ensemble
from .extensions import make_plugins, parse_plugin
from .metrics import fit_linear_map, linear_map_analysis, lsd, lsd_per_point, rv_per_point
from .models import VAE, ModelConfig, encode_means
from .registry import METHODS
from .runs import NullTracker
from .strategies import RosettaVAEStrategy
from .streams import Benchmark, tensor_dataset
from .summary import Table, summarize


@dataclass
class ProtocolResult:
    config: RunConfig
    table: Table
    values: dict[str, dict[str, list[float]]]  # method -> column -> per-run values (LSD) / RV mean
    anchors: Anchors
    wall_time_s: float
    parent_run_id: str | None = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "benchmark": self.config.benchmark,
            "protocol": self.config.protocol,
            "parent_run_id": self.parent_run_id,
            "wall_time_s": round(self.wall_time_s, 3),
            "config": self.config.as_params(),
            "table": self.table.as_dict(),
            "values": self.values,
            **self.extra,
        }


class _EpochBar(SupervisedPlugin):
    """A tqdm bar over epochs (silent when stderr is not a terminal)."""

    def __init__(self, description: str, show: bool):
        super().__init__()
        self.description, self.show, self.bar = description, show, None

    def before_training_exp(self, strategy, **kwargs):
        self.bar = tqdm(total=strategy.train_epochs, desc=self.description, leave=False,
                        disable=None if self.show else True)

    def after_training_epoch(self, strategy, **kwargs):
        self.bar.update()

    def after_training_exp(self, strategy, **kwargs):
        self.bar.close()


class _Runner:
    """Shared plumbing of both protocols: building models and strategies, training, logging."""

    def __init__(self, bench: Benchmark, config: RunConfig, tracker, progress: bool):
        self.bench, self.config, self.tracker, self.progress = bench, config, tracker, progress
        self.device = resolve_device(config.device)
        # The template and target share one architecture; the methods' may differ (Table 10).
        self.model_configs = {
            "template": self._model_config(config.template_arch, config.template_arch_variant),
            "method": self._model_config(config.arch, config.arch_variant),
        }
        self.model_configs["target"] = self.model_configs["template"]
        valid = [dataset_tensors(e.dataset) for e in bench.valid_stream]  # one pass per split
        self.valid_x = [x for x, _ in valid]
        self.valid_y = [y for _, y in valid]

    def _model_config(self, arch: str, variant: str) -> ModelConfig:
        defaults = self.bench.defaults
        return ModelConfig(
            input_dim=self.bench.input_dim, latent_dim=self.config.latent_dim,
            hidden=defaults.hidden_for(arch), covariance=self.config.covariance,
            likelihood=defaults.likelihood,
            obs_scale=self.config.obs_scale if defaults.likelihood == "gaussian" else None,
            arch=arch, arch_variant=variant, image_shape=defaults.image_shape)

    def tags(self, role: str, method: str, seed: int) -> dict:
        return {"protocol": self.config.protocol, "benchmark": self.config.benchmark,
                "role": role, "method": method, "seed": seed}

    def params(self, method: str, seed: int, role: str) -> dict:
        model_config = self.model_configs[role]
        plugins = {f"plugin.{name}": str(options) for name, options in
                   map(parse_plugin, self.config.plugins)} if role == "method" else {}
        return {**self.config.as_params(), **plugins, "method": method, "run_seed": str(seed),
                "beta_used": str(self.config.beta if method == "bvae" else 1.0),
                **{f"model.{k}": str(v) for k, v in vars(model_config).items()}}

    def train(self, method: str, seed: int, experience, *, name: str, role: str,
              anchors: Anchors | None = None, val_x=None, evaluate=None):
        """Fresh model seeded with ``seed``, trained with ``method`` on one experience.

        ``evaluate(model, latents) -> metrics`` runs inside the model's MLflow run, which logs them.
        Returns (model, latents of each validation part, anchors selected, metrics).
        """
        with self.tracker.child(name, self.params(method, seed, role),
                                self.tags(role, method, seed)):
            torch.manual_seed(seed)
            model = VAE(self.model_configs[role]).to(self.device)
            common = {"lr": self.config.lr, "train_mb_size": self.config.batch_size,
                      "train_epochs": self.config.epochs, "device": self.device, "seed": seed,
                      "loggers": self.tracker.loggers(), "val_x": val_x,
                      "plugins": [_EpochBar(name, self.progress)]}
            if role == "method":  # --plugin: fresh instances for every trained model
                common["plugins"] += make_plugins(self.config.plugins)
            if role == "template":
                strategy = RosettaVAEStrategy(model=model, k=self.config.rosetta_points, rho=0.0,
                                              select=True, selection=self.config.selection,
                                              **common)
            else:
                strategy = METHODS[method].make(model, self.config, anchors, **common)
            strategy.train(experience)
            anchors_out = strategy.rosetta.anchors if role == "template" else None
            latents, metrics = self._record(model, anchors if anchors_out is None else anchors_out,
                                            evaluate)
            if anchors_out is not None:
                self.tracker.log_anchors(anchors_out)
                # built only when something is logged (it re-reads and hashes D1)
                self.tracker.log_anchor_file(partial(self._anchor_file, model, anchors_out,
                                                     experience, seed))
        return model, latents, anchors_out, metrics

    def _record(self, model, anchors: Anchors | None, evaluate) -> tuple[dict, dict]:
        """In the model's open MLflow run: its validation latents, the model, ``evaluate``'s
        metrics. Returns (latents of each validation part, metrics)."""
        latents = {f"mu_{part}": encode_means(model, x).cpu().numpy()
                   for part, x in zip(self.bench.parts, self.valid_x)}
        self.log_latents(model, latents, anchors)
        self.tracker.log_model(model)
        metrics = evaluate(model, latents) if evaluate else {}
        self.tracker.log_metrics(metrics)
        return latents, metrics

    def train_methods(self, experience, anchors: Anchors, val_x, evaluate=None) -> list[tuple]:
        """Every (method, seed) run of the protocol, each in its own MLflow run: one model at a
        time through the method's strategy, or with ``config.ensemble`` each method's seeds as one
        vectorised ensemble (same arithmetic, see ``ensemble``). Returns (method, seed,
        latents, metrics) per run, in ``method_runs`` order."""
        results = []
        if not self.config.ensemble:
            for method, seed in tqdm(self.method_runs(), desc="runs",
                                     disable=None if self.progress else True):
                _, latents, _, metrics = self.train(method, seed, experience,
                                                    name=f"{method}/seed{seed}", role="method",
                                                    anchors=anchors, val_x=val_x,
                                                    evaluate=evaluate)
                results.append((method, seed, latents, metrics))
            return results
        x, _ = dataset_tensors(experience.dataset)
        for method in self.config.methods:
            seeds = [seed for m, seed in self.method_runs() if m == method]
            beta, rho = METHODS[method].objective(self.config)
            with tqdm(total=self.config.epochs, desc=f"{method} x{len(seeds)}", leave=False,
                      disable=None if self.progress else True) as bar:
                runs = train_ensemble(
                    self.model_configs["method"], seeds, x,
                    objective=Objective(beta, rho, anchors, self.config.anchor_fit,
                                        self.config.anchor_decoder),
                    epochs=self.config.epochs,
                    batch_size=self.config.batch_size, lr=self.config.lr, device=self.device,
                    val_x=val_x, on_epoch=lambda _: bar.update())
            for run in runs:
                with self.tracker.child(f"{method}/seed{run.seed}",
                                        self.params(method, run.seed, "method"),
                                        self.tags("method", method, run.seed)):
                    self.tracker.log_history(run.history)
                    results.append((method, run.seed, *self._record(run.model, anchors, evaluate)))
        return results

    def log_latents(self, model, latents: dict, anchors: Anchors | None) -> None:
        """``latents.npz``: the validation latent means ``mu_<part>`` and labels ``y_<part>``,
        and ``rosetta_mu``, where this model puts the Rosetta points' inputs (for the figures)."""
        arrays = {**latents, **{f"y_{p}": y.numpy() for p, y in zip(self.bench.parts,
                                                                    self.valid_y)}}
        if anchors is not None and len(anchors):
            arrays["rosetta_mu"] = encode_means(model, anchors.x.to(self.device)).cpu().numpy()
        self.tracker.log_arrays("latents.npz", **arrays)

    def _anchor_file(self, model, anchors: Anchors, experience, seed: int):
        """The template's anchors as a portable ``.rosetta`` file (what Alice shares)."""
        from dataclasses import asdict

        from .anchor_file import fingerprint, make_anchor_file

        x, _ = dataset_tensors(experience.dataset)
        config = model.config
        return make_anchor_file(
            anchors.x, anchors.z, input_shape=config.image_shape or (config.input_dim,),
            selection={"method": self.config.selection, "k": self.config.rosetta_points,
                       "seed": seed},
            template={k: list(v) if isinstance(v, tuple) else v
                      for k, v in asdict(config).items()},
            source={"benchmark": self.config.benchmark, "part": self.bench.parts[0],
                    "split_seed": self.config.seed, "subsample": self.config.subsample,
                    "n": len(x), "fingerprint": fingerprint(x)})

    def template(self):
        """Template VAE on D1; its RosettaPlugin selects the anchors after training.
        Returns (anchors, the template's latent means of the validation parts).

        With ``config.anchors`` (a ``.rosetta`` file: Bob's workflow) no template is trained:
        the file's anchors are used and the template latents are None."""
        if self.config.anchors:
            from .anchor_file import read_anchor_file

            self.tracker.log_file(self.config.anchors)
            return read_anchor_file(self.config.anchors).anchors(), None
        _, latents, anchors, _ = self.train("vae", self.config.seed, self.bench.train_stream[0],
                                            name="template", role="template",
                                            val_x=self.valid_x[0])
        return anchors, latents

    def with_anchor_inputs(self, experience, anchors: Anchors):
        """The experience's data plus the x_r (label -1): what every method trains on."""
        extra = tensor_dataset(anchors.x.numpy(), np.full(len(anchors), -1))
        return benchmark_from_datasets(train=[experience.dataset.concat(extra)]).train_stream[0]

    def method_data(self, anchors: Anchors):
        """What the methods train on, and their validation inputs: D2 u x_r (sequential) or
        D1 u x_r (reproducibility)."""
        part = 1 if self.config.protocol == "sequential" else 0
        return (self.with_anchor_inputs(self.bench.train_stream[part], anchors),
                self.valid_x[part])

    def method_runs(self):
        return [(m, self.config.seed + 1 + i) for m in self.config.methods
                for i in range(self.config.seeds)]


def run_sequential(bench: Benchmark, config: RunConfig, tracker=None,
                   progress: bool = False) -> ProtocolResult:
    tracker = tracker or NullTracker()
    start = time.perf_counter()
    runner = _Runner(bench, config, tracker, progress)
    anchors, template = runner.template()
    _, target, _, _ = runner.train("vae", config.seed, bench.joint_stream[0], name="target",
                                role="target", val_x=torch.cat(runner.valid_x))
    target_all = np.concatenate([target[f"mu_{p}"] for p in bench.parts])
    n1 = len(runner.valid_x[0])
    groups = {"D1": np.arange(len(target_all)) < n1, "D2": np.arange(len(target_all)) >= n1}

    def evaluate(model, latents):
        source = np.concatenate([latents[f"mu_{p}"] for p in bench.parts])
        A, b = fit_linear_map(source, target_all)  # ONE map for D1 and D2
        per_point = lsd_per_point(source, target_all, A, b)
        analysis = linear_map_analysis(A, b)
        tracker.log_arrays("linear_map.npz", A=A, b=b, P_eigenvalues=analysis["P_eigenvalues"])
        return {**{f"LSD_{part}": float(per_point[mask].mean()) for part, mask in groups.items()},
                "latent_spread_D1": latent_spread(latents["mu_D1"]),
                "map_identity_gap": analysis["identity_gap"],
                "map_bias_norm": analysis["bias_norm"],
                **{f"map_P_eig_{i}": float(v) for i, v in enumerate(analysis["P_eigenvalues"])}}

    experience, val_x = runner.method_data(anchors)
    values: dict[str, dict[str, list[float]]] = {}
    spreads: dict[str, list[float]] = {}
    maps: dict[str, dict[str, list[float]]] = {}
    for method, _, _, metrics in runner.train_methods(experience, anchors, val_x, evaluate):
        spreads.setdefault(method, []).append(metrics.pop("latent_spread_D1"))
        for key, value in metrics.items():
            into = maps if key.startswith("map_") else values
            into.setdefault(method, {}).setdefault(key, []).append(value)
    table = summarize({m: {k: np.array(v) for k, v in cols.items()} for m, cols in values.items()},
                      "LSD")
    # The anchors carry the template's geometry, so how far the template is from the target on D1
    # (its own best affine map, fitted on D1 alone) is the yardstick for the R-VAE's LSD_D1.
    extra = {**_spread_summary(spreads, target["mu_D1"]),
             "linear_map": {m: {k: float(np.median(v)) for k, v in cols.items()}
                            for m, cols in maps.items()}}
    if template is not None:
        template_lsd = lsd(template["mu_D1"], target["mu_D1"])
        tracker.log_metrics({"template_to_target_LSD_D1": template_lsd})
        extra["template_to_target_LSD_D1"] = template_lsd
    return ProtocolResult(config, table, values, anchors, time.perf_counter() - start,
                          tracker.parent_run_id, extra)


def run_reproducibility(bench: Benchmark, config: RunConfig, tracker=None,
                        progress: bool = False) -> ProtocolResult:
    tracker = tracker or NullTracker()
    start = time.perf_counter()
    runner = _Runner(bench, config, tracker, progress)
    anchors, _ = runner.template()
    experience, val_x = runner.method_data(anchors)
    means: dict[str, list[np.ndarray]] = {}
    spreads: dict[str, list[float]] = {}

    def evaluate(model, latents):
        return {"latent_spread_D1": latent_spread(latents["mu_D1"])}

    for method, _, latents, metrics in runner.train_methods(experience, anchors, val_x,
                                                            evaluate):
        means.setdefault(method, []).append(latents["mu_D1"])
        spreads.setdefault(method, []).append(metrics["latent_spread_D1"])
    per_point = {m: rv_per_point(np.stack(runs)) for m, runs in means.items()}
    for method, rv_points in per_point.items():
        tracker.log_metrics({f"RV/{method}": float(np.mean(rv_points))})
    table = summarize({m: {"RV": v} for m, v in per_point.items()}, "RV")
    values = {m: {"RV": [float(np.mean(v))]} for m, v in per_point.items()}
    return ProtocolResult(config, table, values, anchors, time.perf_counter() - start,
                          tracker.parent_run_id, _spread_summary(spreads, None))


def latent_spread(mu: np.ndarray) -> float:
    """Total variance of the latent means over points: the scale RV and LSD should be read
    against (a collapsed latent space has a tiny RV without being more reproducible)."""
    return float(np.var(np.asarray(mu, dtype=np.float64), axis=0).sum())


def _spread_summary(spreads: dict[str, list[float]], target_mu) -> dict:
    out = {"latent_spread": {m: float(np.median(v)) for m, v in spreads.items()}}
    if target_mu is not None:
        out["target_latent_spread"] = latent_spread(target_mu)
    return out

