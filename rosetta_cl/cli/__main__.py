"""``python -m rosetta_cl.cli``."""

from rosetta_cl.cli import main

main()
