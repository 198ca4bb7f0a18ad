"""rosetta-cl: the Rosetta VAE (Martinez & Pearson, arXiv 2201.05206) as an Avalanche toolkit.

Public API, in data-flow order: streams -> models/strategies + RosettaPlugin -> anchors ->
training core + protocols (run records) -> metrics -> summary tables -> MLflow tracking.

Every name below is imported from its module when first used (``rosetta_cl.lsd`` imports
``rosetta_cl.metrics.latent``), so ``import rosetta_cl`` and the CLI start without torch,
Avalanche or MLflow until a command needs them.
"""

# ruff: noqa: F401  (the TYPE_CHECKING block re-exports the public names for type checkers)
from importlib import import_module
from typing import TYPE_CHECKING

from rosetta_cl.version import __version__

# module -> the public names it holds
_EXPORTS = {
    "anchors.points": ("Anchors", "Selection", "select_rosetta_points"),
    "config.choices": ("ARCHITECTURES", "VARIANTS"),
    "config.options": (
        "DataOptions", "ExecutionOptions", "ModelOptions", "RunConfig", "TrainingOptions",
    ),
    "training.ensemble": ("EnsembleRun", "Objective", "train_ensemble"),
    "errors": ("ConfigError", "DivergenceError"),
    "tracking.liveness": ("clean_runs",),
    "models.losses": ("ELBOLoss", "anchor_loss", "negative_elbo", "rosetta_term"),
    "metrics.latent": (
        "Scores", "fit_linear_map", "linear_cka", "linear_map_analysis", "lsd", "lsd_split",
        "mean_correlation", "procrustes_per_point", "rv", "rv_per_point",
    ),
    "tracking.mlflow_logger": ("MLflowLogger",),
    "tracking.model_registry": ("publish",),
    "models.vae": ("ModelConfig", "VAE", "encode_means", "load_model", "save_model"),
    "anchors.rosetta_plugin": ("RosettaPlugin",),
    "protocols": (
        "PROTOCOLS", "ProtocolSpec", "register_protocol", "run_continual", "run_reproducibility",
        "run_sequential",
    ),
    "records": ("RunRecord",),
    "registry": (
        "BENCHMARKS", "METHODS", "METRICS", "MetricSpec", "register_benchmark", "register_method",
        "register_metric",
    ),
    "reporting.report": ("build_report",),
    "reporting.run_figures": ("build_figures",),
    "training.executors": ("ExecutorOptions",),
    "experiments.runner": ("run_benchmark",),
    "anchors.selectors": (
        "AgglomerativeSelector", "GaussianMixtureSelector", "KMeansSelector", "RandomSelector",
        "SELECTORS", "Selector", "kmeans_faiss", "make_selector", "nearest_members",
    ),
    "experiments.specs": ("Spec", "SpecResult", "SpecTable", "load_spec", "run_spec"),
    "methods.strategies": ("BetaVAEStrategy", "RosettaVAEStrategy", "VAEStrategy"),
    "data.streams": ("Benchmark", "digits", "gaussians8", "mnist"),
    "metrics.summary": ("Table", "summarize"),
    "tracking.store": ("DEFAULT_TRACKING_URI",),
    "training.trainer": ("Trainer",),
    "training.results": ("ProtocolResult",),
    "methods.epoch_metrics": ("EpochLossMetrics", "LeanEvaluationPlugin", "MetricHistory"),
    "experiments.tune": ("TuneResult", "parse_grid", "tune"),
}
if TYPE_CHECKING:  # what type checkers and doc generators see; kept equal to _EXPORTS
    # by tests/test_structure.py (at run time each name is imported on first use)
    from rosetta_cl.anchors.points import Anchors, Selection, select_rosetta_points
    from rosetta_cl.anchors.rosetta_plugin import RosettaPlugin
    from rosetta_cl.anchors.selectors import (
        SELECTORS,
        AgglomerativeSelector,
        GaussianMixtureSelector,
        KMeansSelector,
        RandomSelector,
        Selector,
        kmeans_faiss,
        make_selector,
        nearest_members,
    )
    from rosetta_cl.config.choices import ARCHITECTURES, VARIANTS
    from rosetta_cl.config.options import (
        DataOptions,
        ExecutionOptions,
        ModelOptions,
        RunConfig,
        TrainingOptions,
    )
    from rosetta_cl.data.streams import Benchmark, digits, gaussians8, mnist
    from rosetta_cl.errors import ConfigError, DivergenceError
    from rosetta_cl.experiments.runner import run_benchmark
    from rosetta_cl.experiments.specs import Spec, SpecResult, SpecTable, load_spec, run_spec
    from rosetta_cl.experiments.tune import TuneResult, parse_grid, tune
    from rosetta_cl.methods.epoch_metrics import (
        EpochLossMetrics,
        LeanEvaluationPlugin,
        MetricHistory,
    )
    from rosetta_cl.methods.strategies import BetaVAEStrategy, RosettaVAEStrategy, VAEStrategy
    from rosetta_cl.metrics.latent import (
        Scores,
        fit_linear_map,
        linear_cka,
        linear_map_analysis,
        lsd,
        lsd_split,
        mean_correlation,
        procrustes_per_point,
        rv,
        rv_per_point,
    )
    from rosetta_cl.metrics.summary import Table, summarize
    from rosetta_cl.models.losses import ELBOLoss, anchor_loss, negative_elbo, rosetta_term
    from rosetta_cl.models.vae import VAE, ModelConfig, encode_means, load_model, save_model
    from rosetta_cl.protocols import (
        PROTOCOLS,
        ProtocolSpec,
        register_protocol,
        run_continual,
        run_reproducibility,
        run_sequential,
    )
    from rosetta_cl.records import RunRecord
    from rosetta_cl.registry import (
        BENCHMARKS,
        METHODS,
        METRICS,
        MetricSpec,
        register_benchmark,
        register_method,
        register_metric,
    )
    from rosetta_cl.reporting.report import build_report
    from rosetta_cl.reporting.run_figures import build_figures
    from rosetta_cl.tracking.liveness import clean_runs
    from rosetta_cl.tracking.mlflow_logger import MLflowLogger
    from rosetta_cl.tracking.model_registry import publish
    from rosetta_cl.tracking.store import DEFAULT_TRACKING_URI
    from rosetta_cl.training.ensemble import EnsembleRun, Objective, train_ensemble
    from rosetta_cl.training.executors import ExecutorOptions
    from rosetta_cl.training.results import ProtocolResult
    from rosetta_cl.training.trainer import Trainer

_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF) + ["__version__"]  # noqa: PLE0605  (one list: _EXPORTS)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'rosetta_cl' has no attribute {name!r}")
    value = getattr(import_module(f".{_MODULE_OF[name]}", __name__), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULE_OF))
