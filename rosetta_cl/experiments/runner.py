"""Entry point for one protocol invocation: resolve the config, open the MLflow parent run,
run the protocol (its records go to the tracker as they come), log the protocol's own results
and the summary table, draw the figures. The CLI's ``run`` is a thin wrapper around this.
"""

from __future__ import annotations

import json
import os
import statistics
from contextlib import closing, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rosetta_cl.config.options import RunConfig, filled, resolve
from rosetta_cl.config.threads import intra_op_threads
from rosetta_cl.data.defaults import USER_DATA
from rosetta_cl.errors import ConfigError
from rosetta_cl.extensions import load_extensions
from rosetta_cl.protocols import PROTOCOLS
from rosetta_cl.registry import BENCHMARKS, METHODS, METRICS, PLUGINS, BenchmarkSpec, parse_plugin
from rosetta_cl.training.executors import ExecutorOptions, check_executor

if TYPE_CHECKING:  # the rest needs torch, Avalanche or MLflow: imported where it is used, so a
    # bad option is refused before any of them is imported
    from rosetta_cl.data.streams import Benchmark
    from rosetta_cl.tracking.writer import NullTracker, Tracker
    from rosetta_cl.training.results import ProtocolResult


def run_benchmark(config: RunConfig, *, tracking_uri: str | None = None,
                  experiment: str | None = None, track: bool = True,
                  progress: bool = False, executor: ExecutorOptions | None = None,
                  resume: bool = False) -> ProtocolResult:
    """Run ``config.protocol`` on ``config.benchmark`` and log it to MLflow.

    Parameters
    ----------
    config : RunConfig
        What to run; benchmark defaults are filled in and every value checked first.
    tracking_uri : str, optional
        MLflow store (default ``sqlite:///mlruns/mlflow.db``).
    experiment : str, optional
        MLflow experiment (default: the benchmark's name).
    track : bool, default True
        Log to MLflow (False: nothing is written).
    progress : bool, default False
        Progress bars.
    executor : ExecutorOptions, optional
        Where the trainings run (default: here, one after another).
    resume : bool, default False
        Finish the interrupted run of the same command.

    Returns
    -------
    ProtocolResult
        The table, per-run values and anchors (``parent_run_id``: the MLflow run).

    Raises
    ------
    rosetta_cl.ConfigError
        For a bad value, before anything is trained or logged.

    Examples
    --------
    >>> from rosetta_cl import RunConfig, run_benchmark
    >>> result = run_benchmark(RunConfig(methods=("vae", "rvae"), seeds=2, epochs=2, subsample=200),
    ...                        tracking_uri="sqlite:///mlruns.db")
    >>> result.table.columns, result.parent_run_id is not None
    (['LSD_D1', 'LSD_D2'], True)
    """
    check_executor(executor)
    config, pulled = pull_anchors(config, tracking_uri)
    config, bench = prepare(config, features=pulled.features if pulled else None)
    check_resume(config, resume, track)
    from rosetta_cl.training.plateau import with_plateau_epochs

    config, plateau = with_plateau_epochs(config, bench)  # --epochs plateau: the paper's rule
    from rosetta_cl.experiments.templates import over_templates
    from rosetta_cl.training.progress import GridBar, planned_trainings

    def protocol(bench, config, emit, bar, run_on, reuse=None):  # over --templates
        features = pulled.features if pulled else None
        return over_templates(PROTOCOLS[config.protocol], config, bench,
                              lambda other: prepare(other, features=features)[1], emit, bar,
                              run_on, reuse)

    def derived(result: ProtocolResult) -> ProtocolResult:
        result = with_derived(result, bench)
        if plateau is None:
            return result
        return replace(result, extra={**result.extra, "plateau": plateau.as_dict()})

    with intra_op_threads(filled(config.threads)), executing(executor) as run_on, closing(
            GridBar(planned_trainings(config, len(bench.parts)), progress)) as bar:
        if not track:
            return derived(protocol(bench, config, None, bar, run_on))
        tracker = open_tracker(tracking_uri, chosen_experiment(experiment,
                                                               experiment_name(config)))
        tags = {"protocol": config.protocol, "benchmark": config.benchmark, "role": "parent",
                **(pulled.tags() if pulled else {})}
        params = config.as_params()
        if bench.derived_defaults:
            params["data_defaults"] = bench.derived_defaults
        with tracker.parent(f"{config.protocol}-{config.benchmark}", params, tags,
                            resume=resume) as parent_id:
            if pulled is not None:
                pulled.record_use(tracker.client, parent_id)
            result = derived(protocol(bench, config, tracker.write, bar, run_on,
                                      tracker.reuse if tracker.resumed else None))
            result = replace(result, parent_run_id=tracker.parent_run_id)
            log_result(tracker, result)
            log_figures(tracker, config.figures)
    return result


def with_derived(result: ProtocolResult, bench: Benchmark) -> ProtocolResult:
    """A user file's derived defaults (``user_defaults``) go into the result's ``extra``,
    where the CLI prints them and ``--json`` / ``summary.json`` keep them.
    """
    if not bench.derived_defaults:
        return result
    return replace(result, extra={**result.extra, "data_defaults": bench.derived_defaults})


@contextmanager
def executing(options: ExecutorOptions | None):
    """The executor ``options`` name, closed (an embedded Ray shut down) when done."""
    from rosetta_cl.training.executors import make_executor

    executor = make_executor(options, preload=("rosetta_cl.training.trainer",))
    try:
        yield executor
    finally:
        executor.close()


def check_resume(config: RunConfig, resume: bool, track: bool) -> None:
    if not resume:
        return
    if not track:
        raise ConfigError("--resume needs the MLflow store (it reads the interrupted run there)")
    if config.ensemble:
        raise ConfigError("--resume with --ensemble: allowed without --ensemble (an ensemble's "
                          "models are trained together, so none is finished on its own)")


def chosen_experiment(experiment: str | None, default: str) -> str:
    """The experiment runs go to: ``--experiment``, else ``$MLFLOW_EXPERIMENT_NAME`` (as
    MLflow's own clients read it), else ``default``.
    """
    return experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or default


def experiment_name(config: RunConfig) -> str:
    """The default MLflow experiment: the benchmark's name, or a data file's (``mine.npz`` ->
    ``mine``), so that different files do not share one experiment ``data``.
    """
    return Path(config.data).stem if config.data else config.benchmark


def pull_anchors(config: RunConfig, tracking_uri: str | None):
    """``--anchors models:/NAME/VERSION`` (or ``@ALIAS``): the registered version pulled here,
    ``config.anchors`` its local ``.rosetta`` copy. Returns (config, the ``Pulled`` or None).
    """
    from rosetta_cl.tracking.model_registry import is_model_uri, pull

    if not is_model_uri(config.anchors):
        return config, None
    pulled = pull(str(config.anchors), tracking_uri)
    return replace(config, anchors=str(pulled.anchors)), pulled


def prepare(config: RunConfig, benches: dict | None = None, *, whole: bool = False,
            features: tuple[str, ...] | None = None) -> tuple[RunConfig, Benchmark]:
    """Resolve and check ``config``, build its benchmark (reused from ``benches`` when given).
    ``whole``: a data file as one experience (``rosetta-cl train``); ``features``: the columns
    the anchors' model reads, the data file's reordered to them.
    """
    load_extensions(config.plugins_dir)
    for text in config.plugins:
        parse_plugin(text)  # unknown plugins and options fail before anything runs
    benchmarks = BENCHMARKS
    if config.data or config.benchmark == USER_DATA:
        from rosetta_cl.data.user_data import user_benchmark

        if not config.data:
            raise ConfigError(f"benchmark {USER_DATA!r} needs --data FILE (.npy or .npz)")
        bench = user_benchmark(config.data, config.split_by, config.seed, config.subsample,
                               config.layer, config.obsm, whole=whole, features=features)
        config = replace(config, benchmark=USER_DATA)
        built = BenchmarkSpec(USER_DATA, lambda *args, **kwargs: bench, bench.defaults,
                              bench.description)
        benchmarks = {**BENCHMARKS, USER_DATA: built}
        config = resolve(config, benchmarks, METHODS, PROTOCOLS, METRICS)
        return _check_protocol(config, bench, whole)
    if config.layer or config.obsm:
        raise ConfigError(f"--layer / --obsm with benchmark {config.benchmark!r}: they choose the "
                          "matrix of an .h5ad data file")
    config = resolve(config, benchmarks, METHODS, PROTOCOLS, METRICS)
    key = (config.benchmark, config.seed, config.subsample, config.data_dir, config.split_by)
    if benches is not None and key in benches:
        bench = benches[key]
    else:
        bench = benchmark_for(BENCHMARKS[config.benchmark], config)
        if benches is not None:
            benches[key] = bench
    return _check_protocol(config, bench)


def benchmark_for(spec: BenchmarkSpec, config: RunConfig) -> Benchmark:
    """``config``'s streams of the registered benchmark ``spec`` (its factory builds them with
    ``data.streams.make_benchmark``); ``--split-by`` only where the benchmark takes one.
    """
    split = {}
    if config.split_by is not None:
        if spec.split_rules is None:
            takes = ", ".join(f"{s.name} ({s.split_rules})" for s in BENCHMARKS.values()
                              if s.split_rules)
            raise ConfigError(f"--split-by {config.split_by!r} with {spec.name}: its D1 | D2 split "
                              f"is fixed; --split-by applies to --data files and to {takes}")
        split = {"split_by": config.split_by}
    return spec.make(config.seed, subsample=config.subsample, data_dir=config.data_dir, **split)


def _check_protocol(config: RunConfig, bench: Benchmark,
                    whole: bool = False) -> tuple[RunConfig, Benchmark]:
    """The rules that need the benchmark: its number of experiences (not for ``whole``: no
    protocol runs), k against D1's size, an anchor file fitting its models; then the
    protocol's own rules.
    """
    spec = PROTOCOLS[config.protocol]
    n_parts = len(bench.parts)
    if not whole and spec.experiences is not None and n_parts != spec.experiences:
        others = [p for p, s in PROTOCOLS.items() if s.experiences in (None, n_parts)]
        raise ConfigError(f"{config.benchmark} has {n_parts} experiences; the {config.protocol} "
                          f"protocol uses {spec.experiences} (use --protocol "
                          f"{' | '.join(others) or 'continual'})")
    if spec.check is not None:
        spec.check(config)
    check_plugins(config, spec, whole)
    if config.anchors:  # Bob's workflow: the file must fit this benchmark's models
        from rosetta_cl.anchors.rosetta_file import check_fits, read_anchor_file

        anchor_file = read_anchor_file(config.anchors)
        check_fits(anchor_file, bench.input_dim, filled(config.latent_dim),
                   f"benchmark {config.benchmark}")
        return replace(config, rosetta_points=anchor_file.k), bench
    n_first = len(bench.train_stream[0].dataset)
    if filled(config.rosetta_points) > n_first:
        raise ConfigError(f"rosetta points k={config.rosetta_points}: allowed 1 <= k <= {n_first}"
                          f" (training points of {bench.parts[0]})")
    return config, bench


def check_plugins(config: RunConfig, spec, whole: bool = False) -> None:
    """No plugin idles silently: one that acts on what earlier experiences left is refused
    where each method trains on one experience (``whole``: ``train``'s one file), and one that
    follows one model's weights is refused with ``--reinit`` (each naming the fix).
    """
    for text in config.plugins:
        name, _ = parse_plugin(text)
        plugin = PLUGINS[name]
        if plugin.needs_earlier and whole:
            raise ConfigError(f"--plugin {name} with train: train fits one experience, so "
                              f"{name} (it acts on what earlier experiences left) would do "
                              "nothing; allowed with rosetta-cl run DATA --protocol continual")
        if plugin.needs_earlier and not spec.through_stream:
            raise ConfigError(f"--plugin {name} with the {config.protocol} protocol: each method "
                              f"trains on one experience there, so {name} (it acts on what "
                              "earlier experiences left) would do nothing; allowed with "
                              "--protocol continual")
        if plugin.needs_no_reinit and config.reinit and spec.through_stream:
            raise ConfigError(f"--plugin {name} with --reinit (the continual default): {name} "
                              "protects the previous experience's weights, which --reinit "
                              "throws away; allowed with --no-reinit")


def open_tracker(tracking_uri: str | None, experiment: str) -> Tracker:
    """A tracker on ``experiment`` (created if missing); runs of it that a dead process left
    ``RUNNING`` are marked ``KILLED`` first (``liveness.clean_runs``, said on stderr).
    """
    import sys

    from rosetta_cl.tracking.liveness import clean_runs
    from rosetta_cl.tracking.store import check_artifact_root, get_or_create_experiment, open_client
    from rosetta_cl.tracking.writer import Tracker

    client = open_client(tracking_uri)
    experiment_id = get_or_create_experiment(experiment, client)
    check_artifact_root(client, experiment_id)
    for run_id, why in clean_runs(client, [experiment_id], "the next run in this experiment"):
        print(f"marked run {run_id} KILLED: {why}", file=sys.stderr)
    return Tracker(experiment_id, client)


def log_result(tracker: Tracker | NullTracker, result: ProtocolResult) -> None:
    """In the protocol's run: its own metrics and files, the table as Markdown, CSV and JSON
    artifacts, and the table's cells as metrics.
    """
    for path in result.files:
        tracker.log_file(path)
    table = result.table
    tracker.log_text(table.markdown(), "summary.md")
    tracker.log_text(table.csv(), "summary.csv")
    tracker.log_text(json.dumps(result.as_dict(), indent=2), "summary.json")
    metrics = {**result.metrics, "wall_time_s": result.wall_time_s}
    for method, spread in result.extra.get("latent_spread", {}).items():
        metrics[f"latent_spread_D1_median/{method}"] = spread
    for method, units in result.extra.get("active_units", {}).items():
        metrics[f"active_units_median/{method}"] = float(statistics.median(units))
        metrics[f"active_units_min/{method}"] = float(min(units))
    for kind, stats in (("raw", table.raw), ("norm", table.normalized)):
        for method, cols in (stats or {}).items():
            for col, stat in cols.items():
                metrics[f"{col}_{kind}_median/{method}"] = stat.median
    tracker.log_metrics(metrics)


def log_figures(tracker: Tracker | NullTracker, view: str) -> None:
    """Draw the parent run's figures from what it logged (after training, never inside it)."""
    if view == "none" or tracker.parent_run_id is None:
        return
    from rosetta_cl.reporting.run_figures import build_figures

    build_figures(tracker.client, tracker.parent_run_id, view)
