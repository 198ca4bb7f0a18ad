"""``--resume``: finish an interrupted invocation instead of starting over.

Every top-level run (a protocol run, a spec, a tune grid) carries the fingerprint of its
command (``rosetta.invocation``: a hash of its params); every model run the fingerprint of its
training (``rosetta.fingerprint``, see ``training.Trainer.fingerprint``). Started again with
``--resume``, the same command looks in its experiment for the newest top-level run of its name
that did not finish:

- none: a new run is started (and said so on stderr);
- one with another invocation fingerprint: refused, naming the settings that differ;
- one with the same: its runs a kill left ``RUNNING`` are marked ``KILLED`` (tag
  ``rosetta.killed``), it is reopened, and every training whose fingerprint a ``FINISHED`` run
  of its tree has is read back from that run (latents, anchors, model) instead of trained.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from rosetta_cl.errors import ConfigError
from rosetta_cl.records import FINGERPRINT_TAG
from rosetta_cl.tracking.liveness import KILLED_TAG, PID_TAG, all_runs, tree_heartbeat, why_gone

INVOCATION_TAG = "rosetta.invocation"


def invocation_fingerprint(params: dict, more: dict | None = None) -> str:
    """A command's fingerprint: its params, and ``more`` (e.g. every grid config of a spec)."""
    text = json.dumps({"params": {k: str(v) for k, v in params.items()}, "more": more or {}},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def tree_of(runs: list, root: str) -> list:
    """The runs below ``root`` (any depth), ``root`` excluded."""
    children: dict[str, list] = {}
    for run in runs:
        parent = run.data.tags.get("mlflow.parentRunId")
        if parent:
            children.setdefault(parent, []).append(run)
    out, stack = [], [root]
    while stack:
        for run in children.get(stack.pop(), []):
            out.append(run)
            stack.append(run.info.run_id)
    return out


class Resumed:
    """An interrupted top-level run reopened by ``--resume``: its finished trainings by
    fingerprint, and its direct children by name (a spec's grid runs)."""

    def __init__(self, client, run_id: str, runs: list):
        self.client, self.run_id = client, run_id
        below = tree_of(runs, run_id)
        self.finished = {r.data.tags[FINGERPRINT_TAG]: r.info.run_id for r in below
                         if r.info.status == "FINISHED" and FINGERPRINT_TAG in r.data.tags}
        self.children = {r.data.tags.get("mlflow.runName"): r.info.run_id for r in below
                         if r.data.tags.get("mlflow.parentRunId") == run_id}
        self.killed = [r.info.run_id for r in below if r.info.status == "RUNNING"]
        self.reused: list[str] = []

    def mark_killed(self, parent_status: str) -> None:
        for run_id in self.killed:
            self.client.set_tag(run_id, KILLED_TAG, "left RUNNING by an interrupted run; "
                                "marked by --resume")
            self.client.set_terminated(run_id, "KILLED")
        if parent_status in ("RUNNING", "KILLED"):  # KILLED: by the clean at the run's start
            self.client.set_tag(self.run_id, KILLED_TAG, "interrupted; reopened by --resume")

    def child(self, name: str) -> str | None:
        """The id of the existing direct child named ``name`` (a grid run), if any."""
        return self.children.get(name)

    def reuse(self, fingerprint: str):
        """The finished training with ``fingerprint`` (a ``training.Reused``), or None."""
        run_id = self.finished.get(fingerprint)
        if run_id is None:
            return None
        import numpy as np

        from rosetta_cl.anchors.points import Anchors
        from rosetta_cl.records import Reused
        from rosetta_cl.tracking.store import load_run_model, quiet_downloads

        with quiet_downloads():
            model = load_run_model(self.client, run_id)
            path = self.client.download_artifacts(run_id, "latents.npz")
            with np.load(path, allow_pickle=False) as f:
                latents = {k: f[k] for k in f.files if k.startswith("mu_")}
            names = {a.path for a in self.client.list_artifacts(run_id)}
            anchors = (Anchors.load(Path(self.client.download_artifacts(run_id, "anchors.npz")))
                       if "anchors.npz" in names else None)
        self.reused.append(run_id)
        return Reused(model, latents, anchors)


def find_interrupted(client, experiment_id: str, name: str, params: dict,
                     more: dict | None = None) -> Resumed | None:
    """The newest unfinished top-level run named ``name`` with these ``params``, reopened for
    ``--resume`` (None: nothing to resume). Another command's run: a one-line ConfigError."""
    runs = all_runs(client, [experiment_id])
    top = [r for r in runs if r.data.tags.get("mlflow.runName") == name
           and "mlflow.parentRunId" not in r.data.tags]
    open_runs = sorted((r for r in top if r.info.status != "FINISHED"),
                       key=lambda r: r.info.start_time, reverse=True)
    if not open_runs:
        print(f"--resume: no interrupted run {name!r} in this experiment; starting a new one",
              file=sys.stderr)
        return None
    run = open_runs[0]
    if run.info.status == "RUNNING" and _still_running(run):
        tags = run.data.tags
        raise ConfigError(f"--resume: run {run.info.run_id} ({name}) is still running (process "
                          f"{tags.get('rosetta.pid')} on {tags.get('rosetta.host')});"
                          " allowed: wait for it, or stop it and --resume then")
    if run.data.tags.get(INVOCATION_TAG) != invocation_fingerprint(params, more):
        old = run.data.params
        changed = [f"{k} {old.get(k, '(none)')} -> {v}" for k, v in sorted(params.items())
                   if old.get(k) != str(v)]
        changed += [f"{k} {v} -> (none)" for k, v in sorted(old.items()) if k not in params]
        raise ConfigError(f"--resume: the interrupted run {run.info.run_id} ({name}) was started "
                          "with other settings "
                          f"({'; '.join(changed[:4]) or 'the spec file or version'});"
                          " allowed: the same command and options, or drop --resume")
    resumed = Resumed(client, run.info.run_id, runs)
    resumed.mark_killed(run.info.status)
    print(f"--resume: reopened run {run.info.run_id} ({len(resumed.finished)} finished "
          f"trainings to reuse, {len(resumed.killed)} runs left RUNNING marked KILLED)",
          file=sys.stderr)
    return resumed


def _still_running(run) -> bool:
    """Whether the RUNNING ``run``'s process is alive (runs of versions without process tags:
    taken as interrupted, as before)."""
    return PID_TAG in run.data.tags and why_gone(run.data.tags, tree_heartbeat(run, {})) is None
