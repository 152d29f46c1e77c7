"""Telemetry statistics (streamed float64) and the ordered record contract."""
import math

import numpy as np
import pytest

from parity import jsonsafe, telemetry
from parity.telemetry import (SCHEMA, STAGES, Recorder, TelemetryError, array_stats,
                              check_record, first_difference, stage_values)


def _reference(x, patterns):
    a = np.abs(x).astype(np.float64) if np.iscomplexobj(x) else x.astype(np.float64)
    return {"min": a.min(), "max": a.max(), "mean": a.mean(), "std": a.std(),
            "sum_sq": float(np.sum(a * a)), "mean_sum_xy_sq": float(np.sum(a * a)) / patterns}


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_stats_match_float64_reference_for_any_chunking(monkeypatch, tol, chunk):
    monkeypatch.setattr(telemetry, "CHUNK_ELEMENTS", chunk)
    rng = np.random.default_rng(3)
    x = (rng.gamma(2.0, 3.0, size=(5, 16, 16, 4)) + 1e3).astype(np.float32)
    st = array_stats(x)
    ref = _reference(x, patterns=5 * 4)
    assert st["shape"] == [5, 16, 16, 4] and st["dtype"] == "float32"
    assert st["nan"] == 0 and st["inf"] == 0
    for k, v in ref.items():
        assert st[k] == pytest.approx(v, rel=tol("parity.telemetry.stats"))


def test_chunks_are_bounded(monkeypatch):
    monkeypatch.setattr(telemetry, "CHUNK_ELEMENTS", 1000)
    x = np.zeros((50, 10, 10), np.float32)
    sizes = [c.size for c in telemetry._chunks(x)]
    assert max(sizes) <= 1000 and sum(sizes) == x.size


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


def test_recorder_orders_stages_and_rejects_disorder():
    rec = Recorder({"scenario": "s", "profile": "p", "tier": "tiny", "seed": 1})
    rec.record("object", {"a": np.float32(1.5), "shape": (2, 3)})
    rec.record("scale", {"g": 0.5})
    with pytest.raises(TelemetryError) as err:
        rec.record("probe", {"x": 1})
    assert err.value.where == "probe"
    with pytest.raises(TelemetryError):
        rec.record("scale", {"again": 1})
    with pytest.raises(TelemetryError):
        rec.record("bogus", {})
    d = rec.to_dict()
    assert d["schema"] == SCHEMA and list(d["values"]) == ["object.a", "object.shape", "scale.g"]
    assert d["values"]["object.shape"] == [2, 3] and type(d["values"]["object.a"]) is float
    assert stage_values(d, "scale") == {"g": 0.5}
    check_record(d)


def test_recorder_needs_the_meta_contract():
    with pytest.raises(TelemetryError) as err:
        Recorder({"scenario": "s"})
    assert "profile" in str(err.value)


def test_check_record_rejects_foreign_and_disordered_records():
    good = {"schema": SCHEMA, "meta": {}, "values": {"object.a": 1, "probe.b": 2}}
    check_record(good)
    with pytest.raises(TelemetryError):
        check_record({**good, "schema": "other/1"})
    with pytest.raises(TelemetryError):
        check_record({**good, "values": {"probe.b": 2, "object.a": 1}})
    with pytest.raises(TelemetryError):
        check_record({**good, "values": {"nowhere.a": 1}})


def test_first_difference():
    a = {"x.a": 1.0, "x.b": math.nan, "x.c": [1, 2]}
    assert first_difference(a, dict(a)) is None
    assert first_difference(a, {**a, "x.c": [1, 3]}) == "x.c"
    assert first_difference(a, {**a, "x.a": 1}) == "x.a"  # float vs int is a difference
    assert first_difference(a, {**a, "y.d": 0}) == "y.d"


def test_record_round_trips_through_json_exactly(tmp_path):
    rec = Recorder({"scenario": "s", "profile": "p", "tier": "tiny", "seed": 1})
    rec.record("object", array_stats(np.array([[0.1, np.nan]], np.float64)))
    d = rec.to_dict()
    path = jsonsafe.write_json(tmp_path / "t.json", d)
    back = jsonsafe.read_json(path)
    assert first_difference(d["values"], back["values"]) is None


def test_stage_list_is_design_order():
    assert STAGES == ("object", "probe", "scan", "simulate", "group", "normalize", "scale",
                      "container", "network_input", "labels", "forward", "train", "infer",
                      "stitch", "evaluate")
