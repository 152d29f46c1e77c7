"""Training: data preparation, NaN guard, trainable scale/probe, history, determinism, and
short `slow` training runs (gs1/gs2, ideal/experimental probe)."""
import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ptycho.config import replace
from ptycho.errors import ConfigError, NonFiniteLossError
from ptycho.model import model_probe, model_scales
from ptycho.scaling import plan_scales
from ptycho.train import (
    check_plan,
    max_relative_offset,
    split_indices,
    train,
    training_arrays,
)

from ._pipeline import small_setup

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_training_arrays_are_scaled_fed_data_and_its_square(tol):
    _, grouped, container, plan, _ = small_setup(gridsize=2, data_feed="normalized",
                                                 scale_source="closed_form")
    inputs, labels = training_arrays(container, plan)
    X_fed = plan.feed_gain * grouped.diffraction.astype(np.float64)
    np.testing.assert_allclose(labels["amplitude"], plan.external_scale * X_fed,
                               rtol=tol("train.float32_labels"))
    np.testing.assert_allclose(labels["counts"], labels["amplitude"].astype(np.float64) ** 2,
                               rtol=tol("train.float32_labels"))
    np.testing.assert_array_equal(inputs["diffraction"], labels["amplitude"])
    assert inputs["coords_relative"].shape == (len(container), 1, 2, 4)
    # legacy: network input / X_raw = s_cf * g / s_cf = g
    assert plan.network_input_gain == pytest.approx(plan.gain, rel=tol("train.float32_labels"))
    assert max_relative_offset(container) == pytest.approx(grouped.max_offset,
                                                           rel=tol("train.float32_value"))


def test_check_plan_rejects_mismatched_plan():
    _, _, container, plan, config = small_setup(data_feed="normalized")
    raw_config = replace(config, data_feed="raw")
    with pytest.raises(ConfigError) as exc:
        check_plan(container, plan, raw_config)
    assert exc.value.field == "plan.data_feed"
    raw_plan = plan_scales(container.X_np / container.feed_gain, raw_config)
    with pytest.raises(ConfigError) as exc:      # container holds X_norm, plan says raw feed
        check_plan(container, raw_plan, raw_config)
    assert exc.value.field == "plan.feed_gain"
    with pytest.raises(ConfigError) as exc:
        check_plan(container, plan, replace(config, **{"model.N": 32}))
    assert exc.value.field == "container.X_np"
    # a container shape that compares greater than the config's, here more channels (gridsize
    # 2 data, a gridsize 1 config): mutation testing found `!=` -> `<` on the shape tuple
    # surviving while only a larger configured N was tried
    _, _, container4, plan4, config4 = small_setup(gridsize=2, data_feed="normalized")
    with pytest.raises(ConfigError) as exc:
        check_plan(container4, plan4, replace(config4, **{"model.gridsize": 1}))
    assert exc.value.field == "container.X_np"


def test_split_is_seeded_disjoint_and_complete():
    tr, va = split_indices(40, 0.1, seed=3)
    tr2, va2 = split_indices(40, 0.1, seed=3)
    np.testing.assert_array_equal(tr, tr2)
    np.testing.assert_array_equal(va, va2)
    assert len(va) == 4 and not set(tr) & set(va) and len(tr) + len(va) == 40
    assert not np.array_equal(va, split_indices(40, 0.1, seed=4)[1])
    assert len(split_indices(1, 0.5, seed=0)[0]) == 1


def test_nan_guard_stops_at_the_first_non_finite_batch():
    _, _, container, plan, config = small_setup(n_groups=24, validation_split=0.0, batch_size=4,
                                                nepochs=2)
    container.X_np[9, 3, 3, 0] = np.nan           # group 9 -> batch 2 (no shuffle)
    with pytest.raises(NonFiniteLossError) as exc:
        train(container, plan, config, shuffle=False)
    assert (exc.value.epoch, exc.value.step) == (0, 2)
    assert not math.isfinite(exc.value.value)


def test_nan_guard_reports_infinite_data():
    _, _, container, plan, config = small_setup(n_groups=16, validation_split=0.0, batch_size=8)
    container.X_np[12] = np.inf                   # second batch
    with pytest.raises(NonFiniteLossError) as exc:
        train(container, plan, config, shuffle=False)
    assert (exc.value.epoch, exc.value.step) == (0, 1)


@pytest.mark.parametrize("trainable", [False, True])
def test_output_scale_moves_only_when_trainable(trainable, tmp_path, tol):
    _, grouped, container, plan, config = small_setup(
        n_groups=16, nepochs=1, **{"model.intensity_scale_trainable": trainable,
                                   "model.probe_trainable": trainable})
    # the scales the model must start from, from their definitions (docs/design.md §4), not
    # from the plan the model is built from: input s_cf = sqrt(nphotons)/(N/2); output the dataset
    # scale sqrt(nphotons / E[sum X_raw^2]) (current profile) or s_cf
    N = config.model.N
    s_cf = math.sqrt(config.nphotons) / (N / 2)
    x = np.asarray(grouped.diffraction, np.float64)
    s_data = math.sqrt(config.nphotons / np.mean(np.sum(x * x, axis=(1, 2))))
    out_expected = s_data if config.scale_source == "dataset" else s_cf
    assert plan.input_scaler == pytest.approx(s_cf, rel=tol("scaling.identity"))
    assert plan.output_scaler == pytest.approx(out_expected, rel=tol("scaling.identity"))
    result = train(container, plan, config, history_path=tmp_path / "history.json")
    model = result.model
    s_in, s_out = model_scales(model)
    log_in = model.get_layer("input_scaler").log_scale.numpy()
    log_out = model.get_layer("output_scaler").log_scale.numpy()
    probe_after = model_probe(model)
    if trainable:
        assert log_out != np.float32(math.log(out_expected))
        assert log_in != np.float32(math.log(s_cf))
        assert not np.array_equal(probe_after, container.probe_np)
    else:
        # never moved: the float32 log of the defined scale, within the storage rounding
        assert s_in == pytest.approx(s_cf, rel=tol("model.scale_weight"))
        assert s_out == pytest.approx(out_expected, rel=tol("model.scale_weight"))
        assert log_in == np.float32(math.log(plan.input_scaler))   # bit-identical
        assert log_out == np.float32(math.log(plan.output_scaler))
        np.testing.assert_array_equal(probe_after, container.probe_np)
    # the result reports the trained weights (breaker: scales read before fit)
    assert result.scales == {"input_scale": float(np.exp(log_in)),
                             "output_scale": float(np.exp(log_out))}


def test_history_json_is_written_atomically(tmp_path, tol):
    _, _, container, plan, config = small_setup(n_groups=16, nepochs=2, validation_split=0.25)
    path = tmp_path / "out" / "history.json"
    result = train(container, plan, config, history_path=path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["history.json"]
    data = json.loads(path.read_text())
    assert set(data["history"]) >= {"loss", "val_loss", "lr"}
    assert len(data["history"]["loss"]) == 2 and len(data["epoch_seconds"]) == 2
    assert data["n_train"] == 12 and data["n_val"] == 4
    assert data["parameters"]["trainable"] == result.parameters["trainable"]
    assert data["plan"]["output_scaler"] == pytest.approx(plan.output_scaler, rel=tol("arithmetic.float64"))
    assert data["history"]["lr"][0] == pytest.approx(config.learning_rate,
                                                  rel=tol("train.float32_value"))


_DETERMINISM_SCRIPT = textwrap.dedent("""
    import hashlib, sys
    sys.path.insert(0, {root!r})
    import numpy as np
    from tests.ptycho._pipeline import small_setup
    from ptycho.train import train
    _, _, container, plan, config = small_setup(gridsize=2, n_groups=24, nepochs=1,
                                                validation_split=0.2, seed={seed})
    result = train(container, plan, config)
    h = hashlib.sha256()
    for w in result.model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    print("WEIGHTS", h.hexdigest())
""")


def _weights_hash_in_fresh_process(seed):
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="2",
               CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", _DETERMINISM_SCRIPT.format(root=ROOT, seed=seed)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("WEIGHTS ")]
    assert len(lines) == 1, proc.stdout[-2000:]
    return lines[0].split()[1]


@pytest.mark.slow
def test_same_seed_gives_identical_weights_after_one_epoch_in_fresh_processes():
    first = _weights_hash_in_fresh_process(seed=3)
    second = _weights_hash_in_fresh_process(seed=3)
    assert first == second


def test_different_seed_gives_different_weights():
    """Same data, same groups, only TrainingConfig.seed differs: the weights differ (the seed
    reaches the initializers and the shuffling), and the same seed twice gives the same
    weights in one process. Breaker: a train() that seeds from a constant instead of
    config.seed (with the data also drawn from the seed, as before, this passed anyway)."""
    _, _, container, plan, config = small_setup(n_groups=16, seed=3)

    def weights(seed):
        return train(container, plan, replace(config, seed=seed)).model.get_weights()

    a, b, again = weights(3), weights(4), weights(3)
    assert any(not np.array_equal(x, y) for x, y in zip(a, b))
    assert all(np.array_equal(x, y) for x, y in zip(a, again))


# ------------------------------------------------------------------ slow: short trainings
def _short_run(**kw):
    raw, grouped, container, plan, config = small_setup(**kw)
    result = train(container, plan, config)
    for name, values in result.history.items():
        assert all(math.isfinite(v) for v in values), name
    assert all(np.all(np.isfinite(w)) for w in result.model.get_weights())
    return result


@pytest.mark.slow
@pytest.mark.parametrize("gridsize", [1, 2])
def test_short_training_ideal_probe_has_no_nan(gridsize):
    result = _short_run(N=32, gridsize=gridsize, n_points=96, n_groups=64, nepochs=3,
                        validation_split=0.125)
    assert result.history["loss"][-1] < result.history["loss"][0]


@pytest.mark.slow
@pytest.mark.parametrize("gridsize,profile", [(1, "current"), (2, "legacy")])
def test_short_training_experimental_probe_has_no_nan(gridsize, profile, experimental_probe_path):
    legacy = profile == "legacy"
    result = _short_run(N=64, gridsize=gridsize, n_points=48, n_groups=32, nepochs=2,
                        probe_source=str(experimental_probe_path), object_size=160,
                        validation_split=0.125,
                        data_feed="normalized" if legacy else "raw",
                        scale_source="closed_form" if legacy else "dataset",
                        nll_form="full" if legacy else "mean",
                        grouping_strategy="legacy" if legacy else "current",
                        **{"model.amp_activation": "sigmoid" if legacy else "softplus",
                           "model.probe_mask": legacy})
    assert result.history["loss"][-1] < result.history["loss"][0]


# ------------------------------------------------------------------ slow: physics bound
def _patch_amplitude_ratio(result, grouped, container, plan):
    """LS scalar of reconstructed vs true patch amplitudes over the illuminated pixels."""
    from ptycho.evaluation import ls_scalar
    from ptycho.inference import reconstruct

    probe = np.abs(container.probe_np)
    illum = probe > 0.1 * probe.max()
    recon = np.abs(reconstruct(result.diffraction_to_obj, container, plan))[..., 0]
    truth = np.abs(grouped.Y)[..., 0]
    return ls_scalar(recon[:, illum], truth[:, illum])


_BOUND_SETUP = dict(N=32, gridsize=1, n_points=256, n_groups=256, object_size=192,
                    nepochs=15, batch_size=16, validation_split=0.1)


@pytest.mark.slow
def test_trained_amplitude_is_in_true_units_current_profile(tol):
    """Current profile (s_cf in, s out): reconstructed amplitude ~ |O_true| (LS scalar ~ 1).
    Measured 0.94-0.97 over epochs 5-15 at this size (issue 3 target at N=64: [0.95, 1.05])."""
    raw, grouped, container, plan, config = small_setup(**_BOUND_SETUP)
    assert plan.amplitude_ratio == pytest.approx(1.0, rel=tol("scaling.identity"))
    result = train(container, plan, config)
    ratio = _patch_amplitude_ratio(result, grouped, container, plan)
    assert ratio == pytest.approx(1.0, rel=tol("train.trained_scale_current"))


@pytest.mark.slow
def test_trained_legacy_amplitude_ratio_equals_predicted_gain(tol):
    """Legacy profile (fed X_norm, s_cf in and out, sigmoid, full NLL): the reconstructed
    amplitude is g*|O_true|; the predicted ratio (ScalePlan.amplitude_ratio = g) is checked
    before training and the measured LS scalar after (issue 3: within 5%)."""
    raw, grouped, container, plan, config = small_setup(
        data_feed="normalized", scale_source="closed_form", nll_form="full",
        grouping_strategy="legacy", **{"model.amp_activation": "sigmoid"}, **_BOUND_SETUP)
    g = plan.gain
    assert plan.amplitude_ratio == pytest.approx(g, rel=tol("train.float32_labels"))
    # reachable: g*|O| stays below the sigmoid ceiling for the illuminated targets
    assert g * np.abs(grouped.Y).max() < 1.0
    result = train(container, plan, config)
    ratio = _patch_amplitude_ratio(result, grouped, container, plan)
    assert ratio == pytest.approx(g, rel=tol("train.legacy_ratio"))
