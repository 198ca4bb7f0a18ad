"""Per-epoch training metrics as an Avalanche ``PluginMetric``: mean loss, reconstruction, KL and
Rosetta term over the epoch, plus validation loss. Sums stay on the device during the epoch
(no per-step ``.item()``), one host sync per epoch.
"""

from __future__ import annotations

import time
from functools import partial

import torch
from avalanche.evaluation import PluginMetric
from avalanche.evaluation.metric_results import MetricValue
from avalanche.logging import BaseLogger
from avalanche.training.plugins import EvaluationPlugin

from rosetta_cl.models.losses import negative_elbo


class EpochLossMetrics(PluginMetric):
    """Avalanche metric emitting the loss terms of each training epoch (x = global epoch).

    It emits ``train/loss``, ``train/recon``, ``train/kl``, ``train/rosetta`` (with a
    :class:`RosettaPlugin`) and, with validation data, ``val/loss``, ``val/recon``, ``val/kl``.

    Parameters
    ----------
    val_x : torch.Tensor, optional
        Validation inputs.
    val_batch_size : int, default 8192
        Rows per validation batch.

    Examples
    --------
    >>> from avalanche.training.plugins import EvaluationPlugin
    >>> from rosetta_cl import VAE, EpochLossMetrics, MetricHistory, ModelConfig, VAEStrategy
    >>> from rosetta_cl import gaussians8
    >>> bench = gaussians8(subsample=200)
    >>> history = MetricHistory()
    >>> evaluator = EvaluationPlugin(EpochLossMetrics(), loggers=[history])
    >>> strategy = VAEStrategy(model=VAE(ModelConfig(input_dim=bench.input_dim)),
    ...                        evaluator=evaluator)
    >>> _ = strategy.train(bench.train_stream[0])
    >>> sorted(history.values)
    ['train/kl', 'train/loss', 'train/recon']
    """

    def __init__(self, val_x: torch.Tensor | None = None, val_batch_size: int = 8192):
        super().__init__()
        self.val_x = val_x
        self.val_batch_size = val_batch_size
        self.epoch = 0
        self.reset()

    def reset(self):
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0

    def result(self):
        return {k: float(v) / max(self._count, 1) for k, v in self._sums.items()}

    def before_training_epoch(self, strategy):
        self.reset()

    def after_training_iteration(self, strategy):
        n = strategy.mb_x.shape[0]
        # rosetta-cl strategies expose the ELBO terms; stock Avalanche strategies only the loss
        parts = {"loss": strategy.loss.detach().reshape(()), **getattr(strategy, "loss_parts", {})}
        for key, value in parts.items():
            value = value * n
            self._sums[key] = self._sums[key] + value if key in self._sums else value
        self._count += n

    def after_training_epoch(self, strategy):
        keys = list(self._sums)
        values = torch.stack([self._sums[k] for k in keys]).div(self._count).tolist()
        results = {f"train/{k}": v for k, v in zip(keys, values, strict=True)}
        if self.val_x is not None:
            results.update(validation_loss(strategy, self.val_x, self.val_batch_size))
        self.epoch += 1
        return [MetricValue(self, name, value, self.epoch) for name, value in results.items()]


@torch.inference_mode()
def validation_loss(strategy, x: torch.Tensor, batch_size: int) -> dict[str, float]:
    """Negative ELBO (with the strategy's beta, 1 for stock strategies) on held-out data."""
    model = strategy.model
    was_training = model.training
    model.eval()
    totals = torch.zeros(3, device=strategy.device)
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(strategy.device)
        parts = negative_elbo(model(xb), getattr(strategy, "beta", 1.0))
        totals += torch.stack([parts.loss, parts.recon, parts.kl]) * len(xb)
    model.train(was_training)
    loss, recon, kl = (totals / len(x)).tolist()
    return {"val/loss": loss, "val/recon": recon, "val/kl": kl}


class LeanEvaluationPlugin(EvaluationPlugin):
    """Avalanche's EvaluationPlugin, minus its work on callbacks nobody listens to.

    Avalanche's version answers every ``before_*``/``after_*`` attribute (through a Python
    ``__getattribute__`` that runs on *every* attribute access) and, on each of the ~8
    callbacks of every training iteration, wraps the experience for logging, asks every metric
    (a ``PluginMetric`` has a no-op for every callback) and hands every logger the empty list of
    new values. Here a callback exists only when a metric overrides it or a logger has it;
    those run Avalanche's code path unchanged (``benchmarks/perf/loop_overhead.py``).

    Parameters
    ----------
    *metrics
        Avalanche metrics (e.g. :class:`EpochLossMetrics`).
    **kwargs
        As Avalanche's ``EvaluationPlugin`` (``loggers``, ...).

    Examples
    --------
    >>> from rosetta_cl import EpochLossMetrics, LeanEvaluationPlugin, MetricHistory
    >>> evaluator = LeanEvaluationPlugin(EpochLossMetrics(), loggers=[MetricHistory()])
    >>> hasattr(evaluator, "after_training_epoch"), hasattr(evaluator, "before_forward")
    (True, False)
    """

    __getattribute__ = object.__getattribute__

    def __init__(self, *metrics, **kwargs):
        self._needed: dict[str, bool] = {}
        super().__init__(*metrics, **kwargs)

    def __getattr__(self, item):  # only reached when normal lookup fails
        if item.startswith(("before_", "after_")) and self._needs(item):
            return partial(self._callback, item)
        raise AttributeError(item)

    def _needs(self, callback: str) -> bool:
        if callback not in self._needed:
            self._needed[callback] = (
                any(getattr(type(m), callback, None) is not getattr(PluginMetric, callback, None)
                    for m in self.metrics)
                or any(hasattr(logger, callback) for logger in self.loggers))
        return self._needed[callback]

    def _callback(self, callback: str, strategy, **kwargs):
        return self._update_metrics_and_loggers(strategy, callback)


class MetricHistory(BaseLogger):
    """Avalanche logger keeping every scalar value in memory.

    ``values[name]`` lists a metric's values in logging order (per-epoch metrics: epoch e at
    index e - 1), like ``EnsembleRun.history``; ``times`` holds the wall-clock time the longest
    of them got each value (epoch e's end).

    Examples
    --------
    >>> from rosetta_cl import VAE, MetricHistory, ModelConfig, VAEStrategy, gaussians8
    >>> bench = gaussians8(subsample=200)
    >>> history = MetricHistory()
    >>> strategy = VAEStrategy(model=VAE(ModelConfig(input_dim=bench.input_dim)), train_epochs=3,
    ...                        loggers=[history])
    >>> _ = strategy.train(bench.train_stream[0])
    >>> len(history.values["train/kl"]), len(history.times)
    (3, 3)
    """

    def __init__(self):
        super().__init__()
        self.values: dict[str, list[float]] = {}
        self.times: list[float] = []

    def log_single_metric(self, name, value, x_plot):
        values = self.values.setdefault(name, [])
        values.append(value)
        if len(values) > len(self.times):
            self.times.append(time.time())
