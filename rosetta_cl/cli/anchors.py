"""``rosetta-cl anchors``: portable anchor files (.rosetta): select, inspect, merge; publish a
model with its anchors to the MLflow Model Registry."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rosetta_cl.cli.group import FullHelpGroup, cli
from rosetta_cl.cli.output import plural
from rosetta_cl.errors import ConfigError


@cli.group(cls=FullHelpGroup)
def anchors():
    """Portable anchor files (.rosetta): select, inspect, merge, publish."""


@anchors.command("select")
@click.option("--model", "model_ref", required=True, metavar="RUN_ID|DIR",
              help="An MLflow run of ours with a `model` artifact (a protocol run's id means "
                   "its template), or a model directory.")
@click.option("--benchmark", default=None, help="Select from this benchmark's training part.")
@click.option("--part", default="D1", show_default=True, help="Which part of the benchmark.")
@click.option("--data", "data_file", default=None, metavar="FILE",
              help="Select from your own inputs: .npy, .npz with an array x, or .h5ad.")
@click.option("--layer", default=None, metavar="NAME", help="An .h5ad's layer instead of X.")
@click.option("--obsm", default=None, metavar="KEY", help="An .h5ad's obsm entry instead of X.")
@click.option("-k", "--rosetta-points", "k", type=int, required=True)
@click.option("--selection", default="kmeans", show_default=True,
              help="kmeans | agglomerative | gmm | random")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Benchmark split seed and selector seed.")
@click.option("--subsample", type=int, default=None)
@click.option("--data-dir", default=None)
@click.option("-o", "--output", required=True, help="The .rosetta file to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--tracking-uri", default=None)
def anchors_select(model_ref, benchmark, part, data_file, layer, obsm, k, selection, seed,
                   subsample, data_dir, output, force, tracking_uri):
    """Select Rosetta points with a trained model and write them to a .rosetta file."""
    from rosetta_cl.anchors.rosetta_file import select_for_model, write_anchor_file
    from rosetta_cl.tracking.artifacts import check_output, log_artifact
    from rosetta_cl.tracking.store import load_model_ref, open_client

    if (benchmark is None) == (data_file is None):
        raise ConfigError("give exactly one of --benchmark B or --data FILE")
    if Path(output).exists() and not force:
        raise ConfigError(f"output {output} exists; pass --force to overwrite it")
    if k < 1:
        raise ConfigError(f"rosetta points k={k}: must be >= 1")
    check_output(output)
    model, run_id = load_model_ref(model_ref, tracking_uri)
    if data_file:
        from rosetta_cl.data.user_data import read_user_arrays

        x = read_user_arrays(data_file, layer, obsm)
        source = {"data": Path(data_file).name}
    else:
        from rosetta_cl.config.constraints import did_you_mean
        from rosetta_cl.data.tensors import dataset_tensors
        from rosetta_cl.registry import BENCHMARKS

        if benchmark not in BENCHMARKS:
            near = did_you_mean(benchmark, BENCHMARKS)
            raise ConfigError(f"unknown benchmark {benchmark!r}{near}: allowed "
                              f"{', '.join(BENCHMARKS)}")
        bench = BENCHMARKS[benchmark].make(seed, subsample=subsample, data_dir=data_dir)
        if part not in bench.parts:
            raise ConfigError(f"part {part!r}: allowed {', '.join(bench.parts)}")
        x, _ = dataset_tensors(bench.train_stream[bench.parts.index(part)].dataset)
        source = {"benchmark": benchmark, "part": part, "split_seed": seed,
                  "subsample": subsample}
    anchor_file = select_for_model(model, x, k, seed=seed, method=selection, source=source)
    path = write_anchor_file(anchor_file, output)
    if run_id:
        log_artifact(open_client(tracking_uri), run_id, path, "anchor_files")
        if run_id != model_ref:
            click.echo(f"model: the template run {run_id} of protocol run {model_ref}")
    click.echo(f"wrote {path}: {plural(anchor_file.k, 'anchor')}, latent dim "
               f"{anchor_file.latent_dim}, input shape {anchor_file.input_shape}, checksum "
               f"{anchor_file.checksum[:12]}")


@anchors.command("inspect")
@click.argument("file")
@click.option("--json", "as_json", is_flag=True)
def anchors_inspect(file, as_json):
    """Print an anchor file's metadata and a summary of its z_r (validates it first)."""
    from rosetta_cl.anchors.rosetta_file import read_anchor_file

    summary = read_anchor_file(file).summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"{file}: {plural(summary['k'], 'anchor')}, latent dim {summary['latent_dim']}, "
               f"input shape {tuple(summary['input_shape'])}, format v{summary['format_version']}")
    for key in ("selection", "source", "template", "merged_from"):
        if summary[key]:
            click.echo(f"  {key}: {json.dumps(summary[key])}")
    click.echo(f"  z_r std per dim: {summary['z_std_per_dim']}; |z_r| min/median/max: "
               f"{summary['z_norm']['min']:.3g} / {summary['z_norm']['median']:.3g} / "
               f"{summary['z_norm']['max']:.3g}")
    click.echo(f"  created {summary['created']} by rosetta-cl {summary['rosetta_cl_version']}; "
               f"checksum {summary['checksum']}")


@anchors.command("merge")
@click.argument("files", nargs=-1, required=True)
@click.option("-o", "--output", required=True)
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def anchors_merge(files, output, force):
    """Combine anchor sets from labs that share a latent space."""
    from rosetta_cl.anchors.rosetta_file import (
        merge_anchor_files,
        read_anchor_file,
        write_anchor_file,
    )
    from rosetta_cl.tracking.artifacts import check_output

    if len(files) < 2:
        raise ConfigError(f"merge needs at least 2 files, got {len(files)}")
    if Path(output).exists() and not force:
        raise ConfigError(f"output {output} exists; pass --force to overwrite it")
    check_output(output)
    merged = merge_anchor_files([read_anchor_file(f) for f in files], list(files))
    write_anchor_file(merged, output)
    click.echo(f"wrote {output}: {merged.k} anchors from {len(files)} files")


@anchors.command("publish")
@click.argument("run_id", metavar="RUN")
@click.option("--name", required=True, help="Registered model name (models:/NAME/...).")
@click.option("--alias", default=None, help="Point this alias (e.g. champion) at the version.")
@click.option("--anchors", "anchor_path", default=None, metavar="FILE",
              help="The .rosetta file to publish (default: the run's anchors.rosetta).")
@click.option("--require-features", is_flag=True,
              help="Refuse a run whose data named no features (else the version is tagged "
                   "'unnamed').")
@click.option("--tracking-uri", default=None)
def anchors_publish(run_id, name, alias, anchor_path, require_features, tracking_uri):
    """Register RUN's model (a model run, or a protocol run: its template) with its anchors as
    a new version of NAME in the MLflow Model Registry: the encoder as a pyfunc model (rows of
    features in, latent means out), anchors.rosetta, the feature names, lineage tags."""
    from rosetta_cl.tracking.model_registry import publish

    published = publish(run_id, name, alias=alias, anchors=anchor_path,
                        require_features=require_features, tracking_uri=tracking_uri)
    pointed = f" (alias {published.alias})" if published.alias else ""
    click.echo(f"registered {published.uri}{pointed} from run {published.source_run_id}")
    if published.features is None:
        click.echo("features: unnamed (its data named no columns): embed and train --anchors "
                   "take other files' columns in their own order, unchecked")
    else:
        click.echo(f"features: {published.features} named; other files' columns are matched "
                   "by name")
    ref = f"models:/{name}@{alias}" if alias else published.uri
    click.echo(f"anchor to it: rosetta-cl train DATA --anchors {ref}")
