"""The gate tests itself (issue 9 item 3): it fails, naming the key, when a golden key goes
missing, appears or changes type; trace-diff reports the earliest divergence in walk order;
a pixel permutation changes a golden value; every failure names its stage."""
import copy
import shutil

import numpy as np
import pytest

from parity import golden as G
from parity import jsonsafe
from parity.commands import run_check
from parity.model_cache import ModelCache
from parity.positions import correlation, position_stats
from parity.records import CORE_STAGES
from parity.replay import ReplaySpec, resolve, run_stages
from parity.report import ReplayResult
from parity.checks import Check
from parity.tolerances import load_ledger
from parity.trace import first_divergence
from tests.conftest import LEDGER_PATH

LEDGER = load_ledger(LEDGER_PATH)
ATTRIBUTION = LEDGER.test_tolerance("gap.attribution")
MODELS = ModelCache()


@pytest.fixture(scope="module")
def gate_dir(tmp_path_factory):
    """A golden directory holding the ledger and a golden made from a fresh gs1_ideal/current
    replay, and that golden's values."""
    d = tmp_path_factory.mktemp("golden")
    shutil.copy(LEDGER_PATH, d / "tolerances.toml")
    spec = ReplaySpec("gs1_ideal", "current")
    record = run_stages(resolve(spec), models=MODELS).to_dict()
    G.write_golden(G.golden_path(d, record), record, {"command": "test"})
    return d


def _gate(d, tmp_path):
    code, results, out, _ = run_check(golden_dir=d, scenarios=["gs1_ideal"], profiles=["current"],
                                      out_dir=tmp_path / "out", progress=False, models=MODELS)
    return code, results[0], (out / "report.md").read_text()


@pytest.mark.parametrize("change, key, verdict", [
    ("drop", "forward.canvas", "extra"),          # the record has a key the golden lacks
    ("add", "forward.phantom_key", "missing"),    # the golden has a key the record lacks
    ("int->float", "forward.canvas", "type"),
    ("float->str", "scale.s", "type"),
    ("bool->int", "probe.mask_applied", "type"),
])
def test_gate_fails_naming_a_missing_new_or_retyped_golden_key(gate_dir, tmp_path, change, key,
                                                                verdict):
    d = tmp_path / "golden"
    shutil.copytree(gate_dir, d, ignore=shutil.ignore_patterns("out*"))
    path = next(p for p in d.glob("*.json"))
    data = G.load_golden(path)
    values = data["values"]
    if change == "drop":
        del values[key]
    elif change == "add":
        values[key] = 1.0
    elif change == "int->float":
        values[key] = float(values[key])
    elif change == "float->str":
        values[key] = str(values[key])
    elif change == "bool->int":
        values[key] = int(values[key])
    jsonsafe.write_json(path, data)
    code, res, report = _gate(d, tmp_path)
    assert code == 1 and res.golden == "changed"
    assert any(line.startswith(f"{key}:") and verdict in line for line in res.golden_detail), \
        res.golden_detail
    assert key in report
    assert res.first_problem().startswith(f"{key.split('.')[0]}: golden changed")


def test_committed_golden_passes_and_a_moved_value_fails(tmp_path):
    """The replay matches the committed golden (written by `golden update` in another
    process, not by this test), and the same golden with one value moved past its tolerance
    fails naming the key. Breakers: a product change the golden holds (e.g. the lines object
    blurred with another weight) fails the first half; a comparison that ignores values
    (golden.compare returning no failure) the second."""
    d = tmp_path / "golden"
    d.mkdir()
    shutil.copy(LEDGER_PATH, d / "tolerances.toml")
    committed = LEDGER_PATH.parent / "gs1_ideal__current__tiny.json"
    shutil.copy(committed, d / committed.name)
    code, res, _ = _gate(d, tmp_path / "clean")
    assert code == 0 and res.golden == "ok", res.golden_detail
    data = G.load_golden(d / committed.name)
    rule = LEDGER.rule_for("scale.s")
    s = data["values"]["scale.s"]
    data["values"]["scale.s"] = s + 2 * (rule.atol + rule.rtol * abs(s))
    jsonsafe.write_json(d / committed.name, data)
    code, res, _ = _gate(d, tmp_path / "moved")
    assert code == 1 and res.golden == "changed"
    assert any(line.startswith("scale.s:") for line in res.golden_detail), res.golden_detail


def test_int_float_change_is_a_type_change_never_within_tolerance():
    rec = {"forward.canvas": 110, "scale.s": 1.0}
    bad = G.failures(G.compare(rec, {"forward.canvas": 110.0, "scale.s": 1.0}, LEDGER))
    assert [(r.key, r.verdict) for r in bad] == [("forward.canvas", "type")]
    bad = G.failures(G.compare({"x.v": [1, 2]}, {"x.v": [1.0, 2]}, LEDGER))
    assert [r.verdict for r in bad] == ["type"]


# ---------------------------------------------------------------------------- trace-diff
def test_trace_reports_a_missing_key_that_precedes_a_numeric_divergence():
    a = {"object.a": 1.0, "scale.s": 1.0, "labels.k": 2.0}
    b = {"object.a": 1.0, "labels.k": 3.0}
    for x, y in ((a, b), (b, a)):   # the stage only in one record keeps its pipeline place
        first = first_divergence(x, y, attribution_rtol=ATTRIBUTION).first
        assert first.key == "scale.s" and first.kind == "structural", first


def test_trace_walks_a_key_only_in_b_where_b_has_it():
    a = {"object.a": 1.0, "forward.x": 1.0, "forward.y": 2.0}
    b = {"object.a": 1.0, "forward.w": 5.0, "forward.x": 1.0, "forward.y": 3.0}
    res = first_divergence(a, b, attribution_rtol=ATTRIBUTION)
    assert res.first.key == "forward.w"
    assert res.rungs[0][1].key == "forward.y"      # the numeric one is still reported


def test_trace_numeric_divergence_before_a_later_missing_key():
    a = {"object.a": 1.0, "scale.s": 1.0, "labels.k": 2.0}
    b = {"object.a": 1.5, "scale.s": 1.0}
    assert first_divergence(a, b, attribution_rtol=ATTRIBUTION).first.key == "object.a"


# ---------------------------------------------------------------------------- position telemetry
def test_a_flip_of_the_diffraction_changes_golden_values(monkeypatch):
    """A flipped far field leaves every permutation-invariant statistic as it was; the
    position-sensitive ones move, so the golden comparison fails on them."""
    from ptycho import simulate
    from ptycho.raw_data import RawData

    real = simulate.simulate_dataset

    def flipped(*args, **kwargs):   # the stored patterns flipped, the counts untouched
        raw = real(*args, **kwargs)
        return RawData.from_arrays(raw.xcoords, raw.ycoords,
                                   np.ascontiguousarray(np.asarray(raw.diff3d)[:, ::-1, ::-1]),
                                   raw.probeGuess, objectGuess=raw.objectGuess,
                                   metadata=raw.metadata)

    stages = CORE_STAGES[:5]
    spec = ReplaySpec("gs1_ideal", "current")
    clean = run_stages(resolve(spec), stages=stages).to_dict()["values"]
    monkeypatch.setattr(simulate, "simulate_dataset", flipped)
    flipped = run_stages(resolve(spec), stages=stages).to_dict()["values"]
    bad = {r.key for r in G.failures(G.compare(clean, flipped, LEDGER))}
    for stat in ("min", "max", "mean", "std", "sum_sq"):
        assert f"simulate.diff3d.{stat}" not in bad
    assert {"simulate.diff3d.centroid_row", "simulate.diff3d.centroid_col",
            "simulate.diff3d.dc_mean"} <= bad


def test_position_stats_see_flips_shifts_transposes_and_the_dc_pixel(tol):
    rng = np.random.default_rng(1)
    x = rng.random((4, 16, 16, 2)) * np.linspace(1, 3, 16)[None, :, None, None]
    base = position_stats(x, diffraction=True)
    assert base["dc_mean"] == pytest.approx(np.mean(x[:, 8, 8, :]),
                                          rel=tol("parity.positions.mean"))
    for moved in (x[:, ::-1], np.roll(x, 1, axis=2), np.swapaxes(x, 1, 2)):
        assert position_stats(moved, diffraction=True) != base
    w = (x ** 2).sum(axis=(0, 3))
    assert base["centroid_row"] == pytest.approx((w.sum(axis=1) * np.arange(16)).sum() / w.sum(),
                                                 rel=tol("parity.positions.centroid"))
    assert correlation(x, 3.0 * x) == pytest.approx(1.0, abs=tol("parity.positions.correlation"))
    assert correlation(x, x[:, ::-1]) < 0.99
    with pytest.raises(ValueError):
        correlation(x, x[:2])


# ---------------------------------------------------------------------------- stage in every failure
def test_every_first_problem_names_its_stage():
    failing = Check("forward_consistency", "forward", 0.3, 1e-5, "fail", "max ...")
    r = ReplayResult("gs1_ideal", "current", "tiny", checks=[failing])
    assert r.first_problem().startswith("forward: forward_consistency")
    r = ReplayResult("gs1_ideal", "current", "tiny", golden="changed",
                     golden_detail=["labels.counts.mean: golden 1 vs now 2 (changed, ...)"])
    assert r.first_problem().startswith("labels: golden changed")
    r = ReplayResult("gs1_ideal", "current", "tiny", error="stage forward: ValueError: boom")
    assert r.first_problem().startswith("stage forward:")
