"""The package's shape: imports run one way (no cycles, nobody imports the package's public
``__init__``), the training path never touches MLflow, and every extension point is a registry."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rosetta_cl"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, anywhere in its code (function-level imports
    count: a cycle through a lazy import is still a cycle; ``if TYPE_CHECKING:`` imports do not,
    they never run)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found = set()
        tree = ast.parse(path.read_text())
        # imports under `if TYPE_CHECKING:` never run (type checkers and doc generators only)
        static = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                  and getattr(block.test, "id", "") == "TYPE_CHECKING"
                  for stmt in block.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if id(node) in static:
                continue
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:  # `from . import registry` names a module
                    found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules
                              else target)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


# What each part of the package may import (README "Architecture"): the subpackages and the
# top-level modules, by their name under rosetta_cl. A part always may import itself.
BASE = {"errors", "version"}
ALLOWED = {
    "config": BASE,
    "metrics": set(),
    "records": set(),
    "data": BASE | {"config"},
    "models": BASE | {"config"},
    "anchors": BASE | {"config", "data", "models"},
    "methods": BASE | {"config", "data", "models", "anchors"},
    "registry": BASE | {"config", "data", "models", "methods", "metrics"},
    "training": BASE | {"config", "data", "models", "anchors", "methods", "metrics", "records",
                        "registry"},
    "protocols": BASE | {"config", "data", "models", "anchors", "methods", "metrics", "records",
                         "registry", "training"},
    "extensions": BASE | {"registry", "protocols"},
    "contrib": BASE | {"config", "data", "models", "registry"},
    "tracking": BASE | {"config", "models", "anchors", "records"},
    "reporting": BASE | {"config", "metrics", "registry", "tracking"},
    "experiments": BASE | {"config", "data", "models", "anchors", "methods", "metrics", "records",
                           "registry", "training", "protocols", "extensions", "tracking",
                           "reporting"},
    "cli": BASE | {"config", "data", "models", "anchors", "methods", "metrics", "records",
                   "registry", "training", "protocols", "extensions", "tracking", "reporting",
                   "experiments"},
    "errors": set(),
    "version": set(),
    "__main__": {"cli"},  # python -m rosetta_cl
}


def part(module: str) -> str:
    """``rosetta_cl.tracking.writer`` -> ``tracking``; ``rosetta_cl.errors`` -> ``errors``."""
    return module.split(".")[1] if "." in module else module


def test_imports_follow_the_allowed_directions():
    graph = import_graph()
    # (the package's __init__ as a target: test_nothing_imports_the_package_init)
    wrong = sorted(f"{m} imports {i}" for m, imports in graph.items() for i in imports
                   if "rosetta_cl" not in (m, i) and part(i) != part(m)
                   and part(i) not in ALLOWED[part(m)])
    assert wrong == []


def test_at_most_eight_modules_outside_subpackages():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top
    assert set(ALLOWED) == {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}


def test_every_subpackage_says_what_it_holds_and_may_import():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import" in doc or init.parent.name in ("protocols", "contrib"), init


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_nothing_imports_the_package_init():
    """Except the logged models' code: MLflow copies it into every model, so it reads the public
    names, which stay where they are when modules move."""
    graph = import_graph()
    assert [m for m, imports in graph.items() if "rosetta_cl" in imports] == [
        "rosetta_cl.tracking.mlflow_model"]


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert "rosetta_cl.anchors.selectors" in graph["rosetta_cl.anchors.points"]  # module level
    # from ..training
    assert "rosetta_cl.training.trainer" in graph["rosetta_cl.protocols.sequential"]
    # inside a function
    assert "rosetta_cl.reporting.run_figures" in graph["rosetta_cl.experiments.runner"]


@pytest.mark.parametrize("module", ["rosetta_cl.training.trainer", "rosetta_cl.training.results",
                                    "rosetta_cl.training.progress",
                                    "rosetta_cl.protocols.sequential",
                                    "rosetta_cl.protocols.reproducibility",
                                    "rosetta_cl.protocols.continual", "rosetta_cl.records"])
def test_training_path_does_not_track(module):
    """Protocols and the training core hand records on; only runs/runner/tune write MLflow."""
    graph = import_graph()
    reachable, todo = set(), [module]
    while todo:
        for m in graph[todo.pop()] - reachable:
            reachable.add(m)
            todo.append(m)
    assert not reachable & {"rosetta_cl.tracking.writer", "rosetta_cl.tracking.store",
                            "rosetta_cl.experiments.runner"}
    path = PACKAGE / (module.removeprefix("rosetta_cl.").replace(".", "/") + ".py")
    assert "mlflow" not in path.read_text()


def test_mlflow_clients_are_made_in_tracking_only():
    """tracking.open_client; and the Avalanche logger's fallback for library use (the client of
    the global tracking URI, as MLflow's own fluent API uses)."""
    def makes_client(path: Path) -> bool:  # a call in the code (docstring examples may show one)
        return any(isinstance(node, ast.Call) and "MlflowClient" in ast.unparse(node.func)
                   for node in ast.walk(ast.parse(path.read_text())))

    makers = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
                    if makes_client(p))
    assert makers == ["tracking/mlflow_logger.py", "tracking/store.py"]


def test_every_registry_is_public_and_lists_built_ins():
    import rosetta_cl

    assert set(rosetta_cl.PROTOCOLS) == {"sequential", "reproducibility", "continual"}
    assert {"lsd", "linear_map", "rv", "cka", "procrustes", "mcc"} <= set(rosetta_cl.METRICS)
    assert {"vae", "bvae", "rvae"} <= set(rosetta_cl.METHODS)
    for name in ("register_metric", "register_protocol", "register_method", "register_benchmark"):
        assert callable(getattr(rosetta_cl, name))


def test_gpu_extra_is_metas_official_faiss_gpu():
    """The design names `faiss-gpu`; its 1.15.1 wheel is cp310-abi3, so it installs on 3.11."""
    import tomllib

    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    assert pyproject["project"]["optional-dependencies"]["gpu"] == ["faiss-gpu==1.15.1"]


HEAVY = ("torch", "avalanche", "mlflow", "sklearn")


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["run", "gaussians8", "--rho",
                                                                   "-2"], ["benchmarks"],
                                   ["run", "nope"], ["--version"]])
def test_quick_commands_import_nothing_heavy(args, tmp_path):
    """`--help`, a bad option and `benchmarks` answer without importing torch, Avalanche, MLflow
    or scikit-learn (timings: benchmarks/perf/startup.py); the error is stderr's only line."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "rosetta_cl.cli", *args],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()
                if line.startswith("import time:")}
    assert not {m for m in imported if m.split(".")[0] in HEAVY}, sorted(imported)[:20]
    messages = [line for line in out.stderr.splitlines() if not line.startswith("import time:")]
    if out.returncode == 2:
        assert len(messages) == 1 and messages[0].startswith("Error: "), messages
    else:
        assert out.returncode == 0 and messages == [], messages


def test_release_metadata_in_one_place():
    """One version (rosetta_cl/version.py; pyproject reads it, CITATION.cff repeats it), a
    LICENSE file, the specs as package data, every imported third-party package declared."""
    import tomllib

    from rosetta_cl.version import __version__

    root = PACKAGE.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["dynamic"] == ["version"] and "version" not in project["project"]
    assert project["tool"]["setuptools"]["dynamic"]["version"]["attr"] == (
        "rosetta_cl.version.__version__")
    assert f"\nversion: {__version__}\n" in (root / "CITATION.cff").read_text()
    assert (root / "LICENSE").read_text().startswith("MIT License")
    assert project["project"]["license"] == "MIT"
    assert project["tool"]["setuptools"]["package-data"]["rosetta_cl"] == [
        "paper_specs/*.toml", "py.typed"]
    declared = {d.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
                for d in project["project"]["dependencies"]}
    imported = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    import sys

    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "rosetta_cl"}
    # import name -> distribution name
    dist = {"sklearn": "scikit-learn", "faiss": "faiss-cpu", "umap": "umap-learn", "PIL": "pillow",
            "avalanche": "avalanche-lib", "yaml": "mlflow"}
    extras = {d.split("[")[0].split(">")[0].split("=")[0].strip().lower()
              for name, deps in project["project"]["optional-dependencies"].items()
              if name != "dev" for d in deps}  # ray, anndata: imported only by their features
    missing = {m for m in third_party if dist.get(m, m).lower() not in declared | extras}
    assert missing == set()


def test_type_checkers_see_every_public_name():
    """The lazy exports stay lazy at run time; the TYPE_CHECKING block of the package's
    __init__ imports exactly the same names from the same modules (what mypy and mkdocstrings
    read)."""
    import rosetta_cl

    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and getattr(node.test, "id", "") == "TYPE_CHECKING")
    seen = {alias.name: node.module.removeprefix("rosetta_cl.") for node in block.body
            if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert seen == rosetta_cl._MODULE_OF
    assert (PACKAGE / "py.typed").is_file()


def test_pydocstyle_covers_exactly_the_public_api_modules():
    """Ruff's pydocstyle rules apply to the modules that define rosetta_cl's exports: the
    negated per-file-ignore in pyproject.toml names them, and must follow _EXPORTS."""
    import tomllib

    import rosetta_cl

    lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert "D" in lint["select"] and lint["pydocstyle"]["convention"] == "numpy"
    (pattern,) = [p for p, rules in lint["per-file-ignores"].items()
                  if p.startswith("!") and rules == ["D"]]
    named = set(pattern.removeprefix("!rosetta_cl/{").removesuffix("}.py").split(","))
    exported = {m.replace(".", "/") + ("/__init__" if (PACKAGE / m.replace(".", "/")
                                                       ).is_dir() else "")
                for m in rosetta_cl._EXPORTS}
    assert named == exported


@pytest.mark.slow
def test_type_checkers_see_the_lazy_exports_typed(tmp_path):
    """mypy (CI's type checker, pyproject [tool.mypy]) reads ``rosetta_cl.lsd`` as the function it
    is, not ``Any``: the TYPE_CHECKING block of ``rosetta_cl/__init__.py`` and ``py.typed``."""
    import subprocess
    import sys

    probe = tmp_path / "probe.py"
    probe.write_text("import rosetta_cl\nreveal_type(rosetta_cl.lsd)\n"
                     "reveal_type(rosetta_cl.RunConfig().epochs)\n")
    out = subprocess.run([sys.executable, "-m", "mypy", str(probe)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert 'Revealed type is "def (source: Any, target: Any) -> float"' in out.stdout, out.stdout
    assert 'Revealed type is "int | None"' in out.stdout, out.stdout


def test_the_api_reference_shows_every_exported_name():
    """docs/reference/api.md renders each of rosetta_cl's exports from its docstring."""
    import re

    import rosetta_cl

    page = (ROOT / "docs" / "reference" / "api.md").read_text()
    shown = set(re.findall(r"^::: rosetta_cl\.(\S+)\.(\w+)$", page, flags=re.MULTILINE))
    assert shown == {(m, n) for m, names in rosetta_cl._EXPORTS.items() for n in names}
