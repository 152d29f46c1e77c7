"""Building blocks of the streaming float64 reducers (ptycho.scaling, parity.telemetry).

Mechanisms shared so both reducers give the same bits for any thread count, any chunking of
the input (pieces of an iterable, blocks of a non-contiguous array, chunks of a dask array)
and any scheduler:

- `run_striped(n_chunks, kernel, threads)`: calls `kernel(lo, hi)` over contiguous stripes of
  the chunk indices [0, n_chunks), one stripe per thread (numpy and the numba kernels release
  the GIL). Each kernel call must write only the outputs of its own chunks, so the result
  never depends on the thread count; an exception in any stripe is re-raised in the caller.
- `c_order_pieces(x, block_bytes)`: x as 1-D C-contiguous pieces in C (row-major) order, each
  value once: a single view when x is C-contiguous, else copies of at most about
  `block_bytes`.
- `GridAligner(grid)`: re-cuts a stream of pieces into segments that start at multiples of
  `grid` values of the whole stream (one copied carry of < grid values at piece seams). A
  reducer's partials are per grid chunk (and per row inside it), so they depend only on the
  values of the flattened array, never on where the pieces were cut.
- `dask_segments(x, grid, fn)`: the same on a dask array: flattened in C order, rechunked to
  blocks of whole grid chunks, `fn(block)` computed on the active dask scheduler (threads, or
  the dask.distributed client when one exists), the block results returned in order.
- `choose_method(n, method)`: "blas" (row dot products, BLAS order; the committed goldens are
  pinned to it) below FUSED_MIN_ELEMENTS values, "fused" (ptycho.kernels' lane order, numba
  with a bit-identical numpy fallback) from there on; the choice depends on the number of
  values only, so every input kind holding the same values takes the same path.
"""
from __future__ import annotations

import os
import threading
from typing import Callable, Iterator

import numpy as np

from .errors import ConfigError

#: values converted to float64 per chunk (512 KiB float64 buffer; stays in L2 cache)
CHUNK_ELEMENTS = 65536
#: length of one row dot product inside a chunk (small enough that BLAS stays single-threaded)
ROW_ELEMENTS = 8192
#: threads used for large arrays (numpy releases the GIL in the cast and the dot)
DEFAULT_THREADS = max(1, min(4, os.cpu_count() or 1))
#: a thread is only started for at least this many chunks (2 MiB of float32 at the default size)
MIN_CHUNKS_PER_THREAD = 8
#: largest source-dtype block copied when a non-contiguous array has to be made contiguous
BLOCK_BYTES = 4 * 1024 * 1024
#: arrays of at least this many values use the fused kernels (method "auto"); smaller ones the
#: BLAS row dots. Below it the numba JIT is never touched (no compile cost for small inputs).
FUSED_MIN_ELEMENTS = 1 << 23
#: reducer methods: "auto" picks "blas" or "fused" by size (choose_method)
METHODS = ("auto", "blas", "fused")
#: source bytes per dask task when a dask array is reduced (whole grid chunks per block)
DASK_BLOCK_BYTES = 64 * 1024 * 1024


def chunk_geometry(chunk_elements: int) -> tuple[int, int]:
    """(chunk, row): values per chunk, rounded down to whole rows of row = min(ROW_ELEMENTS,
    chunk_elements) values (chunk_elements < 1 counts as 1)."""
    chunk = max(1, int(chunk_elements))
    row = min(ROW_ELEMENTS, chunk)
    return (chunk // row) * row, row


def run_striped(n_chunks: int, kernel: Callable[[int, int], None], threads: int,
                min_chunks_per_thread: int = MIN_CHUNKS_PER_THREAD) -> None:
    """Run kernel(lo, hi) over [0, n_chunks) split into contiguous stripes, in parallel threads.

    Uses max(1, min(threads, n_chunks // min_chunks_per_thread)) stripes (bounds from
    np.linspace); the calling thread runs the first one. `kernel` must write disjoint outputs
    per chunk. The first exception raised by any stripe is re-raised after all threads end.
    """
    threads = max(1, min(int(threads), n_chunks // max(1, min_chunks_per_thread)))
    if threads == 1:
        kernel(0, n_chunks)
        return
    bounds = np.linspace(0, n_chunks, threads + 1).astype(int)
    errors: list[BaseException] = []

    def work(lo, hi):
        try:
            kernel(lo, hi)
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(bounds[i], bounds[i + 1]))
               for i in range(1, threads)]
    for w in workers:
        w.start()
    work(bounds[0], bounds[1])
    for w in workers:
        w.join()
    if errors:
        raise errors[0]


def c_order_pieces(x: np.ndarray, block_bytes: int = BLOCK_BYTES) -> Iterator[np.ndarray]:
    """x as 1-D C-contiguous arrays covering every value once in C (row-major) order: one view
    when x is C-contiguous, else copies of blocks along the leading axis of at most
    `block_bytes` (an F-contiguous array is read in C order too, blockwise)."""
    if x.flags.c_contiguous:
        yield x.reshape(-1)
        return
    if x.ndim <= 1:
        step = max(1, block_bytes // x.itemsize)
        for start in range(0, x.size, step):
            yield np.ascontiguousarray(x[start:start + step])
        return
    per_item = int(np.prod(x.shape[1:], dtype=np.int64)) * x.itemsize
    if per_item > block_bytes:
        for i in range(x.shape[0]):
            yield from c_order_pieces(x[i], block_bytes)
        return
    step = max(1, block_bytes // max(per_item, 1))
    for start in range(0, x.shape[0], step):
        yield np.ascontiguousarray(x[start:start + step]).reshape(-1)


class GridAligner:
    """Cuts a stream of 1-D pieces into contiguous segments aligned to a grid.

    Every yielded segment starts at a multiple of `grid` values of the concatenated stream and
    all but the last hold a multiple of `grid` values. Values of a grid cell split over
    pieces are copied into one carry buffer (< grid values; float64 when the pieces' dtypes
    differ, an exact widening for every real dtype the reducers take); aligned runs inside a
    piece are yielded as views. A segment may be the carry buffer itself: use it before
    asking for the next one. `feed(piece, last=True)` with an empty carry yields the rest of
    the piece whole (so a single contiguous array is one segment, no copy).
    """

    def __init__(self, grid: int):
        self.grid = max(1, int(grid))
        self._carry: np.ndarray | None = None
        self._filled = 0
        self.size = 0

    def feed(self, piece: np.ndarray, last: bool = False) -> Iterator[np.ndarray]:
        piece = piece.reshape(-1)
        self.size += piece.size
        i = 0
        if self._filled:
            take = min(self.grid - self._filled, piece.size)
            carry = self._carry
            if carry.dtype != piece.dtype:
                wide = np.complex128 if "c" in (carry.dtype.kind, piece.dtype.kind) else np.float64
                if carry.dtype != wide:
                    carry = self._carry = carry.astype(wide)
            carry[self._filled:self._filled + take] = piece[:take]
            self._filled += take
            i = take
            if self._filled == self.grid:
                self._filled = 0
                yield carry
        if last and not self._filled:
            if i < piece.size:
                yield piece[i:]
            return
        n_mid = (piece.size - i) // self.grid * self.grid
        if n_mid:
            yield piece[i:i + n_mid]
        rest = piece[i + n_mid:]
        if rest.size:
            if self._carry is None or self._carry.dtype != rest.dtype:
                self._carry = np.empty(self.grid, dtype=rest.dtype)
            self._carry[:rest.size] = rest
            self._filled = rest.size
        if last:
            yield from self.finish()

    def finish(self) -> Iterator[np.ndarray]:
        """The last, partial segment (values fed since the last grid boundary), if any."""
        if self._filled:
            n, self._filled = self._filled, 0
            yield self._carry[:n]


def choose_method(n_values: int, method: str | None = "auto") -> str:
    """'blas' or 'fused' for a reduction over n_values values (see the module docstring)."""
    method = "auto" if method is None else method
    if method not in METHODS:
        raise ConfigError("method", f"must be one of {METHODS}, got {method!r}")
    if method != "auto":
        return method
    return "fused" if n_values >= FUSED_MIN_ELEMENTS else "blas"


def is_dask_array(x) -> bool:
    """True for a dask.array.Array (checked without importing dask)."""
    return type(x).__module__.split(".")[0] == "dask" and hasattr(x, "chunks") and hasattr(x, "dask")


def dask_segments(x, grid: int, fn: Callable[[np.ndarray], object],
                  block_bytes: int = DASK_BLOCK_BYTES) -> list:
    """[fn(block) for each block] of dask array x flattened in C order and rechunked to blocks
    of whole `grid` chunks (about `block_bytes` each; the last block may be partial), computed
    on the active dask scheduler; results in block order. fn must be picklable for a
    distributed cluster (a module-level function or a functools.partial of one)."""
    import dask

    flat = x.reshape(-1) if x.ndim != 1 else x
    n = int(flat.shape[0])
    if n == 0:
        return []
    grid = max(1, int(grid))
    step = max(grid, (max(1, block_bytes // max(1, x.dtype.itemsize)) // grid) * grid)
    chunks = (step,) * (n // step) + ((n % step,) if n % step else ())
    if tuple(flat.chunks[0]) != chunks:
        flat = flat.rechunk((chunks,))
    parts = [dask.delayed(fn, pure=True)(b) for b in flat.to_delayed().ravel()]
    return list(dask.compute(*parts))
