"""Building blocks of the streaming float64 reducers (ptycho.scaling, parity.telemetry).

Two mechanisms, shared so both reducers stay bit-identical for any thread count:

- `run_striped(n_chunks, kernel, threads)`: calls `kernel(lo, hi)` over contiguous stripes of
  the chunk indices [0, n_chunks), one stripe per thread (numpy releases the GIL in casts and
  dot products). Each kernel call must write only the outputs of its own chunks, so the result
  never depends on the thread count; an exception in any stripe is re-raised in the caller.
- `contiguous_blocks(x, block_bytes)`: x as 1-D C-contiguous pieces, in order, each value once:
  a single view when x is contiguous, else copies of at most about `block_bytes`.
"""
from __future__ import annotations

import os
import threading
from typing import Callable, Iterator

import numpy as np

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


def contiguous_blocks(x: np.ndarray, block_bytes: int = BLOCK_BYTES) -> Iterator[np.ndarray]:
    """x as 1-D contiguous arrays covering every value once, in C order (memory order for a
    contiguous x): one view when x is C- or F-contiguous, else copies of blocks along the
    leading axis of at most `block_bytes` (at least one value); a single item larger than
    that is split the same way (a view when that item is itself contiguous)."""
    if x.flags.c_contiguous or x.flags.f_contiguous:
        yield x.ravel(order="K")
        return
    if x.ndim <= 1:
        step = max(1, block_bytes // x.itemsize)
        for start in range(0, x.size, step):
            yield np.ascontiguousarray(x[start:start + step])
        return
    per_item = int(np.prod(x.shape[1:], dtype=np.int64)) * x.itemsize
    if per_item > block_bytes:
        for i in range(x.shape[0]):
            yield from contiguous_blocks(x[i], block_bytes)
        return
    step = max(1, block_bytes // max(per_item, 1))
    for start in range(0, x.shape[0], step):
        yield np.ascontiguousarray(x[start:start + step]).ravel()
