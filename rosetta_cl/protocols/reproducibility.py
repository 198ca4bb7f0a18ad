"""The reproducibility protocol (paper, Table 1): template VAE on D1 -> Rosetta points; every
method retrained on D1 u x_r for each seed; RV over the retrainings on D1 (validation split).
Pairwise metrics (``--metrics cka,...``) compare each retraining with the template on D1.
"""

from __future__ import annotations

import time

import numpy as np

from rosetta_cl.metrics.summary import summarize
from rosetta_cl.records import Emit
from rosetta_cl.registry import METRICS
from rosetta_cl.training.results import (
    ProtocolResult,
    column_key,
    column_of,
    latent_spread,
    pairwise_scores,
    spread_summary,
    tabulated,
)
from rosetta_cl.training.trainer import MethodPlan, Trained, Trainer


def run_reproducibility(bench, config, emit: Emit | None = None, progress: bool = False,
                        executor=None, reuse=None) -> ProtocolResult:
    trainer = Trainer(bench, config, emit, progress, executor, reuse)
    plan = plan_reproducibility(trainer)
    return score_reproducibility(plan, trainer.train_methods(*plan.methods()))


def plan_reproducibility(trainer: Trainer) -> MethodPlan:
    """The template trained; what every retraining then trains on and is scored with."""
    start = time.perf_counter()
    config = trainer.config
    anchors, template = trainer.template()
    everything = np.ones(len(trainer.valid_x[0]), dtype=bool)

    def evaluate(model, latents):
        metrics, arrays = {}, {}
        if template is not None:
            metrics, arrays = pairwise_scores(config.metrics, latents["mu_D1"], template["mu_D1"],
                                              {"D1": everything})
        return {"latent_spread_D1": latent_spread(latents["mu_D1"]), **metrics}, arrays

    experience, val_x = trainer.method_data(anchors)
    return MethodPlan(trainer, experience, anchors, val_x, evaluate, start, {})


def score_reproducibility(plan: MethodPlan, runs: list[Trained]) -> ProtocolResult:
    """RV over the retrainings, and the pairwise metrics against the template."""
    config = plan.trainer.config
    pairwise = tabulated(config.metrics, "pairwise")
    means: dict[str, list[np.ndarray]] = {}
    spreads: dict[str, list[float]] = {}
    scores: dict[str, dict[str, list[float]]] = {}
    units: dict[str, list[float]] = {}
    for run in runs:
        means.setdefault(run.method, []).append(run.latents["mu_D1"])
        spreads.setdefault(run.method, []).append(run.metrics["latent_spread_D1"])
        units.setdefault(run.method, []).append(run.metrics["active_units"])
        for key, value in run.metrics.items():
            if column_of(key, pairwise):
                scores.setdefault(run.method, {}).setdefault(key, []).append(value)
    table_values: dict[str, dict[str, np.ndarray]] = {m: {} for m in means}
    values: dict[str, dict[str, list[float]]] = {m: {} for m in means}
    kinds: dict[str, str] = {}
    metrics: dict[str, float] = {}
    for name in config.metrics:
        spec = METRICS[name]
        if spec.kind != "retraining":
            continue
        for method, retrainings in means.items():
            per_point = spec.compute(np.stack(retrainings))
            metrics[f"{spec.column or spec.name}/{method}"] = float(np.mean(per_point))
            if spec.column is not None:  # None: logged, not tabulated
                table_values[method][spec.column] = per_point
                values[method][spec.column] = [float(np.mean(per_point))]
        if spec.column is not None:
            kinds[spec.column] = spec.normalization
    for method, cols in scores.items():
        for key, per_run in cols.items():
            table_values[method][key] = np.array(per_run)
            values[method][key] = per_run
            kinds[key] = pairwise[column_key(key, pairwise)]
    first = next(iter(kinds))
    table = summarize(table_values, column_of(first, kinds) or first, kinds)
    return ProtocolResult(config, table, values, plan.anchors,
                          time.perf_counter() - plan.started,
                          extra={**spread_summary(spreads, None), "active_units": units},
                          metrics=metrics, files=plan.trainer.files)
