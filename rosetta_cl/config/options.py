"""Run configuration, declared once: four parts (data, model, training, execution), each a frozen
dataclass whose fields carry their default and help text (the CLI's options are generated from
them) and whose ``_parameter_constraints`` and ``_check`` hold the rules for its own values.
:class:`RunConfig` is all four together, flat (``config.epochs``), as specs and the CLI name them.

:func:`resolve` fills the benchmark's defaults and checks every rule, so a bad value fails with
one line naming it before anything is trained or logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import ClassVar, TypeVar

from rosetta_cl.config.choices import (
    ACCUMULATE,
    ANCHOR_FITS,
    ARCH_CONSTRAINTS,
    DECODER_TERMS,
    PROJECTIONS,
    SELECTIONS,
)
from rosetta_cl.config.constraints import Interval, OneOf, check_all, check_constraints
from rosetta_cl.config.threads import default_threads
from rosetta_cl.errors import ConfigError

QUICK_SEEDS = 3
EPOCHS_RULES = ("fixed", "plateau")  # --epochs N | --epochs plateau (training.plateau)
TEMPLATE_STRIDE = 1000  # template t runs with seed + TEMPLATE_STRIDE * t (seeds stay below it)
T = TypeVar("T")


def filled(value: T | None) -> T:
    """Read a field :func:`resolve` fills in (``latent_dim``, ``epochs``, ``seeds``, ``arch``, ...).

    Code past :func:`resolve` reads such fields through it: a config that skipped it fails here,
    in one line, rather than with ``None`` deep in a training.
    """
    if value is None:
        raise ValueError("a RunConfig field is still None: resolve the config first "
                         "(rosetta_cl.config.options.resolve)")
    return value
FIGURE_VIEWS = (*PROJECTIONS, "none")


def option(default, help: str, **cli):
    """A config field: its default, its help text, and how the CLI spells it (``flags``: the
    option names, ``metavar``, ``is_flag``, ``multiple``, ``secondary``: ``--no-x``).
    """
    return field(default=default, metadata={"help": help, **cli})


@dataclass(frozen=True)
class DataOptions:
    """What data: the benchmark (or a user's file) and how it is split and subsampled.

    Parameters
    ----------
    benchmark, data, split_by, seed, subsample, data_dir, layer, obsm
        Each field's default and meaning is in its help text (``rosetta-cl run --help`` and the
        CLI reference show it; the CLI's options are generated from these fields).

    Examples
    --------
    >>> from dataclasses import asdict
    >>> from rosetta_cl import DataOptions, RunConfig
    >>> data = DataOptions(data="mine.npz", split_by="label:0,1|2,3")
    >>> RunConfig(**asdict(data)).part(DataOptions) == data
    True
    """

    benchmark: str = option("gaussians8", "Benchmark stream (see `rosetta-cl benchmarks`).",
                            cli=False)
    data: str | None = option(None, "Your own arrays (.npy, or .npz with x and optional y / "
                              "part); the benchmark is then `data`.", metavar="FILE")
    split_by: str | None = option(None, "How the data splits into D1 | D2: --data: part | "
                                  "label:0,1|2,3 | half; .h5ad: obs:COLUMN=A,B|C,D | "
                                  "obs:COLUMN | half; birdsong: bird:A,B|C,D; chairs: half. "
                                  "Quote a value with | (--split-by 'label:0|1'): unquoted, "
                                  "the shell pipes it.")
    seed: int = option(0, "Seed of the data split, template and target; method runs use seed + "
                       "1 .. seed + seeds.")
    subsample: int | None = option(None, "At most N points per part (D1, D2) before the 60/40 "
                                   "split (default: all; --quick: the benchmark's quick size).")
    data_dir: str | None = option(None, "Data dir for file-backed benchmarks (default "
                                  "$ROSETTA_CL_DATA or ~/.cache/rosetta-cl).")
    layer: str | None = option(None, "An .h5ad's layer to read instead of X.", metavar="NAME")
    obsm: str | None = option(None, "An .h5ad's obsm entry to read instead of X (e.g. X_pca).",
                              metavar="KEY")

    _parameter_constraints: ClassVar[dict] = {
        "benchmark": OneOf("unknown benchmark", "benchmarks"),
        "subsample": Interval("subsample", 2, optional=True, unit=" points per part"),
    }


@dataclass(frozen=True)
class ModelOptions:
    """The VAEs: latent size, posterior, likelihood scale, architectures (appendix F).

    Parameters
    ----------
    latent_dim, covariance, obs_scale, arch, arch_variant, template_arch, template_arch_variant
        Each field's default and meaning is in its help text (``rosetta-cl run --help``).

    Examples
    --------
    >>> from rosetta_cl import ModelOptions
    >>> ModelOptions(latent_dim=10, arch="conv").covariance
    'full'
    """

    latent_dim: int | None = option(None, "Latent dimension (benchmark default).")
    covariance: str = option("full", "Posterior covariance: full | diag.")
    obs_scale: float | None = option(None, "Fixed observation std of the Gaussian likelihood "
                                     "(benchmark default).")
    arch: str | None = option(None, "mlp | conv | resnet (benchmark default; conv/resnet need "
                              "images).")
    arch_variant: str = option("same", "simple | same | complex (appendix F; mlp and resnet).")
    template_arch: str | None = option(None, "Architecture of the template and target "
                                       "(default: --arch).")
    template_arch_variant: str = option("same", "Variant of the template's architecture.")

    _parameter_constraints: ClassVar[dict] = {
        "latent_dim": Interval("latent dim", 1),
        "covariance": OneOf("covariance", ("full", "diag")),
        "obs_scale": Interval("obs scale", 0, strict=True, optional=True),
        **ARCH_CONSTRAINTS,
        "template_arch": replace(ARCH_CONSTRAINTS["arch"], label="template arch"),
        "template_arch_variant": replace(ARCH_CONSTRAINTS["arch_variant"],
                                         label="template arch variant"),
    }

    def _check_model(self, image_shape, benchmark: str) -> None:
        """Convolutional architectures need images; conv has one variant."""
        for name, arch, variant in (("arch", self.arch, self.arch_variant),
                                    ("template arch", self.template_arch,
                                     self.template_arch_variant)):
            check_all([
                (arch == "mlp" or image_shape is not None,
                 f"{name} {arch!r}: {benchmark} is vector data; allowed: mlp"),
                (arch != "conv" or variant == "same",
                 (f"{name} variant {variant!r} with conv: allowed same (variants apply to mlp "
                  "and resnet)")),
            ])


@dataclass(frozen=True)
class TrainingOptions:
    """What is trained and how: protocol, methods, seeds, optimisation, the R-VAE's anchors.

    Parameters
    ----------
    protocol, methods, seeds, epochs, epochs_rule, batch_size, lr, beta, rho, rosetta_points
        Each field's default and meaning is in its help text (``rosetta-cl run --help``).
    anchor_fit, anchor_decoder, selection, anchors, accumulate, reinit, plugins, metrics
        The same, for the R-VAE's anchors, plugins and metrics.
    templates
        Templates the protocol runs over (``--templates``).

    Examples
    --------
    >>> from rosetta_cl import TrainingOptions
    >>> TrainingOptions(methods=("vae", "rvae"), rho=1.5, rosetta_points=32).protocol
    'sequential'
    """

    protocol: str = option("sequential", "sequential | reproducibility | continual (see "
                           "`rosetta-cl plugins`).")
    methods: tuple[str, ...] = option(("vae", "bvae", "rvae"), "Comma-separated methods (see "
                                      "`rosetta-cl benchmarks`).")
    seeds: int | None = option(None, "Runs per method and template (default: the protocol's: "
                               "sequential 3, reproducibility and continual 10, the paper's M; "
                               "3 with --quick).")
    epochs: int | None = option(None, "Epochs per model (benchmark default), or plateau: as "
                                "many as the joint model needs until its validation loss "
                                "plateaus (the paper's rule, appendix B).", metavar="N|plateau")
    epochs_rule: str = option("fixed", "fixed (--epochs N, or the default) | plateau (the "
                              "paper's rule; `--epochs plateau`).", cli=False)
    batch_size: int = option(128, "Minibatch size.")
    lr: float = option(1e-3, "Adam learning rate.")
    beta: float = option(2.5, "beta of the beta-VAE (first non-zero point of the paper's grid).")
    rho: float = option(1.5, "Anchor term weight.")
    rosetta_points: int | None = option(None, "Number of Rosetta points k (benchmark default).",
                                        flags=("--rosetta-points", "-k"))
    anchor_fit: str = option("exact", "R-VAE anchor term: exact ||z_r - mu(x_r)||^2 (paper) | "
                             "affine (the same up to the best affine map; ours).")
    anchor_decoder: str = option("squared", "Eq. 1's decoder term in the anchor term: squared "
                                 "||x_r - m(z_r)||^2 (paper) | nll (-log p(x_r | z_r); ours) | "
                                 "none (encoder term only).")
    selection: str = option("kmeans", "How Rosetta points are chosen: kmeans | agglomerative | "
                            "gmm | random.")
    anchors: str | None = option(None, "Anchor to these instead of training a template: a "
                                 ".rosetta file, or a registered version (models:/NAME/VERSION "
                                 "or models:/NAME@ALIAS).", metavar="FILE|MODEL_URI")
    accumulate: str = option("latest", "continual: anchors kept across experiences: latest (the "
                             "newest k; best in our digits5 runs) | all | reselect.")
    reinit: bool = option(True, "continual: fresh weights for every experience.",
                          secondary="--no-reinit")
    plugins: tuple[str, ...] = option((), "Add an Avalanche plugin to every method (repeatable; "
                                      "see `rosetta-cl plugins`).", flags=("--plugin",),
                                      multiple=True, metavar="NAME[:key=value,...]")
    metrics: tuple[str, ...] = option((), "Comma-separated latent metrics (see `rosetta-cl "
                                      "plugins`; default: the protocol's: lsd,linear_map | rv | "
                                      "lsd).")
    templates: int | None = option(None, "Run the protocol over N templates (default: the "
                                   "protocol's: sequential 3, others 1; 1 with --quick): "
                                   "template t shifts --seed by "
                            f"{TEMPLATE_STRIDE} x t (its data split, template, target and "
                            "method seeds); cells pool templates x seeds, with 95% bootstrap "
                            "intervals and on how many templates each method beats the VAE.")

    _parameter_constraints: ClassVar[dict] = {
        "protocol": OneOf("unknown protocol", "protocols"),
        "methods": OneOf("unknown method", "methods", each=True),
        "seeds": Interval("seeds", 1),
        "epochs": Interval("epochs", 1),
        "epochs_rule": OneOf("epochs rule", EPOCHS_RULES),
        "batch_size": Interval("batch size", 1),
        "lr": Interval("learning rate", 0, strict=True),
        "rosetta_points": Interval("rosetta points k={}", 1),
        "rho": Interval("rho", 0),
        "anchor_decoder": OneOf("anchor decoder", DECODER_TERMS),
        "anchor_fit": OneOf("anchor fit", ANCHOR_FITS),
        "beta": Interval("beta", 0),
        "selection": OneOf("selection", SELECTIONS),
        "accumulate": OneOf("accumulate", ACCUMULATE),
        "metrics": OneOf("unknown metric", "metrics", each=True),
        "templates": Interval("templates", 1, optional=True),
    }

    def _check_training(self, latent_dim: int, registries: Mapping) -> None:
        """Rules between this part's values (and the latent size)."""
        methods, protocol = registries["methods"], registries["protocols"][self.protocol]
        allowed = [m for m, spec in registries["metrics"].items()
                   if spec.kind in protocol.metric_kinds]
        check_all([
            (bool(self.methods), f"no methods given: allowed {', '.join(methods)}"),
            (len(set(self.methods)) == len(self.methods),
             f"methods {','.join(self.methods)}: each method may appear once"),
            (len(set(self.metrics)) == len(self.metrics),
             f"metrics {','.join(self.metrics)}: each metric may appear once"),
            *[(m in allowed, (f"metric {m!r} with protocol {self.protocol!r}: allowed "
                              f"{', '.join(allowed)}")) for m in self.metrics],
        ])
        seeds, k = filled(self.seeds), filled(self.rosetta_points)
        check_all([(filled(self.templates) == 1 or seeds < TEMPLATE_STRIDE,
                    (f"seeds {seeds} with templates {self.templates}: allowed seeds < "
                     f"{TEMPLATE_STRIDE} (template t's runs use seed + {TEMPLATE_STRIDE} t + "
                     "1 ..)"))])
        if self.protocol == "reproducibility":
            check_all([
                (seeds >= 2, (f"seeds {seeds}: the reproducibility protocol needs >= 2 "
                              "retrainings")),
                (seeds > latent_dim,
                 (f"seeds {seeds} with latent dim {latent_dim}: RV needs seeds > latent dim "
                  f"(the covariance of {seeds} runs has rank <= {seeds - 1}, so its log "
                  "det is -inf)")),
            ])
        check_all([(self.anchor_fit != "affine" or k > latent_dim + 1,
                    (f"anchor fit 'affine' with k={self.rosetta_points} and latent dim "
                     f"{latent_dim}: needs k > latent dim + 1 (an affine map fits "
                     f"{latent_dim + 1} points exactly)"))])


@dataclass(frozen=True)
class ExecutionOptions:
    """Where and how it runs: device, vectorised ensembles, smoke size, figures, plugins.

    Parameters
    ----------
    device, ensemble, quick, figures, plugins_dir, threads
        Each field's default and meaning is in its help text (``rosetta-cl run --help``).

    Examples
    --------
    >>> from rosetta_cl import ExecutionOptions
    >>> ExecutionOptions(quick=True).device
    'auto'
    """

    device: str = option("auto", "auto | cpu | cuda | cuda:N.")
    ensemble: bool = option(False, "Train each method's seeds as one vectorised model "
                            "(torch.func.vmap); same results, faster for small models. No "
                            "--plugin.", is_flag=True)
    quick: bool = option(False, "Small smoke setting (few epochs, 3 seeds).", is_flag=True)
    figures: str = option("auto", "2-D view of the figures logged after training: auto "
                          "(identity in 2-D, PCA with --quick, else UMAP) | identity | pca | "
                          "umap | none.")
    plugins_dir: str | None = option(None, "Local plugins folder (default "
                                     "$ROSETTA_CL_PLUGINS_DIR, ./plugins).")
    threads: int | None = option(None, "Intra-op threads per training (torch, BLAS, FAISS); "
                                 "default: the thread rule, 1 for every architecture, whatever "
                                 "OMP_NUM_THREADS says (same table on every machine of a CPU "
                                 "type; trainings side by side never spin on each other's "
                                 "cores).")

    _parameter_constraints: ClassVar[dict] = {
        "figures": OneOf("figures", FIGURE_VIEWS),
        "threads": Interval("threads", 1, optional=True),
    }

    def _check_execution(self, config: RunConfig, registries: Mapping) -> None:
        check_device(self.device)
        check_all([(self.figures != "identity" or config.latent_dim == 2,
                    (f"figures 'identity' needs latent dim 2, got {config.latent_dim}"))])
        if self.ensemble:
            check_ensemble(config, registries["methods"], registries["protocols"])


PARTS = (DataOptions, ModelOptions, TrainingOptions, ExecutionOptions)


@dataclass(frozen=True)
class RunConfig(ExecutionOptions, TrainingOptions, ModelOptions, DataOptions):
    """One protocol run: the four parts' fields, flat (``config.epochs``), as specs name them.

    Defaults marked "benchmark default" stay None until the run resolves them from the benchmark;
    every value is checked before anything is trained or logged.

    Parameters
    ----------
    benchmark, data, split_by, seed, subsample, data_dir, layer, obsm
        As :class:`DataOptions`.
    latent_dim, covariance, obs_scale, arch, arch_variant, template_arch, template_arch_variant
        As :class:`ModelOptions`.
    protocol, methods, seeds, epochs, epochs_rule, batch_size, lr, beta, rho, rosetta_points
        As :class:`TrainingOptions`: what is trained.
    anchor_fit, anchor_decoder, selection, anchors, accumulate, reinit, plugins, metrics
        As :class:`TrainingOptions`: the R-VAE's anchors, plugins and metrics.
    templates
        As :class:`TrainingOptions`: templates the protocol runs over.
    device, ensemble, quick, figures, plugins_dir, threads
        As :class:`ExecutionOptions`.

    Examples
    --------
    >>> from rosetta_cl import RunConfig, TrainingOptions
    >>> config = RunConfig(benchmark="gaussians8", methods=("vae", "rvae"), rho=1.5, quick=True)
    >>> config.protocol, config.part(TrainingOptions).rho
    ('sequential', 1.5)
    """

    def part(self, cls):
        """Get this config's values of one part, e.g. ``config.part(ModelOptions)``."""
        return cls(**{f.name: getattr(self, f.name) for f in fields(cls)})

    def as_dict(self) -> dict:
        """Every value with its type (tuples as lists), as ``--json`` and ``summary.json`` do."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def as_params(self) -> dict[str, str]:
        """Every value as MLflow params hold them (strings; lists comma/semicolon-joined)."""
        params = asdict(self)
        params["methods"] = ",".join(self.methods)
        params["plugins"] = ";".join(self.plugins)
        params["metrics"] = ",".join(self.metrics)
        return {k: str(v) for k, v in params.items()}


def check_device(device: str) -> None:
    """``auto`` and ``cpu`` are always allowed (no torch import); ``cuda[:N]`` must exist."""
    if device not in ("auto", "cpu"):
        resolve_device(device)


def resolve_device(device: str):
    """``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    import torch

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


def resolve(config: RunConfig, benchmarks, methods, protocols, metrics) -> RunConfig:
    """Fill benchmark (and protocol) defaults and check every value against its part's rules and
    the registries; raises ConfigError naming the first bad value.
    """
    registries = {"benchmarks": benchmarks, "methods": methods, "protocols": protocols,
                  "metrics": metrics}
    for part in (DataOptions, TrainingOptions):  # the names the defaults below depend on
        check_constraints(config, {k: c for k, c in part._parameter_constraints.items()
                                   if k in ("benchmark", "protocol", "methods")}, registries)
    defaults = benchmarks[config.benchmark].defaults
    latent_dim = config.latent_dim if config.latent_dim is not None else defaults.latent_dim
    quick_seeds = (max(QUICK_SEEDS, latent_dim + 1) if config.protocol == "reproducibility"
                   else QUICK_SEEDS)
    arch = config.arch or defaults.arch
    config = replace(
        config,
        seeds=config.seeds if config.seeds is not None else (
            quick_seeds if config.quick else protocols[config.protocol].seeds),
        templates=config.templates if config.templates is not None else (
            1 if config.quick else protocols[config.protocol].templates),
        epochs=config.epochs if config.epochs is not None else (
            defaults.quick_epochs if config.quick else defaults.epochs),
        rosetta_points=(config.rosetta_points if config.rosetta_points is not None
                        else defaults.rosetta_points_for(config.protocol)),
        latent_dim=latent_dim,
        obs_scale=config.obs_scale if config.obs_scale is not None else defaults.obs_scale,
        subsample=config.subsample if config.subsample is not None else (
            defaults.quick_subsample if config.quick else None),
        arch=arch, template_arch=config.template_arch or arch,
        metrics=config.metrics or protocols[config.protocol].metrics,
        threads=config.threads if config.threads is not None else default_threads(arch))
    for part in PARTS:  # type: ignore[assignment]  # each part's class in turn
        check_constraints(config, part._parameter_constraints, registries)
    config.part(ModelOptions)._check_model(defaults.image_shape, config.benchmark)
    config.part(TrainingOptions)._check_training(latent_dim, registries)
    config.part(ExecutionOptions)._check_execution(config, registries)
    return config


def check_ensemble(config: RunConfig, methods, protocols) -> None:
    """--ensemble trains the seeds of the sequential and reproducibility protocols outside the
    Avalanche strategy loop, so it takes only methods with a known objective and no plugins.
    """
    if not protocols[config.protocol].ensemble:
        allowed = ", ".join(p for p, spec in protocols.items() if spec.ensemble)
        raise ConfigError(f"--ensemble with protocol {config.protocol!r}: allowed with {allowed}")
    if config.plugins:
        raise ConfigError(f"--ensemble with --plugin {config.plugins[0]!r}: plugins need a "
                          "strategy per model; drop --ensemble or the plugins")
    for method in config.methods:
        if methods[method].objective is None:
            allowed = ", ".join(m for m, spec in methods.items() if spec.objective is not None)
            raise ConfigError(f"--ensemble with method {method!r}: allowed {allowed}")
