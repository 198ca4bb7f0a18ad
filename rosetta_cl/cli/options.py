"""The options ``run`` and ``tune`` share, generated from the ``RunConfig`` fields (their
defaults, help and choices written once, in ``config``), and how their values are read back."""

from __future__ import annotations

import click

from rosetta_cl.cli.group import ANCHOR_OPTIONS, OPTION_GROUP


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
        elif f.name == "epochs":  # a number, or "plateau" (the config's epochs_rule)
            kwargs.update(type=EPOCHS, metavar=meta.get("metavar"))
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


class EpochsType(click.ParamType):
    """``--epochs N`` (an integer) or ``--epochs plateau``."""

    name = "epochs"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "plateau":
            return value
        try:
            return int(value)
        except ValueError:
            self.fail(f"{value!r}: allowed an integer or plateau", param, ctx)


EPOCHS = EpochsType()


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
    if values.get("epochs") == "plateau":  # the rule picks the number (training.plateau)
        values["epochs"], values["epochs_rule"] = None, "plateau"
    explicit = {k: v for k, v in values.items()
                if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE}
    if "epochs" in explicit:
        explicit["epochs_rule"] = values.get("epochs_rule", "fixed")
    return values, explicit
