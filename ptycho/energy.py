"""The mean pattern energy E = mean over patterns (b AND c) of sum_xy X_raw**2 (docs/design.md §4),
streamed in float64 over arrays, memmaps, dask arrays, array-likes and iterables of chunks.

The reducer never makes a float64 copy of the whole array: it converts bounded chunks
(CHUNK_ELEMENTS values) into a reusable float64 buffer (one per thread) and reduces each with
row dot products (float32 squares are exact in float64); row partials are combined with
`math.fsum`, so the result does not depend on the order in which chunks are visited or on the
number of threads.
"""
from __future__ import annotations

import functools
import itertools
import math
import numbers

import numpy as np

from . import kernels, reducers
from .errors import ConfigError
from .reducers import (BLOCK_BYTES, CHUNK_ELEMENTS, DEFAULT_THREADS, choose_method, chunk_geometry,
                       run_striped)


def _row_sumsq(rows: np.ndarray, out: np.ndarray) -> None:
    """out[i] = sum_j rows[i, j]**2 for a C-contiguous float64 2-D array (numpy >= 2 vecdot)."""
    np.vecdot(rows, rows, out=out)


def _check_real_dtype(dtype, field: str = "X") -> None:
    if dtype.kind not in "fiu":
        raise ConfigError(field, f"must be real-valued (float or int), got dtype {dtype}")


def _patterns_in(shape: tuple, channel_axis: int, field: str = "X") -> int:
    """Number of N x N patterns in an array of `shape`: B for (B,N,N), B*C for 4-D."""
    if len(shape) == 3:
        return int(shape[0])
    if len(shape) == 4:
        if channel_axis not in (1, 2, 3, -1, -2, -3):
            raise ConfigError("channel_axis",
                              f"must name axis 1..3 of a 4-D array, got {channel_axis}")
        return int(shape[0]) * int(shape[channel_axis])
    raise ConfigError(field, f"must be (b, N, N) or (b, N, N, C), got shape {tuple(shape)}")


def _reduce_chunks(blocks: np.ndarray, out: np.ndarray, lo: int, hi: int) -> None:
    """out[k] = row sums of squares of blocks[k] (k in [lo, hi)), via one float64 buffer."""
    if blocks.dtype == np.float64:
        for k in range(lo, hi):
            _row_sumsq(blocks[k], out[k])
        return
    buf = np.empty(blocks.shape[1:], dtype=np.float64)
    for k in range(lo, hi):
        np.copyto(buf, blocks[k], casting="unsafe")
        _row_sumsq(buf, out[k])


def _fused_rows(x3: np.ndarray, out: np.ndarray, rows_per_chunk: int, lo: int, hi: int) -> None:
    """Fused-order row sums of squares of the rows of chunks [lo, hi) of x3 (rows, groups,
    LANES) into out (one float64 scratch chunk for the numpy implementation)."""
    r0, r1 = lo * rows_per_chunk, min(hi * rows_per_chunk, x3.shape[0])
    buf = None if kernels.numba_available() else np.empty(rows_per_chunk * x3[0].size)
    kernels.sumsq_rows(x3[r0:r1], out[r0:r1], buf)


class _SumSq:
    """Streaming float64 sum of squares with bounded chunk buffers.

    Values are fed as grid-aligned segments (`add_segment`, from reducers.GridAligner or one
    contiguous array): every row of ROW_ELEMENTS values (counted from the start of the whole
    array) gives one float64 partial and `total()` combines all partials with `math.fsum`
    (correctly rounded), so neither the visiting order of chunks, the thread count nor the
    cut of the input into pieces changes the result. method "blas": a row partial is a BLAS
    dot product of the row converted to float64 in a chunk buffer; "fused": the lane order of
    ptycho.kernels (numba reads the source dtype directly). Extra memory: one chunk buffer per
    thread plus 8 bytes per row.
    """

    def __init__(self, chunk_elements: int, threads: int, method: str = "blas"):
        if isinstance(chunk_elements, bool) or not isinstance(chunk_elements, numbers.Integral):
            raise ConfigError("chunk_elements", f"must be an int, got {chunk_elements!r}")
        if chunk_elements < 1:
            raise ConfigError("chunk_elements", f"must be >= 1, got {chunk_elements}")
        if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
            raise ConfigError("threads", f"must be an int >= 1, got {threads!r}")
        self.chunk, self.row = chunk_geometry(chunk_elements)
        self.threads = int(threads)
        self.method = choose_method(0, method)  # "blas" or "fused" (validated)
        self.partials: list[np.ndarray] = []

    def add_segment(self, flat: np.ndarray) -> None:
        """Reduce a 1-D contiguous real array that starts on the chunk grid (any real dtype)."""
        if flat.size == 0:
            return
        (self._add_fused if self.method == "fused" else self._add_blas)(flat)

    def _add_blas(self, flat: np.ndarray) -> None:
        n = flat.size
        chunk, row = self.chunk, self.row
        n_full = n // chunk
        if n_full:
            blocks = flat[: n_full * chunk].reshape(n_full, chunk // row, row)
            out = np.empty((n_full, chunk // row), dtype=np.float64)
            run_striped(n_full, functools.partial(_reduce_chunks, blocks, out), self.threads)
            self.partials.append(out.ravel())
        tail = flat[n_full * chunk :]
        n_rows = tail.size // row
        if n_rows:
            rows = tail[: n_rows * row].reshape(1, n_rows, row)
            out = np.empty((1, n_rows), dtype=np.float64)
            _reduce_chunks(rows, out, 0, 1)
            self.partials.append(out.ravel())
        rest = tail[n_rows * row :]
        if rest.size:
            r = rest.astype(np.float64)  # fewer than ROW_ELEMENTS values
            self.partials.append(np.array([np.dot(r, r)], dtype=np.float64))

    def _add_fused(self, flat: np.ndarray) -> None:
        chunk, row = self.chunk, self.row
        n_rows = flat.size // row
        if n_rows and row % kernels.LANES == 0:
            x3 = flat[: n_rows * row].reshape(n_rows, row // kernels.LANES, kernels.LANES)
            out = np.empty(n_rows, dtype=np.float64)
            per = chunk // row
            run_striped(-(-n_rows // per), functools.partial(_fused_rows, x3, out, per),
                        self.threads)
            self.partials.append(out)
            start = n_rows * row
        else:
            start = 0
        for lo in range(start, flat.size, chunk):  # short rows / odd row sizes: numpy order
            a = flat[lo:lo + chunk].astype(np.float64)
            self.partials.append(kernels.lane_sums(a, row, square=True))

    def total(self) -> float:
        if not self.partials:
            return 0.0
        return math.fsum(np.concatenate(self.partials).tolist())


class _AutoSumSq:
    """Method "auto" for a stream of unknown length: fused partials of everything, and BLAS
    partials while fewer than FUSED_MIN_ELEMENTS values have been seen; `total()` is the one
    choose_method picks for the final length (so it equals the array path bit for bit)."""

    def __init__(self, chunk_elements: int, threads: int):
        self.fused = _SumSq(chunk_elements, threads, "fused")
        self.blas: _SumSq | None = _SumSq(chunk_elements, threads, "blas")
        self.chunk = self.fused.chunk
        self.size = 0

    def add_segment(self, flat: np.ndarray) -> None:
        self.size += flat.size
        self.fused.add_segment(flat)
        if self.blas is not None:
            if self.size >= reducers.FUSED_MIN_ELEMENTS:
                self.blas = None
            else:
                self.blas.add_segment(flat)

    def total(self) -> float:
        if choose_method(self.size) == "blas" and self.blas is not None:
            return self.blas.total()
        return self.fused.total()


def _dask_energy_rows(chunk_elements: int, method: str, block: np.ndarray) -> np.ndarray:
    """Row partials of one grid-aligned block of a flattened dask array (runs in a task)."""
    acc = _SumSq(chunk_elements, 1, method)
    acc.add_segment(np.ascontiguousarray(block).reshape(-1))
    return np.concatenate(acc.partials) if acc.partials else np.zeros(0)


def _sum_of_squares(X, channel_axis: int, chunk_elements: int, threads: int,
                    method: str = "auto") -> tuple[float, int]:
    """(sum of X**2 in float64, number of patterns) for an array, a dask array, an array-like
    or an iterable of chunks; the same bits for every input kind holding the same values."""
    if reducers.is_dask_array(X):
        _check_real_dtype(np.dtype(X.dtype))
        shape = tuple(int(d) for d in X.shape)
        n_patterns = _patterns_in(shape, channel_axis)
        acc = _SumSq(chunk_elements, threads, "blas")  # validates the settings
        chosen = choose_method(int(np.prod(shape, dtype=np.int64)), method)
        parts = reducers.dask_segments(
            X, acc.chunk, functools.partial(_dask_energy_rows, chunk_elements, chosen))
        acc.partials = [p for p in parts if p.size]
        return acc.total(), n_patterns
    if isinstance(X, np.ndarray):  # includes np.memmap
        arr = np.asarray(X)  # plain ndarray view, no copy
        _check_real_dtype(arr.dtype)
        n_patterns = _patterns_in(arr.shape, channel_axis)
        acc = _SumSq(chunk_elements, threads, choose_method(arr.size, method))
        aligner = reducers.GridAligner(acc.chunk)
        if arr.flags.c_contiguous:  # one segment, no copy
            segments = aligner.feed(arr.reshape(-1), last=True)
        else:
            segments = itertools.chain.from_iterable(
                aligner.feed(p) for p in reducers.c_order_pieces(arr, BLOCK_BYTES))
        for seg in itertools.chain(segments, aligner.finish()):
            acc.add_segment(seg)
        return acc.total(), n_patterns
    if hasattr(X, "shape") and hasattr(X, "__getitem__") and not isinstance(X, (list, tuple)):
        # array-like that is not an ndarray (h5py/zarr dataset, tensor): slice it in blocks
        shape = tuple(int(d) for d in X.shape)
        n_patterns = _patterns_in(shape, channel_axis)
        acc = _SumSq(chunk_elements, threads,
                     choose_method(int(np.prod(shape, dtype=np.int64)), method))
        aligner = reducers.GridAligner(acc.chunk)
        per_item = max(1, int(np.prod(shape[1:], dtype=np.int64)) * 8)
        step = max(1, BLOCK_BYTES // per_item)
        for start in range(0, shape[0], step):
            block = np.asarray(X[start : start + step])
            _check_real_dtype(block.dtype)
            for piece in reducers.c_order_pieces(block, BLOCK_BYTES):
                for seg in aligner.feed(piece):
                    acc.add_segment(seg)
        for seg in aligner.finish():
            acc.add_segment(seg)
        return acc.total(), n_patterns
    if X is None or isinstance(X, (str, bytes)) or not hasattr(X, "__iter__"):
        raise ConfigError("X", "must be an ndarray, a memmap, a dask array or an iterable of "
                               f"chunk arrays, got {type(X).__name__}")
    acc = _AutoSumSq(chunk_elements, threads) if method in (None, "auto") else \
        _SumSq(chunk_elements, threads, method)
    aligner = reducers.GridAligner(acc.chunk)
    n_patterns = 0
    image_shape = None
    for i, chunk in enumerate(X):
        arr = np.asarray(chunk)
        field = f"X[{i}]"
        _check_real_dtype(arr.dtype, field)
        n_patterns += _patterns_in(arr.shape, channel_axis, field)
        img = tuple(arr.shape[1:3]) if arr.ndim == 3 or channel_axis in (3, -1) else None
        if img is not None:
            if image_shape is None:
                image_shape = img
            elif img != image_shape:
                raise ConfigError(field,
                                  f"pattern shape {img} differs from earlier chunks {image_shape}")
        for piece in reducers.c_order_pieces(arr, BLOCK_BYTES):
            for seg in aligner.feed(piece):
                acc.add_segment(seg)
    for seg in aligner.finish():
        acc.add_segment(seg)
    return acc.total(), n_patterns


def mean_pattern_energy(
    X, *, channel_axis: int = -1, chunk_elements: int = CHUNK_ELEMENTS, threads: int | None = None,
    method: str = "auto",
) -> float:
    """E = mean over patterns (b and c) of sum_xy X**2, accumulated in float64.

    X: (B, N, N, C) or (B, N, N) real array (float32 amplitude), an `np.memmap`, a
    `dask.array` (computed on the active dask scheduler: threads, or a dask.distributed client
    when one exists), an array-like with shape and slicing (h5py / zarr), or an iterable of
    chunk arrays of those shapes. `channel_axis` names the C axis of 4-D input. The result
    depends only on the values in C order: the same bits for every input kind, chunking,
    scheduler and thread count. Extra memory is one float64 chunk of `chunk_elements` values
    per thread (`threads`: None -> DEFAULT_THREADS). method: "auto" (default: "blas" below
    reducers.FUSED_MIN_ELEMENTS values, "fused" from there), "blas" or "fused" (numba kernels
    of ptycho.kernels; numpy gives the same bits where numba is missing). Returns nan/inf when
    X holds NaN/Inf. Raises ConfigError('X') for no patterns, complex input or a wrong rank.
    """
    threads = DEFAULT_THREADS if threads is None else threads
    total, n_patterns = _sum_of_squares(X, channel_axis, chunk_elements, threads, method)
    if n_patterns == 0:
        raise ConfigError("X", "contains no patterns")
    return total / n_patterns
