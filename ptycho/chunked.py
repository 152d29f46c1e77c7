"""Element-wise float64 arithmetic over large real arrays in bounded chunks of the leading
axis (no float64 copy of the whole array): the gain applied to X, and a float64 sum."""
from __future__ import annotations

import numpy as np


def _rows_per_chunk(shape: tuple, elements: int = 1 << 20) -> int:
    """Leading-axis rows per chunk of about `elements` values (at least 1)."""
    return max(1, elements // max(1, int(np.prod(shape[1:], dtype=np.int64))))


def apply_gain(X, gain: float) -> np.ndarray:
    """float32 gain * X (same shape as X), each product computed in float64 and rounded once;
    chunked over the leading axis, so no float64 copy of X is made. X: real array, e.g.
    (B, N, N, C) float32 amplitudes; gain: dimensionless."""
    X = np.asarray(X)
    out = np.empty(X.shape, dtype=np.float32)
    step = _rows_per_chunk(X.shape)
    for start in range(0, X.shape[0], step):
        out[start:start + step] = X[start:start + step].astype(np.float64) * gain
    return out


def sum_float64(x) -> float:
    """Sum of a real array in float64, chunked over the leading axis (chunk sums added in order)."""
    x = np.asarray(x)
    total = 0.0
    step = _rows_per_chunk(x.shape)
    for start in range(0, x.shape[0], step):
        total += float(np.sum(x[start:start + step], dtype=np.float64))
    return total

