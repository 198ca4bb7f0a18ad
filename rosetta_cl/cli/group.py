"""The ``rosetta-cl`` group and the help layout of its commands: command lists that show each
command's first sentence whole, and ``run`` / ``tune`` options in sections."""

from __future__ import annotations

import click


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
