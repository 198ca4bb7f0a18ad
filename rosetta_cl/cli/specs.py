"""``rosetta-cl specs``: the paper's tables (and our combinations) shipped as spec files: list
them, or copy one out to edit."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import click

from rosetta_cl.cli.group import FullHelpGroup, cli
from rosetta_cl.errors import ConfigError


@cli.group(cls=FullHelpGroup, invoke_without_command=True)
@click.pass_context
def specs(ctx):
    """The shipped specs: each runs a paper table by name (`rosetta-cl run NAME`); `specs copy`
    writes one out to edit."""
    if ctx.invoked_subcommand is not None:
        return
    from rosetta_cl.experiments.spec_file import load_spec, shipped_specs

    for name, path in shipped_specs().items():
        spec = load_spec(path)
        source = spec.paper.get("source", "")
        table = source.split(", ")[-1] if "Table" in source else "not a paper table"
        click.echo(f"{name} [{table}]")
        click.echo(textwrap.fill(spec.title, 100, initial_indent="    ",
                                 subsequent_indent="    "))


@specs.command("copy")
@click.argument("name")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file of that name.")
def specs_copy(name, directory, force):
    """Write the shipped spec NAME to DIRECTORY (default: here) as NAME.toml, to edit and run
    with `rosetta-cl run NAME.toml`."""
    from rosetta_cl.experiments.spec_file import shipped_specs

    found = shipped_specs()
    if name.removesuffix(".toml") not in found:
        raise ConfigError(f"spec {name!r}: allowed {', '.join(found)}")
    source = found[name.removesuffix(".toml")]
    target = Path(directory) / source.name
    if target.exists() and not force:
        raise ConfigError(f"{target} exists; pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    click.echo(f"wrote {target}; run it with: rosetta-cl run {target}")
