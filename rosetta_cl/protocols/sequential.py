"""The sequential protocol (paper, Table 2): template VAE on D1 -> Rosetta points; target VAE on
D1 u D2; every method trained from scratch on D2 u x_r for each seed; each model compared with
the target on D1 and D2 (validation splits), LSD under ONE affine map fitted on D1 u D2.

Every method sees the same data (the x_r are added to the baselines' data too); only the R-VAE
is anchored.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from rosetta_cl.metrics.latent import lsd
from rosetta_cl.metrics.summary import summarize
from rosetta_cl.records import Emit
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


def run_sequential(bench, config, emit: Emit | None = None, progress: bool = False,
                   executor=None, reuse=None) -> ProtocolResult:
    trainer = Trainer(bench, config, emit, progress, executor, reuse)
    plan = plan_sequential(trainer)
    return score_sequential(plan, trainer.train_methods(*plan.methods()))


def plan_sequential(trainer: Trainer) -> MethodPlan:
    """Template and target trained; what every method then trains on and is scored with."""
    start = time.perf_counter()
    bench, config = trainer.bench, trainer.config
    anchors, template = trainer.template()
    target = trainer.train("vae", config.seed, bench.joint_stream[0], name="target",
                           role="target", val_x=torch.cat(trainer.valid_x)).latents
    target_all = np.concatenate([target[f"mu_{p}"] for p in bench.parts])
    n1 = len(trainer.valid_x[0])
    groups = {"D1": np.arange(len(target_all)) < n1, "D2": np.arange(len(target_all)) >= n1}

    def evaluate(model, latents):
        source = np.concatenate([latents[f"mu_{p}"] for p in bench.parts])
        metrics, arrays = pairwise_scores(config.metrics, source, target_all, groups)
        return {**metrics, "latent_spread_D1": latent_spread(latents["mu_D1"])}, arrays

    experience, val_x = trainer.method_data(anchors)
    return MethodPlan(trainer, experience, anchors, val_x, evaluate, start,
                      {"template": template, "target": target})


def score_sequential(plan: MethodPlan, runs: list[Trained]) -> ProtocolResult:
    """The table of the method runs against the target, per part."""
    config, template, target = plan.trainer.config, plan.state["template"], plan.state["target"]
    columns = tabulated(config.metrics)
    values: dict[str, dict[str, list[float]]] = {}
    spreads: dict[str, list[float]] = {}
    maps: dict[str, dict[str, list[float]]] = {}
    units: dict[str, list[float]] = {}
    for run in runs:
        spreads.setdefault(run.method, []).append(run.metrics["latent_spread_D1"])
        units.setdefault(run.method, []).append(run.metrics["active_units"])
        for key, value in run.metrics.items():
            into = (values if column_of(key, columns) else
                    maps if key.startswith("map_") else None)
            if into is not None:
                into.setdefault(run.method, {}).setdefault(key, []).append(value)
    table = summarize({m: {k: np.array(v) for k, v in cols.items()} for m, cols in values.items()},
                      next(iter(columns)), _kinds(values, columns))
    # The anchors carry the template's geometry, so how far the template is from the target on D1
    # (its own best affine map, fitted on D1 alone) is the yardstick for the R-VAE's LSD_D1.
    extra = {**spread_summary(spreads, target["mu_D1"]), "active_units": units,
             "linear_map": {m: {k: float(np.median(v)) for k, v in cols.items()}
                            for m, cols in maps.items()}}
    metrics = {}
    if template is not None:
        metrics["template_to_target_LSD_D1"] = extra["template_to_target_LSD_D1"] = lsd(
            template["mu_D1"], target["mu_D1"])
    return ProtocolResult(config, table, values, plan.anchors,
                          time.perf_counter() - plan.started, extra=extra, metrics=metrics,
                          files=plan.trainer.files)


def _kinds(values: dict, columns: dict[str, str]) -> dict[str, str]:
    """Column -> normalization for every tabulated column (e.g. LSD_D1 -> ratio)."""
    first = next(iter(values.values()))
    return {key: columns[column_key(key, columns)] for key in first}
