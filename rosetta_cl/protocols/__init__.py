"""The protocols: what is trained on which experience, and how the models are compared.

Each is a function ``run(bench, config, emit=None, progress=False, executor=None, reuse=None)
-> ProtocolResult`` (``executor``: where its trainings run, ``reuse``: finished trainings of an
interrupted run, both handed to its ``training.Trainer``) on the
shared training core (:mod:`rosetta_cl.training.trainer`), registered in :data:`PROTOCOLS` with the
metrics it computes by default and how many experiences it takes. ``register_protocol`` adds one
(from an installed package or the ``plugins/`` folder, like the other registries).

- ``sequential`` (paper, Table 2): template on D1 -> anchors; target on D1 u D2; every method on
  D2 u x_r; pairwise metrics against the target per part (LSD under ONE affine map).
- ``reproducibility`` (paper, Table 1): every method retrained on D1 u x_r; RV over the
  retrainings; pairwise metrics against the template on D1.
- ``continual`` (ours): a stream D1 -> ... -> DT; each method x seed through the whole stream;
  pairwise metrics against a joint model after every experience.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rosetta_cl.errors import ConfigError
from rosetta_cl.registry import METRICS


# The protocols' modules need torch and Avalanche: they are imported when a protocol runs, not
# when the registry is read (the CLI checks a run's options without those imports).
def run_sequential(bench, config, emit=None, progress: bool = False, executor=None, reuse=None):
    from rosetta_cl.protocols.sequential import run_sequential

    return run_sequential(bench, config, emit, progress, executor, reuse)


def run_reproducibility(bench, config, emit=None, progress: bool = False, executor=None, reuse=None):
    from rosetta_cl.protocols.reproducibility import run_reproducibility

    return run_reproducibility(bench, config, emit, progress, executor, reuse)


def run_continual(bench, config, emit=None, progress: bool = False, executor=None, reuse=None):
    from rosetta_cl.protocols.continual import run_continual

    return run_continual(bench, config, emit, progress, executor, reuse)


def check_reproducibility(config) -> None:
    """Pairwise metrics compare with the template, which an anchor file does not hold."""
    pairwise = [m for m in config.metrics if METRICS[m].kind == "pairwise"]
    if config.anchors and pairwise:
        raise ConfigError(f"metric {pairwise[0]!r} with --anchors in the reproducibility "
                          "protocol: pairwise metrics compare with the template, which a .rosetta "
                          "file does not hold; allowed: "
                          + ", ".join(m for m, s in METRICS.items() if s.kind == "retraining"))


@dataclass(frozen=True)
class ProtocolSpec:
    """``run(bench, config, emit=None, progress=False, executor=None, reuse=None) ->
    training.ProtocolResult``.

    ``metrics``: what ``--metrics`` defaults to; ``metric_kinds``: the registry kinds it can
    compute (``pairwise``, ``retraining``); ``experiences``: how many the benchmark must have
    (None: two or more); ``ensemble``: whether ``--ensemble`` can train its methods;
    ``check(config)``: the protocol's own rules, raising ConfigError before anything runs.
    """

    name: str
    run: Callable
    description: str
    metrics: tuple[str, ...]
    metric_kinds: tuple[str, ...] = ("pairwise",)
    experiences: int | None = 2
    ensemble: bool = True
    check: Callable | None = None
    source: str = "built-in"


PROTOCOLS: dict[str, ProtocolSpec] = {}
__all__ = ["PROTOCOLS", "ProtocolSpec", "register_protocol", "run_continual",
           "run_reproducibility", "run_sequential"]


def register_protocol(spec: ProtocolSpec) -> None:
    if spec.name in PROTOCOLS:
        raise ValueError(f"protocol {spec.name!r} is already registered")
    PROTOCOLS[spec.name] = spec


register_protocol(ProtocolSpec(
    "sequential", run_sequential, "Bob trains on D2 with Alice's anchors; LSD to a joint model "
    "on D1 and D2 (paper, Table 2)", metrics=("lsd", "linear_map")))
register_protocol(ProtocolSpec(
    "reproducibility", run_reproducibility, "retrain on D1 with the template's anchors; RV over "
    "the retrainings (paper, Table 1)", metrics=("rv",), metric_kinds=("retraining", "pairwise"),
    check=check_reproducibility))
register_protocol(ProtocolSpec(
    "continual", run_continual, "a stream D1 -> ... -> DT, anchors kept across experiences; LSD "
    "to a joint model after each (ours)", metrics=("lsd",), experiences=None, ensemble=False))
