"""Tables in the paper's format: per method the median and IQR over runs (LSD) or points (RV),
normalised to the median of the vanilla VAE: LSD as a relative change (value / median_VAE - 1,
"ratio"), RV as a difference of log-volumes (value - median_VAE, "difference"); every other
metric as its registry entry says. Raw values are kept beside them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

REFERENCE = "vae"
WIDE = 6  # compact markdown: more columns than this are printed transposed
WIDTH = 100  # compact markdown: wider tables are split into several
NORMALIZATION = {"LSD": "ratio", "RV": "difference"}  # the paper's two metrics
HOW = {"ratio": "relative change vs median VAE",
       "difference": "difference vs median VAE"}


@dataclass
class Stat:
    median: float
    q25: float
    q75: float

    @classmethod
    def of(cls, values) -> Stat:
        q25, median, q75 = np.percentile(np.asarray(values, dtype=np.float64), [25, 50, 75])
        return cls(float(median), float(q25), float(q75))

    def as_dict(self) -> dict:
        return {"median": self.median, "q25": self.q25, "q75": self.q75}


@dataclass
class Table:
    """A protocol's results per method and column: medians and quartiles, raw and normalised.

    Parameters
    ----------
    metric : str
        The lead metric's column, e.g. ``LSD``, ``RV``.
    columns : list of str
        E.g. ``["LSD_D1", "LSD_D2"]`` or ``["RV"]``.
    raw : dict
        method -> column -> ``Stat`` (median, q25, q75) of the raw values.
    normalized : dict, optional
        The same, normalised to the median VAE (None when the VAE was not run).
    n : dict[str, int]
        Values per method (runs for LSD, points for RV).
    kinds : dict[str, str], optional
        column -> ``ratio`` or ``difference`` (None: by ``metric``).

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import summarize
    >>> table = summarize({"vae": {"LSD_D1": np.array([1.0, 1.2, 0.8])},
    ...                    "rvae": {"LSD_D1": np.array([0.5, 0.6, 0.4])}}, "LSD")
    >>> table.raw["vae"]["LSD_D1"], table.n
    (Stat(median=1.0, q25=0.9, q75=1.1), {'vae': 3, 'rvae': 3})
    """

    metric: str  # the lead metric's column, e.g. "LSD", "RV", "CKA"
    columns: list[str]  # e.g. ["LSD_D1", "LSD_D2"] or ["RV"]
    raw: dict[str, dict[str, Stat]]  # method -> column -> stat of raw values
    normalized: dict[str, dict[str, Stat]] | None  # None when the VAE was not run
    n: dict[str, int]  # values per method (runs for LSD, points for RV)
    kinds: dict[str, str] | None = None  # column -> ratio | difference (None: by ``metric``)

    def kind(self, column: str) -> str:
        return (self.kinds or {}).get(column, NORMALIZATION.get(self.metric, "difference"))

    def as_dict(self) -> dict:
        rows = []
        for method, cols in self.raw.items():
            row: dict = {"method": method, "n": self.n[method]}
            for col, stat in cols.items():
                row[col] = {"raw": stat.as_dict()}
                if self.normalized is not None:
                    row[col]["normalized"] = self.normalized[method][col].as_dict()
            rows.append(row)
        how = HOW[self.kind(self.columns[0])]
        out: dict = {"metric": self.metric, "columns": self.columns,
               "normalization": how if self.normalized is not None else None, "rows": rows}
        if len({self.kind(c) for c in self.columns}) > 1:  # several metrics of both kinds
            out["normalizations"] = {c: self.kind(c) for c in self.columns}
        return out

    def markdown(self, compact: bool = False) -> str:
        """The normalised and raw tables, a row per method and a column per table column.

        ``compact`` (what the CLI prints): a table of more than ``WIDE`` columns (the continual
        protocol's) is printed transposed with medians only, and any table wider than ``WIDTH``
        characters is split into several, so that every line fits a terminal.
        """
        def cell(s: Stat) -> str:
            return f"{s.median:.3g} ({s.q25:.3g}, {s.q75:.3g})"

        how = {"ratio": "relative change, value / median - 1",
               "difference": "difference, value - median"}
        kinds = {self.kind(c) for c in self.columns}
        detail = (how[self.kind(self.columns[0])] if len(kinds) == 1 else
                  "; ".join(f"{c}: {how[self.kind(c)].split(',')[0]}" for c in self.columns))
        transposed = compact and len(self.columns) > WIDE
        width = WIDTH if compact else None
        lines = []
        for title, stats in ((f"normalised to median VAE ({detail})", self.normalized),
                             ("raw", self.raw)):
            if stats is None:
                continue
            if transposed:
                head, _, rest = title.partition(" (")
                lines += [f"{self.metric}, {head}: medians", *([f"({rest}"] if rest else []),
                          "(quartiles: summary.csv, --json)", ""]
                lines += table_lines(["column", *stats], [
                    [c, *(f"{stats[m][c].median:.3g}" for m in stats)] for c in self.columns],
                    width)
            else:
                lines += [f"{self.metric}, {title}: median (q25, q75)", ""]
                lines += table_lines(["method", *self.columns], [
                    [m, *(cell(stats[m][c]) for c in self.columns)] for m in stats], width)
            lines.append("")
        return "\n".join(lines)

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["method", "column", "kind", "median", "q25", "q75", "n"])
        for kind, stats in (("normalized", self.normalized), ("raw", self.raw)):
            for method, cols in (stats or {}).items():
                for col, s in cols.items():
                    writer.writerow([method, col, kind, s.median, s.q25, s.q75, self.n[method]])
        return buf.getvalue()


def table_lines(head: list[str], rows: list[list[str]], width: int | None = None) -> list[str]:
    """A markdown table's lines.

    With ``width``, the columns after the first are split over several tables (a blank line between
    them, the first column repeated) so that every line has at most ``width`` characters; a single
    column wider than that stays whole.
    """
    def lines(columns: list[int]) -> list[str]:
        out = ["| " + " | ".join(head[i] for i in [0, *columns]) + " |",
               "|---" * (len(columns) + 1) + "|"]
        return out + ["| " + " | ".join(row[i] for i in [0, *columns]) + " |" for row in rows]

    if width is None:
        return lines(list(range(1, len(head))))
    chunks: list[list[int]] = [[]]
    for i in range(1, len(head)):
        if chunks[-1] and max(map(len, lines([*chunks[-1], i]))) > width:
            chunks.append([])
        chunks[-1].append(i)
    out: list[str] = []
    for n, chunk in enumerate(chunks):
        out += ([""] if n else []) + lines(chunk)
    return out


def normalize(stat: Stat, reference: float, how: str) -> Stat:
    """``stat`` relative to a reference median: ``ratio`` (or the metric ``LSD``) as
    value / reference - 1, ``difference`` (``RV``: a difference of log-volumes) as
    value - reference.
    """
    values = np.array([stat.median, stat.q25, stat.q75])
    how = NORMALIZATION.get(how, how)
    values = values / reference - 1.0 if how == "ratio" else values - reference
    return Stat(*(float(v) for v in values))


def summarize(values: dict[str, dict[str, np.ndarray]], metric: str,
              kinds: dict[str, str] | None = None) -> Table:
    """Summarise per-run (or per-point) values into a :class:`Table`, normalised to the VAE.

    Parameters
    ----------
    values : dict
        method -> column -> values (per run for LSD, per point for RV).
    metric : str
        Names the table (its first metric); its normalization applies to every column unless
        ``kinds`` says otherwise.
    kinds : dict[str, str], optional
        column -> ``ratio`` or ``difference``, where the columns hold several metrics.

    Returns
    -------
    Table
        Medians and quartiles per method and column.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import summarize
    >>> table = summarize({"vae": {"LSD_D1": np.array([1.0, 1.2, 0.8])},
    ...                    "rvae": {"LSD_D1": np.array([0.5, 0.6, 0.4])}}, "LSD")
    >>> table.normalized["rvae"]["LSD_D1"].median  # R-VAE / median VAE - 1
    -0.5
    """
    methods = list(values)
    columns = list(values[methods[0]])
    raw = {m: {c: Stat.of(values[m][c]) for c in columns} for m in methods}
    table = Table(metric, columns, raw, None, {}, kinds)
    normalized: dict[str, dict[str, Stat]] | None = None
    if REFERENCE in values:
        # Percentiles commute with increasing affine maps, so normalising the raw statistics is
        # exact, and the reference row is 0 by construction (no floating-point residue).
        normalized = {m: {} for m in methods}
        for m in methods:
            for c in columns:
                normalized[m][c] = normalize(raw[m][c], raw[REFERENCE][c].median,
                                             table.kind(c))
    table.normalized = normalized
    table.n = {m: len(np.asarray(values[m][columns[0]])) for m in methods}
    return table
