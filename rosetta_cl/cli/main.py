"""The console entry point: user errors, a failing disk or store print one line and exit 2;
signals end the open runs as KILLED."""

from __future__ import annotations

import logging
import sys

import click

from rosetta_cl.cli.group import cli
from rosetta_cl.errors import ConfigError


def main(argv=None) -> None:
    """Console entry point: user errors, a failing disk or store print one line and exit 2,
    without a traceback; SIGINT / SIGTERM end the open runs as KILLED and exit 130 / 143."""
    from rosetta_cl.tracking.interrupts import handling_signals

    # the store's own log: INFO lines when it creates tables, and a traceback before it raises
    # an error that we then print in one line
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    with handling_signals():
        code = _run_cli(argv)
    sys.exit(code)


def _run_cli(argv) -> int:
    from rosetta_cl.tracking.interrupts import EXIT_CODES, INTERRUPTS, signal_name

    try:
        code = cli.main(args=argv, prog_name="rosetta-cl", standalone_mode=False)
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        return 2
    except INTERRUPTS as exc:
        click.echo(f"Interrupted ({signal_name(exc)}): open runs were marked KILLED; "
                   "`rosetta-cl run ... --resume` finishes them", err=True)
        return EXIT_CODES[type(exc)]
    except click.exceptions.Abort:
        click.echo("Interrupted (SIGINT): open runs were marked KILLED", err=True)
        return EXIT_CODES[KeyboardInterrupt]
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        return exc.exit_code
    except OSError as exc:  # the disk or a folder, not the code: full, read-only, deleted
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(f"Error: cannot write or read{where}: {exc.strerror or exc} (open runs were "
                   "marked FAILED where the store could still be written)", err=True)
        return 2
    except Exception as exc:
        if not _store_error(exc):
            raise
        from rosetta_cl.tracking.store import first_line

        click.echo(f"Error: the MLflow store failed: {first_line(exc)} (deleted, full or locked?"
                   " open runs were marked FAILED where it could still be written)", err=True)
        return 2
    return code if isinstance(code, int) else 0


def _store_error(exc: BaseException) -> bool:
    """An error of the tracking store (MLflow, or its database under it)."""
    return any(c.__module__.split(".")[0] in ("mlflow", "sqlalchemy", "sqlite3")
               for c in type(exc).__mro__)
