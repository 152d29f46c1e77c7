"""A dataset in PtyLab's own terms (PtyLab 0.3.7 conventions, read from its source).

PtyLab (conventional ptychography, 'CPM'): `ptychogram` (M, Nd, Nd) measured intensities with
the zero frequency at the centre pixel (Nd/2, Nd/2) (with `fftshiftSwitch` off, its Fraunhofer
propagator is the unitary `fftshift(fft2(ifftshift(psi), norm='ortho'))`, so
|PtyLab's field|^2 = this project's A_d^2 = |FFT2(psi)|^2 / N^2, docs/design.md §3); `encoder` (M, 2)
scan positions in metres as (row, col) about the centre of the object canvas; `wavelength`,
`zo` (sample-detector distance), `dxd` (detector pixel) in metres, giving the object pixel
dxo = wavelength * zo / (Nd * dxd). PtyLab places pattern j's patch with top-left pixel
round(encoder_j / dxo) + No//2 - Np//2 on its (No, No) object canvas, so it uses whole pixels.

This project: xcoords / ycoords are the column / row of each patch centre in object pixels,
patch[i, j] = O(y + i - N/2, x + j - N/2); diff3d = sqrt(counts) / s. Hence: intensities in
counts (s * diff3d)^2, the probe in count units s * P (* M when the mask multiplies the exit
wave), and a canvas whose pixel (0, 0) is object pixel `origin`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, DataContractError, PtychoError
from ..validation import require_same_shape

__all__ = ["PTYLAB_EXTRA", "WHOLE_PIXEL_TOLERANCE", "OracleUnavailableError", "require_ptylab",
           "Geometry", "PtyLabInput", "to_ptylab", "default_scale"]

#: the optional dependency group that installs PtyLab
PTYLAB_EXTRA = "oracle"
#: a position is a whole pixel when it is within this many pixels of an integer
WHOLE_PIXEL_TOLERANCE = 1e-6


class OracleUnavailableError(PtychoError, ImportError):
    """PtyLab cannot be imported; the message names the extra that installs it."""


def require_ptylab():
    """The imported PtyLab package; OracleUnavailableError naming the extra without it."""
    try:
        import PtyLab
    except ImportError as exc:
        raise OracleUnavailableError(
            f"PtyLab is not installed: install the {PTYLAB_EXTRA!r} extra "
            f"(python -m pip install -e '.[{PTYLAB_EXTRA}]', which pins ptylab==0.3.7)") from exc
    return PtyLab


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(name, f"must be a positive number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(name, f"must be finite and > 0, got {value!r}")
    return value


@dataclass(frozen=True)
class Geometry:
    """Fraunhofer geometry in metres: wavelength, sample-detector distance `distance_m` (PtyLab
    `zo`), detector pixel `pixel_m` (PtyLab `dxd`). Defaults: 10 keV (1.2398e-10 m), 2 m,
    75 um, so dxo = 51.7 nm for N = 64. Only dxo matters to the reconstruction."""

    wavelength_m: float = 1.2398419843320026e-10
    distance_m: float = 2.0
    pixel_m: float = 75e-6

    def __post_init__(self):
        for name in ("wavelength_m", "distance_m", "pixel_m"):
            object.__setattr__(self, name, _positive(name, getattr(self, name)))

    def object_pixel_m(self, N: int) -> float:
        """dxo = wavelength * distance / (N * pixel) in metres."""
        return self.wavelength_m * self.distance_m / (int(N) * self.pixel_m)


@dataclass
class PtyLabInput:
    """What PtyLab reconstructs from, plus the map back to this project's object frame.

    ptychogram (M, N, N) float32 counts (DC at (N/2, N/2)); encoder (M, 2) float64 metres,
    (row, col) about the canvas centre; probe (N, N) complex64 in count units; geometry; No:
    side of PtyLab's square object canvas (even); origin (row, col): the object pixel at
    canvas pixel (0, 0) (integers <= 0); object_shape (H, W): the object frame results are
    cropped to; scale: counts = (scale * diff3d)^2.
    """

    ptychogram: np.ndarray
    encoder: np.ndarray
    probe: np.ndarray
    geometry: Geometry
    No: int
    origin: tuple[int, int]
    object_shape: tuple[int, int]
    scale: float

    @property
    def N(self) -> int:
        return int(self.ptychogram.shape[-1])

    @property
    def M(self) -> int:
        return int(self.ptychogram.shape[0])

    @property
    def dxo(self) -> float:
        """Object pixel in metres."""
        return self.geometry.object_pixel_m(self.N)

    def top_left(self) -> np.ndarray:
        """(M, 2) int (row, col) of each patch's top-left canvas pixel, as PtyLab computes it
        (round(encoder / dxo) + No//2 - N//2)."""
        return (np.round(self.encoder / self.dxo) + self.No // 2 - self.N // 2).astype(np.int64)

    def to_object_frame(self, canvas) -> np.ndarray:
        """The (H, W) part of a (No, No) canvas image that covers object pixels [0, H) x [0, W)."""
        canvas = np.asarray(canvas)
        if canvas.shape[-2:] != (self.No, self.No):
            raise ConfigError("canvas", f"shape {canvas.shape} is not ({self.No}, {self.No})")
        r0, c0 = -self.origin[0], -self.origin[1]
        H, W = self.object_shape
        return canvas[..., r0:r0 + H, c0:c0 + W]


def default_scale(raw) -> float:
    """counts = (scale * diff3d)^2: metadata 's_sim' (simulated data), else
    sqrt(nphotons / E) with the metadata's nphotons (the dataset scale, docs/design.md §4), else 1
    (diff3d already in sqrt(counts), as the CXI reader gives it)."""
    meta = raw.metadata or {}
    if "s_sim" in meta:
        return _positive("s_sim", meta["s_sim"])
    if "nphotons" in meta:
        from ..scaling import mean_pattern_energy

        energy = mean_pattern_energy(np.asarray(raw.diff3d)[..., None])
        if energy > 0 and math.isfinite(energy):
            return math.sqrt(_positive("nphotons", meta["nphotons"]) / energy)
    return 1.0


def _whole_pixels(key: str, values: np.ndarray) -> np.ndarray:
    off = np.abs(values - np.round(values))
    bad = np.flatnonzero(~(off <= WHOLE_PIXEL_TOLERANCE))
    if bad.size:
        i = int(bad[0])
        raise DataContractError(key, f"{bad.size} of {values.size} positions are not whole "
                                     f"pixels (first: index {i}, {values[i]!r}); PtyLab rounds "
                                     f"positions to whole pixels, so the oracle needs a "
                                     f"whole-pixel scan")
    return np.round(values)


def _diffraction(raw) -> np.ndarray:
    diff = np.asarray(raw.diff3d, dtype=np.float64)
    if diff.ndim != 3 or diff.shape[1] != diff.shape[2]:
        raise DataContractError("diff3d", f"must be (M, N, N), got shape {diff.shape}")
    if np.isnan(diff).any():
        raise DataContractError("diff3d", "contains NaN")
    if np.isinf(diff).any():
        raise DataContractError("diff3d", "contains Inf")
    if (diff < 0).any():
        raise DataContractError("diff3d", "contains negative amplitudes")
    if diff.shape[1] % 2:
        raise DataContractError("diff3d", f"pattern side must be even, got {diff.shape[1]}")
    return diff


def _probe(raw, N: int, mask) -> np.ndarray:
    probe = np.asarray(raw.probeGuess)
    require_same_shape("probeGuess", probe, (N, N), of="patterns")
    if not np.isfinite(probe).all():
        raise DataContractError("probeGuess", "contains NaN or Inf")
    probe = probe.astype(np.complex128)
    if mask is not None:
        mask = np.asarray(mask, dtype=np.float64)
        require_same_shape("mask", mask, (N, N), of="probe", error=ConfigError)
        probe = probe * mask
    return probe


def to_ptylab(raw, *, mask=None, scale: float | None = None, geometry: Geometry | None = None,
              object_shape=None) -> PtyLabInput:
    """`raw` (a RawData with its probe) in PtyLab's terms (see the module docstring).

    mask: the (N, N) probe mask when it multiplied the exit wave (the effective probe is
    P * M); scale: counts = (scale * diff3d)^2 (default `default_scale`); geometry: default
    `Geometry()`; object_shape (H, W): the object frame (default objectGuess's shape, else the
    scan's extent plus N/2). The canvas holds the object frame and every patch.
    Errors: DataContractError naming 'diff3d' (NaN, Inf, negative), 'probeGuess' (wrong size),
    'xcoords' / 'ycoords' (not whole pixels); ConfigError('mask' | 'scale' | 'object_shape').
    """
    diff = _diffraction(raw)
    M, N = diff.shape[0], diff.shape[1]
    probe = _probe(raw, N, mask)
    x = _whole_pixels("xcoords", np.asarray(raw.xcoords, dtype=np.float64))
    y = _whole_pixels("ycoords", np.asarray(raw.ycoords, dtype=np.float64))
    require_same_shape("xcoords", x, (M,), of="diffraction frames'")
    require_same_shape("ycoords", y, (M,), of="diffraction frames'")
    scale = default_scale(raw) if scale is None else _positive("scale", scale)
    geometry = Geometry() if geometry is None else geometry
    if object_shape is None:
        if raw.objectGuess is not None:
            object_shape = np.shape(raw.objectGuess)
        else:
            object_shape = (int(y.max()) + N // 2, int(x.max()) + N // 2)
    object_shape = tuple(int(n) for n in object_shape)
    if len(object_shape) != 2 or min(object_shape) < 1:
        raise ConfigError("object_shape", f"must be (H, W) >= 1, got {object_shape!r}")
    half = N // 2
    origin = (min(0, int(y.min()) - half), min(0, int(x.min()) - half))
    extent = max(object_shape[0] - origin[0], int(y.max()) + half - origin[0],
                 object_shape[1] - origin[1], int(x.max()) + half - origin[1])
    No = extent + extent % 2
    dxo = geometry.object_pixel_m(N)
    top = np.stack([y - half - origin[0], x - half - origin[1]], axis=1)
    encoder = (top - No // 2 + half) * dxo
    return PtyLabInput(ptychogram=np.square(scale * diff).astype(np.float32),
                       encoder=encoder, probe=(scale * probe).astype(np.complex64),
                       geometry=geometry, No=int(No), origin=origin, object_shape=object_shape,
                       scale=float(scale))
