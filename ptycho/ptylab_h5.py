"""PtyLab's HDF5 data layout (PtyLab 0.3.7 `ExperimentalData`, mode CPM) as a lazy RawData,
and a writer PtyLab loads.

Layout (read from PtyLab's `ExperimentalData._setFields`, `io.readHdf5` and `Reconstruction`;
datasets at the file's root, SI units):

======================  =========================================================  ==========
field                   meaning                                                    unit
======================  =========================================================  ==========
``ptychogram``          (M, Nd, Nd) intensities, zero frequency at (Nd/2, Nd/2)   counts
``encoder``             (M, 2) probe positions (row, col) about the canvas centre  m
``wavelength``          illumination wavelength                                    m
``zo``                  sample-detector distance                                   m
``dxd``                 detector pixel                                             m
``orientation``         optional ptypy code 0-7 applied to the frames (1 flip
                        columns, 2 flip rows, 3 both; 4-7: transpose, then as
                        1-3), as PtyLab applies it after loading
``entrancePupilDiameter``, ``spectralDensity``, ``theta``, ``emptyBeam``: optional, PtyLab
                        only; not read here
======================  =========================================================  ==========

Positions: the object pixel is dxo = wavelength * zo / (Nd * dxd); PtyLab puts pattern j's patch
centre at canvas pixel round(encoder_j / dxo) + No // 2, so ycoords = encoder[:, 0] / dxo and
xcoords = encoder[:, 1] / dxo (patch centres about the canvas centre; no offset, they may be
negative), plus the offset this writer stores. Amplitudes: sqrt(ptychogram) (sqrt(counts),
computed block by block as the frames are read, like the CXI reader).

This project's own fields (PtyLab ignores them): ``probe`` (N, N) complex in sqrt(count) units,
and ``ptycho_parity_metadata`` (JSON: the RawData's metadata plus ``ptylab_scale`` and
``position_offset_px`` [row, col], the pixel position of the canvas centre the encoder is
measured from). Without a probe the ideal probe stands in (``metadata['probe_source']``).

A file is recognized by content: an HDF5 file with ``ptychogram`` and ``encoder`` at its root
(`is_ptylab`). Every missing or inconsistent field raises DataContractError naming the field.
"""
from __future__ import annotations

import json
import math
import pathlib

import numpy as np

from . import atomic
from .errors import DataContractError
from .frames import ArraySource, FrameArray, rows_per_block
from .validation import require_same_shape

__all__ = ["REQUIRED_FIELDS", "PROBE_FIELD", "METADATA_FIELD", "is_ptylab", "read_ptylab",
           "read_open", "write_ptylab", "object_pixel_m"]

#: the fields PtyLab's ExperimentalData requires in mode CPM
REQUIRED_FIELDS = ("ptychogram", "encoder", "wavelength", "zo", "dxd")
#: this project's additions
PROBE_FIELD = "probe"
METADATA_FIELD = "ptycho_parity_metadata"
ORIENTATIONS = tuple(range(8))


def object_pixel_m(wavelength_m: float, zo_m: float, dxd_m: float, N: int) -> float:
    """dxo = wavelength * zo / (N * dxd) in metres (PtyLab's Fraunhofer object pixel)."""
    return wavelength_m * zo_m / (int(N) * dxd_m)


def is_ptylab(f) -> bool:
    """True for an open h5py file holding PtyLab's `ptychogram` and `encoder` at its root."""
    return "ptychogram" in f and "encoder" in f


def _scalar(f, name: str) -> float:
    if name not in f:
        raise DataContractError(name, "required field missing")
    value = np.asarray(f[name][()])
    if value.dtype.kind not in "fiu" or value.size != 1:
        raise DataContractError(name, f"must be one real number, got shape {value.shape} "
                                      f"dtype {value.dtype}")
    number = float(value.reshape(()))
    if not (math.isfinite(number) and number > 0):
        raise DataContractError(name, f"must be finite and > 0, got {number!r}")
    return number


def _orientation(f) -> int:
    if "orientation" not in f:
        return 0
    value = np.asarray(f["orientation"][()]).ravel()
    if value.size != 1 or value.dtype.kind not in "iu" or int(value[0]) not in ORIENTATIONS:
        raise DataContractError("orientation", f"must be one integer 0-7, got {value!r}")
    return int(value[0])


class OrientedAmplitude:
    """Block transform: PtyLab's orientation code applied to (b, N, N) intensity frames, then
    amplitude sqrt(I) in float64 rounded once to float32 (negative intensities become -sqrt(-I),
    so the contract check names them)."""

    def __init__(self, orientation: int):
        self.orientation = int(orientation)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        out = np.asarray(block, dtype=np.float64)
        if self.orientation >= 4:
            out = np.swapaxes(out, -1, -2)
        if self.orientation % 4 in (1, 3):
            out = out[..., ::-1]
        if self.orientation % 4 in (2, 3):
            out = out[..., ::-1, :]
        return (np.sign(out) * np.sqrt(np.abs(out))).astype(np.float32)


def _metadata(f) -> dict:
    if METADATA_FIELD not in f:
        return {}
    value = f[METADATA_FIELD][()]
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    try:
        meta = json.loads(str(value))
    except ValueError as exc:
        raise DataContractError(METADATA_FIELD, f"is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise DataContractError(METADATA_FIELD, f"must hold a JSON object, got "
                                                f"{type(meta).__name__}")
    return meta


def _probe(f, N: int, probe):
    if probe is not None:
        P = np.asarray(probe)
        require_same_shape("probe", P, (N, N), of="frames'")
        return P.astype(np.complex64), "argument"
    if PROBE_FIELD not in f:
        from .probe import ideal_probe

        return ideal_probe(N).astype(np.complex64), f"ideal_probe({N}) (no probe in the file)"
    P = np.asarray(f[PROBE_FIELD][()])
    require_same_shape(PROBE_FIELD, P, (N, N), of="frames'")
    if P.dtype.kind not in "fciu":
        raise DataContractError(PROBE_FIELD, f"must be numbers, got dtype {P.dtype}")
    return P.astype(np.complex64), PROBE_FIELD


def read_open(f, path: pathlib.Path, *, probe=None, check_values: bool = True):
    """The RawData of an open PtyLab-layout h5py file `f` (kept open for the lazy frames; see
    the module docstring). probe: (N, N) overrides the file's."""
    from .raw_data import RawData

    data = f["ptychogram"]
    if not hasattr(data, "ndim") or data.ndim != 3:
        raise DataContractError("ptychogram", "must be (M, Nd, Nd) intensities, got "
                                              f"{getattr(data, 'shape', type(data).__name__)}")
    M, ny, nx = (int(d) for d in data.shape)
    if ny != nx:
        raise DataContractError("ptychogram", f"frames must be square, got {ny} x {nx}")
    if data.dtype.kind not in "fiu":
        raise DataContractError("ptychogram", f"must be real intensities, got {data.dtype}")
    if M < 2:
        raise DataContractError("ptychogram", f"holds {M} frames; PtyLab's loader needs >= 2 "
                                              "(it transposes an encoder with fewer rows than "
                                              "columns)")
    N = nx
    wavelength, zo, dxd = (_scalar(f, name) for name in ("wavelength", "zo", "dxd"))
    encoder = np.asarray(f["encoder"][()])
    if encoder.dtype.kind not in "fiu":
        raise DataContractError("encoder", f"must be real numbers, got {encoder.dtype}")
    encoder = encoder.astype(np.float64)
    if encoder.shape != (M, 2):
        raise DataContractError("encoder", f"must be (M, 2) = ({M}, 2) positions in metres, "
                                           f"got shape {encoder.shape}")
    if not np.isfinite(encoder).all():
        raise DataContractError("encoder", "contains NaN or Inf")
    orientation = _orientation(f)
    meta = _metadata(f)
    offset = meta.get("position_offset_px", [0.0, 0.0])
    if (not isinstance(offset, list) or len(offset) != 2
            or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in offset)):
        raise DataContractError(METADATA_FIELD, f"position_offset_px must be [row, col], "
                                                f"got {offset!r}")
    P, probe_source = _probe(f, N, probe)
    dxo = object_pixel_m(wavelength, zo, dxd, N)
    meta["probe_source"] = probe_source
    meta["amplitude_units"] = "sqrt_counts"
    meta["source"] = {"format": "ptylab", "file": path.name, "wavelength_m": wavelength,
                      "zo_m": zo, "dxd_m": dxd, "object_pixel_m": dxo,
                      "orientation": orientation, "amplitude": "sqrt(ptychogram)"}
    y = encoder[:, 0] / dxo + float(offset[0])
    x = encoder[:, 1] / dxo + float(offset[1])
    frames = FrameArray(ArraySource(data, description=f"{path.name}:/ptychogram", keepalive=f),
                        dtype=np.float32, transform=OrientedAmplitude(orientation))
    key_fields = {"diff3d": "ptychogram", "xcoords": "encoder", "ycoords": "encoder",
                  "xcoords_start": "encoder", "ycoords_start": "encoder",
                  "probeGuess": PROBE_FIELD, "metadata": METADATA_FIELD}
    try:
        return RawData.from_arrays(x, y, frames, P, metadata=meta, check_values=check_values)
    except DataContractError as exc:
        raise DataContractError(key_fields.get(exc.key, exc.key), exc.problem) from exc


def read_ptylab(path, *, probe=None, check_values: bool = True):
    """Open a PtyLab-layout HDF5 file as a RawData with a lazy diff3d (`RawData.close()` closes
    the file). DataContractError naming the field when one is missing or inconsistent."""
    import h5py

    path = pathlib.Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataContractError("path", f"{path.name} is not a readable HDF5 file: {exc}") from exc
    try:
        if not is_ptylab(f):
            missing = [k for k in ("ptychogram", "encoder") if k not in f]
            raise DataContractError(missing[0], "required field missing (not PtyLab's layout)")
        return read_open(f, path, probe=probe, check_values=check_values)
    except BaseException:
        f.close()
        raise


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DataContractError(name, f"must be a positive number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise DataContractError(name, f"must be finite and > 0, got {value!r}")
    return value


def write_ptylab(path, raw, *, wavelength_m: float, zo_m: float, dxd_m: float, scale: float,
                 block_bytes: int = 8 * 1024 * 1024) -> pathlib.Path:
    """Write `raw` in PtyLab's layout (atomically): ptychogram (scale * diff3d)^2 (float32,
    computed in float64 block by block), encoder (M, 2) = ([y, x] - c) * dxo with c the
    centre of the scan's bounding box rounded to whole pixels (so whole-pixel positions stay
    whole), the probe times `scale`, and the metadata (plus ptylab_scale and
    position_offset_px = c). `read_ptylab` inverts it: positions come back in pixels,
    amplitudes and probe as scale * diff3d and scale * probeGuess. PtyLab loads only files
    named *.h5, *.hdf5 or *.mat.

    scale: amplitude -> sqrt(counts) factor (e.g. the simulation's s_sim to recover counts).
    """
    import h5py

    wavelength_m, zo_m, dxd_m, scale = (_positive(n, v) for n, v in (
        ("wavelength_m", wavelength_m), ("zo_m", zo_m), ("dxd_m", dxd_m), ("scale", scale)))
    N, M = raw.N, raw.M
    if M < 2:
        raise DataContractError("diff3d", f"holds {M} patterns; PtyLab's loader needs >= 2")
    x = np.asarray(raw.xcoords, dtype=np.float64)
    y = np.asarray(raw.ycoords, dtype=np.float64)
    centre = [float(np.round((v.min() + v.max()) / 2)) for v in (y, x)]
    dxo = object_pixel_m(wavelength_m, zo_m, dxd_m, N)
    encoder = np.stack([y - centre[0], x - centre[1]], axis=1) * dxo
    meta = dict(raw.metadata)
    meta.pop("source", None)
    meta["ptylab_scale"] = scale
    meta["position_offset_px"] = centre
    path = pathlib.Path(path)
    with atomic.replacing(path, suffix=path.suffix or ".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["creator"] = "ptycho.ptylab_h5.write_ptylab"
            rows = rows_per_block((M, N, N), 4, block_bytes)
            frames = f.create_dataset("ptychogram", shape=(M, N, N), dtype=np.float32,
                                      chunks=(min(M, max(1, rows)), N, N))
            for start in range(0, M, rows):
                block = np.asarray(raw.diff3d[start:start + rows], dtype=np.float64) * scale
                frames[start:start + block.shape[0]] = np.square(block).astype(np.float32)
            f.create_dataset("encoder", data=encoder)
            f.create_dataset("wavelength", data=wavelength_m)
            f.create_dataset("zo", data=zo_m)
            f.create_dataset("dxd", data=dxd_m)
            f.create_dataset(PROBE_FIELD, data=(np.asarray(raw.probeGuess, np.complex128)
                                                * scale).astype(np.complex64))
            f.create_dataset(METADATA_FIELD, data=json.dumps(meta, allow_nan=False,
                                                             sort_keys=True))
    return path
