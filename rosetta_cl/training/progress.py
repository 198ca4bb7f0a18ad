"""Progress on stderr: one bar over every training of a run, spec or tune grid, one over the
epochs of each training (silent when stderr is not a terminal)."""

from __future__ import annotations

from avalanche.core import SupervisedPlugin
from tqdm.auto import tqdm

from rosetta_cl.config.options import RunConfig, filled


class GridBar:
    """One progress bar over every training of a run, spec or tune grid (trainings done /
    total, ETA) on stderr, shown only when ``show`` and stderr is a terminal. Passed to a
    protocol as its ``progress``."""

    def __init__(self, total: int, show: bool):
        self.show, self.total, self.done = bool(show), total, 0
        self.bar = tqdm(total=total, desc="trainings", unit="training", smoothing=0,
                        disable=None if self.show else True)

    def update(self, n: int = 1) -> None:
        self.done += n
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


def planned_trainings(config: RunConfig, n_parts: int) -> int:
    """How many models a protocol run trains: the template (none with ``--anchors`` or in the
    continual protocol), its targets, and every method x seed."""
    template = 0 if config.anchors or config.protocol == "continual" else 1
    targets = {"sequential": 1, "continual": n_parts - 1}.get(config.protocol, 0)
    return template + targets + len(config.methods) * filled(config.seeds)


class EpochBar(SupervisedPlugin):
    """A tqdm bar over epochs (silent when stderr is not a terminal)."""

    def __init__(self, description: str, show: bool):
        super().__init__()
        self.description, self.show, self.bar = description, show, None

    def before_training_exp(self, strategy, **kwargs):
        self.bar = tqdm(total=strategy.train_epochs, desc=self.description, leave=False,
                        disable=None if self.show else True)

    def after_training_epoch(self, strategy, **kwargs):
        self.bar.update()

    def after_training_exp(self, strategy, **kwargs):
        self.bar.close()
