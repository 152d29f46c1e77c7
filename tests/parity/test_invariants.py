"""Every invariant passes on a clean replay and fails on a deliberate fault.

Two kinds of failing cases: (1) a bad value written into a copy of a clean record (each check
of the 'stage' kind in parity.checks must have one, so a new check cannot go untested); (2) the
test faults of parity.faults (PARITY_FAULT on the command line), which make the stages
reproduce a real bug, so each fault must fail at the stage the issue names.
"""
import copy
import math

import pytest

from parity import jsonsafe
from parity.faults import FAULTS
from parity.checks import (FAIL, PASS, WARN, CheckContext, check_legacy_fresh, check_legacy_path,
                           evaluate, first_failure, registered)
from parity.checks.finiteness import check_finiteness
from parity.checks.results import check_amplitude_ratio_trained
from parity.profiles import CURRENT, LEGACY
from parity.replay import ReplaySpec, run_replay
from parity.testing import assert_caught, assert_checks_pass
from parity.tolerances import load_ledger
from ptycho import legacy
from ptycho.config import TrainingConfig
from ptycho.errors import StaleConfigError
from tests.conftest import LEDGER_PATH

LEDGER = load_ledger(LEDGER_PATH)
#: the catalogue: every check that runs when its stage was recorded
CHECKS = registered("stage")
LEGACY_CTX = CheckContext(LEGACY, LEDGER)


@pytest.fixture(scope="module")
def outcomes():
    """Clean replays of gs2_ideal (gridsize 2: the canvas matters) under both profiles."""
    return {p: run_replay(ReplaySpec("gs2_ideal", p), LEDGER) for p in ("legacy", "current")}


def _verdicts(checks):
    return {c.name: c.verdict for c in checks}


def test_clean_replays_pass_every_check(outcomes):
    for profile, out in outcomes.items():
        assert out.error is None
        assert_checks_pass(out)
        verdicts = _verdicts(out.checks)
        assert set(CHECKS) - ELSEWHERE <= set(verdicts)
        expected_warn = {"reachability"} if profile == "legacy" else set()
        assert {n for n, v in verdicts.items() if v == WARN} == expected_warn
        for name in ("legacy_dict_fresh", "legacy_dict_path", "finiteness"):
            assert verdicts[name] == PASS


def test_legacy_reachability_predicts_g_and_saturation(outcomes):
    v = outcomes["legacy"].record["values"]
    g = v["normalize.g"]
    rtol = LEDGER.test_tolerance("parity.stages.float64_algebra")
    assert v["labels.predicted_amplitude_ratio"] == pytest.approx(g, rel=rtol)
    assert v["labels.implied_amplitude_max"] > 1.0 and v["labels.activation_ceiling"] == 1.0
    check = next(c for c in outcomes["legacy"].checks if c.name == "reachability")
    assert check.verdict == WARN and "saturation predicted" in check.detail
    cur = outcomes["current"].record["values"]
    assert cur["labels.predicted_amplitude_ratio"] == pytest.approx(1.0, rel=rtol)
    # gs2_ideal's current profile: the scaled sigmoid of the scenario (ceiling 8 > max |O|)
    assert cur["labels.activation_ceiling"] == 8.0 and cur["labels.fraction_above_ceiling"] == 0.0


#: check -> (key, bad value as a function of the clean values): a value that must fail it
BREAKERS = {
    "probe_normalization": ("probe.mean_abs_masked", lambda v: v["probe.mean_abs_masked"] * 1.01),
    "simulate_energy": ("simulate.diff3d.mean_sum_xy_sq",
                        lambda v: v["simulate.diff3d.mean_sum_xy_sq"] * 1.2),
    "canvas_fit": ("group.canvas_planned", lambda v: 64),
    "group_centroid": ("group.centroid_residual", lambda v: 1.0),
    "normalization_energy": ("normalize.energy_norm", lambda v: v["normalize.energy_norm"] * 1.001),
    "scale_identity": ("scale.s", lambda v: v["scale.s_cf"]),
    "scale_energy": ("scale.energy", lambda v: v["normalize.target_energy"]),
    "scale_source": ("scale.source", lambda v: "closed_form"),
    "container_lazy": ("container.tensor_cache_size", lambda v: 1),
    "network_input_energy": ("network_input.mean_sum_xy_sq",
                             lambda v: v["network_input.mean_sum_xy_sq"] * 1.01),
    "counts": ("labels.mean_counts_per_pattern", lambda v: v["labels.mean_counts_per_pattern"] * 1.01),
    "symmetry": ("labels.scale", lambda v: v["labels.scale"] * 1.5),
    "chain_product": ("labels.observed_input_gain", lambda v: v["labels.observed_input_gain"] * 1.01),
    "reachability": ("labels.activation_ceiling", lambda v: 0.1),
    "forward_scales": ("forward.output_scale_weight", lambda v: v["forward.output_scale_weight"] * 1.01),
    "forward_output_shape": ("forward.output_shape", lambda v: [1, 64, 64, 4]),
    "trainable_weights": ("forward.trainable_special", lambda v: ["probe"]),
    "model_canvas_fit": ("forward.canvas", lambda v: 64),
    # issue 9 (gate): consistency checks
    "container_scale": ("container.fed_intensity_scale",
                        lambda v: v["container.fed_intensity_scale"] * 1.01),
    "pixel_alignment": ("labels.amplitude.corr_prev", lambda v: 0.99),
    "labels_poisson": ("labels.truth_agreement.mean_z2", lambda v: 150.0),
    "forward_consistency": ("forward.consistency.max_rel_error", lambda v: 0.3),
    "reassembly_roundtrip": ("forward.reassembly.covered_error", lambda v: 0.5),
    "batch_independence": ("forward.batch.head_counts_change", lambda v: 0.1),
    "activation_ceiling": ("forward.activation.output_max", lambda v: 1.0),
    "phase_range": ("forward.phase.output_max", lambda v: 1.0),
    "loss_composition": ("train.probe.loss_compiled", lambda v: v["train.probe.loss_compiled"] * 1.01),
    "gradient_flow": ("train.probe.zero_gradient_weights", lambda v: ["enc0_conv0/kernel"]),
    "optimizer_step": ("train.probe.step_first_order_change", lambda v: 0.01),
    "training_feed": ("train.feed.label_error", lambda v: 0.1),
    "stitch_roundtrip": ("stitch.truth_roundtrip.max_rel_error", lambda v: 0.01),
    "evaluate_identity": ("evaluate.truth.identity.phase_mae", lambda v: 2.41),
    "evaluate_scaled_copy": ("evaluate.truth.scaled_copy.phase_pearson", lambda v: -0.71),
    # issue 16 §2: stage specifications (realistic product bugs that break each one in a
    # replay: tests/parity/test_spec_checks.py; in the measurements: tests/parity/test_specs.py)
    "spec_object_recipe": ("object.spec.reference_error", lambda v: 1e-3),
    "spec_object_range": ("object.spec.amplitude_max", lambda v: 8.5),
    "spec_object_options": ("object.spec.coupled_phase_error", lambda v: 0.1),
    "spec_object_grf": ("object.spec.grf_reference_error", lambda v: 1e-3),
    "spec_probe_recipe": ("probe.spec.reference_error", lambda v: 1e-3),
    "spec_probe_mask": ("probe.spec.mask_pixel_errors", lambda v: 4),
    "spec_probe_scale": ("probe.spec.scale_option_error", lambda v: 0.5),
    "spec_probe_geometry": ("probe.spec.centre_offset", lambda v: 0.5),
    "spec_scan_bounds": ("scan.spec.bounds_violation", lambda v: 0.5),
    "spec_scan_stream": ("scan.spec.reference_error", lambda v: 1.0),
    "spec_scan_uniformity": ("scan.spec.ks_y", lambda v: 0.6),
    "spec_scan_raster": ("scan.spec.raster_error", lambda v: 8.0),
    "spec_simulate_scale": ("simulate.spec.s_sim_error", lambda v: 0.01),
    "spec_simulate_integer": ("simulate.spec.integer_error", lambda v: 0.5),
    "spec_simulate_poisson": ("simulate.spec.dose_z", lambda v: 7.0),
    "spec_group_membership": ("group.spec.membership_violations", lambda v: 1),
    "spec_group_order": ("group.spec.order_violations", lambda v: 1),
    "spec_group_coordinates": ("group.spec.coords_error", lambda v: 0.5),
    "spec_group_gather": ("group.spec.diffraction_mismatches", lambda v: 1),
    "spec_normalize_reference": ("normalize.spec.gain_error", lambda v: 0.01),
    "spec_scale_reference": ("scale.spec.plan_error", lambda v: 0.01),
    "spec_container_reference": ("container.spec.fed_x_error", lambda v: 0.01),
    "spec_network_input_reference": ("network_input.spec.input_error", lambda v: 0.01),
    "spec_labels_reference": ("labels.spec.dose_error", lambda v: 0.01),
    "spec_infer_path": ("infer.spec.forward_agreement", lambda v: 0.01),
    "spec_stitch_reference": ("stitch.spec.recon.image_error", lambda v: 0.01),
    "spec_evaluate_reference": ("evaluate.spec.pearson_error", lambda v: 0.01),
    # registration sign flipped: the known (3, -2) shift reported as (-3, 2)
    "spec_evaluate_registration": ("evaluate.spec.registration.shift_error", lambda v: 6.0),
    # conjugated object: ~2|sin phi| of the untrained phase
    "spec_forward_object": ("forward.spec.composition_error", lambda v: 0.03),
    # validation groups trained on too
    "spec_train_split": ("train.spec.split.overlap", lambda v: 1),
}
#: checks whose BREAKERS entry moves the bound side (the activation ceiling): the value-side
#: breaker used by test_bound_is_not_derived_from_the_value, as (setup, key, bad value)
VALUE_SIDE = {
    "reachability": ({"labels.activation_ceiling": 8.0}, "labels.implied_amplitude_max", 9.0),
}


#: checks whose failing cases live elsewhere: amplitude_ratio_trained (trained tiers),
#: engine_agrees (oracle scenarios only; its breakers are tests/parity/test_oracle.py),
#: spec_train_contract (replays with trainable scalars) and spec_infer_units (C = 1): their
#: breakers are tests/parity/test_spec_checks.py
ELSEWHERE = {"amplitude_ratio_trained", "engine_agrees", "spec_train_contract", "spec_infer_units"}


def test_every_check_has_a_failing_case():
    assert set(CHECKS) - ELSEWHERE == set(BREAKERS)


@pytest.mark.parametrize("name", sorted(BREAKERS))
def test_bound_is_not_derived_from_the_value(outcomes, name):
    """Perturbing only the key a check measures flips its verdict while its bound stays: no
    check's bound is computed from its own value."""
    record = copy.deepcopy(outcomes["current"].record)
    setup, key, bad = (VALUE_SIDE[name] if name in VALUE_SIDE
                       else ({}, BREAKERS[name][0], BREAKERS[name][1](record["values"])))
    record["values"].update(setup)
    before = {c.name: c for c in evaluate(record, LEDGER, CURRENT)}[name]
    record["values"][key] = bad
    after = {c.name: c for c in evaluate(record, LEDGER, CURRENT)}[name]
    assert before.verdict == PASS and after.verdict == FAIL, (before, after)
    assert after.bound == before.bound, (name, before.bound, after.bound)


@pytest.mark.parametrize("key, stage", [("group.diffraction.corr_prev", "group"),
                                        ("container.X.corr_prev", "container"),
                                        ("network_input.corr_prev", "network_input"),
                                        ("labels.counts.corr_prev", "labels")])
def test_pixel_alignment_names_the_stage_of_the_first_misaligned_pair(outcomes, key, stage):
    record = copy.deepcopy(outcomes["current"].record)
    record["values"][key] = 0.5
    record["values"]["labels.counts.corr_prev"] = 0.9   # a later one too: the first is named
    check = {c.name: c for c in evaluate(record, LEDGER, CURRENT)}["pixel_alignment"]
    assert check.verdict == FAIL and check.stage == stage and key in check.detail


def test_activation_ceiling_holds_a_bounded_layer_to_its_configured_ceiling(outcomes):
    record = copy.deepcopy(outcomes["legacy"].record)
    v = record["values"]
    assert v["forward.activation.configured_ceiling"] == 1.0 == v["forward.activation.layer_ceiling"]
    ok = {c.name: c for c in evaluate(record, LEDGER, LEGACY)}["activation_ceiling"]
    assert ok.verdict == PASS
    for key, bad in (("forward.activation.layer_ceiling", None),       # ceiling ignored
                     ("forward.activation.output_max", 1.5),           # above the ceiling
                     ("forward.activation.output_max", 0.5),           # never reaches it
                     ("forward.activation.output_min", -0.1)):         # negative amplitude
        broken = copy.deepcopy(record)
        broken["values"][key] = bad
        check = {c.name: c for c in evaluate(broken, LEDGER, LEGACY)}["activation_ceiling"]
        assert check.verdict == FAIL, (key, bad, check)


def test_labels_poisson_bound_comes_from_the_ledger_and_the_pixel_count(outcomes):
    v = outcomes["current"].record["values"]
    check = {c.name: c for c in outcomes["current"].checks}["labels_poisson"]
    n = v["labels.truth_agreement.pixels"]
    assert check.bound == pytest.approx(LEDGER.test_tolerance("parity.invariants.labels_poisson")
                                        + 6.0 * math.sqrt(3.0 / n),
                                        rel=LEDGER.test_tolerance("parity.stages.float64_algebra"))


@pytest.mark.parametrize("name", sorted(BREAKERS))
def test_each_check_fails_on_a_bad_value(outcomes, name):
    """...at its stage (the stage column of the check output and report.md), and no earlier
    stage's check fails on the same value."""
    record = copy.deepcopy(outcomes["current"].record)
    key, bad = BREAKERS[name]
    record["values"][key] = bad(record["values"])
    assert_caught(record, name, CHECKS[name].stage, ledger=LEDGER)


def test_reachability_policy_predict_warns_require_fails(outcomes):
    record = copy.deepcopy(outcomes["current"].record)
    record["values"]["labels.activation_ceiling"] = 0.1
    assert _verdicts(evaluate(record, LEDGER, LEGACY))["reachability"] == WARN
    assert _verdicts(evaluate(record, LEDGER, CURRENT))["reachability"] == FAIL


def test_missing_key_in_a_recorded_stage_fails_naming_it(outcomes):
    record = copy.deepcopy(outcomes["current"].record)
    del record["values"]["scale.g_s_cf"]
    check = {c.name: c for c in evaluate(record, LEDGER)}["scale_identity"]
    assert check.verdict == FAIL and "scale.g_s_cf" in check.detail


def test_finiteness_names_the_first_nonfinite_stage(outcomes):
    values = dict(outcomes["current"].record["values"])
    assert check_finiteness(values).verdict == PASS
    values["normalize.g"] = math.nan
    values["forward.counts.nan"] = 3
    check = check_finiteness(values)
    assert check.verdict == FAIL and check.stage == "normalize" and check.value == 2


def test_checks_of_a_record_read_back_from_json_are_the_same(outcomes, tmp_path):
    rec = outcomes["legacy"].record
    back = jsonsafe.read_json(jsonsafe.write_json(tmp_path / "r.json", rec))
    assert [c.to_dict() for c in evaluate(back, LEDGER)] == [c.to_dict() for c in evaluate(rec, LEDGER)]


def test_untrained_record_has_no_training_checks(outcomes):
    assert "amplitude_ratio_trained" not in _verdicts(outcomes["current"].checks)


def test_trained_amplitude_ratio_check():
    v = {"infer.amplitude_ratio": 0.27, "labels.saturated_amplitude_ratio": 0.266,
         "labels.predicted_amplitude_ratio": 0.266, "infer.verifies_prediction": True}
    assert check_amplitude_ratio_trained(v, LEGACY_CTX).verdict == PASS
    bad = {**v, "infer.amplitude_ratio": 1.0}
    assert check_amplitude_ratio_trained(bad, LEGACY_CTX).verdict == FAIL
    short = {**bad, "infer.verifies_prediction": False}
    assert check_amplitude_ratio_trained(short, LEGACY_CTX).verdict == WARN


def test_legacy_fresh_and_path_checks():
    cfg = TrainingConfig()
    d = legacy.update_legacy_dict(dict(legacy.DEFAULTS), cfg)
    d["nphotons"] = 1e6
    with pytest.raises(StaleConfigError) as err:
        legacy.require_fresh(d, cfg)
    check = check_legacy_fresh(err.value)
    assert check.verdict == FAIL and check.value == ["nphotons"] and "nphotons" in check.detail
    same = check_legacy_path({"scale.s": 1.0}, {"scale.s": 1.0})
    assert same.verdict == PASS
    diff = check_legacy_path({"object.a": 1, "scale.s": 1.0}, {"object.a": 1, "scale.s": 2.0})
    assert diff.verdict == FAIL and diff.stage == "scale" and diff.value == "scale.s"
    assert check_legacy_path(None, None).verdict == FAIL


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_fails_at_its_stage(fault):
    out = run_replay(ReplaySpec("gs2_ideal", "current", faults=(fault,)), LEDGER)
    first = first_failure(out.checks)
    assert first is not None, f"{fault} went unnoticed"
    assert first.stage == FAULTS[fault][0], (fault, first)
    if fault == "stale_key":
        assert first.name == "legacy_dict_fresh" and "probe_scale" in out.error
