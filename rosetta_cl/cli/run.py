"""``rosetta-cl run`` and ``rosetta-cl tune``: a benchmark, a spec file or your own arrays."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rosetta_cl.cli.group import GroupedOptions, cli
from rosetta_cl.cli.options import _config_values, _execution, config_options
from rosetta_cl.cli.output import protocol_run_text, spec_run_text, wrap
from rosetta_cl.errors import ConfigError


def complete_target(ctx, param, incomplete: str) -> list:
    """Shell completion of ``run`` / ``tune``'s first argument: benchmark and shipped spec names,
    and files (``.npz``, ``.npy``, ``.h5ad``, ``.toml``) once it looks like a path."""
    from click.shell_completion import CompletionItem

    from rosetta_cl.experiments.spec_file import shipped_specs
    from rosetta_cl.registry import BENCHMARKS

    if "/" in incomplete or incomplete.startswith("."):
        return [CompletionItem(incomplete, type="file")]
    names = [*BENCHMARKS, *shipped_specs()]
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


RUN_EXAMPLES = """\b
Examples:
  rosetta-cl run gaussians8 --methods vae,rvae      # the real check: ~2 min on 2 CPU cores
  rosetta-cl run gaussians8 --quick                 # smoke test of the pipeline: ~20 s
  rosetta-cl run mine.npz --split-by 'label:0,1|2,3'   # quote the |: bash would pipe it
  rosetta-cl run atlas.h5ad --split-by 'obs:batch=A,B|C'  # AnnData: an obs column's values
  rosetta-cl run table2_sequential_digits          # a paper table by name (rosetta-cl specs)
  rosetta-cl run digits5 --protocol continual --plugin ewc:ewc_lambda=100
"""


@cli.command(cls=GroupedOptions, epilog=RUN_EXAMPLES)
@click.argument("target", metavar="BENCHMARK|SPEC|DATA", shell_complete=complete_target)
@config_options
@click.option("--from-tune", default=None, metavar="RUN_ID",
              help="Use the beta and rho chosen by a `rosetta-cl tune` run.")
@click.pass_context
def run(ctx, target, **options):
    """Run a protocol on a benchmark, on your own data (DATA.npz / .npy / .h5ad, as --data), or
    every run of a spec's table (a shipped spec by name, see `rosetta-cl specs`, or a .toml
    file); print the table; log everything to MLflow."""
    from rosetta_cl.config.options import RunConfig
    from rosetta_cl.experiments.spec_file import spec_path

    values, explicit = _config_values(ctx, options)
    if options["from_tune"]:
        from rosetta_cl.experiments.tune import read_tuned

        tuned = read_tuned(options["from_tune"], options["tracking_uri"])
        tuned = {k: v for k, v in tuned.items() if k not in explicit}  # the command line wins
        values.update(tuned)
        explicit.update(tuned)
    track = {"tracking_uri": options["tracking_uri"], "experiment": options["experiment"],
             **_execution(options)}
    target = _data_file_target(target, values)
    spec = spec_path(target)
    if spec is not None:
        from rosetta_cl.experiments.specs import load_spec, run_spec

        overrides = {k: v for k, v in explicit.items() if k != "quick"}
        result = run_spec(load_spec(spec), quick=values["quick"], overrides=overrides,
                          progress=True, **track)
        if options["as_json"]:
            click.echo(json.dumps(result.as_dict(), indent=2))
            return
        click.echo(spec_run_text(result, ui_command(options["tracking_uri"])))
        return
    from rosetta_cl.experiments.runner import run_benchmark

    result = run_benchmark(RunConfig(benchmark=target, **values), progress=True, **track)
    if options["as_json"]:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(protocol_run_text(result, ui_command(options["tracking_uri"])))


def _data_file_target(target: str, values: dict) -> str:
    """``rosetta-cl run|tune mine.npz`` (``.npy``, ``.h5ad``) = ``... data --data mine.npz``; a
    directory that is no benchmark's name is refused as what it is."""
    if target.endswith((".npy", ".npz", ".h5ad")):
        values["data"] = values["data"] or target
        check_data_path(values["data"])
        return "data"
    if values.get("data"):
        check_data_path(values["data"])
    if Path(target).is_dir():
        from rosetta_cl.registry import BENCHMARKS

        if target not in BENCHMARKS:
            raise ConfigError(f"{target} is a directory; allowed: a benchmark (see `rosetta-cl "
                              "benchmarks`), a SPEC.toml or a DATA.npz / .npy / .h5ad file")
    return target


def check_data_path(path: str) -> None:
    """A data file that is not there, refused before torch and Avalanche are imported (that
    took 7 s; the full checks of what is there come with the data)."""
    if not Path(path).exists():
        raise ConfigError(f"data file {path} does not exist")


def ui_command(tracking_uri: str | None) -> str:
    """The exact command that opens the store a run was logged to."""
    return f"rosetta-cl ui --tracking-uri {tracking_uri}" if tracking_uri else "rosetta-cl ui"


@cli.command(cls=GroupedOptions, epilog="""\b
Examples:
  rosetta-cl tune gaussians8
  rosetta-cl tune mine.npz --split-by 'label:0,1|2,3'   # then: run mine.npz ... --from-tune ID
""")
@click.argument("benchmark", metavar="BENCHMARK|DATA.npz", shell_complete=complete_target)
@config_options
@click.option("--beta-grid", default="0:2.5:25", show_default=True,
              help="beta values (start:step:stop, stop included, or a comma list).")
@click.option("--rho-grid", default="0:0.75:15", show_default=True, help="rho values.")
@click.option("--criterion", default="elbo+template", show_default=True,
              metavar="[elbo+template|elbo]",
              help="Score of a grid point (lower wins): elbo+template (validation negative ELBO "
                   "+ 0.5 mean ||z_template - mu||^2 on held-out D1 points) | elbo.")
@click.pass_context
def tune(ctx, benchmark, beta_grid, rho_grid, criterion, **options):
    """Choose beta and rho for BENCHMARK or your own arrays (DATA.npz / .npy with --split-by, as
    `run` takes them) by validation performance (appendix B): short runs over the grids (20
    epochs unless --epochs), logged as nested MLflow runs."""
    values, _ = _config_values(ctx, options)
    benchmark = _data_file_target(benchmark, values)
    from rosetta_cl.config.options import RunConfig
    from rosetta_cl.experiments.tune import parse_grid
    from rosetta_cl.experiments.tune import tune as run_tune

    command = benchmark  # what `run` needs to use the picks
    if values.get("data"):
        command = values["data"] + (f" --split-by '{values['split_by']}'"
                                    if values.get("split_by") else "")
    betas, rhos = parse_grid(beta_grid, "beta"), parse_grid(rho_grid, "rho")
    result = run_tune(RunConfig(benchmark=benchmark, **values), betas, rhos, progress=True,
                      tracking_uri=options["tracking_uri"], experiment=options["experiment"],
                      criterion=criterion, **_execution(options))
    if options["as_json"]:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    for name, grid in result.grids.items():
        cells = ", ".join(f"{v:g}: {s:.4g}" for v, s in grid.items())
        click.echo(wrap(f"{name} ({result.criterion}; lower wins): {cells}"))
    best = ", ".join(f"{name}={value:g}" for name, value in result.best.items())
    click.echo(f"best: {best} ({result.config.epochs} epochs per point, "
               f"{result.wall_time_s:.1f} s)")
    for note in result.notes():
        click.echo(wrap(f"  {note}"))
    if result.parent_run_id:
        click.echo(f"MLflow tune run: {result.parent_run_id}; use it with\n  "
                   f"rosetta-cl run {command} --from-tune {result.parent_run_id}")
