"""SIGTERM and SIGINT end a run as ``KILLED``. The CLI's handlers (:func:`handling_signals`)
raise :class:`Terminated` / ``KeyboardInterrupt`` while runs are open, and the tracker marks
them ``KILLED``; before any run is open (start-up: imports, reading data, opening the store)
they exit at once with one line, since nothing was logged (an exception raised inside an import
that runs C++ code can abort the process instead: measured, torch's pybind11 `terminate`).
While a finished model's run is being written the signal waits until the write is done
(:func:`deferred_interrupts`), so a finished training is never left half-logged."""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException like KeyboardInterrupt: ``except Exception`` misses it)."""


INTERRUPTS = (KeyboardInterrupt, Terminated)
EXIT_CODES = {KeyboardInterrupt: 130, Terminated: 143}  # 128 + the signal's number
_open_runs = [0]  # runs the tracker holds open in this process


def signal_name(exc: BaseException) -> str:
    return "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"


def run_opened() -> None:
    _open_runs[0] += 1


def run_closed() -> None:
    _open_runs[0] -= 1


def _exception(signum: int) -> BaseException:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _on_signal(signum, frame):
    if _open_runs[0] <= 0:
        name = signal.Signals(signum).name
        sys.stderr.write(f"Interrupted ({name}): no run was open, none to mark\n")
        sys.stderr.flush()
        os._exit(128 + signum)
    raise _exception(signum)


@contextmanager
def _handlers(handler):
    """SIGINT and SIGTERM go to ``handler`` inside the block; yields the handlers they had
    (None outside the main thread, where handlers cannot be set: nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for sig in before:
        signal.signal(sig, handler)
    try:
        yield before
    finally:
        for sig, previous in before.items():
            signal.signal(sig, previous)


@contextmanager
def handling_signals():
    """SIGINT and SIGTERM as described above, for the block (the CLI's whole command); the
    previous handlers are put back after it (in-process callers, tests)."""
    with _handlers(_on_signal):
        yield


@contextmanager
def deferred_interrupts():
    """SIGINT and SIGTERM received inside the block are acted on when it ends (outside the
    main thread nothing is deferred)."""
    received: list[int] = []
    with _handlers(lambda signum, frame: received.append(signum)) as before:
        yield
    if received:
        signum = received[0]
        handler = before[signum]
        if handler is _on_signal or (signum == signal.SIGINT
                                     and handler is signal.default_int_handler):
            raise _exception(signum)
        signal.raise_signal(signum)  # whatever the previous handler does
