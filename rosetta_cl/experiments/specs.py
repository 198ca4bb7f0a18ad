"""Running a spec file: every column of its grid as a nested MLflow run, then its table
(``spec_table``). The file format and its checks are in ``spec_file``.
"""

from __future__ import annotations

import json
import time
from contextlib import closing
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rosetta_cl.config.options import filled
from rosetta_cl.config.threads import intra_op_threads
from rosetta_cl.errors import ConfigError
from rosetta_cl.experiments.runner import (
    check_resume,
    chosen_experiment,
    executing,
    log_figures,
    log_result,
    open_tracker,
    prepare,
    pull_anchors,
)
from rosetta_cl.experiments.spec_file import Spec, load_spec  # noqa: F401  (spec API in one place)
from rosetta_cl.experiments.spec_table import SpecTable, spec_table
from rosetta_cl.experiments.templates import over_templates
from rosetta_cl.protocols import PROTOCOLS
from rosetta_cl.training.executors import ExecutorOptions, check_executor

if TYPE_CHECKING:
    from rosetta_cl.training.results import ProtocolResult

@dataclass
class SpecResult:
    """What :func:`run_spec` returns: the table and every protocol run behind it.

    Parameters
    ----------
    spec : Spec
        The spec run.
    table : SpecTable
        Its table.
    results : list of (str, ProtocolResult)
        (column label, result) of each config.
    wall_time_s : float
        Wall-clock time.
    parent_run_id : str, optional
        The spec's MLflow run (None when untracked).

    Examples
    --------
    >>> from rosetta_cl import load_spec, run_spec
    >>> from rosetta_cl.experiments.spec_file import spec_path
    >>> result = run_spec(load_spec(spec_path("table2_sequential_gaussians8")), quick=True,
    ...                   track=False, overrides={"epochs": 2, "seeds": 2, "subsample": 200})
    >>> [label for label, _ in result.results], result.parent_run_id
    ([''], None)
    """

    spec: Spec
    table: SpecTable
    results: list[tuple[str, ProtocolResult]]
    wall_time_s: float
    parent_run_id: str | None = None

    def as_dict(self) -> dict:
        return {"spec": self.spec.name, "parent_run_id": self.parent_run_id,
                "wall_time_s": round(self.wall_time_s, 3), "table": self.table.as_dict(),
                "paper": self.spec.paper,
                "runs": {label or "all": r.as_dict() for label, r in self.results}}


def run_spec(spec: Spec, *, quick: bool = False, overrides: dict | None = None,
             tracking_uri: str | None = None, experiment: str | None = None,
             track: bool = True, progress: bool = False,
             executor: ExecutorOptions | None = None, resume: bool = False) -> SpecResult:
    """Run every config of a spec and build its table beside the paper's numbers.

    All configs are checked first, so a bad value fails before anything is trained or logged.

    Parameters
    ----------
    spec : Spec
        From :func:`load_spec`.
    quick : bool, default False
        Apply the spec's ``[quick]`` settings (a smoke run).
    overrides : dict, optional
        :class:`RunConfig` fields that win over the spec's (the CLI's options).
    tracking_uri : str, optional
        MLflow store (default ``sqlite:///mlruns/mlflow.db``).
    experiment : str, optional
        MLflow experiment (default: the spec's name).
    track : bool, default True
        Log to MLflow.
    progress : bool, default False
        Progress bars.
    executor : ExecutorOptions, optional
        Where the trainings run.
    resume : bool, default False
        Finish the interrupted run of the same spec.

    Returns
    -------
    SpecResult
        The table and the protocol results.

    Examples
    --------
    >>> from rosetta_cl import load_spec, run_spec
    >>> from rosetta_cl.experiments.spec_file import spec_path
    >>> result = run_spec(load_spec(spec_path("table2_sequential_gaussians8")), quick=True,
    ...                   track=False, overrides={"epochs": 2, "seeds": 2, "subsample": 200})
    >>> result.table.title
    'Table 2: latent space distortion (LSD) to the joint model on gaussians8'
    """
    start = time.perf_counter()
    check_executor(executor)
    benches: dict = {}
    prepared: list = []
    anchor_tags: dict[str, str] = {}  # the registered version a spec's runs anchor to
    for label, config in spec.configs(quick, overrides):
        if config.epochs_rule == "plateau":
            raise ConfigError(f"--epochs plateau with spec {spec.name}: a spec's table keeps "
                              "its epochs (the paper's); allowed with a benchmark or data file")
        config, pulled = pull_anchors(config, tracking_uri)  # anchors = models:/NAME@ALIAS
        prepared.append((label, *prepare(config, benches,
                                         features=pulled.features if pulled else None)))
        anchor_tags.update(pulled.tags() if pulled else {})
    protocols = {config.protocol for _, config, _ in prepared}
    if len(protocols) > 1:
        raise ConfigError(f"spec {spec.name}: one table needs one protocol, got "
                          f"{sorted(protocols)}")
    for _, config, _ in prepared:
        check_resume(config, resume, track)
    with executing(executor) as run_on:
        return _run_grid(spec, prepared, quick, overrides, tracking_uri, experiment, track,
                         progress, run_on, resume, start, anchor_tags)


def _run_grid(spec, prepared, quick, overrides, tracking_uri, experiment, track, progress,
              executor, resume, start, anchor_tags) -> SpecResult:
    from rosetta_cl.tracking.writer import NullTracker

    tracker = (open_tracker(tracking_uri, chosen_experiment(experiment, spec.name)) if track
               else NullTracker())
    results: list[tuple[str, ProtocolResult]] = []
    params = {"spec": spec.name, "quick": str(quick),
              "vary": f"{spec.vary_field}={list(spec.vary_values)}" if spec.vary_field else "",
              **{f"override.{k}": str(v) for k, v in (overrides or {}).items()}}
    tags = {"role": "spec", "spec": spec.name, "protocol": prepared[0][1].protocol,
            **anchor_tags}
    from rosetta_cl.training.progress import GridBar, planned_trainings

    bar = GridBar(sum(planned_trainings(c, len(b.parts)) for _, c, b in prepared), progress)
    configs = {label: config.as_params() for label, config, _ in prepared}  # the spec file's
    with tracker.parent(spec.name, params, tags, resume=resume, more=configs), closing(bar):
        for label, config, bench in prepared:
            with tracker.child(label or spec.name, config.as_params(),
                               {**tags, "role": "grid", "column": label}):
                with intra_op_threads(filled(config.threads)):
                    done = over_templates(
                        PROTOCOLS[config.protocol], config, bench,
                        lambda other, bench=bench: prepare(other, features=bench.features)[1],
                        tracker.write, bar, executor, tracker.reuse if tracker.resumed else None)
                log_result(tracker, done)
            results.append((label, done))
        table = spec_table(spec, results)
        result = SpecResult(spec, table, results, time.perf_counter() - start,
                            tracker.parent_run_id)
        tracker.log_text(table.markdown(), "table.md")
        tracker.log_text(json.dumps(result.as_dict(), indent=2), "table.json")
        tracker.log_metrics({"wall_time_s": result.wall_time_s})
        log_figures(tracker, prepared[0][1].figures)
    return replace(result, wall_time_s=time.perf_counter() - start)
