"""JSON-safe stage telemetry: array statistics (streamed, float64) and the ordered record.

The record contract (schema, stages, validation) is `parity.records`; `Recorder` builds one.

`array_stats` makes one fused pass over L2-sized chunks of the array in C order (min/max on
the source dtype, float64 sum and sum of squares per row; never a float64 copy of the whole
array), in parallel stripes of chunks like `ptycho.scaling.mean_pattern_energy` (both use
`ptycho.reducers`). Method "blas" (arrays below ptycho.reducers.FUSED_MIN_ELEMENTS values): row
dot products in a reused float64 buffer; "fused" (larger arrays): the numba kernel of
`ptycho.kernels` (or its numpy twin, same bits). Chunks are counted from the start of the
array and combined in a fixed order (`math.fsum`, parallel-variance merge), so the statistics
are bit-identical for any thread count, memory layout and dask chunking or scheduler. Complex
arrays are summarized by their modulus |x|. Statistics are taken over the finite entries;
`nan`/`inf` count the others (looked for only in chunks whose sum of squares is not finite).
"""
from __future__ import annotations

import functools
import itertools
import math
from typing import Any, Mapping

import numpy as np

from ptycho import kernels, reducers

from .records import STAGES, TELEMETRY_SCHEMA, RecordError

#: values reduced per chunk: a float64 working set that stays in L2 (ptycho.reducers', 512 KiB)
CHUNK_ELEMENTS = reducers.CHUNK_ELEMENTS
#: a chunk whose M2 = sum x**2 - mean * sum x is below sum x**2 / CANCEL_RATIO (few digits left
#: after the cancellation) gets M2 from a second pass over that chunk, sum (x - mean)**2
CANCEL_RATIO = 2.0 ** 10

STAT_KEYS = ("shape", "dtype", "min", "max", "mean", "std", "sum_sq", "mean_sum_xy_sq",
             "nan", "inf")


def _row_dots(a: np.ndarray, b: np.ndarray, row: int, out: np.ndarray) -> None:
    """out[i] = a_i . b_i over consecutive `row`-long pieces of 1-D float64 `a` (the last one
    may be shorter); `b` is `a` itself or a ones vector of length `row` (-> row sums).

    Rows keep each BLAS call small, so it stays single-threaded; len(out) = ceil(a.size / row).
    """
    full = a.size // row
    if full:
        rows = a[:full * row].reshape(full, row)
        np.vecdot(rows, rows if b is a else b, out=out[:full])
    rest = a.size - full * row
    if rest:
        tail = a[full * row:]
        out[full] = np.dot(tail, tail if b is a else b[:rest])


class _Partials:
    """Per-chunk results of one contiguous 1-D segment, written by chunk index (any thread).

    q, s: (chunks, rows) float64 row partials of sum x**2 and sum x (unused rows stay 0);
    lo, hi: chunk min/max; n, nan, inf: finite, NaN and +-Inf counts per chunk.
    """

    def __init__(self, size: int, chunk: int, row: int):
        self.size, self.chunk, self.row = size, chunk, row
        n_chunks = -(-size // chunk)
        self.q = np.zeros((n_chunks, chunk // row))
        self.s = np.zeros((n_chunks, chunk // row))
        self.lo = np.empty(n_chunks)
        self.hi = np.empty(n_chunks)
        self.n = np.full(n_chunks, chunk, dtype=np.int64)
        if n_chunks:
            self.n[-1] = size - (n_chunks - 1) * chunk
        self.nan = np.zeros(n_chunks, dtype=np.int64)
        self.inf = np.zeros(n_chunks, dtype=np.int64)

    @property
    def chunks(self) -> int:
        return self.lo.size

    def span(self, k: int) -> slice:
        return slice(k * self.chunk, min(self.size, (k + 1) * self.chunk))


def _fused_pass(flat: np.ndarray, p: _Partials, k_lo: int, k_hi: int) -> None:
    """One pass over chunks [k_lo, k_hi) of the 1-D contiguous `flat` (|flat| when complex).

    Per chunk: one cast into a reused float64 buffer (none for float64 input), min and max on
    the source dtype, then row dots for sum x**2 and sum x. Non-finite values are not looked for
    here: they make the chunk's sum x**2 non-finite, and `_fix_nonfinite` redoes that chunk.
    """
    row = p.row
    complex_in = np.iscomplexobj(flat)
    real_dtype = flat.real.dtype if complex_in else flat.dtype
    abs_buf = np.empty(p.chunk, dtype=real_dtype) if complex_in else None
    buf = None if real_dtype == np.float64 else np.empty(p.chunk, dtype=np.float64)
    ones = np.ones(row)
    with np.errstate(all="ignore"):  # NaN/Inf are counted later (errstate is per thread)
        for k in range(k_lo, k_hi):
            src = flat[p.span(k)]
            if abs_buf is not None:
                src = np.abs(src, out=abs_buf[:src.size])
            if buf is None:
                a = src
            else:  # the cast streams the chunk from memory; min/max then read it from cache
                a = buf[:src.size]
                np.copyto(a, src, casting="unsafe")
            p.lo[k] = src.min()
            p.hi[k] = src.max()
            rows = -(-a.size // row)
            _row_dots(a, a, row, p.q[k, :rows])
            _row_dots(a, ones, row, p.s[k, :rows])


def _lane_pass(flat: np.ndarray, p: _Partials, k_lo: int, k_hi: int) -> None:
    """`_fused_pass` in the fused order (method "fused"): whole chunks of a real float32 /
    float64 `flat` go through the numba kernel reading the source dtype, anything else (the
    short last chunk, |x| of complex chunks, other dtypes, rows that are no whole number of
    lanes) through the numpy implementation of the same order (ptycho.kernels)."""
    row, chunk, lanes = p.row, p.chunk, kernels.LANES
    buf = np.empty(chunk, dtype=np.float64)
    with np.errstate(all="ignore"):
        k = k_lo
        if not np.iscomplexobj(flat) and row % lanes == 0:
            full = min(k_hi, flat.size // chunk)
            if full > k:
                x4 = flat[k * chunk:full * chunk].reshape(full - k, chunk // row, row // lanes, lanes)
                kernels.stats_chunks(x4, p.q[k:full], p.s[k:full], p.lo[k:full], p.hi[k:full],
                                     buf)
                k = full
        for k in range(k, k_hi):
            src = flat[p.span(k)]
            if np.iscomplexobj(src):
                src = np.abs(src)
            a = buf[:src.size]
            np.copyto(a, src, casting="unsafe")
            p.lo[k] = src.min()
            p.hi[k] = src.max()
            rows = -(-a.size // row)
            p.q[k, :rows] = kernels.lane_sums(a, row, square=True)
            p.s[k, :rows] = kernels.lane_sums(a, row, square=False)


def _row_partials(a: np.ndarray, row: int, method: str, square: bool) -> np.ndarray:
    """Row partials of float64 `a` (x**2 when square, else x) in the order of `method`."""
    if method == "fused":
        return kernels.lane_sums(a, row, square)
    out = np.zeros(-(-a.size // row))
    _row_dots(a, a if square else np.ones(row), row, out)
    return out


def _chunk_values(flat: np.ndarray, p: _Partials, k: int) -> tuple[np.ndarray, int, int]:
    """(finite values as float64 (|x| for complex), NaN count, +-Inf count) of chunk k."""
    src = flat[p.span(k)]
    a = (np.abs(src) if np.iscomplexobj(src) else src).astype(np.float64)
    finite = np.isfinite(a)
    if finite.all():
        return a, 0, 0
    n_nan = int(np.count_nonzero(np.isnan(a)))
    return a[finite], n_nan, int(a.size - np.count_nonzero(finite) - n_nan)


def _fix_nonfinite(flat: np.ndarray, p: _Partials, method: str = "blas") -> None:
    """Redo the chunks whose sum x**2 is not finite: count NaN/Inf, reduce the finite rest."""
    for k in np.flatnonzero(~np.isfinite(p.q.sum(axis=1))):
        a, p.nan[k], p.inf[k] = _chunk_values(flat, p, k)
        p.n[k] = a.size
        p.q[k] = p.s[k] = 0.0
        if a.size:
            rows = -(-a.size // p.row)
            p.q[k, :rows] = _row_partials(a, p.row, method, square=True)
            p.s[k, :rows] = _row_partials(a, p.row, method, square=False)
            p.lo[k], p.hi[k] = a.min(), a.max()


def _chunk_moments(flat: np.ndarray, p: _Partials,
                   method: str = "blas") -> tuple[np.ndarray, np.ndarray]:
    """(mean, M2 = sum (x - mean)**2) per chunk, from the row partials.

    M2 = sum x**2 - mean * sum x loses digits when the spread is small against the mean; a chunk
    where M2 < sum x**2 / CANCEL_RATIO is redone with a second pass over its values.
    """
    q, s, n = p.q.sum(axis=1), p.s.sum(axis=1), p.n
    with np.errstate(all="ignore"):  # empty or overflowing chunks give nan/inf, excluded later
        mean = s / n
        m2 = q - s * mean
    for k in np.flatnonzero((n > 0) & (m2 * CANCEL_RATIO < q)):
        a = _chunk_values(flat, p, k)[0] - mean[k]
        m2[k] = math.fsum(_row_partials(a, p.row, method, square=True).tolist())
    return mean, m2


def _image_size(shape: tuple[int, ...], image_axes: tuple[int, ...] | None) -> int:
    if image_axes is None:
        image_axes = (1, 2) if len(shape) >= 3 else tuple(range(len(shape)))
    return int(np.prod([shape[a] for a in image_axes], dtype=np.int64)) if shape else 1


def _segment_stats(flat: np.ndarray, chunk: int, row: int, threads: int,
                   method: str) -> tuple[_Partials, np.ndarray, np.ndarray]:
    """(partials, chunk means, chunk M2) of a grid-aligned 1-D contiguous segment."""
    p = _Partials(flat.size, chunk, row)
    kernel = _lane_pass if method == "fused" else _fused_pass
    reducers.run_striped(p.chunks, functools.partial(kernel, flat, p), threads)
    _fix_nonfinite(flat, p, method)
    return (p, *_chunk_moments(flat, p, method))


def _dask_segment_stats(chunk: int, row: int, method: str, block: np.ndarray):
    """_segment_stats of one grid-aligned block of a flattened dask array (runs in a task)."""
    return _segment_stats(np.ascontiguousarray(block).reshape(-1), chunk, row, 1, method)


def array_stats(x, *, image_axes: tuple[int, ...] | None = None,
                threads: int | None = None, method: str = "auto") -> dict[str, Any]:
    """Ordered statistics of an array (STAT_KEYS).

    x: ndarray or memmap, real or complex (complex -> statistics of |x|), or a dask array
    (computed on the active dask scheduler: threads, or the dask.distributed client when one
    exists). image_axes: the xy axes of one pattern (default (1, 2) for rank >= 3, e.g.
    (B, N, N, C) or (M, N, N); all axes otherwise). sum_sq = sum |x|^2; mean_sum_xy_sq =
    sum_sq / number of patterns (every index of the other axes is a pattern), the per-pattern
    energy E of docs/design.md §4 (for a float32 array bit-identical to
    ptycho.scaling.mean_pattern_energy). min/max/mean/std over the finite values; nan/inf
    count the others.

    One fused pass per chunk of CHUNK_ELEMENTS values of the array in C order (float64
    accumulation, never a float64 copy of the array; extra memory about one float64 chunk per
    thread). The chunks are counted from the start of the array, so the result depends on the
    values only: bit-identical for every thread count, memory layout, dask chunking and
    scheduler. threads: None -> ptycho.reducers.DEFAULT_THREADS. method: "auto" ("blas" below
    ptycho.reducers.FUSED_MIN_ELEMENTS values, "fused" from there), "blas" or "fused".
    """
    dask_in = reducers.is_dask_array(x)
    if not dask_in:
        x = np.asarray(x)
    shape = tuple(int(n) for n in x.shape)
    dtype = np.dtype(x.dtype)
    n_total = int(np.prod(shape, dtype=np.int64)) if shape else 1
    threads = reducers.DEFAULT_THREADS if threads is None else int(threads)
    chunk, row = reducers.chunk_geometry(CHUNK_ELEMENTS)
    chosen = reducers.choose_method(n_total, method)
    if dask_in:
        parts = [pt for pt in reducers.dask_segments(
            x, chunk, functools.partial(_dask_segment_stats, chunk, row, chosen)) if pt[0].chunks]
    else:
        aligner = reducers.GridAligner(chunk)
        if x.ndim == 0 or x.flags.c_contiguous:
            segments = aligner.feed(x.reshape(-1), last=True)
        else:
            segments = itertools.chain.from_iterable(
                aligner.feed(piece) for piece in reducers.c_order_pieces(x, reducers.BLOCK_BYTES))
        parts = [_segment_stats(seg, chunk, row, threads, chosen)
                 for seg in itertools.chain(segments, aligner.finish())]
    n = np.concatenate([p.n for p, _, _ in parts]) if parts else np.zeros(0, np.int64)
    used = n > 0
    count = int(n.sum())
    sum_sq = math.fsum(np.concatenate([p.q.ravel() for p, _, _ in parts]).tolist()) if parts else 0.0
    if count == 0:
        lo = hi = mean_v = std_v = math.nan
    else:
        lo = float(np.concatenate([p.lo for p, _, _ in parts])[used].min())
        hi = float(np.concatenate([p.hi for p, _, _ in parts])[used].max())
        mean_v = math.fsum(np.concatenate([p.s.ravel() for p, _, _ in parts]).tolist()) / count
        means = np.concatenate([m for _, m, _ in parts])[used]
        m2 = np.concatenate([m for _, _, m in parts])[used]
        # parallel-variance merge of the chunks: sum of M2_k + n_k (mean_k - mean)**2
        m2_total = math.fsum(m2.tolist()) + math.fsum((n[used] * (means - mean_v) ** 2).tolist())
        std_v = math.sqrt(max(m2_total / count, 0.0))
    n_patterns = n_total // max(1, _image_size(shape, image_axes)) if n_total else 0
    return {
        "shape": list(shape),
        "dtype": str(dtype),
        "min": lo,
        "max": hi,
        "mean": mean_v,
        "std": std_v,
        "sum_sq": sum_sq,
        "mean_sum_xy_sq": sum_sq / n_patterns if n_patterns else math.nan,
        "nan": int(sum(int(p.nan.sum()) for p, _, _ in parts)),
        "inf": int(sum(int(p.inf.sum()) for p, _, _ in parts)),
    }


def prefixed(prefix: str, stats: Mapping[str, Any]) -> dict[str, Any]:
    """{f'{prefix}.{k}': v} in the order of `stats`."""
    return {f"{prefix}.{k}": v for k, v in stats.items()}


def json_scalar(value: Any) -> Any:
    """A Python scalar (int/float/bool/str/None) or list for a numpy value; else unchanged."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return [json_scalar(v) for v in value]
    if isinstance(value, list):
        return [json_scalar(v) for v in value]
    return value


class Recorder:
    """Collects one replay's telemetry in stage order.

    `record(stage, values)` appends `{stage}.{key}` entries; stages must come in STAGES order
    and each at most once (a stage recorded twice or out of order raises RecordError).
    """

    def __init__(self, meta: Mapping[str, Any]):
        missing = [k for k in ("scenario", "profile", "tier", "seed") if k not in meta]
        if missing:
            raise RecordError("meta", f"missing keys {missing}")
        self.meta = dict(meta)
        self.values: dict[str, Any] = {}
        self.stages: list[str] = []
        #: what reports show beside the telemetry and goldens never hold (wall times, images)
        self.artifacts: dict[str, Any] = {}

    def record(self, stage: str, values: Mapping[str, Any]) -> None:
        if stage not in STAGES:
            raise RecordError(stage, f"unknown stage (known: {list(STAGES)})")
        if self.stages and STAGES.index(stage) <= STAGES.index(self.stages[-1]):
            raise RecordError(stage, f"recorded after {self.stages[-1]!r} (order: {list(STAGES)})")
        self.stages.append(stage)
        for key, value in values.items():
            self.values[f"{stage}.{key}"] = json_scalar(value)

    def to_dict(self) -> dict[str, Any]:
        """The telemetry record (schema, meta, values); a fresh dict."""
        return {"schema": TELEMETRY_SCHEMA, "meta": dict(self.meta), "values": dict(self.values)}
