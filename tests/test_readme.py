"""The Python examples of the README and of the docs site run exactly as written."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCKS = [block for page in PAGES
          for block in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)]


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 5  # the README's example and the docs' (Python API guide, ...)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, store, capsys):
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), {})  # noqa: S102
    out = capsys.readouterr().out
    assert out  # each example prints its result
    if "RosettaPlugin(" in BLOCKS[index]:
        assert "8 anchors" in out  # the 8 Rosetta points of D2 (accumulate="latest")
    if "train_ensemble(" in BLOCKS[index]:
        members, first_seed, rosetta = out.split()
        assert (members, first_seed) == ("10", "1") and float(rosetta) > 0
