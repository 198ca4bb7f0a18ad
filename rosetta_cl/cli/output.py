"""What ``rosetta-cl run`` prints for a protocol run or a spec's grid: the setting, the table,
which way is better, a verdict per part with the paper's value, and every other number with a
line saying what it is. Every line fits ``WIDTH`` characters (``--json`` and the logged
``summary.md`` / ``table.md`` keep everything)."""

from __future__ import annotations

import statistics
import textwrap
from typing import TYPE_CHECKING

from rosetta_cl.cli.verdict import FOOTNOTE, direction_line, paper_values, verdict_lines
from rosetta_cl.config.options import filled
from rosetta_cl.metrics.summary import WIDTH, table_lines

if TYPE_CHECKING:
    from rosetta_cl.experiments.specs import SpecResult
    from rosetta_cl.training.results import ProtocolResult

SMOKE = ("--quick: SMOKE OUTPUT (few epochs and seeds, small data: barely trained models).\n"
         "It shows that the pipeline works, not what the methods do.")
ACCUMULATE = {"all": "every experience's anchors kept", "latest": "only the newest k kept",
              "reselect": "k re-selected over the kept anchors and the new experience"}
TRANSFER = {
    "forgetting": "forgetting: reconstruction NLL of the earlier parts above their best before, "
                  "mean over parts (0 = nothing forgotten; lower is better)",
    "bwt": "BWT, backward transfer: NLL of each earlier part when learnt minus now, mean over "
           "parts (negative = forgetting; higher is better)",
    "bwt_lsd": "BWT on LSD: a part's first LSD to the joint model minus now, mean over parts "
               "(negative = drifted away; higher is better)"}


def plural(n: int, word: str) -> str:
    """``1 seed``, ``10 seeds``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def wrap(text: str) -> str:
    """``text`` wrapped to ``WIDTH``, continuation lines indented."""
    return textwrap.fill(text, WIDTH, subsequent_indent="  ")


def protocol_run_text(result: ProtocolResult, ui: str) -> str:
    """The terminal report of one protocol run; ``ui``: the command that opens its store."""
    c, extra = result.config, result.extra
    lines = []
    if extra.get("data_defaults"):
        lines.append(wrap(f"defaults from {c.data} (options override them): "
                          f"{extra['data_defaults']}"))
    templates = (f"{plural(filled(c.templates), 'template')} x " if filled(c.templates) > 1
                 else "")
    lines.append(f"{c.protocol} protocol on {c.benchmark}: {templates}"
                 f"{plural(filled(c.seeds), 'seed')} x "
                 f"{plural(len(c.methods), 'method')}, {c.epochs} epochs, k={c.rosetta_points},\n"
                 f"rho={c.rho}, beta={c.beta}, latent dim {c.latent_dim}, arch {c.arch}; "
                 f"{result.wall_time_s:.1f} s")
    if extra.get("plateau"):
        lines.append(wrap(plateau_line(extra["plateau"])))
    if c.protocol == "continual":
        lines.append(continual_setting(c))
    elif c.plugins:
        lines.append(wrap(f"every method trains with plugins: {' + '.join(c.plugins)}"))
    if c.quick:
        lines.append(SMOKE)
    lines += [result.table.markdown(compact=True), direction_line(result.table.columns)]
    verdicts = verdict_lines(result.table, *paper_values(c.benchmark, c.protocol))
    if verdicts:
        lines += [*map(wrap, verdicts), FOOTNOTE]
    lines += transfer_lines(extra.get("transfer", {}))
    lines += active_unit_lines(extra.get("active_units", {}), filled(c.latent_dim))
    if extra.get("latent_spread"):
        spread = ", ".join(f"{m} {v:.3g}" for m, v in extra["latent_spread"].items())
        lines.append(wrap("latent spread (median over runs of total variance of mu on D1; a "
                          f"collapse shrinks it): {spread}"))
    if "template_to_target_LSD_D1" in extra:
        each = [e["template_to_target_LSD_D1"] for e in extra.get("by_template", [extra])]
        lines.append("template -> target LSD on D1 (where the anchors come from): "
                     + ", ".join(f"{v:.3g}" for v in each)
                     + (" (per template)" if len(each) > 1 else ""))
    for method, stats in extra.get("linear_map", {}).items():
        lines.append(f"linear map {method}: ||I - A/||A||_2||_F {stats['map_identity_gap']:.3g},"
                     f" ||b|| {stats['map_bias_norm']:.3g} (medians over runs)")
    if extra.get("linear_map"):
        lines.append("  (the affine map mu -> A mu + b onto the joint model: the first number "
                     "is 0 when A\n  only scales, i.e. the axes agree; ||b|| is its shift)")
    if result.parent_run_id:
        lines.append(f"MLflow parent run: {result.parent_run_id}\n  (see it with `{ui}`)")
    return "\n".join(lines)


def plateau_line(plateau: dict) -> str:
    """How ``--epochs plateau`` chose the epochs every model trained for."""
    if plateau["plateaued"]:
        return f"epochs: plateau -> {plateau['epochs']} ({plateau['rule']})"
    return (f"epochs: plateau -> {plateau['epochs']}: the joint model's validation loss had not "
            f"plateaued by then ({plateau['rule']})")


def active_unit_lines(units: dict[str, list[float]], latent_dim: int) -> list[str]:
    """Active units per method (median, range over runs), and a warning for every method whose
    runs all collapsed: LSD and RV of a collapsed latent space measure nothing."""
    if not units:
        return []
    cells = ", ".join(f"{m} {statistics.median(v):g}" + (f" ({min(v):g}-{max(v):g})"
                                                   if min(v) != max(v) else "")
                      for m, v in units.items())
    lines = [wrap(f"active units (latent dims whose E[z|x] varies over inputs by > 0.01, of "
                  f"{latent_dim}; median (range) over runs): {cells}")]
    for method, v in units.items():
        if max(v) == 0:
            lines.append(wrap(f"{method}: no active unit in any run (a collapsed latent space): "
                              "its LSD and RV are not meaningful"))
    return lines


def continual_setting(config) -> str:
    """What every column of a continual table trained with: plugins, anchors, weights."""
    plugins = " + ".join(config.plugins) if config.plugins else "none"
    return wrap(
        f"every method trains through the stream with plugins: {plugins}; RosettaPlugin k="
        f"{config.rosetta_points} per experience, accumulate {config.accumulate} "
        f"({ACCUMULATE.get(config.accumulate, config.accumulate)}); weights "
        f"{'re-initialised' if config.reinit else 'kept'} between experiences (--"
        f"{'' if config.reinit else 'no-'}reinit). Only rvae has the anchor term in its loss; "
        "every method sees the x_r as data.")


def transfer_lines(transfer: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """The forgetting and backward-transfer tables (``transfer``): a row per method, a column
    per experience, medians over runs."""
    lines: list[str] = []
    for name, title in TRANSFER.items():
        rows = {m: measures[name] for m, measures in transfer.items() if name in measures}
        if not rows:
            continue
        afters = list(next(iter(rows.values())))
        lines += ["", wrap(f"{title}: median over runs"), ""]
        lines += table_lines(["method", *afters],
                             [[m, *(f"{cols[a]:.3g}" for a in afters)] for m, cols in rows.items()],
                             WIDTH)
    return lines + ([""] if lines else [])


def spec_run_text(result: SpecResult, ui: str) -> str:
    """The terminal report of a spec's grid."""
    lines = [SMOKE] if result.results and result.results[0][1].config.quick else []
    lines += [result.table.markdown(width=WIDTH),
              direction_line([result.table.metric, *result.table.columns]),
              f"{plural(len(result.results), 'protocol run')} in {result.wall_time_s:.1f} s"]
    if result.parent_run_id:
        lines.append(f"MLflow parent run: {result.parent_run_id}\n  (see it with `{ui}`)")
    return "\n".join(lines)
