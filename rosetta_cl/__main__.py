"""``python -m rosetta_cl``: the ``rosetta-cl`` command."""

from rosetta_cl.cli import main

main()
