"""Progress of long runs, on stderr: tqdm's bar on a terminal; elsewhere (a CI log, a pipe)
plain lines, so that a run of many minutes is not silent there: one per finished replay
(`python -m parity check`) and one per stage that took at least PLAIN_STAGE_S seconds. The
commands' `--quiet` turns both off."""
from __future__ import annotations

import sys

#: a stage that ran at least this long gets a plain line when stderr is not a terminal
PLAIN_STAGE_S = 10.0


_PLAIN_ONLY = False


def plain_only() -> None:
    """Plain lines from now on in this process, even on a terminal (a worker process whose
    bars would overwrite its siblings' and the parent's)."""
    global _PLAIN_ONLY
    _PLAIN_ONLY = True


def on_terminal() -> bool:
    """Whether stderr is a terminal (tqdm's bar) or not (plain lines; also after
    `plain_only`)."""
    return not _PLAIN_ONLY and bool(getattr(sys.stderr, "isatty", lambda: False)())


def line(text: str) -> None:
    """One plain progress line on stderr, flushed at once."""
    print(text, file=sys.stderr, flush=True)
