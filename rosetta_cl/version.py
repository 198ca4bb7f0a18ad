"""The package version, in one place: pyproject.toml reads it (``dynamic``), CITATION.cff repeats
it (a test keeps them equal); a module of its own so that anything may read it without
importing the package's public API."""

__version__ = "0.1.0"
