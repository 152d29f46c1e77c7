"""RawData: a ptychographic dataset, and the NPZ data contract (DESIGN §6).

Required NPZ keys: xcoords (M,) float64 column positions, ycoords (M,) float64 row positions
(pixels of the unpadded object), diff3d (M, N, N) float32 diffraction amplitude (sqrt of
counts / s_sim, DC at (N/2, N/2)), probeGuess (N, N) complex64. Optional: xcoords_start,
ycoords_start (default: the coords), scan_index (M,) int64 (default zeros), objectGuess (H, W)
complex64, metadata (a JSON string: nphotons, seed, s_sim, provenance).

Every violation raises `DataContractError(key, problem)`. Files are written atomically.

Out of core: `RawData.from_npz` does not load diff3d. A member stored without compression (what
`np.savez` and `to_npz` write) is read in place with ``pread`` at its byte offset in the archive
(`ptycho.frames.FileSource`; ``open_npz_member(path, key, mmap=True)`` gives an ``np.memmap``
instead; pread is the default because every page a memmap has read stays in the process's
resident set until it is unmapped, so a pass over a 4 GiB memmap shows 4 GiB of RSS while
pread keeps it at one block); a compressed member (``np.savez_compressed``) is decompressed as a stream. Either way
diff3d is a `ptycho.frames.FrameArray`: slicing reads only the rows asked for,
``np.asarray(raw.diff3d)`` loads it all, and the value checks (NaN / Inf / negative / all zero)
and the statistics run over blocks of at most `CHECK_BLOCK_BYTES`. Writing a RawData whose
diff3d is a FrameArray streams it block by block into the archive.

Other sources (same RawData, read lazily): CXI / NeXus HDF5 files (`ptycho.cxi`), and zarr
stores or HDF5 files holding the contract's keys as arrays (`from_group`). `ptycho.formats.open_dataset(path)`
recognizes the format by content (`ptycho.formats.detect_format`).
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import struct
import zipfile
from dataclasses import dataclass, field

import numpy as np

from . import atomic
from .errors import DataContractError
from .frames import FileSource, FrameArray, StreamSource, is_frame_stack, rows_per_block
from .validation import (require_finite, require_kind, require_nonzero, require_power_of_two,
                         require_rank)

__all__ = ["RawData", "DataContractError", "read_npz", "open_npz_member",
           "from_group", "DiffractionHealth", "scan_diffraction", "check_diffraction_health",
           "REQUIRED_KEYS", "OPTIONAL_KEYS", "CHECK_BLOCK_BYTES"]

REQUIRED_KEYS = ("xcoords", "ycoords", "diff3d", "probeGuess")
OPTIONAL_KEYS = ("xcoords_start", "ycoords_start", "scan_index", "objectGuess", "metadata")
#: canonical dtype of every array key (arrays are cast to these within their dtype kind)
CANONICAL_DTYPES = {
    "xcoords": np.float64, "ycoords": np.float64, "diff3d": np.float32,
    "probeGuess": np.complex64, "xcoords_start": np.float64, "ycoords_start": np.float64,
    "scan_index": np.int64, "objectGuess": np.complex64,
}

#: bytes of diff3d checked per step when scanning for NaN/Inf/negatives (bounded memory)
CHECK_BLOCK_BYTES = 8 * 1024 * 1024
#: the ZIP local file header: signature and the lengths of the name and extra field after it
_ZIP_LOCAL_HEADER = struct.Struct("<4s22xHH")


def _npy_header(fp, where: str) -> tuple[tuple, bool, np.dtype]:
    """(shape, fortran_order, dtype) of the .npy stream `fp`, which is left at the data."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(fp)
        else:  # (3, 0): utf-8 field names; numpy has no public reader for its header
            shape, fortran, dtype = fmt._read_array_header(fp, version)
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise DataContractError(where, f"is not a readable .npy member: {exc}") from exc
    if dtype.hasobject:
        raise DataContractError(where, "holds Python objects (pickles are not read)")
    return tuple(int(d) for d in shape), bool(fortran), dtype


def _zip_data_offset(path: pathlib.Path, info: zipfile.ZipInfo) -> int:
    """Byte offset in the archive file where the data of member `info` starts."""
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        head = fh.read(_ZIP_LOCAL_HEADER.size)
    if len(head) != _ZIP_LOCAL_HEADER.size:
        raise DataContractError("path", f"{path.name}: truncated ZIP header of {info.filename}")
    magic, name_len, extra_len = _ZIP_LOCAL_HEADER.unpack(head)
    if magic != b"PK\x03\x04":
        raise DataContractError("path", f"{path.name}: bad ZIP local header of {info.filename}")
    return info.header_offset + _ZIP_LOCAL_HEADER.size + name_len + extra_len


def _member_info(zf: zipfile.ZipFile, path: pathlib.Path, key: str) -> zipfile.ZipInfo:
    try:
        info = zf.getinfo(key + ".npy")
    except KeyError:
        raise DataContractError(key, f"required key missing from {path.name}") from None
    if info.flag_bits & 0x1:
        raise DataContractError(key, "is an encrypted ZIP member")
    return info


def open_npz_member(path, key: str, *, mmap: bool = False):
    """Array `key` of the NPZ at `path`, not loaded: a FrameArray (or, with `mmap`, an
    ``np.memmap``) over the member's bytes.

    Stored members (no compression) are read in place at their offset in the archive; a
    compressed member is read as a decompressing stream (``mmap`` then raises
    DataContractError(key)). A Fortran-ordered member with more than one axis is loaded.
    Errors: FileNotFoundError; DataContractError('path') for an unreadable archive,
    DataContractError(key) for a missing or unreadable member.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NPZ file not found: {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            info = _member_info(zf, path, key)
            with zf.open(info) as fp:
                shape, fortran, dtype = _npy_header(fp, key)
                header_len = fp.tell()
                if not shape or (fortran and len(shape) > 1):
                    with zf.open(info) as whole:
                        return np.lib.format.read_array(whole, allow_pickle=False)
    except (OSError, zipfile.BadZipFile) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise DataContractError("path", f"{path.name} is not a readable NPZ file: {exc}") from exc
    nbytes = dtype.itemsize * math.prod(shape)
    if info.file_size < header_len + nbytes:
        raise DataContractError(key, f"member holds {info.file_size - header_len} data bytes, "
                                     f"shape {shape} {dtype} needs {nbytes}")
    description = f"{path.name}:{key}.npy"
    if info.compress_type == zipfile.ZIP_STORED:
        offset = _zip_data_offset(path, info) + header_len
        if mmap:
            return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
        source = FileSource(path, offset, shape, dtype, description=description)
    else:
        if mmap:
            raise DataContractError(key, "is compressed and cannot be memory-mapped "
                                         "(rewrite with np.savez or RawData.to_npz)")
        archive = zipfile.ZipFile(path)
        member = _member_info(archive, path, key)

        def opener(archive=archive, member=member):
            return archive.open(member)

        source = StreamSource(opener, header_len, shape, dtype,
                              description=description + " (compressed)",
                              on_close=archive.close)
    return FrameArray(source)


def read_npz(path, *, lazy=()) -> dict:
    """All arrays of an NPZ archive as a dict (no pickles).

    Keys named in `lazy` (e.g. ``("diff3d",)``) are not loaded: they come as
    `open_npz_member` FrameArrays (0-d members are always loaded).
    A missing file raises FileNotFoundError; an unreadable one DataContractError('path').
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NPZ file not found: {path}")
    lazy = set(lazy)
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise DataContractError("path", f"{path.name} is a single .npy array, not an NPZ")
        with data:
            out = {}
            for key in data.files:
                if key in lazy:
                    out[key] = None  # filled below, outside the open NpzFile
                else:
                    out[key] = data[key]
    except DataContractError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise DataContractError("path", f"{path.name} is not a readable NPZ file: {exc}") from exc
    for key in [k for k, v in out.items() if v is None]:
        out[key] = open_npz_member(path, key)
    return out


def _check_json(metadata) -> None:
    if not isinstance(metadata, dict):
        raise DataContractError("metadata", f"must be a dict, got {type(metadata).__name__}")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DataContractError("metadata", f"is not JSON-serializable: {exc}") from exc


@dataclass
class DiffractionHealth:
    """Counts over a (M, N, N) diffraction stack from one streamed pass (`scan_diffraction`).

    patterns: M. *_patterns: patterns with at least one NaN / Inf / negative value, patterns
    that are all zero. *_values: element totals. nonzero: any element != 0 (NaN counts as
    non-zero). mean_pattern: (N, N) float64 mean over patterns (NaN-propagating), when asked.
    """

    patterns: int = 0
    nan_patterns: int = 0
    inf_patterns: int = 0
    negative_patterns: int = 0
    zero_patterns: int = 0
    nan_values: int = 0
    inf_values: int = 0
    negative_values: int = 0
    nonzero: bool = False
    mean_pattern: np.ndarray | None = None

    def to_dict(self) -> dict:
        """The counts (no mean pattern) as a JSON-safe dict."""
        return {k: (bool(v) if k == "nonzero" else int(v))
                for k, v in dataclasses.asdict(self).items() if k != "mean_pattern"}


def _blocks(diff3d, block_bytes: int):
    """(start, ndarray block) over the leading axis, each about `block_bytes` (>= one pattern)."""
    if isinstance(diff3d, FrameArray):
        yield from diff3d.blocks(block_bytes)
        return
    step = rows_per_block(tuple(diff3d.shape), np.dtype(diff3d.dtype).itemsize, block_bytes)
    for start in range(0, diff3d.shape[0], step):
        yield start, np.asarray(diff3d[start:start + step])


def scan_diffraction(diff3d, *, mean: bool = False,
                     block_bytes: int = CHECK_BLOCK_BYTES) -> DiffractionHealth:
    """One pass over `diff3d` ((M, ...) ndarray, memmap or FrameArray) in blocks of about
    `block_bytes`: NaN / Inf / negative / all-zero counts and, with `mean`, the float64 mean
    pattern. Extra memory: one block plus a few boolean masks of it."""
    M = int(diff3d.shape[0])
    h = DiffractionHealth(patterns=M)
    axes = tuple(range(1, len(diff3d.shape)))
    total = np.zeros(tuple(diff3d.shape[1:]), dtype=np.float64) if mean else None
    for _, c in _blocks(diff3d, block_bytes):
        nan = np.isnan(c)
        h.nan_values += int(np.count_nonzero(nan))
        h.nan_patterns += int(nan.any(axis=axes).sum())
        inf = np.isinf(c, out=nan)
        h.inf_values += int(np.count_nonzero(inf))
        h.inf_patterns += int(inf.any(axis=axes).sum())
        neg = np.less(c, 0, out=nan)
        h.negative_values += int(np.count_nonzero(neg))
        h.negative_patterns += int(neg.any(axis=axes).sum())
        zero = np.equal(c, 0, out=nan)
        all_zero = zero.all(axis=axes)
        h.zero_patterns += int(all_zero.sum())
        h.nonzero = h.nonzero or not bool(all_zero.all())
        if total is not None:
            total += np.sum(c, axis=0, dtype=np.float64)
    if total is not None and M:
        h.mean_pattern = total / M
    return h


def check_diffraction_health(h: DiffractionHealth, key: str = "diff3d") -> None:
    """The contract's value checks from a `scan_diffraction` result: raise
    DataContractError(key) for NaN, then Inf, then negative values, then all zero."""
    if h.nan_values:
        raise DataContractError(key, "contains NaN")
    if h.inf_values:
        raise DataContractError(key, "contains Inf")
    if h.negative_values:
        raise DataContractError(key, "contains negative amplitudes")
    if not h.nonzero:
        raise DataContractError(key, "is all zero")


def _check_diffraction(diff3d) -> None:
    """diff3d values: finite, >= 0, not all zero; streamed in blocks, stopping at the first
    bad one (the same problems, in the same order, as `check_diffraction_health`)."""
    any_nonzero = False
    for _, chunk in _blocks(diff3d, CHECK_BLOCK_BYTES):
        require_finite("diff3d", chunk, separate=True)
        if (chunk < 0).any():
            raise DataContractError("diff3d", "contains negative amplitudes")
        any_nonzero = any_nonzero or bool((chunk != 0).any())
    if not any_nonzero:
        raise DataContractError("diff3d", "is all zero")


def _as_stack(value):
    """diff3d as given when it is an ndarray/memmap/FrameArray, else np.asarray(value)."""
    return value if is_frame_stack(value) else np.asarray(value)


@dataclass
class RawData:
    """A dataset of M diffraction patterns of side N (see the module docstring for units)."""

    xcoords: np.ndarray
    ycoords: np.ndarray
    diff3d: np.ndarray
    probeGuess: np.ndarray
    xcoords_start: np.ndarray
    ycoords_start: np.ndarray
    scan_index: np.ndarray
    objectGuess: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def N(self) -> int:
        """Pattern side in pixels."""
        return int(self.diff3d.shape[-1])

    @property
    def M(self) -> int:
        """Number of diffraction patterns."""
        return int(self.diff3d.shape[0])

    # ------------------------------------------------------------------ validation
    def validate(self, *, check_values: bool = True) -> "RawData":
        """Check the whole contract; raise DataContractError naming the first bad key.

        check_values=False skips the pass over diff3d's values (NaN / Inf / negative / all
        zero), e.g. when the caller scans them itself (`scan_diffraction`). A lazy diff3d is
        never loaded. Returns self so that calls can be chained.
        """
        arrays = {}
        for key in REQUIRED_KEYS + ("xcoords_start", "ycoords_start", "scan_index"):
            value = getattr(self, key)
            if value is None:
                raise DataContractError(key, "is missing (None)")
            arrays[key] = _as_stack(value) if key == "diff3d" else np.asarray(value)

        diff3d = arrays["diff3d"]
        require_kind("diff3d", diff3d, "f", "a float amplitude array (dtype kind 'f')")
        require_rank("diff3d", diff3d, 3)
        M, n_rows, n_cols = diff3d.shape
        if n_rows != n_cols:
            raise DataContractError("diff3d", f"patterns must be square, got shape {diff3d.shape}")
        require_power_of_two("diff3d", int(n_rows), subject="N", error=DataContractError)
        if M == 0:
            raise DataContractError("diff3d", "holds no patterns (M = 0)")
        N = int(n_rows)

        probe = arrays["probeGuess"]
        require_kind("probeGuess", probe, "c", "complex (dtype kind 'c')")
        require_rank("probeGuess", probe, 2)
        if probe.shape != (N, N):
            raise DataContractError("probeGuess", f"shape {probe.shape} does not match N={N}")

        for key in ("xcoords", "ycoords", "xcoords_start", "ycoords_start"):
            arr = arrays[key]
            require_kind(key, arr, "f", "float coordinates (dtype kind 'f')")
            require_rank(key, arr, 1)
            if arr.shape[0] != M:
                raise DataContractError(key, f"length {arr.shape[0]} != number of patterns {M}")
        scan_index = arrays["scan_index"]
        require_kind("scan_index", scan_index, "iu", "integer (dtype kind 'i' or 'u')")
        require_rank("scan_index", scan_index, 1)
        if scan_index.shape[0] != M:
            raise DataContractError("scan_index", f"length {scan_index.shape[0]} != {M} patterns")

        for key in ("xcoords", "ycoords", "xcoords_start", "ycoords_start", "probeGuess"):
            require_finite(key, arrays[key], separate=True)
        require_nonzero("probeGuess", probe)
        if check_values:
            _check_diffraction(diff3d)

        if self.objectGuess is not None:
            obj = np.asarray(self.objectGuess)
            require_kind("objectGuess", obj, "c", "complex (dtype kind 'c')")
            require_rank("objectGuess", obj, 2)
            require_finite("objectGuess", obj, separate=True)
        _check_json(self.metadata)
        return self

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(cls, xcoords, ycoords, diff3d, probeGuess, *, xcoords_start=None,
                    ycoords_start=None, scan_index=None, objectGuess=None,
                    metadata=None, check_values: bool = True) -> "RawData":
        """Validated RawData with canonical dtypes; optional keys take their defaults.

        Dtype kinds are checked before casting (an integer diff3d or a real probe is an error);
        within a kind, arrays are cast to the canonical dtype (e.g. float64 diff3d -> float32).
        diff3d may be a FrameArray (kept lazy; a cast is applied as it is read) or a memmap.
        Defaults: *_start = the coords, scan_index = zeros (int64), metadata = {}.
        check_values: see `validate`.
        """
        raw = cls(
            xcoords=np.asarray(xcoords),
            ycoords=np.asarray(ycoords),
            diff3d=_as_stack(diff3d),
            probeGuess=np.asarray(probeGuess),
            xcoords_start=np.asarray(xcoords if xcoords_start is None else xcoords_start),
            ycoords_start=np.asarray(ycoords if ycoords_start is None else ycoords_start),
            scan_index=(np.zeros(np.shape(xcoords)[:1], dtype=np.int64) if scan_index is None
                        else np.asarray(scan_index)),
            objectGuess=None if objectGuess is None else np.asarray(objectGuess),
            metadata={} if metadata is None else metadata,
        )
        raw.validate(check_values=check_values)
        return dataclasses.replace(raw, metadata=dict(raw.metadata), **raw._canonical_arrays())

    def subset(self, idx) -> "RawData":
        """RawData holding patterns `idx` ((K,) int indices) of this one: coordinates and
        diffraction of those patterns, the same probe, object and metadata."""
        idx = np.asarray(idx)
        return RawData.from_arrays(self.xcoords[idx], self.ycoords[idx], self.diff3d[idx],
                                   self.probeGuess, objectGuess=self.objectGuess,
                                   metadata=dict(self.metadata))

    def _canonical_arrays(self) -> dict:
        """Every array field cast to its CANONICAL_DTYPES entry (objectGuess only when set)."""
        out = {}
        for key, dtype in CANONICAL_DTYPES.items():
            value = getattr(self, key)
            if isinstance(value, FrameArray):
                out[key] = value if value.dtype == dtype else FrameArray(
                    value.source, dtype=dtype, transform=value.transform,
                    description=value.description)
            elif value is not None:
                out[key] = np.asarray(value).astype(dtype, copy=False)
        return out

    @property
    def is_lazy(self) -> bool:
        """True when diff3d is read on demand (a FrameArray), not held in memory."""
        return isinstance(self.diff3d, FrameArray)

    def close(self) -> None:
        """Release the file a lazy diff3d reads from (no-op for in-memory data)."""
        if isinstance(self.diff3d, FrameArray):
            self.diff3d.close()

    @classmethod
    def from_npz(cls, path, *, lazy: bool = True, check_values: bool = True) -> "RawData":
        """Open and validate an NPZ dataset. Missing required key -> DataContractError(key).

        lazy (default): diff3d stays on disk as a FrameArray (see the module docstring);
        lazy=False loads it into memory. check_values: see `validate`.
        """
        data = read_npz(path, lazy=("diff3d",) if lazy else ())
        return cls.from_mapping(data, check_values=check_values)

    @classmethod
    def from_mapping(cls, data, *, check_values: bool = True) -> "RawData":
        """Validated RawData from a mapping of contract keys to arrays (an NPZ's, a zarr or
        HDF5 group's); 'metadata' is a 0-d JSON string array, a str, bytes or a dict."""
        for key in REQUIRED_KEYS:
            if key not in data:
                raise DataContractError(key, f"required key missing (keys present: {sorted(data)})")
        metadata = {}
        text = data.get("metadata")
        if isinstance(text, dict):
            metadata = text
        elif text is not None:
            text = np.asarray(text)
            if text.ndim != 0 or text.dtype.kind not in "US":
                raise DataContractError("metadata", f"must be a JSON string, got {text.dtype}")
            try:
                metadata = json.loads(str(text.item() if text.dtype.kind == "U"
                                          else text.item().decode("utf-8")))
            except (ValueError, UnicodeDecodeError) as exc:
                raise DataContractError("metadata", f"is not valid JSON: {exc}") from exc
        return cls.from_arrays(
            data["xcoords"], data["ycoords"], data["diff3d"], data["probeGuess"],
            xcoords_start=data.get("xcoords_start"), ycoords_start=data.get("ycoords_start"),
            scan_index=data.get("scan_index"), objectGuess=data.get("objectGuess"),
            metadata=metadata, check_values=check_values,
        )

    def to_npz(self, path) -> pathlib.Path:
        """Validate, then write atomically (`ptycho.atomic.replacing`).

        On any failure the temp file is removed and an existing file at `path` is untouched.
        Arrays are written in their canonical dtypes; metadata as a JSON string under key
        'metadata'; objectGuess only when set.
        """
        self.validate()
        path = pathlib.Path(path)
        arrays = self._canonical_arrays()
        arrays["metadata"] = np.array(json.dumps(self.metadata, allow_nan=False, sort_keys=True))
        if any(isinstance(v, FrameArray) for v in arrays.values()):
            _atomic_savez_streaming(path, arrays)
        else:
            _atomic_savez(path, arrays)
        return path


def _atomic_savez(path: pathlib.Path, arrays: dict) -> None:
    """np.savez into a temp file next to `path`, then atomically replace `path` with it."""
    with atomic.replacing(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _atomic_savez_streaming(path: pathlib.Path, arrays: dict,
                            block_bytes: int = CHECK_BLOCK_BYTES) -> None:
    """Like `_atomic_savez` (stored members, ZIP64), writing FrameArrays block by block, so
    the archive can be larger than memory; the result reads back with np.load."""
    fmt = np.lib.format
    with atomic.replacing(path, suffix=".npz") as tmp, \
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, value in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as fh:
                if not isinstance(value, FrameArray):
                    fmt.write_array(fh, np.asarray(value), allow_pickle=False)
                    continue
                header = {"descr": fmt.dtype_to_descr(value.dtype), "fortran_order": False,
                          "shape": value.shape}
                try:
                    fmt.write_array_header_1_0(fh, header)
                except ValueError:  # header longer than 64 KiB
                    fmt.write_array_header_2_0(fh, header)
                for _, block in value.blocks(block_bytes):
                    fh.write(np.ascontiguousarray(block).data)


# --------------------------------------------------------------------------- other sources


def _group_get(group, key):
    """group[key] for a zarr/HDF5 group, or None when absent."""
    try:
        return group[key] if key in group else None
    except (KeyError, TypeError):
        return None


def from_group(group, *, check_values: bool = True, where: str = "",
               keepalive=None) -> RawData:
    """RawData from a zarr or HDF5 group holding the contract's keys as arrays.

    diff3d stays lazy (a FrameArray over the group's array, read in slices); the other keys
    are loaded. metadata: a 'metadata' array / attribute holding a JSON string (or, for
    zarr, a dict attribute). `where` names the store in the frames' description; `keepalive`
    is kept open as long as diff3d is (e.g. the h5py.File) and closed by `RawData.close()`.
    """
    from .frames import ArraySource

    data = {}
    for key in REQUIRED_KEYS + OPTIONAL_KEYS:
        node = _group_get(group, key)
        if node is None:
            continue
        if key == "diff3d":
            data[key] = FrameArray(ArraySource(node, description=f"{where}/{key}",
                                               keepalive=keepalive))
        else:
            data[key] = np.asarray(node[()])
    attrs = getattr(group, "attrs", {})
    if "metadata" not in data and "metadata" in attrs:
        value = attrs["metadata"]
        data["metadata"] = value if isinstance(value, dict) else np.asarray(value)
    if isinstance(data.get("metadata"), np.ndarray) and data["metadata"].dtype.kind == "O":
        data["metadata"] = str(data["metadata"].item())
    return RawData.from_mapping(data, check_values=check_values)
