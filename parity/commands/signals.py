"""Interrupts of a command: SIGINT (Ctrl-C) and SIGTERM (a CI job cancelled, `kill PID`).

Python turns SIGINT into KeyboardInterrupt but dies silently on SIGTERM, skipping every
cleanup (`finally`, context managers: a golden lock's journal, a dask cluster's shutdown).
While a command runs, `terminate_as_interrupt` makes SIGTERM raise `Terminated`
(parity.interrupts) in the main thread instead, and records every interrupt so one that native
code replaced on its way up is still raised as itself. Both derive from BaseException, so no `except Exception` of a stage or a
replay turns an interrupt into an ordinary failure that a report would then list. `main`
maps them to the shell's codes: 130 (128 + SIGINT) and 143 (128 + SIGTERM).
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

from .. import interrupts
from ..interrupts import Terminated

EXIT_SIGINT = 128 + int(signal.SIGINT)
EXIT_SIGTERM = 128 + int(signal.SIGTERM)


def _raise_terminated(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    raise interrupts.record(Terminated(signum))


def _raise_keyboard_interrupt(signum, frame) -> None:  # noqa: ARG001
    raise interrupts.record(KeyboardInterrupt())


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated and SIGINT KeyboardInterrupt in the main
    thread, each recorded first (parity.interrupts: the stage boundary re-raises it when native
    code replaced it on the way); the previous handlers are restored after. Off the main thread
    (where Python cannot set handlers) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupts.clear()
    previous = {sig: signal.signal(sig, handler) for sig, handler in
                ((signal.SIGTERM, _raise_terminated), (signal.SIGINT, _raise_keyboard_interrupt))}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        interrupts.clear()


def interrupt_exit(exc: BaseException) -> tuple[int, str]:
    """(exit code, signal name) of a KeyboardInterrupt or Terminated."""
    if isinstance(exc, Terminated):
        return 128 + exc.signum, signal.Signals(exc.signum).name
    return EXIT_SIGINT, "SIGINT"
