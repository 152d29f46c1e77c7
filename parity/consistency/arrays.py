"""What the consistency checks share: array comparisons, the channel layout, the group members'
true scan positions, and how many groups a check that runs the model uses."""
from __future__ import annotations

import numpy as np

#: groups used by a diagnostic that runs the model (one batch; bounds cost on the large tiers)
DIAGNOSTIC_GROUPS = 64


def rel_to_max(a: np.ndarray, b: np.ndarray, axes=(1, 2)) -> float:
    """max over patterns of max|a - b| / max|b| (float64); 0 for empty input."""
    a = np.asarray(a, np.float64) if not np.iscomplexobj(a) else np.asarray(a, np.complex128)
    b = np.asarray(b, np.float64) if not np.iscomplexobj(b) else np.asarray(b, np.complex128)
    if a.size == 0:
        return 0.0
    den = np.max(np.abs(b), axis=axes)
    num = np.max(np.abs(a - b), axis=axes)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num > 0, np.inf, 0.0))
    return float(np.max(rel))


def channels_last(flat: np.ndarray, B: int, C: int) -> np.ndarray:
    """(B*C, N, N) flat index b*C + c -> (B, N, N, C)."""
    N = flat.shape[-1]
    return np.ascontiguousarray(flat.reshape(B, C, N, N).transpose(0, 2, 3, 1))


def truth_positions(raw, nn_indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) (B, C) float64 scan positions of the group members, from the raw data."""
    nn = np.asarray(nn_indices)
    return np.asarray(raw.xcoords, np.float64)[nn], np.asarray(raw.ycoords, np.float64)[nn]
