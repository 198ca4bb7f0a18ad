"""``--templates N``: one protocol run over N templates, so that the uncertainty of every cell
includes which template (and data split) the anchors came from, not only the method seeds.

Template t runs the protocol with ``seed + TEMPLATE_STRIDE * t``: its random data split (where
the benchmark has one), its template and target, and its method seeds (``seed + 1 ..``) all
follow from it; template 0 is the run without ``--templates``. Its models are logged under
``template<t>/`` in the same parent run, tagged ``template_index``. The results are pooled by
``training.results.combine_templates``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from rosetta_cl.config.options import TEMPLATE_STRIDE, RunConfig, filled
from rosetta_cl.protocols import ProtocolSpec
from rosetta_cl.records import Emit, RunRecord
from rosetta_cl.training.results import ProtocolResult, combine_templates
from rosetta_cl.training.trainer import Trainer, train_methods_over


def template_config(config: RunConfig, t: int) -> RunConfig:
    """Template ``t``'s config: every seed shifted by ``TEMPLATE_STRIDE * t``."""
    return replace(config, seed=config.seed + TEMPLATE_STRIDE * t)


def template_emit(emit: Emit | None, t: int) -> Emit | None:
    """``emit`` with template ``t``'s run names prefixed and tagged."""
    if emit is None:
        return None

    def emit_template(record: RunRecord) -> None:
        record.name = f"template{t}/{record.name}"
        record.tags = {**record.tags, "template_index": t}
        emit(record)

    return emit_template


def over_templates(spec: ProtocolSpec, config: RunConfig, bench, bench_for: Callable,
                   emit: Emit | None, progress, executor, reuse) -> ProtocolResult:
    """The protocol ``spec`` over ``config.templates`` templates (``bench``: template 0's data;
    ``bench_for(config)``: another template's), combined; one template: the protocol's own.

    With ``--ensemble`` and a protocol in two halves (``spec.plan``, ``spec.score``), every
    template's template and target are trained first, then each method's runs of all
    templates as one vectorised ensemble; otherwise template after template.
    """
    templates = filled(config.templates)
    if templates == 1:
        return spec.run(bench, config, emit, progress, executor, reuse)
    configs = [template_config(config, t) for t in range(templates)]
    benches = (bench if t == 0 else bench_for(c) for t, c in enumerate(configs))
    if config.ensemble and spec.plan is not None and spec.score is not None:
        plans = [spec.plan(Trainer(b, c, template_emit(emit, t), progress, executor, reuse))
                 for t, (b, c) in enumerate(zip(benches, configs, strict=True))]
        runs = train_methods_over(plans)
        results = [spec.score(plan, done) for plan, done in zip(plans, runs, strict=True)]
    else:
        results = [spec.run(b, c, template_emit(emit, t), progress, executor, reuse)
                   for t, (b, c) in enumerate(zip(benches, configs, strict=True))]
    return combine_templates(results, config)
