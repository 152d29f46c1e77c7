"""The TensorFlow forward model on a GPU agrees with the float64 numpy reference.

Marked `gpu`; skipped with its reason when TensorFlow sees no GPU (CPU-only CI machines).
"""
import numpy as np
import pytest

from ptycho.physics import forward_np, forward_tf
from ptycho.probe import ideal_probe, normalize_probe, probe_mask
from ptycho.tfload import tf


def _gpus():
    return tf().config.list_physical_devices("GPU")


@pytest.mark.gpu
def test_forward_on_gpu_matches_numpy_reference(tol):
    if not _gpus():
        pytest.skip("no GPU visible to TensorFlow (tf.config.list_physical_devices('GPU') is empty)")
    N = 64
    rng = np.random.default_rng(7)
    obj = (rng.uniform(0.5, 1.5, (8, N, N)) * np.exp(1j * rng.uniform(-1, 1, (8, N, N))))
    probe = normalize_probe(ideal_probe(N), 4.0)
    mask = probe_mask(N)
    with tf().device("/GPU:0"):
        amp_gpu = forward_tf(obj.astype(np.complex64), probe, mask)
    assert "GPU" in amp_gpu.device
    ref = forward_np(obj, probe, mask)
    err = np.max(np.abs(amp_gpu.numpy() - ref)) / np.max(ref)
    print(f"\n[physics gpu] max|A_gpu - A_np| / max|A_np| = {err:.3e}")
    assert err <= tol("physics.tf_vs_numpy")
