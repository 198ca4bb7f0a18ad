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
    """The paper's sequential protocol (Table 2): Bob anchors to Alice's latent space.

    A template trained on D1 gives the anchors; a target is trained on D1 u D2; every method
    trains on D2 u x_r (only the R-VAE with the anchor term); each method's latent means are
    compared with the target's per part under one affine map (LSD).

    Parameters
    ----------
    bench : Benchmark
        Two experiences, D1 and D2.
    config : RunConfig
        A resolved config (defaults filled in; ``run_benchmark`` resolves it).
    emit : callable, optional
        Receives each trained model's :class:`RunRecord` (None: discarded).
    progress : bool, default False
        Show progress bars.
    executor : Executor, optional
        Where the trainings run (None: here, one after another).
    reuse : callable, optional
        Finished trainings of an interrupted run, by fingerprint (``--resume``).

    Returns
    -------
    ProtocolResult
        The table (``LSD_D1``, ``LSD_D2``) and the per-run values.

    Examples
    --------
    >>> from rosetta_cl import RunConfig, run_sequential
    >>> from rosetta_cl.experiments.runner import prepare
    >>> config, bench = prepare(RunConfig(methods=("vae", "rvae"), seeds=2, epochs=2,
    ...                                   subsample=200))
    >>> result = run_sequential(bench, config)
    >>> result.table.columns, len(result.anchors)
    (['LSD_D1', 'LSD_D2'], 8)
    """
    from rosetta_cl.protocols.sequential import run_sequential

    return run_sequential(bench, config, emit, progress, executor, reuse)


def run_reproducibility(bench, config, emit=None, progress: bool = False, executor=None,
                        reuse=None):
    """The paper's reproducibility protocol (Table 1): retrain on D1 with the template's anchors.

    Every method is retrained ``config.seeds`` times on D1 u x_r; RV measures the spread of each
    point's latent mean over the retrainings.

    Parameters
    ----------
    bench : Benchmark
        Its first experience is D1.
    config : RunConfig
        A resolved config (``seeds`` > latent dim).
    emit : callable, optional
        Receives each trained model's :class:`RunRecord`.
    progress : bool, default False
        Show progress bars.
    executor : Executor, optional
        Where the trainings run.
    reuse : callable, optional
        Finished trainings of an interrupted run.

    Returns
    -------
    ProtocolResult
        The table (``RV``) and per-point values.

    Examples
    --------
    >>> from rosetta_cl import RunConfig, run_reproducibility
    >>> from rosetta_cl.experiments.runner import prepare
    >>> config, bench = prepare(RunConfig(protocol="reproducibility", methods=("vae", "rvae"),
    ...                                   seeds=3, epochs=2, subsample=200))
    >>> run_reproducibility(bench, config).table.columns
    ['RV']
    """
    from rosetta_cl.protocols.reproducibility import run_reproducibility

    return run_reproducibility(bench, config, emit, progress, executor, reuse)


def run_continual(bench, config, emit=None, progress: bool = False, executor=None, reuse=None):
    """A stream D1 -> ... -> DT (ours): each method through the whole stream, anchors kept.

    After every experience each model is compared with a joint model on every part seen so far.

    Parameters
    ----------
    bench : Benchmark
        Two or more experiences.
    config : RunConfig
        A resolved config (``accumulate`` and ``reinit`` choose what is kept).
    emit : callable, optional
        Receives each trained model's :class:`RunRecord`.
    progress : bool, default False
        Show progress bars.
    executor : Executor, optional
        Where the trainings run.
    reuse : callable, optional
        Finished trainings of an interrupted run.

    Returns
    -------
    ProtocolResult
        The table (``after_D2/LSD_D1``, ...).

    Examples
    --------
    >>> from rosetta_cl import RunConfig, run_continual
    >>> from rosetta_cl.experiments.runner import prepare
    >>> config, bench = prepare(RunConfig(benchmark="digits5", protocol="continual",
    ...                                   methods=("rvae",), seeds=1, epochs=1, subsample=100))
    >>> run_continual(bench, config).table.columns[:2]
    ['after_D2/LSD_D1', 'after_D2/LSD_D2']
    """
    from rosetta_cl.protocols.continual import run_continual

    return run_continual(bench, config, emit, progress, executor, reuse)


def _plan_sequential(trainer):
    from rosetta_cl.protocols.sequential import plan_sequential

    return plan_sequential(trainer)


def _score_sequential(plan, runs):
    from rosetta_cl.protocols.sequential import score_sequential

    return score_sequential(plan, runs)


def _plan_reproducibility(trainer):
    from rosetta_cl.protocols.reproducibility import plan_reproducibility

    return plan_reproducibility(trainer)


def _score_reproducibility(plan, runs):
    from rosetta_cl.protocols.reproducibility import score_reproducibility

    return score_reproducibility(plan, runs)


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
    """A protocol: what is trained on which experience, and how the models are compared.

    Parameters
    ----------
    name : str
        Registry name (``--protocol``).
    run : callable
        ``run(bench, config, emit=None, progress=False, executor=None, reuse=None) ->
        ProtocolResult``, built on the :class:`Trainer`.
    description : str
        One line for ``rosetta-cl plugins``.
    metrics : tuple of str
        What ``--metrics`` defaults to.
    metric_kinds : tuple of str, default ("pairwise",)
        The metric kinds it can compute (``pairwise``, ``retraining``).
    experiences : int, optional, default 2
        How many experiences the benchmark must have (None: two or more).
    ensemble : bool, default True
        Whether ``--ensemble`` can train its methods.
    check : callable, optional
        ``check(config)``: its own rules, raising ConfigError before anything runs.
    plan, score : callable, optional
        The protocol in two halves, ``plan(trainer) -> MethodPlan`` (up to its method runs) and
        ``score(plan, runs) -> ProtocolResult``: with them ``--ensemble --templates N`` trains
        the method runs of every template as one ensemble; without, template after template.
    seeds : int, default 10
        What ``--seeds`` defaults to (runs per method and template; the paper's M).
    templates : int, default 1
        What ``--templates`` defaults to.
    through_stream : bool, default False
        Whether the methods train through every experience (else each trains on one): a
        plugin that acts on what earlier experiences left (EWC, LwF, replay) acts only then.
    source : str, default "built-in"
        Where it was registered from (set by the plugin loader).

    Examples
    --------
    >>> from rosetta_cl import PROTOCOLS
    >>> spec = PROTOCOLS["sequential"]
    >>> spec.metrics, spec.experiences
    (('lsd', 'linear_map'), 2)
    """

    name: str
    run: Callable
    description: str
    metrics: tuple[str, ...]
    metric_kinds: tuple[str, ...] = ("pairwise",)
    experiences: int | None = 2
    ensemble: bool = True
    check: Callable | None = None
    plan: Callable | None = None
    score: Callable | None = None
    seeds: int = 10
    templates: int = 1
    through_stream: bool = False
    source: str = "built-in"


PROTOCOLS: dict[str, ProtocolSpec] = {}
"""Protocol name -> :class:`ProtocolSpec` (``sequential``, ``reproducibility``, ``continual``)."""
__all__ = ["PROTOCOLS", "ProtocolSpec", "register_protocol", "run_continual",
           "run_reproducibility", "run_sequential"]


def register_protocol(spec: ProtocolSpec) -> None:
    """Add a protocol to :data:`PROTOCOLS` (then ``--protocol NAME`` runs it).

    Parameters
    ----------
    spec : ProtocolSpec
        The protocol.

    Raises
    ------
    ValueError
        If the name is taken.

    Examples
    --------
    >>> from rosetta_cl import PROTOCOLS, ProtocolSpec, register_protocol, run_sequential
    >>> register_protocol(ProtocolSpec("sequential_copy", run_sequential, "the paper's again",
    ...                                metrics=("lsd",)))
    >>> PROTOCOLS.pop("sequential_copy").name
    'sequential_copy'
    """
    if spec.name in PROTOCOLS:
        raise ValueError(f"protocol {spec.name!r} is already registered")
    PROTOCOLS[spec.name] = spec


# The sequential protocol's cells vary more between templates than between seeds, so by default
# it spreads its runs over 3 templates x 3 seeds (9 per method; 24 trainings with two methods,
# as many as 10 seeds on one template cost: the main job stays at about a minute).
register_protocol(ProtocolSpec(
    "sequential", run_sequential, "Bob trains on D2 with Alice's anchors; LSD to a joint model "
    "on D1 and D2 (paper, Table 2)", metrics=("lsd", "linear_map"), seeds=3, templates=3,
    plan=_plan_sequential, score=_score_sequential))
register_protocol(ProtocolSpec(
    "reproducibility", run_reproducibility, "retrain on D1 with the template's anchors; RV over "
    "the retrainings (paper, Table 1)", metrics=("rv",), metric_kinds=("retraining", "pairwise"),
    check=check_reproducibility, plan=_plan_reproducibility, score=_score_reproducibility))
register_protocol(ProtocolSpec(
    "continual", run_continual, "a stream D1 -> ... -> DT, anchors kept across experiences; LSD "
    "to a joint model after each (ours)", metrics=("lsd",), experiences=None, ensemble=False,
    through_stream=True))
