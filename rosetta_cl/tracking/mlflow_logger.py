"""An Avalanche logger that writes to MLflow (Avalanche ships none)."""

from __future__ import annotations

import time

from avalanche.logging import BaseLogger

from rosetta_cl.tracking.store import retry_locked


class MLflowLogger(BaseLogger):
    """Avalanche logger writing every scalar metric value to an MLflow run.

    Values are buffered and sent with ``log_batch`` at the end of each training experience (and
    on :meth:`flush`), so per-epoch metrics cost one request per experience, not one per value.

    Parameters
    ----------
    run_id : str, optional
        The run to log to (None: the active run; there must be one).
    client : mlflow.MlflowClient, optional
        The client to log with (None: a client of the current tracking URI).

    Examples
    --------
    >>> from pathlib import Path
    >>> import mlflow
    >>> from rosetta_cl import VAE, MLflowLogger, ModelConfig, VAEStrategy, gaussians8
    >>> client = mlflow.MlflowClient(f"sqlite:///{Path('mlruns.db').resolve()}")
    >>> run = client.create_run(client.create_experiment("demo"))
    >>> bench = gaussians8(subsample=200)
    >>> strategy = VAEStrategy(model=VAE(ModelConfig(input_dim=bench.input_dim)), train_epochs=2,
    ...                        loggers=[MLflowLogger(run.info.run_id, client)])
    >>> _ = strategy.train(bench.train_stream[0])
    >>> [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")]
    [1, 2]
    """

    def __init__(self, run_id: str | None = None, client=None):
        super().__init__()
        import mlflow
        from mlflow.tracking import MlflowClient

        if run_id is None:
            active = mlflow.active_run()
            if active is None:
                raise RuntimeError("MLflowLogger needs run_id or an active MLflow run")
            run_id = active.info.run_id
        self.run_id = run_id
        self.client = client or MlflowClient()
        self._buffer: list = []

    def log_single_metric(self, name, value, x_plot, timestamp: float | None = None):
        """``timestamp``: when the value was measured (``time.time()``; default now)."""
        from mlflow.entities import Metric

        if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
            value = value.item()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            when = time.time() if timestamp is None else timestamp
            self._buffer.append(Metric(name, float(value), int(when * 1000), int(x_plot)))

    def flush(self) -> None:
        while self._buffer:
            chunk, self._buffer = self._buffer[:1000], self._buffer[1000:]
            retry_locked(self.client.log_batch, self.run_id, metrics=chunk, synchronous=True)

    def after_training_exp(self, strategy, metric_values, **kwargs):
        self.flush()

    def after_training(self, strategy, metric_values, **kwargs):
        self.flush()
