"""Entry point for one protocol invocation: resolve the config, open the MLflow parent run,
run the protocol, log the summary table. The CLI's ``run`` is a thin wrapper around this."""

from __future__ import annotations

import json
from dataclasses import replace

from .config import RunConfig, resolve
from .continual import run_continual
from .errors import ConfigError
from .extensions import load_extensions, parse_plugin
from .protocols import ProtocolResult, run_reproducibility, run_sequential
from .registry import BENCHMARKS, METHODS, BenchmarkSpec
from .runs import Tracker
from .streams import Benchmark
from .tracking import check_store, get_or_create_experiment, resolve_tracking_uri
from .user_data import NAME as USER_DATA
from .user_data import user_benchmark

PROTOCOL_FUNCTIONS = {"sequential": run_sequential, "reproducibility": run_reproducibility,
                      "continual": run_continual}


def run_benchmark(config: RunConfig, *, tracking_uri: str | None = None,
                  experiment: str | None = None, track: bool = True,
                  progress: bool = False) -> ProtocolResult:
    """Run ``config.protocol`` on ``config.benchmark``; logs to MLflow unless ``track=False``.

    Raises :class:`~rosetta_cl.errors.ConfigError` for bad values before anything is logged.
    """
    config, bench = prepare(config)
    protocol = PROTOCOL_FUNCTIONS[config.protocol]
    if not track:
        return protocol(bench, config, None, progress)
    tracker = open_tracker(tracking_uri, experiment or config.benchmark)
    tags = {"protocol": config.protocol, "benchmark": config.benchmark, "role": "parent"}
    with tracker.parent(f"{config.protocol}-{config.benchmark}", config.as_params(), tags):
        result = protocol(bench, config, tracker, progress)
        result = replace(result, parent_run_id=tracker.parent_run_id)
        log_summary(tracker, result)
        log_figures(tracker, config.figures)
    return result


def prepare(config: RunConfig, benches: dict | None = None) -> tuple[RunConfig, Benchmark]:
    """Resolve and check ``config``, build its benchmark (reused from ``benches`` when given)."""
    load_extensions(config.plugins_dir)
    for text in config.plugins:
        parse_plugin(text)  # unknown plugins and options fail before anything runs
    benchmarks = BENCHMARKS
    if config.data or config.benchmark == USER_DATA:
        if not config.data:
            raise ConfigError(f"benchmark {USER_DATA!r} needs --data FILE (.npy or .npz)")
        bench = user_benchmark(config.data, config.split_by, config.seed, config.subsample)
        config = replace(config, benchmark=USER_DATA)
        benchmarks = {**BENCHMARKS, USER_DATA: BenchmarkSpec(USER_DATA, None, bench.defaults,
                                                             bench.description)}
        config = resolve(config, benchmarks, METHODS)
        return _check_k(config, bench)
    config = resolve(config, benchmarks, METHODS)
    key = (config.benchmark, config.seed, config.subsample, config.data_dir)
    if benches is not None and key in benches:
        bench = benches[key]
    else:
        bench = BENCHMARKS[config.benchmark].make(config.seed, subsample=config.subsample,
                                                  data_dir=config.data_dir)
        if benches is not None:
            benches[key] = bench
    return _check_k(config, bench)


def _check_k(config: RunConfig, bench: Benchmark) -> tuple[RunConfig, Benchmark]:
    n_parts = len(bench.parts)
    if config.protocol != "continual" and n_parts != 2:
        raise ConfigError(f"{config.benchmark} has {n_parts} experiences; the {config.protocol} "
                          "protocol uses 2 (use --protocol continual)")
    if config.anchors:  # Bob's workflow: the file must fit this benchmark's models
        from .anchor_file import check_fits, read_anchor_file

        anchor_file = read_anchor_file(config.anchors)
        check_fits(anchor_file, bench.input_dim, config.latent_dim,
                   f"benchmark {config.benchmark}")
        return replace(config, rosetta_points=anchor_file.k), bench
    n_first = len(bench.train_stream[0].dataset)
    if config.rosetta_points > n_first:
        raise ConfigError(f"rosetta points k={config.rosetta_points}: allowed 1 <= k <= {n_first}"
                          f" (training points of {bench.parts[0]})")
    return config, bench


def open_tracker(tracking_uri: str | None, experiment: str) -> Tracker:
    uri = resolve_tracking_uri(tracking_uri)
    check_store(uri)
    return Tracker(get_or_create_experiment(experiment, uri))


def log_summary(tracker: Tracker, result: ProtocolResult) -> None:
    """The table as Markdown, CSV and JSON artifacts, its cells as parent-run metrics."""
    table = result.table
    tracker.log_text(table.markdown(), "summary.md")
    tracker.log_text(table.csv(), "summary.csv")
    tracker.log_text(json.dumps(result.as_dict(), indent=2), "summary.json")
    metrics = {"wall_time_s": result.wall_time_s}
    for kind, stats in (("raw", table.raw), ("norm", table.normalized)):
        for method, cols in (stats or {}).items():
            for col, stat in cols.items():
                metrics[f"{col}_{kind}_median/{method}"] = stat.median
    tracker.log_metrics(metrics)


def log_figures(tracker: Tracker, view: str) -> None:
    """Draw the parent run's figures from what it logged (after training, never inside it)."""
    if view == "none":
        return
    from mlflow.tracking import MlflowClient

    from .run_figures import build_figures

    build_figures(MlflowClient(), tracker.parent_run_id, view)
