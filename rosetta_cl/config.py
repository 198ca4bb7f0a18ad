"""Run configuration: one dataclass, validated before anything is trained or logged."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch

from .architectures import ARCHITECTURES, VARIANTS
from .embedding import PROJECTIONS
from .errors import ConfigError
from .losses import ANCHOR_FITS, DECODER_TERMS
from .selectors import SELECTORS

PROTOCOLS = ("sequential", "reproducibility", "continual")
ACCUMULATE = ("all", "latest", "reselect")
QUICK_SEEDS = 3
FIGURE_VIEWS = (*PROJECTIONS, "none")


@dataclass(frozen=True)
class RunConfig:
    benchmark: str = "gaussians8"
    protocol: str = "sequential"
    methods: tuple[str, ...] = ("vae", "bvae", "rvae")
    seeds: int | None = None  # None: 10 (the paper's M), or 3 with quick
    epochs: int | None = None  # None: the benchmark's default
    rosetta_points: int | None = None  # None: the benchmark's default k
    rho: float = 1.5
    anchor_fit: str = "exact"  # exact: ||z_r - mu(x_r)||^2 (paper); affine: up to an affine map (ours)
    anchor_decoder: str = "squared"  # eq. 1's decoder term: squared ||x_r - m(z_r)||^2 | nll | none
    beta: float = 2.5  # beta of the beta-VAE baseline (first non-zero point of the paper grid)
    latent_dim: int | None = None  # None: the benchmark's default
    batch_size: int = 128
    lr: float = 1e-3
    covariance: str = "full"
    obs_scale: float | None = None  # gaussian likelihood's fixed std; None: benchmark default
    device: str = "auto"
    seed: int = 0  # data split, template and target; method runs use seed + 1 .. seed + seeds
    subsample: int | None = None  # at most this many points per part (None: all; quick: default)
    data_dir: str | None = None  # where file-backed benchmarks (mnist) look for and cache data
    quick: bool = False
    arch: str | None = None  # mlp | conv | resnet; None: the benchmark's default
    arch_variant: str = "same"  # simple | same | complex (appendix F)
    template_arch: str | None = None  # the template's (and target's) arch; None: same as arch
    template_arch_variant: str = "same"
    selection: str = "kmeans"  # how the template's Rosetta points are chosen (see selectors)
    anchors: str | None = None  # a .rosetta file to use instead of training a template
    data: str | None = None  # a user's .npy/.npz (benchmark "data"); see user_data
    split_by: str | None = None  # how the user's data splits into D1 | D2: part, label:A|B, half
    accumulate: str = "all"  # continual: anchors kept across experiences (all, latest, reselect)
    reinit: bool = True  # continual: fresh weights for every experience (False: keep training)
    plugins: tuple[str, ...] = ()  # "name:key=value,..." Avalanche plugins added to every method
    plugins_dir: str | None = None  # local plugins folder (default $ROSETTA_CL_PLUGINS_DIR, ./plugins)
    figures: str = "auto"  # 2-D view of the logged figures: auto, identity, pca, umap; none: no figures
    ensemble: bool = False  # train each method's seeds as one vectorised ensemble (see ensemble)

    def as_params(self) -> dict[str, str]:
        params = asdict(self)
        params["methods"] = ",".join(self.methods)
        params["plugins"] = ";".join(self.plugins)
        return {k: str(v) for k, v in params.items()}


def resolve_device(device: str) -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        index = int(device[5:]) if ":" in device else 0
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if index >= count:
            raise ConfigError(f"device {device!r} is not available (CUDA devices here: {count});"
                              " allowed: auto, cpu" + (", cuda, cuda:N" if count else ""))
        return torch.device(device)
    raise ConfigError(f"device {device!r}: allowed auto, cpu, cuda, cuda:N")


def resolve(config: RunConfig, benchmarks, methods) -> RunConfig:
    """Fill benchmark defaults and check every value; raises ConfigError naming the bad value."""
    if config.benchmark not in benchmarks:
        raise ConfigError(f"unknown benchmark {config.benchmark!r}: allowed {', '.join(benchmarks)}")
    if config.protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {config.protocol!r}: allowed {', '.join(PROTOCOLS)}")
    if not config.methods:
        raise ConfigError(f"no methods given: allowed {', '.join(methods)}")
    for method in config.methods:
        if method not in methods:
            raise ConfigError(f"unknown method {method!r}: allowed {', '.join(methods)}")
    if len(set(config.methods)) != len(config.methods):
        raise ConfigError(f"methods {','.join(config.methods)}: each method may appear once")
    defaults = benchmarks[config.benchmark].defaults
    latent_dim = config.latent_dim if config.latent_dim is not None else defaults.latent_dim
    quick_seeds = max(QUICK_SEEDS, latent_dim + 1) if config.protocol == "reproducibility" else QUICK_SEEDS
    seeds = config.seeds if config.seeds is not None else (quick_seeds if config.quick else 10)
    epochs = config.epochs if config.epochs is not None else (
        defaults.quick_epochs if config.quick else defaults.epochs)
    k = config.rosetta_points if config.rosetta_points is not None else defaults.rosetta_points
    checks = [
        (latent_dim >= 1, f"latent dim {latent_dim}: must be >= 1"),
        (epochs >= 1, f"epochs {epochs}: must be >= 1"),
        (config.batch_size >= 1, f"batch size {config.batch_size}: must be >= 1"),
        (config.lr > 0, f"learning rate {config.lr}: must be > 0"),
        (k >= 1, f"rosetta points k={k}: must be >= 1"),
        (config.rho >= 0, f"rho {config.rho}: must be >= 0"),
        (config.anchor_decoder in DECODER_TERMS,
         f"anchor decoder {config.anchor_decoder!r}: allowed {', '.join(DECODER_TERMS)}"),
        (config.anchor_fit in ANCHOR_FITS,
         f"anchor fit {config.anchor_fit!r}: allowed {', '.join(ANCHOR_FITS)}"),
        (config.beta >= 0, f"beta {config.beta}: must be >= 0"),
        (config.covariance in ("full", "diag"),
         f"covariance {config.covariance!r}: allowed full, diag"),
        (config.obs_scale is None or config.obs_scale > 0,
         f"obs scale {config.obs_scale}: must be > 0"),
        (seeds >= 1, f"seeds {seeds}: must be >= 1"),
        (config.subsample is None or config.subsample >= 2,
         f"subsample {config.subsample}: must be >= 2 points per part"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    if config.protocol == "reproducibility":
        if seeds < 2:
            raise ConfigError(f"seeds {seeds}: the reproducibility protocol needs >= 2 retrainings")
        if seeds <= latent_dim:
            raise ConfigError(
                f"seeds {seeds} with latent dim {latent_dim}: RV needs seeds > latent dim (the "
                f"covariance of {seeds} runs has rank <= {seeds - 1}, so its log det is -inf)")
    resolve_device(config.device)
    arch = config.arch or defaults.arch
    template_arch = config.template_arch or arch
    for name, value, variant in (("arch", arch, config.arch_variant),
                                 ("template arch", template_arch, config.template_arch_variant)):
        check_architecture(name, value, variant, config.benchmark, defaults.image_shape)
    if config.accumulate not in ACCUMULATE:
        raise ConfigError(f"accumulate {config.accumulate!r}: allowed {', '.join(ACCUMULATE)}")
    if config.figures not in FIGURE_VIEWS:
        raise ConfigError(f"figures {config.figures!r}: allowed {', '.join(FIGURE_VIEWS)}")
    if config.figures == "identity" and latent_dim != 2:
        raise ConfigError(f"figures 'identity' needs latent dim 2, got {latent_dim}")
    if config.ensemble:
        check_ensemble(config, methods)
    if config.anchor_fit == "affine" and k <= latent_dim + 1:
        raise ConfigError(f"anchor fit 'affine' with k={k} and latent dim {latent_dim}: needs "
                          f"k > latent dim + 1 (an affine map fits {latent_dim + 1} points exactly)")
    if config.selection not in SELECTORS:
        raise ConfigError(f"selection {config.selection!r}: allowed {', '.join(SELECTORS)}")
    obs_scale = config.obs_scale if config.obs_scale is not None else defaults.obs_scale
    subsample = config.subsample if config.subsample is not None else (
        defaults.quick_subsample if config.quick else None)
    return replace(config, seeds=seeds, epochs=epochs, rosetta_points=k, latent_dim=latent_dim,
                   obs_scale=obs_scale, subsample=subsample, arch=arch, template_arch=template_arch)


def check_ensemble(config: RunConfig, methods) -> None:
    """--ensemble trains the seeds of the sequential and reproducibility protocols outside the
    Avalanche strategy loop, so it takes only methods with a known objective and no plugins."""
    if config.protocol == "continual":
        raise ConfigError("--ensemble with protocol 'continual': allowed with sequential, "
                          "reproducibility")
    if config.plugins:
        raise ConfigError(f"--ensemble with --plugin {config.plugins[0]!r}: plugins need a "
                          "strategy per model; drop --ensemble or the plugins")
    for method in config.methods:
        if methods[method].objective is None:
            allowed = ", ".join(m for m, spec in methods.items() if spec.objective is not None)
            raise ConfigError(f"--ensemble with method {method!r}: allowed {allowed}")


def check_architecture(name: str, arch: str, variant: str, benchmark: str, image_shape) -> None:
    if arch not in ARCHITECTURES:
        raise ConfigError(f"{name} {arch!r}: allowed {', '.join(ARCHITECTURES)}")
    if variant not in VARIANTS:
        raise ConfigError(f"{name} variant {variant!r}: allowed {', '.join(VARIANTS)}")
    if arch != "mlp" and image_shape is None:
        raise ConfigError(f"{name} {arch!r}: {benchmark} is vector data; allowed: mlp")
    if arch == "conv" and variant != "same":
        raise ConfigError(f"{name} variant {variant!r} with conv: allowed same (variants apply to"
                          " mlp and resnet)")
