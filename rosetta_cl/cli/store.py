"""``rosetta-cl report``, ``runs clean`` and ``ui``: the MLflow store after the runs."""

from __future__ import annotations

import os
import sys

import click

from rosetta_cl.cli.group import FullHelpGroup, cli
from rosetta_cl.cli.output import plural
from rosetta_cl.errors import ConfigError


@cli.command()
@click.argument("target", metavar="EXPERIMENT|RUN_ID")
@click.option("-o", "--output", default=None, metavar="DIR",
              help="Folder for report.html, report.md and figures/ (default report-TARGET).")
@click.option("--tracking-uri", default=None,
              help="MLflow store or server (default: $MLFLOW_TRACKING_URI or "
                   "sqlite:///mlruns/mlflow.db).")
@click.option("--figures", "projection", default="auto", show_default=True,
              help="2-D view for figures a run does not have yet: auto | identity | pca | umap")
@click.option("--no-log", is_flag=True, help="Do not log the report back to the runs.")
def report(target, output, tracking_uri, projection, no_log):
    """Build an HTML + Markdown report of an experiment's runs (or one run) from MLflow: the
    tables, the figures, the configs and links to the runs; logged back to the runs."""
    from rosetta_cl.reporting.embedding import PROJECTIONS
    from rosetta_cl.reporting.report import build_report

    if projection not in PROJECTIONS:
        raise ConfigError(f"figures {projection!r}: allowed {', '.join(PROJECTIONS)}")
    path = build_report(target, output or f"report-{target}", tracking_uri=tracking_uri,
                        projection=projection, log=not no_log)
    click.echo(f"report: {path} (and report.md, figures/ beside it)")


@cli.group(cls=FullHelpGroup)
def runs():
    """Housekeeping of the MLflow store."""


@runs.command("clean")
@click.argument("experiment", required=False)
@click.option("--tracking-uri", default=None,
              help="MLflow store or server (default: $MLFLOW_TRACKING_URI or "
                   "sqlite:///mlruns/mlflow.db).")
def runs_clean(experiment, tracking_uri):
    """Mark KILLED the runs left RUNNING by a process that is gone (killed, crashed, machine
    lost), in EXPERIMENT or in every experiment. A run still running is never touched: on this
    host its pid is checked, from another host its heartbeat (stale after 10 minutes).
    `rosetta-cl run` does this for its own experiment when it starts."""
    from rosetta_cl.tracking.liveness import clean_runs
    from rosetta_cl.tracking.store import open_client

    client = open_client(tracking_uri)
    if experiment is None:
        ids = [e.experiment_id for e in client.search_experiments()]
    else:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            names = sorted(e.name for e in client.search_experiments())
            raise ConfigError(f"experiment {experiment!r} not in {client.tracking_uri}: allowed "
                              f"{', '.join(names) or '(none yet)'}")
        ids = [found.experiment_id]
    cleaned = clean_runs(client, ids) if ids else []
    for run_id, why in cleaned:
        click.echo(f"KILLED {run_id}: {why}")
    click.echo(f"{plural(len(cleaned), 'run')} marked KILLED in {experiment or 'all experiments'}")


@cli.command()
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; one other than loopback needs --auth.")
@click.option("--auth", is_flag=True,
              help="MLflow's basic-auth app: every request needs a user and password (users in "
                   "auth.db beside the store). The admin password comes from "
                   "$MLFLOW_AUTH_ADMIN_PASSWORD or --admin-password-file, never the command line.")
@click.option("--admin-password-file", default=None, metavar="FILE",
              help="File holding the admin password (first line), used when auth.db is created.")
@click.option("--default-permission", default="EDIT", show_default=True,
              help="What every signed-in user may do to experiments others created: "
                   "READ | EDIT | MANAGE | NO_PERMISSIONS.")
@click.option("--allowed-hosts", default="", metavar="NAMES",
              help="Comma-separated host names clients reach the server by (e.g. lab-server), "
                   "besides loopback and private addresses.")
@click.option("--tracking-uri", default=None,
              help="MLflow store (default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db).")
def ui(port, host, auth, admin_password_file, default_permission, allowed_hosts, tracking_uri):
    """Start the MLflow UI (and tracking server) over the rosetta-cl store: on 127.0.0.1 for
    one user, or with --auth on a lab's network (README: "Share one store in a lab")."""
    from rosetta_cl.tracking.server import server_command
    from rosetta_cl.tracking.store import check_store, resolve_tracking_uri

    if not 1 <= port <= 65535:
        raise ConfigError(f"port {port}: allowed 1-65535")
    uri = resolve_tracking_uri(tracking_uri)
    extra = tuple(name.strip() for name in allowed_hosts.split(",") if name.strip())
    args, env = server_command(uri, host, port, auth, admin_password_file, default_permission,
                               extra)
    check_store(uri)  # creates a fresh SQLite store once, before the server's workers start
    scheme = "with basic auth" if auth else "no authentication: this machine only"
    click.echo(f"MLflow UI at http://{host}:{port} over {uri} ({scheme})", err=True)
    os.environ.update(env)
    os.execv(sys.executable, args)


@cli.command()
@click.argument("model", metavar="MODEL")
@click.option("-p", "--port", type=int, default=5001, show_default=True)
@click.option("-h", "--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback only: the model server has no "
                   "authentication).")
@click.option("--tracking-uri", default=None,
              help="MLflow store (default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db).")
def serve(model, port, host, tracking_uri):
    """Serve a registered encoder (models:/NAME@ALIAS or models:/NAME/VERSION) from the
    project's store with MLflow's model server. POST rows of features in the version's feature
    order to /invocations as JSON, {"inputs": [[x11, x12], [x21, x22]]}; the latent means come
    back as {"predictions": [...]}."""
    from rosetta_cl.tracking.model_registry import pull
    from rosetta_cl.tracking.server import model_server_command
    from rosetta_cl.tracking.store import check_store, resolve_tracking_uri

    if not 1 <= port <= 65535:
        raise ConfigError(f"port {port}: allowed 1-65535")
    uri = resolve_tracking_uri(tracking_uri)
    args, env = model_server_command(model, uri, host, port)
    check_store(uri, write=False)
    pulled = pull(model, uri, label="serve")  # one-line errors before MLflow starts
    named = f"{len(pulled.features)} named features" if pulled.features else "unnamed features"
    click.echo(f"serving {pulled.uri} ({named}) at http://{host}:{port}/invocations from {uri}",
               err=True)
    os.environ.update(env)
    os.execv(sys.executable, args)
