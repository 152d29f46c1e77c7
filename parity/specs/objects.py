"""Specification of the `object` stage: the lines object (docs/design.md §3, ptycho.objects docstring).

- Construction: nlines (400) segments with integer endpoints (r0, c0, r1, c1) uniform in
  [0, 2*size), drawn as one (nlines, 4) block from numpy.random.default_rng(seed), value 1 on
  a zero 2*size canvas, blurred by g1 + 2*g5 + 5*g10 (Gaussian filters, reflect mode),
  centre-cropped to size; complex64, zero phase by default.
- Range: every filter is normalized and the canvas is in {0, 1}, so the amplitude lies in
  [0, 1 + 2 + 5] = [0, 8] whatever the seed or size.
- Options: normalize='max' only rescales (max exactly 1, |O_max| = |O| / max|O|); phase='coupled'
  leaves the amplitude unchanged and sets the phase pi*tanh((A - max/2)/(3*mean)).

The Gaussian-random-field object (ptycho.objects.grf_object docstring), checked in every replay
on two small non-square objects since no gate scenario uses it as its object:
- Two fields from numpy.random.default_rng(seed), amplitude first: each white standard-normal
  noise filtered in Fourier space by exp(-2 pi^2 l^2 |k|^2) (k in cycles/px, periodic),
  standardized to mean 0 and (population) std 1.
- Amplitude: the first field mapped affinely onto amplitude_range (its min and max exactly);
  phase: phase_std times the second field, clipped to [-pi, pi]; complex64.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy.ndimage import gaussian_filter

from .sampling import rel_max

#: (sigma px, weight) of the documented blur; the amplitude ceiling is the sum of the weights
BLUR = ((1.0, 1.0), (5.0, 2.0), (10.0, 5.0))
AMPLITUDE_CEILING = sum(w for _, w in BLUR)
NLINES = 400
#: object side and line count used to exercise the options (the specification holds for any)
OPTION_SIZE, OPTION_NLINES = 24, 40


def _segment(r0: int, c0: int, r1: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of a digital straight segment (Bresenham: one pixel per step of the major axis,
    the minor coordinate rounded half away from the start)."""
    dr, dc = r1 - r0, c1 - c0
    n = max(abs(dr), abs(dc))
    if n == 0:
        return np.array([r0]), np.array([c0])
    t = np.arange(n + 1)
    if abs(dr) >= abs(dc):
        rows = r0 + np.sign(dr) * t
        cols = c0 + _round_steps(dc, abs(dr), t)
    else:
        cols = c0 + np.sign(dc) * t
        rows = r0 + _round_steps(dr, abs(dc), t)
    return rows.astype(np.int64), cols.astype(np.int64)


def _round_steps(d: int, n: int, t: np.ndarray) -> np.ndarray:
    """round(d * t / n), halves away from zero, in exact integer arithmetic."""
    num = 2 * abs(d) * t + n
    return np.sign(d) * (num // (2 * n))


@lru_cache(maxsize=8)
def lines_reference(size: int, seed: int, nlines: int = NLINES) -> np.ndarray:
    """(size, size) float64 amplitude built from the documented recipe (read-only array)."""
    side = 2 * size
    canvas = np.zeros((side, side))
    ends = np.random.default_rng(seed).integers(0, side, size=(nlines, 4))
    for r0, c0, r1, c1 in ends.tolist():
        rows, cols = _segment(r0, c0, r1, c1)
        canvas[rows, cols] = 1.0
    blurred = sum(w * gaussian_filter(canvas, s, mode="reflect") for s, w in BLUR)
    start = (side - size) // 2
    out = np.array(blurred[start:start + size, start:start + size])
    out.setflags(write=False)
    return out


def lines_spec(obj, *, size: int, seed: int) -> dict:
    """Measured values of the stage's lines object against its specification.

    reference_error: max|O - O_ref| / max O_ref, O_ref from the documented recipe;
    amplitude_min / amplitude_max (the range [0, AMPLITUDE_CEILING]); phase_max_abs (0);
    shape_ok / complex64 (shape (size, size), dtype complex64).
    """
    obj = np.asarray(obj)
    amp = np.abs(obj.astype(np.complex128))
    ref = lines_reference(int(size), int(seed))
    return {
        "shape_ok": obj.shape == (size, size),
        "complex64": obj.dtype == np.complex64,
        "reference_error": rel_max(amp, ref),
        "amplitude_min": float(amp.min()),
        "amplitude_max": float(amp.max()),
        "amplitude_ceiling": AMPLITUDE_CEILING,
        "phase_max_abs": float(np.max(np.abs(np.angle(obj)))),
    }


def lines_option_spec(make, *, seed: int, size: int = OPTION_SIZE,
                      nlines: int = OPTION_NLINES) -> dict:
    """What the generator's options may change: `make` is the product's lines_object.

    normalize_max_error: |max|O_max| - 1|; normalize_shape_error: max| |O_max| - |O|/max|O| |;
    coupled_amplitude_error: max| |O_c| - |O| | / max|O|; coupled_phase_error: max over pixels
    of the wrapped |angle(O_c) - pi*tanh((A - max A / 2) / (3 mean A))| (rad).
    """
    base = np.abs(np.asarray(make(size, seed=seed, nlines=nlines), np.complex128))
    top = float(base.max())
    normed = np.abs(np.asarray(make(size, seed=seed, nlines=nlines, normalize="max"), np.complex128))
    coupled = np.asarray(make(size, seed=seed, nlines=nlines, phase="coupled"), np.complex128)
    want_phase = math.pi * np.tanh((base - top / 2.0) / (3.0 * base.mean()))
    dphi = np.angle(np.exp(1j * (np.angle(coupled) - want_phase)))
    return {
        "normalize_max_error": abs(float(normed.max()) - 1.0),
        "normalize_shape_error": float(np.max(np.abs(normed - base / top))),
        "coupled_amplitude_error": float(np.max(np.abs(np.abs(coupled) - base))) / top,
        "coupled_phase_error": float(np.max(np.abs(dphi))),
    }


#: GRF cases exercised in every replay: (shape, options); the second clips its phase
GRF_CASES = (((40, 56), {}),
             ((48, 36), {"correlation_length": 3.0, "amplitude_range": (0.2, 0.9),
                         "phase_std": 2.5}))


def grf_field_reference(noise: np.ndarray, correlation_length: float) -> np.ndarray:
    """The documented field of one white-noise draw: real-FFT filtered by
    exp(-2 pi^2 l^2 |k|^2), then mean 0 and population std 1 (float64, noise's shape)."""
    rows, cols = noise.shape
    k2 = sfft.fftfreq(rows)[:, None] ** 2 + sfft.rfftfreq(cols)[None, :] ** 2
    field = sfft.irfft2(sfft.rfft2(noise) * np.exp(-2.0 * math.pi**2 * correlation_length**2 * k2),
                        s=noise.shape)
    field = field - field.mean()
    return field / math.sqrt(float(np.mean(field * field)))


def grf_reference(shape: tuple[int, int], seed: int, *, correlation_length: float = 8.0,
                  amplitude_range=(0.5, 1.0), phase_std: float = 0.5) -> np.ndarray:
    """(H, W) complex128 GRF object from the documented recipe (grf_field_reference)."""
    rng = np.random.default_rng(seed)
    f_amp = grf_field_reference(rng.standard_normal(shape), correlation_length)
    f_phase = grf_field_reference(rng.standard_normal(shape), correlation_length)
    lo, hi = amplitude_range
    amp = lo + (hi - lo) * (f_amp - f_amp.min()) / (f_amp.max() - f_amp.min())
    return amp * np.exp(1j * np.clip(phase_std * f_phase, -math.pi, math.pi))


def grf_spec(make, *, seed: int) -> dict:
    """The product's grf_object (`make`) against its specification on GRF_CASES.

    shape_ok: every case (H, W) complex64; reference_error: max over cases of
    max|O - O_ref| / max|O_ref|; span_error: max over cases of |min|O| - a_min| and
    |max|O| - a_max| (the amplitude spans amplitude_range exactly, up to complex64 storage).
    """
    shape_ok, ref_err, span_err = True, 0.0, 0.0
    for shape, options in GRF_CASES:
        obj = np.asarray(make(shape, seed=seed, **options))
        shape_ok = shape_ok and obj.shape == shape and obj.dtype == np.complex64
        ref = grf_reference(shape, seed, **options)
        ref_err = max(ref_err, float(np.max(np.abs(obj.astype(np.complex128) - ref)))
                      / float(np.max(np.abs(ref))))
        lo, hi = options.get("amplitude_range", (0.5, 1.0))
        amp = np.abs(obj.astype(np.complex128))
        span_err = max(span_err, abs(float(amp.min()) - lo), abs(float(amp.max()) - hi))
    return {"grf_shape_ok": bool(shape_ok), "grf_reference_error": ref_err,
            "grf_span_error": span_err}
