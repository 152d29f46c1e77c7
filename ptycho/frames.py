"""FrameArray: a read-only, lazily read stack of frames (M, ...) that never loads all of them.

A `FrameArray` wraps a *frame source* — anything with ``shape``, ``dtype`` and
``read(start, stop) -> ndarray`` (rows [start, stop) of the leading axis) — and optionally an
element-wise transform applied block by block (e.g. amplitude = sqrt(intensity)). It behaves like
a read-only ndarray where the pipeline needs one:

- ``shape``, ``dtype``, ``ndim``, ``size``, ``nbytes``, ``len()``;
- ``fa[i]``, ``fa[a:b:k]``, ``fa[int_array]``, ``fa[bool_mask]``, ``fa[i, ...]`` return ndarrays
  (only the rows asked for are read);
- ``np.asarray(fa)`` materializes the whole stack (block by block into one array) for code
  that needs it in memory, e.g. training on a dataset that fits;
- ``fa.blocks(block_bytes)`` yields ``(start, block)`` pairs of at most about `block_bytes`
  each, in order: what the streaming statistics iterate over.

Sources defined here: `ArraySource` (any sliceable array: ndarray, np.memmap, h5py or zarr
array), `FileSource` (a C-ordered array at a byte offset of a file, read with ``pread``: no
mapping, so reading it does not grow the process's resident memory) and `StreamSource` (an
array inside a file object that can seek, e.g. a compressed ZIP member; reads forward
efficiently). The NPZ and CXI readers (`ptycho.raw_data`, `ptycho.cxi`) build on them.
"""
from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator

import numpy as np

from .errors import DataContractError

__all__ = ["FrameArray", "ArraySource", "FileSource", "StreamSource", "READ_BLOCK_BYTES",
           "rows_per_block", "is_frame_stack"]

#: default size of one block read by `FrameArray.blocks` and `__array__` (bytes of the output)
READ_BLOCK_BYTES = 8 * 1024 * 1024


def rows_per_block(shape: tuple, itemsize: int, block_bytes: int = READ_BLOCK_BYTES) -> int:
    """Leading-axis rows per block of at most about `block_bytes` (at least 1)."""
    row = int(itemsize)
    for d in shape[1:]:
        row *= int(d)
    return max(1, int(block_bytes) // max(1, row))


def is_frame_stack(x) -> bool:
    """True for an ndarray (memmap included) or a FrameArray: values that RawData keeps as they
    are instead of copying with np.asarray."""
    return isinstance(x, (np.ndarray, FrameArray))


# --------------------------------------------------------------------------- sources


class ArraySource:
    """Frames of any array that slices on its leading axis (ndarray, memmap, h5py.Dataset,
    zarr.Array...). `keepalive` holds objects the array needs open (e.g. its h5py.File)."""

    def __init__(self, array, *, description: str = "", keepalive=None):
        self.array = array
        self.shape = tuple(int(d) for d in array.shape)
        self.dtype = np.dtype(array.dtype)
        self.description = description or type(array).__name__
        self._keepalive = keepalive

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames [start, stop). A chunk the storage library cannot decode (a corrupt or
        truncated file: zarr's codecs raise RuntimeError/ValueError, h5py OSError...) raises
        DataContractError naming the array (`description`)."""
        try:
            return np.asarray(self.array[start:stop])
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - every decoder error of a corrupt file
            raise DataContractError(self.description, f"frames {start}:{stop} cannot be read "
                                                      f"(corrupt or truncated file): "
                                                      f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        closer = getattr(self._keepalive, "close", None)
        if callable(closer):
            closer()


class FileSource:
    """A C-ordered array of `shape` and `dtype` stored at byte `offset` of the file at `path`.

    Rows are read with ``os.preadv`` straight into the output buffer (thread-safe: no shared
    file position); the file is opened on first use and kept open (so an atomic replacement of
    the path does not change what this source reads). Pickles as (path, offset, shape, dtype).
    """

    def __init__(self, path, offset: int, shape: tuple, dtype, *, description: str = ""):
        self.path = os.fspath(path)
        self.offset = int(offset)
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.description = description or f"{self.path}@{self.offset}"
        self._row_bytes = self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._finalizer = None

    def __reduce__(self):
        return (FileSource, (self.path, self.offset, self.shape, self.dtype),
                {"description": self.description})

    def __setstate__(self, state):
        self.description = state["description"]

    def _file(self) -> int:
        if self._fd is None:
            with self._lock:
                if self._fd is None:
                    fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                    self._finalizer = weakref.finalize(self, os.close, fd)
                    self._fd = fd
        return self._fd

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((max(0, stop - start),) + self.shape[1:], dtype=self.dtype)
        if out.size == 0:
            return out
        view = memoryview(out.reshape(-1).view(np.uint8))
        pos = self.offset + start * self._row_bytes
        fd = self._file()
        done = 0
        while done < len(view):
            if hasattr(os, "preadv"):
                n = os.preadv(fd, [view[done:]], pos + done)
            else:  # pragma: no cover - platforms without preadv
                with self._lock:
                    os.lseek(fd, pos + done, os.SEEK_SET)
                    n = os.readv(fd, [view[done:]])
            if n == 0:
                raise EOFError(f"{self.description}: file ends {len(view) - done} bytes early")
            done += n
        return out

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._fd = None


class StreamSource:
    """A C-ordered array at `offset` inside a seekable binary stream made by `opener()` (e.g. a
    compressed ZIP member): reads seek and ``readinto`` under a lock. Forward reads are cheap;
    seeking backwards in a compressed stream re-decompresses from its start, so iterate in
    order (as `FrameArray.blocks` does). `on_close` (e.g. the archive's close) runs on close();
    the stream is reopened by the next read only while `opener` still works."""

    def __init__(self, opener: Callable, offset: int, shape: tuple, dtype, *,
                 description: str = "", on_close: Callable | None = None):
        self._opener = opener
        self._on_close = on_close
        self.offset = int(offset)
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.description = description or "stream"
        self._row_bytes = self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))
        self._stream = None
        self._lock = threading.Lock()

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((max(0, stop - start),) + self.shape[1:], dtype=self.dtype)
        if out.size == 0:
            return out
        view = memoryview(out.reshape(-1).view(np.uint8))
        with self._lock:
            if self._stream is None:
                self._stream = self._opener()
            self._stream.seek(self.offset + start * self._row_bytes)
            done = 0
            while done < len(view):
                n = self._stream.readinto(view[done:])
                if not n:
                    raise EOFError(f"{self.description}: stream ends {len(view) - done} "
                                   "bytes early")
                done += n
        return out

    def close(self) -> None:
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
            if self._on_close is not None:
                self._on_close()


# --------------------------------------------------------------------------- the array


class FrameArray:
    """Read-only lazy stack of frames over a source (see the module docstring).

    source: a frame source (``shape``, ``dtype``, ``read(start, stop)``). dtype: the dtype of
    what reads return (default: the source's). transform: ``f(block) -> ndarray`` applied to
    each block read (its result is cast to `dtype`); None casts only.
    """

    __array_priority__ = 10.0

    def __init__(self, source, *, dtype=None, transform: Callable | None = None,
                 description: str = ""):
        self.source = source
        self.shape = tuple(int(d) for d in source.shape)
        self.dtype = np.dtype(source.dtype if dtype is None else dtype)
        self.transform = transform
        self.description = description or getattr(source, "description", "")

    # -------------------------------------------------------------- ndarray-like attributes
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return (f"FrameArray(shape={self.shape}, dtype={self.dtype}, "
                f"source={self.description!r})")

    # -------------------------------------------------------------- reading
    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) (clipped to the array) as a new ndarray of `dtype`."""
        start = max(0, min(int(start), self.shape[0]))
        stop = max(start, min(int(stop), self.shape[0]))
        block = self.source.read(start, stop)
        if self.transform is not None:
            block = self.transform(block)
        return np.asarray(block).astype(self.dtype, copy=False)

    def blocks(self, block_bytes: int = READ_BLOCK_BYTES, *, start: int = 0,
               stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, block) over rows [start, stop), each block about `block_bytes` of
        output (at least one row), in order."""
        stop = self.shape[0] if stop is None else min(int(stop), self.shape[0])
        step = rows_per_block(self.shape, self.dtype.itemsize, block_bytes)
        for lo in range(int(start), stop, step):
            yield lo, self.read(lo, min(lo + step, stop))

    def _rows(self, index: np.ndarray) -> np.ndarray:
        """Rows at integer `index` (any order, repeats allowed), reading sorted runs."""
        M = self.shape[0]
        index = np.asarray(index, dtype=np.int64)
        flat = np.where(index < 0, index + M, index).reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= M):
            bad = index.reshape(-1)[(flat < 0) | (flat >= M)][0]
            raise IndexError(f"index {int(bad)} is out of bounds for axis 0 with size {M}")
        out = np.empty((flat.size,) + self.shape[1:], dtype=self.dtype)
        if flat.size == 0:
            return out.reshape(index.shape + self.shape[1:])
        uniq, inverse = np.unique(flat, return_inverse=True)
        # contiguous runs of the sorted unique rows, each read at once (bounded in size)
        breaks = np.flatnonzero(np.diff(uniq) != 1) + 1
        step = rows_per_block(self.shape, self.dtype.itemsize)
        got = np.empty((uniq.size,) + self.shape[1:], dtype=self.dtype)
        for run in np.split(np.arange(uniq.size), breaks):
            for lo in range(0, run.size, step):
                part = run[lo:lo + step]
                got[part] = self.read(int(uniq[part[0]]), int(uniq[part[-1]]) + 1)
        out[...] = got[inverse]
        return out.reshape(index.shape + self.shape[1:])

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            if not key:
                return np.asarray(self)
            key, rest = key[0], key[1:]
        if key is Ellipsis:
            return np.asarray(self)[(Ellipsis,) + rest]
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key)
            if not -self.shape[0] <= i < self.shape[0]:
                raise IndexError(f"index {i} is out of bounds for axis 0 with size "
                                 f"{self.shape[0]}")
            i %= self.shape[0]
            row = self.read(i, i + 1)[0]
            return row[rest] if rest else row
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step == 1:
                block = self.read(start, stop)
            else:
                block = self._rows(np.arange(start, stop, step))
        elif key is None:
            block = np.asarray(self)[None]
        else:
            index = np.asarray(key)
            if index.dtype == bool:
                if index.shape != self.shape[:index.ndim]:
                    raise IndexError(f"boolean index of shape {index.shape} does not match "
                                     f"the array's shape {self.shape}")
                if index.ndim != 1:
                    return np.asarray(self)[(index,) + rest]
                index = np.flatnonzero(index)
            elif index.dtype.kind not in "iu":
                raise IndexError(f"FrameArray indices must be ints, slices or int/bool arrays, "
                                 f"got {index.dtype}")
            block = self._rows(index)
        return block[(slice(None),) + rest] if rest else block

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError("a FrameArray cannot be viewed as an ndarray without a copy")
        out = np.empty(self.shape, dtype=self.dtype)
        for lo, block in self.blocks():
            out[lo:lo + block.shape[0]] = block
        return out if dtype is None else out.astype(dtype, copy=False)

    def __iter__(self):
        for _, block in self.blocks():
            yield from block

    # -------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Release the source's open file (the array cannot be read afterwards for sources
        that do not reopen)."""
        closer = getattr(self.source, "close", None)
        if callable(closer):
            closer()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
