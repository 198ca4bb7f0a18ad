"""Names -> benchmarks (streams) and methods (strategies). The CLI and the protocols look
everything up here; ``register_benchmark`` / ``register_method`` add new entries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .strategies import BetaVAEStrategy, RosettaVAEStrategy, VAEStrategy
from .streams import (
    DIGITS5_DEFAULTS,
    DIGITS5_DESCRIPTION,
    DIGITS_DEFAULTS,
    DIGITS_DESCRIPTION,
    GAUSSIANS8_DEFAULTS,
    GAUSSIANS8_DESCRIPTION,
    MNIST_DEFAULTS,
    MNIST_DESCRIPTION,
    Benchmark,
    BenchmarkDefaults,
    digits,
    digits5,
    gaussians8,
    mnist,
)


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    make: Callable[..., Benchmark]  # (seed, subsample=None, data_dir=None) -> Benchmark
    defaults: BenchmarkDefaults
    description: str
    source: str = "built-in"


@dataclass(frozen=True)
class MethodSpec:
    """``make(model, config, anchors, **strategy_kwargs)`` builds the method's strategy.

    ``objective(config) -> (beta, rho)``: the method's loss as the negative ELBO with ``beta`` on
    the KL plus ``rho`` times the Rosetta term, for ``--ensemble`` (which trains without the
    strategy); None: the method cannot be trained as an ensemble.
    """

    name: str
    make: Callable
    description: str
    anchored: bool  # trained with the Rosetta term (the others only see x_r as data)
    source: str = "built-in"
    objective: Callable | None = None


BENCHMARKS: dict[str, BenchmarkSpec] = {}
METHODS: dict[str, MethodSpec] = {}


def register_benchmark(spec: BenchmarkSpec) -> None:
    if spec.name in BENCHMARKS:
        raise ValueError(f"benchmark {spec.name!r} is already registered")
    BENCHMARKS[spec.name] = spec


def register_method(spec: MethodSpec) -> None:
    if spec.name in METHODS:
        raise ValueError(f"method {spec.name!r} is already registered")
    METHODS[spec.name] = spec


register_benchmark(BenchmarkSpec("gaussians8", gaussians8, GAUSSIANS8_DEFAULTS,
                                 GAUSSIANS8_DESCRIPTION))
register_benchmark(BenchmarkSpec("digits", digits, DIGITS_DEFAULTS, DIGITS_DESCRIPTION))
register_benchmark(BenchmarkSpec("digits5", digits5, DIGITS5_DEFAULTS, DIGITS5_DESCRIPTION))
register_benchmark(BenchmarkSpec("mnist", mnist, MNIST_DEFAULTS, MNIST_DESCRIPTION))
register_method(MethodSpec(
    "vae", lambda model, config, anchors, **kw: VAEStrategy(model=model, beta=1.0, **kw),
    "VAE (beta = 1), x_r added to its data, not anchored", anchored=False,
    objective=lambda config: (1.0, 0.0)))
register_method(MethodSpec(
    "bvae", lambda model, config, anchors, **kw: BetaVAEStrategy(model=model, beta=config.beta, **kw),
    "beta-VAE (beta = --beta), x_r added to its data, not anchored", anchored=False,
    objective=lambda config: (config.beta, 0.0)))
register_method(MethodSpec(
    "rvae", lambda model, config, anchors, **kw: RosettaVAEStrategy(
        model=model, k=config.rosetta_points, rho=config.rho, anchors=anchors, select=False,
        fit=config.anchor_fit, decoder=config.anchor_decoder, **kw),
    "Rosetta VAE: VAE + rho (R/B) sum (||z_r - mu(x_r)||^2 + ||x_r - m(z_r)||^2) on the "
    "template's anchors",
    anchored=True, objective=lambda config: (1.0, config.rho)))


@dataclass(frozen=True)
class PluginSpec:
    """An Avalanche plugin that ``--plugin NAME:key=value,...`` adds to every method's strategy.

    ``make(**options)`` returns a fresh plugin instance (one per trained model); ``options`` maps
    each accepted option to its default (the CLI converts values to the default's type).
    """

    name: str
    make: Callable
    description: str
    options: dict
    source: str = "built-in"


PLUGINS: dict[str, PluginSpec] = {}


def register_plugin(spec: PluginSpec) -> None:
    if spec.name in PLUGINS:
        raise ValueError(f"plugin {spec.name!r} from {spec.source} clashes with the one from "
                         f"{PLUGINS[spec.name].source}")
    PLUGINS[spec.name] = spec
