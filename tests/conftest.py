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
