"""Specification of the `scan` stage (docs/design.md §3, ptycho.simulate docstrings).

- Random ('nongrid') scan: n_points positions, x uniform in [buffer, W - buffer] and y in
  [buffer, H - buffer], drawn as one (n_points, 2) block [x, y] of uniforms from the
  SCAN_STREAM (spawn key 0) generator of the seed; buffer = N/2 so every patch lies inside.
- Raster option: positions buffer + k*offset <= size - buffer on both axes, row-major (y
  outer, x inner), spacing exactly `offset`.
"""
from __future__ import annotations

import math

import numpy as np

#: spawn key of the scan stream (ptycho.simulate docstring: scan and noise use separate streams)
SCAN_STREAM = 0
#: raster step used to exercise the raster option (px)
RASTER_OFFSET = 8.0


def reference_random_scan(size_hw, n: int, buffer: float, seed: int):
    """(x, y) float64 from the documented stream."""
    H, W = size_hw
    u = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SCAN_STREAM,))
                              ).uniform(size=(n, 2))
    return buffer + (W - 2 * buffer) * u[:, 0], buffer + (H - 2 * buffer) * u[:, 1]


def ks_statistic(u) -> float:
    """Kolmogorov-Smirnov distance of samples u from U(0, 1) (brute force)."""
    u = np.sort(np.asarray(u, np.float64))
    n = u.size
    if n == 0:
        return math.inf
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - u), np.max(u - (i - 1) / n)))


def ks_bound(n: int, alpha: float) -> float:
    """Asymptotic KS critical value sqrt(-ln(alpha/2) / (2n)) at false-alarm rate alpha."""
    return math.sqrt(-math.log(alpha / 2.0) / (2.0 * n)) if n else 0.0


def random_scan_spec(x, y, *, size: int, n_points: int, buffer: float, seed: int) -> dict:
    """count_error: |len - n_points|; bounds_violation: largest distance (px) of a position
    outside [buffer, size - buffer]; reference_error: max |position - documented stream| (px);
    ks_x / ks_y: KS distance of the normalized positions from U(0, 1)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    lo, hi = float(buffer), float(size) - float(buffer)
    viol = 0.0
    for v in (x, y):
        if v.size:
            viol = max(viol, float(np.max(np.maximum(lo - v, v - hi))), 0.0)
    xr, yr = reference_random_scan((size, size), n_points, buffer, seed)
    same = x.shape == xr.shape and y.shape == yr.shape
    span = hi - lo
    return {
        "count_error": abs(int(x.size) - int(n_points)) + abs(int(y.size) - int(n_points)),
        "bounds_violation": viol,
        "reference_error": (max(float(np.max(np.abs(x - xr))), float(np.max(np.abs(y - yr))))
                            if same else math.inf),
        "ks_x": ks_statistic((x - lo) / span),
        "ks_y": ks_statistic((y - lo) / span),
        "n": int(x.size),
    }


def raster_spec(make, *, size: int, buffer: float, offset: float = RASTER_OFFSET) -> dict:
    """The raster option (`make` = the product's raster_scan): raster_error = max |position -
    documented grid| (px, inf on a count mismatch)."""
    x, y = make((size, size), offset, buffer=buffer)
    n_axis = int(math.floor((size - 2 * buffer) / offset)) + 1
    grid = [buffer + offset * k for k in range(n_axis)]
    want_x = np.array([gx for gy in grid for gx in grid])
    want_y = np.array([gy for gy in grid for gx in grid])
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != want_x.shape or y.shape != want_y.shape:
        return {"raster_error": math.inf, "raster_points": int(x.size)}
    return {"raster_error": max(float(np.max(np.abs(x - want_x))), float(np.max(np.abs(y - want_y)))),
            "raster_points": int(x.size)}
