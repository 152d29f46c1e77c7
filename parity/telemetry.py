"""JSON-safe stage telemetry: array statistics (streamed, float64) and the ordered record.

Record contract (shared with parity.golden / parity.trace):
    {"schema": "parity-telemetry/1",
     "meta": {"scenario": str, "profile": str, "tier": str, "seed": int, ...},
     "values": {"<stage>.<key>": JSON value, ...}}   # stage order, then key order

`array_stats` reduces in float64 over chunks of the leading axis (never a float64 copy of the
whole array); complex arrays are summarized by their modulus |x|. Statistics are taken over
the finite entries; `nan`/`inf` count the others.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np

SCHEMA = "parity-telemetry/1"

#: pipeline stages in DESIGN §8 order; the last four run only with --train
CORE_STAGES = ("object", "probe", "scan", "simulate", "group", "normalize", "scale",
               "container", "network_input", "labels", "forward")
TRAIN_STAGES = ("train", "infer", "stitch", "evaluate")
STAGES = CORE_STAGES + TRAIN_STAGES

#: elements reduced per chunk (float64 working set about 8 MiB)
CHUNK_ELEMENTS = 1 << 20

STAT_KEYS = ("shape", "dtype", "min", "max", "mean", "std", "sum_sq", "mean_sum_xy_sq",
             "nan", "inf")


class TelemetryError(ValueError):
    """A telemetry record is malformed; `where` names the stage or key."""

    def __init__(self, where: str, problem: str):
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


def _chunks(x: np.ndarray) -> Iterable[np.ndarray]:
    """Slices of `x` along axis 0 holding about CHUNK_ELEMENTS elements each."""
    if x.ndim == 0:
        yield x.reshape(1)
        return
    per_row = max(1, int(np.prod(x.shape[1:], dtype=np.int64)))
    step = max(1, CHUNK_ELEMENTS // per_row)
    for start in range(0, x.shape[0], step):
        yield x[start:start + step]


def _image_size(shape: tuple[int, ...], image_axes: tuple[int, ...] | None) -> int:
    if image_axes is None:
        image_axes = (1, 2) if len(shape) >= 3 else tuple(range(len(shape)))
    return int(np.prod([shape[a] for a in image_axes], dtype=np.int64)) if shape else 1


def array_stats(x, *, image_axes: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Ordered statistics of an array (STAT_KEYS).

    x: ndarray, real or complex (complex -> statistics of |x|). image_axes: the xy axes of one
    pattern (default (1, 2) for rank >= 3, e.g. (B, N, N, C) or (M, N, N); all axes otherwise).
    sum_sq = sum |x|^2; mean_sum_xy_sq = sum_sq / number of patterns (every index of the other
    axes is a pattern), the per-pattern energy E of DESIGN §4. float64 accumulation.
    """
    x = np.asarray(x)
    shape = tuple(int(n) for n in x.shape)
    dtype = str(x.dtype)
    n_total = int(x.size)
    count = 0
    mean = 0.0
    m2 = 0.0
    total = 0.0
    sum_sq = 0.0
    lo, hi = math.inf, -math.inf
    n_nan = n_inf = 0
    for chunk in _chunks(x):
        c = np.abs(chunk) if np.iscomplexobj(chunk) else chunk
        c = c.astype(np.float64, copy=False).ravel()
        finite = np.isfinite(c)
        if not finite.all():
            nan_here = int(np.count_nonzero(np.isnan(c)))
            n_nan += nan_here
            n_inf += int(c.size - np.count_nonzero(finite) - nan_here)
            c = c[finite]
        if c.size == 0:
            continue
        lo = min(lo, float(c.min()))
        hi = max(hi, float(c.max()))
        s = float(c.sum())
        chunk_mean = s / c.size
        chunk_m2 = float(np.sum((c - chunk_mean) ** 2))
        sum_sq += float(np.dot(c, c))
        total += s
        # Chan et al. pairwise merge of (count, mean, M2)
        new_count = count + c.size
        delta = chunk_mean - mean
        mean = mean + delta * c.size / new_count
        m2 = m2 + chunk_m2 + delta * delta * count * c.size / new_count
        count = new_count
    if count == 0:
        lo = hi = mean_v = std_v = math.nan
    else:
        mean_v = mean
        std_v = math.sqrt(max(m2 / count, 0.0))
    n_patterns = n_total // max(1, _image_size(shape, image_axes)) if n_total else 0
    return {
        "shape": list(shape),
        "dtype": dtype,
        "min": lo,
        "max": hi,
        "mean": mean_v,
        "std": std_v,
        "sum_sq": sum_sq,
        "mean_sum_xy_sq": sum_sq / n_patterns if n_patterns else math.nan,
        "nan": n_nan,
        "inf": n_inf,
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
    and each at most once (a stage recorded twice or out of order raises TelemetryError).
    """

    def __init__(self, meta: Mapping[str, Any]):
        missing = [k for k in ("scenario", "profile", "tier", "seed") if k not in meta]
        if missing:
            raise TelemetryError("meta", f"missing keys {missing}")
        self.meta = dict(meta)
        self.values: dict[str, Any] = {}
        self.stages: list[str] = []

    def record(self, stage: str, values: Mapping[str, Any]) -> None:
        if stage not in STAGES:
            raise TelemetryError(stage, f"unknown stage (known: {list(STAGES)})")
        if self.stages and STAGES.index(stage) <= STAGES.index(self.stages[-1]):
            raise TelemetryError(stage, f"recorded after {self.stages[-1]!r} (order: {list(STAGES)})")
        self.stages.append(stage)
        for key, value in values.items():
            self.values[f"{stage}.{key}"] = json_scalar(value)

    def to_dict(self) -> dict[str, Any]:
        """The telemetry record (schema, meta, values); a fresh dict."""
        return {"schema": SCHEMA, "meta": dict(self.meta), "values": dict(self.values)}


def stage_of(key: str) -> str:
    """The stage a value key belongs to ('scale.g' -> 'scale')."""
    return key.split(".", 1)[0]


def stage_values(record: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """{key without the stage prefix: value} of one stage of a record."""
    prefix = stage + "."
    return {k[len(prefix):]: v for k, v in record["values"].items() if k.startswith(prefix)}


def check_record(record: Any, where: str = "record") -> dict[str, Any]:
    """Validate the record contract (schema, meta keys, known stages in order); return it."""
    if not isinstance(record, dict):
        raise TelemetryError(where, f"must be a JSON object, got {type(record).__name__}")
    if record.get("schema") != SCHEMA:
        raise TelemetryError(where, f"schema must be {SCHEMA!r}, got {record.get('schema')!r}")
    meta, values = record.get("meta"), record.get("values")
    if not isinstance(meta, dict) or not isinstance(values, dict):
        raise TelemetryError(where, "needs 'meta' and 'values' objects")
    last = -1
    for key in values:
        stage = stage_of(key)
        if stage not in STAGES:
            raise TelemetryError(f"{where}: {key}", "unknown stage")
        idx = STAGES.index(stage)
        if idx < last:
            raise TelemetryError(f"{where}: {key}", "out of stage order")
        last = idx
    return record


def first_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """First key (in a's order, then b's extras) whose values differ exactly (NaN == NaN);
    None when the two value dicts are identical."""
    for key in list(a) + [k for k in b if k not in a]:
        if key not in a or key not in b:
            return key
        va, vb = a[key], b[key]
        if isinstance(va, float) and isinstance(vb, float) and math.isnan(va) and math.isnan(vb):
            continue
        if type(va) is not type(vb) or va != vb:
            return key
    return None
