"""``rosetta-cl``: run benchmark protocols, list benchmarks, open the MLflow UI.

Data flow of ``run``: stream (registry) -> strategies + RosettaPlugin (protocols) -> anchors ->
metrics (LSD / RV) -> summary table -> MLflow (runner / runs / tracking).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click
import numpy as np

from rosetta_cl.cli.output import plural, protocol_run_text, spec_run_text, wrap
from rosetta_cl.errors import ConfigError


class FullHelpGroup(click.Group):
    """A group whose command list shows each command's first sentence whole, wrapped."""

    def format_commands(self, ctx, formatter):
        rows = [(name, self.get_command(ctx, name).get_short_help_str(limit=300))
                for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


# `run` / `tune --help`: options in sections, in this order (OPTION_GROUP: option -> section)
GROUPS = ("data", "model", "training", "anchors", "execution", "output", "tune")
OPTION_GROUP: dict[str, str] = {}
ANCHOR_OPTIONS = ("rho", "rosetta_points", "anchor_fit", "anchor_decoder", "selection",
                  "anchors", "accumulate", "reinit")


class GroupedOptions(click.Command):
    """A command whose ``--help`` lists its options in sections (``GROUPS``)."""

    def format_options(self, ctx, formatter):
        sections: dict[str, list] = {group: [] for group in GROUPS}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record is not None:
                sections[OPTION_GROUP.get(param.name, "output")].append(record)
        for group, records in sections.items():
            if records:
                with formatter.section(f"{group.capitalize()} options"):
                    formatter.write_dl(records)


@click.group(cls=FullHelpGroup, context_settings={"max_content_width": 100})
@click.version_option(package_name="rosetta-cl")
def cli():
    """Rosetta VAE continual-learning toolkit: run the paper's protocols on benchmark streams or
    your own data, log everything to MLflow, compare runs in its UI."""


def config_options(command):
    """The options shared by ``run`` and ``tune``: one per RunConfig field (its default and help
    text written once, in ``config``), then where results go."""
    from dataclasses import MISSING, fields
    from typing import get_type_hints

    from rosetta_cl.config.options import (
        DataOptions,
        ExecutionOptions,
        ModelOptions,
        RunConfig,
        TrainingOptions,
    )
    from rosetta_cl.training.executors import ExecutorOptions

    hints = {**get_type_hints(RunConfig), **get_type_hints(ExecutorOptions)}
    for group, part in (("data", DataOptions), ("model", ModelOptions),
                        ("training", TrainingOptions), ("execution", ExecutionOptions),
                        ("execution", ExecutorOptions)):
        OPTION_GROUP.update({f.name: group for f in fields(part)})
    OPTION_GROUP.update({**dict.fromkeys(ANCHOR_OPTIONS, "anchors"), "quick": "training",
                         "from_tune": "training", "beta_grid": "tune", "rho_grid": "tune",
                         "criterion": "tune"})
    choices = option_choices()
    options = []
    for f in (*fields(RunConfig), *fields(ExecutorOptions)):
        meta = f.metadata
        if meta.get("cli") is False:
            continue
        flag = "--" + f.name.replace("_", "-")
        names = list(meta.get("flags", (flag,)))
        kwargs = {"help": meta["help"], "default": f.default if f.default is not MISSING else None}
        kind = hints[f.name]
        if meta.get("secondary"):
            names = [f"{names[0]}/{meta['secondary']}"]
            kwargs["show_default"] = True
        elif meta.get("is_flag"):
            kwargs["is_flag"] = True
        elif meta.get("multiple"):
            kwargs.update(multiple=True, metavar=meta.get("metavar"), default=f.default)
        elif kind == tuple[str, ...]:  # a comma list on the command line
            kwargs["default"] = ",".join(f.default) or None
            kwargs["show_default"] = bool(f.default)
        else:
            base = next(t for t in (int, float, str) if kind in (t, t | None))
            kwargs.update(type=base, show_default=f.default is not None,
                          metavar=meta.get("metavar") or choices.get(f.name))
        options.append(click.option(*names, f.name, **kwargs))
    options += [
        click.option("--tracking-uri", default=None,
                     help="MLflow store (default: $MLFLOW_TRACKING_URI or "
                          "sqlite:///mlruns/mlflow.db)."),
        click.option("--experiment", default=None,
                     help="MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, else the "
                          "benchmark, data file or spec name)."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout."),
        click.option("--resume", is_flag=True,
                     help="Finish the interrupted run of this same command in its experiment: "
                          "finished trainings are reused, runs left RUNNING marked KILLED."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def option_choices() -> dict[str, str]:
    """``[a|b|c]`` for every option whose values are a fixed list (its constraint's, or a
    built-in registry's), shown in ``--help`` in place of ``TEXT``."""
    from rosetta_cl.config.constraints import OneOf
    from rosetta_cl.config.options import PARTS
    from rosetta_cl.protocols import PROTOCOLS
    from rosetta_cl.training.executors import EXECUTORS

    registries = {"protocols": PROTOCOLS}
    out = {"executor": "[" + "|".join(EXECUTORS) + "]"}
    for part in PARTS:
        for name, rule in part._parameter_constraints.items():
            if isinstance(rule, OneOf) and not rule.each:
                values = registries.get(rule.choices) if isinstance(rule.choices, str) else (
                    rule.choices)
                if values:
                    out[name] = "[" + "|".join(values) + "]"
    return out


NOT_CONFIG = ("tracking_uri", "experiment", "as_json", "from_tune", "resume", "executor",
              "cpus_per_training", "gpus_per_training", "ray_address")


def _execution(options: dict) -> dict:
    """The executor options and ``resume`` of a ``run`` / ``tune`` command."""
    from rosetta_cl.training.executors import ExecutorOptions

    return {"executor": ExecutorOptions(options["executor"], options["cpus_per_training"],
                                        options["gpus_per_training"], options["ray_address"]),
            "resume": options["resume"]}


def _config_values(ctx: click.Context, options: dict) -> tuple[dict, dict]:
    """(every RunConfig value, only those given on the command line); comma lists split."""
    from dataclasses import fields
    from typing import get_type_hints

    from rosetta_cl.config.options import RunConfig

    hints = get_type_hints(RunConfig)
    values = {k: v for k, v in options.items() if k not in NOT_CONFIG}
    for f in fields(RunConfig):
        if hints[f.name] == tuple[str, ...] and isinstance(values.get(f.name), str):
            values[f.name] = tuple(v.strip() for v in values[f.name].split(",") if v.strip())
        elif f.name in values and values[f.name] is None and hints[f.name] == tuple[str, ...]:
            values[f.name] = ()
    explicit = {k: v for k, v in values.items()
                if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE}
    return values, explicit


RUN_EXAMPLES = """\b
Examples:
  rosetta-cl run gaussians8 --methods vae,rvae      # the real check: ~2 min on 2 CPU cores
  rosetta-cl run gaussians8 --quick                 # smoke test of the pipeline: ~20 s
  rosetta-cl run mine.npz --split-by 'label:0,1|2,3'   # quote the |: bash would pipe it
  rosetta-cl run benchmarks/table2_sequential_digits.toml   # a paper table, every column
  rosetta-cl run digits5 --protocol continual --plugin ewc:ewc_lambda=100
"""


@cli.command(cls=GroupedOptions, epilog=RUN_EXAMPLES)
@click.argument("target", metavar="BENCHMARK|SPEC.toml|DATA.npz")
@config_options
@click.option("--from-tune", default=None, metavar="RUN_ID",
              help="Use the beta and rho chosen by a `rosetta-cl tune` run.")
@click.pass_context
def run(ctx, target, **options):
    """Run a protocol on a benchmark, on your own arrays (DATA.npz / .npy, same as --data), or
    every run of a spec file's table; print the table; log everything to MLflow."""
    from rosetta_cl.config.options import RunConfig

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
    if target.endswith(".toml"):
        from rosetta_cl.experiments.specs import load_spec, run_spec

        overrides = {k: v for k, v in explicit.items() if k != "quick"}
        result = run_spec(load_spec(target), quick=values["quick"], overrides=overrides,
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
    """``rosetta-cl run|tune mine.npz`` = ``... data --data mine.npz``; a directory that is no
    benchmark's name is refused as what it is."""
    if target.endswith((".npy", ".npz")):
        values["data"] = values["data"] or target
        return "data"
    if Path(target).is_dir():
        from rosetta_cl.registry import BENCHMARKS

        if target not in BENCHMARKS:
            raise ConfigError(f"{target} is a directory; allowed: a benchmark (see `rosetta-cl "
                              "benchmarks`), a SPEC.toml or a DATA.npz / .npy file")
    return target


def ui_command(tracking_uri: str | None) -> str:
    """The exact command that opens the store a run was logged to."""
    return f"rosetta-cl ui --tracking-uri {tracking_uri}" if tracking_uri else "rosetta-cl ui"


@cli.command(cls=GroupedOptions, epilog="""\b
Examples:
  rosetta-cl tune gaussians8
  rosetta-cl tune mine.npz --split-by 'label:0,1|2,3'   # then: run mine.npz ... --from-tune ID
""")
@click.argument("benchmark", metavar="BENCHMARK|DATA.npz")
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
    from rosetta_cl.config.options import RunConfig
    from rosetta_cl.experiments.tune import parse_grid
    from rosetta_cl.experiments.tune import tune as run_tune

    values, _ = _config_values(ctx, options)
    benchmark = _data_file_target(benchmark, values)
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
    if result.parent_run_id:
        click.echo(f"MLflow tune run: {result.parent_run_id}; use it with\n  "
                   f"rosetta-cl run {command} --from-tune {result.parent_run_id}")


@cli.group(cls=FullHelpGroup)
def anchors():
    """Portable anchor files (.rosetta): select, inspect, merge."""


@anchors.command("select")
@click.option("--model", "model_ref", required=True, metavar="RUN_ID|DIR",
              help="An MLflow run of ours with a `model` artifact (a protocol run's id means "
                   "its template), or a model directory.")
@click.option("--benchmark", default=None, help="Select from this benchmark's training part.")
@click.option("--part", default="D1", show_default=True, help="Which part of the benchmark.")
@click.option("--data", "data_file", default=None, metavar="FILE",
              help="Select from your own inputs: .npy, or .npz with an array x.")
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
def anchors_select(model_ref, benchmark, part, data_file, k, selection, seed, subsample,
                   data_dir, output, force, tracking_uri):
    """Select Rosetta points with a trained model and write them to a .rosetta file."""
    from rosetta_cl.anchors.rosetta_file import check_fits, select_anchor_file, write_anchor_file
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

        x = read_user_arrays(data_file)
        source = {"data": Path(data_file).name}
    else:
        from rosetta_cl.data.tensors import dataset_tensors
        from rosetta_cl.registry import BENCHMARKS

        if benchmark not in BENCHMARKS:
            raise ConfigError(f"unknown benchmark {benchmark!r}: allowed {', '.join(BENCHMARKS)}")
        bench = BENCHMARKS[benchmark].make(seed, subsample=subsample, data_dir=data_dir)
        if part not in bench.parts:
            raise ConfigError(f"part {part!r}: allowed {', '.join(bench.parts)}")
        x, _ = dataset_tensors(bench.train_stream[bench.parts.index(part)].dataset)
        source = {"benchmark": benchmark, "part": part, "split_seed": seed,
                  "subsample": subsample}
    check_fits_model(model, x)
    anchor_file = select_anchor_file(model, x, k, seed=seed, method=selection, source=source)
    check_fits(anchor_file, model.config.input_dim, model.config.latent_dim, "the model")
    path = write_anchor_file(anchor_file, output)
    if run_id:
        log_artifact(open_client(tracking_uri), run_id, path, "anchor_files")
        if run_id != model_ref:
            click.echo(f"model: the template run {run_id} of protocol run {model_ref}")
    click.echo(f"wrote {path}: {plural(anchor_file.k, 'anchor')}, latent dim {anchor_file.latent_dim}, "
               f"input shape {anchor_file.input_shape}, checksum {anchor_file.checksum[:12]}")


def check_fits_model(model, x) -> None:
    width = int(np.prod(x.shape[1:]))
    if width != model.config.input_dim:
        raise ConfigError(f"data of shape {tuple(x.shape[1:])} ({width} inputs) does not fit the "
                          f"model ({model.config.input_dim} inputs)")


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
    click.echo(f"{file}: {plural(summary['k'], 'anchor')}, latent dim {summary['latent_dim']}, input "
               f"shape {tuple(summary['input_shape'])}, format v{summary['format_version']}")
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
@click.argument("dataset", type=click.Choice(["birdsong", "chairs"]))
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--size", type=click.IntRange(min=2), default=None,
              help="Birds (default 4) or chairs (default 16).")
@click.option("--seed", type=int, default=0, show_default=True)
def demo_data(dataset, directory, size, seed):
    """Write small synthetic data in the real formats (AVA syllable files; the 3D Chairs layout),
    to run the birdsong and chairs streams without the real data: not results."""
    from rosetta_cl.data.demo import write_birdsong_demo, write_chairs_demo

    target = Path(directory)
    if target.exists() and any(target.iterdir()):
        raise ConfigError(f"demo-data: {target} exists and is not empty; give a new folder")
    if dataset == "birdsong":
        write_birdsong_demo(target, birds=size or 4, seed=seed)
    else:
        write_chairs_demo(target, chairs=size or 16, seed=seed)
    click.echo(f"wrote demo {dataset} data to {target}; run: rosetta-cl run {dataset} "
               f"--data-dir {target} --quick")


@cli.command()
@click.argument("target", metavar="EXPERIMENT|RUN_ID")
@click.option("-o", "--output", default=None, metavar="DIR",
              help="Folder for report.html, report.md and figures/ (default report-TARGET).")
@click.option("--tracking-uri", default=None,
              help="MLflow store or server (default: $MLFLOW_TRACKING_URI or "
                   "sqlite:///mlruns/mlflow.db).")
@click.option("--figures", "projection", default="auto", show_default=True,
              help="2-D view for figures a run does not have yet: auto | identity | pca | umap")
@click.option("--no-log", is_flag=True, help="Do not log the report back to the runs.")
def report(target, output, tracking_uri, projection, no_log):
    """Build an HTML + Markdown report of an experiment's runs (or one run) from MLflow: the
    tables, the figures, the configs and links to the runs; logged back to the runs."""
    from rosetta_cl.reporting.embedding import PROJECTIONS
    from rosetta_cl.reporting.report import build_report

    if projection not in PROJECTIONS:
        raise ConfigError(f"figures {projection!r}: allowed {', '.join(PROJECTIONS)}")
    path = build_report(target, output or f"report-{target}", tracking_uri=tracking_uri,
                        projection=projection, log=not no_log)
    click.echo(f"report: {path} (and report.md, figures/ beside it)")


@cli.group(cls=FullHelpGroup)
def runs():
    """Housekeeping of the MLflow store."""


@runs.command("clean")
@click.argument("experiment", required=False)
@click.option("--tracking-uri", default=None,
              help="MLflow store or server (default: $MLFLOW_TRACKING_URI or "
                   "sqlite:///mlruns/mlflow.db).")
def runs_clean(experiment, tracking_uri):
    """Mark KILLED the runs left RUNNING by a process that is gone (killed, crashed, machine
    lost), in EXPERIMENT or in every experiment. A run still running is never touched: on this
    host its pid is checked, from another host its heartbeat (stale after 10 minutes).
    `rosetta-cl run` does this for its own experiment when it starts."""
    from rosetta_cl.tracking.liveness import clean_runs
    from rosetta_cl.tracking.store import open_client

    client = open_client(tracking_uri)
    if experiment is None:
        ids = [e.experiment_id for e in client.search_experiments()]
    else:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            names = sorted(e.name for e in client.search_experiments())
            raise ConfigError(f"experiment {experiment!r} not in {client.tracking_uri}: allowed "
                              f"{', '.join(names) or '(none yet)'}")
        ids = [found.experiment_id]
    cleaned = clean_runs(client, ids) if ids else []
    for run_id, why in cleaned:
        click.echo(f"KILLED {run_id}: {why}")
    click.echo(f"{plural(len(cleaned), 'run')} marked KILLED in {experiment or 'all experiments'}")


@cli.command()
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; one other than loopback needs --auth.")
@click.option("--auth", is_flag=True,
              help="MLflow's basic-auth app: every request needs a user and password (users in "
                   "auth.db beside the store). The admin password comes from "
                   "$MLFLOW_AUTH_ADMIN_PASSWORD or --admin-password-file, never the command line.")
@click.option("--admin-password-file", default=None, metavar="FILE",
              help="File holding the admin password (first line), used when auth.db is created.")
@click.option("--default-permission", default="EDIT", show_default=True,
              help="What every signed-in user may do to experiments others created: "
                   "READ | EDIT | MANAGE | NO_PERMISSIONS.")
@click.option("--tracking-uri", default=None,
              help="MLflow store (default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db).")
def ui(port, host, auth, admin_password_file, default_permission, tracking_uri):
    """Start the MLflow UI (and tracking server) over the rosetta-cl store: on 127.0.0.1 for
    one user, or with --auth on a lab's network (README: "Share one store in a lab")."""
    from rosetta_cl.tracking.server import server_command
    from rosetta_cl.tracking.store import check_store, resolve_tracking_uri

    if not 1 <= port <= 65535:
        raise ConfigError(f"port {port}: allowed 1-65535")
    uri = resolve_tracking_uri(tracking_uri)
    args, env = server_command(uri, host, port, auth, admin_password_file, default_permission)
    check_store(uri)  # creates a fresh SQLite store once, before the server's workers start
    scheme = "with basic auth" if auth else "no authentication: this machine only"
    click.echo(f"MLflow UI at http://{host}:{port} over {uri} ({scheme})", err=True)
    os.environ.update(env)
    os.execv(sys.executable, args)


def main(argv=None) -> None:
    """Console entry point: user errors, a failing disk or store print one line and exit 2,
    without a traceback; SIGINT / SIGTERM end the open runs as KILLED and exit 130 / 143."""
    from rosetta_cl.tracking.interrupts import handling_signals

    # the store's own log: INFO lines when it creates tables, and a traceback before it raises
    # an error that we then print in one line
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    with handling_signals():
        code = _run_cli(argv)
    sys.exit(code)


def _run_cli(argv) -> int:
    from rosetta_cl.tracking.interrupts import EXIT_CODES, INTERRUPTS, signal_name

    try:
        code = cli.main(args=argv, prog_name="rosetta-cl", standalone_mode=False)
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        return 2
    except INTERRUPTS as exc:
        click.echo(f"Interrupted ({signal_name(exc)}): open runs were marked KILLED; "
                   "`rosetta-cl run ... --resume` finishes them", err=True)
        return EXIT_CODES[type(exc)]
    except click.exceptions.Abort:
        click.echo("Interrupted (SIGINT): open runs were marked KILLED", err=True)
        return EXIT_CODES[KeyboardInterrupt]
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        return exc.exit_code
    except OSError as exc:  # the disk or a folder, not the code: full, read-only, deleted
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(f"Error: cannot write or read{where}: {exc.strerror or exc} (open runs were "
                   "marked FAILED where the store could still be written)", err=True)
        return 2
    except Exception as exc:
        if not _store_error(exc):
            raise
        from rosetta_cl.tracking.store import first_line

        click.echo(f"Error: the MLflow store failed: {first_line(exc)} (deleted, full or locked?"
                   " open runs were marked FAILED where it could still be written)", err=True)
        return 2
    return code if isinstance(code, int) else 0


def _store_error(exc: BaseException) -> bool:
    """An error of the tracking store (MLflow, or its database under it)."""
    return any(c.__module__.split(".")[0] in ("mlflow", "sqlalchemy", "sqlite3")
               for c in type(exc).__mro__)


if __name__ == "__main__":
    main()
