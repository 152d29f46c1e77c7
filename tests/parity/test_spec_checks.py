"""The stage specification checks (parity.checks.specs) in a replay: on clean replays every
spec_* check that applies passes; each realistic product bug below (the product patched the way
the bug would do it) makes its specification check fail, naming the stage where the bug lives,
and no check fails at an earlier stage."""
import math

import numpy as np
import pytest

from parity.checks import FAIL, PASS, REGISTRY, evaluate, first_failure
from parity.model_cache import ModelCache
from parity.records import CORE_STAGES, DIAGNOSTIC_STAGES
from parity.replay import ReplaySpec, resolve, run_stages
from parity.specs.measure import clear_cache
from parity.tolerances import load_ledger
from tests.conftest import LEDGER_PATH

LEDGER = load_ledger(LEDGER_PATH)
ALL = CORE_STAGES + DIAGNOSTIC_STAGES
DATA = CORE_STAGES[:CORE_STAGES.index("labels") + 1]
SPEC_CHECKS = {n: c for n, c in REGISTRY.items() if n.startswith("spec_")}


@pytest.fixture(scope="module")
def models():
    return ModelCache()


def _checks(scenario, profile="current", stages=ALL, models=None):
    clear_cache()
    spec = ReplaySpec(scenario, profile)
    record = run_stages(resolve(spec), stages=stages,
                        models=models or ModelCache()).to_dict()
    clear_cache()
    return record, {c.name: c for c in evaluate(record, LEDGER)}


@pytest.fixture(scope="module")
def clean(models):
    """gs2_ideal (legacy) and gs1_custom_trainable (current: trainable scalars, C = 1, the
    training contract's replay)."""
    return {s: _checks(s, p, models=models)
            for s, p in (("gs2_ideal", "legacy"), ("gs1_custom_trainable", "current"))}


def test_every_specification_check_runs_and_passes_on_clean_replays(clean):
    seen = set()
    for scenario, (_, checks) in clean.items():
        for name in SPEC_CHECKS:
            if name in checks:
                seen.add(name)
                assert checks[name].verdict == PASS, (scenario, checks[name])
                assert checks[name].stage == SPEC_CHECKS[name].stage
    # the ideal-probe geometry needs gs2_ideal, the C = 1 units and the training contract
    # gs1_custom_trainable: together every specification check applies somewhere
    assert seen == set(SPEC_CHECKS)


def test_specification_checks_do_not_apply_without_measurements(clean):
    """A record without spec values (a tier outside SPEC_TIERS) gets none of these checks,
    and no failure from them."""
    record, _ = clean["gs2_ideal"]
    stripped = {**record, "values": {k: v for k, v in record["values"].items() if ".spec." not in k}}
    names = {c.name for c in evaluate(stripped, LEDGER)}
    assert not names & set(SPEC_CHECKS)


def _assert_caught(checks, name):
    assert checks[name].verdict == FAIL, checks[name]
    first = first_failure(list(checks.values()))
    assert first is not None and first.stage == SPEC_CHECKS[name].stage, (name, first)


# ---------------------------------------------------------------------------- data stages
def _breaker_swapped_blur(monkeypatch):
    from ptycho import objects
    monkeypatch.setattr(objects, "LINES_FILTER", ((1.0, 5.0), (5.0, 2.0), (10.0, 1.0)))


def _breaker_grf_phase_from_amplitude(monkeypatch):
    """The blind batch's grf_phase_from_amplitude_field: grf_object's phase made from the
    amplitude's field (every second field of a call repeats the first)."""
    from ptycho import objects
    real, last = objects.gaussian_random_field, []

    def field(shape, correlation_length, rng):
        out = real(shape, correlation_length, rng)
        if last:
            return last.pop()
        last.append(out)
        return out
    monkeypatch.setattr(objects, "gaussian_random_field", field)


def _breaker_window_pi(monkeypatch):
    from ptycho import probe
    real = probe.gaussian
    monkeypatch.setattr(probe, "gaussian", lambda n, std, sym: real(n, std=std * math.pi, sym=sym))


def _breaker_diagonal_scan(monkeypatch):
    from ptycho import simulate
    real = simulate.random_scan

    def diagonal(shape, n, *, buffer, seed):
        x, _ = real(shape, n, buffer=buffer, seed=seed)
        return x, x.copy()
    monkeypatch.setattr(simulate, "random_scan", diagonal)


def _breaker_no_fftshift(monkeypatch):
    from ptycho import simulate
    monkeypatch.setattr(simulate, "diffract_np",
                        lambda psi: np.abs(np.fft.fft2(psi, axes=(-2, -1))) / psi.shape[-1])


def _breaker_unordered_channels(monkeypatch):
    from ptycho import grouping
    monkeypatch.setattr(grouping, "order_members", lambda members, x, y, gridsize: members)


def _breaker_gain_of_n(monkeypatch):
    from ptycho import scaling
    monkeypatch.setattr(scaling, "gain_from_energy", lambda energy, N: math.sqrt(N * N / energy))


def _breaker_counts_per_group(monkeypatch):
    from ptycho import train
    real = train.training_arrays

    def per_group(container, plan):
        inputs, labels = real(container, plan)
        C = labels["counts"].shape[-1]
        return inputs, {**labels, "counts": labels["counts"] * np.float32(C)}
    monkeypatch.setattr(train, "training_arrays", per_group)


DATA_BREAKERS = {
    "spec_object_recipe": ("gs1_ideal", _breaker_swapped_blur),
    "spec_object_grf": ("gs1_ideal", _breaker_grf_phase_from_amplitude),
    "spec_probe_recipe": ("gs1_ideal", _breaker_window_pi),
    "spec_scan_stream": ("gs1_ideal", _breaker_diagonal_scan),
    "spec_simulate_poisson": ("gs1_ideal", _breaker_no_fftshift),
    "spec_group_order": ("gs2_ideal", _breaker_unordered_channels),
    "spec_normalize_reference": ("gs2_ideal", _breaker_gain_of_n),
    "spec_labels_reference": ("gs2_ideal", _breaker_counts_per_group),
}


@pytest.mark.parametrize("name", sorted(DATA_BREAKERS))
def test_data_stage_bug_fails_its_specification(name, monkeypatch):
    scenario, breaker = DATA_BREAKERS[name]
    breaker(monkeypatch)
    _, checks = _checks(scenario, stages=DATA)
    _assert_caught(checks, name)


# ---------------------------------------------------------------------------- model stages
def test_inference_stitch_and_metric_bugs_fail_their_specifications(monkeypatch, models):
    """Three bugs at once, each in its own stage: reconstruct() feeds X_fed scaled by the input
    scaler (s_cf) instead of the external scale; the stitch splats with its bilinear weights
    swapped; Pearson r forgets to remove the means."""
    from ptycho import inference, stitching
    from ptycho.evaluation import report

    monkeypatch.setattr(inference, "scaled_diffraction", lambda c, plan: (
        np.asarray(c.X_np, np.float64) * plan.input_scaler).astype(np.float32))
    real_splat = stitching._splat

    def swapped(canvas, block, top, left):
        r0, c0 = math.floor(top), math.floor(left)
        real_splat(canvas, block, r0 + 1 - (top - r0), c0 + 1 - (left - c0))
    monkeypatch.setattr(stitching, "_splat", swapped)
    monkeypatch.setattr(report, "pearson", lambda a, b: float(
        np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b))))
    _, checks = _checks("gs2_ideal", models=models)
    for name in ("spec_infer_path", "spec_stitch_reference", "spec_evaluate_reference"):
        assert checks[name].verdict == FAIL, checks[name]
        assert checks[name].stage == SPEC_CHECKS[name].stage
    assert first_failure(list(checks.values())).stage == "infer"


def test_frozen_scale_weights_fail_the_training_contract(monkeypatch, models):
    """Breaker: the training loop's optimizer skips the scale weights (their gradient dropped
    from the update, a classic Keras-3 'trainable but not updated' bug) while they stay listed
    as trainable."""
    from ptycho import train
    from ptycho.model import INPUT_SCALER, OUTPUT_SCALER

    real = train.compile_model

    def skipping(model, config):
        real(model, config)
        opt = model.optimizer
        apply = opt.apply

        def without_scales(grads, trainable_variables=None):
            pairs = [(g, w) for g, w in zip(grads, trainable_variables)
                     if not getattr(w, "path", w.name).startswith((INPUT_SCALER + "/",
                                                                   OUTPUT_SCALER + "/"))]
            return apply([g for g, _ in pairs], [w for _, w in pairs])
        opt.apply = without_scales
    monkeypatch.setattr(train, "compile_model", skipping)
    _, checks = _checks("gs1_custom_trainable", "current", stages=CORE_STAGES + ("train",),
                        models=models)
    assert checks["spec_train_contract"].verdict == FAIL, checks["spec_train_contract"]
    assert checks["spec_train_contract"].stage == "train"


def test_head_without_fftshift_fails_the_inference_units(monkeypatch):
    """Breaker: the model's diffraction head leaves the far field unshifted (DC in the corner
    instead of at (N/2, N/2)): the patches the inference path returns no longer diffract to the
    counts the model predicts under the documented physics (C = 1)."""
    from ptycho import layers
    from ptycho.tfload import tf as _tf

    tf = _tf()
    real = layers.diffract_tf_channels_last
    monkeypatch.setattr(layers, "diffract_tf_channels_last",
                        lambda psi: tf.signal.ifftshift(real(psi), axes=(1, 2)))
    _, checks = _checks("gs1_ideal", stages=CORE_STAGES + ("infer",))
    assert checks["spec_infer_units"].verdict == FAIL, checks["spec_infer_units"]
    assert checks["spec_infer_units"].stage == "infer"


# ------------------------------------------------------- added after the blind batch's misses
def _breaker_registration_sign(monkeypatch):
    """measure_shift reports the displacement with the opposite sign (blind batch:
    registration_shift_sign)."""
    from ptycho import evaluation
    real = evaluation.measure_shift

    def flipped(*args, **kwargs):
        out = real(*args, **kwargs)
        return {**out, "shift": [-s + 0.0 for s in out["shift"]]}
    monkeypatch.setattr(evaluation, "measure_shift", flipped)


def _breaker_conjugated_object(monkeypatch):
    """CombineComplex builds A exp(-i phi) (blind batch: object_phase_conjugated)."""
    from ptycho import layers
    real = layers.CombineComplex.call
    monkeypatch.setattr(layers.CombineComplex, "call",
                        lambda self, amplitude, phase: real(self, amplitude, -phase))


def _breaker_validation_in_training(monkeypatch):
    """split_indices trains on every group, validation ones included (blind batch:
    validation_in_training_set)."""
    from ptycho import train
    real = train.split_indices

    def leaky(n, validation_split, seed):
        _, val = real(n, validation_split, seed)
        return np.arange(n), val
    monkeypatch.setattr(train, "split_indices", leaky)


MODEL_BREAKERS = {
    "spec_evaluate_registration": _breaker_registration_sign,
    "spec_forward_object": _breaker_conjugated_object,
    "spec_train_split": _breaker_validation_in_training,
}


@pytest.mark.parametrize("name", sorted(MODEL_BREAKERS))
def test_blind_batch_misses_fail_their_specification(name, monkeypatch):
    """gs2_ideal/legacy: its profile has a validation split, its object a phase."""
    MODEL_BREAKERS[name](monkeypatch)
    _, checks = _checks("gs2_ideal", "legacy")
    _assert_caught(checks, name)
