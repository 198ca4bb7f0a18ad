"""Writing runs to MLflow: one parent run per protocol invocation (or spec, or tune grid), one
nested run per :class:`~rosetta_cl.records.RunRecord` the training emits.

:class:`Tracker` is the only writer of the training path; :class:`NullTracker` has the same
methods and writes nothing (library use without a store).
"""

from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rosetta_cl.anchors.rosetta_file import write_anchor_file
from rosetta_cl.errors import DivergenceError
from rosetta_cl.records import RunRecord
from rosetta_cl.tracking.artifacts import log_artifact

if TYPE_CHECKING:
    from rosetta_cl.tracking.resume import Resumed
from rosetta_cl.tracking.interrupts import run_closed, run_opened
from rosetta_cl.tracking.mlflow_logger import MLflowLogger
from rosetta_cl.tracking.mlflow_model import save_pyfunc
from rosetta_cl.tracking.store import git_commit, retry_locked


def _ms(seconds: float | None) -> int | None:
    """``time.time()`` seconds as MLflow's milliseconds (None stays None: now)."""
    return None if seconds is None else int(seconds * 1000)


class NullTracker:
    parent_run_id = None
    uri = None
    resumed: Resumed | None = None  # resume.Resumed when --resume reopened an interrupted run

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

    def log_metrics(self, metrics, step=None, model_id=None):
        pass

    def log_text(self, text, name):
        pass

    def set_tags(self, tags):
        pass

    def log_file(self, path):
        pass


class Tracker(NullTracker):
    """Writes to the MLflow experiment ``experiment_id`` of the store ``client`` is open on
    (``tracking.open_client``); figures and reports get the same client.

    Every run carries its process's host, pid and start time (``liveness``), the top-level run
    a heartbeat; a run ends ``FINISHED``, ``KILLED`` on SIGINT/SIGTERM (tag ``rosetta.killed``)
    or ``FAILED`` on any other error (tag ``rosetta.failure``: the error's first line), never
    left ``RUNNING`` by a process that is still able to write. Artifacts of a local store are
    renamed into place whole (``artifacts``)."""

    def __init__(self, experiment_id: str, client):
        self.experiment_id, self.client = experiment_id, client
        self.uri = client.tracking_uri
        self.commit = git_commit()
        self._open: list[tuple[str, str]] = []  # (run id, artifact uri), innermost last

    @property
    def run_id(self) -> str:
        return self._open[-1][0]

    @contextmanager
    def _run(self, name, params, tags, nested, run_id: str | None = None,
             times: tuple[float | None, float | None] = (None, None)):
        """``times``: (start, end) as ``time.time()`` values for a run written after the fact
        (a record); None: now."""
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

        from rosetta_cl.tracking.liveness import process_tags

        tags = {"git_commit": self.commit, **process_tags(),
                **{k: str(v) for k, v in tags.items()}}
        if nested and self._open:
            tags[MLFLOW_PARENT_RUN_ID] = self.run_id
        if run_id:  # reopened by --resume: now this process's run
            retry_locked(self.client.update_run, run_id, status="RUNNING")
            for key, value in tags.items():
                retry_locked(self.client.set_tag, run_id, key, value)
            info = self.client.get_run(run_id).info
        else:
            from mlflow.tracking.context.registry import resolve_tags

            info = retry_locked(self.client.create_run, self.experiment_id, run_name=name,
                                start_time=_ms(times[0]),
                                tags=resolve_tags({**tags, MLFLOW_RUN_NAME: name})).info
        self._open.append((info.run_id, info.artifact_uri))
        run_opened()
        try:
            self._log_params(info.run_id, params)
            yield info.run_id
        except BaseException as exc:
            self._end(info.run_id, exc)
            raise
        else:
            retry_locked(self.client.set_terminated, info.run_id, "FINISHED",
                         end_time=_ms(times[1]))
        finally:
            self._open.pop()
            run_closed()

    def _end(self, run_id: str, exc: BaseException) -> None:
        """Mark the run KILLED (a signal) or FAILED, saying why; if the store cannot take it
        (deleted, full disk) the error that ended the run is what the user sees."""
        from rosetta_cl.tracking.interrupts import INTERRUPTS, signal_name
        from rosetta_cl.tracking.liveness import KILLED_TAG
        from rosetta_cl.tracking.store import first_line

        try:
            if isinstance(exc, INTERRUPTS):
                retry_locked(self.client.set_tag, run_id, KILLED_TAG,
                             f"{signal_name(exc)} received")
                retry_locked(self.client.set_terminated, run_id, "KILLED")
            else:
                retry_locked(self.client.set_tag, run_id, "rosetta.failure",
                             f"{type(exc).__name__}: {first_line(exc)}")
                retry_locked(self.client.set_terminated, run_id, "FAILED")
        except Exception:  # noqa: BLE001, S110  (the store is gone: the run's own error says so)
            pass

    def _log_params(self, run_id: str, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):
            retry_locked(self.client.log_batch, run_id, params=items[i:i + 100],
                         synchronous=True)

    @contextmanager
    def parent(self, name, params, tags, resume: bool = False, more: dict | None = None):
        """The invocation's top-level run (with a heartbeat); with ``resume`` the interrupted
        run of the same command is reopened (``resume.find_interrupted``) and its finished
        trainings reused. ``more``: what else makes the command (a spec's grid configs),
        fingerprinted only."""
        from rosetta_cl.tracking.liveness import Heartbeat
        from rosetta_cl.tracking.resume import (
            INVOCATION_TAG,
            find_interrupted,
            invocation_fingerprint,
        )

        tags = {**tags, INVOCATION_TAG: invocation_fingerprint(params, more)}
        self.resumed = (find_interrupted(self.client, self.experiment_id, name, params, more)
                        if resume else None)
        with self._run(name, params, tags, nested=False,
                       run_id=self.resumed.run_id if self.resumed else None) as run_id:
            self.parent_run_id = run_id
            beat = Heartbeat(self.client, run_id)
            try:
                yield run_id
            except DivergenceError as exc:  # say which MLflow run holds the failed training
                raise DivergenceError(f"{exc} [MLflow run {run_id}, marked FAILED]") from None
            finally:
                beat.stop()

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
        metrics and artifacts (arrays, model, anchors, anchor file). A SIGINT/SIGTERM arriving
        meanwhile waits until the record is written."""
        from rosetta_cl.tracking.interrupts import deferred_interrupts

        with deferred_interrupts(), self._run(record.name, record.params, record.tags,
                                              nested=True,
                                              times=(record.started, record.ended)) as run_id:
            self._log_history(run_id, record.history, record.epoch_times)
            for name, arrays in record.arrays.items():
                self._log_arrays(name, arrays)
            model_id = (self._log_model(run_id, record) if record.model is not None
                        else None)
            self.log_metrics(record.metrics, model_id=model_id)
            if record.anchors is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    self._log_artifact(record.anchors.save(Path(tmp) / "anchors.npz"))
            if record.anchor_file is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    path = write_anchor_file(record.anchor_file(), Path(tmp) / "anchors.rosetta")
                    self._log_artifact(path)

    def _log_model(self, run_id: str, record: RunRecord) -> str:
        """The trained model as an MLflow logged model of the run (the experiment's Models
        tab; ``runs:/RUN_ID/model`` and ``models:/MODEL_ID`` load it): a pyfunc whose output
        is the latent means, safetensors weights, nothing pickled (``mlflow_model``). Left
        PENDING by a failure while it is written, READY once whole."""
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus
        from mlflow.models import Model

        logged = retry_locked(self.client.create_logged_model, self.experiment_id,
                              name="model", source_run_id=run_id,
                              params={k: str(v) for k, v in record.params.items()},
                              tags={k: str(record.tags[k]) for k in ("role", "method", "seed")
                                    if k in record.tags})
        retry_locked(self.client.log_outputs, run_id, [LoggedModelOutput(logged.model_id, 0)])
        with tempfile.TemporaryDirectory() as tmp:
            path = save_pyfunc(record.model, Path(tmp) / "model",
                               Model(artifact_path=logged.artifact_location, run_id=run_id,
                                     model_id=logged.model_id, model_uuid=logged.model_id))
            self.client.log_model_artifacts(logged.model_id, str(path))
        retry_locked(self.client.finalize_logged_model, logged.model_id,
                     LoggedModelStatus.READY)
        return logged.model_id

    def _log_artifact(self, local, artifact_path: str | None = None) -> None:
        run_id, artifact_uri = self._open[-1]
        log_artifact(self.client, run_id, local, artifact_path, artifact_uri)

    def _log_history(self, run_id: str, history: dict[str, list[float]],
                     times: list[float]) -> None:
        """Per-epoch metrics (steps 1, 2, ...) with the time each epoch ended, in batches."""
        logger = MLflowLogger(run_id, self.client)
        for name, values in history.items():
            for epoch, value in enumerate(values, start=1):
                when = times[epoch - 1] if epoch <= len(times) else None
                logger.log_single_metric(name, value, epoch, when)
        logger.flush()

    def _log_arrays(self, name: str, arrays: dict) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            # numpy's stub types **kwds against savez's allow_pickle keyword
            np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
            self._log_artifact(path)

    def log_metrics(self, metrics, step=None, model_id: str | None = None):
        """``model_id``: the logged model the values describe (shown on its page too)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0, model_id=model_id)
                 for k, v in metrics.items()]
        for i in range(0, len(items), 1000):
            retry_locked(self.client.log_batch, self.run_id, metrics=items[i:i + 1000],
                         synchronous=True)

    def log_text(self, text, name):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(name).name
            path.write_text(text)
            parent = str(Path(name).parent)
            self._log_artifact(path, None if parent == "." else parent)

    def set_tags(self, tags):
        for key, value in tags.items():
            retry_locked(self.client.set_tag, self.run_id, key, str(value))

    def log_file(self, path):
        self._log_artifact(path)
