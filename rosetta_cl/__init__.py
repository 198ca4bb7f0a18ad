"""rosetta-cl: the Rosetta VAE (Martinez & Pearson, arXiv 2201.05206) as an Avalanche toolkit.

Public API, in data-flow order: streams -> models/strategies + RosettaPlugin -> anchors ->
metrics -> summary tables -> MLflow tracking.
"""

from .anchors import Anchors, Selection, kmeans_faiss, nearest_members, select_rosetta_points
from .config import RunConfig
from .errors import ConfigError
from .losses import ELBOLoss, negative_elbo, rosetta_term
from .metrics import fit_linear_map, lsd, lsd_split, rv, rv_per_point
from .models import VAE, ModelConfig, encode_means, load_model, save_model
from .plugin import RosettaPlugin
from .protocols import ProtocolResult, run_reproducibility, run_sequential
from .registry import BENCHMARKS, METHODS, register_benchmark, register_method
from .runner import run_benchmark
from .strategies import BetaVAEStrategy, RosettaVAEStrategy, VAEStrategy
from .streams import Benchmark, digits, gaussians8, mnist
from .summary import Table, summarize
from .tracking import DEFAULT_TRACKING_URI, MLflowLogger
from .training_metrics import EpochLossMetrics

__version__ = "0.1.0"

__all__ = [
    "BENCHMARKS",
    "DEFAULT_TRACKING_URI",
    "METHODS",
    "VAE",
    "Anchors",
    "Benchmark",
    "BetaVAEStrategy",
    "ConfigError",
    "ELBOLoss",
    "EpochLossMetrics",
    "MLflowLogger",
    "ModelConfig",
    "ProtocolResult",
    "RosettaPlugin",
    "RosettaVAEStrategy",
    "RunConfig",
    "Selection",
    "Table",
    "VAEStrategy",
    "digits",
    "encode_means",
    "fit_linear_map",
    "gaussians8",
    "kmeans_faiss",
    "load_model",
    "lsd",
    "lsd_split",
    "mnist",
    "nearest_members",
    "negative_elbo",
    "register_benchmark",
    "register_method",
    "rosetta_term",
    "run_benchmark",
    "run_reproducibility",
    "run_sequential",
    "rv",
    "rv_per_point",
    "save_model",
    "select_rosetta_points",
    "summarize",
]
