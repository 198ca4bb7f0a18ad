"""Files that appear whole or not at all: artifacts of a local store and our own outputs are
written under a temporary name beside their destination and renamed into place, so a crash or
a full disk never leaves a half-written ``latents.npz``, model or ``.rosetta`` under its real
name (a leftover ``.*.partial-*`` is all a crash can leave)."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

from rosetta_cl.errors import ConfigError


@contextmanager
def atomic_path(target: str | Path):
    """A temporary path beside ``target``; renamed to ``target`` when the block succeeds,
    removed when it fails. A directory replaces an existing one only once it is complete."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir() and target.is_dir():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            _remove(old)
        else:
            os.replace(tmp, target)
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def local_artifact_dir(artifact_uri: str) -> Path | None:
    """The folder of a ``file:`` (or plain path) artifact URI; None for remote ones."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and artifact_uri:
        return Path(artifact_uri)
    return None


def log_artifact(client, run_id: str, local: str | Path, artifact_path: str | None = None,
                 artifact_uri: str | None = None) -> None:
    """``client.log_artifact`` (a file or, as ``log_artifacts``, a folder's content under
    ``artifact_path``), copied atomically into a local store; remote stores upload as MLflow
    does. ``artifact_uri``: the run's, when the caller knows it (saves a request)."""
    local = Path(local)
    artifact_uri = artifact_uri or client.get_run(run_id).info.artifact_uri
    root = local_artifact_dir(artifact_uri)
    if root is None:
        if local.is_dir():
            client.log_artifacts(run_id, str(local), artifact_path)
        else:
            client.log_artifact(run_id, str(local), artifact_path)
        return
    if local.is_dir():  # the folder's content becomes artifact_path
        target = root / artifact_path if artifact_path else root
        if not artifact_path:
            for child in local.iterdir():
                log_artifact(client, run_id, child, None, artifact_uri)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            _copy_tree(local, tmp)
        return
    folder = root / artifact_path if artifact_path else root
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / local.name) as tmp:
        shutil.copyfile(local, tmp)


def _copy_tree(source: Path, target: Path) -> None:
    """``shutil.copytree`` that stops at the first failing file with its own OSError (a full
    disk says so), where copytree would gather every failure into one unreadable error."""
    target.mkdir(parents=True)
    for path in sorted(source.rglob("*")):
        out = target / path.relative_to(source)
        if path.is_dir():
            out.mkdir(parents=True, exist_ok=True)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)


def check_output(path: str | Path, what: str = "output") -> None:
    """``path``'s folder can be created and written: a one-line error before any work,
    instead of an OSError after it."""
    check_writable_folder(Path(path).resolve().parent, f"{what} {path}")


def check_writable_folder(folder: Path, what: str) -> None:
    """``folder`` can be created and written (tried with a file), else a one-line ConfigError
    naming ``what`` needs it."""
    probe = folder / f".write-test-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot write in {folder} ({exc.strerror}); allowed: a "
                          "writable folder") from None
