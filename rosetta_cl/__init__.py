"""rosetta-cl: the Rosetta VAE (Martinez & Pearson, arXiv 2201.05206) as an Avalanche toolkit.

Public API, in data-flow order: streams -> models/strategies + RosettaPlugin -> anchors ->
training core + protocols (run records) -> metrics -> summary tables -> MLflow tracking.

Every name below is imported from its module when first used (``rosetta_cl.lsd`` imports
``rosetta_cl.metrics.latent``), so ``import rosetta_cl`` and the CLI start without torch, Avalanche or
MLflow until a command needs them.
"""

import warnings
from importlib import import_module

from rosetta_cl.version import __version__

# Avalanche imports qpsolvers, which warns at import when no QP solver is installed. Nothing here
# solves a QP (only Avalanche's GEM strategy would), and the warning would come before every
# command's output, an `Error:` line included.
warnings.filterwarnings("ignore", message="no QP solver found", category=UserWarning)

# module -> the public names it holds
_EXPORTS = {
    "anchors.points": ("Anchors", "Selection", "select_rosetta_points"),
    "config.choices": ("ARCHITECTURES", "VARIANTS"),
    "config.options": ("DataOptions", "ExecutionOptions", "ModelOptions", "RunConfig", "TrainingOptions"),
    "training.ensemble": ("EnsembleRun", "Objective", "train_ensemble"),
    "errors": ("ConfigError", "DivergenceError"),
    "tracking.liveness": ("clean_runs",),
    "models.losses": ("ELBOLoss", "anchor_loss", "negative_elbo", "rosetta_term"),
    "metrics.latent": (
        "Scores", "fit_linear_map", "linear_cka", "linear_map_analysis", "lsd", "lsd_split",
        "mean_correlation", "procrustes_per_point", "rv", "rv_per_point",
    ),
    "tracking.mlflow_logger": ("MLflowLogger",),
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
