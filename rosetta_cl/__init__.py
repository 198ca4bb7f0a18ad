"""rosetta-cl: the Rosetta VAE (Martinez & Pearson, arXiv 2201.05206) as an Avalanche toolkit.

Public API, in data-flow order: streams -> models/strategies + RosettaPlugin -> anchors ->
metrics -> summary tables -> MLflow tracking.
"""

from .anchors import Anchors, Selection, kmeans_faiss, nearest_members, select_rosetta_points
from .architectures import ARCHITECTURES, VARIANTS
from .config import RunConfig
from .ensemble import EnsembleRun, Objective, train_ensemble
from .errors import ConfigError
from .losses import ELBOLoss, anchor_loss, negative_elbo, rosetta_term
from .metrics import fit_linear_map, linear_map_analysis, lsd, lsd_split, rv, rv_per_point
from .models import VAE, ModelConfig, encode_means, load_model, save_model
from .plugin import RosettaPlugin
from .protocols import ProtocolResult, run_reproducibility, run_sequential
from .registry import BENCHMARKS, METHODS, register_benchmark, register_method
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
    make_selector,
)
from .specs import Spec, SpecResult, SpecTable, load_spec, run_spec
from .strategies import BetaVAEStrategy, RosettaVAEStrategy, VAEStrategy
from .streams import Benchmark, digits, gaussians8, mnist
from .summary import Table, summarize
from .tracking import DEFAULT_TRACKING_URI, MLflowLogger
from .training_metrics import EpochLossMetrics, LeanEvaluationPlugin, MetricHistory
from .tune import TuneResult, parse_grid, tune

__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "BENCHMARKS",
    "DEFAULT_TRACKING_URI",
    "METHODS",
    "SELECTORS",
    "VAE",
    "VARIANTS",
    "AgglomerativeSelector",
    "Anchors",
    "Benchmark",
    "BetaVAEStrategy",
    "ConfigError",
    "ELBOLoss",
    "EnsembleRun",
    "EpochLossMetrics",
    "GaussianMixtureSelector",
    "KMeansSelector",
    "LeanEvaluationPlugin",
    "MLflowLogger",
    "MetricHistory",
    "ModelConfig",
    "Objective",
    "ProtocolResult",
    "RandomSelector",
    "RosettaPlugin",
    "RosettaVAEStrategy",
    "RunConfig",
    "Selection",
    "Selector",
    "Spec",
    "SpecResult",
    "SpecTable",
    "Table",
    "TuneResult",
    "VAEStrategy",
    "anchor_loss",
    "build_figures",
    "build_report",
    "digits",
    "encode_means",
    "fit_linear_map",
    "gaussians8",
    "kmeans_faiss",
    "linear_map_analysis",
    "load_model",
    "load_spec",
    "lsd",
    "lsd_split",
    "make_selector",
    "mnist",
    "nearest_members",
    "negative_elbo",
    "parse_grid",
    "register_benchmark",
    "register_method",
    "rosetta_term",
    "run_benchmark",
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
