"""The Avalanche plugins shipped with rosetta-cl (``--plugin ewc``, ``si``, ``lwf``, ``replay``,
``generative_replay``), each adapted to VAEs (each module's docstring says how).

They are registered by :func:`register`, rosetta-cl's own entry point (``rosetta_cl.plugins``
in pyproject.toml), so they are there wherever the package is installed; ``rosetta-cl plugins``
lists them with that source. The repository's ``plugins/`` folder is for local plugins.
"""

from ..registry import PLUGINS, register_plugin
from . import ewc, generative_replay, lwf, replay, si

SHIPPED = (ewc.SPEC, si.SPEC, lwf.SPEC, replay.SPEC, generative_replay.SPEC)


def register() -> None:
    """Register every shipped plugin not registered yet."""
    for spec in SHIPPED:
        if spec.name not in PLUGINS:
            register_plugin(spec)
