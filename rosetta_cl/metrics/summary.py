"""Tables in the paper's format: per method the median and IQR over runs (LSD) or points (RV),
normalised to the median of the vanilla VAE: LSD as a relative change (value / median_VAE - 1,
"ratio"), RV as a difference of log-volumes (value - median_VAE, "difference"); every other
metric as its registry entry says. Raw values are kept beside them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np

REFERENCE = "vae"
WIDE = 6  # compact markdown: more columns than this are printed transposed
WIDTH = 100  # compact markdown: wider tables are split into several
NORMALIZATION = {"LSD": "ratio", "RV": "difference"}  # the paper's two metrics
HOW = {"ratio": "relative change vs median VAE",
       "difference": "difference vs median VAE"}


BOOTSTRAP_SAMPLES = 1000  # resamples behind every cell's 95% interval
BOOTSTRAP_SEED = 0  # fixed: the same values give the same intervals


@dataclass
class Stat:
    median: float
    q25: float
    q75: float
    lo: float | None = None  # the median's 95% bootstrap interval (None: not computed)
    hi: float | None = None

    @classmethod
    def of(cls, values) -> Stat:
        q25, median, q75 = np.percentile(np.asarray(values, dtype=np.float64), [25, 50, 75])
        return cls(float(median), float(q25), float(q75))

    def as_dict(self) -> dict:
        out: dict = {"median": self.median, "q25": self.q25, "q75": self.q75}
        if self.lo is not None:
            out["ci95"] = [self.lo, self.hi]
        return out


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
        Values per method (runs for LSD, points for RV), over every template.
    kinds : dict[str, str], optional
        column -> ``ratio`` or ``difference`` (None: by ``metric``).
    templates : int, default 1
        Templates the values come from (``--templates``).
    by_template : dict, optional
        method -> column -> each template's own normalised median (its method's median against
        its VAE's); None when the VAE was not run.
    samples : list of dict, optional
        The values summarised, per template (method -> column -> values): what
        :func:`summarize_templates` pools when templates are combined.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import summarize
    >>> table = summarize({"vae": {"LSD_D1": np.array([1.0, 1.2, 0.8])},
    ...                    "rvae": {"LSD_D1": np.array([0.5, 0.6, 0.4])}}, "LSD")
    >>> stat = table.raw["vae"]["LSD_D1"]
    >>> (stat.median, stat.q25, stat.q75), table.n
    ((1.0, 0.9, 1.1), {'vae': 3, 'rvae': 3})
    """

    metric: str  # the lead metric's column, e.g. "LSD", "RV", "CKA"
    columns: list[str]  # e.g. ["LSD_D1", "LSD_D2"] or ["RV"]
    raw: dict[str, dict[str, Stat]]  # method -> column -> stat of raw values
    normalized: dict[str, dict[str, Stat]] | None  # None when the VAE was not run
    n: dict[str, int]  # values per method (runs for LSD, points for RV)
    kinds: dict[str, str] | None = None  # column -> ratio | difference (None: by ``metric``)
    templates: int = 1
    by_template: dict[str, dict[str, list[float]]] | None = None
    # the values summarised, per template (what ``summarize_templates`` pools again)
    samples: list[dict[str, dict[str, np.ndarray]]] | None = field(default=None, repr=False)

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
               "normalization": how if self.normalized is not None else None, "rows": rows,
               "templates": self.templates}
        if self.by_template is not None:
            out["by_template"] = self.by_template
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
            interval = f" [{s.lo:.3g}, {s.hi:.3g}]" if s.lo is not None else ""
            return f"{s.median:.3g}{interval} ({s.q25:.3g}, {s.q75:.3g})"

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
                over = (f"{self.templates} templates x runs" if self.templates > 1 else
                        "runs")
                lines += [f"{self.metric}, {title}:", f"median [95% bootstrap interval of "
                          f"the median] (q25, q75) over {over}", ""]
                lines += table_lines(["method", *self.columns], [
                    [m, *(cell(stats[m][c]) for c in self.columns)] for m in stats], width)
            lines.append("")
        return "\n".join(lines)

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["method", "column", "kind", "median", "q25", "q75", "n", "ci95_lo",
                         "ci95_hi", "templates"])
        for kind, stats in (("normalized", self.normalized), ("raw", self.raw)):
            for method, cols in (stats or {}).items():
                for col, s in cols.items():
                    writer.writerow([method, col, kind, s.median, s.q25, s.q75, self.n[method],
                                     s.lo, s.hi, self.templates])
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
    return summarize_templates([values], metric, kinds)


def summarize_templates(per_template: list[dict[str, dict[str, np.ndarray]]], metric: str,
                        kinds: dict[str, str] | None = None) -> Table:
    """Summarise the values of several templates (``--templates``) into one :class:`Table`.

    Each cell is the median (and quartiles) over every template's values pooled (templates x
    runs, or x points for RV), with the median's 95% bootstrap interval: templates are drawn
    with replacement, then each drawn template's runs (points) with replacement, paired across
    methods (run i of every method shares its seeds; RV's points are the same points), and the
    cell recomputed (normalised cells: against the resampled VAE median).
    ``by_template`` keeps each template's own normalised median.

    Parameters
    ----------
    per_template : list of dict
        Per template: method -> column -> values (per run for LSD, per point for RV).
    metric : str
        As in :func:`summarize`.
    kinds : dict[str, str], optional
        As in :func:`summarize`.

    Returns
    -------
    Table
        Pooled medians, quartiles and 95% intervals; ``templates``, ``by_template``.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl.metrics.summary import summarize_templates
    >>> table = summarize_templates(
    ...     [{"vae": {"LSD_D1": np.array([1.0, 1.2])}, "rvae": {"LSD_D1": np.array([0.5, 0.6])}},
    ...      {"vae": {"LSD_D1": np.array([2.0, 2.2])}, "rvae": {"LSD_D1": np.array([2.5, 2.4])}}],
    ...     "LSD")
    >>> table.templates, table.n["rvae"], table.by_template["rvae"]["LSD_D1"]
    (2, 4, [-0.5, 0.1904761904761905])
    """
    methods = list(per_template[0])
    columns = list(per_template[0][methods[0]])
    arrays = [{m: {c: np.asarray(v[m][c], dtype=np.float64) for c in columns} for m in methods}
              for v in per_template]
    pooled = {m: {c: np.concatenate([a[m][c] for a in arrays]) for c in columns}
              for m in methods}
    raw = {m: {c: Stat.of(pooled[m][c]) for c in columns} for m in methods}
    table = Table(metric, columns, raw, None, {}, kinds, templates=len(arrays), samples=arrays)
    medians = _bootstrap_medians(arrays, methods, columns)
    for m in methods:
        for c in columns:
            raw[m][c].lo, raw[m][c].hi = _interval(medians[m][c])
    if REFERENCE in methods:
        # Percentiles commute with increasing affine maps, so normalising the raw statistics is
        # exact, and the reference row is 0 by construction (no floating-point residue).
        normalized: dict[str, dict[str, Stat]] = {m: {} for m in methods}
        table.by_template = {m: {} for m in methods}
        for m in methods:
            for c in columns:
                how = NORMALIZATION.get(table.kind(c), table.kind(c))
                stat = normalize(raw[m][c], raw[REFERENCE][c].median, how)
                if m != REFERENCE:
                    stat.lo, stat.hi = _interval(_normalized(medians[m][c],
                                                             medians[REFERENCE][c], how))
                else:
                    stat.lo = stat.hi = 0.0
                normalized[m][c] = stat
                table.by_template[m][c] = [
                    float(_normalized(np.median(a[m][c]), np.median(a[REFERENCE][c]), how))
                    for a in arrays]
        table.normalized = normalized
    table.n = {m: len(pooled[m][columns[0]]) for m in methods}
    return table


def _normalized(value, reference, how: str):
    return value / reference - 1.0 if how == "ratio" else value - reference


def _interval(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return float(lo), float(hi)


def _bootstrap_medians(arrays: list[dict], methods: list[str], columns: list[str]
                       ) -> dict[str, dict[str, np.ndarray]]:
    """Method -> column -> the pooled median in each of ``BOOTSTRAP_SAMPLES`` hierarchical
    resamples (templates, then runs within each drawn template; paired across methods where
    they have as many values).
    """
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    out = {m: {c: np.empty(BOOTSTRAP_SAMPLES) for c in columns} for m in methods}
    n_templates = len(arrays)
    for b in range(BOOTSTRAP_SAMPLES):
        drawn = rng.integers(n_templates, size=n_templates) if n_templates > 1 else [0]
        for c in columns:
            parts: dict[str, list[np.ndarray]] = {m: [] for m in methods}
            for t in drawn:
                sizes = {len(arrays[t][m][c]) for m in methods}
                shared = rng.integers(sizes.pop(), size=len(arrays[t][methods[0]][c])
                                      ) if len(sizes) == 1 else None
                for m in methods:
                    values = arrays[t][m][c]
                    index = shared if shared is not None else rng.integers(len(values),
                                                                           size=len(values))
                    parts[m].append(values[index])
            for m in methods:
                out[m][c][b] = np.median(np.concatenate(parts[m]))
    return out
