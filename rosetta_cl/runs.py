"""Writing runs to MLflow: one parent run per protocol invocation (or spec, or tune grid), one
nested run per :class:`~rosetta_cl.records.RunRecord` the training emits.

:class:`Tracker` is the only writer of the training path; :class:`NullTracker` has the same
methods and writes nothing (library use without a store).
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .anchor_file import write_anchor_file
from .mlflow_logger import MLflowLogger
from .models import save_model
from .records import RunRecord
from .tracking import git_commit


class NullTracker:
    parent_run_id = None
    uri = None
    resumed = None  # resume.Resumed when --resume reopened an interrupted run

    @contextmanager
    def parent(self, name, params, tags, resume: bool = False, more: dict | None = None):
        yield None

    def reuse(self, fingerprint: str):
        return None

    @contextmanager
    def child(self, name, params, tags):
        yield None

    def write(self, record: RunRecord) -> None:
        pass

    def log_metrics(self, metrics, step=None):
        pass

    def log_text(self, text, name):
        pass

    def set_tags(self, tags):
        pass

    def log_file(self, path):
        pass


class Tracker(NullTracker):
    """Writes to the MLflow experiment ``experiment_id`` of the store ``client`` is open on
    (``tracking.open_client``); figures and reports get the same client."""

    def __init__(self, experiment_id: str, client):
        import mlflow

        self.mlflow = mlflow
        self.experiment_id, self.client = experiment_id, client
        self.uri = client.tracking_uri
        self.commit = git_commit()

    @contextmanager
    def _run(self, name, params, tags, nested, run_id: str | None = None):
        # ActiveRun's __exit__ marks the run FAILED when the block raises anything (Ctrl-C too),
        # innermost run first, so no run is ever left RUNNING.
        tags = {"git_commit": self.commit, **{k: str(v) for k, v in tags.items()}}
        self.mlflow.set_tracking_uri(self.uri)
        named = {"run_id": run_id} if run_id else {"run_name": name}
        with self.mlflow.start_run(experiment_id=self.experiment_id, nested=nested, tags=tags,
                                   **named) as run:
            self.mlflow.log_params(params)
            yield run.info.run_id

    @contextmanager
    def parent(self, name, params, tags, resume: bool = False, more: dict | None = None):
        """The invocation's top-level run; with ``resume`` the interrupted run of the same
        command is reopened (``resume.find_interrupted``) and its finished trainings reused.
        ``more``: what else makes the command (a spec's grid configs), fingerprinted only."""
        from .resume import INVOCATION_TAG, find_interrupted, invocation_fingerprint

        tags = {**tags, INVOCATION_TAG: invocation_fingerprint(params, more)}
        self.resumed = (find_interrupted(self.client, self.experiment_id, name, params, more)
                        if resume else None)
        with self._run(name, params, tags, nested=False,
                       run_id=self.resumed and self.resumed.run_id) as run_id:
            self.parent_run_id = run_id
            yield run_id

    @contextmanager
    def child(self, name, params, tags):
        """A nested run (a spec's grid point); reopened when ``--resume`` found it."""
        run_id = self.resumed.child(name) if self.resumed else None
        with self._run(name, params, tags, nested=True, run_id=run_id) as run_id:
            yield run_id

    def reuse(self, fingerprint: str):
        """The finished training with ``fingerprint`` in the reopened run (``--resume``)."""
        return self.resumed.reuse(fingerprint) if self.resumed else None

    def write(self, record: RunRecord) -> None:
        """``record`` as a nested run of the active one: params, tags, per-epoch history,
        metrics and artifacts (arrays, model, anchors, anchor file)."""
        with self._run(record.name, record.params, record.tags, nested=True) as run_id:
            self._log_history(run_id, record.history)
            for name, arrays in record.arrays.items():
                self._log_arrays(name, arrays)
            if record.model is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    save_model(record.model, tmp)
                    self.mlflow.log_artifacts(tmp, "model")
            self.log_metrics(record.metrics)
            if record.anchors is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    self.mlflow.log_artifact(str(record.anchors.save(Path(tmp) / "anchors.npz")))
            if record.anchor_file is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    path = write_anchor_file(record.anchor_file(), Path(tmp) / "anchors.rosetta")
                    self.mlflow.log_artifact(str(path))

    def _log_history(self, run_id: str, history: dict[str, list[float]]) -> None:
        """Per-epoch metrics (steps 1, 2, ...), in batches."""
        logger = MLflowLogger(run_id, self.client)
        for name, values in history.items():
            for epoch, value in enumerate(values, start=1):
                logger.log_single_metric(name, value, epoch)
        logger.flush()

    def _log_arrays(self, name: str, arrays: dict) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})
            self.mlflow.log_artifact(str(path))

    def log_metrics(self, metrics, step=None):
        self.mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_text(self, text, name):
        self.mlflow.log_text(text, name)

    def set_tags(self, tags):
        self.mlflow.set_tags({k: str(v) for k, v in tags.items()})

    def log_file(self, path):
        self.mlflow.log_artifact(str(path))
