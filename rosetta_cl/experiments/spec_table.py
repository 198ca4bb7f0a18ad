"""A spec's table: every grid column's summary side by side, normalised to the VAE of the same
column, with the paper's normalised medians beside ours and cells whose sign differs marked."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rosetta_cl.experiments.spec_file import Spec
from rosetta_cl.metrics.summary import NORMALIZATION, Stat, normalize, table_lines

if TYPE_CHECKING:
    from rosetta_cl.training.results import ProtocolResult

SIGN_MARK = "!"  # printed after a cell whose median and the paper's have opposite signs


def opposite_signs(ours: float, theirs: float) -> bool:
    """True when one value is below 0 and the other above (a 0 median, the VAE's, has no sign)."""
    return ours * theirs < 0


@dataclass
class SpecTable:
    """A spec's table: every column's medians and quartiles per method, beside the paper's.

    Parameters
    ----------
    title : str
        The spec's title.
    metric : str
        The lead metric.
    columns : list of str
        The columns (a grid's values x the protocol's columns).
    normalized : dict
        method -> column -> ``Stat``, normalised to the median VAE ({} without a VAE row).
    raw : dict
        method -> column -> ``Stat`` of the raw values.
    paper : dict
        method -> column -> the paper's normalised median.
    paper_note : str, default ""
        What to keep in mind comparing with the paper.
    paper_source : str, default ""
        Where in the paper the numbers are.
    paper_dataset : str, default ""
        The paper's data set where ours stands in for it ("": the same).
    paper_relative_to : str, default ""
        The column group the paper normalises to (its R-VAE there).
    relative : dict
        Ours normalised that way.
    kinds : dict[str, str]
        column -> ``ratio`` or ``difference``.

    Examples
    --------
    >>> from rosetta_cl import load_spec, run_spec
    >>> from rosetta_cl.experiments.spec_file import spec_path
    >>> result = run_spec(load_spec(spec_path("table2_sequential_gaussians8")), quick=True,
    ...                   track=False, overrides={"epochs": 2, "seeds": 2, "subsample": 200})
    >>> result.table.columns, sorted(result.table.paper)
    (['D1', 'D2'], ['bvae', 'rvae', 'vae'])
    """

    title: str
    metric: str
    columns: list[str]
    normalized: dict[str, dict[str, Stat]]  # method -> column -> stat ({} without a VAE row)
    raw: dict[str, dict[str, Stat]]
    paper: dict[str, dict[str, float]]  # method -> column -> the paper's normalised median
    paper_note: str = ""
    paper_source: str = ""
    paper_dataset: str = ""  # the paper's data set where ours stands in for it ("" = the same)
    paper_relative_to: str = ""  # column group the paper normalises to (its R-VAE there)
    relative: dict[str, dict[str, Stat]] = field(default_factory=dict)  # ours normalised that way
    kinds: dict[str, str] = field(default_factory=dict)  # column -> ratio | difference

    def disagreements(self) -> list[tuple[str, str, float, float]]:
        """(method, column, ours, paper) for every cell whose sign differs from the paper's."""
        ours = self.relative if self.paper_relative_to else self.normalized
        return [(m, c, ours[m][c].median, v) for m, cols in self.paper.items()
                for c, v in cols.items() if m in ours and c in ours[m]
                and opposite_signs(ours[m][c].median, v)]

    def markdown(self, width: int | None = None) -> str:
        """The tables in markdown (``table.md``: whole); with ``width`` (what the CLI prints), a
        table wider than that many characters is split into several."""
        def cell(method, column, stats, with_paper):
            s = stats[method][column]
            interval = f" [{s.lo:.3g}, {s.hi:.3g}]" if s.lo is not None else ""
            text = f"{s.median:.3g}{interval} ({s.q25:.3g}, {s.q75:.3g})"
            theirs = self.paper.get(method, {}).get(column) if with_paper else None
            if theirs is None:
                return text
            mark = f" {SIGN_MARK}" if opposite_signs(s.median, theirs) else ""
            return text + f" [paper {theirs:.3g}]{mark}"

        relative = self.paper_relative_to
        lines = [f"## {self.title}", ""]
        tables = ((f"normalised to the median rvae at {relative}", self.relative, True),
                  ("normalised to median VAE", self.normalized, False),
                  ("raw", self.raw, False)) if relative else (
            ("normalised to median VAE", self.normalized, True), ("raw", self.raw, False))
        # the lead metric's normalisation (its registry entry's, via the columns' kinds)
        own = self.kinds.get(self.columns[0], NORMALIZATION.get(self.metric, "difference"))
        how = {"ratio": "relative change, value / median - 1",
               "difference": "difference, value - median"}[own]
        others = sorted(c for c, k in self.kinds.items() if k != own)
        if others:  # columns of other metrics, normalised the other way
            other = "relative change" if own == "difference" else "difference"
            how = f"{how}; {other} for {', '.join(others)}"
        for kind, stats, with_paper in tables:
            if not stats:
                continue
            detail = f" ({how})" if kind != "raw" else ""
            lines += [f"{self.metric}, {kind}{detail}: median [95% interval] (q25, q75)", ""]
            lines += table_lines(["method", *self.columns], [
                [method, *(cell(method, c, stats, with_paper) for c in self.columns)]
                for method in stats], width)
            lines.append("")
        if self.paper:
            where = f" ({self.paper_source})" if self.paper_source else ""
            lines.append(f"[paper x]: the paper's normalised median{where}; {SIGN_MARK} marks a "
                         "cell whose sign differs from the paper's "
                         f"({len(self.disagreements())} here).")
            if self.paper_dataset:
                lines.append(f"The paper's values are for {self.paper_dataset}; this table runs "
                             "another data set in its place, so compare directions, not sizes.")
        if self.paper_note:
            lines.append(f"paper: {self.paper_note}")
        elif not self.paper:
            lines.append("paper: no numbers in this spec's [paper] section")
        if width:  # prose lines wrapped; table lines were split above
            lines = [textwrap.fill(line, width, subsequent_indent="  ")
                     if not line.startswith("|") and len(line) > width else line
                     for line in lines]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        def stats(table):
            return {m: {c: s.as_dict() for c, s in cols.items()} for m, cols in table.items()}

        return {"title": self.title, "metric": self.metric, "columns": self.columns,
                "normalized": stats(self.normalized), "raw": stats(self.raw), "paper": self.paper,
                "paper_dataset": self.paper_dataset, "paper_relative_to": self.paper_relative_to,
                "relative": stats(self.relative),
                "sign_disagreements": [{"method": m, "column": c, "ours": o, "paper": t}
                                       for m, c, o, t in self.disagreements()]}


def spec_table(spec: Spec, results: list[tuple[str, ProtocolResult]]) -> SpecTable:
    metric = results[0][1].table.metric
    normalized: dict = {}
    raw: dict = {}
    columns: list[str] = []
    kinds: dict[str, str] = {}
    for label, result in results:
        table = result.table
        shown = table.columns
        if shown[-1].startswith("after_"):  # continual: the state after the last experience
            last = shown[-1].split("/")[0]
            shown = [c for c in shown if c.startswith(f"{last}/")]
        for column in shown:
            part = column.removeprefix(f"{metric}_") if len(table.columns) > 1 else metric
            part = part.replace(f"/{metric}_", " ")
            name = " ".join(x for x in (label, part) if x)
            columns.append(name)
            kinds[name] = table.kind(column)
            for method in table.raw:
                raw.setdefault(method, {})[name] = table.raw[method][column]
                if table.normalized is not None:
                    normalized.setdefault(method, {})[name] = table.normalized[method][column]
    paper = {m: {c: float(v) for c, v in cols.items()}
             for m, cols in spec.paper.get("values", {}).items()}
    relative_to = spec.paper.get("relative_to", "")
    return SpecTable(spec.title, metric, columns, normalized, raw, paper,
                     spec.paper.get("note", ""), spec.paper.get("source", ""),
                     spec.paper.get("dataset", ""), relative_to,
                     _relative(raw, columns, relative_to, kinds) if relative_to else {}, kinds)


def _relative(raw, columns, group: str, kinds: dict[str, str]) -> dict[str, dict[str, Stat]]:
    """Every method's stats normalised to the median R-VAE of column group ``group`` at the same
    part (the paper's Tables 9 and 10): LSD as value / median - 1, RV as value - median."""
    out: dict[str, dict[str, Stat]] = {}
    if "rvae" not in raw or not any(c == group or c.startswith(f"{group} ") for c in columns):
        return out  # e.g. a --quick grid without the reference group
    for column in columns:
        part = column.split(" ", 1)[1] if " " in column else column
        reference = f"{group} {part}" if " " in column else group
        ref = raw["rvae"][reference].median
        for method, cols in raw.items():
            out.setdefault(method, {})[column] = normalize(cols[column], ref, kinds[column])
    return out
