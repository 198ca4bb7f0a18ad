"""Run management: one MLflow parent run per protocol invocation, nested child runs per model.

:class:`Tracker` logs to MLflow; :class:`NullTracker` has the same methods and logs nothing
(library use without a store).
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .models import save_model
from .tracking import MLflowLogger, git_commit


class NullTracker:
    parent_run_id = None

    @contextmanager
    def parent(self, name, params, tags):
        yield None

    @contextmanager
    def child(self, name, params, tags):
        yield None

    def loggers(self):
        return []

    def log_metrics(self, metrics, step=None):
        pass

    def log_history(self, history):
        pass

    def log_arrays(self, name, **arrays):
        pass

    def log_text(self, text, name):
        pass

    def set_tags(self, tags):
        pass

    def log_file(self, path):
        pass

    def log_anchor_file(self, make_anchor_file):
        pass

    def log_model(self, model):
        pass

    def log_anchors(self, anchors):
        pass


class Tracker(NullTracker):
    """Logs to the MLflow experiment ``experiment_id`` of the current tracking URI."""

    def __init__(self, experiment_id: str):
        import mlflow

        self.mlflow = mlflow
        self.experiment_id = experiment_id
        self.commit = git_commit()

    @contextmanager
    def _run(self, name, params, tags, nested):
        # ActiveRun's __exit__ marks the run FAILED when the block raises anything (Ctrl-C too),
        # innermost run first, so no run is ever left RUNNING.
        tags = {"git_commit": self.commit, **{k: str(v) for k, v in tags.items()}}
        with self.mlflow.start_run(run_name=name, experiment_id=self.experiment_id,
                                   nested=nested, tags=tags) as run:
            self.mlflow.log_params(params)
            yield run.info.run_id

    @contextmanager
    def parent(self, name, params, tags):
        with self._run(name, params, tags, nested=False) as run_id:
            self.parent_run_id = run_id
            yield run_id

    @contextmanager
    def child(self, name, params, tags):
        with self._run(name, params, tags, nested=True) as run_id:
            yield run_id

    def loggers(self):
        return [MLflowLogger()]

    def log_metrics(self, metrics, step=None):
        self.mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_history(self, history):
        """Per-epoch metrics ``{name: [value of epoch 1, ...]}`` (steps 1, 2, ...), in batches,
        as the strategies' MLflowLogger logs them during training."""
        logger = MLflowLogger()
        for name, values in history.items():
            for epoch, value in enumerate(values, start=1):
                logger.log_single_metric(name, value, epoch)
        logger.flush()

    def log_arrays(self, name, **arrays):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})
            self.mlflow.log_artifact(str(path))

    def log_text(self, text, name):
        self.mlflow.log_text(text, name)

    def set_tags(self, tags):
        self.mlflow.set_tags({k: str(v) for k, v in tags.items()})

    def log_file(self, path):
        self.mlflow.log_artifact(str(path))

    def log_anchor_file(self, make_anchor_file):
        """``make_anchor_file()`` builds the AnchorFile; called only here, when logging."""
        from .anchor_file import write_anchor_file

        with tempfile.TemporaryDirectory() as tmp:
            path = write_anchor_file(make_anchor_file(), Path(tmp) / "anchors.rosetta")
            self.mlflow.log_artifact(str(path))

    def log_model(self, model):
        with tempfile.TemporaryDirectory() as tmp:
            save_model(model, tmp)
            self.mlflow.log_artifacts(tmp, "model")

    def log_anchors(self, anchors):
        with tempfile.TemporaryDirectory() as tmp:
            self.mlflow.log_artifact(str(anchors.save(Path(tmp) / "anchors.npz")))
