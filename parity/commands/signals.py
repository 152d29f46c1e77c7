"""Interrupts of a command: SIGINT (Ctrl-C) and SIGTERM (a CI job cancelled, `kill PID`).

Python turns SIGINT into KeyboardInterrupt but dies silently on SIGTERM, skipping every
cleanup (`finally`, context managers: a golden lock's journal, a dask cluster's shutdown).
While a command runs, `terminate_as_interrupt` makes SIGTERM raise `Terminated` in the main
thread instead. Both derive from BaseException, so no `except Exception` of a stage or a
replay turns an interrupt into an ordinary failure that a report would then list. `main`
maps them to the shell's codes: 130 (128 + SIGINT) and 143 (128 + SIGTERM).
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

EXIT_SIGINT = 128 + int(signal.SIGINT)
EXIT_SIGTERM = 128 + int(signal.SIGTERM)


class Terminated(BaseException):
    """SIGTERM arrived while a command ran (raised in the main thread by the handler)."""

    def __init__(self, signum: int = int(signal.SIGTERM)):
        self.signum = signum
        super().__init__(f"terminated by {signal.Signals(signum).name}")


def _raise_terminated(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    raise Terminated(signum)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated in the main thread (the previous handler is
    restored after). Off the main thread (where Python cannot set handlers) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupt_exit(exc: BaseException) -> tuple[int, str]:
    """(exit code, signal name) of a KeyboardInterrupt or Terminated."""
    if isinstance(exc, Terminated):
        return 128 + exc.signum, signal.Signals(exc.signum).name
    return EXIT_SIGINT, "SIGINT"
