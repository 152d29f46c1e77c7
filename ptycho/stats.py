"""Small numeric helpers shared by ptycho and parity (one implementation each)."""
from __future__ import annotations

import math


def finite_or_none(value) -> float | None:
    """`value` as a float, or None when it is None, NaN or +-Inf (the JSON-safe form of a
    figure that could not be computed)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
