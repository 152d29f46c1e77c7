"""Position-sensitive array statistics (the complement of `parity.telemetry.array_stats`).

`array_stats` (min/max/mean/std/sums) is invariant to a permutation of pixels, so a shift,
flip or transpose changes none of its values. `position_stats` gives the intensity centroid
(row, col) of the image axes and, for diffraction arrays, the mean value at the DC pixel
(N/2, N/2) (docs/design.md §3); `correlation` gives the Pearson correlation of an array with another
of the same shape (the previous stage's), 1 for a positive multiple, below 1 for a pixel
permutation. float64, in blocks of POSITION_BLOCK patterns (never a float64 copy of a large
array), fixed summation order (bit-identical across processes).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

#: keys of `position_stats` (dc_mean only for diffraction arrays)
POSITION_KEYS = ("centroid_row", "centroid_col", "dc_mean")
#: patterns per float64 block (bounded working memory)
POSITION_BLOCK = 256


def _pattern_blocks(x: np.ndarray, image_axes: tuple[int, int]):
    """Blocks of x with the image axes moved last, as float64 |x| arrays (k, ..., H, W).

    Blocks run over the first non-image axis, POSITION_BLOCK at a time (a 2-D array is one
    block)."""
    moved = np.moveaxis(x, image_axes, (-2, -1))
    if moved.ndim == 2:
        moved = moved[None]
    for start in range(0, moved.shape[0], POSITION_BLOCK):
        block = moved[start:start + POSITION_BLOCK]
        yield (np.abs(block).astype(np.float64) if np.iscomplexobj(block)
               else block.astype(np.float64))


def position_stats(x, *, image_axes: tuple[int, int] | None = None,
                   diffraction: bool = False) -> dict[str, Any]:
    """Position-sensitive statistics of an image array (POSITION_KEYS).

    centroid_row / centroid_col: the intensity-weighted (|x|^2) mean row and column index over
    all patterns (pixel indices 0..H-1, 0..W-1 of the image axes), so a flip, shift or
    transpose moves them; dc_mean (only with `diffraction=True`): the mean of x at the DC pixel
    (H/2, W/2), which a one-axis or missing fftshift moves. image_axes: default (1, 2) for
    rank >= 3, the two axes of a 2-D array. NaN centroids when the array has no energy.
    """
    x = np.asarray(x)
    if image_axes is None:
        image_axes = (1, 2) if x.ndim >= 3 else (0, 1)
    image_axes = tuple(int(a) % x.ndim for a in image_axes)
    H, W = x.shape[image_axes[0]], x.shape[image_axes[1]]
    energy_map = np.zeros((H, W))
    dc_sum, n = 0.0, 0
    for block in _pattern_blocks(x, image_axes):
        energy_map += np.square(block).reshape(-1, H, W).sum(axis=0)
        if diffraction:
            dc = block[..., H // 2, W // 2]
            dc_sum += math.fsum(dc.ravel().tolist())
            n += dc.size
    total = math.fsum(energy_map.ravel().tolist())
    if total > 0 and math.isfinite(total):
        row = math.fsum((energy_map.sum(axis=1) * np.arange(H)).tolist()) / total
        col = math.fsum((energy_map.sum(axis=0) * np.arange(W)).tolist()) / total
    else:
        row = col = math.nan
    out = {"centroid_row": row, "centroid_col": col}
    if diffraction:
        out["dc_mean"] = dc_sum / n if n else math.nan
    return out


def correlation(a, b) -> float:
    """Pearson correlation of two arrays of the same shape over all elements (|x| for complex):
    1 for arrays that are positive multiples of each other, below 1 when one is a pixel
    permutation of the other; NaN when either is constant. ValueError when shapes differ."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"correlation of arrays of different shapes {a.shape} and {b.shape}")
    if a.ndim == 0:
        return math.nan
    sums = np.zeros(5)  # sum a, sum b, sum a^2, sum b^2, sum ab
    for start in range(0, a.shape[0], POSITION_BLOCK):
        pa, pb = (np.abs(p[start:start + POSITION_BLOCK]).astype(np.float64).ravel()
                  for p in (a, b))
        # numpy's own pairwise sums, not BLAS dot products: a BLAS dot splits its sum over
        # the library's threads, so its last bits depend on the thread count of the process
        sums += (pa.sum(), pb.sum(), np.sum(pa * pa), np.sum(pb * pb), np.sum(pa * pb))
    n = a.size
    sa, sb, saa, sbb, sab = sums.tolist()
    var_a, var_b = saa - sa * sa / n, sbb - sb * sb / n
    if not (var_a > 0 and var_b > 0):
        return math.nan
    return (sab - sa * sb / n) / math.sqrt(var_a * var_b)
