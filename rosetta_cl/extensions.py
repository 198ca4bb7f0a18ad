"""Finding extensions: installed packages (entry-point group ``rosetta_cl.plugins``) and Python
files in a local plugins folder. Both register methods, benchmarks, Avalanche plugins or metrics
through :mod:`rosetta_cl.registry` (``register_method``, ``register_benchmark``,
``register_plugin``, ``register_metric``) and protocols through :mod:`rosetta_cl.protocols`
(``register_protocol``).

- An entry point names a callable (``module:function``) or a module; the callable is called
  with no arguments, a module is imported; either registers what it brings.
- The plugins folder is ``--plugins-dir``, else ``$ROSETTA_CL_PLUGINS_DIR``, else ``./plugins``
  when it exists. Every ``*.py`` file in it (not starting with ``_``) is imported once.

Any failure (an import error, a name clash) is a :class:`ConfigError` naming the file or the
entry point. ``rosetta-cl plugins`` lists what was found and where it came from.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from rosetta_cl import registry
from rosetta_cl.errors import ConfigError
from rosetta_cl.protocols import PROTOCOLS

GROUP = "rosetta_cl.plugins"
_loaded: set[str] = set()


def plugins_dir(explicit: str | None = None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_dir():
            raise ConfigError(f"plugins dir {explicit} is not a directory")
        return path
    env = os.environ.get("ROSETTA_CL_PLUGINS_DIR")
    if env:
        return plugins_dir(env)
    local = Path("plugins")
    return local if local.is_dir() else None


def _tables() -> tuple[dict, ...]:
    return (registry.METHODS, registry.BENCHMARKS, registry.PLUGINS, registry.METRICS, PROTOCOLS)


def _registered_since(before: dict[int, set], source: str) -> None:
    """Stamp specs registered by ``source`` that do not name where they came from."""
    for table in _tables():
        for name in set(table) - before[id(table)]:
            spec = table[name]
            if getattr(spec, "source", source) == "built-in":
                table[name] = type(spec)(**{**vars(spec), "source": source})


def _run(source: str, action) -> None:
    if source in _loaded:
        return
    before = {id(t): set(t) for t in _tables()}
    try:
        action()
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001  (a broken plugin is the user's error, named)
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ConfigError(f"plugin {source} failed to load: {type(exc).__name__}: "
                          f"{reason}") from None
    _loaded.add(source)
    _registered_since(before, source)


def load_file(path: Path) -> None:
    def action():
        name = f"rosetta_cl_local_plugins.{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)

    _run(str(path), action)


def load_entry_point(ep) -> None:
    def action():
        target = ep.load()
        if callable(target):
            target()

    _run(f"entry point {ep.name} ({ep.value})", action)


def load_extensions(directory: str | None = None) -> None:
    """Load installed plugins, then the local folder's files (idempotent)."""
    for ep in entry_points(group=GROUP):
        load_entry_point(ep)
    folder = plugins_dir(directory)
    if folder is not None:
        for path in sorted(folder.glob("*.py")):
            if not path.name.startswith("_"):
                load_file(path.resolve())
