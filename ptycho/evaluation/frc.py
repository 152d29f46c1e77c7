"""Fourier ring correlation of two real images and its crossings of the fixed (0.5, 1/7) and
1/2-bit thresholds. Frequencies in cycles/pixel."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .metrics import float_pair

#: fixed FRC thresholds; the 1/2-bit threshold (per ring) is reported beside them as HALF_BIT
FRC_THRESHOLDS = {"0.5": 0.5, "1/7": 1.0 / 7.0}
#: name of the 1/2-bit threshold crossing in frc_summary / amplitude_metrics
HALF_BIT = "1/2bit"


def _rings(shape) -> tuple[np.ndarray, int, float]:
    """(ring index per Fourier pixel of fft2 layout, number of rings, ring width cycles/px)."""
    fy = np.fft.fftfreq(int(shape[0]))[:, None]
    fx = np.fft.fftfreq(int(shape[1]))[None, :]
    radius = np.sqrt(fy**2 + fx**2)
    n_rings = min(shape) // 2
    width = 0.5 / n_rings
    return np.floor(radius / width).astype(np.int64), n_rings, width


def ring_pixel_counts(shape) -> np.ndarray:
    """(n_rings,) number n_r of Fourier pixels in each FRC ring of an image of `shape`
    (the rings of `frc_curve`; e.g. 1, 8, 16, ... for 64 x 64)."""
    ring, n_rings, _ = _rings(shape)
    keep = ring < n_rings
    return np.bincount(ring[keep], minlength=n_rings)


def half_bit_threshold(n_pixels) -> np.ndarray:
    """1/2-bit FRC threshold (van Heel & Schatz 2005) for rings of n_r pixels:
    (0.2071 + 1.9102/sqrt(n_r)) / (1.2071 + 0.9102/sqrt(n_r)); nan for an empty ring."""
    n = np.asarray(n_pixels, dtype=np.float64)
    out = np.full(n.shape, np.nan)
    ok = n > 0
    root = np.sqrt(n[ok])
    out[ok] = (0.2071 + 1.9102 / root) / (1.2071 + 0.9102 / root)
    return out


def frc_curve(image_a, image_b, *, window: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Fourier ring correlation of two (H, W) real images.

    Rings of width 1/min(H, W) cycles/pixel from 0 to 0.5. With `window` both images are
    mean-subtracted and multiplied by a 2-D Hann window first. Returns (freq, frc): ring
    centre frequencies in cycles/pixel and the correlation per ring (nan for an empty ring).
    `ring_pixel_counts(shape)` gives the pixels per ring.
    """
    a, b = float_pair(image_a, image_b)
    if a.ndim != 2:
        raise ConfigError("image_a", f"must be 2-D, got shape {a.shape}")
    if window:
        hann = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
        a = (a - a.mean()) * hann
        b = (b - b.mean()) * hann
    fa, fb = np.fft.fft2(a), np.fft.fft2(b)
    ring, n_rings, width = _rings(a.shape)
    keep = ring < n_rings
    cross = np.bincount(ring[keep], (fa * np.conj(fb)).real[keep], minlength=n_rings)
    pa = np.bincount(ring[keep], (np.abs(fa) ** 2)[keep], minlength=n_rings)
    pb = np.bincount(ring[keep], (np.abs(fb) ** 2)[keep], minlength=n_rings)
    denom = np.sqrt(pa * pb)
    frc = np.full(n_rings, np.nan)
    np.divide(cross, denom, out=frc, where=denom > 0)
    freq = (np.arange(n_rings) + 0.5) * width
    return freq, frc


def frc_crossing(freq, frc, threshold) -> float | None:
    """First frequency (cycles/pixel, linearly interpolated) where the FRC falls below
    `threshold`, ignoring the DC ring; None when it never does. `threshold` is a number or
    one value per ring (e.g. `half_bit_threshold`); the interpolation is then on frc - threshold."""
    freq = np.asarray(freq, dtype=np.float64)
    frc = np.asarray(frc, dtype=np.float64)
    thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), frc.shape)
    diff = frc - thr
    for i in range(1, len(frc)):
        if np.isfinite(diff[i]) and diff[i] < 0:
            prev = diff[i - 1]
            if i == 1 or not np.isfinite(prev) or prev == diff[i]:
                return float(freq[i])
            t = prev / (prev - diff[i])
            return float(freq[i - 1] + t * (freq[i] - freq[i - 1]))
    return None


def frc_summary(image_a, image_b) -> dict:
    """{'freq': [...], 'frc': [...], 'ring_pixels': [...], 'threshold_1/2bit': [...],
    '0.5': crossing, '1/7': crossing, '1/2bit': crossing} (JSON-safe)."""
    freq, frc = frc_curve(image_a, image_b)
    counts = ring_pixel_counts(np.shape(image_a))
    half = half_bit_threshold(counts)
    out = {"freq": freq.tolist(), "frc": [None if not np.isfinite(v) else float(v) for v in frc],
           "ring_pixels": [int(n) for n in counts],
           f"threshold_{HALF_BIT}": [None if not np.isfinite(v) else float(v) for v in half]}
    for name, thr in FRC_THRESHOLDS.items():
        out[name] = frc_crossing(freq, frc, thr)
    out[HALF_BIT] = frc_crossing(freq, frc, half)
    return out
