"""MLflow tracking: where the store is, checking it is reachable, the one way to open a client
on it, and loading a model logged there (the Avalanche logger is in ``mlflow_logger``).

Default store: ``sqlite:///mlruns/mlflow.db`` with artifacts under ``mlruns/artifacts`` (MLflow's
plain ``./mlruns`` file store raises since 3.13). ``--tracking-uri`` or ``MLFLOW_TRACKING_URI``
override it.
"""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri``, else $MLFLOW_TRACKING_URI, else the default; relative SQLite paths made absolute
    (MLflow caches stores by URI string, so a relative one is ambiguous across directories)."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
    return uri


def default_artifact_root(uri: str) -> str | None:
    """Artifacts of a local SQLite store live beside the database, under ``<db dir>/artifacts``."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).resolve().parent / "artifacts").as_uri()
    return None


def check_store(uri: str) -> None:
    """Create a local SQLite store if needed and make sure the store answers; one-line errors."""
    import mlflow
    from mlflow.tracking import MlflowClient

    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"tracking URI {uri!r}: cannot create {db.parent} ({exc.strerror})")
    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES",
                                            "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "5"
    try:
        MlflowClient(uri).search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001  (any failure to reach the store is the user's)
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"tracking URI {uri!r} is not reachable: {reason}") from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    mlflow.set_tracking_uri(uri)


def open_client(tracking_uri: str | None = None):
    """An ``MlflowClient`` on ``tracking_uri`` (resolved as :func:`resolve_tracking_uri`),
    after checking the store answers (one-line ConfigError otherwise)."""
    from mlflow.tracking import MlflowClient

    # with a tracking server MLflow prints "View run ... at: URL" on stdout after every run,
    # which would break `--json` (we print the `rosetta-cl ui` command ourselves)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    uri = resolve_tracking_uri(tracking_uri)
    check_store(uri)
    return MlflowClient(uri)


@contextmanager
def quiet_downloads():
    """No MLflow progress bar per downloaded file (a figure build downloads dozens)."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            del os.environ[key]
        else:
            os.environ[key] = before


def load_model_ref(ref: str, tracking_uri: str | None = None):
    """A model from a directory written by ``save_model`` (or an MLflow run's ``model``
    artifact directory), or from an MLflow run id of ours. Returns (model, run_id or None)."""
    from .models import load_model

    path = Path(ref)
    if path.is_dir():
        if not (path / "model_config.json").is_file():
            raise ConfigError(f"model {ref}: no model_config.json in that directory (expected a "
                              "directory written by save_model, or an MLflow run id)")
        return load_model(path), None
    from mlflow.exceptions import MlflowException

    client = open_client(tracking_uri)
    try:
        with quiet_downloads():
            local = client.download_artifacts(ref, "model")
    except (MlflowException, OSError):
        template = _template_child(client, ref)  # a protocol run: its template is the model
        if template is None:
            raise ConfigError(f"model {ref!r}: neither a model directory nor a run with a "
                              f"`model` artifact (or a protocol run with one template) in "
                              f"{client.tracking_uri}") from None
        with quiet_downloads():
            ref, local = template, client.download_artifacts(template, "model")
    return load_model(local), ref


def _template_child(client, run_id: str) -> str | None:
    """The id of the one ``template`` run directly under ``run_id`` (what `rosetta-cl run`
    prints is the parent run; its template VAE on D1 is the model anchors are selected with)."""
    from mlflow.exceptions import MlflowException

    try:
        experiment = client.get_run(run_id).info.experiment_id
    except MlflowException:
        return None
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{run_id}' and "
                                  "tags.role = 'template'")
    return children[0].info.run_id if len(children) == 1 else None


def get_or_create_experiment(name: str, client) -> str:
    """The id of experiment ``name`` in ``client``'s store, created if missing (a local SQLite
    store keeps its artifacts beside the database)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    root = default_artifact_root(client.tracking_uri)
    return client.create_experiment(name, artifact_location=f"{root}/{name}" if root else None)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent, check=False)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
