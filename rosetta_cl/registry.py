"""Names -> benchmarks (streams), methods (strategies), Avalanche plugins and metrics.

The CLI, the protocols and the specs look everything up here; ``register_benchmark``,
``register_method``, ``register_plugin`` and ``register_metric`` add new entries (protocols have
their own registry, ``protocols.PROTOCOLS``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rosetta_cl.data.defaults import (
    BIRDSONG_DEFAULTS,
    BIRDSONG_DESCRIPTION,
    CHAIRS_DEFAULTS,
    CHAIRS_DESCRIPTION,
    DIGITS5_DEFAULTS,
    DIGITS5_DESCRIPTION,
    DIGITS_DEFAULTS,
    DIGITS_DESCRIPTION,
    GAUSSIANS8_DEFAULTS,
    GAUSSIANS8_DESCRIPTION,
    MNIST_DEFAULTS,
    MNIST_DESCRIPTION,
    BenchmarkDefaults,
)
from rosetta_cl.errors import ConfigError

# numpy only; strategies and streams are imported when first used
from rosetta_cl.metrics.latent import (
    cka_scores,
    linear_map_scores,
    lsd_scores,
    mcc_scores,
    procrustes_scores,
    rv_per_point,
)


@dataclass(frozen=True)
class BenchmarkSpec:
    """``make(seed, subsample=None, data_dir=None)`` builds the benchmark's streams; with
    ``split_rules`` (the ``--split-by`` values it takes, e.g. ``bird:A,B|C,D``) it also takes
    ``split_by=``. Without, the split is fixed and ``--split-by`` is refused.
    """

    name: str
    make: Callable
    defaults: BenchmarkDefaults
    description: str
    source: str = "built-in"
    split_rules: str | None = None


@dataclass(frozen=True)
class MethodSpec:
    """``make(model, config, anchors, **strategy_kwargs)`` builds the method's strategy.

    ``objective(config) -> (beta, rho)``: the method's loss as the negative ELBO with ``beta`` on
    the KL plus ``rho`` times the Rosetta term (logged as ``beta_used``, and what ``--ensemble``
    trains without the strategy); None: unknown, and the method cannot be trained as an ensemble.
    ``tuned``: the config field ``rosetta-cl tune`` chooses for this method (``beta``, ``rho``),
    None: not tuned.
    """

    name: str
    make: Callable
    description: str
    anchored: bool  # trained with the Rosetta term (the others only see x_r as data)
    source: str = "built-in"
    objective: Callable | None = None
    tuned: str | None = None


BENCHMARKS: dict[str, BenchmarkSpec] = {}
"""Benchmark name -> :class:`BenchmarkSpec` (``rosetta-cl benchmarks`` lists them)."""
METHODS: dict[str, MethodSpec] = {}
"""Method name -> :class:`MethodSpec` (``vae``, ``bvae``, ``rvae`` and plugins')."""


def register_benchmark(spec: BenchmarkSpec) -> None:
    """Add a benchmark (a data set as streams) to :data:`BENCHMARKS`.

    Parameters
    ----------
    spec : BenchmarkSpec
        Its name, ``make(seed, subsample=None, data_dir=None) -> Benchmark``, defaults and
        description (and ``split_rules`` if it takes ``--split-by``).

    Raises
    ------
    ValueError
        If the name is taken.

    Examples
    --------
    >>> from rosetta_cl import BENCHMARKS, gaussians8, register_benchmark
    >>> from rosetta_cl.registry import BenchmarkSpec
    >>> builtin = BENCHMARKS["gaussians8"]
    >>> register_benchmark(BenchmarkSpec("my_gaussians", gaussians8, builtin.defaults, "a copy"))
    >>> BENCHMARKS.pop("my_gaussians").description
    'a copy'
    """
    if spec.name in BENCHMARKS:
        raise ValueError(f"benchmark {spec.name!r} is already registered")
    BENCHMARKS[spec.name] = spec


def register_method(spec: MethodSpec) -> None:
    """Add a method (a strategy factory) to :data:`METHODS`.

    Parameters
    ----------
    spec : MethodSpec
        Its name, ``make(model, config, anchors, **strategy_kwargs) -> strategy``, description,
        whether it is anchored, and optionally ``objective(config) -> (beta, rho)`` (for
        ``--ensemble``) and the field ``tune`` chooses.

    Raises
    ------
    ValueError
        If the name is taken.

    Examples
    --------
    >>> from rosetta_cl import METHODS, BetaVAEStrategy, register_method
    >>> from rosetta_cl.registry import MethodSpec
    >>> def make(model, config, anchors, **kwargs):
    ...     return BetaVAEStrategy(model=model, beta=0.5, **kwargs)
    >>> register_method(MethodSpec("half_kl", make, "beta-VAE with beta 0.5", anchored=False,
    ...                            objective=lambda config: (0.5, 0.0)))
    >>> METHODS.pop("half_kl").anchored
    False
    """
    if spec.name in METHODS:
        raise ValueError(f"method {spec.name!r} is already registered")
    METHODS[spec.name] = spec


# The built-ins. Their streams and strategies need torch and Avalanche, so they are imported when
# a benchmark is built or a method's strategy made, not when the registry is read (the CLI checks
# names and lists them without those imports).


def _stream(name: str) -> Callable:
    def make(seed: int = 0, subsample: int | None = None, data_dir=None, **split):
        from rosetta_cl.data import streams

        return getattr(streams, name)(seed, subsample=subsample, data_dir=data_dir, **split)

    make.__name__ = name
    return make


def _vae(model, config, anchors, **kw):
    from rosetta_cl.methods.strategies import VAEStrategy

    return VAEStrategy(model=model, beta=1.0, **kw)


def _bvae(model, config, anchors, **kw):
    from rosetta_cl.methods.strategies import BetaVAEStrategy

    return BetaVAEStrategy(model=model, beta=config.beta, **kw)


def _rvae(model, config, anchors, **kw):
    from rosetta_cl.methods.strategies import RosettaVAEStrategy

    return RosettaVAEStrategy(model=model, k=config.rosetta_points, rho=config.rho,
                              anchors=anchors, select=False, fit=config.anchor_fit,
                              decoder=config.anchor_decoder, **kw)


register_benchmark(BenchmarkSpec("gaussians8", _stream("gaussians8"), GAUSSIANS8_DEFAULTS,
                                 GAUSSIANS8_DESCRIPTION))
register_benchmark(BenchmarkSpec("digits", _stream("digits"), DIGITS_DEFAULTS,
                                 DIGITS_DESCRIPTION))
register_benchmark(BenchmarkSpec("digits5", _stream("digits5"), DIGITS5_DEFAULTS,
                                 DIGITS5_DESCRIPTION))
register_benchmark(BenchmarkSpec("mnist", _stream("mnist"), MNIST_DEFAULTS, MNIST_DESCRIPTION))
register_benchmark(BenchmarkSpec("birdsong", _stream("birdsong"), BIRDSONG_DEFAULTS,
                                 BIRDSONG_DESCRIPTION, split_rules="bird:A,B|C,D"))
register_benchmark(BenchmarkSpec("chairs", _stream("chairs"), CHAIRS_DEFAULTS, CHAIRS_DESCRIPTION,
                                 split_rules="half"))
register_method(MethodSpec("vae", _vae, "VAE (beta = 1), x_r added to its data, not anchored",
                           anchored=False, objective=lambda config: (1.0, 0.0)))
register_method(MethodSpec("bvae", _bvae, "beta-VAE (beta = --beta), x_r added to its data, not "
                           "anchored", anchored=False,
                           objective=lambda config: (config.beta, 0.0), tuned="beta"))
register_method(MethodSpec(
    "rvae", _rvae,
    "Rosetta VAE: VAE + rho (R/B) sum (||z_r - mu(x_r)||^2 + ||x_r - m(z_r)||^2) on the "
    "template's anchors",
    anchored=True, objective=lambda config: (1.0, config.rho), tuned="rho"))


@dataclass(frozen=True)
class PluginSpec:
    """An Avalanche plugin that ``--plugin NAME:key=value,...`` adds to every method's strategy.

    ``make(**options)`` returns a fresh plugin instance (one per trained model); ``options`` maps
    each accepted option to its default (the CLI converts values to the default's type);
    ``limits`` the allowed values of some (``">= 1"``, ``"> 0"`` or ``"a | b"``), checked
    before anything trains; ``needs_earlier``: the plugin acts on what earlier experiences left
    (a penalty, a teacher, a memory), so it is refused where each method trains on one
    experience (``sequential``, ``reproducibility``); ``needs_no_reinit``: it follows one weight
    trajectory across experiences, so the continual protocol's default ``--reinit`` is refused
    with it.
    """

    name: str
    make: Callable
    description: str
    options: dict
    source: str = "built-in"
    limits: dict = field(default_factory=dict)
    needs_earlier: bool = False
    needs_no_reinit: bool = False


PLUGINS: dict[str, PluginSpec] = {}


def register_plugin(spec: PluginSpec) -> None:
    if spec.name in PLUGINS:
        raise ValueError(f"plugin {spec.name!r} from {spec.source} clashes with the one from "
                         f"{PLUGINS[spec.name].source}")
    PLUGINS[spec.name] = spec


def parse_plugin(text: str) -> tuple[str, dict]:
    """``name`` or ``name:key=value,key=value`` -> (name, options typed like the defaults)."""
    name, _, rest = text.partition(":")
    name = name.strip()
    if name not in PLUGINS:
        allowed = ", ".join(PLUGINS) or "none found"
        raise ConfigError(f"unknown plugin {name!r}: allowed {allowed} (local plugins: "
                          "--plugins-dir DIR; see `rosetta-cl plugins`)")
    spec = PLUGINS[name]
    options: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or key not in spec.options:
            allowed = ", ".join(f"{k}=<{type(v).__name__}>" for k, v in spec.options.items())
            raise ConfigError(f"plugin {name} option {item!r}: allowed {allowed or 'no options'}")
        default = spec.options[key]
        try:
            if isinstance(default, bool):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                options[key] = value.lower() in ("true", "1")
            else:
                options[key] = type(default)(value) if default is not None else value
        except ValueError:
            raise ConfigError(f"plugin {name} option {key}={value!r}: expected "
                              f"{type(default).__name__}") from None
    for key, value in options.items():
        if key in spec.limits and not within(value, spec.limits[key]):
            raise ConfigError(f"plugin {name} option {key}={value!r}: allowed "
                              f"{spec.limits[key]}")
    return name, {**spec.options, **options}


def within(value, limit: str) -> bool:
    """``value`` against a limit ``">= x"``, ``"> x"`` or ``"a | b | c"``."""
    if limit.startswith(">="):
        return value >= float(limit[2:])
    if limit.startswith(">"):
        return value > float(limit[1:])
    return str(value) in [c.strip() for c in limit.split("|")]


def make_plugins(texts) -> list:
    """Fresh plugin instances for one trained model."""
    out = []
    for text in texts:
        name, options = parse_plugin(text)
        out.append(PLUGINS[name].make(**options))
    return out


METRIC_KINDS = ("pairwise", "retraining")
NORMALIZATIONS = ("ratio", "difference")


@dataclass(frozen=True)
class MetricSpec:
    """A latent-space metric the protocols compute for every trained model.

    Chosen with ``--metrics``, or ``metrics = [...]`` in a spec's ``[run]``.

    Parameters
    ----------
    name : str
        Registry name.
    kind : str
        ``pairwise``: ``compute(source, target, groups) -> Scores``, a model's validation latent
        means against the protocol's reference model's (sequential and continual: the joint
        target, per part; reproducibility: the template, on D1), logged per model run.
        ``retraining``: ``compute(means) -> per-point values``, ``means`` (runs, points, dim) of
        one method's retrainings (reproducibility only), logged on the protocol run as
        ``<column>/<method>`` (mean over points).
    compute : callable
        The metric.
    description : str
        One line for ``rosetta-cl plugins``.
    column : str, optional
        The table column (per group: ``<column>_<group>``); None: logged, not tabulated.
    normalization : str, default "ratio"
        How tables normalise to the median VAE: ``ratio`` (value / median - 1, for distortions)
        or ``difference`` (value - median, for log-volumes and scores in [0, 1]).
    higher_is_better : bool, default False
        For reading the table (the paper's LSD and RV: lower is better).
    source : str, default "built-in"
        Where it was registered from (set by the plugin loader).

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import METRICS, MetricSpec, Scores, register_metric
    >>> def max_shift(source, target, groups):
    ...     gap = np.abs(np.asarray(source) - np.asarray(target)).max(1)
    ...     return Scores(groups={g: float(gap[m].max()) for g, m in groups.items()})
    >>> register_metric(MetricSpec("max_shift_example", "pairwise", max_shift,
    ...                            "largest coordinate shift", column="SHIFT"))
    >>> METRICS.pop("max_shift_example").column
    'SHIFT'
    """

    name: str
    kind: str
    compute: Callable
    description: str
    column: str | None = None
    normalization: str = "ratio"
    higher_is_better: bool = False
    source: str = "built-in"


METRICS: dict[str, MetricSpec] = {}
"""Metric name -> :class:`MetricSpec` (``--metrics``; ``rosetta-cl plugins`` lists them)."""


def register_metric(spec: MetricSpec) -> None:
    """Add a latent-space metric to :data:`METRICS`.

    Parameters
    ----------
    spec : MetricSpec
        The metric (see :class:`MetricSpec`).

    Raises
    ------
    ValueError
        If the name is taken, or its kind or normalization is unknown.

    Examples
    --------
    >>> from rosetta_cl import METRICS, MetricSpec, register_metric, rv_per_point
    >>> register_metric(MetricSpec("rv_copy", "retraining", rv_per_point, "RV again",
    ...                            column="RV2", normalization="difference"))
    >>> METRICS.pop("rv_copy").kind
    'retraining'
    """
    if spec.name in METRICS:
        raise ValueError(f"metric {spec.name!r} is already registered")
    if spec.kind not in METRIC_KINDS:
        raise ValueError(f"metric {spec.name!r} kind {spec.kind!r}: allowed "
                         f"{', '.join(METRIC_KINDS)}")
    if spec.normalization not in NORMALIZATIONS:
        raise ValueError(f"metric {spec.name!r} normalization {spec.normalization!r}: allowed "
                         f"{', '.join(NORMALIZATIONS)}")
    METRICS[spec.name] = spec


register_metric(MetricSpec("lsd", "pairwise", lsd_scores, "latent space distortion: the best "
                           "affine map's mean squared residual (paper)", column="LSD"))
register_metric(MetricSpec("linear_map", "pairwise", linear_map_scores,
                           "that affine map's polar analysis: map_identity_gap, map_bias_norm, "
                           "map_P_eig_i and linear_map.npz (paper, appendices I/J)"))
register_metric(MetricSpec("rv", "retraining", rv_per_point, "retraining variability: log det "
                           "of the latent means' covariance across retrainings (paper)",
                           column="RV", normalization="difference"))
register_metric(MetricSpec("cka", "pairwise", cka_scores, "linear CKA (Kornblith et al. 2019)",
                           column="CKA", normalization="difference", higher_is_better=True))
register_metric(MetricSpec("procrustes", "pairwise", procrustes_scores,
                           "orthogonal-Procrustes distortion: LSD with the map restricted to "
                           "rotation/reflection, one scale and a shift", column="PROCRUSTES"))
register_metric(MetricSpec("mcc", "pairwise", mcc_scores, "mean correlation coefficient of "
                           "matched latent dimensions (Khemakhem et al. 2020)", column="MCC",
                           normalization="difference", higher_is_better=True))
