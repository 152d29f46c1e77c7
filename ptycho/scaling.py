"""Intensity scale and normalization gain (DESIGN §4): two scalars, kept apart.

E  = mean over patterns (b AND c) of sum_xy X_raw**2         (float64, streamed)
g  = sqrt((N/2)**2 / E)        normalization gain, input conditioning only
s_cf = sqrt(nphotons) / (N/2)  closed-form scale
s  = sqrt(nphotons / E)        dataset-derived scale on RAW data (= g * s_cf)

`s` falls back to `s_cf` exactly when E is unavailable, <= ENERGY_FLOOR or non-finite; the
returned `ScaleResult` says which source was used and why. `ScalePlan` describes how a profile
(legacy / current) uses these scalars for input, labels and output.

The energy reducer never makes a float64 copy of the whole array: it converts bounded chunks
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
from dataclasses import dataclass

import numpy as np

from . import kernels, reducers
from .config import TrainingConfig, is_supported_n
from .errors import ConfigError
from .stats import finite_or_none
# streaming constants live in ptycho.reducers; re-exported here (tests and benchmarks use them)
from .reducers import (BLOCK_BYTES, CHUNK_ELEMENTS, DEFAULT_THREADS,  # noqa: F401
                       MIN_CHUNKS_PER_THREAD, ROW_ELEMENTS, choose_method, chunk_geometry,
                       run_striped)

#: E at or below this (or non-finite) means "no usable energy": dataset_scale falls back to s_cf
ENERGY_FLOOR = 1e-12


def _row_sumsq(rows: np.ndarray, out: np.ndarray) -> None:
    """out[i] = sum_j rows[i, j]**2 for a C-contiguous float64 2-D array (numpy >= 2 vecdot)."""
    np.vecdot(rows, rows, out=out)


# --------------------------------------------------------------------------- validation


def _check_n(N) -> int:
    """N as a Python int; ConfigError('N') unless it is a power of two >= 16."""
    if isinstance(N, bool) or not isinstance(N, numbers.Integral) or not is_supported_n(int(N)):
        raise ConfigError("N", f"must be an int power of two >= 16, got {N!r}")
    return int(N)


def _check_nphotons(nphotons) -> float:
    """nphotons as a float; ConfigError('nphotons') unless finite and > 0."""
    if isinstance(nphotons, bool) or not isinstance(nphotons, numbers.Real):
        raise ConfigError("nphotons", f"must be a number, got {type(nphotons).__name__}")
    value = float(nphotons)
    if not math.isfinite(value) or value <= 0:
        raise ConfigError("nphotons", f"must be finite and > 0, got {nphotons!r}")
    return value


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


# --------------------------------------------------------------------------- streaming reducer


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


# --------------------------------------------------------------------------- scalars


def closed_form_scale(nphotons, N) -> float:
    """s_cf = sqrt(nphotons) / (N/2) (988.2117 for N=64, nphotons=1e9)."""
    return math.sqrt(_check_nphotons(nphotons)) / (_check_n(N) / 2)


def energy_is_usable(energy: float) -> bool:
    """True when E is finite and > ENERGY_FLOOR (otherwise scales fall back to closed form)."""
    return math.isfinite(energy) and energy > ENERGY_FLOOR


def gain_from_energy(energy: float, N) -> float:
    """g = sqrt((N/2)**2 / E); ConfigError('X') when E is not usable (zero/non-finite data)."""
    half = _check_n(N) / 2
    if not energy_is_usable(energy):
        raise ConfigError("X", f"mean pattern energy E={energy!r} is <= {ENERGY_FLOOR} or "
                               "non-finite; cannot normalize")
    return math.sqrt(half * half / energy)


def _rows_per_chunk(shape: tuple, elements: int = 1 << 20) -> int:
    """Leading-axis rows per chunk of about `elements` values (at least 1)."""
    return max(1, elements // max(1, int(np.prod(shape[1:], dtype=np.int64))))


def apply_gain(X, gain: float) -> np.ndarray:
    """float32 gain * X (same shape as X), each product computed in float64 and rounded once;
    chunked over the leading axis, so no float64 copy of X is made. X: real array, e.g.
    (B, N, N, C) float32 amplitudes; gain: dimensionless."""
    X = np.asarray(X)
    out = np.empty(X.shape, dtype=np.float32)
    step = _rows_per_chunk(X.shape)
    for start in range(0, X.shape[0], step):
        out[start:start + step] = X[start:start + step].astype(np.float64) * gain
    return out


def sum_float64(x) -> float:
    """Sum of a real array in float64, chunked over the leading axis (chunk sums added in order)."""
    x = np.asarray(x)
    total = 0.0
    step = _rows_per_chunk(x.shape)
    for start in range(0, x.shape[0], step):
        total += float(np.sum(x[start:start + step], dtype=np.float64))
    return total


def normalization_gain(X, N) -> float:
    """g = sqrt((N/2)**2 / E), so E[sum_xy (g*X)**2] = (N/2)**2; X as for mean_pattern_energy."""
    _check_n(N)
    return gain_from_energy(mean_pattern_energy(X), N)


@dataclass(frozen=True)
class ScaleResult:
    """An intensity scale with its provenance.

    value: the scale (counts**0.5 per amplitude unit). source: 'dataset' or 'closed_form'.
    reason: why this source was used. energy: E of the data it came from (nan if none).
    """

    value: float
    source: str
    reason: str
    energy: float

    def to_dict(self) -> dict:
        """JSON-safe dict (non-finite floats become None)."""
        return {
            "value": finite_or_none(self.value),
            "source": self.source,
            "reason": self.reason,
            "energy": finite_or_none(self.energy),
        }


def scale_from_energy(energy, nphotons, N) -> ScaleResult:
    """s = sqrt(nphotons / E), or s_cf when E is None, <= ENERGY_FLOOR or non-finite."""
    s_cf = closed_form_scale(nphotons, N)
    if energy is None:
        return ScaleResult(s_cf, "closed_form",
                           "no diffraction data: mean pattern energy unavailable", math.nan)
    energy = float(energy)
    if not math.isfinite(energy):
        return ScaleResult(s_cf, "closed_form",
                           f"mean pattern energy E={energy!r} is non-finite (NaN/Inf in data)",
                           energy)
    if energy <= ENERGY_FLOOR:
        return ScaleResult(s_cf, "closed_form",
                           f"mean pattern energy E={energy!r} <= {ENERGY_FLOOR} (zero data)",
                           energy)
    value = math.sqrt(float(nphotons) / energy)
    return ScaleResult(value, "dataset",
                       "s = sqrt(nphotons / E), E = mean pattern energy of the given data", energy)


def dataset_scale(X, nphotons, N) -> ScaleResult:
    """s = sqrt(nphotons / E) on RAW X (B,N,N,C)/(B,N,N)/memmap/iterable; falls back to s_cf.

    X=None means 'no data' (fallback). nphotons <= 0 -> ConfigError('nphotons'); an array whose
    pattern size is not N -> ConfigError('N').
    """
    _check_nphotons(nphotons)
    N = _check_n(N)
    if _is_array(X) and X.ndim in (3, 4) and X.shape[1] != N:
        raise ConfigError("N", f"is {N} but X has patterns of size {X.shape[1]}")
    energy = None if X is None else mean_pattern_energy(X)
    return scale_from_energy(energy, nphotons, N)


def calculate_intensity_scale(container, nphotons) -> ScaleResult:
    """Dataset scale of a PtychoDataContainer from its numpy storage `_X_np` only.

    Never touches the container's tensors. When the container records `feed_gain` != 1 (it
    stores X_fed = feed_gain * X_raw), the raw energy E_fed / feed_gain**2 is used, so the
    scale is always the one of the raw data.
    """
    X = container._X_np
    if not isinstance(X, np.ndarray) or X.ndim != 4:
        raise ConfigError("container._X_np", "must be a (B, N, N, C) numpy array")
    N = X.shape[1]
    _check_nphotons(nphotons)
    energy = mean_pattern_energy(X)
    feed_gain = float(getattr(container, "feed_gain", 1.0))
    result = scale_from_energy(energy / (feed_gain * feed_gain), nphotons, N)
    if feed_gain != 1.0 and result.source == "dataset":
        reason = f"{result.reason}; E = E(stored) / feed_gain**2 with feed_gain={feed_gain!r}"
        result = ScaleResult(result.value, result.source, reason, result.energy)
    return result


# --------------------------------------------------------------------------- profile plan


@dataclass(frozen=True)
class ScalePlan:
    """How a configuration profile uses the scalars (DESIGN §4 table).

    energy: E of X_raw. gain: g (1.0 when E is unusable; see dataset.reason). closed_form: s_cf.
    dataset: ScaleResult on X_raw. data_feed: 'raw' | 'normalized'. feed_gain: X_fed =
    feed_gain * X_raw (1 for raw, g for normalized). external_scale: the scale applied to X_fed
    for labels (amplitude counts**0.5 = external_scale * X_fed); output_scaler: the scale the
    model multiplies its diffracted amplitude by (= external_scale); input_scaler: the model
    divides external_scale * X_fed by it to form the network input (= s_cf).
    """

    nphotons: float
    N: int
    energy: float
    gain: float
    closed_form: float
    dataset: ScaleResult
    data_feed: str
    scale_source: str
    feed_gain: float
    external_scale: float
    output_scaler: float
    input_scaler: float

    @property
    def network_input_gain(self) -> float:
        """Network input / X_raw = external_scale*feed_gain/input_scaler (g in both profiles)."""
        return self.external_scale * self.feed_gain / self.input_scaler

    @property
    def amplitude_ratio(self) -> float:
        """Predicted reconstructed |O| / |O_true| = external_scale*feed_gain/output_scaler.

        1 for the current profile, g for legacy (before any activation-ceiling saturation).
        """
        return self.external_scale * self.feed_gain / self.output_scaler

    @property
    def label_scale(self) -> float:
        """Label amplitude / X_raw = external_scale * feed_gain (labels = (that * X_raw)**2)."""
        return self.external_scale * self.feed_gain

    @property
    def expected_label_counts(self) -> float:
        """Predicted mean photons per pattern in the labels: label_scale**2 * E."""
        return self.label_scale ** 2 * self.energy

    def to_dict(self) -> dict:
        """JSON-safe dict of every field and derived property (non-finite floats -> None)."""
        return {
            "nphotons": finite_or_none(self.nphotons),
            "N": int(self.N),
            "energy": finite_or_none(self.energy),
            "gain": finite_or_none(self.gain),
            "closed_form": finite_or_none(self.closed_form),
            "dataset": self.dataset.to_dict(),
            "data_feed": self.data_feed,
            "scale_source": self.scale_source,
            "feed_gain": finite_or_none(self.feed_gain),
            "external_scale": finite_or_none(self.external_scale),
            "output_scaler": finite_or_none(self.output_scaler),
            "input_scaler": finite_or_none(self.input_scaler),
            "network_input_gain": finite_or_none(self.network_input_gain),
            "amplitude_ratio": finite_or_none(self.amplitude_ratio),
            "label_scale": finite_or_none(self.label_scale),
            "expected_label_counts": finite_or_none(self.expected_label_counts),
        }


def plan_from_energy(energy, config: TrainingConfig) -> ScalePlan:
    """ScalePlan from a precomputed raw mean pattern energy E (None/unusable -> g = 1, s = s_cf)."""
    if not isinstance(config, TrainingConfig):
        raise ConfigError("config", f"must be a TrainingConfig, got {type(config).__name__}")
    N = config.model.N
    nphotons = config.nphotons
    s_cf = closed_form_scale(nphotons, N)
    dataset = scale_from_energy(energy, nphotons, N)
    E = math.nan if energy is None else float(energy)
    gain = gain_from_energy(E, N) if energy_is_usable(E) else 1.0
    feed_gain = 1.0 if config.data_feed == "raw" else gain
    chosen = dataset.value if config.scale_source == "dataset" else s_cf
    return ScalePlan(
        nphotons=float(nphotons),
        N=N,
        energy=E,
        gain=gain,
        closed_form=s_cf,
        dataset=dataset,
        data_feed=config.data_feed,
        scale_source=config.scale_source,
        feed_gain=feed_gain,
        external_scale=chosen,
        output_scaler=chosen,
        input_scaler=s_cf,
    )


def plan_scales(X_raw, config: TrainingConfig) -> ScalePlan:
    """ScalePlan for RAW diffraction X_raw ((B,N,N,C)/(B,N,N) array, memmap or iterable).

    ConfigError('model.N') when an array's pattern size differs from config.model.N.
    """
    if not isinstance(config, TrainingConfig):
        raise ConfigError("config", f"must be a TrainingConfig, got {type(config).__name__}")
    if _is_array(X_raw) and X_raw.ndim in (3, 4) and X_raw.shape[1] != config.model.N:
        raise ConfigError("model.N",
                          f"is {config.model.N} but X_raw has patterns of size {X_raw.shape[1]}")
    energy = None if X_raw is None else mean_pattern_energy(X_raw)
    return plan_from_energy(energy, config)


def _is_array(X) -> bool:
    """An ndarray/memmap or a dask array (whose pattern size can be checked up front)."""
    return isinstance(X, np.ndarray) or reducers.is_dask_array(X)
