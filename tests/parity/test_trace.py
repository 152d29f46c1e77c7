"""First-divergence trace diff of two telemetry records, with ratio attribution."""
import json
import math
import subprocess
import sys

import pytest

from parity import jsonsafe, trace
from tests.conftest import ROOT, ledger_tolerance

RTOL = ledger_tolerance("gap.attribution")

G = 0.2631  # normalization gain of the synthetic record


def make_record(profile="current", gain=1.0, noise=0.0, **overrides):
    """A synthetic record: stages in the order of docs/design.md §8; every labels/forward value times `gain`
    (a profile that differs from `labels` on by that factor); `noise` perturbs simulate.sum_sq."""
    values = {
        "object.shape": [392, 392],
        "object.mean": 2.7125,
        "probe.probe_scale": 4.0,
        "probe.max_abs": 1.09,
        "simulate.sum_sq": 1.0e6 * (1 + noise),
        "simulate.nan": 0,
        "group.shape": [16, 64, 64, 4],
        "group.strategy": "current",
        "normalize.g": G,
        "scale.s_cf": 988.2117,
        "scale.g": G,
        "scale.s": 988.2117 * G,
        "labels.mean": 12.5 * gain,
        "labels.max": 99.0 * gain,
        "forward.out_mean": 0.75 * gain,
        "forward.phase_mean": math.nan,
    }
    values.update(overrides)
    return {"schema": "parity-telemetry/1",
            "meta": {"scenario": "gs2_ideal", "profile": profile, "tier": "tiny", "seed": 1},
            "values": values}


def test_identical_records_report_nothing():
    a = make_record()
    result = trace.first_divergence(a, make_record(), attribution_rtol=RTOL)
    assert result.identical and result.first is None and result.structural == ()
    assert all(d is None for _, d in result.rungs)
    assert [r for r, _ in result.rungs] == list(trace.DEFAULT_LADDER)
    assert result.stages == ("object", "probe", "simulate", "group", "normalize", "scale", "labels", "forward")
    assert "No divergence" in trace.format_trace(result)


def test_gap_at_labels_is_reported_with_ratio_and_attribution(tol):
    a, b = make_record("legacy", gain=G), make_record("current")
    result = trace.first_divergence(a, b, attribution_rtol=RTOL)
    assert not result.identical
    for rung, d in result.rungs:
        assert d is not None and d.stage == "labels" and d.key == "labels.mean"
        assert d.a == 12.5 * G and d.b == 12.5
        assert d.ratio == pytest.approx(1 / G, rel=tol("trace.ratio"))
        best = result.attributions[rung][0]
        assert best.expression == "1 / normalize.g"
        assert dict(best.terms) == {"normalize.g": -1.0} and best.aliases == (("normalize.g", ("scale.g",)),)
    assert result.first.key == "labels.mean"
    text = trace.format_trace(result, ("legacy.json", "current.json"))
    assert "First divergence: stage `labels`, key `labels.mean`" in text
    assert "1 / normalize.g" in text and "equal scalars: normalize.g = scale.g" in text


def test_each_rung_reports_its_own_first_key(tol):
    a = make_record(gain=1.0)
    b = make_record(gain=2.0, noise=3e-5)  # simulate drifts by 3e-5, labels jump by 2
    result = trace.first_divergence(a, b, attribution_rtol=RTOL)
    by_rung = {r: d for r, d in result.rungs}
    assert by_rung[1e-6].key == "simulate.sum_sq"
    assert by_rung[1e-6].rel_diff == pytest.approx(3e-5 / (1 + 3e-5), rel=tol("trace.rel_diff"))
    assert by_rung[1e-4].key == by_rung[1e-2].key == "labels.mean"
    assert by_rung[1e-2].ratio == pytest.approx(2.0, rel=tol("trace.ratio"))
    assert result.first.key == "simulate.sum_sq"
    custom = trace.first_divergence(a, b, ladder=(1e-3,), attribution_rtol=RTOL)
    assert [(r, d.key) for r, d in custom.rungs] == [(1e-3, "labels.mean")]


def test_attribution_finds_products_of_record_scalars(tol):
    a = make_record()
    b = make_record(**{"forward.out_mean": 0.75 * 988.2117 / 4.0**2})
    result = trace.first_divergence(a, b, attribution_rtol=RTOL)
    d = dict(result.rungs)[1e-2]
    assert d.key == "forward.out_mean"
    assert result.attributions[1e-2][0].expression == "scale.s_cf / probe.probe_scale^2"


def test_structural_differences_are_exact():
    a = make_record()
    b = make_record(**{"group.shape": [16, 64, 64, 1], "group.strategy": "legacy", "simulate.nan": False})
    del b["values"]["probe.max_abs"]
    b["values"]["forward.extra"] = 1
    result = trace.first_divergence(a, b, attribution_rtol=RTOL)
    assert all(d is None for _, d in result.rungs)
    found = {d.key: d.detail for d in result.structural}
    assert set(found) == {"probe.max_abs", "group.shape", "group.strategy", "simulate.nan", "forward.extra"}
    assert found["probe.max_abs"] == "only in A" and found["forward.extra"] == "only in B"
    assert "type int vs bool" in found["simulate.nan"]
    assert result.first.key == "probe.max_abs" and not result.identical


def test_explicit_stage_order_and_ignore():
    a, b = make_record(gain=2.0), make_record(**{"object.mean": 1.0})
    default = trace.first_divergence(a, b, attribution_rtol=RTOL)
    assert default.first.key == "object.mean"
    ignored = trace.first_divergence(a, b, attribution_rtol=RTOL, ignore=["object.*"])
    assert ignored.first.key == "labels.mean"
    reordered = trace.first_divergence(a, b, attribution_rtol=RTOL, stages=["forward", "labels"])
    assert reordered.stages[:2] == ("forward", "labels") and reordered.first.key == "forward.out_mean"


def test_numeric_lists_compare_elementwise():
    a = make_record(**{"stitch.profile": [1.0, 2.0, 3.0]})
    b = make_record(**{"stitch.profile": [1.0, 2.0, 6.0]})
    d = dict(trace.first_divergence(a, b, attribution_rtol=RTOL).rungs)[1e-2]
    assert d.key == "stitch.profile" and d.ratio == 2.0 and "element 2" in d.detail


# --------------------------------------------------------------------------- CLI


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "parity", "trace-diff", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_trace_diff_cli(tmp_path):
    legacy = jsonsafe.write_json(tmp_path / "legacy.json", make_record("legacy", gain=G))
    current = jsonsafe.write_json(tmp_path / "current.json", make_record("current"))
    same = _cli(current, current)
    assert same.returncode == 0 and "No divergence" in same.stdout
    diff = _cli(legacy, current)
    assert diff.returncode == 1, diff.stderr
    assert "stage `labels`" in diff.stdout and "1 / normalize.g" in diff.stdout
    as_json = _cli(legacy, current, "--json", "--ladder", "1e-3")
    payload = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and payload["rungs"][0]["divergence"]["key"] == "labels.mean"
    (tmp_path / "bad.json").write_text('{"schema": "parity-telemetry/1", "values": {')
    bad = _cli(tmp_path / "bad.json", current)
    assert bad.returncode == 2 and "bad.json" in bad.stderr
    (tmp_path / "foreign.json").write_text('{"schema": "other", "values": {}}')
    foreign = _cli(tmp_path / "foreign.json", current)
    assert foreign.returncode == 2 and "foreign schema" in foreign.stderr
