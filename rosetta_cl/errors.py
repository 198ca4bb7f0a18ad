"""The one exception type for mistakes a user can fix (bad options, bad files, bad URIs)."""


class ConfigError(ValueError):
    """A mistake the user can fix: a bad option, file or URI.

    The CLI prints its message on one line and exits with status 2; the message names the bad
    value and what is allowed.

    Examples
    --------
    >>> from rosetta_cl import ConfigError, RunConfig, run_benchmark
    >>> try:
    ...     run_benchmark(RunConfig(epochs=0), track=False)
    ... except ConfigError as error:
    ...     print(error)
    epochs 0: must be >= 1
    """


class DivergenceError(ConfigError):
    """A training's loss or latents became NaN or infinite.

    ``training.divergence`` raises it; the tracking writer names the MLflow run that holds the
    failed training. It is a :class:`ConfigError`: a smaller learning rate or another seed is the
    usual fix.

    Examples
    --------
    >>> from rosetta_cl import ConfigError, DivergenceError
    >>> issubclass(DivergenceError, ConfigError)
    True
    """
