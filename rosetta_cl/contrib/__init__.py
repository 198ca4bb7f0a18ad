"""The Avalanche plugins shipped with rosetta-cl (``--plugin ewc``, ``si``, ``lwf``, ``replay``,
``generative_replay``), each adapted to VAEs (each module's docstring says how).

They are registered by :func:`register`, rosetta-cl's own entry point (``rosetta_cl.plugins``
in pyproject.toml), so they are there wherever the package is installed; ``rosetta-cl plugins``
lists them with that source. The repository's ``plugins/`` folder is for local plugins.
"""

from importlib import import_module

from rosetta_cl.registry import PLUGINS, PluginSpec, register_plugin


def _lazy(module: str):
    """The ``make`` of ``rosetta_cl.contrib.<module>``, imported when a plugin is first made
    (the plugins subclass Avalanche's, which `rosetta-cl --help` should not have to import)."""

    def make(**options):
        return import_module(f"{__name__}.{module}").make(**options)

    return make


SHIPPED = (
    PluginSpec("ewc", _lazy("ewc"), "avalanche EWC with the VAE's negative ELBO for the Fisher "
               "importances", {"ewc_lambda": 100.0, "mode": "separate", "decay_factor": 0.0},
               limits={"ewc_lambda": ">= 0", "mode": "separate | online",
                       "decay_factor": ">= 0"}, needs_earlier=True, needs_no_reinit=True),
    PluginSpec("si", _lazy("si"), "avalanche Synaptic Intelligence (path-integral importances "
               "of the VAE's loss)", {"si_lambda": 100.0, "eps": 1e-7},
               limits={"si_lambda": ">= 0", "eps": "> 0"}, needs_earlier=True,
               needs_no_reinit=True),
    PluginSpec("lwf", _lazy("lwf"), "LwF distilling the previous model's latent means",
               {"alpha": 1.0}, limits={"alpha": ">= 0"}, needs_earlier=True),
    PluginSpec("replay", _lazy("replay"), "replay of stored x with their stored latent means as "
               "distillation targets", {"mem_size": 200, "alpha": 1.0, "seed": 0},
               limits={"mem_size": ">= 1", "alpha": ">= 0"}, needs_earlier=True),
    PluginSpec("generative_replay", _lazy("generative_replay"), "replay of the previous VAE's "
               "samples (decoded prior draws) with the VAE's loss",
               {"replay_size": 0, "weight": 1.0, "alpha": 0.0, "seed": 0},
               limits={"replay_size": ">= 0", "weight": ">= 0", "alpha": ">= 0"},
               needs_earlier=True),
)


def register() -> None:
    """Register every shipped plugin not registered yet."""
    for spec in SHIPPED:
        if spec.name not in PLUGINS:
            register_plugin(spec)
