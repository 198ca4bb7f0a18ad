"""What a protocol returns (``ProtocolResult``) and how it scores a trained model: the pairwise
metrics of its latents against a reference, the tabulated columns, the latent spread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rosetta_cl.anchors.points import Anchors
from rosetta_cl.config.options import RunConfig
from rosetta_cl.metrics.summary import Table, summarize_templates
from rosetta_cl.registry import METRICS


@dataclass
class ProtocolResult:
    """What a protocol returns: its table, the per-run values, and what its parent run logs.

    Parameters
    ----------
    config : RunConfig
        The resolved config it ran with.
    table : Table
        Medians and quartiles per method and column.
    values : dict
        method -> column -> per-run values (LSD) or the RV mean.
    anchors : Anchors, optional
        The template's anchors (None when there are none).
    wall_time_s : float
        Wall-clock time of the protocol.
    parent_run_id : str, optional
        The MLflow run of the protocol (None when untracked).
    extra : dict
        More results for the JSON output (protocol-specific).
    metrics : dict[str, float]
        Scalars the runner logs on the parent run.
    files : list of str
        Files the runner logs on the parent run.

    Examples
    --------
    >>> from rosetta_cl import RunConfig, run_benchmark
    >>> result = run_benchmark(RunConfig(methods=("vae", "rvae"), seeds=2, epochs=2, subsample=200),
    ...                        track=False)
    >>> sorted(result.values), result.table.columns
    (['rvae', 'vae'], ['LSD_D1', 'LSD_D2'])
    """

    config: RunConfig
    table: Table
    values: dict[str, dict[str, list[float]]]  # method -> column -> per-run values (LSD) / RV mean
    anchors: Anchors | None
    wall_time_s: float
    parent_run_id: str | None = None
    extra: dict = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "benchmark": self.config.benchmark,
            "protocol": self.config.protocol,
            "parent_run_id": self.parent_run_id,
            "wall_time_s": round(self.wall_time_s, 3),
            "config": self.config.as_dict(),
            "table": self.table.as_dict(),
            "values": self.values,
            **self.extra,
        }


def pairwise_scores(metrics: tuple[str, ...], source, target, groups: dict,
                    prefix: str = "") -> tuple[dict[str, float], dict]:
    """The pairwise metrics named in ``metrics`` (registry.METRICS) of ``source`` latents
    against ``target``'s: (logged values, artifact arrays). A tabulated metric's value of group
    g is named ``<prefix><column>_<g>``; its other values ``<prefix><name>``.
    """
    values: dict[str, float] = {}
    arrays: dict = {}
    for name in metrics:
        spec = METRICS[name]
        if spec.kind != "pairwise":
            continue
        scores = spec.compute(source, target, groups)
        if spec.column:
            values.update({f"{prefix}{spec.column}_{g}": v for g, v in scores.groups.items()})
        values.update({f"{prefix}{k}": v for k, v in scores.values.items()})
        arrays.update({f"{prefix.replace('/', '_')}{k}": v for k, v in scores.arrays.items()})
    return values, arrays


def tabulated(metrics: tuple[str, ...], kind: str | None = None) -> dict[str, str]:
    """Column -> normalization of the tabulated metrics among ``metrics`` (of ``kind``)."""
    return {column: METRICS[m].normalization for m in metrics
            if (column := METRICS[m].column) and (kind is None or METRICS[m].kind == kind)}


def column_of(key: str, columns) -> str | None:
    """The tabulated column a logged value belongs to (``LSD_D1`` -> ``LSD``), or None."""
    return next((c for c in columns if key == c or key.startswith(f"{c}_")), None)


def column_key(key: str, columns) -> str:
    """The tabulated column of a value known to be tabulated (``column_of`` that cannot miss)."""
    column = column_of(key, columns)
    if column is None:
        raise KeyError(f"{key!r} belongs to none of the columns {list(columns)}")
    return column


def latent_spread(mu: np.ndarray) -> float:
    """Total variance of the latent means over points: the scale RV and LSD should be read
    against (a collapsed latent space has a tiny RV without being more reproducible).
    """
    return float(np.var(np.asarray(mu, dtype=np.float64), axis=0).sum())


def spread_summary(spreads: dict[str, list[float]], target_mu) -> dict:
    out: dict = {"latent_spread": {m: float(np.median(v)) for m, v in spreads.items()}}
    if target_mu is not None:
        out["target_latent_spread"] = latent_spread(target_mu)
    return out


def combine_templates(results: list[ProtocolResult], config: RunConfig) -> ProtocolResult:
    """One result of a protocol run over several templates (``--templates``): the cells pool
    every template's values (``summary.summarize_templates``: intervals, per-template
    medians); per-run values concatenated; scalar extras and metrics as the median over
    templates, each template's own under ``by_template``; the first template's anchors.
    """
    first = results[0].table
    table = summarize_templates([s for r in results for s in (r.table.samples or [])],
                                first.metric, first.kinds)
    values: dict[str, dict[str, list[float]]] = {}
    for result in results:
        for method, cols in result.values.items():
            for column, vals in cols.items():
                values.setdefault(method, {}).setdefault(column, []).extend(vals)
    metrics = {key: float(np.median([r.metrics[key] for r in results]))
               for key in results[0].metrics}
    for t, result in enumerate(results):
        metrics.update({f"{key}/template{t}": v for key, v in result.metrics.items()})
    extra = _median_leaves([r.extra for r in results])
    extra["by_template"] = [r.extra for r in results]
    files = list(dict.fromkeys(f for r in results for f in r.files))
    return ProtocolResult(config, table, values, results[0].anchors,
                          sum(r.wall_time_s for r in results), extra=extra, metrics=metrics,
                          files=files)


def _median_leaves(extras: list) -> dict:
    """The median over templates of every number in the extras' nested dicts, per-run lists
    joined (anything else: the first template's).
    """
    out: dict = {}
    for key, value in extras[0].items():
        if isinstance(value, dict):
            out[key] = _median_leaves([e.get(key, {}) for e in extras])
        elif isinstance(value, list) and all(isinstance(v, (int, float)) for v in value):
            out[key] = [v for e in extras for v in e.get(key, [])]  # per run: all templates'
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(np.median([e[key] for e in extras if key in e]))
        else:
            out[key] = value
    return out
