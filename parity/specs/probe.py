"""Specification of the `probe` stage (docs/design.md §3, ptycho.probe docstring).

- Ideal probe: a symmetric Gaussian window of length N, std N / (default_probe_scale * pi^2),
  peak 1 at (N-1)/2; outer product thresholded > 0.5 to a disk; smoothed by a sigma = 1 px
  Gaussian filter; + 1e-9; zero phase. It is centred: its |P|^2 centroid is ((N-1)/2, (N-1)/2)
  and it equals its transpose and its 180-degree rotation.
- Experimental probe: the bundled NPZ's probeGuess, unchanged up to normalization.
- Normalization: P_n = P / (probe_scale * mean_{NxN} |P*M|), the mask always in the mean, so
  mean|P_n*M| = 1/probe_scale; probe_scale changes the scale only (P_n(2a) = P_n(a) / 2).
- Mask M: r < N//4 from ((N-1)/2, (N-1)/2); 812 px at N = 64.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter

from .sampling import disk_mask, rel_max


@lru_cache(maxsize=8)
def mask_reference(N: int) -> np.ndarray:
    """The documented (N, N) mask (read-only)."""
    out = disk_mask(int(N))
    out.setflags(write=False)
    return out


def ideal_reference(N: int, default_probe_scale: float) -> np.ndarray:
    """(N, N) float64 un-normalized ideal probe amplitude from the documented recipe."""
    std = N / (default_probe_scale * math.pi ** 2)
    n = np.arange(N, dtype=np.float64) - (N - 1) / 2.0
    window = np.exp(-0.5 * (n / std) ** 2)
    disk = (window[:, None] * window[None, :] > 0.5).astype(np.float64)
    return gaussian_filter(disk, sigma=1.0) + 1e-9


def normalized_reference(P_raw, probe_scale: float) -> np.ndarray:
    """P_raw / (probe_scale * mean|P_raw * M|) in complex128, M the documented mask."""
    P = np.asarray(P_raw, np.complex128)
    return P / (probe_scale * float(np.mean(np.abs(P * mask_reference(P.shape[0])))))


def probe_spec(P, *, raw, probe_scale: float, ideal: bool, mask=None, normalize=None) -> dict:
    """Measured values of the stage's normalized probe `P` (N, N).

    raw: the un-normalized source probe from the documented recipe (`ideal_reference`) or
    the experimental file; ideal: whether the ideal-probe geometry (centring, symmetry)
    applies. mask: the product's probe_mask(N) (compared with the documented one);
    normalize: the product's normalize_probe, exercised on `raw` at 2 * probe_scale.
    reference_error: max|P - P_ref| / max|P_ref|; normalization_error:
    |probe_scale * mean|P*M| - 1|; centre_offset (px, ideal only; None otherwise) and
    symmetry_error (ideal only); mask_pixel_errors: pixels where the product's mask differs;
    scale_option_error: max|normalize(raw, 2a) - P/2| / max|P/2|.
    """
    P = np.asarray(P)
    N = P.shape[0]
    P64 = P.astype(np.complex128)
    M = mask_reference(N)
    ref = normalized_reference(raw, probe_scale)
    out = {
        "shape_ok": P.shape == (N, N) and P.dtype == np.complex64,
        "reference_error": rel_max(P64, ref),
        "normalization_error": abs(probe_scale * float(np.mean(np.abs(P64 * M))) - 1.0),
        "mask_pixels_reference": int(M.sum()),
    }
    if ideal:
        power = np.abs(P64) ** 2
        idx = np.arange(N, dtype=np.float64)
        cr = float(np.sum(power.sum(axis=1) * idx) / power.sum())
        cc = float(np.sum(power.sum(axis=0) * idx) / power.sum())
        out["centre_offset"] = max(abs(cr - (N - 1) / 2.0), abs(cc - (N - 1) / 2.0))
        out["symmetry_error"] = max(rel_max(P64.T, P64), rel_max(P64[::-1, ::-1], P64))
    else:
        out["centre_offset"] = None
        out["symmetry_error"] = None
    if mask is not None:
        out["mask_pixel_errors"] = int(np.count_nonzero(np.asarray(mask, np.float64) != M))
    if normalize is not None:
        twice = np.asarray(normalize(np.asarray(raw, np.complex64), 2.0 * probe_scale),
                           np.complex128)
        out["scale_option_error"] = rel_max(twice, P64 / 2.0)
    return out
