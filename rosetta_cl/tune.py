"""Hyperparameter selection as in the paper's appendix B: short runs over a grid, best by
validation loss.

For the protocol's training data (sequential: D2 u x_r, reproducibility: D1 u x_r), a template
VAE on D1 gives the anchors; then the beta-VAE is trained for each beta of ``beta_grid`` and the
R-VAE for each rho of ``rho_grid`` (20 epochs by default). Every grid point is scored by the
same yardstick, the negative ELBO with beta = 1 on the validation split: a method's own
objective would not do, since it rewards beta = 0 (no KL term) and ignores rho. The chosen
values are tagged on the MLflow parent run (``tune.best_beta``, ``tune.best_rho``), where
``rosetta-cl run --from-tune RUN_ID`` reads them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from .config import PROTOCOLS, RunConfig
from .errors import ConfigError
from .models import elbo_terms
from .protocols import _Runner
from .runner import open_tracker, prepare
from .runs import NullTracker

PAPER_BETA_GRID = "0:2.5:25"
PAPER_RHO_GRID = "0:0.75:15"
TUNE_EPOCHS = 20
QUICK_GRID_POINTS = 3
BEST_TAGS = {"beta": "tune.best_beta", "rho": "tune.best_rho"}


def parse_grid(text: str, name: str) -> tuple[float, ...]:
    """``start:step:stop`` (stop included, as in the paper's 0:2.5:25) or ``a,b,c``."""
    try:
        if ":" in text:
            start, step, stop = (float(v) for v in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            count = int(np.floor((stop - start) / step + 1e-9)) + 1
            values = tuple(round(start + i * step, 10) for i in range(count))
        else:
            values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{name} grid {text!r}: allowed start:step:stop with step > 0 and "
                          "stop >= start (e.g. 0:2.5:25), or a comma list (e.g. 0,1,2)") from None
    if not values or min(values) < 0:
        raise ConfigError(f"{name} grid {text!r}: needs at least one value, all >= 0")
    return values


def validation_nelbo(model, x: torch.Tensor, seed: int = 0) -> float:
    """Mean negative ELBO (beta = 1) over ``x``, one seeded posterior sample per point."""
    return sum(elbo_terms(model, x, seed))


@dataclass
class TuneResult:
    config: RunConfig
    grids: dict[str, dict[float, float]]  # "beta" / "rho" -> value -> validation negative ELBO
    best: dict[str, float]
    wall_time_s: float
    parent_run_id: str | None = None

    def as_dict(self) -> dict:
        return {"benchmark": self.config.benchmark, "protocol": self.config.protocol,
                "epochs": self.config.epochs, "parent_run_id": self.parent_run_id,
                "wall_time_s": round(self.wall_time_s, 3), "best": self.best,
                "criterion": "validation negative ELBO (beta = 1)",
                "grids": {k: [{"value": v, "val_nelbo": s} for v, s in grid.items()]
                          for k, grid in self.grids.items()}}


def tune(config: RunConfig, beta_grid=None, rho_grid=None, *, tracking_uri: str | None = None,
         experiment: str | None = None, track: bool = True, progress: bool = False) -> TuneResult:
    """Pick beta (beta-VAE) and rho (R-VAE) for ``config``'s benchmark and protocol; the grids
    default to the paper's."""
    beta_grid = tuple(beta_grid or parse_grid(PAPER_BETA_GRID, "beta"))
    rho_grid = tuple(rho_grid or parse_grid(PAPER_RHO_GRID, "rho"))
    start = time.perf_counter()
    if config.epochs is None and not config.quick:  # quick: the benchmark's quick epochs
        config = replace(config, epochs=TUNE_EPOCHS)
    if config.quick:
        beta_grid, rho_grid = beta_grid[:QUICK_GRID_POINTS], rho_grid[:QUICK_GRID_POINTS]
    if config.ensemble:
        raise ConfigError("--ensemble with tune: allowed with `rosetta-cl run` (tune trains one "
                          "model per grid point and seed)")
    if config.protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {config.protocol!r}: allowed {', '.join(PROTOCOLS)}")
    protocol = config.protocol
    # Resolved as "sequential": the RV rule (seeds > latent dim) does not apply to tuning.
    config, bench = prepare(replace(config, methods=("bvae", "rvae"), seeds=config.seeds or 1,
                                    protocol="sequential"))
    config = replace(config, protocol=protocol)
    tracker = open_tracker(tracking_uri, experiment or config.benchmark) if track else NullTracker()
    grids: dict[str, dict[float, float]] = {"beta": {}, "rho": {}}
    with tracker.parent(f"tune-{config.benchmark}", {
            **config.as_params(), "beta_grid": ",".join(map(str, beta_grid)),
            "rho_grid": ",".join(map(str, rho_grid))},
            {"role": "tune", "benchmark": config.benchmark, "protocol": config.protocol}):
        runner = _Runner(bench, config, tracker, progress)
        anchors, _ = runner.template()
        experience, val_x = runner.method_data(anchors)
        seeds = [config.seed + 1 + i for i in range(config.seeds)]

        def evaluate(model, latents):
            return {"val_nelbo": validation_nelbo(model, val_x, seed=config.seed)}

        for name, method, grid in (("beta", "bvae", beta_grid), ("rho", "rvae", rho_grid)):
            for value in grid:
                runner.config = replace(config, **{name: value})
                scores = [runner.train(method, seed, experience, name=f"{name}={value}/seed{seed}",
                                       role="method", anchors=anchors, val_x=val_x,
                                       evaluate=evaluate)[3]["val_nelbo"] for seed in seeds]
                grids[name][value] = float(np.mean(scores))
        best = {name: min(grid, key=grid.get) for name, grid in grids.items()}
        result = TuneResult(config, grids, best, time.perf_counter() - start,
                            tracker.parent_run_id)
        tracker.set_tags({BEST_TAGS[k]: v for k, v in best.items()})
        tracker.log_text(json.dumps(result.as_dict(), indent=2), "tune.json")
    return result


def read_tuned(run_id: str, tracking_uri: str | None = None) -> dict[str, float]:
    """The beta and rho a tune run chose, from its MLflow tags."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from .tracking import check_store, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    check_store(uri)
    try:
        tags = MlflowClient(uri).get_run(run_id).data.tags
    except MlflowException:
        raise ConfigError(f"--from-tune {run_id!r}: no such run in {uri}") from None
    if not all(tag in tags for tag in BEST_TAGS.values()):
        raise ConfigError(f"--from-tune {run_id!r}: not a finished `rosetta-cl tune` run (no "
                          f"{BEST_TAGS['beta']} / {BEST_TAGS['rho']} tags)")
    return {name: float(tags[tag]) for name, tag in BEST_TAGS.items()}
