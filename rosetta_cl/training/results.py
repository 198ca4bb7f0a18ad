"""What a protocol returns (``ProtocolResult``) and how it scores a trained model: the pairwise
metrics of its latents against a reference, the tabulated columns, the latent spread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rosetta_cl.anchors.points import Anchors
from rosetta_cl.config.options import RunConfig
from rosetta_cl.metrics.summary import Table
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
