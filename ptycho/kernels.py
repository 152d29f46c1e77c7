"""Fused single-pass float64 reduction kernels ("lanes" order), numba with a numpy twin.

The fused reducers (ptycho.scaling, parity.telemetry, method "fused") cut a contiguous run of
values into rows of `row` values (row a multiple of LANES) and reduce every row in one fixed
order: value j of a row goes to lane j % LANES, each lane adds its values in increasing j
starting from 0.0 (float64, one rounding per addition), and the LANES lane sums are folded in
halves, lane[i] += lane[i + h] for h = LANES/2, ..., 1; the row partial is lane[0]. A row
shorter than `row` is the same with zeros after its last value (adding +0.0 is exact).

Two implementations of that order give the same float64 bits:
- numba (`@njit(cache=True, nogil=True)`), one pass over the source array: it reads float32
  (or float64) values, widens each once and feeds the lanes; the j loop over LANES is what
  LLVM vectorizes (each SIMD slot is one lane, so vectorizing changes no rounding; no
  fast-math, no FMA contraction: the float32 square is exact in float64 anyway);
- numpy (fallback, and every short row / odd geometry / other dtype): a float64 copy of one
  chunk shaped (rows, row/LANES, LANES), `np.add.reduce(axis=1, initial=0.0)` (a reduction
  over a non-innermost axis adds slice by slice, in index order) and the same fold.
Numba is imported and the kernels are compiled on first use only (callers use them only for
large inputs), so importing this module costs nothing. `USE_NUMBA = False` forces numpy.
"""
from __future__ import annotations

import numpy as np

#: lane count of the fused order (a power of two dividing ROW_ELEMENTS): 128 float64 lane sums
#: stay in L1 and give numpy's reduction inner loops of 128 values
LANES = 128
#: source dtypes the numba kernels read directly (others are widened by numpy first)
NUMBA_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
#: set to False to use the numpy implementation even when numba is installed
USE_NUMBA = True

_NUMBA: dict | None = None  # {"sumsq": fn, "stats": fn} once compiled; {} when unavailable


# ----------------------------------------------------------------------------- numpy order
def fold_lanes(lanes: np.ndarray) -> np.ndarray:
    """(..., LANES) lane sums -> (...,) row partials: lane[i] += lane[i + h], h = LANES/2..1."""
    h = lanes.shape[-1] // 2
    while h >= 1:
        lanes = lanes[..., :h] + lanes[..., h:2 * h]
        h //= 2
    return lanes[..., 0]


def _as_lane_rows(a: np.ndarray, row: int) -> np.ndarray:
    """1-D float64 `a` as (rows, groups, LANES), zero-padded: rows of `row` values (the last
    may be short), each padded to a whole number of lane groups. A view when no padding."""
    rows = -(-a.size // row)
    width = -(-row // LANES) * LANES
    if width == row and rows * row == a.size:
        return a.reshape(rows, row // LANES, LANES)
    out = np.zeros((rows, width), dtype=np.float64)
    full = a.size // row
    out[:full, :row] = a[:full * row].reshape(full, row)
    if full < rows:
        out[full, :a.size - full * row] = a[full * row:]
    return out.reshape(rows, width // LANES, LANES)


def lane_sums(a: np.ndarray, row: int, square: bool) -> np.ndarray:
    """Row partials in the fused order of 1-D float64 `a` (x**2 when `square`, else x);
    one per `row` values (the last row may be short). numpy only (any size, any row)."""
    if a.size == 0:
        return np.zeros(0)
    v = _as_lane_rows(a, row)
    if square:
        v = np.multiply(v, v)
    return fold_lanes(np.add.reduce(v, axis=1, initial=0.0))


def _np_sumsq_rows(x3: np.ndarray, out: np.ndarray, buf: np.ndarray | None) -> None:
    """out[r] = fused-order sum of squares of x3[r] ((rows, groups, LANES), any real dtype),
    one float64 chunk at a time (`buf`: float64 scratch of at most that many values)."""
    per = max(1, (buf.size if buf is not None else x3[0].size) // max(1, x3[0].size))
    for r0 in range(0, x3.shape[0], per):
        src = x3[r0:r0 + per]
        if buf is None or src.dtype == np.float64:
            v = np.multiply(src, src, dtype=np.float64)
        else:
            v = buf[:src.size].reshape(src.shape)
            np.copyto(v, src, casting="unsafe")
            np.multiply(v, v, out=v)
        out[r0:r0 + src.shape[0]] = fold_lanes(np.add.reduce(v, axis=1, initial=0.0))


def _np_stats_chunks(x4: np.ndarray, q: np.ndarray, s: np.ndarray, lo: np.ndarray,
                     hi: np.ndarray, buf: np.ndarray) -> None:
    """Per chunk c of x4 ((chunks, rows, groups, LANES)): q[c, r] / s[c, r] fused-order row
    sums of x**2 / x, lo[c] / hi[c] min / max (NaN/Inf are not looked for: they make q
    non-finite and the caller redoes that chunk). buf: float64 scratch of one chunk."""
    for c in range(x4.shape[0]):
        v = buf[:x4[c].size].reshape(x4[c].shape)
        np.copyto(v, x4[c], casting="unsafe")
        lo[c] = v.min()
        hi[c] = v.max()
        s[c] = fold_lanes(np.add.reduce(v, axis=1, initial=0.0))
        np.multiply(v, v, out=v)
        q[c] = fold_lanes(np.add.reduce(v, axis=1, initial=0.0))


# ----------------------------------------------------------------------------- numba
# Plain Python functions (also the slow reference of the order in tests), compiled by
# numba_kernels(); module level so numba can cache them on disk.
def lane_sumsq_rows(x3, out):
    """out[r] = fused-order sum of x3[r]**2, x3 (rows, groups, lanes) (numba source)."""
    lanes = x3.shape[2]
    acc = np.zeros(lanes)
    for r in range(x3.shape[0]):
        acc[:] = 0.0
        for g in range(x3.shape[1]):
            for j in range(lanes):
                v = np.float64(x3[r, g, j])
                acc[j] += v * v
        h = lanes // 2
        while h >= 1:
            for j in range(h):
                acc[j] += acc[j + h]
            h //= 2
        out[r] = acc[0]


def lane_stats_chunks(x4, q, s, lo, hi):
    """Fused pass over x4 (chunks, rows, groups, lanes): q/s fused-order row sums of x**2 / x,
    lo/hi chunk min/max (numba source)."""
    lanes = x4.shape[3]
    aq = np.zeros(lanes)
    asum = np.zeros(lanes)
    amin = np.empty(lanes, x4.dtype)  # min/max on the source dtype (exact, any order)
    amax = np.empty(lanes, x4.dtype)
    for c in range(x4.shape[0]):
        amin[:] = x4[c, 0, 0, :]
        amax[:] = x4[c, 0, 0, :]
        for r in range(x4.shape[1]):
            aq[:] = 0.0
            asum[:] = 0.0
            for g in range(x4.shape[2]):
                for j in range(lanes):
                    w = x4[c, r, g, j]
                    v = np.float64(w)
                    aq[j] += v * v
                    asum[j] += v
                    amin[j] = min(amin[j], w)
                    amax[j] = max(amax[j], w)
            h = lanes // 2
            while h >= 1:
                for j in range(h):
                    aq[j] += aq[j + h]
                    asum[j] += asum[j + h]
                h //= 2
            q[c, r] = aq[0]
            s[c, r] = asum[0]
        lo[c] = amin.min()
        hi[c] = amax.max()


def _compile() -> dict:
    """The numba kernels (compiled lazily, cached on disk); {} when numba is unavailable."""
    try:
        from numba import njit
    except ImportError:  # pragma: no cover - numba is an optional speed-up
        return {}
    opts = dict(cache=True, nogil=True)
    return {"sumsq": njit(**opts)(lane_sumsq_rows), "stats": njit(**opts)(lane_stats_chunks)}


def numba_kernels() -> dict:
    """{'sumsq', 'stats'} numba kernels, compiled (or loaded from the cache) on first call;
    {} when numba is not installed or USE_NUMBA is False."""
    global _NUMBA
    if not USE_NUMBA:
        return {}
    if _NUMBA is None:
        _NUMBA = _compile()
    return _NUMBA


def numba_available() -> bool:
    """True when the fused reducers run on numba (installed and USE_NUMBA)."""
    if not USE_NUMBA:
        return False
    if _NUMBA is not None:
        return bool(_NUMBA)
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def _numba_ok(x: np.ndarray) -> bool:
    return x.dtype in NUMBA_DTYPES and x.dtype.isnative and x.flags.c_contiguous


# ----------------------------------------------------------------------------- dispatch
def sumsq_rows(x3: np.ndarray, out: np.ndarray, buf: np.ndarray | None = None) -> None:
    """out[r] = fused-order sum of x3[r]**2 for a C-contiguous (rows, groups, LANES) array of
    any real dtype (numba for float32/float64, else numpy with the float64 scratch `buf`)."""
    kernels = numba_kernels() if _numba_ok(x3) else {}
    if kernels:
        kernels["sumsq"](x3, out)
    else:
        _np_sumsq_rows(x3, out, buf)


def stats_chunks(x4: np.ndarray, q: np.ndarray, s: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 buf: np.ndarray) -> None:
    """Fused pass over (chunks, rows, groups, LANES) x4: q/s (chunks, rows) row sums of x**2
    and x in the fused order, lo/hi (chunks,) min/max (see _np_stats_chunks)."""
    kernels = numba_kernels() if _numba_ok(x4) else {}
    if kernels:
        kernels["stats"](x4, q, s, lo, hi)
    else:
        _np_stats_chunks(x4, q, s, lo, hi, buf)
