"""The release: the built wheel alone (not this checkout) holds the specs and the LICENSE and
runs a paper table by name from an empty folder; the sdist holds what its tests need."""

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """``python -m build`` (the sdist, then the wheel from it), without build isolation: the
    build backend is this environment's setuptools (nothing downloaded)."""
    out = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    build = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                            str(ROOT)], env=env, capture_output=True, text=True, timeout=600,
                           check=False)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    (out / "build.log").write_text(build.stdout + build.stderr)
    return out


@pytest.mark.slow
def test_python_m_build_prints_no_warning(dist):
    log = (dist / "build.log").read_text()
    assert "Successfully built rosetta_cl-" in log
    warnings = [line for line in log.splitlines() if "warn" in line.lower()]
    assert not warnings, warnings


@pytest.mark.slow
def test_the_wheel_runs_a_paper_table_by_name_from_an_empty_folder(dist, tmp_path):
    (wheel,) = dist.glob("rosetta_cl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert sum(n.startswith("rosetta_cl/paper_specs/") for n in names) == 21
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert "rosetta_cl/py.typed" in names
    # the wheel's files only (its dependencies are this environment's): no checkout on the path
    target = tmp_path / "installed"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                              "--target", str(target), str(wheel)],
                             capture_output=True, text=True, timeout=600, check=False)
    assert install.returncode == 0, install.stderr[-2000:]
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
           "PYTHONPATH": str(target)}
    where = subprocess.run([sys.executable, "-c", "import rosetta_cl; print(rosetta_cl.__file__)"],
                           cwd=empty, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(target))
    out = subprocess.run([sys.executable, "-m", "rosetta_cl", "run", "table2_sequential_gaussians8",
                          "--quick", "--figures", "none"], cwd=empty, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    title = "## Table 2: latent space distortion (LSD) to the joint model on gaussians8"
    assert title in out.stdout


@pytest.mark.slow
def test_the_sdist_holds_what_its_tests_need(dist):
    (sdist,) = dist.glob("rosetta_cl-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert {"tests/conftest.py", "tests/helpers.py", "tests/data/run_tree_before.json",
            "LICENSE", "CITATION.cff", "benchmarks/perf/startup.py",
            "rosetta_cl/paper_specs/table2_sequential_gaussians8.toml"} <= names
