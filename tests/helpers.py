"""What many tests share: the CLI in this process (``run_main``) and in a child process
(``CLI``, ``cli_process``), as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rosetta_cl.cli import main

CLI = [sys.executable, "-m", "rosetta_cl.cli"]


def run_main(argv, capsys) -> tuple[int, str, str]:
    """The console entry point in-process (same code path as `rosetta-cl`, no import cost):
    (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def cli_process(args, cwd=None, env: dict | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess:
    """``rosetta-cl ARGS`` in a child process; ``$MLFLOW_TRACKING_URI`` unset (the default store
    ``./mlruns``) unless ``env`` sets it."""
    full = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run([*CLI, *args], cwd=cwd, env={**full, **(env or {})},
                          capture_output=True, text=True, timeout=timeout, check=False)
