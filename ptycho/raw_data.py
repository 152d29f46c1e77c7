"""RawData: a ptychographic dataset in memory, and the NPZ data contract (DESIGN §6).

Required NPZ keys: xcoords (M,) float64 column positions, ycoords (M,) float64 row positions
(pixels of the unpadded object), diff3d (M, N, N) float32 diffraction amplitude (sqrt of
counts / s_sim, DC at (N/2, N/2)), probeGuess (N, N) complex64. Optional: xcoords_start,
ycoords_start (default: the coords), scan_index (M,) int64 (default zeros), objectGuess (H, W)
complex64, metadata (a JSON string: nphotons, seed, s_sim, provenance).

Every violation raises `DataContractError(key, problem)`. Files are written atomically.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import zipfile
from dataclasses import dataclass, field

import numpy as np

from . import atomic
from .errors import DataContractError
from .validation import (require_finite, require_kind, require_nonzero, require_power_of_two,
                         require_rank)

__all__ = ["RawData", "DataContractError", "read_npz", "REQUIRED_KEYS", "OPTIONAL_KEYS"]

REQUIRED_KEYS = ("xcoords", "ycoords", "diff3d", "probeGuess")
OPTIONAL_KEYS = ("xcoords_start", "ycoords_start", "scan_index", "objectGuess", "metadata")
#: canonical dtype of every array key (arrays are cast to these within their dtype kind)
CANONICAL_DTYPES = {
    "xcoords": np.float64, "ycoords": np.float64, "diff3d": np.float32,
    "probeGuess": np.complex64, "xcoords_start": np.float64, "ycoords_start": np.float64,
    "scan_index": np.int64, "objectGuess": np.complex64,
}

#: patterns checked per step when scanning diff3d for NaN/Inf/negatives (bounded memory)
_CHECK_CHUNK = 1024


def read_npz(path) -> dict:
    """All arrays of an NPZ archive as a dict (no pickles).

    A missing file raises FileNotFoundError; an unreadable one DataContractError('path').
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NPZ file not found: {path}")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise DataContractError("path", f"{path.name} is a single .npy array, not an NPZ")
        with data:
            return {key: data[key] for key in data.files}
    except DataContractError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise DataContractError("path", f"{path.name} is not a readable NPZ file: {exc}") from exc


def _check_json(metadata) -> None:
    if not isinstance(metadata, dict):
        raise DataContractError("metadata", f"must be a dict, got {type(metadata).__name__}")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DataContractError("metadata", f"is not JSON-serializable: {exc}") from exc


def _check_diffraction(diff3d: np.ndarray) -> None:
    """diff3d values: finite, >= 0, not all zero; streamed in chunks of patterns."""
    any_nonzero = False
    for start in range(0, diff3d.shape[0], _CHECK_CHUNK):
        chunk = np.asarray(diff3d[start:start + _CHECK_CHUNK])
        require_finite("diff3d", chunk, separate=True)
        if (chunk < 0).any():
            raise DataContractError("diff3d", "contains negative amplitudes")
        any_nonzero = any_nonzero or bool((chunk != 0).any())
    if not any_nonzero:
        raise DataContractError("diff3d", "is all zero")


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
    def validate(self) -> "RawData":
        """Check the whole contract; raise DataContractError naming the first bad key.

        Returns self so that calls can be chained.
        """
        arrays = {}
        for key in REQUIRED_KEYS + ("xcoords_start", "ycoords_start", "scan_index"):
            value = getattr(self, key)
            if value is None:
                raise DataContractError(key, "is missing (None)")
            arrays[key] = np.asarray(value)

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
                    metadata=None) -> "RawData":
        """Validated RawData with canonical dtypes; optional keys take their defaults.

        Dtype kinds are checked before casting (an integer diff3d or a real probe is an error);
        within a kind, arrays are cast to the canonical dtype (e.g. float64 diff3d -> float32).
        Defaults: *_start = the coords, scan_index = zeros (int64), metadata = {}.
        """
        raw = cls(
            xcoords=np.asarray(xcoords),
            ycoords=np.asarray(ycoords),
            diff3d=np.asarray(diff3d),
            probeGuess=np.asarray(probeGuess),
            xcoords_start=np.asarray(xcoords if xcoords_start is None else xcoords_start),
            ycoords_start=np.asarray(ycoords if ycoords_start is None else ycoords_start),
            scan_index=(np.zeros(np.shape(xcoords)[:1], dtype=np.int64) if scan_index is None
                        else np.asarray(scan_index)),
            objectGuess=None if objectGuess is None else np.asarray(objectGuess),
            metadata={} if metadata is None else metadata,
        )
        raw.validate()
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
            if value is not None:
                out[key] = np.asarray(value).astype(dtype, copy=False)
        return out

    @classmethod
    def from_npz(cls, path) -> "RawData":
        """Load and validate an NPZ dataset. Missing required key -> DataContractError(key)."""
        data = read_npz(path)
        for key in REQUIRED_KEYS:
            if key not in data:
                raise DataContractError(key, f"required key missing (keys present: {sorted(data)})")
        metadata = {}
        if "metadata" in data:
            text = data["metadata"]
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
            metadata=metadata,
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
        _atomic_savez(path, arrays)
        return path


def _atomic_savez(path: pathlib.Path, arrays: dict) -> None:
    """np.savez into a temp file next to `path`, then atomically replace `path` with it."""
    with atomic.replacing(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
