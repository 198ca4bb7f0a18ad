"""``python -m rosetta_cl.cli``."""

from rosetta_cl.cli.commands import main

main()
