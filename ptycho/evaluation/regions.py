"""The evaluated region: the bounding box of the scan, the covered pixels and the largest
all-covered rectangle. Canvas pixels; positions x = column, y = row."""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from ..validation import require_same_shape

#: smallest side (pixels) of the covered rectangle on which SSIM and FRC are computed
MIN_RECTANGLE = 16


def scan_region(xcoords, ycoords, shape, origin=(0.0, 0.0)) -> tuple[slice, slice]:
    """(row slice, col slice) of the bounding box of the scan positions on a canvas.

    Positions are object pixels; `origin` is the object coordinate of canvas pixel (0, 0).
    The box runs from ceil(min) to floor(max) inclusive, clipped to `shape`.
    """
    x = np.asarray(xcoords, dtype=np.float64) - float(origin[1])
    y = np.asarray(ycoords, dtype=np.float64) - float(origin[0])
    if x.size == 0:
        raise ConfigError("xcoords", "no scan positions")
    r0 = max(int(math.ceil(y.min())), 0)
    r1 = min(int(math.floor(y.max())) + 1, int(shape[0]))
    c0 = max(int(math.ceil(x.min())), 0)
    c1 = min(int(math.floor(x.max())) + 1, int(shape[1]))
    if r1 <= r0 or c1 <= c0:
        raise ConfigError("xcoords", f"scan region is empty on a canvas of shape {tuple(shape)}")
    return slice(r0, r1), slice(c0, c1)


def crop_to_scan(image, xcoords, ycoords, origin=(0.0, 0.0)) -> np.ndarray:
    """`image` cropped to the bounding box of the scan positions (see `scan_region`)."""
    image = np.asarray(image)
    rows, cols = scan_region(xcoords, ycoords, image.shape, origin)
    return image[rows, cols]


def largest_true_rectangle(mask) -> tuple[slice, slice]:
    """(row slice, col slice) of the largest axis-aligned all-True rectangle of a 2-D mask
    (by area; the first found on ties). Empty slices when the mask has no True pixel."""
    mask = np.asarray(mask, bool)
    H, W = mask.shape
    heights = np.zeros(W + 1, dtype=np.int64)         # trailing 0 flushes the stack
    best = (0, 0, 0, 0, 0)                            # area, r0, r1, c0, c1
    for r in range(H):
        heights[:W] = np.where(mask[r], heights[:W] + 1, 0)
        stack: list[int] = []                         # columns with increasing heights
        for c in range(W + 1):
            while stack and heights[stack[-1]] >= heights[c]:
                h = int(heights[stack.pop()])
                left = stack[-1] + 1 if stack else 0
                if h * (c - left) > best[0]:
                    best = (h * (c - left), r - h + 1, r + 1, left, c)
            stack.append(c)
    _, r0, r1, c0, c1 = best
    return slice(r0, r1), slice(c0, c1)


def evaluated_pixels(shape, mask) -> np.ndarray:
    """(H, W) bool of the evaluated pixels: `mask`, or every pixel of `shape` when None."""
    sel = np.ones(shape, bool) if mask is None else np.asarray(mask, bool)
    require_same_shape("mask", sel, tuple(shape), of="image", error=ConfigError)
    return sel


def rectangle_is_big(rows: slice, cols: slice) -> bool:
    """Whether both sides of the rectangle are at least MIN_RECTANGLE pixels."""
    return (rows.stop - rows.start) >= MIN_RECTANGLE and (cols.stop - cols.start) >= MIN_RECTANGLE
