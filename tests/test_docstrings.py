"""Every exported name has a numpy-style docstring (summary, Parameters, Returns, Examples) that
names each of its parameters, and its Examples run as written (doctest)."""

from __future__ import annotations

import ast
import doctest
import inspect
import itertools
import re
from pathlib import Path

import pytest

import rosetta_cl

SECTION = re.compile(r"^([A-Z][a-z]+(?: [A-Z][a-z]+)?)\n-{3,}$", re.MULTILINE)
ENTRY = re.compile(r"^(\*{0,2}\w+(?:, \*{0,2}\w+)*)(?: :|$)")
CALLABLES = sorted(n for n in rosetta_cl._MODULE_OF if callable(getattr(rosetta_cl, n)))
CONSTANTS = sorted(n for n in rosetta_cl._MODULE_OF if n not in CALLABLES)


def own_doc(obj) -> str:
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    return inspect.cleandoc(doc or "")


def sections(doc: str) -> dict[str, str]:
    """Section title -> its text."""
    heads = list(SECTION.finditer(doc))
    return {m.group(1): doc[m.end():heads[i + 1].start() if i + 1 < len(heads) else len(doc)]
            for i, m in enumerate(heads)}


def documented(section: str) -> set[str]:
    names = set()
    for line in section.splitlines():
        if line and not line[0].isspace() and (m := ENTRY.match(line)):
            names.update(n.strip() for n in m.group(1).split(","))
    return names


def parameters(obj) -> set[str]:
    try:
        signature = inspect.signature(obj)
    except ValueError:  # a built-in's (an exception's constructor): nothing to name
        return set()
    prefix = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
    return {prefix.get(p.kind, "") + p.name for p in signature.parameters.values()}


@pytest.mark.parametrize("name", CALLABLES)
def test_exported_callable_has_a_sectioned_docstring(name):
    obj = getattr(rosetta_cl, name)
    doc = own_doc(obj)
    assert doc, f"{name} has no docstring of its own"
    summary = doc.splitlines()[0]
    assert summary.endswith(".") and (len(doc.splitlines()) == 1 or not doc.splitlines()[1]), \
        f"{name}: the first line is a one-line summary ending with a period"
    found = sections(doc)
    assert "Examples" in found and ">>> " in found["Examples"], f"{name}: no Examples"
    wanted = parameters(obj)
    if wanted:
        assert "Parameters" in found, f"{name}: no Parameters section"
        missing = wanted - documented(found["Parameters"])
        assert not missing, f"{name}: parameters not documented: {sorted(missing)}"
    if inspect.isfunction(obj):
        returns = inspect.signature(obj).return_annotation
        if returns not in ("None", None):
            assert "Returns" in found, f"{name}: no Returns section"


@pytest.mark.parametrize("name", CALLABLES)
def test_exported_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    obj = getattr(rosetta_cl, name)
    obj = obj if inspect.isclass(obj) or inspect.isfunction(obj) else type(obj)
    tests = doctest.DocTestFinder(recurse=False).find(obj, name, globs={})
    assert tests and tests[0].examples, f"{name}: no runnable example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{name}: {runner.failures} example(s) failed (output above)"


@pytest.mark.parametrize("name", CONSTANTS)
def test_exported_constant_has_an_attribute_docstring(name):
    """A string right after the assignment: what doc generators show for a module attribute."""
    path = Path(inspect.getsourcefile(
        __import__(f"rosetta_cl.{rosetta_cl._MODULE_OF[name]}", fromlist=["_"])))
    body = ast.parse(path.read_text()).body
    for node, following in itertools.pairwise(body):
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            assert isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) \
                and isinstance(following.value.value, str), f"{name}: no attribute docstring"
            return
    pytest.fail(f"{name}: not assigned at the top level of {path}")
