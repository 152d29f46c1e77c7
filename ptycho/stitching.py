"""Global reassembly of reconstructed patches with overlap normalization.

Each patch (N, N) is centred at its scan position (x = column, y = row, object pixels):
patch[i, j] = obj(y + i - N/2, x + j - N/2). Its central M x M crop (rows and columns
(N - M)//2 ...) starts at object pixel (y + (N - M)//2 - N/2, same for x), i.e. (y - M/2, x - M/2)
for even N - M, and is translated there on the canvas (bilinear, zero fill; the same
`out(r) = in(r - t)` convention as the rest of ptycho). The canvas is the sum of translated
crops divided by the sum of translated all-ones crops (pixels covered by no patch are 0).
By default positions are taken relative to their centre of mass, which lands at the canvas
centre; pass `origin` and `shape` to stitch straight into object coordinates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .validation import require_finite, require_same_shape

#: canvas weight below which a pixel counts as uncovered (its value is set to 0)
MIN_WEIGHT = 1e-6


@dataclass(frozen=True)
class StitchResult:
    """image: (H, W) stitched patches (dtype of the patches, float64 or complex128);
    weight: (H, W) float64 reassembled ones (overlap count, fractional at bilinear edges);
    origin: (row0, col0) object coordinate of canvas pixel (0, 0)."""

    image: np.ndarray
    weight: np.ndarray
    origin: tuple[float, float]

    def covered(self, min_weight: float = MIN_WEIGHT) -> np.ndarray:
        """(H, W) bool: pixels that received patch content."""
        return self.weight > min_weight


def global_positions(coords_offsets, coords_relative) -> tuple[np.ndarray, np.ndarray]:
    """Flat (B*C,) x and y of every patch from grouped coordinates (flat index b*C + c).

    coords_offsets (B, 1, 2, 1) group centroids; coords_relative (B, 1, 2, C) =
    -(coords - centroid), so coords = centroid - coords_relative.
    """
    off = np.asarray(coords_offsets, dtype=np.float64)
    rel = np.asarray(coords_relative, dtype=np.float64)
    if off.ndim != 4 or off.shape[1:3] != (1, 2):
        raise ConfigError("coords_offsets", f"must be (B, 1, 2, 1), got {off.shape}")
    if rel.ndim != 4 or rel.shape[1:3] != (1, 2) or rel.shape[0] != off.shape[0]:
        raise ConfigError("coords_relative", f"must be (B, 1, 2, C) with B={off.shape[0]}, "
                                             f"got {rel.shape}")
    coords = off - rel                                   # (B, 1, 2, C)
    return coords[:, 0, 0, :].reshape(-1), coords[:, 0, 1, :].reshape(-1)


def flatten_patches(patches) -> np.ndarray:
    """(B, N, N, C) channels-last -> (B*C, N, N), flat index b*C + c; (K, N, N) unchanged."""
    patches = np.asarray(patches)
    if patches.ndim == 3:
        return patches
    if patches.ndim != 4:
        raise ConfigError("patches", f"must be (K, N, N) or (B, N, N, C), got {patches.shape}")
    B, N, _, C = patches.shape
    return np.transpose(patches, (0, 3, 1, 2)).reshape(B * C, N, N)


def _splat(canvas, block, top, left):
    """Add `block` translated to (top, left) (fractional) onto `canvas` by bilinear weights."""
    r0, c0 = math.floor(top), math.floor(left)
    fr, fc = top - r0, left - c0
    m_r, m_c = block.shape
    for dr, wr in ((0, 1.0 - fr), (1, fr)):
        for dc, wc in ((0, 1.0 - fc), (1, fc)):
            w = wr * wc
            if w == 0.0:
                continue
            rs, cs = r0 + dr, c0 + dc
            # clip to the canvas (content falling outside is dropped)
            a0, b0 = max(rs, 0), max(cs, 0)
            a1, b1 = min(rs + m_r, canvas.shape[0]), min(cs + m_c, canvas.shape[1])
            if a1 <= a0 or b1 <= b0:
                continue
            canvas[a0:a1, b0:b1] += w * block[a0 - rs:a1 - rs, b0 - cs:b1 - cs]


def stitch_patches(patches, xcoords, ycoords, *, crop: int, origin=None, shape=None,
                   min_weight: float = MIN_WEIGHT) -> StitchResult:
    """Stitch the central `crop` x `crop` of each patch at its global position.

    patches: (K, N, N) or (B, N, N, C) (flattened b*C + c), real or complex.
    xcoords, ycoords: (K,) float64 object-pixel positions of the patch centres.
    origin: (row0, col0) object coordinate of canvas pixel (0, 0); shape: (H, W). When both
    are None the canvas just holds every crop with the positions' centre of mass at its
    centre. Returns StitchResult(image, weight, origin).
    """
    flat = flatten_patches(patches)
    K, N, _ = flat.shape
    x = np.asarray(xcoords, dtype=np.float64).reshape(-1)
    y = np.asarray(ycoords, dtype=np.float64).reshape(-1)
    require_same_shape("xcoords", x, (K,), error=ConfigError)
    require_same_shape("ycoords", y, (K,), error=ConfigError)
    require_finite("xcoords", x, error=ConfigError)
    require_finite("ycoords", y, error=ConfigError)
    if isinstance(crop, bool) or not isinstance(crop, (int, np.integer)) or not 1 <= crop <= N:
        raise ConfigError("crop", f"must be an int in [1, N={N}], got {crop!r}")
    start = (N - crop) // 2
    half = crop / 2.0
    if shape is None:
        com_r, com_c = float(np.mean(y)), float(np.mean(x))
        extent_r = float(np.max(np.abs(y - com_r))) if K else 0.0
        extent_c = float(np.max(np.abs(x - com_c))) if K else 0.0
        shape = (2 * math.ceil(extent_r + half) + 2, 2 * math.ceil(extent_c + half) + 2)
        if origin is None:
            origin = (com_r - shape[0] / 2.0, com_c - shape[1] / 2.0)
    shape = (int(shape[0]), int(shape[1]))
    origin = (0.0, 0.0) if origin is None else (float(origin[0]), float(origin[1]))

    dtype = np.complex128 if np.iscomplexobj(flat) else np.float64
    acc = np.zeros(shape, dtype=dtype)
    weight = np.zeros(shape, dtype=np.float64)
    ones = np.ones((crop, crop), dtype=np.float64)
    for k in range(K):
        block = flat[k, start:start + crop, start:start + crop].astype(dtype)
        top = y[k] + start - N / 2.0 - origin[0]
        left = x[k] + start - N / 2.0 - origin[1]
        _splat(acc, block, top, left)
        _splat(weight, ones, top, left)
    covered = weight > min_weight
    image = np.zeros(shape, dtype=dtype)
    image[covered] = acc[covered] / weight[covered]
    return StitchResult(image=image, weight=weight, origin=origin)
