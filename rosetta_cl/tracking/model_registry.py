"""A lab's latent space in the MLflow Model Registry: publish a trained model's encoder with its
anchors; pull them back by ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``.

A published version's files (its source, logged under the source run's
``published/NAME/<anchors checksum>/``) are the run's pyfunc model (the encoder: rows of
features in, latent means out; safetensors weights), ``anchors.rosetta`` and, when the data named
its columns, ``features.json``. Its tags carry the lineage: the source run, the data fingerprint,
k, the selection, the latent and input sizes. A run anchored to a version is tagged
:data:`ANCHORS_MODEL_TAG` with ``models:/NAME/VERSION`` (the alias resolved).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rosetta_cl.errors import ConfigError
from rosetta_cl.records import FEATURES_ARRAY

MODEL_URI = re.compile(r"^models:/([^/@]+)(?:/(\d+)|@([A-Za-z0-9_-]+))$")
ANCHORS_MODEL_TAG = "rosetta.anchors_model"  # on a run anchored to a registered version
MODEL_ID_TAG = "rosetta.model_id"  # on a version: the logged model it was registered from
ANCHORS, FEATURES = "anchors.rosetta", "features.json"


def is_model_uri(ref: str | None) -> bool:
    """Whether ``ref`` names a registered model version (``models:/...``)."""
    return bool(ref) and str(ref).startswith("models:/")


@dataclass
class Published:
    """A registered model version: ``models:/NAME/VERSION`` (and the alias set, if any)."""

    name: str
    version: str
    source_run_id: str
    alias: str | None = None
    features: int | None = None  # how many named features the version reads (None: unnamed)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass
class Pulled:
    """A registered version's files on this machine (a cache keyed by store, name, version)."""

    uri: str  # models:/NAME/VERSION, the alias resolved
    folder: Path  # the MLflow model folder (MLmodel, artifacts/vae/, anchors.rosetta, ...)
    features: tuple[str, ...] | None
    model_id: str | None = None  # the MLflow logged model the version was registered from

    @property
    def anchors(self) -> Path:
        return self.folder / ANCHORS

    def tags(self) -> dict[str, str]:
        return {ANCHORS_MODEL_TAG: self.uri}

    def record_use(self, client, run_id: str) -> None:
        """MLflow's own lineage: the version's logged model as an input of ``run_id`` (the
        run's Inputs in the UI; the tag :data:`ANCHORS_MODEL_TAG` names the version).
        """
        from mlflow.entities import LoggedModelInput
        from mlflow.exceptions import MlflowException

        if not self.model_id:
            return
        try:
            client.log_inputs(run_id, models=[LoggedModelInput(self.model_id)])
        except MlflowException as exc:  # basic auth: a READ grant may not cover linking it
            if exc.error_code != "PERMISSION_DENIED" and "error code 403" not in str(exc):
                raise


def publish(run_ref: str, name: str, *, alias: str | None = None, anchors: str | None = None,
            require_features: bool = False, tracking_uri: str | None = None) -> Published:
    """Register a trained model with its anchors as a new version in the MLflow Model Registry.

    The version holds the encoder as an MLflow pyfunc model (rows of features in, latent means
    out), ``anchors.rosetta``, the data's feature names (``features.json``) when it had them,
    and lineage tags (source run, data fingerprint, k, selection, sizes). Another lab anchors to
    it with ``--anchors models:/NAME@ALIAS``.

    Parameters
    ----------
    run_ref : str
        A model run (``rosetta-cl train`` prints them), or a protocol run (its template).
    name : str
        The registered model's name (created if missing).
    alias : str, optional
        An alias to point at the new version (e.g. ``champion``).
    anchors : str, optional
        A ``.rosetta`` file to publish instead of the run's own ``anchors.rosetta``.
    require_features : bool, default False
        Refuse a run whose data named no features (else its version is tagged
        ``rosetta.features: unnamed`` and ``embed`` cannot put another lab's columns in order).
    tracking_uri : str, optional
        The MLflow store (default ``sqlite:///mlruns/mlflow.db``); its registry is used.

    Returns
    -------
    Published
        The version: ``uri`` is ``models:/NAME/VERSION``.

    Raises
    ------
    rosetta_cl.ConfigError
        For an unknown run, a run without a model or anchors, anchors that do not fit its
        model, a bad name or alias, or (``require_features``) a run without feature names.

    Examples
    --------
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from rosetta_cl import RunConfig, publish
    >>> from rosetta_cl.experiments.train import train
    >>> x = np.random.default_rng(0).poisson(2.0, size=(200, 6)).astype(np.float32)
    >>> np.savez("alice.npz", x=x, features=np.array([f"gene{j}" for j in range(6)]))
    >>> uri = f"sqlite:///{Path('mlruns.db').resolve()}"
    >>> alice = train(RunConfig(data="alice.npz", methods=("vae",), seeds=1, quick=True,
    ...                         rosetta_points=8), tracking_uri=uri)
    >>> publish(alice.runs[0].run_id, "atlas", alias="champion", tracking_uri=uri).uri
    'models:/atlas/1'
    """
    from mlflow.exceptions import MlflowException

    from rosetta_cl.anchors.rosetta_file import check_fits, read_anchor_file
    from rosetta_cl.models.vae import load_model
    from rosetta_cl.tracking.store import (
        download_model,
        open_client,
        quiet_downloads,
    )

    _check_name(name, alias)
    client = open_client(tracking_uri)
    run_id = _model_run(client, run_ref)
    with tempfile.TemporaryDirectory() as tmp, quiet_downloads():
        (Path(tmp) / "model").mkdir()
        (Path(tmp) / "files").mkdir()
        folder = Path(download_model(client, run_id, str(Path(tmp) / "model")))
        model = load_model(folder)
        tmp = str(Path(tmp) / "files")
        anchor_path = Path(anchors) if anchors else _run_artifact(client, run_id, ANCHORS, tmp)
        if anchor_path is None:
            raise ConfigError(f"run {run_id} has no {ANCHORS}; select anchors with `rosetta-cl "
                              "anchors select --model RUN ...` and publish with --anchors FILE")
        anchor_file = read_anchor_file(anchor_path)
        check_fits(anchor_file, model.config.input_dim, model.config.latent_dim,
                   f"the model of run {run_id}")
        shutil.copyfile(anchor_path, folder / ANCHORS)
        features = _run_features(client, run_id, tmp)
        if features is None and require_features:
            raise ConfigError(f"run {run_id} has no feature names (its data named no columns): "
                              "train on an .h5ad or an .npz with a features array, or publish "
                              "without --require-features")
        if features is not None:
            (folder / FEATURES).write_text(json.dumps(list(features)))
        path = f"published/{name}/{anchor_file.checksum[:12]}"
        client.log_artifacts(run_id, str(folder), path)
    try:
        client.create_registered_model(name, description="A Rosetta encoder and its anchors "
                                       "(rosetta-cl anchors publish)")
    except MlflowException as exc:
        _refuse_if_denied(exc, f"anchors publish --name {name}", "create registered models")
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    source = f"{client.get_run(run_id).info.artifact_uri}/{path}"
    lineage = {"rosetta.source_run": run_id, "rosetta.k": str(anchor_file.k),
               "rosetta.latent_dim": str(anchor_file.latent_dim),
               "rosetta.input_dim": str(model.config.input_dim),
               "rosetta.selection": json.dumps(anchor_file.selection, sort_keys=True),
               "rosetta.data_fingerprint": str(anchor_file.source.get("fingerprint", "")),
               "rosetta.anchors_checksum": anchor_file.checksum,
               "rosetta.features": str(len(features)) if features is not None else "unnamed"}
    experiment = client.get_run(run_id).info.experiment_id
    logged = [m.model_id for m in client.search_logged_models(
        [experiment], filter_string=f"source_run_id = '{run_id}'") if m.name == "model"]
    if logged:  # the run's MLflow logged model: runs anchored to the version log it as input
        lineage[MODEL_ID_TAG] = logged[0]
    try:
        version = client.create_model_version(name, source, run_id=run_id, tags=lineage)
        if alias:
            client.set_registered_model_alias(name, alias, version.version)
    except MlflowException as exc:
        _refuse_if_denied(exc, f"anchors publish --name {name}",
                          f"add versions to registered model {name!r}")
        raise
    return Published(name, str(version.version), run_id, alias,
                     len(features) if features is not None else None)


def pull(ref: str, tracking_uri: str | None = None, label: str = "anchors") -> Pulled:
    """The registered version ``ref`` names, downloaded once into the cache (a version's files
    never change); a one-line error for an unknown model, version or alias, or a version that
    is not a Rosetta encoder, starting with ``label`` (the option or command that named it).
    """
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    from rosetta_cl.tracking.store import open_client, quiet_downloads

    match = MODEL_URI.match(ref)
    if match is None:
        raise ConfigError(f"{label} {ref!r}: allowed models:/NAME/VERSION or models:/NAME@ALIAS "
                          "(or a .rosetta file)")
    name, number, alias = match.groups()
    client = open_client(tracking_uri, write=False)
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        _refuse_if_denied(exc, f"{label} {ref}", f"read registered model {name!r}")
        raise ConfigError(f"{label} {ref}: no registered model {name!r} in "
                          f"{client.tracking_uri}") from None
    try:
        version = (client.get_model_version(name, number) if number
                   else client.get_model_version_by_alias(name, alias))
    except MlflowException:
        versions = [str(v.version) for v in client.search_model_versions(f"name='{name}'")]
        aliases = list(client.get_registered_model(name).aliases)
        what = (f"version {number} (its versions: {', '.join(versions) or 'none'})" if number
                else f"alias {alias!r} (its aliases: {', '.join(aliases) or 'none'})")
        raise ConfigError(f"{label} {ref}: model {name!r} has no {what}") from None
    uri = f"models:/{name}/{version.version}"
    store = hashlib.sha256(client.tracking_uri.encode()).hexdigest()[:12]
    folder = cache_root() / store / name / str(version.version)
    if not (folder / "MLmodel").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder.parent) as tmp, quiet_downloads():
            got = Path(tmp) / "version"
            got.mkdir()
            repo = get_artifact_repository(version.source, tracking_uri=client.tracking_uri)
            repo.download_artifacts("", dst_path=str(got))
            if not (got / ANCHORS).is_file():
                raise ConfigError(f"{uri} is not a Rosetta encoder (no {ANCHORS} in it); "
                                  "publish one with `rosetta-cl anchors publish`")
            if not folder.exists():  # another process may have pulled it meanwhile
                os.replace(got, folder)
    features = None
    if (folder / FEATURES).is_file():
        features = tuple(json.loads((folder / FEATURES).read_text()))
    return Pulled(uri, folder, features, version.tags.get(MODEL_ID_TAG))


def _refuse_if_denied(exc, what: str, action: str) -> None:
    """A one-line error for a store that refuses this user (MLflow's basic auth: HTTP 403)."""
    if exc.error_code == "PERMISSION_DENIED" or "error code 403" in str(exc):
        user = os.environ.get("MLFLOW_TRACKING_USERNAME") or "(anonymous)"
        raise ConfigError(f"{what}: user {user!r} may not {action} in this store (HTTP 403); "
                          "allowed: ask its owner for the permission") from None


def cache_root() -> Path:
    """Where pulled versions are kept: ``$ROSETTA_CL_DATA/registry`` (default
    ``~/.cache/rosetta-cl/registry``).
    """
    root = os.environ.get("ROSETTA_CL_DATA") or Path.home() / ".cache" / "rosetta-cl"
    return Path(root) / "registry"


def _check_name(name: str, alias: str | None) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", name or ""):
        raise ConfigError(f"--name {name!r}: allowed letters, digits, '_', '.', '-' (a model "
                          "name in models:/NAME/...)")
    if alias is not None and (not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", alias)
                              or re.fullmatch(r"[vV]\d+|latest", alias)):
        raise ConfigError(f"--alias {alias!r}: allowed letters, digits, '_', '-' (not 'latest' "
                          "or v<number>: MLflow reserves them)")


def _model_run(client, run_ref: str) -> str:
    """``run_ref`` if it logged a model, else the one template run under it."""
    from mlflow.exceptions import MlflowException

    from rosetta_cl.tracking.store import template_child

    try:
        run = client.get_run(run_ref)
    except MlflowException:
        raise ConfigError(f"run {run_ref!r} is not in {client.tracking_uri}") from None
    if run.data.tags.get("role") in ("template", "method", "model"):
        return run_ref
    child = template_child(client, run_ref)
    if child is None:
        raise ConfigError(f"run {run_ref!r} holds no model: give a model run (rosetta-cl train "
                          "prints them) or a protocol run with one template")
    return child


def _run_artifact(client, run_id: str, name: str, tmp: str) -> Path | None:
    if name not in {a.path for a in client.list_artifacts(run_id)}:
        return None
    return Path(client.download_artifacts(run_id, name, tmp))


def run_features(run_id: str, tracking_uri: str | None = None) -> tuple[str, ...] | None:
    """The feature names a model run's data had (its ``features.npz``), or None."""
    from rosetta_cl.tracking.store import open_client, quiet_downloads

    with tempfile.TemporaryDirectory() as tmp, quiet_downloads():
        return _run_features(open_client(tracking_uri, write=False), run_id, tmp)


def _run_features(client, run_id: str, tmp: str) -> tuple[str, ...] | None:
    import numpy as np

    path = _run_artifact(client, run_id, FEATURES_ARRAY, tmp)
    if path is None:
        return None
    with np.load(path, allow_pickle=False) as f:
        return tuple(str(v) for v in f["features"])
