"""Interrupts that reach Python inside native code.

A signal handler's exception is raised wherever the main thread runs Python next, which during
training is often a callback invoked from TensorFlow's C++ (pybind11). There pybind11 may
replace it on its way out ("RuntimeError: pybind11::error_already_set: MISMATCH of original and
normalized active exception"), and a stage's `except Exception` would then report an ordinary
failure (measured: 1 of 4 SIGTERMs during `check --tier trained` exited 1 with a report). So the
handlers of `parity.commands.signals` record each interrupt here before raising it, and the
stage boundary (`parity.replay.run_stages`) re-raises a recorded one instead of wrapping
whatever exception arrived.
"""
from __future__ import annotations

import signal

_PENDING: list[BaseException] = []


class Terminated(BaseException):
    """SIGTERM arrived while a command ran (raised in the main thread by the handler)."""

    def __init__(self, signum: int = int(signal.SIGTERM)):
        self.signum = signum
        super().__init__(f"terminated by {signal.Signals(signum).name}")


def record(exc: BaseException) -> BaseException:
    """Remember `exc` (an interrupt a handler is about to raise) and return it."""
    _PENDING.append(exc)
    return exc


def clear() -> None:
    """Forget recorded interrupts (a command starts or ends)."""
    _PENDING.clear()


def reraise_pending(cause: BaseException) -> None:
    """Raise the last recorded interrupt (from `cause`, the exception that arrived instead);
    return when none was recorded."""
    if _PENDING:
        raise _PENDING[-1] from cause
