"""The command line of ``rosetta-cl ui``: MLflow's server over our store, alone on loopback,
or with MLflow's basic-auth app for a lab (users and passwords in ``auth.db`` beside the store,
the admin's password from the environment or a file, never from the command line)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import sys
from pathlib import Path

from rosetta_cl.errors import ConfigError
from rosetta_cl.tracking.store import sqlite_path

PERMISSIONS = ("READ", "EDIT", "MANAGE", "NO_PERMISSIONS")
ADMIN_ENV = "MLFLOW_AUTH_ADMIN_PASSWORD"  # MLflow's own variable
MIN_PASSWORD = 12  # MLflow's rule for passwords


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) resolves only to loopback addresses."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        raise ConfigError(f"--host {host!r}: cannot resolve it; allowed an address or name of "
                          "this machine") from None
    return all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback
               for info in infos)


def admin_password(password_file: str | None) -> str | None:
    """The admin password: --admin-password-file's first line, else $MLFLOW_AUTH_ADMIN_PASSWORD."""
    if password_file is None:
        return os.environ.get(ADMIN_ENV) or None
    try:
        lines = Path(password_file).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--admin-password-file {password_file}: cannot read it "
                          f"({getattr(exc, 'strerror', None) or exc})") from None
    return lines[0].strip() if lines else None


def server_command(uri: str, host: str, port: int, auth: bool, password_file: str | None,
                   default_permission: str) -> tuple[list[str], dict[str, str]]:
    """(argv of ``mlflow server``, environment it needs); one-line errors for what would make
    it fail or expose the store."""
    if not auth and not is_loopback(host):
        raise ConfigError(f"--host {host}: a non-loopback address without --auth would let "
                          "anyone who reaches it read and change every run; allowed: "
                          "127.0.0.1 / localhost, or --auth")
    if default_permission not in PERMISSIONS:
        raise ConfigError(f"--default-permission {default_permission!r}: allowed "
                          f"{' | '.join(PERMISSIONS)}")
    if password_file and not auth:
        raise ConfigError("--admin-password-file: allowed with --auth")
    args = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
            "--host", host, "--port", str(port), "--workers", "1"]
    # one worker, no background job consumer (MLflow's default is four workers plus a huey
    # consumer, five processes on what may be a 2-core laptop)
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": os.environ.get(
               "MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false"),
           "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore::DeprecationWarning,"
                                            "ignore::FutureWarning,ignore:starlette.middleware"
                                            ".wsgi is deprecated")}
    db = sqlite_path(uri)
    if db is not None:  # artifacts uploaded through the server land beside the database
        args += ["--artifacts-destination", str(db.resolve().parent / "artifacts")]
    if not auth:
        return args, env
    if db is None:
        raise ConfigError(f"--auth with tracking URI {uri!r}: allowed a local SQLite store "
                          "(the users' database is kept beside it)")
    folder = db.resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    auth_db = folder / "auth.db"
    password = admin_password(password_file)
    if not auth_db.exists():
        if not password:
            raise ConfigError(f"--auth: no admin password to create {auth_db} with; allowed: "
                              f"${ADMIN_ENV} or --admin-password-file FILE")
        if len(password) < MIN_PASSWORD:
            raise ConfigError(f"--auth: the admin password has {len(password)} characters; "
                              f"allowed {MIN_PASSWORD} or more")
    config = folder / "basic_auth.ini"
    _write_private(config, "[mlflow]\n"
                   f"default_permission = {default_permission}\n"
                   f"database_uri = sqlite:///{auth_db}\n"
                   "admin_username = admin\n"
                   "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    env.update({"MLFLOW_AUTH_CONFIG_PATH": str(config),
                "MLFLOW_FLASK_SERVER_SECRET_KEY": _secret_key(folder / "ui-secret.key")})
    if password:
        env[ADMIN_ENV] = password
    return args + ["--app-name", "basic-auth"], env


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _secret_key(path: Path) -> str:
    """The server's CSRF secret: $MLFLOW_FLASK_SERVER_SECRET_KEY, else one kept in ``path``
    (created once, readable by its owner only), so restarts keep sessions valid."""
    if os.environ.get("MLFLOW_FLASK_SERVER_SECRET_KEY"):
        return os.environ["MLFLOW_FLASK_SERVER_SECRET_KEY"]
    if not path.exists():
        _write_private(path, secrets.token_hex(32))
    return path.read_text().strip()
