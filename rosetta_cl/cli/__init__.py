"""The ``rosetta-cl`` command: its commands and option generation (``commands``) and what ``run``
prints (``output``). ``python -m rosetta_cl.cli`` runs it.

May import: every subpackage; nothing imports it."""

from rosetta_cl.cli.commands import cli, main  # noqa: F401  (the console script's entry point)
