"""Probe: the ideal (disk) probe, the probe mask, normalization, and loading a measured probe.

Conventions (docs/design.md §3): the ideal probe is a thresholded, smoothed Gaussian disk with zero
phase; the mask M is the disk r < N//4 about the array centre (N-1)/2; normalization divides by
`probe_scale * mean_{NxN} |P*M|`, so `mean |P_n*M| = 1/probe_scale`. Probes are (N, N)
complex64; N is a power of two >= 16.
"""
from __future__ import annotations

import math
import pathlib

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.signal.windows import gaussian

from .errors import DataContractError
from .validation import (require_finite, require_kind, require_nonzero, require_positive,
                         require_power_of_two, require_same_shape)
from .npz import read_npz

PROBE_KEY = "probeGuess"
_EXPERIMENTAL_FILE = "probe_fly001_64.npz"


def ideal_probe_support(N: int, default_probe_scale: float = 0.7) -> np.ndarray:
    """(N, N) bool disk: outer product of a symmetric Gaussian window thresholded at > 0.5.

    The window has length N, std N / (default_probe_scale * pi**2) pixels, peak 1 at the
    (possibly half-integer) centre. N=64, default_probe_scale=0.7 gives 376 pixels.
    """
    N = require_power_of_two("N", N)
    dps = require_positive("default_probe_scale", default_probe_scale)
    window = gaussian(N, std=N / (dps * math.pi**2), sym=True)
    return np.outer(window, window) > 0.5


def ideal_probe(N: int, default_probe_scale: float = 0.7) -> np.ndarray:
    """(N, N) complex64 ideal probe, un-normalized: smoothed disk + 1e-9, zero phase.

    The disk of `ideal_probe_support` is smoothed with a sigma=1 px Gaussian filter; amplitude
    in (0, 1], dimensionless.
    """
    disk = ideal_probe_support(N, default_probe_scale).astype(np.float64)
    amplitude = gaussian_filter(disk, sigma=1.0) + 1e-9
    return amplitude.astype(np.complex64)


def probe_mask(N: int) -> np.ndarray:
    """(N, N) float32 mask: 1 where r < N//4 (r in pixels from (N-1)/2), else 0. 812 px at N=64."""
    N = require_power_of_two("N", N)
    centre = (N - 1) / 2.0
    rows, cols = np.indices((N, N), dtype=np.float64)
    r = np.hypot(rows - centre, cols - centre)
    return (r < N // 4).astype(np.float32)


def check_probe(P, key: str = PROBE_KEY) -> np.ndarray:
    """Validate a probe array (square, power-of-two side >= 16, complex, finite, not all zero)."""
    P = np.asarray(P)
    if P.ndim != 2 or P.shape[0] != P.shape[1]:
        raise DataContractError(key, f"must be a square 2-D array, got shape {P.shape}")
    require_power_of_two(key, int(P.shape[0]), subject="side", error=DataContractError)
    require_kind(key, P, "c", "complex (dtype kind 'c')")
    require_finite(key, P)
    require_nonzero(key, P)
    return P


def normalize_probe(P, probe_scale: float) -> np.ndarray:
    """Return P / (probe_scale * mean_{NxN} |P*M|) as (N, N) complex64.

    The mask M = probe_mask(N) is always used in the mean, so mean |P_n*M| = 1/probe_scale.
    """
    scale = require_positive("probe_scale", probe_scale)
    P = check_probe(P)
    P64 = P.astype(np.complex128)
    masked_mean = float(np.mean(np.abs(P64 * probe_mask(P.shape[0]))))
    if masked_mean <= 0.0:
        raise DataContractError(PROBE_KEY, "is zero everywhere inside the mask r < N//4")
    return (P64 / (scale * masked_mean)).astype(np.complex64)


def experimental_probe_path() -> pathlib.Path:
    """Path of the bundled experimental 64x64 KB-focused probe (NPZ, key 'probeGuess')."""
    return pathlib.Path(__file__).resolve().parent / "data" / _EXPERIMENTAL_FILE


def load_probe(path) -> np.ndarray:
    """Load an (N, N) complex64 probe, un-normalized, from NPZ key 'probeGuess'.

    Raises DataContractError('probeGuess', ...) when the key is missing, the array is not square
    with a power-of-two side >= 16, not complex, non-finite or all zero.
    """
    data = read_npz(path)
    if PROBE_KEY not in data:
        raise DataContractError(PROBE_KEY, f"missing from {pathlib.Path(path).name} "
                                           f"(keys: {sorted(data)})")
    P = data[PROBE_KEY]
    return check_probe(P).astype(np.complex64)


def make_probe(model_config, source="ideal") -> np.ndarray:
    """The normalized (N, N) complex64 probe for `model_config` (a ModelConfig).

    source: 'ideal' (ideal_probe(N, default_probe_scale)), 'experimental' (the bundled
    measured probe) or a path to an NPZ with key 'probeGuess'. Normalized with
    model_config.probe_scale. A probe whose side differs from model_config.N raises
    DataContractError('probeGuess', ...).
    """
    N = model_config.N
    if isinstance(source, str) and source == "ideal":
        P = ideal_probe(N, model_config.default_probe_scale)
    else:
        path = experimental_probe_path() if source == "experimental" else source
        P = load_probe(path)
        require_same_shape(PROBE_KEY, P, (N, N), of="model")
    return normalize_probe(P, model_config.probe_scale)
