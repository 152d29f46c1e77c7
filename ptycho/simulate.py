"""Scans, patch extraction and Poisson simulation of a ptychographic dataset (docs/design.md §3).

Coordinates: `xcoords` = column, `ycoords` = row of each pattern centre, in pixels of the
unpadded object. Simulation: Psi = P * O_patch (* M), A = diffract_np(Psi),
k ~ Poisson(s_sim^2 * A^2) with s_sim = sqrt(nphotons / mean_p sum_xy |Psi|^2), stored
X_raw = sqrt(k) / s_sim (float32), so E[sum X_raw^2] = E[sum |Psi|^2]. All randomness comes
from numpy Generators seeded by an int `seed`; the scan and the noise use separate streams.
Patterns are processed in chunks, so memory stays bounded for large M.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import ConfigError
from .physics import diffract_np, illuminate_np
from .probe import check_probe
from .raw_data import RawData
from .validation import (require_finite, require_int, require_positive, require_rank,
                         require_same_shape)

#: SeedSequence spawn keys: independent streams derived from one integer seed
SCAN_STREAM = 0
NOISE_STREAM = 1
#: complex128 elements per working block (about 16 MiB) when chunking over patterns
_BLOCK_ELEMENTS = 1 << 20


def rng_for(seed: int, stream: int) -> np.random.Generator:
    """numpy Generator for `stream` (SCAN_STREAM or NOISE_STREAM) of the integer `seed`."""
    seed = require_int("seed", seed, minimum=0)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)))


def _object_shape(object_shape) -> tuple[int, int]:
    shape = (object_shape, object_shape) if np.isscalar(object_shape) else tuple(object_shape)
    ok = len(shape) == 2 and all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in shape)
    if not ok:
        raise ConfigError("object_shape",
                          f"must be an int or (H, W) of ints >= 1, got {object_shape!r}")
    return int(shape[0]), int(shape[1])


def _as_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(name, f"must be a real number, got {value!r}")
    return float(value)


def _check_buffer(buffer, shape) -> float:
    value = _as_float("buffer", buffer)
    if not math.isfinite(value) or value < 0 or 2 * value > min(shape):
        raise ConfigError("buffer", f"must satisfy 0 <= buffer <= min(H, W)/2 = {min(shape) / 2}, "
                                    f"got {buffer!r}")
    return value


def _check_coords(xcoords, ycoords) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(xcoords, dtype=np.float64)
    y = np.asarray(ycoords, dtype=np.float64)
    require_rank("xcoords", x, 1, error=ConfigError)
    require_same_shape("ycoords", y, x, of="xcoords", error=ConfigError)
    require_finite("xcoords", x, error=ConfigError)
    require_finite("ycoords", y, error=ConfigError)
    return x, y


# ---------------------------------------------------------------------------- scans
def random_scan(object_shape, n_points: int, *, buffer: float, seed: int):
    """Random ('nongrid') scan: (xcoords, ycoords), each (n_points,) float64 pixels.

    x uniform in [buffer, W - buffer], y uniform in [buffer, H - buffer]; drawn as one
    (n_points, 2) block [x, y] from the SCAN_STREAM generator of `seed`.
    """
    shape = _object_shape(object_shape)
    n_points = require_int("n_points", n_points, minimum=1)
    b = _check_buffer(buffer, shape)
    u = rng_for(seed, SCAN_STREAM).uniform(size=(n_points, 2))
    x = b + (shape[1] - 2 * b) * u[:, 0]
    y = b + (shape[0] - 2 * b) * u[:, 1]
    return x, y


def raster_scan(object_shape, offset: float, *, buffer: float):
    """Raster scan with step `offset` px: positions buffer + k*offset <= size - buffer.

    Returns (xcoords, ycoords) float64, row-major (y outer, x inner).
    """
    shape = _object_shape(object_shape)
    step = require_positive("offset", offset)
    b = _check_buffer(buffer, shape)
    cols = b + step * np.arange(int(math.floor((shape[1] - 2 * b) / step)) + 1)
    rows = b + step * np.arange(int(math.floor((shape[0] - 2 * b) / step)) + 1)
    yy, xx = np.meshgrid(rows, cols, indexing="ij")
    return xx.ravel().astype(np.float64), yy.ravel().astype(np.float64)


# ---------------------------------------------------------------------------- patches
def _chunk_size(N: int, requested) -> int:
    if requested is not None:
        return require_int("chunk_size", requested, minimum=1)
    return max(1, _BLOCK_ELEMENTS // ((N + 1) * (N + 1)))


def _check_patch_n(N) -> int:
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 2 or N % 2:
        raise ConfigError("N", f"must be an even int >= 2, got {N!r}")
    return int(N)


def _as_object(obj) -> np.ndarray:
    """(H, W) complex128 view or copy of a 2-D object array."""
    obj = np.asarray(obj)
    require_rank("obj", obj, 2, error=ConfigError)
    return obj.astype(np.complex128, copy=False)


def _patches(obj: np.ndarray, x: np.ndarray, y: np.ndarray, N: int) -> np.ndarray:
    """Bilinear patches for one chunk; obj (H, W) complex128; returns (m, N, N) complex128."""
    H, W = obj.shape
    top, left = y - N / 2.0, x - N / 2.0
    r0, c0 = np.floor(top), np.floor(left)
    fr, fc = (top - r0)[:, None, None], (left - c0)[:, None, None]
    offsets = np.arange(N + 1)
    rows = r0.astype(np.int64)[:, None] + offsets
    cols = c0.astype(np.int64)[:, None] + offsets
    inside = ((rows >= 0) & (rows < H))[:, :, None] & ((cols >= 0) & (cols < W))[:, None, :]
    block = obj[np.clip(rows, 0, H - 1)[:, :, None], np.clip(cols, 0, W - 1)[:, None, :]]
    block = np.where(inside, block, 0)
    return ((1 - fr) * (1 - fc) * block[:, :N, :N] + (1 - fr) * fc * block[:, :N, 1:]
            + fr * (1 - fc) * block[:, 1:, :N] + fr * fc * block[:, 1:, 1:])


def extract_patches(obj, xcoords, ycoords, N: int, *, chunk_size=None) -> np.ndarray:
    """(M, N, N) complex128 patches: patch[i, j] = obj(y + i - N/2, x + j - N/2).

    Bilinear interpolation, zero outside the object (equivalently: cut from the object padded
    by N/2 per side); the patch's centre pixel (N/2, N/2) is the scan position (x = column,
    y = row). Processed `chunk_size` patterns at a time.
    """
    obj = _as_object(obj)
    N = _check_patch_n(N)
    x, y = _check_coords(xcoords, ycoords)
    step = _chunk_size(N, chunk_size)
    out = np.empty((x.shape[0], N, N), dtype=np.complex128)
    for start in range(0, x.shape[0], step):
        stop = start + step
        out[start:stop] = _patches(obj, x[start:stop], y[start:stop], N)
    return out


# ---------------------------------------------------------------------------- simulation
def exit_energies(obj, probe, xcoords, ycoords, *, mask=None, chunk_size=None) -> np.ndarray:
    """(M,) float64 sum_xy |Psi|^2 of each exit wave, computed chunk by chunk.

    Each pattern is summed on its own, so the values do not depend on chunk_size.
    """
    probe = check_probe(probe).astype(np.complex128)
    N = probe.shape[0]
    obj = _as_object(obj)
    x, y = _check_coords(xcoords, ycoords)
    step = _chunk_size(N, chunk_size)
    energies = np.empty(x.shape[0], dtype=np.float64)
    for start in range(0, x.shape[0], step):
        patches = extract_patches(obj, x[start:start + step], y[start:start + step], N)
        psi = illuminate_np(patches, probe, mask)
        power = psi.real**2 + psi.imag**2
        energies[start:start + step] = power.reshape(power.shape[0], N * N).sum(axis=1)
    return energies


def mean_exit_energy(obj, probe, xcoords, ycoords, *, mask=None, chunk_size=None) -> float:
    """E_p[sum_xy |Psi|^2] (float64): exact (math.fsum) mean of `exit_energies`."""
    energies = exit_energies(obj, probe, xcoords, ycoords, mask=mask, chunk_size=chunk_size)
    return math.fsum(energies) / energies.shape[0] if energies.shape[0] else 0.0


def simulate_dataset(obj, probe, xcoords, ycoords, *, nphotons, seed, mask=None,
                     chunk_size=None, provenance=None) -> RawData:
    """Poisson-noisy diffraction of `obj` (H, W) under `probe` (N, N) at the scan positions.

    k ~ Poisson(s_sim^2 * A^2) per pixel (NOISE_STREAM generator of `seed`), with
    s_sim = sqrt(nphotons / E_p[sum |Psi|^2]); diff3d = sqrt(k) / s_sim, (M, N, N) float32.
    mask: optional (N, N) probe mask applied to Psi. nphotons: mean photons per pattern.
    Returns a validated RawData; metadata holds nphotons, seed, s_sim, mean_exit_energy,
    mask_applied, and `provenance` (JSON-safe dict, e.g. object/probe origin).
    The result does not depend on chunk_size.
    """
    nphotons = require_positive("nphotons", nphotons)
    seed = require_int("seed", seed, minimum=0)
    probe = check_probe(probe).astype(np.complex128)
    N = probe.shape[0]
    if mask is not None:
        mask = np.asarray(mask, dtype=np.float64)
        require_same_shape("mask", mask, (N, N), of="probe", error=ConfigError)
    x, y = _check_coords(xcoords, ycoords)
    if x.shape[0] == 0:
        raise ConfigError("xcoords", "needs at least one scan position")
    obj = _as_object(obj)
    require_finite("obj", obj, error=ConfigError)
    step = _chunk_size(N, chunk_size)

    energy = mean_exit_energy(obj, probe, x, y, mask=mask, chunk_size=step)
    if not (math.isfinite(energy) and energy > 0):
        raise ConfigError("obj", f"exit waves carry no energy (mean sum|Psi|^2 = {energy!r})")
    s_sim = math.sqrt(nphotons / energy)

    rng = rng_for(seed, NOISE_STREAM)
    diff3d = np.empty((x.shape[0], N, N), dtype=np.float32)
    for start in range(0, x.shape[0], step):
        patches = extract_patches(obj, x[start:start + step], y[start:start + step], N)
        amplitude = diffract_np(illuminate_np(patches, probe, mask))
        counts = rng.poisson(s_sim**2 * amplitude**2)
        diff3d[start:start + step] = np.sqrt(counts) / s_sim

    metadata = {
        "nphotons": nphotons,
        "seed": seed,
        "s_sim": s_sim,
        "mean_exit_energy": energy,
        "mask_applied": mask is not None,
        "provenance": {} if provenance is None else dict(provenance),
    }
    return RawData.from_arrays(x, y, diff3d, probe.astype(np.complex64),
                               objectGuess=obj.astype(np.complex64), metadata=metadata)


def simulate_scan_dataset(obj, probe, *, nphotons, seed, scan="random", n_points=None,
                          offset=4, buffer=None, mask=None, chunk_size=None,
                          provenance=None) -> RawData:
    """Build a scan over `obj` and simulate it (`random_scan` or `raster_scan`, then
    `simulate_dataset`).

    scan: 'random' (needs n_points) or 'raster' (step `offset` px). buffer: distance of the
    scan from the object edge in px (default N/2, so every patch lies inside the object).
    The scan uses the SCAN_STREAM and the noise the NOISE_STREAM of the same `seed`;
    metadata["provenance"]["scan"] records the scan settings.
    """
    obj = np.asarray(obj)
    require_rank("obj", obj, 2, error=ConfigError)
    N = check_probe(probe).shape[0]
    buffer = N / 2 if buffer is None else buffer
    if scan == "random":
        if n_points is None:
            raise ConfigError("n_points", "required for scan='random'")
        x, y = random_scan(obj.shape, n_points, buffer=buffer, seed=seed)
    elif scan == "raster":
        x, y = raster_scan(obj.shape, offset, buffer=buffer)
    else:
        raise ConfigError("scan", f"must be 'random' or 'raster', got {scan!r}")
    info = dict(provenance or {})
    info["scan"] = {"kind": scan, "n_points": int(x.shape[0]), "buffer": float(buffer)}
    if scan == "raster":
        info["scan"]["offset"] = float(offset)
    return simulate_dataset(obj, probe, x, y, nphotons=nphotons, seed=seed, mask=mask,
                            chunk_size=chunk_size, provenance=info)
