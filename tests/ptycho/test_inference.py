"""Batched reconstruction of object patches (ptycho.inference)."""
import numpy as np
import pytest

from ptycho.config import InferenceConfig
from ptycho.errors import ConfigError
from ptycho.inference import predict_patches, reconstruct
from ptycho.model import build_model, load_model, save_model
from ptycho.train import scaled_diffraction

from ._pipeline import small_setup


@pytest.fixture(scope="module")
def setup():
    raw, grouped, container, plan, config = small_setup(N=16, gridsize=2, n_points=40,
                                                        n_groups=21)
    model, d2o = build_model(config.model, config, probe=container.probe_np,
                             input_scale=plan.input_scaler, output_scale=plan.output_scaler,
                             max_offset=grouped.max_offset)
    return container, plan, config, model, d2o


def test_batched_prediction_equals_one_call(setup, tol):
    container, plan, _, _, d2o = setup
    x = scaled_diffraction(container, plan)
    whole = np.asarray(d2o(x, training=False))
    for batch_size in (1, 4, 64):
        got = predict_patches(d2o, x, batch_size=batch_size)
        assert got.dtype == np.complex64 and got.shape == (21, 16, 16, 4)
        assert np.abs(got - whole).max() <= tol("inference.batching") * np.abs(whole).max()


def test_reconstruct_feeds_external_scale_times_fed_data(setup):
    container, plan, _, _, d2o = setup
    expected = predict_patches(d2o, plan.external_scale * container.X_np.astype(np.float64),
                               batch_size=8)
    config = setup[2]
    got = reconstruct(d2o, container, plan, InferenceConfig(model=config.model, batch_size=8))
    np.testing.assert_array_equal(got, expected)


def test_reconstruction_survives_save_and_load(setup, tmp_path):
    container, plan, _, model, d2o = setup
    save_model(model, tmp_path / "m.keras")
    _, loaded = load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(reconstruct(loaded, container, plan),
                                  reconstruct(d2o, container, plan))


def test_bad_inputs_name_the_field(setup):
    _, _, _, _, d2o = setup
    with pytest.raises(ConfigError) as exc:
        predict_patches(d2o, np.zeros((2, 16, 16, 1), np.float32))
    assert exc.value.field == "diffraction"
    with pytest.raises(ConfigError) as exc:
        predict_patches(d2o, np.zeros((16, 16, 4), np.float32))
    assert exc.value.field == "diffraction"
    with pytest.raises(ConfigError) as exc:
        predict_patches(d2o, np.zeros((2, 16, 16, 4), np.float32), batch_size=0)
    assert exc.value.field == "batch_size"
