"""Fault injection: a TEST HOOK that makes the stages reproduce known real-world bugs.

Set the environment variable PARITY_FAULT to one fault name (or several, comma-separated)
and the stages in parity.stages consult `active(name)` at the point where the bug lived.
Every fault must make `python -m parity check` exit 1, failing at the stage listed here
(tests/parity/test_invariants.py and test_cli.py run each one). Never set it in production.
"""
from __future__ import annotations

import os

from ptycho.errors import ConfigError

ENV = "PARITY_FAULT"

#: fault -> (stage where the invariants must catch it, what the stage does wrong)
FAULTS: dict[str, tuple[str, str]] = {
    "closed_form_scale": ("scale", "the dataset scale silently falls back to s_cf "
                                   "(reported as dataset-derived)"),
    "scale_on_normalized": ("scale", "the dataset scale is computed on X_norm instead of X_raw"),
    "label_scale_mismatch": ("labels", "labels are scaled by s_cf while the output scaler "
                                       "uses the profile's scale (and vice versa)"),
    "stale_key": ("config", "a legacy module writes cfg['probe_scale'] after the bridge ran"),
    "small_canvas": ("group", "the model canvas is sized for N only, ignoring the group's "
                              "largest relative offset"),
    "low_ceiling": ("labels", "the amplitude activation is a scaled sigmoid whose ceiling (0.1) "
                              "lies below the amplitude target"),
}


def active_faults() -> tuple[str, ...]:
    """The fault names in PARITY_FAULT (empty when unset); unknown names raise ConfigError."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return ()
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    for name in names:
        if name not in FAULTS:
            raise ConfigError(ENV, f"unknown fault {name!r} (known: {sorted(FAULTS)})")
    return names


def active(name: str) -> bool:
    """True when fault `name` is injected through PARITY_FAULT."""
    if name not in FAULTS:
        raise ConfigError("fault", f"unknown fault {name!r} (known: {sorted(FAULTS)})")
    return name in active_faults()
