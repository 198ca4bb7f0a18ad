"""Benchmark specs: one TOML file per paper table, run as one grid.

A spec names a protocol run (``[run]``: any :class:`RunConfig` field), optionally a factor
varied across the table's columns (``[vary]``), the smaller setting used with ``--quick``
(``[quick]``), and the paper's own numbers (``[paper]``) to print beside ours::

    title = "Table 3: RV against the number of Rosetta points, 8 Gaussians"
    [run]
    benchmark = "gaussians8"
    protocol = "reproducibility"
    [vary]
    field = "rosetta_points"
    values = [2, 4, 8, 16, 32]
    [quick]
    epochs = 2
    values = [4, 8]          # replaces [vary] values with --quick
    [paper]
    source = "Martinez & Pearson (2021), Table 3"
    [paper.values.rvae]      # method -> column -> normalised median
    "k=8" = -3.0

``run_spec`` runs every value of the grid (each one a nested MLflow run holding its model runs),
then prints and logs one table: rows = methods, columns = value x metric column, cells = median
(q25, q75) normalised to the VAE of the same column.
"""

from __future__ import annotations

import json
import math
import textwrap
import time
import tomllib
from contextlib import closing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rosetta_cl.config.options import RunConfig
from rosetta_cl.errors import ConfigError
from rosetta_cl.experiments.runner import (
    check_resume,
    chosen_experiment,
    executing,
    log_figures,
    log_result,
    open_tracker,
    prepare,
)
from rosetta_cl.metrics.summary import NORMALIZATION, Stat, normalize, table_lines
from rosetta_cl.protocols import PROTOCOLS
from rosetta_cl.training.executors import ExecutorOptions, check_executor

if TYPE_CHECKING:
    from rosetta_cl.training.trainer import ProtocolResult

CONFIG_FIELDS = tuple(f.name for f in fields(RunConfig))
TOP_LEVEL = ("title", "description", "run", "vary", "quick", "paper")
SHORT = {"rosetta_points": "k", "arch_variant": "variant", "selection": "selection"}


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    run: dict
    vary_field: str | None = None
    vary_values: tuple = ()
    quick: dict = field(default_factory=dict)
    paper: dict = field(default_factory=dict)
    description: str = ""

    def configs(self, quick: bool = False, overrides: dict | None = None) -> list[tuple[str, RunConfig]]:
        """(column label, config) for each value of the grid, quick settings and CLI overrides
        applied (overrides win)."""
        quick_settings = dict(self.quick) if quick else {}
        values = quick_settings.pop("values", self.vary_values)
        base = {**self.run, **quick_settings, **(overrides or {}), "quick": quick}
        for key in ("methods", "plugins"):
            if key in base:
                base[key] = tuple(base[key])
        if self.vary_field is None:
            return [("", RunConfig(**base))]
        values = tuple(tuple(v) if isinstance(v, list) else v for v in values)
        if self.vary_field in (overrides or {}):
            raise ConfigError(f"{self.vary_field} is varied by spec {self.name}; it cannot also be"
                              " set on the command line")
        return [(group_label(self.vary_field, v), RunConfig(**{**base, self.vary_field: v}))
                for v in values]


def group_label(vary_field: str, value) -> str:
    """The column-group label of one varied value, e.g. ``k=8`` or ``plugins=ewc+lwf``."""
    if isinstance(value, (tuple, list)):
        text = "+".join(str(v).split(":")[0] for v in value) or "none"
    else:
        text = str(value)
    return f"{SHORT.get(vary_field, vary_field)}={text}"


SPEC_MAX_BYTES = 1 << 20


def load_spec(path: str | Path) -> Spec:
    """Read and check a spec file; every error names the file and the bad key or value."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"spec file {path} does not exist")
    if path.stat().st_size > SPEC_MAX_BYTES:
        raise ConfigError(f"spec {path}: {path.stat().st_size} bytes; allowed up to "
                          f"{SPEC_MAX_BYTES} (a spec is a short TOML file)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(f"spec {path}: not valid TOML ({str(exc)[:200]})") from None
    _check_keys(path, "top level", data, TOP_LEVEL)
    run = data.get("run", {})
    if not isinstance(run, dict) or "benchmark" not in run:
        raise ConfigError(f"spec {path}: [run] must set benchmark")
    _check_keys(path, "[run]", run, CONFIG_FIELDS)
    _check_types(path, "[run]", run)
    vary = data.get("vary", {})
    _check_keys(path, "[vary]", vary, ("field", "values"))
    vary_field = vary.get("field")
    raw_values = vary.get("values", [])
    if not isinstance(raw_values, list):
        raise ConfigError(f"spec {path}: [vary] values = {raw_values!r}: allowed a list")
    values = tuple(raw_values)
    if vary_field is not None:
        if vary_field not in CONFIG_FIELDS:
            raise ConfigError(f"spec {path}: [vary] field {vary_field!r}: allowed "
                              f"{', '.join(CONFIG_FIELDS)}")
        if not values:
            raise ConfigError(f"spec {path}: [vary] values: give at least one value")
        _check_values(path, "[vary] values", vary_field, values)
    quick = data.get("quick", {})
    _check_keys(path, "[quick]", quick, (*CONFIG_FIELDS, "values"))
    _check_types(path, "[quick]", quick)
    if "values" in quick:
        if not isinstance(quick["values"], list) or not quick["values"] or vary_field is None:
            raise ConfigError(f"spec {path}: [quick] values = {quick['values']!r}: allowed a "
                              "non-empty list, with [vary] field set")
        _check_values(path, "[quick] values", vary_field, quick["values"])
    paper = data.get("paper", {})
    _check_keys(path, "[paper]", paper, ("source", "note", "values", "dataset", "relative_to"))
    _check_paper(path, paper, vary_field, values, run)
    for table in (run, quick):  # folders in a spec are relative to the spec file
        if table.get("plugins_dir") and not Path(table["plugins_dir"]).is_absolute():
            table["plugins_dir"] = str((path.parent / table["plugins_dir"]).resolve())
    return Spec(path.stem, data.get("title", path.stem), dict(run), vary_field, values,
                dict(quick), dict(paper), data.get("description", ""))


def _check_paper(path, paper: dict, vary_field, values, run: dict) -> None:
    """The paper's values must name methods and columns this spec's table has (a typo would
    otherwise never be printed), and be numbers."""
    protocol = run.get("protocol", "sequential")
    parts = ["RV"] if protocol == "reproducibility" else ["D1", "D2"]
    groups = [group_label(vary_field, v) for v in values] if vary_field else [""]
    columns = [" ".join(x for x in (g, p) if x) for g in groups for p in parts]
    relative_to = paper.get("relative_to")
    if relative_to is not None and relative_to not in groups:
        raise ConfigError(f"spec {path}: [paper] relative_to {relative_to!r}: allowed "
                          f"{', '.join(g for g in groups if g) or 'none (no [vary])'}")
    table = paper.get("values", {})
    if not isinstance(table, dict):
        raise ConfigError(f"spec {path}: [paper.values] must be a table of methods")
    for method, cols in table.items():
        if method not in run.get("methods", ("vae", "bvae", "rvae")):
            raise ConfigError(f"spec {path}: [paper.values.{method}]: allowed "
                              f"{', '.join(run.get('methods', ('vae', 'bvae', 'rvae')))}")
        if protocol == "continual":
            continue  # continual columns depend on the stream's length
        for column, value in cols.items():
            if column not in columns:
                raise ConfigError(f"spec {path}: [paper.values.{method}] column {column!r}: "
                                  f"allowed {', '.join(columns)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"spec {path}: [paper.values.{method}] {column!r} = "
                                  f"{value!r}: must be a number")


def _check_types(path, where: str, table: dict) -> None:
    """Each RunConfig value in ``table`` has its field's type (TOML gives any type anywhere)."""
    for key, value in table.items():
        if key in FIELD_TYPES and not has_type(value, FIELD_TYPES[key]):
            raise ConfigError(f"spec {path}: {where} {key} = {value!r}: allowed "
                              f"{TYPE_WORDS.get(FIELD_TYPES[key], FIELD_TYPES[key])}")


def has_type(value, kind) -> bool:
    if value is None:
        return False  # TOML has no null; a missing key means the default
    base = next((t for t in (bool, int, float, str) if kind in (t, t | None)), None)
    if base is bool:
        return isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if base is float:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if base is str:
        return isinstance(value, str)
    return isinstance(value, list) and all(isinstance(v, str) for v in value)  # tuple[str, ...]


def _field_types() -> dict:
    from typing import get_type_hints

    hints = get_type_hints(RunConfig)
    return {f.name: hints[f.name] for f in fields(RunConfig)}


FIELD_TYPES = _field_types()
TYPE_WORDS = {int: "an integer", float: "a finite number", str: "a string", bool: "true | false",
              int | None: "an integer", float | None: "a finite number", str | None: "a string",
              tuple[str, ...]: "a list of strings"}


def _check_values(path, where: str, vary_field: str, values) -> None:
    for value in values:
        if not has_type(value, FIELD_TYPES[vary_field]):
            raise ConfigError(f"spec {path}: {where}: {value!r} for {vary_field}: allowed "
                              f"{TYPE_WORDS.get(FIELD_TYPES[vary_field], 'its type')} each")


def _check_keys(path, where, table, allowed) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"spec {path}: {where} must be a table")
    for key in table:
        if key not in allowed:
            raise ConfigError(f"spec {path}: unknown key {key!r} in {where}; allowed "
                              f"{', '.join(allowed)}")


SIGN_MARK = "!"  # printed after a cell whose median and the paper's have opposite signs


def opposite_signs(ours: float, theirs: float) -> bool:
    """True when one value is below 0 and the other above (a 0 median, the VAE's, has no sign)."""
    return ours * theirs < 0


@dataclass
class SpecTable:
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
            text = f"{s.median:.3g} ({s.q25:.3g}, {s.q75:.3g})"
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
        how = {"LSD": "relative change, value / median - 1", "RV": "difference, value - median"}
        own = NORMALIZATION.get(self.metric, "difference")
        others = sorted(c for c, k in self.kinds.items() if k != own)
        if others:  # columns of other metrics, normalised the other way
            other = "relative change" if own == "difference" else "difference"
            how = {m: f"{text}; {other} for {', '.join(others)}" for m, text in how.items()}
        for kind, stats, with_paper in tables:
            if not stats:
                continue
            detail = f" ({how.get(self.metric, '')})" if kind != "raw" else ""
            lines += [f"{self.metric}, {kind}{detail}: median (q25, q75)", ""]
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


@dataclass
class SpecResult:
    spec: Spec
    table: SpecTable
    results: list[tuple[str, ProtocolResult]]
    wall_time_s: float
    parent_run_id: str | None = None

    def as_dict(self) -> dict:
        return {"spec": self.spec.name, "parent_run_id": self.parent_run_id,
                "wall_time_s": round(self.wall_time_s, 3), "table": self.table.as_dict(),
                "paper": self.spec.paper,
                "runs": {label or "all": r.as_dict() for label, r in self.results}}


def run_spec(spec: Spec, *, quick: bool = False, overrides: dict | None = None,
             tracking_uri: str | None = None, experiment: str | None = None,
             track: bool = True, progress: bool = False,
             executor: ExecutorOptions | None = None, resume: bool = False) -> SpecResult:
    """Run every config of ``spec`` and build its table. All configs are checked first, so a
    bad value fails before anything is trained or logged. ``executor`` and ``resume`` as in
    ``runner.run_benchmark``."""
    start = time.perf_counter()
    check_executor(executor)
    benches: dict = {}
    prepared = [(label, *prepare(config, benches))
                for label, config in spec.configs(quick, overrides)]
    protocols = {config.protocol for _, config, _ in prepared}
    if len(protocols) > 1:
        raise ConfigError(f"spec {spec.name}: one table needs one protocol, got {sorted(protocols)}")
    for _, config, _ in prepared:
        check_resume(config, resume, track)
    with executing(executor) as run_on:
        return _run_grid(spec, prepared, quick, overrides, tracking_uri, experiment, track,
                         progress, run_on, resume, start)


def _run_grid(spec, prepared, quick, overrides, tracking_uri, experiment, track, progress,
              executor, resume, start) -> SpecResult:
    from rosetta_cl.tracking.writer import NullTracker

    tracker = (open_tracker(tracking_uri, chosen_experiment(experiment, spec.name)) if track
               else NullTracker())
    results: list[tuple[str, ProtocolResult]] = []
    params = {"spec": spec.name, "quick": str(quick),
              "vary": f"{spec.vary_field}={list(spec.vary_values)}" if spec.vary_field else "",
              **{f"override.{k}": str(v) for k, v in (overrides or {}).items()}}
    tags = {"role": "spec", "spec": spec.name, "protocol": prepared[0][1].protocol}
    from rosetta_cl.training.trainer import GridBar, planned_trainings

    bar = GridBar(sum(planned_trainings(c, len(b.parts)) for _, c, b in prepared), progress)
    configs = {label: config.as_params() for label, config, _ in prepared}  # the spec file's
    with tracker.parent(spec.name, params, tags, resume=resume, more=configs), closing(bar):
        for label, config, bench in prepared:
            with tracker.child(label or spec.name, config.as_params(),
                               {**tags, "role": "grid", "column": label}):
                result = PROTOCOLS[config.protocol].run(
                    bench, config, tracker.write, bar, executor,
                    tracker.reuse if tracker.resumed else None)
                log_result(tracker, result)
            results.append((label, result))
        table = spec_table(spec, results)
        result = SpecResult(spec, table, results, time.perf_counter() - start,
                            tracker.parent_run_id)
        tracker.log_text(table.markdown(), "table.md")
        tracker.log_text(json.dumps(result.as_dict(), indent=2), "table.json")
        tracker.log_metrics({"wall_time_s": result.wall_time_s})
        log_figures(tracker, prepared[0][1].figures)
    return replace(result, wall_time_s=time.perf_counter() - start)
