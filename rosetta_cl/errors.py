"""The one exception type for mistakes a user can fix (bad options, bad files, bad URIs)."""


class ConfigError(ValueError):
    """A user error: the CLI prints its message on one line and exits with status 2."""


class DivergenceError(ConfigError):
    """A training's loss or latents became NaN or infinite (``training.divergence`` raises it;
    the tracking writer names the MLflow run that holds the failed training)."""
