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


SHELL_PAGES = [(page, blocks) for page in PAGES
               if (blocks := re.findall(r"<!-- runnable -->\n```bash\n(.*?)```", page.read_text(),
                                        flags=re.DOTALL))]


def test_the_walkthrough_marks_its_shell_blocks_runnable():
    assert any(page.name == "share-a-latent-space.md" and len(blocks) >= 4
               for page, blocks in SHELL_PAGES)


@pytest.mark.slow
@pytest.mark.parametrize(("page", "blocks"), SHELL_PAGES, ids=[p.name for p, _ in SHELL_PAGES])
def test_runnable_shell_blocks_run_in_order(page, blocks, tmp_path):
    """A page's ``<!-- runnable -->`` bash blocks, in one shell, in an empty folder, with the
    default store (./mlruns) and this environment's commands first on PATH."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["ROSETTA_CL_DATA"] = str(tmp_path / "cache")
    script = "set -euo pipefail\n" + "\n".join(blocks)
    out = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=900, check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    if "pyfunc == embed" in script:
        assert "pyfunc == embed: True" in out.stdout


@pytest.mark.slow
def test_the_readme_example_prints_no_warning(tmp_path):
    """Run as a newcomer runs it, in a fresh interpreter: it printed qpsolvers' "no QP solver
    found" UserWarning (Avalanche imports qpsolvers before rosetta_cl is imported)."""
    import subprocess
    import sys

    readme = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(),
                        flags=re.DOTALL)[0]
    out = subprocess.run([sys.executable, "-c", readme], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Warning" not in out.stderr, out.stderr[-2000:]
    assert "8 anchors" in out.stdout
