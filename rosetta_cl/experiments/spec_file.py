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

import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from rosetta_cl.config.options import RunConfig
from rosetta_cl.errors import ConfigError

CONFIG_FIELDS = tuple(f.name for f in fields(RunConfig))
TOP_LEVEL = ("title", "description", "run", "vary", "quick", "paper")
SHORT = {"rosetta_points": "k", "arch_variant": "variant", "selection": "selection"}


@dataclass(frozen=True)
class Spec:
    """A benchmark spec: one protocol run, or a grid of them over one field, and the paper's table.

    Specs are TOML files (the reference's "Spec format"); the paper's ship with the package and run
    by name (``rosetta-cl specs``).

    Parameters
    ----------
    name : str
        The file's stem.
    title : str
        The table's title.
    run : dict
        :class:`RunConfig` fields.
    vary_field : str, optional
        The field a grid varies (one column per value).
    vary_values : tuple
        Its values.
    quick : dict
        Fields ``--quick`` overrides (``values``: a smaller grid).
    paper : dict
        The paper's numbers for the table, with their source.
    description : str, default ""
        One line for ``rosetta-cl specs``.

    Examples
    --------
    >>> from rosetta_cl import load_spec
    >>> from rosetta_cl.experiments.spec_file import spec_path
    >>> spec = load_spec(spec_path("table2_sequential_gaussians8"))
    >>> spec.run["benchmark"], [label for label, config in spec.configs(quick=True)]
    ('gaussians8', [''])
    """

    name: str
    title: str
    run: dict
    vary_field: str | None = None
    vary_values: tuple = ()
    quick: dict = field(default_factory=dict)
    paper: dict = field(default_factory=dict)
    description: str = ""

    def configs(self, quick: bool = False,
                overrides: dict | None = None) -> list[tuple[str, RunConfig]]:
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
# the specs shipped with the package (package data): the paper's tables and our combinations
SHIPPED = Path(__file__).resolve().parents[1] / "paper_specs"


def shipped_specs() -> dict[str, Path]:
    """Name -> path of every spec shipped with the package, by name."""
    return {path.stem: path for path in sorted(SHIPPED.glob("*.toml"))}


def spec_path(target: str) -> Path | None:
    """The spec ``target`` names: a ``.toml`` path, or a shipped spec's name; None otherwise."""
    if target.endswith(".toml"):
        return Path(target)
    return shipped_specs().get(target)


def load_spec(path: str | Path) -> Spec:
    """Read and check a spec file; every error names the file and the bad key or value.

    Parameters
    ----------
    path : str or pathlib.Path
        A TOML spec (``experiments.spec_file.spec_path(name)`` finds a shipped one by name).

    Returns
    -------
    Spec
        The checked spec.

    Raises
    ------
    rosetta_cl.ConfigError
        If the file is missing, too large, not TOML, or holds an unknown key or section.

    Examples
    --------
    >>> from pathlib import Path
    >>> from rosetta_cl import ConfigError, load_spec
    >>> _ = Path("mine.toml").write_text('[run]\\nbenchmark = "gaussians8"\\nepoch = 10\\n')
    >>> try:
    ...     load_spec("mine.toml")
    ... except ConfigError as error:
    ...     print(error)
    spec mine.toml: unknown key 'epoch' in [run]; allowed benchmark, data, ..., epochs, ...
    """
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
