"""CXI / NeXus (NXcxi_ptycho) ptychography files as lazy RawData, and a CXI writer.

Layout read (CXI 1.6; NXcxi_ptycho keeps the same names under ``/entry_1``):

=========================  ======================================================  =========
what                       HDF5 path (first one present is used)                   unit
=========================  ======================================================  =========
frames (M, N, N)           ``/entry_1/data_1/data``,                               counts
                           ``/entry_1/instrument_1/detector_1/data``               (intensity)
translations (M, 3)        ``/entry_1/sample_1/geometry_1/translation``,           m
                           ``/entry_1/data_1/translation``,
                           ``/entry_1/instrument_1/detector_1/translation``
detector distance z        ``/entry_1/instrument_1/detector_1/distance``           m
detector pixel Δ           ``/entry_1/instrument_1/detector_1/x_pixel_size``,      m
                           ``.../y_pixel_size`` (must equal x: square pixels)
photon energy E            ``/entry_1/instrument_1/source_1/energy``               J
                           (or ``.../wavelength`` in m when there is no energy)
probe (optional)           ``/entry_1/instrument_1/source_1/illumination``,
                           ``.../source_1/probe``, ``.../detector_1/probe``
detector mask (optional)   ``/entry_1/instrument_1/detector_1/mask``               0 = good
metadata (optional)        ``/entry_1/ptycho_parity/metadata`` (JSON, this writer)
=========================  ======================================================  =========

Conventions (documented in the README, "Data formats"):

- amplitude = sqrt(intensity), computed block by block as the frames are read (float64, then
  rounded once to float32); the amplitudes are in sqrt(counts) units, so E (mean over frames of
  sum_xy amplitude**2) is the mean total intensity per frame. A negative intensity (e.g. after
  dark subtraction) becomes -sqrt(-I), so the contract check reports it; ``clip_negative=True``
  sets it to 0. Pixels flagged in the detector mask (any non-zero value: CXI's 0 = good pixel)
  get amplitude 0.
- positions in object pixels: λ = h·c / E (CODATA h, c, exact in SI), object pixel
  dx = λ·z / (N·Δ); xcoords = sign·T[:, 0] / dx (columns), ycoords = sign·T[:, 1] / dx (rows),
  sign = +1 by default (``translation_sign``). No offset is applied (positions may be negative).
  CXI's translation is the *sample's* motion; cdtools negates it to get the probe's position
  on the sample, PyNX uses x, y as stored. Grouping, the canvas and scale statistics only see
  differences of positions, which the sign does not change in magnitude; pass
  ``translation_sign=-1`` for files that need the probe-on-sample frame.
- translations stored transposed, (3, M), as PyNX writes them, are accepted too ((M, 2) also).
- no probe in the file: the ideal probe `ptycho.probe.ideal_probe(N)` stands in (or the
  ``probe`` argument); ``metadata['probe_source']`` says which.

Every missing or inconsistent field raises `DataContractError` whose key is the HDF5 path
(e.g. ``/entry_1/data_1/data``). The h5py file stays open while the RawData's diff3d is used
(`RawData.close()` closes it).
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import pathlib
import resource

import numpy as np

from . import atomic
from .errors import DataContractError, WriteError
from .frames import ArraySource, FrameArray, rows_per_block
from .validation import require_power_of_two, require_same_shape

__all__ = ["PLANCK", "SPEED_OF_LIGHT", "wavelength_from_energy", "object_pixel_size",
           "read_cxi", "open_hdf5", "write_cxi", "is_cxi", "IntensityToAmplitude"]

#: CODATA Planck constant (J s) and speed of light (m/s), exact in the SI since 2019
PLANCK = 6.62607015e-34
SPEED_OF_LIGHT = 299792458.0

_DATA = ("data_1/data", "instrument_1/detector_1/data")
_TRANSLATION = ("sample_1/geometry_1/translation", "data_1/translation",
                "instrument_1/detector_1/translation")
_DISTANCE = "instrument_1/detector_1/distance"
_X_PIXEL = "instrument_1/detector_1/x_pixel_size"
_Y_PIXEL = "instrument_1/detector_1/y_pixel_size"
_ENERGY = "instrument_1/source_1/energy"
_WAVELENGTH = "instrument_1/source_1/wavelength"
_PROBE = ("instrument_1/source_1/illumination", "instrument_1/source_1/probe",
          "instrument_1/detector_1/probe")
_MASK = "instrument_1/detector_1/mask"
_METADATA = "ptycho_parity/metadata"
#: relative disagreement tolerated between x/y pixel sizes and between energy and wavelength
_CONSISTENCY_RTOL = 1e-6


def wavelength_from_energy(energy_J: float) -> float:
    """λ = h·c / E in metres for a photon energy in joules."""
    return PLANCK * SPEED_OF_LIGHT / float(energy_J)


def object_pixel_size(energy_J: float, distance_m: float, pixel_m: float, N: int) -> float:
    """Far-field object-plane pixel dx = λ·z / (N·Δ) in metres (λ from the energy)."""
    return wavelength_from_energy(energy_J) * float(distance_m) / (int(N) * float(pixel_m))


class IntensityToAmplitude:
    """Block transform intensity -> float32 amplitude: sign(I)·sqrt(|I|) in float64 (or
    sqrt(max(I, 0)) with `clip_negative`), 0 where `invalid` (an (N, N) bool mask) is set."""

    def __init__(self, invalid: np.ndarray | None = None, clip_negative: bool = False):
        self.invalid = None if invalid is None or not invalid.any() else invalid
        self.clip_negative = bool(clip_negative)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        out = np.asarray(block, dtype=np.float64)
        out = out.copy() if out is block else out
        if self.clip_negative:
            np.maximum(out, 0.0, out=out)
            np.sqrt(out, out=out)
        else:
            negative = out < 0
            np.sqrt(np.abs(out, out=out), out=out)
            if negative.any():
                np.negative(out, out=out, where=negative)
        if self.invalid is not None:
            out[:, self.invalid] = 0.0
        return out.astype(np.float32)


# --------------------------------------------------------------------------- reading helpers


def _h5():
    import h5py

    return h5py


def _raised_in_h5py(exc: BaseException) -> bool:
    """Whether `exc` was raised inside h5py (its innermost frame is h5py's): an error of the
    file's structure, not of this module."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "h5py" in pathlib.PurePath(tb.tb_frame.f_code.co_filename).parts


def _corrupt_structure(path: pathlib.Path, exc: BaseException) -> DataContractError:
    """DataContractError('path') for an HDF5 file whose structure h5py cannot parse (a damaged
    object header, heap or B-tree: which field it belonged to is unknowable)."""
    return DataContractError("path", f"{path.name}: the HDF5 structure is corrupt "
                                     f"({type(exc).__name__}: {exc})")


def _first(entry, names, prefix: str):
    """(path, node) of the first of `names` present under `entry`, else (None, None)."""
    for name in names:
        if name in entry:
            try:
                return f"{prefix}/{name}", entry[name]
            except KeyError:  # a dangling soft link counts as missing
                continue
    return None, None


def _dataset(entry, name: str, prefix: str, *, required: bool = True):
    path = f"{prefix}/{name}"
    if name not in entry:
        if required:
            raise DataContractError(path, "required field missing")
        return path, None
    node = entry[name]
    if not isinstance(node, _h5().Dataset):
        raise DataContractError(path, f"must be a dataset, got a {type(node).__name__}")
    return path, node


def _positive_scalar(node, path: str) -> float:
    try:
        value = np.asarray(node[()])
    except (OSError, TypeError, ValueError) as exc:
        raise DataContractError(path, f"is not readable: {exc}") from exc
    if value.dtype.kind not in "fiu" or value.size != 1:
        raise DataContractError(path, f"must be one real number, got shape {value.shape} "
                                      f"dtype {value.dtype}")
    number = float(value.reshape(()))
    if not math.isfinite(number) or number <= 0:
        raise DataContractError(path, f"must be finite and > 0, got {number!r}")
    return number


def _find_entry(f, entry: str | None) -> str:
    if entry is not None:
        if entry.strip("/") not in f:
            raise DataContractError(f"/{entry.strip('/')}", "entry group missing")
        return entry.strip("/")
    if "entry_1" in f:
        return "entry_1"
    for name, node in f.items():
        nx_class = node.attrs.get("NX_class", b"") if hasattr(node, "attrs") else b""
        if isinstance(nx_class, bytes):
            nx_class = nx_class.decode("utf-8", "replace")
        if str(nx_class) == "NXentry" and any(d in node for d in _DATA):
            return name
    raise DataContractError("/entry_1", "no CXI entry (/entry_1, or an NXentry group holding "
                                        "data_1/data)")


def is_cxi(f) -> bool:
    """True when the open HDF5 file `f` has a CXI entry with frames."""
    try:
        entry = _find_entry(f, None)
    except DataContractError:
        return False
    return any(d in f[entry] for d in _DATA)


def _translations(entry, prefix: str, M: int) -> tuple[str, np.ndarray]:
    path, node = _first(entry, _TRANSLATION, prefix)
    if node is None:
        raise DataContractError(f"{prefix}/{_TRANSLATION[0]}", "required field missing "
                                f"(also looked for {', '.join(_TRANSLATION[1:])})")
    if node.dtype.kind not in "fiu":
        raise DataContractError(path, f"must be real numbers, got dtype {node.dtype}")
    T = np.asarray(node[()], dtype=np.float64)
    if T.ndim == 2 and T.shape[0] in (2, 3) and T.shape[1] == M and T.shape[1] not in (2, 3):
        T = T.T  # PyNX writes (3, M)
    if T.ndim != 2 or T.shape[1] not in (2, 3):
        raise DataContractError(path, f"must be (M, 3) translations in metres, got shape {T.shape}")
    if T.shape[0] != M:
        raise DataContractError(path, f"holds {T.shape[0]} translations for {M} frames")
    if not np.all(np.isfinite(T[:, :2])):
        raise DataContractError(path, "contains NaN or Inf")
    return path, T


def _probe(entry, prefix: str, N: int, probe):
    if probe is not None:
        P = np.asarray(probe)
        require_same_shape("probe", P, (N, N), of="frames'")
        return "probe argument", P.astype(np.complex64), "argument"
    path, node = _first(entry, _PROBE, prefix)
    if node is None:
        from .probe import ideal_probe

        return (f"{prefix}/{_PROBE[0]}", ideal_probe(N).astype(np.complex64),
                f"ideal_probe({N}) (no probe in the file)")
    P = np.asarray(node[()])
    if P.ndim == 3 and P.shape[1:] == (N, N):
        P = P[0]  # probe modes: the first (dominant) one
    require_same_shape(path, P, (N, N), of="frames'")
    if P.dtype.kind not in "fciu":
        raise DataContractError(path, f"must be numbers, got dtype {P.dtype}")
    return path, P.astype(np.complex64), path


def _mask(entry, prefix: str, N: int):
    path, node = _dataset(entry, _MASK, prefix, required=False)
    if node is None:
        return path, None
    mask = np.asarray(node[()])
    require_same_shape(path, mask, (N, N), of="frames'")
    if mask.dtype.kind not in "biu":
        raise DataContractError(path, f"must be an integer or boolean mask, got {mask.dtype}")
    invalid = mask != 0
    if invalid.all():
        raise DataContractError(path, "marks every pixel invalid")
    return path, invalid


def _metadata(entry, prefix: str) -> dict:
    path, node = _dataset(entry, _METADATA, prefix, required=False)
    if node is None:
        return {}
    value = node[()]
    try:
        text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    except UnicodeDecodeError as exc:
        raise DataContractError(path, f"is not UTF-8 text: {exc}") from exc
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise DataContractError(path, f"is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise DataContractError(path, f"must hold a JSON object, got {type(meta).__name__}")
    return meta


# --------------------------------------------------------------------------- entry points


def read_cxi(path, *, entry: str | None = None, probe=None, translation_sign: int = 1,
             clip_negative: bool = False, check_values: bool = True):
    """Open a CXI / NXcxi_ptycho file as a RawData whose diff3d is a lazy FrameArray of
    amplitudes (conventions in the module docstring).

    entry: the NXentry group (default /entry_1, else the first NXentry with frames).
    probe: an (N, N) probe to use instead of the file's. translation_sign: +1 or -1.
    check_values: run the contract's value pass over the frames now (NaN / Inf / negative /
    all zero); False leaves it to the caller (the dataset doctor scans them once itself).
    """
    if translation_sign not in (1, -1):
        raise DataContractError("translation_sign", f"must be +1 or -1, got {translation_sign!r}")
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CXI file not found: {path}")
    f = _open_h5(path)
    with _closed_on_error(f, path):
        return _read_open(f, path, entry=entry, probe=probe, sign=translation_sign,
                          clip_negative=clip_negative, check_values=check_values)


@contextlib.contextmanager
def _closed_on_error(f, path: pathlib.Path):
    """Close the open HDF5 file `f` when the block raises (it stays open for a lazy result
    otherwise); an error h5py raised on a damaged file becomes a DataContractError naming
    `path`, a typed error passes as it is."""
    try:
        yield
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
        f.close()
        if isinstance(exc, DataContractError) or not _raised_in_h5py(exc):
            raise
        raise _corrupt_structure(path, exc) from exc
    except BaseException:
        f.close()
        raise


def _read_open(f, path, *, entry, probe, sign, clip_negative, check_values):
    from .raw_data import RawData

    name = _find_entry(f, entry)
    prefix = f"/{name}"
    group = f[name]
    data_path, data = _first(group, _DATA, prefix)
    if data is None:
        raise DataContractError(f"{prefix}/{_DATA[0]}", "required field missing (also looked "
                                f"for {prefix}/{_DATA[1]})")
    if not isinstance(data, _h5().Dataset):
        raise DataContractError(data_path, "must be a dataset")
    if data.ndim != 3:
        raise DataContractError(data_path, f"must be (M, N, N) frames, got shape {data.shape}"
                                + (" (reshape raster scans to M frames)" if data.ndim == 4 else ""))
    M, ny, nx = (int(d) for d in data.shape)
    if ny != nx:
        raise DataContractError(data_path, f"frames must be square, got {ny} x {nx}")
    if data.dtype.kind not in "fiu":
        raise DataContractError(data_path, f"must be real intensities, got dtype {data.dtype}")
    require_power_of_two(data_path, nx, subject="N", error=DataContractError)
    if M == 0:
        raise DataContractError(data_path, "holds no frames (M = 0)")
    N = nx

    z_path, z_node = _dataset(group, _DISTANCE, prefix)
    distance = _positive_scalar(z_node, z_path)
    px_path, px_node = _dataset(group, _X_PIXEL, prefix)
    pixel = _positive_scalar(px_node, px_path)
    py_path, py_node = _dataset(group, _Y_PIXEL, prefix, required=False)
    if py_node is not None:
        pixel_y = _positive_scalar(py_node, py_path)
        if abs(pixel_y - pixel) > _CONSISTENCY_RTOL * pixel:
            raise DataContractError(py_path, f"{pixel_y!r} differs from x_pixel_size {pixel!r}: "
                                             "non-square pixels are not supported")
    e_path, e_node = _dataset(group, _ENERGY, prefix, required=False)
    w_path, w_node = _dataset(group, _WAVELENGTH, prefix, required=False)
    if e_node is None and w_node is None:
        raise DataContractError(e_path, "required field missing (no wavelength either)")
    if e_node is not None:
        energy = _positive_scalar(e_node, e_path)
        lam = wavelength_from_energy(energy)
        if w_node is not None:
            lam_file = _positive_scalar(w_node, w_path)
            if abs(lam_file - lam) > 1e-3 * lam:
                raise DataContractError(w_path, f"{lam_file!r} m disagrees with h*c/energy = "
                                                f"{lam!r} m (energy {energy!r} J)")
    else:
        lam = _positive_scalar(w_node, w_path)
        energy = PLANCK * SPEED_OF_LIGHT / lam
    dx = lam * distance / (N * pixel)

    t_path, T = _translations(group, prefix, M)
    probe_path, P, probe_source = _probe(group, prefix, N, probe)
    mask_path, invalid = _mask(group, prefix, N)
    meta = _metadata(group, prefix)
    meta["probe_source"] = probe_source
    meta["amplitude_units"] = "sqrt_counts"
    meta["source"] = {
        "format": "cxi", "file": path.name, "entry": prefix,
        "paths": {"data": data_path, "translation": t_path, "probe": probe_path,
                  "mask": mask_path if invalid is not None else None},
        "energy_J": energy, "wavelength_m": lam, "distance_m": distance, "pixel_m": pixel,
        "object_pixel_m": dx, "translation_sign": sign,
        "masked_pixels": 0 if invalid is None else int(invalid.sum()),
        "amplitude": "sqrt(intensity)" + (", negatives clipped to 0" if clip_negative else ""),
    }
    x = sign * T[:, 0] / dx
    y = sign * T[:, 1] / dx
    frames = FrameArray(ArraySource(data, description=f"{path.name}:{data_path}", keepalive=f),
                        dtype=np.float32,
                        transform=IntensityToAmplitude(invalid, clip_negative=clip_negative))
    key_paths = {"diff3d": data_path, "xcoords": t_path, "ycoords": t_path,
                 "xcoords_start": t_path, "ycoords_start": t_path, "probeGuess": probe_path,
                 "metadata": f"{prefix}/{_METADATA}"}
    try:
        return RawData.from_arrays(x, y, frames, P, metadata=meta, check_values=check_values)
    except DataContractError as exc:
        raise DataContractError(key_paths.get(exc.key, exc.key), exc.problem) from exc


def _open_h5(path: pathlib.Path):
    """The open h5py.File at `path` (read only); DataContractError('path') when it is not HDF5."""
    try:
        return _h5().File(path, "r")
    except OSError as exc:
        raise DataContractError("path", f"{path.name} is not a readable HDF5 file: {exc}") from exc


def open_hdf5(path, *, check_values: bool = True, **options):
    """An HDF5 dataset: a CXI / NeXus file (`read_cxi` with `options`), a file holding the
    contract's keys at its root (`ptycho.raw_data.from_group`), or PtyLab's layout
    (`ptycho.ptylab_h5`, option `probe`)."""
    from . import ptylab_h5
    from .raw_data import from_group

    path = pathlib.Path(path)
    f = _open_h5(path)
    with _closed_on_error(f, path):
        if is_cxi(f) or options.get("entry"):
            return _read_open(f, path, entry=options.pop("entry", None),
                              probe=options.pop("probe", None),
                              sign=options.pop("translation_sign", 1),
                              clip_negative=options.pop("clip_negative", False),
                              check_values=check_values, **options)
        if "diff3d" in f:
            return from_group(f, check_values=check_values, where=path.name, keepalive=f)
        if ptylab_h5.is_ptylab(f):
            return ptylab_h5.read_open(f, path, probe=options.pop("probe", None),
                                       check_values=check_values, **options)
        raise DataContractError("/entry_1/data_1/data",
                                "required field missing: neither a CXI file, PtyLab's layout "
                                "(ptychogram, encoder, ...) nor the contract's keys (diff3d, "
                                "xcoords, ...) at the root")


#: room an HDF5 file of write_cxi takes beyond its arrays (headers, attributes, metadata), a
#: generous bound
HDF5_OVERHEAD_BYTES = 256 * 1024


def _check_room(path: pathlib.Path, nbytes: int) -> None:
    """Refuse to write a file of about `nbytes` that cannot fit: past the process's file size
    limit (RLIMIT_FSIZE, `ulimit -f`) or beyond the free room of the filesystem. HDF5 handles
    neither well (found by tests/parity/test_write_faults.py, h5py 3.14 / HDF5 1.14.6): a write
    past the size limit crashes the interpreter (SIGSEGV), and a full disk raises a RuntimeError
    ("Can't decrement id ref count") and then crashes the interpreter when the file's objects
    are garbage-collected. Checked before HDF5 is called; a disk that fills up during the write
    still raises WriteError (the file object driver turns the failed write into ENOSPC)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY and soft < nbytes:
        raise WriteError(path, f"{os.strerror(errno.EFBIG)} (errno EFBIG): the file size limit "
                               f"(ulimit -f) is {soft} bytes, below the about "
                               f"{nbytes} bytes this CXI file needs; nothing written",
                         errno=errno.EFBIG)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        st = os.statvfs(folder)
    except OSError:
        return
    free = st.f_bavail * st.f_frsize
    if free < nbytes:
        raise WriteError(path, f"{os.strerror(errno.ENOSPC)} (errno ENOSPC): {free} bytes free, "
                               f"this CXI file needs about {nbytes}; nothing written",
                         errno=errno.ENOSPC)


def write_cxi(path, raw, *, energy_J: float, distance_m: float, pixel_m: float, scale: float,
              mask=None, translation_sign: int = 1, compression: str | None = None,
              block_bytes: int = 8 * 1024 * 1024) -> pathlib.Path:
    """Write `raw` as a CXI file (atomically): intensities (scale · diff3d)² (float32, computed
    in float64, block by block), translations [x, y, 0] · dx · sign in metres with
    dx = `object_pixel_size`, the probe times `scale` as illumination (so the file is
    self-consistent: I = |FFT(P·O)|² / N² in counts), `raw.metadata` (plus 'cxi_scale') as
    JSON under /entry_1/ptycho_parity/metadata. `read_cxi` inverts it: positions come back in
    pixels, amplitudes and probe as scale · diff3d and scale · probeGuess.

    energy_J: photon energy (J); distance_m: detector distance (m); pixel_m: detector pixel
    (m, square); scale: amplitude -> sqrt(counts) factor (e.g. the dataset scale s, or s_sim
    to recover the simulated counts); mask: optional (N, N) CXI mask (0 = good);
    compression: an h5py filter ('gzip') or None.
    """
    h5py = _h5()
    N, M = raw.N, raw.M
    for name, value in (("energy_J", energy_J), ("distance_m", distance_m), ("pixel_m", pixel_m),
                        ("scale", scale)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise DataContractError(name, f"must be finite and > 0, got {value!r}")
    lam = wavelength_from_energy(energy_J)
    dx = object_pixel_size(energy_J, distance_m, pixel_m, N)
    T = np.zeros((M, 3), dtype=np.float64)
    T[:, 0] = translation_sign * np.asarray(raw.xcoords, dtype=np.float64) * dx
    T[:, 1] = translation_sign * np.asarray(raw.ycoords, dtype=np.float64) * dx
    meta = dict(raw.metadata)
    meta["cxi_scale"] = float(scale)
    meta.pop("source", None)
    path = pathlib.Path(path)
    _check_room(path, M * N * N * 4 + N * N * 12 + M * 24 + HDF5_OVERHEAD_BYTES)
    with atomic.replacing(path, suffix=".cxi") as tmp:
        # a Python file object: a failed write raises OSError (ENOSPC) from Python, not HDF5
        with open(tmp, "wb+") as fh, h5py.File(fh, "w") as f:
            f.attrs["creator"] = "ptycho.cxi.write_cxi"
            f.attrs["default"] = "entry_1"
            f.create_dataset("cxi_version", data=160)
            entry = f.create_group("entry_1")
            entry.attrs["NX_class"] = "NXentry"
            entry.attrs["default"] = "data_1"
            entry.create_dataset("definition", data="NXcxi_ptycho")
            inst = entry.create_group("instrument_1")
            inst.attrs["NX_class"] = "NXinstrument"
            src = inst.create_group("source_1")
            src.attrs["NX_class"] = "NXsource"
            src.create_dataset("energy", data=float(energy_J)).attrs["units"] = "J"
            src.create_dataset("wavelength", data=lam).attrs["units"] = "m"
            # the probe in sqrt(counts) units, like the intensities: I = |FFT(P*O)|^2 / N^2
            src.create_dataset("illumination", data=(np.asarray(raw.probeGuess, np.complex128)
                                                     * scale).astype(np.complex64))
            det = inst.create_group("detector_1")
            det.attrs["NX_class"] = "NXdetector"
            det.create_dataset("distance", data=float(distance_m)).attrs["units"] = "m"
            det.create_dataset("x_pixel_size", data=float(pixel_m)).attrs["units"] = "m"
            det.create_dataset("y_pixel_size", data=float(pixel_m)).attrs["units"] = "m"
            if mask is not None:
                det.create_dataset("mask", data=np.asarray(mask, dtype=np.uint32))
            rows = rows_per_block((M, N, N), 4, block_bytes)
            frames = det.create_dataset("data", shape=(M, N, N), dtype=np.float32,
                                        chunks=(min(M, max(1, rows)), N, N),
                                        compression=compression)
            frames.attrs["units"] = "counts"
            for start in range(0, M, rows):
                block = np.asarray(raw.diff3d[start:start + rows], dtype=np.float64) * scale
                frames[start:start + block.shape[0]] = np.square(block).astype(np.float32)
            sample = entry.create_group("sample_1")
            sample.attrs["NX_class"] = "NXsample"
            geometry = sample.create_group("geometry_1")
            geometry.create_dataset("translation", data=T).attrs["units"] = "m"
            data_1 = entry.create_group("data_1")
            data_1.attrs["NX_class"] = "NXdata"
            data_1.attrs["signal"] = "data"
            data_1["data"] = h5py.SoftLink("/entry_1/instrument_1/detector_1/data")
            data_1["translation"] = h5py.SoftLink("/entry_1/sample_1/geometry_1/translation")
            ours = entry.create_group("ptycho_parity")
            ours.attrs["NX_class"] = "NXcollection"
            ours.create_dataset("metadata", data=json.dumps(meta, allow_nan=False,
                                                            sort_keys=True))
    return path
