"""Specification of the `stitch` stage (ptycho.stitching docstring): global positions and the
reassembly, against a brute-force paste-and-average.

- global position of channel c of group b (flat index b*C + c) = coords_offsets -
  coords_relative = the member's raw scan position;
- the stitched image is, per canvas pixel, the weighted mean of the central crop x crop of
  every patch translated to its position (bilinear weights, out(r) = in(r - t)), pixels
  covered by no patch 0; recomputed here one patch and one crop pixel at a time.
"""
from __future__ import annotations

import math

import numpy as np

from .sampling import rel_max


def brute_force_stitch(patches_flat, x, y, *, crop: int, shape, origin=(0.0, 0.0),
                       min_weight: float = 1e-6):
    """(image, weight): each crop pixel (i, j) of patch k lands at canvas position
    (y_k - N/2 + s + i - origin_r, x_k - N/2 + s + j - origin_c), s = (N - crop)//2, and is
    split over the four surrounding canvas pixels by area weights; image = sum / weight where
    weight > min_weight."""
    flat = np.asarray(patches_flat)
    K, N, _ = flat.shape
    s = (N - crop) // 2
    acc = np.zeros(shape, np.complex128)
    wsum = np.zeros(shape, np.float64)
    H, W = shape
    for k in range(K):
        top = float(y[k]) - N / 2.0 + s - origin[0]
        left = float(x[k]) - N / 2.0 + s - origin[1]
        r0, c0 = math.floor(top), math.floor(left)
        fr, fc = top - r0, left - c0
        block = flat[k, s:s + crop, s:s + crop].astype(np.complex128)
        for dr, wr in ((0, 1 - fr), (1, fr)):
            for dc, wc in ((0, 1 - fc), (1, fc)):
                w = wr * wc
                if w == 0:
                    continue
                for i in range(crop):
                    r = r0 + dr + i
                    if not 0 <= r < H:
                        continue
                    cols = c0 + dc + np.arange(crop)
                    ok = (cols >= 0) & (cols < W)
                    acc[r, cols[ok]] += w * block[i, ok]
                    wsum[r, cols[ok]] += w
    image = np.zeros(shape, np.complex128)
    cov = wsum > min_weight
    image[cov] = acc[cov] / wsum[cov]
    return image, wsum


def stitch_spec(result, patches, *, gx, gy, raw_x, raw_y, nn_indices, crop: int, shape,
                origin=(0.0, 0.0)) -> dict:
    """result: the product's StitchResult of `patches` (B, N, N, C) at (gx, gy) = the product's
    global positions; raw_x, raw_y: raw scan positions; nn_indices (B, C).
    position_error: max |global position - raw position of the member| (px);
    image_error: max|image - brute force| / max|brute force|; weight_error: max|weight -
    brute-force weight| (overlap counts)."""
    P = np.asarray(patches)
    B, N, _, C = P.shape
    flat = np.transpose(P, (0, 3, 1, 2)).reshape(B * C, N, N)
    nn = np.asarray(nn_indices).reshape(-1)
    xr = np.asarray(raw_x, np.float64)[nn]
    yr = np.asarray(raw_y, np.float64)[nn]
    gx, gy = np.asarray(gx, np.float64), np.asarray(gy, np.float64)
    pos = (max(float(np.max(np.abs(gx - xr))), float(np.max(np.abs(gy - yr))))
           if gx.shape == xr.shape and gy.shape == yr.shape else math.inf)
    image, weight = brute_force_stitch(flat, xr, yr, crop=crop, shape=tuple(shape), origin=origin)
    got = np.asarray(result.image)
    return {"patches": int(B * C), "position_error": pos,
            "image_error": rel_max(got, image) if got.shape == image.shape else math.inf,
            "weight_error": (float(np.max(np.abs(np.asarray(result.weight) - weight)))
                             if got.shape == image.shape else math.inf)}
