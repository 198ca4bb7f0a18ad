"""Where a run's trainings execute: one after another in this process (``local``, the default)
or as Ray tasks (``ray``: an embedded local Ray, or a cluster at ``--ray-address``).

An executor maps a function over jobs and yields the results **in job order**, so the caller
(the training core) hands every record to MLflow in the same order whichever executor ran it:
only this process (the driver) writes to the store; Ray workers return their records through
Ray's object store. ``fn(shared, job)`` must be a module-level function; ``shared`` is sent to
the workers once per map (``ray.put``), each job with its task.

Each Ray task reserves ``cpus_per_training`` CPUs and ``gpus_per_training`` GPUs (fractions
allowed: 0.25 = four trainings per GPU); its training runs with the thread rule's count
(``RunConfig.threads``), as it would here, so the tables are the same.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from rosetta_cl.config.options import option
from rosetta_cl.errors import ConfigError

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class ExecutorOptions:
    """How the trainings of one invocation are executed: here, or side by side on Ray.

    They are not part of a run's config: they change no number, so they are neither MLflow params
    nor in fingerprints.

    Parameters
    ----------
    executor : str, default "local"
        ``local`` (one training after another in this process) or ``ray`` (Ray tasks).
    cpus_per_training : float, default 1.0
        Ray: CPUs each training reserves (its threads: ``RunConfig.threads``).
    gpus_per_training : float, default 0.0
        Ray: GPUs each training reserves (fractions share a GPU).
    ray_address : str, optional
        Ray: an existing cluster's address (None: start a local one).

    Examples
    --------
    >>> from rosetta_cl import ExecutorOptions, RunConfig, run_benchmark
    >>> options = ExecutorOptions(executor="ray", cpus_per_training=1)
    >>> run_benchmark(RunConfig(quick=True), executor=options)  # doctest: +SKIP
    """

    executor: str = option("local", "local (one training after another in this process) | "
                            "ray (trainings as Ray tasks, side by side).")
    cpus_per_training: float = option(1.0, "Ray: CPUs each training reserves (fractions "
                                       "allowed; its threads: --threads).")
    gpus_per_training: float = option(0.0, "Ray: GPUs each training reserves (0.25 = four "
                                       "trainings per GPU).")
    ray_address: str | None = option(None, "Ray: join this cluster (default $RAY_ADDRESS; "
                                      "unset: start an embedded local Ray).", metavar="ADDRESS")

    def check(self) -> None:
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor {self.executor!r}: allowed {', '.join(EXECUTORS)}")
        for name in ("cpus_per_training", "gpus_per_training"):
            value = getattr(self, name)
            low_ok = value > 0 if name == "cpus_per_training" else value >= 0
            if not low_ok or not math.isfinite(value):
                bound = "> 0" if name == "cpus_per_training" else ">= 0"
                raise ConfigError(f"{name.replace('_', '-')} {value:g}: allowed {bound} (a "
                                  "fraction shares a device)")
        if self.executor == "local" and (self.ray_address or self.gpus_per_training
                                         or self.cpus_per_training != 1.0):
            raise ConfigError("--ray-address / --cpus-per-training / --gpus-per-training: "
                              "allowed with --executor ray")


class LocalExecutor:
    """Every job in this process, one after another."""

    name = "local"

    def map(self, fn: Callable, shared, jobs: Iterable) -> Iterator:
        for job in jobs:
            yield fn(shared, job)

    def close(self) -> None:
        pass


def _threads(cpus: float) -> int:
    return max(1, int(cpus))


WARM_WORKERS = 64  # at most this many workers are started ahead of the first task


def _warm_up(modules: tuple[str, ...]) -> None:
    import importlib

    for name in modules:  # what the tasks will import (e.g. torch and Avalanche)
        importlib.import_module(name)


def _run_task(fn: Callable, shared, job, threads: int):
    """What a Ray worker runs: torch limited to the task's CPU share, then the job."""
    import torch

    torch.set_num_threads(threads)
    return fn(shared, job)


class RayExecutor:
    """Jobs as Ray tasks; results yielded in job order (Ray retries a task whose worker died)."""

    name = "ray"

    def __init__(self, options: ExecutorOptions, preload: tuple[str, ...] = ()):
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'rosetta-cl[ray]'") from None
        self.ray, self.options = ray, options
        address = options.ray_address or os.environ.get("RAY_ADDRESS") or None
        self.started = not ray.is_initialized()
        if self.started:
            check_reachable(address)
            # Ray's notice that it enabled token authentication (as it should) is not ours to
            # print: stderr holds our progress and one-line errors
            notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
            level = notice.level
            notice.setLevel(logging.ERROR)
            try:
                # no address: always a new embedded Ray ("local"), never an existing local
                # cluster Ray would otherwise find through /tmp/ray (maybe another user's, or
                # one already shut down)
                ray.init(address=address or "local", include_dashboard=False,
                         log_to_driver=False,
                         configure_logging=False, runtime_env=_runtime_env())
            except (ConnectionError, RuntimeError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                auth = ("; a cluster with token authentication (Ray's default) needs "
                        "RAY_AUTH_MODE=token and its token" if address and
                        "RAY_AUTH_MODE" not in os.environ else "")
                raise ConfigError(f"ray address {address!r}: cannot connect ({first}{auth}); "
                                  "allowed: the address of a running Ray cluster (ray start "
                                  "--head prints it), or none for an embedded local Ray"
                                  ) from None
            finally:
                notice.setLevel(level)
        available = ray.cluster_resources()
        for resource, want in (("CPU", options.cpus_per_training),
                               ("GPU", options.gpus_per_training)):
            have = available.get(resource, 0.0)
            if want > have:
                self.close()
                raise ConfigError(f"{resource.lower()}s-per-training {want:g}: allowed <= "
                                  f"{have:g} (the cluster's {resource}s)")
        self.remote = ray.remote(_run_task)
        # start a worker per slot now and let it import ``preload`` (torch and Avalanche: ~9 s
        # each on a small machine) while this process reads the data and the first trainings
        # run
        slots = int(min(available.get("CPU", 1) // options.cpus_per_training, WARM_WORKERS))
        warm = ray.remote(_warm_up).options(num_cpus=options.cpus_per_training)
        self.warming = [warm.remote(preload) for _ in range(max(slots, 1))] if preload else []

    def map(self, fn: Callable, shared, jobs: Iterable) -> Iterator:
        ray, options = self.ray, self.options
        shared_ref = ray.put(shared)
        task = self.remote.options(num_cpus=options.cpus_per_training,
                                   num_gpus=options.gpus_per_training)
        refs = [task.remote(fn, shared_ref, job, _threads(options.cpus_per_training))
                for job in jobs]
        taken = 0
        try:
            for ref in refs:
                yield ray.get(ref)
                taken += 1
        finally:
            # an error or an interrupt: cancel what has not finished. Never a finished task:
            # force-cancelling one that Ray had retried crashes the driver in Ray 2.60 ("Tried
            # to complete task that was not pending"; seen here after a worker died)
            pending = refs[taken:]
            if pending:
                _, running = ray.wait(pending, num_returns=len(pending), timeout=0)
                for ref in running:
                    ray.cancel(ref)

    def close(self) -> None:
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()


def check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """A ``host:port`` (or ``ray://host:port``) address must accept a TCP connection within
    ``timeout`` seconds: Ray itself retries an unreachable address for minutes.
    """
    if not address or address in ("auto", "local"):
        return
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    allowed = ("allowed: HOST:PORT of a running Ray cluster's head (`ray start --head` prints "
               "it), or none for an embedded local Ray")
    if not host or not port.isdigit():
        raise ConfigError(f"ray address {address!r}: {allowed}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(f"ray address {address!r}: not reachable ({exc.strerror or exc}); "
                          f"{allowed}") from None


def _runtime_env() -> dict:
    """Workers see what this process sees: its environment's plugin folder and data dir."""
    keep = ("ROSETTA_CL_PLUGINS_DIR", "ROSETTA_CL_DATA", "MLFLOW_TRACKING_URI")
    return {"env_vars": {k: os.environ[k] for k in keep if k in os.environ}}


def check_executor(options: ExecutorOptions | None) -> None:
    """The checks that need no Ray: values, and that ``--ray-address`` answers."""
    if options is not None:
        options.check()
        if options.executor == "ray":
            check_reachable(options.ray_address or os.environ.get("RAY_ADDRESS") or None)


def make_executor(options: ExecutorOptions | None, preload: tuple[str, ...] = ()):
    """The executor ``options`` name (local when None); check them first.

    ``preload``: modules Ray workers import as soon as they start (before their first task arrives).
    """
    options = options or ExecutorOptions()
    options.check()
    return RayExecutor(options, preload) if options.executor == "ray" else LocalExecutor()
