"""Plain verdict lines under a run's table: per column of the paper's metric (LSD per part, RV),
each method against the VAE in words, with the paper's normalised median beside it.

The paper's values come from the shipped spec of the same benchmark and protocol that varies
nothing (``rosetta-cl specs``: ``table1_*`` / ``table2_*``); a benchmark without one (your own
data) gets no paper clause. A verdict is a median over runs: the table beside it has the quartiles.
"""

from __future__ import annotations

import re

from rosetta_cl.metrics.summary import Table

NAMES = {"vae": "VAE", "bvae": "beta-VAE", "rvae": "R-VAE"}
FOOTNOTE = ("verdict: the method's median over runs (templates x seeds) against the median VAE "
            "(LSD:\ndistortion to the jointly trained model; RV: spread of retrainings; lower is "
            "better for\nboth), with the 95% bootstrap interval of that median")


def paper_values(benchmark: str, protocol: str) -> tuple[dict[str, dict[str, float]], str]:
    """(method -> column -> the paper's normalised median, the paper's data set where ours
    stands in for it) from the shipped spec that runs ``benchmark`` with ``protocol`` and varies
    nothing; ({}, "") when there is none."""
    from rosetta_cl.experiments.spec_file import load_spec, shipped_specs

    for name, path in shipped_specs().items():
        if not name.startswith("table"):
            continue
        spec = load_spec(path)
        if (spec.vary_field is not None or spec.run.get("benchmark") != benchmark
                or spec.run.get("protocol", "sequential") != protocol):
            continue
        values = {m: {c: float(v) for c, v in cols.items()}
                  for m, cols in spec.paper.get("values", {}).items()}
        return values, spec.paper.get("dataset", "").split(" (")[0]
    return {}, ""


def direction_line(columns: list[str]) -> str:
    """Which way is better for each metric in a table's ``columns`` (from the metric registry),
    e.g. ``lower is better: LSD, RV; higher is better: CKA``."""
    from rosetta_cl.registry import METRICS

    tokens = {t for c in columns for t in re.split(r"[ /_]", c)}
    sides: dict[str, list[str]] = {"lower": [], "higher": []}
    for spec in METRICS.values():
        if spec.column is not None and spec.column in tokens:
            sides["higher" if spec.higher_is_better else "lower"].append(spec.column)
    return "; ".join(f"{side} is better: {', '.join(names)}"
                     for side, names in sides.items() if names)


def verdict_lines(table: Table, paper: dict[str, dict[str, float]] | None = None,
                  paper_dataset: str = "") -> list[str]:
    """One line per method (not the VAE) and column of the lead metric (LSD or RV), e.g.
    ``D1: R-VAE 45% closer to the jointly trained model than the VAE; paper: 4.9% closer``.
    Empty when the VAE was not run or the lead metric is neither LSD nor RV."""
    if table.normalized is None or table.metric not in ("LSD", "RV"):
        return []
    paper = paper or {}
    where = f"paper ({paper_dataset})" if paper_dataset else "paper"
    lines = []
    for method, columns in table.normalized.items():
        if method == "vae":
            continue
        for column in table.columns:
            if not column.startswith(table.metric) or table.kind(column) not in (
                    "ratio", "difference"):
                continue
            part = column.removeprefix(f"{table.metric}_") if column != table.metric else "RV"
            stat, kind = columns[column], table.kind(column)
            name = NAMES.get(method, method)
            line = f"{part}: {name} {_words(stat.median, kind, full=True)}"
            if table.by_template is not None and table.templates > 1:
                own = table.by_template[method][column]
                wins = sum(v < 0 for v in own)  # lower is better for LSD and RV
                line += f", {_better(kind)} on {wins} of {len(own)} templates"
            if stat.lo is not None and stat.hi is not None:
                line += f" (95% interval {_range(stat.lo, stat.hi, kind)})"
            theirs = paper.get(method, {}).get(part)
            if theirs is not None:
                line += f"; {where}: {_words(theirs, table.kind(column), full=False)}"
            lines.append(line)
    return lines


def _words(value: float, kind: str, *, full: bool) -> str:
    """A normalised median in words: LSD as % closer / further, RV as lower / higher."""
    if kind == "ratio":
        size = _size(abs(value) * 100) + "%"
        if value == 0:
            return "as close as the VAE" if full else "0%"
        side = "closer" if value < 0 else "further"
        where = "closer to" if value < 0 else "further from"
        return f"{size} {where} the jointly trained model than the VAE" if full else (
            f"{size} {side}")
    size = _size(abs(value))
    if value == 0:
        return "RV equal to the VAE's" if full else "0"
    side = "lower" if value < 0 else "higher"
    return (f"RV {size} {side} than the VAE's (retrainings "
            f"{'agree more' if value < 0 else 'agree less'})") if full else f"{size} {side}"


def _better(kind: str) -> str:
    return "closer" if kind == "ratio" else "lower"


def _range(lo: float, hi: float, kind: str) -> str:
    """A normalised interval in words: ``38-52% closer``, ``12% closer to 8% further``."""
    scale, unit = (100, "%") if kind == "ratio" else (1, "")
    good, bad = ("closer", "further") if kind == "ratio" else ("lower", "higher")
    if hi <= 0:
        return f"{_size(-hi * scale)}-{_size(-lo * scale)}{unit} {good}"
    if lo >= 0:
        return f"{_size(lo * scale)}-{_size(hi * scale)}{unit} {bad}"
    return f"{_size(-lo * scale)}{unit} {good} to {_size(hi * scale)}{unit} {bad}"


def _size(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"
