"""MLflow tracking: where the store is, checking it is reachable, the one way to open a client
on it, and loading a model logged there (the Avalanche logger is in ``mlflow_logger``).

Default store: ``sqlite:///mlruns/mlflow.db`` with artifacts under ``mlruns/artifacts`` (MLflow's
plain ``./mlruns`` file store raises since 3.13). ``--tracking-uri`` or ``MLFLOW_TRACKING_URI``
override it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from rosetta_cl.errors import ConfigError

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
"""The MLflow store of every command unless ``--tracking-uri`` or ``MLFLOW_TRACKING_URI`` says."""


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri``, else $MLFLOW_TRACKING_URI, else the default; relative SQLite paths made absolute
    (MLflow caches stores by URI string, so a relative one is ambiguous across directories).
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
    return uri


def default_artifact_root(uri: str) -> str | None:
    """Artifacts of a local SQLite store live beside the database, under ``<db dir>/artifacts``."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).resolve().parent / "artifacts").as_uri()
    return None


def artifact_folder(experiment: str) -> str:
    """The folder name an experiment's artifacts get under a local store's artifact root: the
    name with every character but letters, digits, ``.``, ``-`` and ``_`` replaced by ``_``, so
    that no name (``../../escape``, ``a/b``, ``..``) reaches outside the root. Names that map to
    one folder share it harmlessly (each run has a folder of its own inside).
    """
    folder = re.sub(r"[^A-Za-z0-9._-]", "_", experiment)
    return folder if folder.strip(".") else f"_{folder}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a local SQLite store URI, else None."""
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


@contextmanager
def store_lock(uri: str, timeout: float = 300.0):
    """Held while a process creates or upgrades a local SQLite store (and creates experiments):
    a file lock beside the database (``mlflow.db.lock``), so that many processes starting at once
    on a fresh store run MLflow's schema migration once (unlocked, 8 of 8 concurrent runs failed
    in it: "duplicate column name", "table _alembic_tmp_... already exists"). Nothing to lock
    for a tracking server (it migrates once, at its own start) or a store we only read.
    """
    db = sqlite_path(uri)
    if db is None or not os.access(db.parent, os.W_OK):
        yield
        return
    from filelock import FileLock, Timeout

    try:
        with FileLock(str(db) + ".lock", timeout=timeout):
            yield
    except Timeout:
        raise ConfigError(f"tracking URI {uri!r}: another process has held {db}.lock for "
                          f"{timeout:.0f} s (a crashed process releases it; delete the file "
                          "if none is running)") from None


def check_writable(uri: str) -> None:
    """A local SQLite store must be writable where we will write: its folder (SQLite writes a
    journal beside the database) and the database file. One line, at once (MLflow itself
    retries for about two minutes and prints dozens of warnings first).
    """
    db = sqlite_path(uri)
    if db is None:
        return
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"tracking URI {uri!r}: cannot create {db.parent} "
                          f"({exc.strerror})") from None
    for path in (db.parent, db):
        if path.exists() and not os.access(path, os.W_OK):
            raise ConfigError(f"tracking URI {uri!r}: {path} is read-only (the store writes its "
                              "database and a journal beside it); allowed: a writable folder")


def check_store(uri: str, write: bool = True) -> None:
    """Create a local SQLite store if needed (once, under :func:`store_lock`) and make sure the
    store answers; one-line errors. ``write``: the caller will write (checked first).
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    if write:
        check_writable(uri)
    elif (db := sqlite_path(uri)) is not None and not db.is_file():
        raise ConfigError(f"tracking URI {uri!r}: no store at {db}")
    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES",
                                            "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "5"
    path = sqlite_path(uri)
    try:
        with store_lock(uri):
            created = write and path is not None and not path.exists()
            MlflowClient(uri).search_experiments(max_results=1)
        if created and path is not None:  # said once: the process that created it, under the lock
            print(f"created a new MLflow store at {path.resolve()}", file=sys.stderr)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001  (any failure to reach the store is the user's)
        text = str(exc)
        if "error code 401" in text or "error code 403" in text:
            user = os.environ.get("MLFLOW_TRACKING_USERNAME")
            said = f"user {user!r} and its password" if user else "no user and password"
            raise ConfigError(f"tracking URI {uri!r} refused {said} (HTTP "
                              f"{'401' if 'code 401' in text else '403'}); allowed: a user of "
                              "its server, in $MLFLOW_TRACKING_USERNAME and "
                              "$MLFLOW_TRACKING_PASSWORD") from None
        raise ConfigError(f"tracking URI {uri!r} is not reachable: {first_line(exc)}") from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    mlflow.set_tracking_uri(uri)


def retry_locked(call, *args, attempts: int = 6, first_wait: float = 0.5, **kwargs):
    """``call(*args, **kwargs)``, again after 0.5, 1, 2, 4, 8 s while the store answers
    "database is locked" (SQLite's busy handler, 20 s under MLflow, already waited each time;
    a writer that would deadlock is told at once). Other errors are raised at once.
    """
    for attempt in range(attempts):
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            if "database is locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(first_wait * 2 ** attempt)
    return None


def first_line(exc: BaseException) -> str:
    """An exception's message in one line (at most 200 characters), else its type."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def open_client(tracking_uri: str | None = None, write: bool = True):
    """An ``MlflowClient`` on ``tracking_uri`` (resolved as :func:`resolve_tracking_uri`),
    after checking the store answers (one-line ConfigError otherwise); ``write=False``: only
    read (a read-only store is fine then).
    """
    from mlflow.tracking import MlflowClient

    # with a tracking server MLflow prints "View run ... at: URL" on stdout after every run,
    # which would break `--json` (we print the `rosetta-cl ui` command ourselves)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    uri = resolve_tracking_uri(tracking_uri)
    check_store(uri, write)
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
    artifact directory), or from an MLflow run id of ours. Returns (model, run_id or None).
    """
    from rosetta_cl.models.vae import load_model

    path = Path(ref)
    if path.is_dir():
        if not ((path / "model_config.json").is_file() or (path / "MLmodel").is_file()):
            raise ConfigError(f"model {ref}: no model_config.json in that directory (expected a "
                              "directory written by save_model, or an MLflow run id)")
        return load_model(path), None
    from mlflow.exceptions import MlflowException

    client = open_client(tracking_uri, write=False)
    try:
        return load_run_model(client, ref), ref
    except (MlflowException, OSError):
        template = template_child(client, ref)  # a protocol run: its template is the model
        if template is None:
            raise ConfigError(f"model {ref!r}: neither a model directory nor a run with a "
                              f"model (or a protocol run with one template) in "
                              f"{client.tracking_uri}") from None
        return load_run_model(client, template), template


def load_run_model(client, run_id: str):
    """Run ``run_id``'s trained model (a ``models.VAE``), read from ``download_model``."""
    import tempfile

    from rosetta_cl.models.vae import load_model

    with tempfile.TemporaryDirectory() as tmp:
        return load_model(download_model(client, run_id, tmp))


def download_model(client, run_id: str, dst_path: str) -> str:
    """Run ``run_id``'s model downloaded into ``dst_path``: its logged model (the MLflow model
    ``runs:/ID/model`` names), or the ``model`` artifact of a run logged before models were
    logged models. Returns the model's folder.
    """
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    experiment = client.get_run(run_id).info.experiment_id
    logged = [m for m in client.search_logged_models(
        [experiment], filter_string=f"source_run_id = '{run_id}'") if m.name == "model"]
    with quiet_downloads():
        if not logged:
            return client.download_artifacts(run_id, "model", dst_path)
        # the client's store, not MLflow's global tracking URI (models:/ would read that one)
        repo = get_artifact_repository(logged[0].artifact_location,
                                       tracking_uri=client.tracking_uri)
        return repo.download_artifacts("", dst_path=dst_path)


def template_child(client, run_id: str) -> str | None:
    """The id of the one ``template`` run directly under ``run_id`` (what `rosetta-cl run`
    prints is the parent run; its template VAE on D1 is the model anchors are selected with).
    """
    from mlflow.exceptions import MlflowException

    try:
        experiment = client.get_run(run_id).info.experiment_id
    except MlflowException:
        return None
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{run_id}' and "
                                  "tags.role = 'template'")
    return children[0].info.run_id if len(children) == 1 else None


# the MLflow 3 UI opens an experiment with this tag in its model-training view (runs, charts,
# compare), not in its GenAI view: run links in reports and the README land where they should
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


def get_or_create_experiment(name: str, client) -> str:
    """The id of experiment ``name`` in ``client``'s store, created if missing (a local SQLite
    store keeps its artifacts beside the database). Processes creating it at once get the same
    one: under :func:`store_lock` for SQLite; for a server, the loser of the race reads the
    winner's.
    """
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if EXPERIMENT_KIND[0] not in experiment.tags:  # created by MLflow or an older rosetta-cl
            retry_locked(client.set_experiment_tag, experiment.experiment_id, *EXPERIMENT_KIND)
        return experiment.experiment_id
    root = default_artifact_root(client.tracking_uri)
    with store_lock(client.tracking_uri):
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return client.create_experiment(
                name, artifact_location=f"{root}/{artifact_folder(name)}" if root else None,
                tags=dict([EXPERIMENT_KIND]))
        except MlflowException:
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return experiment.experiment_id


def check_artifact_root(client, experiment_id: str) -> None:
    """An experiment's local artifact folder must be writable (tried by writing a file), or the
    runs would fail at their first artifact; one line, before any run is opened.
    """
    from rosetta_cl.tracking.artifacts import check_writable_folder, local_artifact_dir

    folder = local_artifact_dir(client.get_experiment(experiment_id).artifact_location)
    if folder is not None:
        check_writable_folder(folder, f"artifacts of the store {client.tracking_uri}")


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent, check=False)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
