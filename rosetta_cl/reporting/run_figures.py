"""Figures of finished runs, built from what MLflow holds (never from memory) and logged back.

For a protocol run (``role`` parent, or a spec's ``grid`` run) the figures are:

- ``latents.png`` in every model run: its 2-D view of the validation latent means, coloured by
  class, the Rosetta points starred (where this model puts the x_r);
- ``figures/grid_raw.png`` and ``figures/grid_linear.png`` in the protocol run: reference |
  R-VAE | VAE | beta-VAE, one row per seed, each model in its own view, then every model mapped
  onto the reference by its best affine map and shown in the reference's view (paper Figures 2,
  4, 5). The reference is the joint target (sequential, continual) or the template
  (reproducibility: all models are trained on D1, only D1 is shown);
- sequential only: ``figures/map_spectra.png`` (eigenvalues of P in A = UP, Figure 6 top),
  ``figures/map_identity_gap.png`` (Figure 6 bottom), ``figures/map_bias_norm.png`` (Figure 7);
- ``figures/box.png``: the table's normalised medians and IQRs per method.

A spec run gets ``figures/box.png`` of its whole table, and each grid run its own set.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rosetta_cl.errors import ConfigError
from rosetta_cl.metrics.latent import fit_linear_map
from rosetta_cl.reporting import figures
from rosetta_cl.reporting.embedding import Projection, choose_projection, subsample_indices
from rosetta_cl.tracking.artifacts import log_artifact
from rosetta_cl.tracking.store import quiet_downloads

FIGURES = "figures"
MAX_POINTS = 2000  # points per 2-D view (a seeded subsample; the same points for every model)
GRID_SEEDS = 3  # rows of the grids
METHOD_ORDER = ("rvae", "vae", "bvae")


@dataclass
class ModelRun:
    run_id: str
    name: str
    role: str
    method: str
    seed: int
    latents: dict[str, np.ndarray]

    def points(self, parts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return (np.concatenate([self.latents[f"mu_{p}"] for p in parts]),
                np.concatenate([self.latents[f"y_{p}"] for p in parts]))


def child_runs(client, run) -> list:
    return client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'",
        order_by=["attributes.start_time ASC"], max_results=5000)


def download(client, run_id: str, name: str, tmp: str) -> Path | None:
    """The artifact ``name`` (at the run's root) downloaded under ``tmp``; None if not logged
    (an older or failed run).
    """
    if name not in {a.path for a in client.list_artifacts(run_id)}:
        return None
    with quiet_downloads():
        return Path(client.download_artifacts(run_id, name, str(Path(tmp) / run_id)))


def read_json(client, run_id: str, name: str, tmp: str) -> dict | None:
    path = download(client, run_id, name, tmp)
    return None if path is None else json.loads(path.read_text())


def read_npz(client, run_id: str, name: str, tmp: str) -> dict[str, np.ndarray] | None:
    path = download(client, run_id, name, tmp)
    if path is None:
        return None
    with np.load(path, allow_pickle=False) as f:
        return dict(f)


def build_figures(client, run_id: str, projection: str = "auto") -> list[str]:
    """Draw and log every figure of a run (a spec, protocol or grid run) as its artifacts.

    Parameters
    ----------
    client : mlflow.MlflowClient
        A client of the run's store.
    run_id : str
        The run.
    projection : str, default "auto"
        2-D view of latent spaces wider than 2: ``auto``, ``identity``, ``pca`` or ``umap``.

    Returns
    -------
    list of str
        The artifact paths logged.

    Examples
    --------
    >>> from pathlib import Path
    >>> import mlflow
    >>> from rosetta_cl import RunConfig, build_figures, run_benchmark
    >>> uri = f"sqlite:///{Path('mlruns.db').resolve()}"  # MLflow caches stores by URI
    >>> result = run_benchmark(RunConfig(methods=("vae", "rvae"), seeds=2, epochs=2, subsample=200,
    ...                                  figures="none"), tracking_uri=uri)
    >>> paths = build_figures(mlflow.MlflowClient(uri), result.parent_run_id)
    >>> "figures/box.png" in paths
    True
    """
    run = client.get_run(run_id)
    role = run.data.tags.get("role")
    if role == "spec":
        logged = _spec_figures(client, run)
        for grid in child_runs(client, run):
            logged += [f"{grid.info.run_id}/{p}" for p in
                       _protocol_figures(client, grid, projection)]
        return logged
    if role in ("parent", "grid"):
        return _protocol_figures(client, run, projection)
    raise ConfigError(f"run {run_id}: role {role!r} has no figures; give a protocol run or a "
                      "spec run (role parent, grid or spec)")


def _log(client, run_id: str, fig, name: str, tmp: str, where: str | None = FIGURES) -> str:
    path = figures.save(fig, Path(tmp) / "out" / run_id / name)
    log_artifact(client, run_id, path, where)
    return f"{where}/{name}" if where else name


def _box_stats(summary: dict) -> dict[str, dict[str, dict]]:
    """Column -> method -> normalised stat, from a protocol's summary.json table."""
    stats: dict[str, dict[str, dict]] = {}
    for row in summary["table"]["rows"]:
        for column in summary["table"]["columns"]:
            cell = row.get(column, {})
            if "normalized" in cell:
                stats.setdefault(column, {})[row["method"]] = cell["normalized"]
    return stats


def _spec_figures(client, run) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        table = read_json(client, run.info.run_id, "table.json", tmp)
        if table is None or not table["table"]["normalized"]:
            return []
        t = table["table"]
        stats = {c: {m: cols[c] for m, cols in t["normalized"].items() if c in cols}
                 for c in t["columns"]}
        fig = figures.box_figure(stats, _normalised_label(t["metric"]), t["title"])
        return [_log(client, run.info.run_id, fig, "box.png", tmp)]


def _normalised_label(metric: str) -> str:
    """The box plot's axis: how the lead metric (a registry column) is normalised."""
    from rosetta_cl.registry import METRICS

    kinds = {spec.column: spec.normalization for spec in METRICS.values() if spec.column}
    return (f"{metric} relative to the median VAE" if kinds.get(metric, "ratio") == "ratio"
            else f"{metric} minus the median VAE's")


def _protocol_figures(client, run, projection: str) -> list[str]:
    protocol = run.data.tags.get("protocol")
    quick = run.data.params.get("quick") == "True"
    logged = []
    with tempfile.TemporaryDirectory() as tmp:
        models = []
        for child in child_runs(client, run):
            latents = read_npz(client, child.info.run_id, "latents.npz", tmp)
            if latents is None:
                continue
            tags = child.data.tags
            if tags.get("template_index", "0") != "0":  # --templates: template 0's models
                continue
            models.append(ModelRun(child.info.run_id, tags.get("mlflow.runName", ""),
                                   tags.get("role", ""), tags.get("method", ""),
                                   int(tags.get("seed", 0)), latents))
        if models:
            logged += _latent_figures(client, run, models, protocol, projection, quick, tmp)
        if protocol == "sequential":
            logged += _map_figures(client, run, tmp)
        summary = read_json(client, run.info.run_id, "summary.json", tmp)
        stats = _box_stats(summary) if summary is not None else {}
        if stats and summary is not None:
            fig = figures.box_figure(stats, _normalised_label(summary["table"]["metric"]),
                                     f"{_run_title(run)}: medians and IQRs")
            logged.append(_log(client, run.info.run_id, fig, "box.png", tmp))
    return logged


def _run_title(run) -> str:
    """'sequential gaussians8' (a spec's grid run adds its column label)."""
    p = run.data.params
    column = run.data.tags.get("column")
    return " ".join(x for x in (p.get("protocol"), p.get("benchmark"), column) if x)


def _latent_figures(client, run, models, protocol, projection, quick, tmp) -> list[str]:
    parts = sorted(k.removeprefix("mu_") for k in models[0].latents if k.startswith("mu_"))
    if protocol == "reproducibility":
        parts = parts[:1]
    references = [m for m in models if m.role == ("template" if protocol == "reproducibility"
                                                  else "target")]
    reference = references[-1] if references else None  # continual: the last joint target
    z0, _ = models[0].points(parts)
    kind = choose_projection(projection, z0.shape[1], quick)
    idx = subsample_indices(len(z0), MAX_POINTS)
    logged = []

    names = class_names(models[0], parts)

    def panel(model: ModelRun, xy: np.ndarray, proj: Projection, rosetta) -> figures.Panel:
        _, y = model.points(parts)
        return figures.Panel(xy, y[idx], model.name if model.role == "method" else "",
                             None if rosetta is None else proj.transform(rosetta), names)

    own: dict[str, Projection] = {}
    raw: dict[str, figures.Panel] = {}
    for model in models:
        z, _ = model.points(parts)
        own[model.run_id] = proj = Projection(kind, seed=0)
        raw[model.run_id] = panel(model, proj.fit_transform(z[idx]), proj,
                                  model.latents.get("rosetta_mu"))
        caption = f"{', '.join(parts)}; {kind} view; {len(idx)} of {len(z)} points"
        fig = figures.latent_figure(replace(raw[model.run_id], title=model.name), caption)
        _log(client, model.run_id, fig, "latents.png", tmp, where=None)
        logged.append(f"{model.run_id}/latents.png")

    methods = list(_ordered({x.method: 0 for x in models if x.role == "method"}))
    by_method = {m: sorted((x for x in models if x.role == "method" and x.method == m),
                           key=lambda x: x.seed)[:GRID_SEEDS] for m in methods}
    if not methods:
        return logged
    ref_column = [(reference.role, [raw[reference.run_id]])] if reference else []
    columns = ref_column + [(figures.method_name(m), [raw[x.run_id] for x in by_method[m]])
                            for m in methods]
    name = _run_title(run)
    fig = figures.grid_figure(columns, f"{name}: latent means, each model in its own "
                                       f"{kind} view")
    logged.append(_log(client, run.info.run_id, fig, "grid_raw.png", tmp))
    if reference is None:
        return logged
    z_ref, _ = reference.points(parts)
    ref_proj = own[reference.run_id]  # fitted on the reference's points
    corrected = []
    for m in methods:
        panels = []
        for x in by_method[m]:
            z, _ = x.points(parts)
            A, b = fit_linear_map(z, z_ref)
            rosetta = x.latents.get("rosetta_mu")
            panels.append(panel(x, ref_proj.transform((z @ A.T + b)[idx]), ref_proj,
                                None if rosetta is None else rosetta @ A.T + b))
        corrected.append((figures.method_name(m), panels))
    fig = figures.grid_figure(ref_column + corrected,
                              f"{name}: mapped onto the {reference.role} by the best affine "
                              f"map, {kind} view of the {reference.role}")
    logged.append(_log(client, run.info.run_id, fig, "grid_linear.png", tmp))
    return logged


def class_names(model: ModelRun, parts: list[str]) -> dict[int, str]:
    """Each class label of the shown parts with the part(s) it comes from: ``{3: "3 (D1)"}``."""
    where: dict[int, list[str]] = {}
    for part in parts:
        for label in np.unique(model.latents[f"y_{part}"]).tolist():
            where.setdefault(int(label), []).append(part)
    return {label: f"{label} ({', '.join(found)})" for label, found in where.items()}


def _map_figures(client, run, tmp) -> list[str]:
    spectra: dict[str, list[np.ndarray]] = {}
    gaps: dict[str, list[float]] = {}
    norms: dict[str, list[float]] = {}
    for child in child_runs(client, run):
        if child.data.tags.get("role") != "method":
            continue
        method = child.data.tags.get("method", "")
        maps = read_npz(client, child.info.run_id, "linear_map.npz", tmp)
        if maps is not None:
            spectra.setdefault(method, []).append(maps["P_eigenvalues"])
        metrics = child.data.metrics
        if "map_identity_gap" in metrics:
            gaps.setdefault(method, []).append(metrics["map_identity_gap"])
            norms.setdefault(method, []).append(metrics["map_bias_norm"])
    logged = []
    if spectra:
        fig = figures.spectra_figure(_ordered(spectra), "linear map to the target: A = UP")
        logged.append(_log(client, run.info.run_id, fig, "map_spectra.png", tmp))
    if gaps:
        fig = figures.per_run_figure(_ordered(gaps), "||I - A/||A||_2||_F",
                                     "distance of the map from a similarity, per run")
        logged.append(_log(client, run.info.run_id, fig, "map_identity_gap.png", tmp))
        fig = figures.per_run_figure(_ordered(norms), "||b||", "translation of the map, per run")
        logged.append(_log(client, run.info.run_id, fig, "map_bias_norm.png", tmp))
    return logged


def _ordered(by_method: dict) -> dict:
    """R-VAE, VAE, beta-VAE first, then any other method by name."""
    order = [m for m in METHOD_ORDER if m in by_method]
    return {m: by_method[m] for m in order + sorted(set(by_method) - set(order))}
