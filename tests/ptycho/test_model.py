"""The Keras-3 PINN (docs/design.md §7): architecture, physics head vs the numpy reference, per-group
batching, trainable weights and the .keras round trip."""
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from ptycho.canvas import support_window
from ptycho.config import ModelConfig, TrainingConfig
from ptycho.errors import ConfigError
from ptycho.layers import translate
from ptycho.model import (
    INPUT_SCALER,
    build_model,
    count_parameters,
    decoder_filters,
    encoder_filters,
    load_model,
    model_probe,
    model_scales,
    physics_head,
    save_model,
)
from ptycho.objects import lines_object
from ptycho.physics import forward_np
from ptycho.probe import ideal_probe, make_probe, normalize_probe, probe_mask
from ptycho.simulate import extract_patches

S_IN, S_OUT = 988.2117, 412.5


def _build(N=32, gridsize=1, nfs=1, max_offset=0.0, seed=1, probe=None, **model_kw):
    mc = ModelConfig(N=N, gridsize=gridsize, n_filters_scale=nfs, **model_kw)
    probe = make_probe(mc) if probe is None else probe
    model, d2o = build_model(mc, probe=probe, input_scale=S_IN, output_scale=S_OUT,
                             max_offset=max_offset, seed=seed)
    return mc, model, d2o


def _group(obj, rel_xy, centroid=(96.0, 96.0), N=64):
    """One group: true patches (1, N, N, C) cut from obj and coords_relative (1, 1, 2, C)."""
    rel_xy = np.asarray(rel_xy, dtype=np.float64)            # (2, C) coords - centroid
    xs, ys = centroid[0] + rel_xy[0], centroid[1] + rel_xy[1]
    Y = extract_patches(obj, xs, ys, N)                      # (C, N, N)
    coords_relative = -rel_xy[None, None]                    # (1, 1, 2, C)
    return np.transpose(Y, (1, 2, 0))[None], coords_relative, Y


# ------------------------------------------------------------------ architecture
def test_filters_follow_design_ladder():
    assert encoder_filters(64, 2) == [64, 128, 256]          # nfs * [32, 64, 128]
    assert decoder_filters(64, 2) == [128, 64]
    assert encoder_filters(128, 1) == [32, 64, 128, 256]     # one more stage per doubling
    assert encoder_filters(16, 1) == [32] and decoder_filters(16, 1) == []
    assert encoder_filters(64, 1, 16) == [16, 32, 64]        # base_filters halves the width
    assert decoder_filters(64, 2, 16) == [64, 32]


def test_base_filters_sets_the_built_width():
    """ModelConfig.base_filters reaches the built layers: kernels (3, 3, C_in, C_out) of the
    encoder and decoder stages at N=32 (two stages), base 8, nfs 1."""
    _, model, _ = _build(N=32, nfs=1, base_filters=8)
    shape = {name: tuple(model.get_layer(name).kernel.shape)
             for name in ("enc0_conv0", "enc1_conv1", "amp_dec0_conv0", "phase_last")}
    assert shape == {"enc0_conv0": (3, 3, 1, 8), "enc1_conv1": (3, 3, 16, 16),
                     "amp_dec0_conv0": (3, 3, 16, 8), "phase_last": (3, 3, 8, 1)}


def test_parameter_count_n64_nfs2_gs1_matches_design():
    _, model, _ = _build(N=64, nfs=2)
    counts = count_parameters(model)
    # docs/design.md §11: ~2.25 M parameters; exact count of this ladder (convs only are trainable)
    assert counts["trainable"] == 2_252_098
    # probe (2 x 64 x 64) and the two scalar scale weights are frozen by default
    assert counts["non_trainable"] == 2 * 64 * 64 + 2


@pytest.mark.parametrize("activation,ceiling", [("sigmoid", 1.0), ("scaled_sigmoid", 3.5)])
def test_bounded_amplitude_activation_respects_ceiling(activation, ceiling):
    kw = {"amp_ceiling": ceiling} if activation == "scaled_sigmoid" else {}
    _, _, d2o = _build(N=16, amp_activation=activation, **kw)
    x = np.random.default_rng(0).uniform(0, 1e7, (4, 16, 16, 1)).astype(np.float32)
    amp = np.abs(d2o.predict(x, verbose=0))
    assert amp.max() <= ceiling * (1 + 1e-6)
    assert amp.max() > 0


def test_softplus_amplitude_is_unbounded():
    _, _, d2o = _build(N=16, amp_activation="softplus")
    x = np.random.default_rng(0).uniform(0, 1e9, (4, 16, 16, 1)).astype(np.float32)
    assert np.abs(d2o.predict(x, verbose=0)).max() > 1.0


def test_object_is_zero_outside_central_half_and_phase_in_range(tol):
    """The phase head is pi*tanh: strictly inside (-pi, pi) before it is wrapped into the
    complex object, +-pi for saturated logits, and it is the object's angle. (np.angle of the
    object is in [-pi, pi] whatever the head does: the head's own output is what to bound.)
    Breakers: a head of tanh (range +-1) or of 2*pi*tanh (wraps)."""
    from ptycho.tfload import keras as load_keras

    keras = load_keras()
    _, _, d2o = _build(N=32, gridsize=2)
    x = np.random.default_rng(2).uniform(0, 3e4, (3, 32, 32, 4)).astype(np.float32)
    obj = d2o.predict(x, verbose=0)
    assert obj.dtype == np.complex64 and obj.shape == (3, 32, 32, 4)
    outside = support_window(32, 16)[None, :, :, None] == 0
    assert np.all(np.broadcast_to(outside, obj.shape) <= (obj == 0))
    head = d2o.get_layer("phase_activation")
    phase = keras.Model(d2o.inputs, head.output).predict(x, verbose=0)
    assert phase.shape == (3, 16, 16, 4)
    assert np.all(np.abs(phase) < np.pi) and np.abs(phase).max() > 0
    centre = obj[:, 8:24, 8:24, :]
    lit = np.abs(centre) > 0
    wrapped = np.angle(centre[lit] * np.exp(-1j * phase[lit].astype(np.float64)))
    assert lit.any() and np.abs(wrapped).max() <= tol("model.phase_range") * np.pi
    saturated = np.asarray(head(np.array([-60.0, 0.0, 60.0], np.float32)))
    assert saturated[1] == 0.0
    np.testing.assert_allclose(saturated[[0, 2]], [-np.pi, np.pi], rtol=tol("model.phase_range"),
                               atol=0)


def test_input_scaler_divides_network_input(tol):
    from ptycho.tfload import keras as load_keras

    keras = load_keras()
    _, model, _ = _build(N=16)
    probe_in = keras.Model(model.inputs[0], model.get_layer(INPUT_SCALER).output)
    x = np.random.default_rng(3).uniform(0, 5e4, (2, 16, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(probe_in.predict(x, verbose=0), x / S_IN,
                               rtol=tol("model.scale_weight"))
    s_in, s_out = model_scales(model)
    assert s_in == pytest.approx(S_IN, rel=tol("model.scale_weight"))
    assert s_out == pytest.approx(S_OUT, rel=tol("model.scale_weight"))


def test_same_seed_same_initial_weights_other_seed_differs():
    _, m1, _ = _build(N=16, seed=5)
    _, m2, _ = _build(N=16, seed=5)
    _, m3, _ = _build(N=16, seed=6)
    for a, b in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(m1.get_weights(), m3.get_weights()))


def test_build_model_rejects_bad_arguments():
    mc = ModelConfig(N=16)
    probe = make_probe(mc)
    with pytest.raises(ConfigError) as exc:
        build_model(mc, probe=probe[:8], input_scale=1.0, output_scale=1.0)
    assert exc.value.field == "probe"
    with pytest.raises(ConfigError) as exc:
        build_model(mc, probe=probe, input_scale=0.0, output_scale=1.0)
    assert exc.value.field == "input_scale"
    with pytest.raises(ConfigError) as exc:
        build_model(mc, probe=probe, input_scale=1.0, output_scale=float("nan"))
    assert exc.value.field == "output_scale"
    with pytest.raises(ConfigError) as exc:
        build_model(mc, probe=probe, input_scale=1.0, output_scale=1.0, max_offset=-1)
    assert exc.value.field == "max_offset"
    with pytest.raises(ConfigError) as exc:
        build_model(mc, TrainingConfig(model=ModelConfig(N=32)), probe=probe,
                    input_scale=1.0, output_scale=1.0)
    assert exc.value.field == "training_config.model"


# ------------------------------------------------------------------ translation convention
def test_translate_matches_extract_patches_at_subpixel_offsets(tol):
    """Cutting at +coords_relative from a canvas centred on the centroid gives the patch
    centred at the scan position (same bilinear/zero-fill convention as extract_patches)."""
    obj = lines_object(160, seed=4)
    N, M = 32, 64
    cx, cy = 80.0, 77.0                                      # integer centroid: exact canvas
    rel = np.array([[3.25, -7.5, 0.4, 11.9], [-2.75, 5.1, -9.6, 0.0]])  # coords - centroid
    canvas = extract_patches(obj, [cx], [cy], M)[0]
    truth = extract_patches(obj, cx + rel[0], cy + rel[1], N)
    pad = (M - N) // 2
    images = np.repeat(np.stack([canvas.real, canvas.imag], -1)[None], 4, 0).astype(np.float32)
    cut = translate(images, (-rel.T).astype(np.float32), output_size=N, offset=pad).numpy()
    got = cut[..., 0] + 1j * cut[..., 1]
    err = np.abs(got - truth).max() / np.abs(truth).max()
    assert err <= tol("model.translate_vs_numpy")


# ------------------------------------------------------------------ physics head vs numpy
@pytest.mark.parametrize("use_mask", [True, False])
def test_physics_head_equals_numpy_reference_gs2(use_mask, tol):
    """Object + probe + offsets -> amplitude: the model head vs ptycho.physics.forward_np."""
    obj = lines_object(192, seed=7)
    rel = np.array([[-12.0, 9.0, 14.0, -11.0], [6.0, -13.0, 10.0, -3.0]])
    rel -= rel.mean(axis=1, keepdims=True)                   # integer, centroid at 0
    Y, coords, Ymat = _group(obj, rel)
    mc, model, _ = _build(N=64, gridsize=2, max_offset=np.abs(coords).max(), probe_mask=use_mask,
                          probe_scale=4.0)
    probe = make_probe(mc)
    amp, counts = physics_head(model, Y * support_window(64, 32)[None, :, :, None], coords)
    ref = S_OUT * forward_np(Ymat, probe, probe_mask(64) if use_mask else None)
    got = np.transpose(amp.numpy()[0], (2, 0, 1))
    assert np.abs(got - ref).max() / ref.max() <= tol("model.head_vs_numpy")
    np.testing.assert_allclose(counts.numpy(), amp.numpy() ** 2, rtol=tol("model.head_vs_numpy"))


def test_physics_head_equals_numpy_reference_gs1_experimental_probe(tol, experimental_probe_path):
    from ptycho.probe import load_probe

    obj = lines_object(128, seed=8)
    Y, coords, Ymat = _group(obj, np.zeros((2, 1)), centroid=(63.3, 70.6))
    probe = normalize_probe(load_probe(experimental_probe_path), 4.0)
    mc, model, _ = _build(N=64, gridsize=1, probe=probe)
    window = support_window(64, 32)
    amp, _ = physics_head(model, Y, coords)
    ref = S_OUT * forward_np(Ymat * window, probe)
    got = np.transpose(amp.numpy()[0], (2, 0, 1))
    assert np.abs(got - ref).max() / ref.max() <= tol("model.head_vs_numpy")


def test_offsets_of_32_px_lose_no_content_at_n64(tol):
    obj = lines_object(256, seed=9)
    rel = np.array([[-32.0, 32.0, 10.0, -10.0], [5.0, -7.0, 32.0, -30.0]])
    Y, coords, Ymat = _group(obj, rel, centroid=(128.0, 128.0))
    assert np.abs(coords).max() == 32.0
    probe = make_probe(ModelConfig(N=64))
    ref = S_OUT * forward_np(Ymat, probe, probe_mask(64))
    x = Y * support_window(64, 32)[None, :, :, None]
    _, fitted, _ = _build(N=64, gridsize=2, max_offset=32.0, probe_mask=True)
    got = np.transpose(physics_head(fitted, x, coords)[0].numpy()[0], (2, 0, 1))
    assert np.abs(got - ref).max() / ref.max() <= tol("model.head_vs_numpy")
    # negative control: a canvas sized for no offset cuts the content off
    _, small, _ = _build(N=64, gridsize=2, max_offset=0.0, probe_mask=True)
    cut = np.transpose(physics_head(small, x, coords)[0].numpy()[0], (2, 0, 1))
    assert np.abs(cut - ref).max() / ref.max() > 0.05


# ------------------------------------------------------------------ batching per group
@pytest.fixture(scope="module")
def gs2_model():
    return _build(N=32, gridsize=2, max_offset=6.0)


@pytest.mark.parametrize("B", [1, 15, 16, 17, 64])
def test_gs2_output_batch_equals_input_batch(gs2_model, B):
    _, model, d2o = gs2_model
    rng = np.random.default_rng(B)
    x = rng.uniform(0, 3e4, (B, 32, 32, 4)).astype(np.float32)
    rel = rng.uniform(-5, 5, (B, 1, 2, 4))
    rel -= rel.mean(axis=-1, keepdims=True)
    out = model.predict([x, rel], batch_size=B, verbose=0)
    assert out["counts"].shape == (B, 32, 32, 4)
    assert out["amplitude"].shape == (B, 32, 32, 4)
    assert d2o.predict(x, batch_size=B, verbose=0).shape == (B, 32, 32, 4)
    assert np.all(np.isfinite(out["counts"]))


def test_gs2_sample_output_independent_of_other_samples(gs2_model, tol):
    _, model, _ = gs2_model
    rng = np.random.default_rng(11)
    B = 20                                                   # B*C = 80 >= 64
    x = rng.uniform(0, 3e4, (B, 32, 32, 4)).astype(np.float32)
    rel = rng.uniform(-5, 5, (B, 1, 2, 4))
    rel -= rel.mean(axis=-1, keepdims=True)
    base = model.predict([x, rel], batch_size=B, verbose=0)["counts"]
    x2, rel2 = x.copy(), rel.copy()
    x2[[0, 7, 19]] = rng.uniform(0, 3e4, (3, 32, 32, 4))
    rel2[[0, 7, 19]] = -rel2[[0, 7, 19]]
    changed = model.predict([x2, rel2], batch_size=B, verbose=0)["counts"]
    keep = [b for b in range(B) if b not in (0, 7, 19)]
    scale = np.abs(base).max()
    assert np.abs(changed[keep] - base[keep]).max() / scale <= tol("model.batch_independence")
    assert np.abs(changed[[0, 7, 19]] - base[[0, 7, 19]]).max() / scale > 1e-3


# ------------------------------------------------------------------ trainable weights, saving
@pytest.mark.parametrize("scale_trainable", [False, True])
@pytest.mark.parametrize("probe_trainable", [False, True])
def test_trainable_flags_match_trainable_weights(scale_trainable, probe_trainable):
    _, model, _ = _build(N=16, intensity_scale_trainable=scale_trainable,
                         probe_trainable=probe_trainable)
    trainable = {w.path for w in model.trainable_weights}
    frozen = {w.path for w in model.non_trainable_weights}
    scale_paths = {f"{INPUT_SCALER}/log_scale", "output_scaler/log_scale"}
    probe_paths = {"probe_illumination/probe_real", "probe_illumination/probe_imag"}
    assert (scale_paths <= trainable) == scale_trainable
    assert (scale_paths <= frozen) == (not scale_trainable)
    assert (probe_paths <= trainable) == probe_trainable
    assert (probe_paths <= frozen) == (not probe_trainable)


def test_save_load_round_trip_restores_scales_probe_and_outputs(tmp_path):
    _, model, d2o = _build(N=32, gridsize=2, max_offset=4.0, intensity_scale_trainable=True,
                           probe_trainable=True)
    model.get_layer("output_scaler").log_scale.assign(np.log(777.0))
    layer = model.get_layer("probe_illumination")
    new_probe = ideal_probe(32, 0.9) * np.exp(0.3j)
    layer.probe_real.assign(new_probe.real.astype(np.float32))
    layer.probe_imag.assign(new_probe.imag.astype(np.float32))
    path = tmp_path / "pinn.keras"
    save_model(model, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pinn.keras"]
    loaded, loaded_d2o = load_model(path)
    assert model_scales(loaded) == model_scales(model)
    np.testing.assert_array_equal(model_probe(loaded), model_probe(model))
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 3e4, (3, 32, 32, 4)).astype(np.float32)
    rel = rng.uniform(-3, 3, (3, 1, 2, 4))
    np.testing.assert_array_equal(loaded.predict([x, rel], verbose=0)["counts"],
                                  model.predict([x, rel], verbose=0)["counts"])
    np.testing.assert_array_equal(loaded_d2o.predict(x, verbose=0), d2o.predict(x, verbose=0))
    assert {w.path for w in loaded.trainable_weights} == {w.path for w in model.trainable_weights}


CUSTOM_LAYERS = ("ScaleWeight", "AmplitudeActivation", "PhaseActivation", "CombineComplex",
                 "GroupReassembly", "ProbeIllumination", "Diffraction", "Square")


def test_custom_layers_are_registered_under_their_saved_names():
    from ptycho import layers
    from ptycho.tfload import keras as load_keras

    keras = load_keras()
    for name in CUSTOM_LAYERS:
        cls = getattr(layers, name)
        assert keras.saving.get_registered_name(cls) == f"ptycho>{name}"
        assert keras.saving.get_registered_object(f"ptycho>{name}") is cls


def test_saved_archive_names_the_registered_layers(tmp_path):
    _, model, _ = _build(N=16, gridsize=2, max_offset=2.0, probe_mask=True)
    path = tmp_path / "pinn.keras"
    save_model(model, path)
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    saved = {layer["class_name"]: layer.get("registered_name")
             for layer in config["config"]["layers"] if layer.get("module") == "ptycho.layers"}
    assert saved == {name: f"ptycho>{name}" for name in CUSTOM_LAYERS}


def test_layers_still_exports_the_canvas_geometry():
    from ptycho import canvas, layers

    assert layers.canvas_padding is canvas.canvas_padding
    assert layers.support_window is canvas.support_window


def test_importing_model_and_train_does_not_import_tensorflow():
    code = ("import sys, ptycho.model, ptycho.train, ptycho.inference; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
