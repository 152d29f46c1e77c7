"""The one base class of parity's deliberate errors.

Every error a parity module raises on purpose about its input (a corrupt golden, an invalid
ledger entry, a malformed record, an unreadable image, a bad benchmark file) derives from
`ParityError`, which names the offending thing and the problem (`ptycho.errors.NamedProblemError`).
The command layer (`parity.commands`) maps `ParityError` and `ptycho.errors.PtychoError` to exit
code 2 in one place.
"""
from __future__ import annotations

from ptycho.errors import NamedProblemError


class ParityError(NamedProblemError, ValueError):
    """An input problem found by the harness: `name` says what (file, key, entry), `problem` why."""
