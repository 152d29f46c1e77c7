"""The trivial constant-amplitude reconstruction every quality figure is reported beside: one
constant per pattern from its total intensity (sum X^2 = sum |P O|^2, so
c^2 * sum |P|^2 = sum X^2), stitched like the model."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def constant_amplitude_baseline(X_raw, probe, mask=None) -> np.ndarray:
    """(K,) constant object amplitude per pattern: c = sqrt(sum X^2 / sum |P (M)|^2).

    X_raw: (K, N, N) or (B, N, N, C) raw diffraction amplitudes (flattened b*C + c), in the
    units where sum X_raw^2 = sum |P O|^2; probe (N, N) complex; mask (N, N) or None.
    """
    from ..stitching import flatten_patches

    X = flatten_patches(np.asarray(X_raw, dtype=np.float64))
    illum = np.abs(np.asarray(probe, dtype=np.complex128)) ** 2
    if mask is not None:
        illum = illum * np.asarray(mask, dtype=np.float64) ** 2
    total = float(illum.sum())
    if not total > 0:
        raise ConfigError("probe", "has no intensity")
    return np.sqrt(np.sum(X * X, axis=(1, 2)) / total)


def baseline_patches(amplitudes, N: int) -> np.ndarray:
    """(K, N, N) float64 patches, each constant at its baseline amplitude."""
    a = np.asarray(amplitudes, dtype=np.float64).reshape(-1)
    return np.broadcast_to(a[:, None, None], (a.size, N, N)).copy()
