"""``rosetta-cl train`` and ``rosetta-cl embed``: models on one data file as a whole, and the
latent means a trained or registered model gives a data file."""

from __future__ import annotations

import json

import click

from rosetta_cl.cli.group import GroupedOptions, cli
from rosetta_cl.cli.options import _config_values, config_options
from rosetta_cl.cli.output import plural
from rosetta_cl.cli.run import check_data_path
from rosetta_cl.errors import ConfigError

TRAIN_EXAMPLES = """\b
Examples:
  rosetta-cl train alice.h5ad -k 32                    # VAEs; each selects 32 anchors
  rosetta-cl anchors publish RUN_ID --name atlas --alias champion
  rosetta-cl train bob.h5ad --anchors models:/atlas@champion   # R-VAEs in Alice's space
  rosetta-cl embed models:/atlas@champion bob.h5ad -o bob_latent.h5ad
"""


@cli.command(cls=GroupedOptions, epilog=TRAIN_EXAMPLES)
@click.argument("data_file", metavar="DATA", type=click.Path())
@config_options
@click.option("--method", default=None, metavar="NAME",
              help="One method to train (the same as --methods NAME; default vae, or rvae "
                   "with --anchors).")
@click.option("--init-from-anchors", is_flag=True,
              help="With --anchors models:/NAME@ALIAS: start every model from that version's "
                   "VAE (fine-tune it, in its architecture) instead of fresh weights.")
@click.pass_context
def train(ctx, data_file, method, init_from_anchors, **options):
    """Train models on all of DATA (.npz / .npy / .h5ad): no split, no protocol, no joint
    model. Without --anchors: VAEs, each selecting k Rosetta points (publish one with `rosetta-cl
    anchors publish`). With --anchors FILE or models:/NAME@ALIAS: R-VAEs anchored to them (the
    latent size is the anchors'), each logged with its anchor fit. Prints the run ids."""
    from rosetta_cl.config.options import RunConfig
    from rosetta_cl.experiments.train import train as train_models

    values, explicit = _config_values(ctx, options)
    if options["resume"] or options["executor"] != "local":
        raise ConfigError("train: --resume and --executor ray are for run and tune; allowed: "
                          "train here, from the start")
    if method and "methods" in explicit:
        raise ConfigError("--method and --methods: give one of them")
    if method:
        values["methods"] = (method,)
    elif "methods" not in explicit:
        values["methods"] = ("rvae",) if values["anchors"] else ("vae",)
    if values["data"] and values["data"] != data_file:
        raise ConfigError(f"--data {values['data']} and DATA {data_file}: give the file once")
    values["data"] = data = data_file
    check_data_path(data)
    result = train_models(RunConfig(benchmark="data", **values),
                          tracking_uri=options["tracking_uri"], experiment=options["experiment"],
                          progress=True, init_from_anchors=init_from_anchors)
    if options["as_json"]:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    c = result.config
    source = f" anchored to {result.anchors_model or c.anchors}" if c.anchors else ""
    if result.init_from:
        source += ", each started from its VAE"
    named = f", {plural(len(result.features), 'named feature')}" if result.features else ""
    click.echo(f"trained {plural(len(result.runs), 'model')} on {data}{named}{source} "
               f"({c.epochs} epochs, latent dim {c.latent_dim}, {result.wall_time_s:.0f} s)")
    for run in result.runs:
        click.echo(f"  {run.name}: run {run.run_id or '(untracked)'}{_fit(run.metrics)}")
    if c.anchors:
        _alignment_lines(result)
    if result.smoke:
        click.echo(f"smoke run (--quick: {c.epochs} epochs): it checks the pipeline; train "
                   "without --quick for models to use")
    if result.parent_run_id:
        click.echo(f"MLflow parent run: {result.parent_run_id}")
        click.echo(_next_step(result, data))


def _fit(metrics: dict) -> str:
    if "anchor_fit" not in metrics:
        return ""
    return (f"  anchor fit {metrics['anchor_fit']:.4g} = {metrics['anchor_fit_ratio']:.1%} of "
            f"the anchors' spread {metrics['anchor_spread']:.3g}: "
            f"{'aligned' if metrics['aligned'] else 'not aligned'}")


def _alignment_lines(result) -> None:
    """Per method: on how many seeds its model sits in the anchors' space, and the rule."""
    from rosetta_cl.metrics.alignment import ALIGNMENT_RULE

    for method in result.config.methods:
        runs = [r for r in result.runs if r.name.startswith(f"{method}/")]
        aligned = sum(r.alignment == "aligned" for r in runs)
        verdict = ("in the anchors' space" if aligned == len(runs) else
                   "NOT in the anchors' space" if aligned == 0 else "partly in the anchors' space")
        click.echo(f"{method}: {verdict} (aligned on {aligned} of {len(runs)} seeds)")
    click.echo(f"  rule: {ALIGNMENT_RULE}")


def _next_step(result, data: str) -> str:
    """What the guide does next: Alice publishes a model; Bob embeds his data with his first
    aligned model (none aligned: train longer first)."""
    runs = result.runs
    if not result.config.anchors:
        return f"next: rosetta-cl anchors publish {runs[0].run_id} --name NAME --alias champion"
    aligned = [r for r in runs if r.alignment == "aligned"]
    if not aligned:
        return ("next: no model is aligned yet: train longer (without --quick, or more "
                "--epochs), or raise --rho")
    return f"next: rosetta-cl embed runs:/{aligned[0].run_id} {data} -o OUT"


@cli.command()
@click.argument("model", metavar="MODEL")
@click.argument("data", metavar="DATA", type=click.Path())
@click.option("-o", "--output", required=True, metavar="OUT.npz|OUT.h5ad",
              help="Latent means as z in an .npz, or a copy of an .h5ad DATA with them in "
                   "obsm['X_rosetta'].")
@click.option("--layer", default=None, metavar="NAME", help="An .h5ad's layer instead of X.")
@click.option("--obsm", default=None, metavar="KEY", help="An .h5ad's obsm entry instead of X.")
@click.option("--batch-size", type=int, default=4096, show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Intra-op threads (default: the thread rule, 1).")
@click.option("--tracking-uri", default=None)
def embed(model, data, output, layer, obsm, batch_size, force, threads, tracking_uri):
    """Write the latent means MODEL gives DATA. MODEL: models:/NAME/VERSION, models:/NAME@ALIAS,
    runs:/RUN_ID (or a run id), or a model directory. DATA's columns are matched to the
    model's feature names when it has them (reordered; a missing one is an error)."""
    from rosetta_cl.experiments.embed import embed as embed_file

    check_data_path(data)

    result = embed_file(model, data, output, layer=layer, obsm=obsm, batch_size=batch_size,
                        force=force, tracking_uri=tracking_uri, progress=True, threads=threads)
    click.echo(f"wrote {result.path}: {plural(result.rows, 'row')} x latent dim "
               f"{result.latent_dim} from {result.model}")
