"""The ``rosetta-cl`` command, one module per command group: ``run`` (run, tune), ``anchors``,
``info`` (plugins, benchmarks, demo-data), ``specs`` (the shipped specs), ``store`` (report,
runs clean, ui), ``train`` (train, embed); the group and its help layout (``group``), the
options generated from the config (``options``), what ``run`` prints (``output``, its verdicts
in ``verdict``) and the entry point with its error mapping (``main``). ``python -m
rosetta_cl.cli`` runs it.

May import: every subpackage; nothing imports it."""

from rosetta_cl.cli import (  # noqa: F401  (each registers its commands)
    anchors,
    info,
    run,
    specs,
    store,
    train,
)
from rosetta_cl.cli.group import cli
from rosetta_cl.cli.main import main

__all__ = ["cli", "main"]
