"""SIGTERM and SIGINT end a run as ``KILLED``: the CLI turns SIGTERM into :class:`Terminated`
(SIGINT is Python's ``KeyboardInterrupt``), the tracker marks its open runs ``KILLED`` on either,
and while a finished model's run is being written the signal waits until the write is done, so
a finished training is never left half-logged."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException, like KeyboardInterrupt: no ``except Exception`` eats it)."""


INTERRUPTS = (KeyboardInterrupt, Terminated)
EXIT_CODES = {KeyboardInterrupt: 130, Terminated: 143}  # 128 + the signal's number


def signal_name(exc: BaseException) -> str:
    return "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"


def _raise_terminated(signum, frame):
    raise Terminated()


def install_sigterm() -> None:
    """SIGTERM raises :class:`Terminated` in the main thread (the CLI calls this)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


@contextmanager
def deferred_interrupts():
    """SIGINT and SIGTERM received inside the block are raised when it ends (outside the main
    thread, where handlers cannot be set, nothing is deferred)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def hold(signum, frame):
        received.append(signum)

    for sig in before:
        signal.signal(sig, hold)
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    if received:
        if received[0] == signal.SIGTERM and before[signal.SIGTERM] is _raise_terminated:
            raise Terminated()
        if received[0] == signal.SIGINT:
            raise KeyboardInterrupt()
        signal.raise_signal(received[0])  # whatever the previous handler does
