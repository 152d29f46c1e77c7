"""Replays: the legacy-dict path, test faults, the model cache, determinism, named failures."""
import dataclasses
import json
import os
import subprocess
import sys

import pytest

from parity import faults
from parity.records import CORE_STAGES, TRAIN_STAGES, stage_of
from parity.replay import (DEFAULT_MODELS, ReplaySpec, StageError, legacy_path_config, replay_all,
                           replay_config, resolve, run_replay, run_stages)
from parity.stages import STAGE_FUNCTIONS
from parity.tolerances import load_ledger
from parity.trace import first_divergence
from ptycho import legacy
from ptycho.errors import ConfigError, GroupingError, StaleConfigError
from tests.conftest import LEDGER_PATH, ROOT, ledger_tolerance

LEDGER = load_ledger(LEDGER_PATH)
RTOL = ledger_tolerance("gap.attribution")


def _record(scenario, profile, grouping="profile", **kw):
    spec = ReplaySpec(scenario, profile, grouping=grouping, **kw)
    return run_stages(resolve(spec)).to_dict()


def _count_forward_diagnostics(monkeypatch) -> list:
    from parity.stages import model
    calls, real = [], model._forward_diagnostics

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(model, "_forward_diagnostics", counted)
    return calls


def test_legacy_dict_path_matches_and_leaves_no_state(monkeypatch):
    before = dict(legacy.cfg)
    calls = _count_forward_diagnostics(monkeypatch)
    out = run_replay(ReplaySpec("gs1_ideal", "legacy"), LEDGER)
    # identical inputs up to the forward stage: the second path reuses its diagnostics
    assert len(calls) == 1
    assert out.error is None
    path = next(c for c in out.checks if c.name == "legacy_dict_path")
    assert path.verdict == "pass"
    core = {k: v for k, v in out.record["values"].items() if stage_of(k) in CORE_STAGES}
    assert first_divergence(core, out.legacy_record, attribution_rtol=RTOL).identical
    assert out.legacy_record["meta"]["path"] == "legacy_dict"
    # the bridge returned the dataclass config: the second path reran the core stages only
    assert {stage_of(k) for k in out.legacy_record["values"]} == set(CORE_STAGES)
    assert legacy.cfg == before


def test_legacy_dict_path_reruns_every_stage_when_the_bridge_changes_the_config(monkeypatch):
    """A bridge that loses a field only training reads (learning rate read back 10x): the
    second path runs every stage and the check names the train stage."""
    read_back = legacy.config_from_legacy

    def lossy(cfg):
        config = read_back(cfg)
        return dataclasses.replace(config, learning_rate=config.learning_rate * 10)

    monkeypatch.setattr(legacy, "config_from_legacy", lossy)
    calls = _count_forward_diagnostics(monkeypatch)
    out = run_replay(ReplaySpec("gs1_ideal", "current"), LEDGER)
    assert len(calls) == 2   # another config: the second path computes its own
    path = next(c for c in out.checks if c.name == "legacy_dict_path")
    assert path.verdict == "fail" and path.stage == "train", path
    assert {stage_of(k) for k in out.legacy_record["values"]} == set(CORE_STAGES) | set(
        TRAIN_STAGES)


def test_stale_key_raises_naming_it():
    before = dict(legacy.cfg)
    with pytest.raises(StaleConfigError) as err:
        legacy_path_config(replay_config(ReplaySpec("gs1_ideal", "current")), ("stale_key",))
    assert set(err.value.stale) == {"probe_scale"}
    assert legacy.cfg == before


def test_cached_model_equals_a_fresh_build():
    _record("gs1_ideal_1e4", "current")          # builds the model with other scales
    cached = _record("gs1_ideal", "current")    # reuses it, weights reassigned
    DEFAULT_MODELS.clear()
    fresh = _record("gs1_ideal", "current")
    assert first_divergence(cached, fresh, attribution_rtol=RTOL).identical
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


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity") else True,
                    reason="needs a Linux process allowed on >= 2 CPUs (TensorFlow's default pool "
                           "would then differ from the pinned one)")
def test_telemetry_is_bit_identical_whatever_the_cores(tmp_path):
    """TensorFlow sizes its intra-op pool by the schedulable cores and splits reductions by
    it: ptycho.tfload pins the pool (INTRA_OP_THREADS), so a process left to pick its own
    pool on this machine's >= 2 CPUs records the same bits as this one (without the pin the
    forward stage's counts.min differs in the 3rd digit between pools of 1 and 2)."""
    out = tmp_path / "r.json"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop(faults.ENV, None)
    env.pop("TF_NUM_INTRAOP_THREADS", None)           # the product's own default, not conftest's
    proc = subprocess.run([sys.executable, "-m", "parity", "replay", "--scenario", "gs1_custom",
                           "--profile", "legacy", "--no-legacy-path", "--quiet", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    from parity import jsonsafe

    other = jsonsafe.read_json(out)["values"]
    here = _record("gs1_custom", "legacy")["values"]
    assert jsonsafe.dumps(other) == jsonsafe.dumps(here), next(
        (k, other.get(k), v) for k, v in here.items() if other.get(k) != v)


def test_a_failing_stage_is_named(monkeypatch):
    def broken(st):
        raise GroupingError("gridsize", "too few points")

    monkeypatch.setitem(STAGE_FUNCTIONS, "group", broken)
    spec = ReplaySpec("gs1_ideal", "current")
    with pytest.raises(StageError) as err:
        run_stages(resolve(spec))
    assert err.value.stage == "group" and isinstance(err.value.cause, GroupingError)
    assert list(err.value.recorder.stages) == ["object", "probe", "scan", "simulate"]
    out = run_replay(spec, LEDGER)
    assert out.error.startswith("stage group: GroupingError")


def test_replay_all_for_goldens():
    recs = replay_all(LEDGER, scenarios=["gs1_custom"], profiles=["legacy", "current"])
    assert [(r["meta"]["scenario"], r["meta"]["profile"]) for r in recs] == [
        ("gs1_custom", "legacy"), ("gs1_custom", "current")]


@pytest.mark.slow
def test_replay_with_training_adds_the_training_stages():
    out = run_replay(ReplaySpec("gs1_ideal", "legacy", train=True), LEDGER, legacy_path=False)
    assert out.error is None
    stages_seen = {stage_of(k) for k in out.record["values"]}
    assert set(TRAIN_STAGES) <= stages_seen
    verdicts = {c.name: c.verdict for c in out.checks}
    assert "fail" not in verdicts.values()
    assert verdicts["amplitude_ratio_trained"] in ("pass", "warn")
    v = out.record["values"]
    assert v["train.epochs"] == 2 and v["train.loss_last"] < v["train.loss_first"]
    assert v["infer.predicted_amplitude_ratio"] == pytest.approx(
        v["normalize.g"], rel=LEDGER.test_tolerance("parity.stages.float64_algebra"))


def test_unknown_fault_in_a_spec_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="faults.*bogus"):
        ReplaySpec("gs1_ideal", "current", faults=("bogus",))
    with pytest.raises(ConfigError, match="PARITY_FAULT.*bogus"):
        faults.parse_faults("small_canvas, bogus")
    assert faults.parse_faults(" small_canvas,stale_key ") == ("small_canvas", "stale_key")
    assert faults.parse_faults(None) == () == faults.parse_faults("")


def test_the_stages_read_the_resolved_replay_and_look_nothing_up(monkeypatch):
    """A spec is resolved once (parity.replay_spec.resolve); with every lookup disabled
    afterwards, the data stages still run: none of them looks up its scenario, profile or
    tier sizes again."""
    from parity import profiles, replay_spec, scenarios
    from parity.records import CORE_STAGES

    resolved = resolve(ReplaySpec("gs1_ideal", "current"))

    def refused(*args, **kwargs):
        raise AssertionError(f"looked up again: {args}")

    for module in (scenarios, profiles, replay_spec):
        for name in ("get_scenario", "get_profile", "tier_size", "resolve_config"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, refused)
    data_stages = CORE_STAGES[:CORE_STAGES.index("labels")]
    rec = run_stages(resolved, stages=data_stages).to_dict()
    assert rec["values"]["object.size"] == resolved.sizes.object_size
    with pytest.raises(AssertionError, match="looked up again"):
        resolve(ReplaySpec("gs1_ideal", "current"))   # the patch does bite



def _count_model_passes(monkeypatch) -> list:
    """Model calls of the forward stage's batched pass over every group."""
    from parity.stages import model
    calls, real_pass = [], model._model_pass

    def spy(st, m, diag, inputs):
        def counted(*args, **kwargs):
            calls.append(1)
            return diag(*args, **kwargs)
        return real_pass(st, m, counted, inputs)
    monkeypatch.setattr(model, "_model_pass", spy)
    return calls


def test_second_path_reuses_the_forward_pass_when_weights_and_inputs_are_identical(monkeypatch):
    from parity.stages import FORWARD_BATCH

    calls = _count_model_passes(monkeypatch)
    out = run_replay(ReplaySpec("gs1_ideal", "current"), LEDGER)
    assert out.error is None
    assert next(c for c in out.checks if c.name == "legacy_dict_path").verdict == "pass"
    # the dataclass path's batches only: the legacy-dict path took its arrays
    assert len(calls) == -(-out.record["values"]["forward.input_shape"][0] // FORWARD_BATCH)


def test_a_model_left_changed_by_the_diagnostics_fails_the_path_comparison_at_forward(monkeypatch):
    """Breaker: the training diagnostics' optimizer step is not undone (the model keeps a
    changed weight). The second path sees other weights, runs the pass again, and the path
    comparison names the forward stage."""
    from parity import consistency

    real = consistency.loss_and_gradient

    def unrestored(model, config, inputs, labels):
        out = real(model, config, inputs, labels)
        w = model.trainable_weights[0]
        w.assign(w * 1.01)
        return out

    monkeypatch.setattr(consistency, "loss_and_gradient", unrestored)
    DEFAULT_MODELS.clear()
    try:
        out = run_replay(ReplaySpec("gs1_ideal", "current"), LEDGER)
    finally:
        DEFAULT_MODELS.clear()
    path = next(c for c in out.checks if c.name == "legacy_dict_path")
    assert path.verdict == "fail" and path.stage == "forward", path
