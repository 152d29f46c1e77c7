"""Small numeric helpers shared by ptycho and parity (one implementation each)."""
from __future__ import annotations

import math

import numpy as np

from .errors import ConfigError
from .validation import require_same_shape


def finite_or_none(value) -> float | None:
    """`value` as a float, or None when it is None, NaN or +-Inf (the JSON-safe form of a
    figure that could not be computed)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def pearson(a, b, *, axis=None):
    """Pearson correlation coefficient of two equally shaped real arrays, in float64 (ConfigError
    naming b when the shapes differ).

    axis None: one float over all elements; an int or tuple: an array with those axes reduced
    (e.g. axis=(1, 2) gives one r per (K, H, W) patch). NaN where either input is constant.
    Two-pass form: sum(a' b') / sqrt(sum(a'^2) sum(b'^2)) with a' = a - mean(a).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    require_same_shape("b", b, a, of="a", error=ConfigError)
    if axis is None:
        if a.size == 0 or np.ptp(a) == 0 or np.ptp(b) == 0:
            return math.nan
        da = a - a.mean()
        db = b - b.mean()
        denom = float(np.sqrt(np.sum(da * da) * np.sum(db * db)))
        return float(np.sum(da * db) / denom) if denom > 0 else math.nan
    varying = (np.ptp(a, axis=axis) > 0) & (np.ptp(b, axis=axis) > 0)
    da = a - a.mean(axis=axis, keepdims=True)
    db = b - b.mean(axis=axis, keepdims=True)
    denom = np.sqrt(np.sum(da * da, axis=axis) * np.sum(db * db, axis=axis))
    out = np.full(denom.shape, np.nan)
    np.divide(np.sum(da * db, axis=axis), denom, out=out, where=varying & (denom > 0))
    return out
