"""The trained and pair checks (parity.checks.trained, .pairs) on synthetic records: each passes on values measured on
a clean trained replay and fails when only the value it measures moves to a realistic bad
value (its bound stays). The real training runs are in tests/parity/test_trained.py."""
import math

import pytest

from parity.checks import FAIL, PASS, WARN, evaluate, evaluate_pair, registered
from parity.checks.trained import mostly_unsaturated, saturated
from parity.tolerances import load_ledger
from tests.conftest import LEDGER_PATH

LEDGER = load_ledger(LEDGER_PATH)
TRAINED_CHECKS = registered("trained")
A = "evaluate.amplitude."

#: values of the clean gs1_custom/current trained replay (seed 1, `check --tier trained`)
CLEAN = {
    "train.mode": "fit", "train.epochs": 10, "train.loss_first": -2607750.0,
    "train.loss_last": -2854937.25, "train.loss_floor": -2860000.0,
    "train.loss_excess_ratio": (-2854937.25 + 2860000.0) / (-2607750.0 + 2860000.0),
    "infer.verifies_prediction": True, "evaluate.verifies_learning": True,
    "evaluate.verifies_legacy_ratio": True,
    A + "rel_rmse_scaled.model": 0.070, A + "rel_rmse_scaled.baseline": 0.133,
    A + "pearson.model": 0.950, A + "pearson.baseline": 0.802,
    "evaluate.predicted_amplitude_ratio": 1.0,
    "evaluate.saturation.ceiling": None, "evaluate.saturation.predicted_fraction": 0.0,
    "evaluate.saturation.observed_fraction": 0.0,
    "evaluate.saturation.unsaturated_ls_scalar": 0.96,
}
#: a legacy record of the same scenario: amplitudes in units of g (0.267), 11% predicted
#: saturated under the sigmoid ceiling 1
LEGACY = {**CLEAN, "evaluate.predicted_amplitude_ratio": 0.267,
          "evaluate.saturation.ceiling": 1.0, "evaluate.saturation.predicted_fraction": 0.11,
          "evaluate.saturation.observed_fraction": 0.035,
          "evaluate.saturation.unsaturated_ls_scalar": 0.258}


def _record(values, profile="current"):
    return {"meta": {"profile": profile}, "values": values}


def evaluate_trained(record, ledger):
    """The trained checks among the engine's verdicts on `record`."""
    return [c for c in evaluate(record, ledger) if c.name in TRAINED_CHECKS]


def _verdicts(values, profile="current"):
    return {c.name: c.verdict for c in evaluate_trained(_record(values, profile), LEDGER)}


def check_legacy_ratio(legacy, current, ledger):
    """The engine's legacy_ratio verdict on a legacy/current pair of values, None if none."""
    found = [c for c in evaluate_pair(_record(legacy, "legacy"), _record(current), ledger)
             if c.name == "legacy_ratio"]
    assert len(found) <= 1
    return found[0] if found else None


def test_clean_records_pass():
    assert _verdicts(CLEAN) == {"loss_decreases": PASS, "learns_structure": PASS,
                                "amplitude_units": PASS}
    assert _verdicts(LEGACY, "legacy") == {"loss_decreases": PASS, "learns_structure": PASS,
                                           "amplitude_units": PASS, "saturation": PASS}


def test_untrained_records_get_no_trained_checks():
    assert evaluate_trained(_record({**CLEAN, "train.mode": "probe"}), LEDGER) == []


#: check -> (key, bad value): what a learning/units bug makes of that key
BREAKERS = {
    # a PINN that outputs a constant patch: structure error as the baseline's
    "learns_structure": (A + "rel_rmse_scaled.model", 0.133),
    # amplitudes trained in the wrong units (the 6.5x shrinkage class): 1/6.5
    "amplitude_units": ("evaluate.saturation.unsaturated_ls_scalar", 0.96 / 6.5),
    # a frozen network: the misfit above the floor stays where epoch 1 left it
    "loss_decreases": ("train.loss_excess_ratio", 0.9),
    # the ceiling never reached: nothing saturates where the prediction says 11% does
    "saturation": ("evaluate.saturation.observed_fraction", 0.0 + 0.11 + 0.2),
    # the evaluate stage judged other weights than the curve's last point (e.g. a stale model)
    "curve_ends_at_evaluate": ("train.curve.amplitude_pearson", [0.9, 0.949]),
}


def test_every_trained_check_has_a_breaker():
    assert set(BREAKERS) == set(TRAINED_CHECKS)


@pytest.mark.parametrize("name", sorted(BREAKERS))
def test_breaker_fails_only_its_check(name):
    key, bad = BREAKERS[name]
    base, profile = {"saturation": (LEGACY, "legacy"),
                     "curve_ends_at_evaluate": (CURVE, "current")}.get(name, (CLEAN, "current"))
    verdicts = _verdicts({**base, key: bad}, profile)
    assert verdicts[name] == FAIL
    assert {n for n, v in verdicts.items() if v == FAIL} == {name}


def test_learns_structure_needs_both_rmse_and_correlation():
    low_r = {**CLEAN, A + "pearson.model": CLEAN[A + "pearson.baseline"] + 0.04}
    assert _verdicts(low_r)["learns_structure"] == FAIL
    assert _verdicts({**CLEAN, A + "pearson.model": math.nan})["learns_structure"] == FAIL


def test_unverified_learning_warns_instead_of_failing():
    short = {**CLEAN, A + "rel_rmse_scaled.model": 0.133, "evaluate.verifies_learning": False}
    assert _verdicts(short)["learns_structure"] == WARN
    brief = {**CLEAN, "train.loss_excess_ratio": 0.9, "evaluate.verifies_learning": False}
    assert _verdicts(brief)["loss_decreases"] == WARN
    units = {**CLEAN, "evaluate.saturation.unsaturated_ls_scalar": 0.5,
             "infer.verifies_prediction": False}
    assert _verdicts(units)["amplitude_units"] == WARN
    # a model still learning flattens the extremes: little reaches the ceiling
    flat = {**LEGACY, "evaluate.saturation.observed_fraction": 0.003,
            "evaluate.verifies_learning": False}
    assert _verdicts(flat, "legacy")["saturation"] == WARN
    assert _verdicts({**flat, "evaluate.verifies_learning": True}, "legacy")["saturation"] == FAIL


def test_a_missing_key_fails_naming_it():
    values = dict(CLEAN)
    del values[A + "pearson.baseline"]
    check = next(c for c in evaluate_trained(_record(values), LEDGER) if c.name == "learns_structure")
    assert check.verdict == FAIL and A + "pearson.baseline" in check.detail


def test_saturation_gates():
    assert not saturated(CLEAN) and saturated(LEGACY) and mostly_unsaturated(LEGACY)
    full = {**LEGACY, "evaluate.saturation.predicted_fraction": 1.0,
            "evaluate.saturation.observed_fraction": 0.95}
    assert not mostly_unsaturated(full)
    # fully saturated: no units and no loss floor to hold, the saturation is
    assert _verdicts(full, "legacy") == {"learns_structure": PASS, "saturation": PASS}


def test_legacy_ratio_pair(tol):
    ok = check_legacy_ratio(LEGACY, CLEAN, LEDGER)
    assert ok.verdict == PASS and ok.value == pytest.approx(0.258 / 0.96, rel=tol("arithmetic.float64"))
    # legacy trained in current units (the g factor lost on the legacy path): ratio 1 vs g
    lost = check_legacy_ratio({**LEGACY, "evaluate.saturation.unsaturated_ls_scalar": 0.96},
                              CLEAN, LEDGER)
    assert lost.verdict == FAIL and "0.267" in lost.detail
    # the bound is the ledger's, not derived from the value: 6% off g fails, 4% passes
    tol = LEDGER.test_tolerance("parity.invariants.legacy_ratio")
    near = 0.267 * 0.96 * (1 + tol - 0.01)
    far = 0.267 * 0.96 * (1 + tol + 0.01)
    assert check_legacy_ratio({**LEGACY, "evaluate.saturation.unsaturated_ls_scalar": near},
                              CLEAN, LEDGER).verdict == PASS
    assert check_legacy_ratio({**LEGACY, "evaluate.saturation.unsaturated_ls_scalar": far},
                              CLEAN, LEDGER).verdict == FAIL
    short = {**LEGACY, "evaluate.saturation.unsaturated_ls_scalar": 0.96,
             "evaluate.verifies_learning": False, "evaluate.verifies_legacy_ratio": False}
    assert check_legacy_ratio(short, CLEAN, LEDGER).verdict == WARN
    # a tier that holds learning but not the ratio (gs2_custom, trained): reported
    unconverged = {**LEGACY, "evaluate.saturation.unsaturated_ls_scalar": 0.96,
                   "evaluate.verifies_legacy_ratio": False}
    assert check_legacy_ratio(unconverged, CLEAN, LEDGER).verdict == WARN
    assert check_legacy_ratio({**LEGACY, "evaluate.saturation.unsaturated_ls_scalar": 0.96},
                              {**CLEAN, "evaluate.verifies_legacy_ratio": False},
                              LEDGER).verdict == WARN
    assert check_legacy_ratio({**LEGACY, "evaluate.saturation.predicted_fraction": 0.9},
                              CLEAN, LEDGER) is None
    assert check_legacy_ratio({**LEGACY, "train.mode": "probe"}, CLEAN, LEDGER) is None


CURVE = {**CLEAN, "train.curve.epoch": [5, 10], "train.curve.amplitude_pearson": [0.9, 0.950],
         "train.curve.rmse_ratio": [0.6, 0.4], A + "rmse.model": 0.2, A + "rmse.baseline": 0.5}


def test_curve_ends_at_evaluate_holds_only_the_same_computation():
    """Applies only with a curve; passes when its last point is the evaluate stage's; fails
    when the curve stopped early or its last point judged other weights or data."""
    assert "curve_ends_at_evaluate" not in _verdicts(CLEAN)
    assert _verdicts(CURVE)["curve_ends_at_evaluate"] == PASS
    for bad in ({"train.curve.epoch": [5, 9]},                        # last point not at the end
                {"train.curve.amplitude_pearson": [0.9, 0.949]},     # another model's r
                {"train.curve.rmse_ratio": [0.6, 0.41]},             # another RMSE
                {"train.curve.amplitude_pearson": [0.9, math.nan]},
                {"train.curve.rmse_ratio": [0.6, None]},             # a metric that was None
                {A + "rmse.baseline": 0.0}):
        assert _verdicts({**CURVE, **bad})["curve_ends_at_evaluate"] == FAIL, bad
