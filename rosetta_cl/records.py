"""Run records: what training produces for tracking, as plain data.

The protocols never talk to MLflow. Each trained model becomes a :class:`RunRecord`, handed to
an ``emit`` callback as soon as the model is done (so a crash later loses nothing already
trained); :class:`~rosetta_cl.tracking.writer.Tracker` writes each record as one nested MLflow
run, and without tracking the records are simply dropped. What belongs to the protocol as a whole
(parent-run metrics, files) travels in its ``ProtocolResult``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FINGERPRINT_TAG = "rosetta.fingerprint"  # a model run's training fingerprint (--resume)
FEATURES_ARRAY = "features.npz"  # a model run's feature names (its data's columns), if named


@dataclass
class RunRecord:
    """One trained model's run, as the tracking writer logs it to MLflow.

    Parameters
    ----------
    name : str
        Run name.
    params : dict[str, str]
        MLflow params.
    tags : dict
        MLflow tags (role, method, seed, fingerprint, ...).
    history : dict[str, list of float]
        Per-epoch metrics ``{name: [epoch 1, epoch 2, ...]}`` (logged at steps 1, 2, ...).
    metrics : dict[str, float]
        Final scalars.
    arrays : dict[str, dict[str, numpy.ndarray]]
        Artifact file name -> named arrays (``.npz``).
    model : torch.nn.Module, optional
        A module with a ``config`` (saved under ``model/``).
    anchors : Anchors, optional
        The anchors the model selected (``anchors.npz``).
    anchor_file : callable, optional
        Builds the portable ``.rosetta`` file; called only when the record is written (it hashes
        the data).
    started : float, optional
        When the training began (``time.time()``): the MLflow run's start time.
    epoch_times : list of float
        When each epoch ended: the metrics' timestamps.
    ended : float
        When the record was made: the MLflow run's end time.

    Examples
    --------
    >>> from rosetta_cl import RunRecord
    >>> record = RunRecord("vae_1", params={"method": "vae"}, tags={},
    ...                    history={"train/loss": [3.0, 2.5]})
    >>> record.history["train/loss"][-1]
    2.5
    """

    name: str
    params: dict[str, str]
    tags: dict[str, Any]
    history: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    arrays: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    model: Any = None
    anchors: Any = None
    anchor_file: Callable[[], Any] | None = None
    started: float | None = None
    epoch_times: list[float] = field(default_factory=list)
    ended: float = field(default_factory=time.time)


Emit = Callable[[RunRecord], None]


@dataclass
class Reused:
    """A finished training found in the store (``--resume``): what a protocol reads back, the
    way back of a record (``tracking.resume`` builds it, the trainer uses it).
    """

    model: Any  # a models.VAE
    latents: dict[str, np.ndarray]
    anchors: Any = None  # anchors.points.Anchors, or None


def discard(record: RunRecord) -> None:
    """The ``emit`` of untracked runs."""
