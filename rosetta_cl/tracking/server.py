"""The command lines of ``rosetta-cl ui`` and ``rosetta-cl serve``: MLflow's server over our
store, alone on loopback, or with MLflow's basic-auth app for a lab (users and passwords in
``auth.db`` beside the store, the admin's password from the environment or a file, never from
the command line); MLflow's model server for a registered version, from our store."""

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


def allowed_hosts(host: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The Host headers the server answers (MLflow's DNS-rebinding guard): MLflow's defaults
    (loopback and private addresses, any port), the address it listens on, and ``extra`` (a
    lab's server names). Given explicitly, so MLflow does not print its advice to listen on
    0.0.0.0, which contradicts ``--auth``."""
    from mlflow.server.security_utils import get_default_allowed_hosts

    hosts = list(get_default_allowed_hosts())
    for name in (host, *extra):
        for entry in (name, f"{name}:*"):
            if entry not in hosts:
                hosts.append(entry)
    return hosts


def server_command(uri: str, host: str, port: int, auth: bool, password_file: str | None,
                   default_permission: str, allowed: tuple[str, ...] = ()
                   ) -> tuple[list[str], dict[str, str]]:
    """(argv of ``mlflow server``, environment it needs); one-line errors for what would make
    it fail or expose the store. ``allowed``: more host names clients may use."""
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
            "--host", host, "--port", str(port), "--workers", "1",
            "--allowed-hosts", ",".join(allowed_hosts(host, allowed))]
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
        return args + ["--app-name", "rosetta-cl"], env
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
    return args + ["--app-name", "rosetta-cl-auth"], env


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


def model_server_command(model: str, uri: str, host: str, port: int
                         ) -> tuple[list[str], dict[str, str]]:
    """(argv of ``mlflow models serve`` for ``model`` from the store ``uri``, environment): the
    store passed as $MLFLOW_TRACKING_URI (plain ``mlflow`` reads ./mlflow.db and creates it),
    this environment's ``bin`` first on PATH (MLflow execs ``uvicorn``), no network
    (``--env-manager local``). The model server has no authentication: loopback only."""
    if not is_loopback(host):
        raise ConfigError(f"--host {host}: the model server has no authentication; allowed "
                          "127.0.0.1 / localhost (put a lab's proxy in front of it)")
    bin_dir = str(Path(sys.executable).parent)
    env = {"MLFLOW_TRACKING_URI": uri,
           "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
           "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore::DeprecationWarning,"
                                            "ignore::FutureWarning")}
    args = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model,
            "--env-manager", "local", "--host", host, "--port", str(port)]
    return args, env
