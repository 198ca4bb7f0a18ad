"""Progress on stderr: one bar over every training of a run, spec or tune grid (a line per
finished training when stderr is not a terminal), one over the epochs of each training
(terminals only)."""

from __future__ import annotations

import sys
import time

from avalanche.core import SupervisedPlugin
from tqdm.auto import tqdm

from rosetta_cl.config.options import RunConfig, filled


class GridBar:
    """One progress bar over every training of a run, spec or tune grid (trainings done /
    total, ETA) on stderr when ``show``. Passed to a protocol as its ``progress``.

    On a terminal it is a tqdm bar; otherwise (``nohup``, CI, Ray's logs) one line per finished
    training: its name, its seconds (since the previous one finished), trainings left and the
    estimated time left (the mean so far times those left).
    """

    def __init__(self, total: int, show: bool):
        self.show, self.total, self.done = bool(show), total, 0
        self.bar = tqdm(total=total, desc="trainings", unit="training", smoothing=0,
                        disable=None if self.show else True)
        self.log = self.show and not sys.stderr.isatty()
        self.started = self.last = time.perf_counter()

    def update(self, n: int = 1, name: str | None = None) -> None:
        self.done += n
        self.bar.update(n)
        if self.log:
            now = time.perf_counter()
            seconds, self.last = now - self.last, now
            left = max(self.total - self.done, 0)
            eta = (now - self.started) / self.done * left
            print(f"trained {name or plural(n)} in {seconds:.1f} s: {self.done}/{self.total}, "
                  f"{left} left, ~{eta:.0f} s to go", file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()


def plural(n: int) -> str:
    return f"{n} model" + ("s" if n != 1 else "")


def planned_trainings(config: RunConfig, n_parts: int) -> int:
    """How many models a protocol run trains: the template (none with ``--anchors`` or in the
    continual protocol), its targets, and every method x seed."""
    template = 0 if config.anchors or config.protocol == "continual" else 1
    targets = {"sequential": 1, "continual": n_parts - 1}.get(config.protocol, 0)
    per_template = template + targets + len(config.methods) * filled(config.seeds)
    return per_template * filled(config.templates)


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
