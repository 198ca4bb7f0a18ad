"""Whether a RUNNING run's process is still alive.

Every run we open carries the host, pid and start time of its process; the top-level run also gets a
heartbeat (one tag write a minute from a background thread, whatever an epoch takes).
:func:`clean_runs` marks the runs whose process is gone ``KILLED``, with a tag saying why: a process
on this host is gone when its pid is free or belongs to a newer process; on another host, when its
heartbeat is older than :data:`STALE_S`. Runs written before these tags existed are left alone.
"""

from __future__ import annotations

import os
import socket
import threading
import time

from rosetta_cl.tracking.store import retry_locked

HOST_TAG = "rosetta.host"
PID_TAG = "rosetta.pid"
STARTED_TAG = "rosetta.pid_started"  # the process's start time (unix s): a reused pid differs
HEARTBEAT_TAG = "rosetta.heartbeat"  # unix s of the last beat (top-level runs)
KILLED_TAG = "rosetta.killed"  # why a run was marked KILLED
HEARTBEAT_S = 60.0
STALE_S = 10 * HEARTBEAT_S


def process_tags() -> dict[str, str]:
    """Get this process's identity, as run tags."""
    import psutil

    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()),
            STARTED_TAG: f"{psutil.Process().create_time():.2f}",
            HEARTBEAT_TAG: f"{time.time():.0f}"}


def _alive_here(pid: int, started: float) -> bool:
    import psutil

    try:
        return abs(psutil.Process(pid).create_time() - started) < 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # e.g. access denied: it exists
        return True


def why_gone(tags: dict, heartbeat: float | None, now: float | None = None) -> str | None:
    """Why the process that opened a run with ``tags`` is gone (None: alive, or unknown).

    ``heartbeat``: the newest beat of its run tree (unix s).
    """
    host, pid, started = tags.get(HOST_TAG), tags.get(PID_TAG), tags.get(STARTED_TAG)
    if not (host and pid and started):
        return None
    try:
        pid_n, started_s = int(pid), float(started)
    except ValueError:
        return None
    if host == socket.gethostname():
        return None if _alive_here(pid_n, started_s) else f"process {pid} on {host} is gone"
    now = time.time() if now is None else now
    if heartbeat is None or now - heartbeat > STALE_S:
        age = "never" if heartbeat is None else f"{now - heartbeat:.0f} s ago"
        return (f"process {pid} on {host}: last heartbeat {age} (more than {STALE_S:.0f} s: "
                "taken as gone)")
    return None


def all_runs(client, experiment_ids: list[str], filter_string: str = "") -> list:
    """Every run of the experiments matching ``filter_string`` (all pages)."""
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string, max_results=1000,
                                  page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return runs


def tree_heartbeat(run, by_id: dict) -> float | None:
    """The newest heartbeat of ``run`` and its RUNNING ancestors (``by_id``: RUNNING runs by
    id; empty: ``run``'s own).
    """
    beats, seen = [], set()
    while run is not None and run.info.run_id not in seen:
        seen.add(run.info.run_id)
        try:
            beats.append(float(run.data.tags[HEARTBEAT_TAG]))
        except (KeyError, ValueError):
            pass
        run = by_id.get(run.data.tags.get("mlflow.parentRunId"))
    return max(beats) if beats else None


def gone_runs(client, experiment_ids: list[str]) -> list[tuple[str, str]]:
    """(run id, why) of every RUNNING run of these experiments whose process is gone."""
    runs = all_runs(client, experiment_ids, "attributes.status = 'RUNNING'")
    by_id = {r.info.run_id: r for r in runs}
    now = time.time()
    out = []
    for run in runs:
        reason = why_gone(run.data.tags, tree_heartbeat(run, by_id), now)
        if reason:
            out.append((run.info.run_id, reason))
    return out


def clean_runs(client, experiment_ids: list[str],
               by: str = "rosetta-cl runs clean") -> list[tuple[str, str]]:
    """Mark ``KILLED`` every RUNNING run of these experiments whose process is gone.

    Each gets the tag ``rosetta.killed``: why, and ``by`` whom.

    Parameters
    ----------
    client : mlflow.MlflowClient
        A client of the store.
    experiment_ids : list of str
        The experiments to look in.
    by : str, default "rosetta-cl runs clean"
        Who cleans (written in the tag).

    Returns
    -------
    list of (str, str)
        (run id, why) of each run marked.

    Examples
    --------
    >>> from pathlib import Path
    >>> import mlflow
    >>> from rosetta_cl import clean_runs
    >>> client = mlflow.MlflowClient(f"sqlite:///{Path('mlruns.db').resolve()}")
    >>> experiment = client.create_experiment("demo")
    >>> stale = client.create_run(experiment, tags={  # opened by a process whose beats stopped
    ...     "rosetta.host": "node7", "rosetta.pid": "4242", "rosetta.pid_started": "0",
    ...     "rosetta.heartbeat": "0"})
    >>> [(run_id == stale.info.run_id, why) for run_id, why in clean_runs(client, [experiment])]
    [(True, 'process 4242 on node7: last heartbeat ... s ago (more than 600 s: taken as gone)')]
    """
    gone = gone_runs(client, experiment_ids)
    for run_id, reason in gone:
        retry_locked(client.set_tag, run_id, KILLED_TAG, f"{reason}; marked by {by}")
        retry_locked(client.set_terminated, run_id, "KILLED")
    return gone


class Heartbeat:
    """A daemon thread writing :data:`HEARTBEAT_TAG` on ``run_id`` every ``every`` seconds until
    :meth:`stop`. A failed write is skipped (the store may be busy); the run goes on.
    """

    def __init__(self, client, run_id: str, every: float = HEARTBEAT_S):
        self.client, self.run_id, self.every = client, run_id, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="rosetta-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                retry_locked(self.client.set_tag, self.run_id, HEARTBEAT_TAG,
                             f"{time.time():.0f}")
            except Exception:  # noqa: BLE001, S110  (a missed beat is not an error of the run)
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
