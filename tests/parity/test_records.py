"""The telemetry record contract: schema, header names, stage order, first difference."""
import math

import pytest

from parity import records
from parity.records import RecordError


def make_record(scenario="gs1_ideal", profile="current", tier="tiny", **overrides):
    """A small telemetry record in stage order, covering every value kind."""
    values = {
        "object.shape": [392, 392],
        "object.dtype": "complex64",
        "object.mean": 2.7125,
        "probe.mean_abs_masked": 0.1,
        "scan.n_images": 64,
        "simulate.nan": 0,
        "simulate.s_sim": 1234.5678,
        "group.coords_relative_sum": 0.0,
        "scale.g": 0.2631,
        "scale.s": 260.0,
        "scale.s_cf": 988.2117,
        "scale.source": "dataset",
        "scale.used_fallback": False,
        "labels.mean": 12.5,
        "labels.max": math.inf,
        "forward.out_mean": math.nan,
        "forward.out_phase_mean": 3e-9,
    }
    values.update(overrides)
    return {"schema": records.TELEMETRY_SCHEMA,
            "meta": {"scenario": scenario, "profile": profile, "tier": tier, "seed": 7},
            "values": values}


def test_foreign_record_schema_rejected():
    with pytest.raises(RecordError, match="foreign schema"):
        records.coerce_record({"schema": "other/1", "values": {}})
    with pytest.raises(RecordError, match="scenario"):
        records.coerce_record(make_record(scenario="a/b"))


def test_check_record_rejects_foreign_and_disordered_records():
    good = {"schema": records.TELEMETRY_SCHEMA, "meta": {}, "values": {"object.a": 1, "probe.b": 2}}
    records.check_stage_order(good)
    with pytest.raises(RecordError):
        records.check_stage_order({**good, "schema": "other/1"})
    with pytest.raises(RecordError):
        records.check_stage_order({**good, "values": {"probe.b": 2, "object.a": 1}})
    with pytest.raises(RecordError):
        records.check_stage_order({**good, "values": {"nowhere.a": 1}})


def test_first_difference():
    a = {"x.a": 1.0, "x.b": math.nan, "x.c": [1, 2]}
    assert records.first_difference(a, dict(a)) is None
    assert records.first_difference(a, {**a, "x.c": [1, 3]}) == "x.c"
    assert records.first_difference(a, {**a, "x.a": 1}) == "x.a"  # float vs int is a difference
    assert records.first_difference(a, {**a, "y.d": 0}) == "y.d"


def test_stage_list_is_design_order():
    assert records.STAGES == ("object", "probe", "scan", "simulate", "group", "normalize", "scale",
                      "container", "network_input", "labels", "forward", "train", "infer",
                      "stitch", "evaluate")


def test_first_difference_treats_nan_inside_lists_as_equal():
    """Found by hypothesis: a NaN inside a list read back from JSON is another float object, and
    `[nan] != [nan]` for distinct objects, so the legacy-dict path check saw a false difference."""
    a = {"forward.x": [float("nan"), 1.0]}
    assert records.first_difference(a, {"forward.x": [float("nan"), 1.0]}) is None
    assert records.first_difference(a, {"forward.x": [float("nan"), 1]}) == "forward.x"
    assert records.first_difference(a, {"forward.x": [1.0, 1.0]}) == "forward.x"
