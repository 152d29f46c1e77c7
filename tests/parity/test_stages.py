"""The stage pipeline: order, profile (in)dependence, legacy-dict path, determinism, caching."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from parity import faults, stages
from parity.scenarios import TierSize, get_scenario
from parity.profiles import get_profile
from parity.stages import (STAGE_FUNCTIONS, ReplaySpec, StageError, StageState,
                           clear_model_cache, legacy_path_config, replay_all, replay_config,
                           run_replay, run_stages)
from parity.telemetry import CORE_STAGES, STAGES, TRAIN_STAGES, Recorder, stage_of
from parity.trace import first_divergence
from ptycho import legacy
from ptycho.errors import GroupingError, StaleConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROFILE_INDEPENDENT = ("object", "probe", "scan", "simulate", "group", "normalize", "scale",
                       "container")


def _record(scenario, profile, grouping="profile", **kw):
    spec = ReplaySpec(scenario, profile, grouping=grouping, **kw)
    return run_stages(spec, replay_config(spec)).to_dict()


@pytest.fixture(scope="module")
def held():
    """gs2_ideal under both profiles with the grouping held at 'current'."""
    return {p: _record("gs2_ideal", p, grouping="current") for p in ("legacy", "current")}


def test_stage_functions_are_the_design_stages():
    assert tuple(STAGE_FUNCTIONS) == STAGES


def test_record_has_every_core_stage_in_order(held):
    rec = held["current"]
    seen = []
    for key in rec["values"]:
        if stage_of(key) not in seen:
            seen.append(stage_of(key))
    assert tuple(seen) == CORE_STAGES
    assert rec["meta"]["scenario"] == "gs2_ideal" and rec["meta"]["profile"] == "current"
    assert rec["meta"]["tier"] == "tiny" and rec["meta"]["seed"] == 1


def test_profile_independent_stages_agree_when_grouping_is_held(held, tol):
    a, b = held["legacy"]["values"], held["current"]["values"]
    for key, va in a.items():
        if stage_of(key) in PROFILE_INDEPENDENT:
            assert b[key] == va, key
    rtol = tol("parity.stages.profile_gap")
    for key, va in a.items():
        if stage_of(key) == "network_input" and isinstance(va, float):
            assert b[key] == pytest.approx(va, rel=rtol, abs=1e-12), key
    E = a["normalize.E"]
    assert a["network_input.mean_sum_xy_sq"] == pytest.approx((64 / 2) ** 2, rel=1e-5)
    assert E > 0


def test_labels_differ_by_exactly_g(held, tol):
    a, b = held["legacy"]["values"], held["current"]["values"]
    g = a["normalize.g"]
    rtol = tol("parity.stages.profile_gap")
    for stat in ("max", "mean", "std"):
        assert a[f"labels.amplitude.{stat}"] / b[f"labels.amplitude.{stat}"] == pytest.approx(g, rel=rtol)
    for stat in ("max", "mean", "mean_sum_xy_sq"):
        assert a[f"labels.counts.{stat}"] == pytest.approx(b[f"labels.counts.{stat}"], rel=rtol)
    assert a["labels.scale"] / b["labels.scale"] == pytest.approx(1 / g, rel=1e-12)
    assert a["labels.data_feed"] == "normalized" and b["labels.data_feed"] == "raw"


def test_trace_of_legacy_vs_current_reports_labels_and_g(held):
    res = first_divergence(held["current"], held["legacy"])
    first = res.first
    assert first.stage == "labels" and first.kind == "numeric"
    g = held["legacy"]["values"]["normalize.g"]
    assert first.ratio == pytest.approx(g, rel=1e-6)
    matches = res.attributions[res.rungs[0][0]]
    assert matches and abs(matches[0].value - g) <= 1e-6 * g   # best match is g itself


def test_trace_without_holding_the_grouping_reports_group():
    a = _record("gs2_ideal", "current")
    b = _record("gs2_ideal", "legacy")
    assert first_divergence(a, b).first.stage == "group"


def test_legacy_dict_path_matches_and_leaves_no_state():
    before = dict(legacy.cfg)
    out = run_replay(ReplaySpec("gs1_ideal", "legacy"))
    assert out.error is None
    path = next(c for c in out.checks if c.name == "legacy_dict_path")
    assert path.verdict == "pass"
    assert first_divergence(out.record, out.legacy_record).identical
    assert out.legacy_record["meta"]["path"] == "legacy_dict"
    assert legacy.cfg == before


def test_stale_key_raises_naming_it(monkeypatch):
    monkeypatch.setenv(faults.ENV, "stale_key")
    before = dict(legacy.cfg)
    with pytest.raises(StaleConfigError) as err:
        legacy_path_config(replay_config(ReplaySpec("gs1_ideal", "current")))
    assert set(err.value.stale) == {"probe_scale"}
    assert legacy.cfg == before


def test_cached_model_equals_a_fresh_build():
    _record("gs1_ideal_1e4", "current")          # builds the model with other scales
    cached = _record("gs1_ideal", "current")    # reuses it, weights reassigned
    clear_model_cache()
    fresh = _record("gs1_ideal", "current")
    assert first_divergence(cached, fresh).identical
    assert cached["values"] == fresh["values"]


def test_same_seed_is_bit_identical_in_a_new_process(tmp_path):
    out = tmp_path / "r.json"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop(faults.ENV, None)
    proc = subprocess.run([sys.executable, "-m", "parity", "replay", "--scenario", "gs1_ideal",
                           "--profile", "current", "--no-legacy-path", "--quiet", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    from parity import jsonsafe

    other = jsonsafe.read_json(out)
    here = json.loads(json.dumps(_record("gs1_ideal", "current")["values"]))
    assert json.loads(json.dumps(other["values"])) == here
    assert jsonsafe.dumps(other["values"]) == jsonsafe.dumps(_record("gs1_ideal", "current")["values"])


def test_a_failing_stage_is_named(monkeypatch):
    def broken(st):
        raise GroupingError("gridsize", "too few points")

    monkeypatch.setitem(STAGE_FUNCTIONS, "group", broken)
    spec = ReplaySpec("gs1_ideal", "current")
    with pytest.raises(StageError) as err:
        run_stages(spec, replay_config(spec))
    assert err.value.stage == "group" and isinstance(err.value.cause, GroupingError)
    assert list(err.value.recorder.stages) == ["object", "probe", "scan", "simulate"]
    out = run_replay(spec)
    assert out.error.startswith("stage group: GroupingError")


def test_train_test_split_along_y():
    spec = ReplaySpec("gs1_ideal", "current")
    config = replay_config(spec)
    sizes = TierSize(object_size=128, n_images=16, n_groups=4, batch_size=4, nepochs=1,
                     n_filters_scale=1, split="y")
    st = StageState(spec, get_scenario("gs1_ideal"), get_profile("current"), config, sizes,
                    Recorder({"scenario": "gs1_ideal", "profile": "current", "tier": "x", "seed": 1}))
    for name in ("object", "probe", "scan", "simulate", "group"):
        st.recorder.record(name, STAGE_FUNCTIONS[name](st))
    v = st.recorder.values
    assert v["scan.n_train"] + v["scan.n_test"] == 16
    y = st.art["grouped"].coords[:, 0, 1, :]
    assert np.all(y < 64) and v["group.n_groups"] == config.n_groups


def test_replay_all_for_goldens():
    recs = replay_all(scenarios=["gs1_custom"], profiles=["legacy", "current"])
    assert [(r["meta"]["scenario"], r["meta"]["profile"]) for r in recs] == [
        ("gs1_custom", "legacy"), ("gs1_custom", "current")]


@pytest.mark.slow
def test_replay_with_training_adds_the_training_stages():
    out = run_replay(ReplaySpec("gs1_ideal", "legacy", train=True), legacy_path=False)
    assert out.error is None
    stages_seen = {stage_of(k) for k in out.record["values"]}
    assert set(TRAIN_STAGES) <= stages_seen
    verdicts = {c.name: c.verdict for c in out.checks}
    assert "fail" not in verdicts.values()
    assert verdicts["amplitude_ratio_trained"] in ("pass", "warn")
    v = out.record["values"]
    assert v["train.epochs"] == 2 and v["train.loss_last"] < v["train.loss_first"]
    assert v["infer.predicted_amplitude_ratio"] == pytest.approx(v["normalize.g"], rel=1e-12)
