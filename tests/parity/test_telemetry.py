"""Telemetry statistics (streamed float64) and the recorder."""
import math
import tracemalloc

import numpy as np
import pytest

from parity import jsonsafe, telemetry
from parity.records import (TELEMETRY_SCHEMA, RecordError, check_stage_order, first_difference,
                            stage_values)
from parity.telemetry import Recorder, array_stats
from ptycho import scaling


def _reference(x, patterns):
    """One-shot float64 statistics over the finite values of x (|x| for complex)."""
    a = np.abs(x).astype(np.float64) if np.iscomplexobj(x) else x.astype(np.float64)
    a = a[np.isfinite(a)]
    return {"min": a.min(), "max": a.max(), "mean": a.mean(), "std": a.std(),
            "sum_sq": float(np.sum(a * a)), "mean_sum_xy_sq": float(np.sum(a * a)) / patterns}


def _data(kind, rng, shape=(5, 16, 16, 4)):
    """'spread': well-conditioned float32 amplitudes; 'offset': float64 with std/mean ~ 3e-7, so
    every chunk needs the two-pass M2 (sum x**2 - mean * sum x alone is off by ~5e-5 here)."""
    if kind == "spread":
        return (rng.random(shape) * 10).astype(np.float32)
    return 1e6 + rng.random(shape)


@pytest.mark.parametrize("kind", ["spread", "offset"])
@pytest.mark.parametrize("chunk", [7, 1000, 8192 + 5, 1 << 20])
def test_stats_match_float64_reference_for_any_chunking(monkeypatch, tol, chunk, kind):
    monkeypatch.setattr(telemetry, "CHUNK_ELEMENTS", chunk)
    x = _data(kind, np.random.default_rng(3))
    st = array_stats(x)
    ref = _reference(x, patterns=5 * 4)
    assert list(st) == list(telemetry.STAT_KEYS)
    assert st["shape"] == [5, 16, 16, 4] and st["dtype"] == str(x.dtype)
    assert st["nan"] == 0 and st["inf"] == 0
    for k, v in ref.items():
        assert type(st[k]) is float
        assert st[k] == pytest.approx(v, rel=tol("parity.telemetry.stats")), k


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.int32, np.uint8, np.bool_,
                                   np.complex64, np.complex128])
def test_every_dtype_matches_the_reference(monkeypatch, tol, dtype):
    monkeypatch.setattr(telemetry, "CHUNK_ELEMENTS", 1000)
    rng = np.random.default_rng(4)
    x = rng.normal(3.0, 2.0, size=(6, 9, 11)) + 1j * rng.normal(size=(6, 9, 11))
    x = (x if np.iscomplexobj(np.zeros(0, dtype)) else x.real * 20).astype(dtype)
    st = array_stats(x)
    assert st["dtype"] == str(np.dtype(dtype))
    for k, v in _reference(x, patterns=6).items():
        assert st[k] == pytest.approx(v, rel=tol("parity.telemetry.stats")), k


def test_sum_sq_is_bit_identical_to_mean_pattern_energy():
    """Same row partials (ROW_ELEMENTS rows from the start), combined by math.fsum."""
    x = (np.random.default_rng(5).random((37, 32, 32, 4)) * 7).astype(np.float32)
    assert x.size % telemetry.CHUNK_ELEMENTS and x.size % scaling.ROW_ELEMENTS
    assert array_stats(x)["mean_sum_xy_sq"] == scaling.mean_pattern_energy(x)


@pytest.mark.parametrize("threads", [2, 3, 5])
def test_thread_count_never_changes_a_bit(monkeypatch, threads):
    """Stripes of chunks in parallel threads, combined in chunk order: identical to 1 thread,
    including chunks redone for NaN/Inf and for cancellation."""
    monkeypatch.setattr(telemetry, "CHUNK_ELEMENTS", 1024)
    rng = np.random.default_rng(6)
    x = (rng.random((100, 1024)) * 5).astype(np.float32)
    x[3, 7], x[40, 0], x[77, 1000] = np.nan, np.inf, -np.inf
    x[60] = 1e4 + rng.random(1024).astype(np.float32)  # low-spread chunk: two-pass M2
    assert x.size // 1024 >= threads * scaling.MIN_CHUNKS_PER_THREAD
    one = array_stats(x, threads=1)
    assert one["nan"] == 1 and one["inf"] == 2
    assert first_difference(one, array_stats(x, threads=threads)) is None


def test_non_contiguous_arrays_equal_their_contiguous_copy(tol):
    x = np.random.default_rng(7).random((12, 40, 30)).astype(np.float32)
    view = x[::2, 3:, ::3]
    st = array_stats(view)
    assert st["shape"] == array_stats(np.ascontiguousarray(view))["shape"] == [6, 37, 10]
    # against the one-shot float64 reference of the view, not array_stats of its copy (a
    # stride bug shared by both paths would agree with itself)
    for k, v in _reference(np.ascontiguousarray(view), patterns=6).items():
        assert st[k] == pytest.approx(v, rel=tol("parity.telemetry.stats")), k


def test_constant_arrays_have_zero_spread():
    for value in (0.0, 0.1, 3.0, -7.25):
        st = array_stats(np.full((3, 70, 1000), value, dtype=np.float32))
        assert st["std"] == 0.0 and st["min"] == st["max"] == st["mean"] == float(np.float32(value))


def test_working_memory_is_a_few_chunk_buffers():
    """Extra memory: one float64 chunk buffer per thread plus small per-chunk partials, far below
    a float64 copy (32 MiB here) or even a float32 one (16 MiB)."""
    x = np.ones((1024, 64, 64, 1), dtype=np.float32)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        array_stats(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < (scaling.DEFAULT_THREADS + 2) * telemetry.CHUNK_ELEMENTS * 8, peak


def test_complex_arrays_are_summarized_by_modulus(tol):
    z = np.array([[3 + 4j, 0], [1j, -2]], dtype=np.complex64)
    st = array_stats(z)
    assert st["min"] == 0 and st["max"] == 5
    assert st["sum_sq"] == pytest.approx(25 + 1 + 4, rel=tol("parity.telemetry.stats"))
    assert st["mean_sum_xy_sq"] == st["sum_sq"]  # a 2-D array is one pattern


def test_nonfinite_values_are_counted_and_excluded():
    x = np.array([[1.0, np.nan], [np.inf, -np.inf]], dtype=np.float32)[None]
    st = array_stats(x, image_axes=(1, 2))
    assert st["nan"] == 1 and st["inf"] == 2
    assert st["min"] == st["max"] == st["mean"] == 1.0
    empty = array_stats(np.full((2, 2), np.nan))
    assert math.isnan(empty["mean"]) and empty["nan"] == 4
    assert empty["sum_sq"] == 0.0 and math.isnan(empty["min"]) and math.isnan(empty["std"])
    none = array_stats(np.zeros((0, 4, 4), np.float32))
    assert none["shape"] == [0, 4, 4] and none["sum_sq"] == 0.0 and none["nan"] == 0
    assert math.isnan(none["mean"]) and math.isnan(none["mean_sum_xy_sq"])
    scalar = array_stats(np.float64(2.5))
    assert scalar["shape"] == [] and scalar["mean"] == scalar["max"] == 2.5 and scalar["std"] == 0


def test_nonfinite_values_in_many_chunks(monkeypatch, tol):
    monkeypatch.setattr(telemetry, "CHUNK_ELEMENTS", 100)
    rng = np.random.default_rng(8)
    x = rng.normal(2.0, 1.0, size=(10, 50, 7))
    bad = rng.random(x.shape)
    x[bad < 0.02] = np.nan
    x[(bad >= 0.02) & (bad < 0.03)] = np.inf
    x[(bad >= 0.03) & (bad < 0.035)] = -np.inf
    st = array_stats(x)
    assert st["nan"] == np.count_nonzero(np.isnan(x))
    assert st["inf"] == np.count_nonzero(np.isinf(x))
    for k, v in _reference(x, patterns=10).items():
        assert st[k] == pytest.approx(v, rel=tol("parity.telemetry.stats")), k


def test_recorder_orders_stages_and_rejects_disorder():
    rec = Recorder({"scenario": "s", "profile": "p", "tier": "tiny", "seed": 1})
    rec.record("object", {"a": np.float32(1.5), "shape": (2, 3)})
    rec.record("scale", {"g": 0.5})
    with pytest.raises(RecordError) as err:
        rec.record("probe", {"x": 1})
    assert err.value.where == "probe"
    with pytest.raises(RecordError):
        rec.record("scale", {"again": 1})
    with pytest.raises(RecordError):
        rec.record("bogus", {})
    d = rec.to_dict()
    assert d["schema"] == TELEMETRY_SCHEMA and list(d["values"]) == ["object.a", "object.shape", "scale.g"]
    assert d["values"]["object.shape"] == [2, 3] and type(d["values"]["object.a"]) is float
    assert stage_values(d, "scale") == {"g": 0.5}
    check_stage_order(d)


def test_recorder_needs_the_meta_contract():
    with pytest.raises(RecordError) as err:
        Recorder({"scenario": "s"})
    assert "profile" in str(err.value)


def test_record_round_trips_through_json_exactly(tmp_path):
    rec = Recorder({"scenario": "s", "profile": "p", "tier": "tiny", "seed": 1})
    rec.record("object", array_stats(np.array([[0.1, np.nan]], np.float64)))
    d = rec.to_dict()
    path = jsonsafe.write_json(tmp_path / "t.json", d)
    back = jsonsafe.read_json(path)
    assert first_difference(d["values"], back["values"]) is None


@pytest.mark.parametrize("method", ["blas", "fused"])
def test_layout_never_changes_a_bit(monkeypatch, method):
    """Chunks are counted over the C-order values, so views, F-order and copies agree exactly
    (blocks of a non-contiguous array are re-cut onto the global chunk grid)."""
    monkeypatch.setattr(telemetry.reducers, "BLOCK_BYTES", 10_000)  # many blocks, odd seams
    x = (np.random.default_rng(8).random((12, 40, 60)) * 9).astype(np.float32)
    ref = array_stats(np.ascontiguousarray(x[::2, 3:]), method=method)
    assert first_difference(ref, array_stats(x[::2, 3:], method=method)) is None
    ref = array_stats(x, method=method)
    assert first_difference(ref, array_stats(np.asfortranarray(x), method=method)) is None
