"""Synthetic complex objects (transmission functions), (H, W) complex64, seeded.

- `lines_object`: the legacy "lines" test object (docs/design.md §3): 400 random segments drawn on a
  2*size canvas, blurred by g1 + 2*g5 + 5*g10, centre-cropped. Un-normalized by default (mean
  about 2.7-2.8 for size 392); `normalize="max"` scales the amplitude to max 1.
- `grf_object`: a Gaussian-random-field object with smooth, independent amplitude and phase.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.draw import line as draw_line

from .errors import ConfigError
from .validation import require_choice, require_int

LINES_FILTER = ((1.0, 1.0), (5.0, 2.0), (10.0, 5.0))  # (sigma px, weight) of the blur sum
NORMALIZE_OPTIONS = (None, "max")
PHASE_OPTIONS = (None, "coupled")


def _check_number(name: str, value, *, low: float, high: float = math.inf,
                  low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(name, f"must be a number, got {value!r}")
    value = float(value)
    ok = math.isfinite(value) and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ConfigError(name, f"must lie in {bracket}{low}, {high}], got {value}")
    return value


def lines_amplitude(size: int, *, seed: int = 1, nlines: int = 400) -> np.ndarray:
    """(size, size) float64 un-normalized lines amplitude (> 0, dimensionless).

    nlines segments with integer endpoints uniform in [0, 2*size) (rows and columns, drawn as
    one (nlines, 4) block from numpy.random.default_rng(seed)) are set to 1 on a zero canvas of
    side 2*size, which is blurred by g1 + 2*g5 + 5*g10 (scipy gaussian_filter, reflect mode)
    and centre-cropped to size.
    """
    size = require_int("size", size, minimum=1)
    seed = require_int("seed", seed, minimum=0)
    nlines = require_int("nlines", nlines, minimum=1)
    side = 2 * size
    canvas = np.zeros((side, side), dtype=np.float64)
    endpoints = np.random.default_rng(seed).integers(0, side, size=(nlines, 4))
    for r0, c0, r1, c1 in endpoints:
        rows, cols = draw_line(int(r0), int(c0), int(r1), int(c1))
        canvas[rows, cols] = 1.0
    blurred = sum(weight * gaussian_filter(canvas, sigma) for sigma, weight in LINES_FILTER)
    start = (side - size) // 2
    return blurred[start:start + size, start:start + size]


def coupled_phase(amplitude: np.ndarray) -> np.ndarray:
    """Phase (radians, in (-pi, pi)) that follows the amplitude: pi*tanh((A - max/2)/(3*mean))."""
    amplitude = np.asarray(amplitude, dtype=np.float64)
    return math.pi * np.tanh((amplitude - amplitude.max() / 2.0) / (3.0 * amplitude.mean()))


def lines_object(size: int, *, seed: int = 1, nlines: int = 400, normalize=None,
                 phase=None) -> np.ndarray:
    """(size, size) complex64 lines object.

    normalize: None (un-normalized amplitude, legacy) or 'max' (amplitude / max, so max 1).
    phase: None (zero phase) or 'coupled' (`coupled_phase` of the final amplitude).
    """
    require_choice("normalize", normalize, NORMALIZE_OPTIONS)
    require_choice("phase", phase, PHASE_OPTIONS)
    amplitude = lines_amplitude(size, seed=seed, nlines=nlines)
    if normalize == "max":
        amplitude = amplitude / amplitude.max()
    if phase == "coupled":
        return (amplitude * np.exp(1j * coupled_phase(amplitude))).astype(np.complex64)
    return amplitude.astype(np.complex64)


def gaussian_random_field(shape, correlation_length: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance (shape) float64 Gaussian random field, periodic.

    White Gaussian noise filtered in Fourier space by exp(-2 pi^2 l^2 |k|^2) (k in cycles/px),
    i.e. convolved with a Gaussian kernel of std l = correlation_length pixels (the field's
    autocorrelation is then Gaussian with std l*sqrt(2)); standardized to mean 0, std 1.
    """
    noise = rng.standard_normal(shape)
    k_rows = np.fft.fftfreq(shape[0])[:, None]
    k_cols = np.fft.fftfreq(shape[1])[None, :]
    transfer = np.exp(-2.0 * math.pi**2 * correlation_length**2 * (k_rows**2 + k_cols**2))
    field = np.fft.ifft2(np.fft.fft2(noise) * transfer).real
    field = field - field.mean()
    std = field.std()
    return field / std if std > 0 else field


def grf_object(size, *, seed: int = 1, correlation_length: float = 8.0,
               amplitude_range=(0.5, 1.0), phase_std: float = 0.5) -> np.ndarray:
    """(H, W) complex64 Gaussian-random-field object: smooth amplitude and phase.

    size: int (square) or (H, W). Two independent fields f_a, f_p (`gaussian_random_field`,
    correlation length in pixels) come from numpy.random.default_rng(seed), f_a first.
    Amplitude: a_min + (a_max - a_min) * (f_a - min f_a) / (max f_a - min f_a), so it spans
    amplitude_range exactly (a physical transmission when a_max <= 1). Phase (radians):
    phase_std * f_p, clipped to [-pi, pi].
    """
    shape = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(shape) != 2:
        raise ConfigError("size", f"must be an int or (H, W), got {size!r}")
    shape = tuple(require_int("size", n, minimum=2) for n in shape)
    seed = require_int("seed", seed, minimum=0)
    corr = _check_number("correlation_length", correlation_length, low=0.0, low_open=True)
    try:
        a_min, a_max = (float(v) for v in amplitude_range)
    except (TypeError, ValueError) as exc:
        raise ConfigError("amplitude_range",
                          f"must be (min, max), got {amplitude_range!r}") from exc
    if not (math.isfinite(a_min) and math.isfinite(a_max) and 0.0 <= a_min <= a_max):
        raise ConfigError("amplitude_range",
                          f"need finite 0 <= min <= max, got {amplitude_range!r}")
    phase_std = _check_number("phase_std", phase_std, low=0.0)

    rng = np.random.default_rng(seed)
    f_amp = gaussian_random_field(shape, corr, rng)
    f_phase = gaussian_random_field(shape, corr, rng)
    span = f_amp.max() - f_amp.min()
    unit = (f_amp - f_amp.min()) / span if span > 0 else np.zeros(shape)
    amplitude = a_min + (a_max - a_min) * unit
    phase = np.clip(phase_std * f_phase, -math.pi, math.pi)
    return (amplitude * np.exp(1j * phase)).astype(np.complex64)
