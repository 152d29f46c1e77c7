"""RawData: a ptychographic dataset, and the NPZ data contract (docs/design.md §6).

Required NPZ keys: xcoords (M,) float64 column positions, ycoords (M,) float64 row positions
(pixels of the unpadded object), diff3d (M, N, N) float32 diffraction amplitude (sqrt of
counts / s_sim, DC at (N/2, N/2)), probeGuess (N, N) complex64. Optional: xcoords_start,
ycoords_start (default: the coords), scan_index (M,) int64 (default zeros), objectGuess (H, W)
complex64, metadata (a JSON string: nphotons, seed, s_sim, provenance).

Every violation raises `DataContractError(key, problem)`. Files are written atomically.

Out of core: `RawData.from_npz` does not load diff3d: it stays on disk as a
`ptycho.frames.FrameArray` (read in place when stored, as a stream when compressed; see
`ptycho.npz`). Slicing reads only the rows asked for, ``np.asarray(raw.diff3d)`` loads it all,
and the value checks (NaN / Inf / negative / all zero, `ptycho.diffraction_health`) run over
blocks of at most `CHECK_BLOCK_BYTES`. Writing a RawData whose diff3d is a FrameArray streams
it block by block into the archive (`ptycho.npz.write_npz`). The NPZ and health names are
re-exported here.

Other sources (same RawData, read lazily): CXI / NeXus HDF5 files (`ptycho.cxi`), and zarr
stores or HDF5 files holding the contract's keys as arrays (`from_group`). `ptycho.formats.open_dataset(path)`
recognizes the format by content (`ptycho.formats.detect_format`).
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
from dataclasses import dataclass, field

import numpy as np

from .diffraction_health import (CHECK_BLOCK_BYTES, DiffractionHealth, check_diffraction_health,
                                 check_diffraction_values, scan_diffraction)
from .errors import DataContractError
from .frames import FrameArray, is_frame_stack
from .npz import open_npz_member, read_npz, write_npz
from .validation import (require_finite, require_kind, require_nonzero, require_power_of_two,
                         require_rank, require_same_shape)

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


def _check_json(metadata) -> None:
    if not isinstance(metadata, dict):
        raise DataContractError("metadata", f"must be a dict, got {type(metadata).__name__}")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DataContractError("metadata", f"is not JSON-serializable: {exc}") from exc


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
        require_same_shape("probeGuess", probe, (N, N), of="patterns'")

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
            check_diffraction_values(diff3d)

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
        arrays = self._canonical_arrays()
        arrays["metadata"] = np.array(json.dumps(self.metadata, allow_nan=False, sort_keys=True))
        return write_npz(path, arrays, block_bytes=CHECK_BLOCK_BYTES)


# --------------------------------------------------------------------------- other sources


def _group_get(group, key):
    """group[key] for a zarr/HDF5 group, or None when absent. Metadata of the node that the
    storage library cannot parse (a corrupt store) raises DataContractError(key)."""
    try:
        return group[key] if key in group else None
    except (KeyError, TypeError):
        return None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - zarr/h5py errors of corrupt metadata
        raise DataContractError(key, f"cannot be opened (corrupt store): {type(exc).__name__}: {exc}") from exc


def _group_read(node, key) -> np.ndarray:
    """All of a (small) zarr/HDF5 array; undecodable data raises DataContractError(key)."""
    try:
        return np.asarray(node[()])
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - codec errors of a corrupt chunk
        raise DataContractError(key, f"cannot be read (corrupt or truncated data): "
                                     f"{type(exc).__name__}: {exc}") from exc


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
            data[key] = _group_read(node, key)
    try:
        attrs = dict(getattr(group, "attrs", {}))
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a corrupt attribute document
        raise DataContractError("metadata", f"the store's attributes cannot be read: "
                                            f"{type(exc).__name__}: {exc}") from exc
    if "metadata" not in data and "metadata" in attrs:
        value = attrs["metadata"]
        data["metadata"] = value if isinstance(value, dict) else np.asarray(value)
    if isinstance(data.get("metadata"), np.ndarray) and data["metadata"].dtype.kind == "O":
        data["metadata"] = str(data["metadata"].item())
    return RawData.from_mapping(data, check_values=check_values)
