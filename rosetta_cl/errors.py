"""The one exception type for mistakes a user can fix (bad options, bad files, bad URIs)."""


class ConfigError(ValueError):
    """A user error: the CLI prints its message on one line and exits with status 2."""
