"""Patch-level figures: within-patch Pearson r on the stitched window, the twin-image fraction,
and the fraction of saturated amplitude pixels."""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from ..stats import pearson


def _crop(patches, crop):
    """The central crop x crop window of (K, N, N) patches: rows and columns (N - crop)//2
    onwards, the same window `ptycho.stitching.stitch_patches` stitches."""
    N = patches.shape[-1]
    if isinstance(crop, bool) or not isinstance(crop, (int, np.integer)) or not 1 <= crop <= N:
        raise ConfigError("crop", f"must be an int in [1, N={N}], got {crop!r}")
    s = (N - crop) // 2
    return patches[:, s:s + crop, s:s + crop]


def patch_pearson(recon_patches, true_patches, *, crop: int) -> np.ndarray:
    """(K,) Pearson r within the central crop of each patch (real images, e.g. amplitudes)."""
    from ..stitching import flatten_patches

    a = _crop(flatten_patches(np.asarray(recon_patches, np.float64)), crop)
    b = _crop(flatten_patches(np.asarray(true_patches, np.float64)), crop)
    return pearson(a, b, axis=(1, 2))


def twin_fraction(recon_patches, true_patches, *, crop: int) -> float:
    """Fraction of patches whose amplitude correlates better with the twin (the truth rotated
    by 180 degrees about the patch centre, |O(-r)|) than with the truth itself."""
    from ..stitching import flatten_patches

    truth = flatten_patches(np.asarray(true_patches, np.float64))
    # rotate about pixel (N/2, N/2): index i -> N - i (mod N)
    twin = np.roll(truth[:, ::-1, ::-1], shift=(1, 1), axis=(1, 2))
    direct = patch_pearson(recon_patches, truth, crop=crop)
    flipped = patch_pearson(recon_patches, twin, crop=crop)
    ok = np.isfinite(direct) & np.isfinite(flipped)
    return float(np.mean(flipped[ok] > direct[ok])) if ok.any() else math.nan


def saturation_fraction(amplitude, ceiling: float, *, tolerance: float = 0.01,
                        where=None) -> float:
    """Fraction of pixels (in `where`) at or above (1 - tolerance) * ceiling."""
    a = np.asarray(amplitude, dtype=np.float64)
    sel = np.ones(a.shape, bool) if where is None else np.asarray(where, bool)
    if not sel.any() or not math.isfinite(ceiling):
        return 0.0
    return float(np.mean(a[sel] >= (1.0 - tolerance) * ceiling))
