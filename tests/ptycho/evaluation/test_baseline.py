"""The constant-amplitude baseline (ptycho.evaluation.baseline)."""
import numpy as np

from ptycho.config import ModelConfig
from ptycho.evaluation.baseline import baseline_patches, constant_amplitude_baseline
from ptycho.physics import diffract_np, illuminate_np
from ptycho.probe import make_probe, probe_mask


def test_constant_amplitude_baseline_recovers_a_uniform_object(tol):
    mc = ModelConfig(N=32, probe_scale=4.0)
    probe = make_probe(mc)
    amplitudes = np.array([0.5, 2.7, 4.0])
    obj = amplitudes[:, None, None] * np.exp(1j * 0.3) * np.ones((3, 32, 32))
    for mask in (None, probe_mask(32)):
        X = diffract_np(illuminate_np(obj, probe, mask))
        got = constant_amplitude_baseline(X, probe, mask)
        np.testing.assert_allclose(got, amplitudes, rtol=tol("evaluation.exact"))
    # channels-last input flattens b*C + c
    X4 = np.transpose(diffract_np(illuminate_np(obj, probe)).reshape(1, 3, 32, 32), (0, 2, 3, 1))
    np.testing.assert_allclose(constant_amplitude_baseline(X4, probe), amplitudes,
                               rtol=tol("evaluation.exact"))
    patches = baseline_patches(amplitudes, 8)
    assert patches.shape == (3, 8, 8) and np.all(patches[1] == 2.7)
