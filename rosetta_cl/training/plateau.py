"""The paper's stopping rule (appendix B): "letting joint data models train until loss plateaued
and then using that same number of epochs for each of the second-phase comparison models".

Our reading, stated before it was measured (issue 36): the joint model (a VAE on every part's
training data, the protocol's target, seeded like it) trains for at most ``MAX_EPOCHS`` epochs
while its validation negative ELBO (every part's validation points) is recorded after each
epoch; it has **plateaued at epoch E**, the first E > ``WINDOW``, when the best loss of epochs
E - WINDOW + 1 .. E improves on the best loss of epochs 1 .. E - WINDOW by less than
``TOLERANCE`` of the latter's size. E epochs are then used for the template, the target and
every compared model. Never plateaued: ``MAX_EPOCHS``, and the output says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from avalanche.core import SupervisedPlugin

from rosetta_cl.config.options import RunConfig, filled
from rosetta_cl.config.threads import intra_op_threads
from rosetta_cl.methods.epoch_metrics import MetricHistory
from rosetta_cl.models.vae import VAE
from rosetta_cl.registry import METHODS

WINDOW = 10  # epochs over which an improvement must show
TOLERANCE = 1e-3  # relative improvement below which the loss has plateaued (0.1%)
MAX_EPOCHS = 1000  # the joint model's cap
RULE = (f"the joint model's validation loss improved by less than {TOLERANCE:.1%} over "
        f"{WINDOW} epochs (at most {MAX_EPOCHS})")


def plateau_epoch(losses: list[float], window: int = WINDOW,
                  tolerance: float = TOLERANCE) -> int | None:
    """The first epoch E (1-based) at which the loss has plateaued by the rule above, or None.

    Examples
    --------
    >>> losses = [10.0, 8.0, 7.0, 6.5, 6.4] + [6.399] * 10
    >>> plateau_epoch(losses, window=3)  # epochs 4-6 improve on epochs 1-3, 6-8 not on 1-5
    8
    >>> plateau_epoch([10.0, 9.0, 8.0], window=3) is None
    True
    """
    for end in range(window + 1, len(losses) + 1):
        before = min(losses[:end - window])
        recent = min(losses[end - window:end])
        if before - recent < tolerance * abs(before):
            return end
    return None


@dataclass
class Plateau:
    """What the rule found: the epochs chosen, whether the loss plateaued (else the cap), and
    the joint model's validation loss per epoch."""

    epochs: int
    plateaued: bool
    losses: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"rule": RULE, "epochs": self.epochs, "plateaued": self.plateaued,
                "window": WINDOW, "tolerance": TOLERANCE, "max_epochs": MAX_EPOCHS,
                "val_loss": [round(v, 6) for v in self.losses]}


class StopAtPlateau(SupervisedPlugin):
    """Ends the training once the validation loss ``history`` holds has plateaued."""

    def __init__(self, history: MetricHistory, window: int = WINDOW, tolerance: float = TOLERANCE):
        super().__init__()
        self.history, self.window, self.tolerance = history, window, tolerance
        self.epoch: int | None = None

    def after_training_epoch(self, strategy, **kwargs):
        self.epoch = plateau_epoch(self.history.values.get("val/loss", []), self.window,
                                   self.tolerance)
        if self.epoch is not None:
            strategy.stop_training()


def find_plateau(trainer, max_epochs: int = MAX_EPOCHS) -> Plateau:
    """Train ``trainer``'s joint model (its target's data, seed and architecture) until the
    rule fires or ``max_epochs``; nothing is logged."""
    config = trainer.config
    with intra_op_threads(filled(config.threads)):
        torch.manual_seed(config.seed)
        model = VAE(trainer.model_configs["target"]).to(trainer.device)
        history = MetricHistory()
        stop = StopAtPlateau(history)
        strategy = METHODS["vae"].make(
            model, config, None, lr=config.lr, train_mb_size=config.batch_size,
            train_epochs=max_epochs, device=trainer.device, seed=config.seed,
            loggers=[history], val_x=torch.cat(trainer.valid_x), plugins=[stop])
        strategy.train(trainer.bench.joint_stream[0])
    losses = history.values.get("val/loss", [])
    if stop.epoch is None:
        return Plateau(max_epochs, False, losses)
    return Plateau(stop.epoch, True, losses)


def with_plateau_epochs(config: RunConfig, bench) -> tuple[RunConfig, Plateau | None]:
    """``config`` with the epochs the rule picks (``config.epochs_rule == "plateau"``), else
    as it is."""
    if config.epochs_rule != "plateau":
        return config, None
    from rosetta_cl.training.trainer import Trainer

    found = find_plateau(Trainer(bench, config))
    return replace(config, epochs=found.epochs), found
