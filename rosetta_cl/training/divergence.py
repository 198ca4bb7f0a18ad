"""Training that diverged (a NaN or infinite loss or latent mean) stops with a one-line error
naming the training and the epoch, instead of failing later in FAISS or the metrics."""

from __future__ import annotations

import math

from avalanche.core import SupervisedPlugin

from rosetta_cl.errors import DivergenceError


def diverged(name: str, epoch: int, what: str, value, lr: float) -> DivergenceError:
    return DivergenceError(f"training diverged: {name}, epoch {epoch}: {what} is {value}; "
                           f"allowed: finite values (lower --lr, now {lr:g}, or check the data)")


class DivergenceGuard(SupervisedPlugin):
    """Checks the epoch's last minibatch loss after every epoch (one host sync per epoch): a NaN
    or infinite loss is where every later loss stays once the weights are NaN."""

    def __init__(self, name: str, lr: float):
        super().__init__()
        self.name, self.lr, self.epoch = name, lr, 0

    def after_training_epoch(self, strategy, **kwargs):
        self.epoch += 1
        loss = float(strategy.loss.detach())
        if not math.isfinite(loss):
            raise diverged(self.name, self.epoch, "the loss", loss, self.lr)


def check_history(name: str, history: dict[str, list[float]], lr: float) -> None:
    """The first epoch whose train loss is not finite (the ensemble path logs every epoch's)."""
    for epoch, loss in enumerate(history.get("train/loss", []), start=1):
        if not math.isfinite(loss):
            raise diverged(name, epoch, "the loss", loss, lr)


def check_latents(name: str, epochs: int, latents: dict, lr: float) -> None:
    """Latent means of every validation part must be finite (FAISS and the metrics need it)."""
    import numpy as np

    for key, mu in latents.items():
        bad = int(np.size(mu) - np.isfinite(mu).sum())
        if bad:
            raise diverged(name, epochs, f"{bad} latent means of {key[len('mu_'):]}",
                           "NaN or infinite", lr)
