"""``rosetta-cl plugins``, ``benchmarks`` and ``demo-data``: what is registered, and demo files."""

from __future__ import annotations

from pathlib import Path

import click

from rosetta_cl.cli.group import cli
from rosetta_cl.errors import ConfigError


@cli.command()
@click.option("--plugins-dir", default=None, help="Local plugins folder.")
def plugins(plugins_dir):
    """List methods, benchmarks, plugins, metrics, protocols and anchor selectors, and where each
    came from."""
    from rosetta_cl.anchors.selectors import SELECTORS
    from rosetta_cl.extensions import load_extensions
    from rosetta_cl.protocols import PROTOCOLS
    from rosetta_cl.registry import BENCHMARKS, METHODS, METRICS, PLUGINS

    load_extensions(plugins_dir)
    for title, table in (("methods", METHODS), ("benchmarks", BENCHMARKS), ("plugins", PLUGINS),
                         ("metrics", METRICS), ("protocols", PROTOCOLS)):
        click.echo(f"{title}:")
        for spec in table.values():
            options = getattr(spec, "options", None)
            extra = f" options {options}" if options else ""
            click.echo(f"  {spec.name:<12} [{spec.source}] {spec.description}{extra}")
    click.echo("selectors: " + ", ".join(SELECTORS) + " [built-in]")


@cli.command()
def benchmarks():
    """List the benchmark streams and methods."""
    from rosetta_cl.extensions import load_extensions
    from rosetta_cl.registry import BENCHMARKS, METHODS

    load_extensions()

    click.echo("benchmarks:")
    for spec in BENCHMARKS.values():
        d = spec.defaults
        k = f"k={d.rosetta_points}"
        if d.rosetta_points_for("reproducibility") != d.rosetta_points:
            k += f" (reproducibility {d.rosetta_points_for('reproducibility')})"
        split = f"; --split-by {spec.split_rules}" if spec.split_rules else ""
        click.echo(f"  {spec.name:<12} {spec.description} [latent {d.latent_dim}, {k}, "
                   f"{d.epochs} epochs, {d.arch}, {d.likelihood} likelihood{split}]")
    click.echo("methods:")
    for spec in METHODS.values():
        click.echo(f"  {spec.name:<12} {spec.description}")


@cli.command("demo-data")
@click.argument("dataset", type=click.Choice(["birdsong", "chairs", "atlas"]))
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--size", type=click.IntRange(min=2), default=None,
              help="Birds (default 4), chairs (default 16) or cells per lab (atlas, 400).")
@click.option("--seed", type=int, default=0, show_default=True)
def demo_data(dataset, directory, size, seed):
    """Write small synthetic data in the real formats (AVA syllable files; the 3D Chairs layout;
    two labs' AnnData .h5ad files), to try the streams and the lab walkthrough without the real
    data: not results."""
    from rosetta_cl.data.demo import write_atlas_demo, write_birdsong_demo, write_chairs_demo

    target = Path(directory)
    if target.exists() and any(target.iterdir()):
        raise ConfigError(f"demo-data: {target} exists and is not empty; give a new folder")
    if dataset == "atlas":
        write_atlas_demo(target, cells=size or 400, seed=seed)
        click.echo(f"wrote {target}/alice.h5ad and {target}/bob.h5ad; run: rosetta-cl train "
                   f"{target}/alice.h5ad -k 16")
        return
    if dataset == "birdsong":
        write_birdsong_demo(target, birds=size or 4, seed=seed)
    else:
        write_chairs_demo(target, chairs=size or 16, seed=seed)
    click.echo(f"wrote demo {dataset} data to {target}; run: rosetta-cl run {dataset} "
               f"--data-dir {target} --quick")
