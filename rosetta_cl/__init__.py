"""rosetta-cl: the Rosetta VAE (Martinez & Pearson, arXiv 2201.05206) as an Avalanche toolkit.

Public API, in data-flow order: streams -> models/strategies + RosettaPlugin -> anchors ->
training core + protocols (run records) -> metrics -> summary tables -> MLflow tracking.
"""

import warnings

# Avalanche imports qpsolvers, which warns at import when no QP solver is installed. Nothing here
# solves a QP (only Avalanche's GEM strategy would), and the warning would come before every
# command's output, an `Error:` line included.
warnings.filterwarnings("ignore", message="no QP solver found", category=UserWarning)

from .anchors import Anchors, Selection, select_rosetta_points
from .architectures import ARCHITECTURES, VARIANTS
from .config import DataOptions, ExecutionOptions, ModelOptions, RunConfig, TrainingOptions
from .ensemble import EnsembleRun, Objective, train_ensemble
from .errors import ConfigError
from .losses import ELBOLoss, anchor_loss, negative_elbo, rosetta_term
from .metrics import (
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
from .models import VAE, ModelConfig, encode_means, load_model, save_model
from .plugin import RosettaPlugin
from .protocols import (
    PROTOCOLS,
    ProtocolSpec,
    register_protocol,
    run_continual,
    run_reproducibility,
    run_sequential,
)
from .records import RunRecord
from .registry import (
    BENCHMARKS,
    METHODS,
    METRICS,
    MetricSpec,
    register_benchmark,
    register_method,
    register_metric,
)
from .report import build_report
from .run_figures import build_figures
from .runner import run_benchmark
from .selectors import (
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
from .specs import Spec, SpecResult, SpecTable, load_spec, run_spec
from .strategies import BetaVAEStrategy, RosettaVAEStrategy, VAEStrategy
from .streams import Benchmark, digits, gaussians8, mnist
from .summary import Table, summarize
from .tracking import DEFAULT_TRACKING_URI, MLflowLogger
from .training import ProtocolResult, Trainer
from .training_metrics import EpochLossMetrics, LeanEvaluationPlugin, MetricHistory
from .tune import TuneResult, parse_grid, tune
from .version import __version__

__all__ = [
    "ARCHITECTURES",
    "BENCHMARKS",
    "DEFAULT_TRACKING_URI",
    "METHODS",
    "METRICS",
    "PROTOCOLS",
    "SELECTORS",
    "VAE",
    "VARIANTS",
    "AgglomerativeSelector",
    "Anchors",
    "Benchmark",
    "BetaVAEStrategy",
    "ConfigError",
    "DataOptions",
    "ELBOLoss",
    "EnsembleRun",
    "EpochLossMetrics",
    "ExecutionOptions",
    "GaussianMixtureSelector",
    "KMeansSelector",
    "LeanEvaluationPlugin",
    "MLflowLogger",
    "MetricHistory",
    "MetricSpec",
    "ModelConfig",
    "ModelOptions",
    "Objective",
    "ProtocolResult",
    "ProtocolSpec",
    "RandomSelector",
    "RosettaPlugin",
    "RosettaVAEStrategy",
    "RunConfig",
    "RunRecord",
    "Scores",
    "Selection",
    "Selector",
    "Spec",
    "SpecResult",
    "SpecTable",
    "Table",
    "Trainer",
    "TrainingOptions",
    "TuneResult",
    "VAEStrategy",
    "__version__",
    "anchor_loss",
    "build_figures",
    "build_report",
    "digits",
    "encode_means",
    "fit_linear_map",
    "gaussians8",
    "kmeans_faiss",
    "linear_cka",
    "linear_map_analysis",
    "load_model",
    "load_spec",
    "lsd",
    "lsd_split",
    "make_selector",
    "mean_correlation",
    "mnist",
    "nearest_members",
    "negative_elbo",
    "parse_grid",
    "procrustes_per_point",
    "register_benchmark",
    "register_method",
    "register_metric",
    "register_protocol",
    "rosetta_term",
    "run_benchmark",
    "run_continual",
    "run_reproducibility",
    "run_sequential",
    "run_spec",
    "rv",
    "rv_per_point",
    "save_model",
    "select_rosetta_points",
    "summarize",
    "train_ensemble",
    "tune",
]
