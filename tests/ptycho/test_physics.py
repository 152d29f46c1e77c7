"""Forward model conventions (docs/design.md §3): numpy reference and TensorFlow ops."""
import numpy as np
import pytest

from ptycho.physics import (
    diffract_np,
    diffract_tf,
    diffract_tf_channels_last,
    forward_np,
    forward_tf,
    illuminate_np,
    illuminate_tf,
)
from ptycho.probe import ideal_probe, normalize_probe, probe_mask


def _random_field(shape, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


# ------------------------------------------------------------------ numpy reference
@pytest.mark.parametrize("N", [16, 32, 64])
def test_parseval(N, tol):
    psi = _random_field((3, N, N), seed=N)
    A = diffract_np(psi)
    assert A.dtype == np.float64 and A.shape == (3, N, N)
    np.testing.assert_allclose(np.sum(A**2, axis=(-2, -1)), np.sum(np.abs(psi) ** 2, axis=(-2, -1)),
                               rtol=tol("physics.parseval"), atol=0)


@pytest.mark.parametrize("N", [16, 64])
def test_unit_field_dc_at_center_with_value_n(N, tol):
    A = diffract_np(np.ones((N, N), np.complex128))
    assert np.unravel_index(np.argmax(A), A.shape) == (N // 2, N // 2)
    assert A[N // 2, N // 2] == pytest.approx(N, rel=tol("physics.unit_field_dc"))
    others = A.copy()
    others[N // 2, N // 2] = 0
    assert others.max() <= tol("physics.unit_field_dc") * N


def test_dc_equals_field_sum_over_n(tol):
    N = 32
    psi = _random_field((N, N), seed=1)
    A = diffract_np(psi)
    assert A[N // 2, N // 2] == pytest.approx(abs(psi.sum()) / N, rel=tol("physics.dc_value"))


def test_fftshift_on_both_axes():
    """A plane wave exp(2 pi i (ky*row + kx*col)/N) lands at (N/2 + ky, N/2 + kx)."""
    N, ky, kx = 32, 3, -5
    rows, cols = np.indices((N, N))
    A = diffract_np(np.exp(2j * np.pi * (ky * rows + kx * cols) / N))
    assert np.unravel_index(np.argmax(A), A.shape) == (N // 2 + ky, N // 2 + kx)


@pytest.mark.parametrize("shift", [(1, 0), (0, 5), (7, -3), (16, 16)])
def test_amplitude_invariant_to_circular_shift(shift, tol):
    psi = _random_field((32, 32), seed=11)
    A = diffract_np(psi)
    A_shifted = diffract_np(np.roll(psi, shift, axis=(0, 1)))
    assert np.max(np.abs(A_shifted - A)) <= tol("physics.shift_invariance") * A.max()


def test_illuminate_np_with_mask_and_broadcast():
    N = 32
    probe = normalize_probe(ideal_probe(N), 4.0)
    mask = probe_mask(N)
    obj = _random_field((2, 3, N, N), seed=2)
    psi = illuminate_np(obj, probe, mask)
    assert psi.dtype == np.complex128 and psi.shape == (2, 3, N, N)
    np.testing.assert_array_equal(psi, obj * probe.astype(np.complex128) * mask.astype(np.float64))
    assert np.all(psi[..., mask == 0] == 0)
    np.testing.assert_array_equal(forward_np(obj, probe, mask), diffract_np(psi))


# ------------------------------------------------------------------ TensorFlow vs numpy
@pytest.mark.parametrize("shape", [(4, 3, 64, 64), (16, 32, 32), (2, 128, 128)])
def test_diffract_tf_matches_numpy(shape, tol, record_property, capsys):
    psi = _random_field(shape, seed=sum(shape)).astype(np.complex64)
    A_np = diffract_np(psi)
    A_tf = diffract_tf(psi).numpy()
    assert A_tf.dtype == np.float32 and A_tf.shape == shape
    rel_err = float(np.max(np.abs(A_tf - A_np)) / np.max(np.abs(A_np)))
    record_property("tf_vs_numpy_rel_err", rel_err)
    with capsys.disabled():
        print(f"\n[physics] max|A_tf - A_np| / max|A_np| for {shape}: {rel_err:.3e}")
    assert rel_err <= tol("physics.tf_vs_numpy")


def test_diffract_tf_accepts_complex128_input(tol):
    psi = _random_field((2, 32, 32), seed=3)
    A_tf = diffract_tf(psi).numpy()
    assert A_tf.dtype == np.float32
    A_np = diffract_np(psi.astype(np.complex64))
    assert np.max(np.abs(A_tf - A_np)) <= tol("physics.tf_vs_numpy") * A_np.max()


def test_diffract_tf_channels_last(tol):
    psi = _random_field((3, 32, 32, 4), seed=4).astype(np.complex64)
    A = diffract_tf_channels_last(psi).numpy()
    assert A.shape == (3, 32, 32, 4) and A.dtype == np.float32
    reference = np.moveaxis(diffract_tf(np.moveaxis(psi, -1, 1)).numpy(), 1, -1)
    assert np.max(np.abs(A - reference)) <= tol("physics.tf_channels_last") * reference.max()


def test_forward_tf_matches_forward_np_with_mask(tol):
    N = 32
    probe = normalize_probe(ideal_probe(N), 4.0)
    mask = probe_mask(N)
    obj = _random_field((5, N, N), seed=6).astype(np.complex64)
    psi_tf = illuminate_tf(obj, probe, mask).numpy()
    assert psi_tf.dtype == np.complex64
    assert np.all(psi_tf[:, mask == 0] == 0)
    A_tf = forward_tf(obj, probe, mask).numpy()
    A_np = forward_np(obj, probe, mask)
    assert np.max(np.abs(A_tf - A_np)) <= tol("physics.tf_vs_numpy") * A_np.max()


def test_diffract_tf_unit_field_dc():
    N = 32
    A = diffract_tf(np.ones((1, N, N), np.complex64)).numpy()[0]
    assert np.unravel_index(np.argmax(A), A.shape) == (N // 2, N // 2)
    assert A[N // 2, N // 2] == np.float32(N)


# ------------------------------------------------------------------ fast paths, same bits
def _plain_diffract_tf(psi):
    """The plain op graph diffract_tf replaces: fftshift(|fft2d(psi)| / sqrt(N*N))."""
    from ptycho.tfload import tf as _tf

    tf = _tf()
    psi = tf.convert_to_tensor(psi)
    n = tf.sqrt(tf.cast(tf.shape(psi)[-2] * tf.shape(psi)[-1], tf.float32))
    return tf.signal.fftshift(tf.abs(tf.signal.fft2d(psi)) / n, axes=(-2, -1))


@pytest.mark.parametrize("shape", [(300, 64, 64), (40, 4, 64, 64), (160, 32, 32), (2, 128, 128),
                                   (1, 16, 16)])
def test_diffract_tf_is_bitwise_the_plain_graph_with_its_gradient(shape, tol):
    """Parts, the fused XLA modulus/scale/shift and the custom gradient (batches of at least
    FAST_MIN_PATTERNS patterns) change no bit; smaller batches run the plain graph itself."""
    from ptycho.tfload import tf as _tf

    tf = _tf()
    rng = np.random.default_rng(sum(shape))
    psi = _random_field(shape, seed=sum(shape)).astype(np.complex64)
    psi[..., :, :] *= rng.random(shape[-2:]) > 0.2  # zeros, and F = 0 for an all-zero pattern
    psi[0] = 0
    x = tf.constant(psi)
    w = tf.constant(rng.standard_normal(shape).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        fast, plain = diffract_tf(x), _plain_diffract_tf(x)
        loss_fast, loss_plain = tf.reduce_sum(fast * w), tf.reduce_sum(plain * w)
    g_fast, g_plain = tape.gradient(loss_fast, x).numpy(), tape.gradient(loss_plain, x).numpy()
    assert np.isfinite(g_fast).all()
    if tf.config.list_physical_devices("GPU"):  # bit-identity is a claim about the CPU kernels
        np.testing.assert_allclose(fast.numpy(), plain.numpy(), rtol=0,
                                   atol=tol("physics.tf_vs_numpy") * float(plain.numpy().max()))
        return
    np.testing.assert_array_equal(fast.numpy(), plain.numpy())
    np.testing.assert_array_equal(g_fast, g_plain)


def test_diffract_tf_channels_last_in_a_graph_with_unknown_batch():
    from ptycho.tfload import tf as _tf

    tf = _tf()
    f = tf.function(diffract_tf_channels_last,
                    input_signature=[tf.TensorSpec([None, 32, 32, 4], tf.complex64)])
    psi = _random_field((70, 32, 32, 4), seed=9).astype(np.complex64)
    plain = np.moveaxis(_plain_diffract_tf(np.moveaxis(psi, -1, 1)).numpy(), 1, -1)
    np.testing.assert_array_equal(f(psi).numpy(), plain)  # a Keras-like graph: the plain ops


@pytest.mark.parametrize("N,B", [(64, 300), (32, 16), (128, 3)])
@pytest.mark.parametrize("masked", [False, True])
def test_forward_tf_folds_shift_and_scale_into_the_probe(N, B, masked, tol):
    """forward_tf = |FFT2(O * shifted_probe)|: the checkerboard and 1/N folded into the probe
    give the plain graph's amplitudes (bitwise on TF's CPU FFT; always within tf_vs_numpy)."""
    from ptycho.physics import shifted_probe
    from ptycho.tfload import tf as _tf

    tf = _tf()
    probe = normalize_probe(ideal_probe(N), 4.0) * (1 + 0.25j)
    mask = probe_mask(N) if masked else None
    obj = _random_field((B, N, N), seed=N + B).astype(np.complex64)
    plain = _plain_diffract_tf(illuminate_tf(obj, probe, mask)).numpy()
    for A in (forward_tf(obj, probe, mask).numpy(),
              forward_tf(tf.constant(obj), tf.constant(probe.astype(np.complex64)),
                         None if mask is None else tf.constant(mask)).numpy()):
        assert A.dtype == np.float32 and A.shape == (B, N, N)
        assert np.max(np.abs(A - plain)) <= tol("physics.tf_vs_numpy") * plain.max()
        if not tf.config.list_physical_devices("GPU"):
            np.testing.assert_array_equal(A, plain)
    A_np = forward_np(obj, probe, mask)
    assert np.max(np.abs(forward_tf(obj, probe, mask).numpy() - A_np)) <= (
        tol("physics.tf_vs_numpy") * A_np.max())
    P = shifted_probe(probe, mask)
    sign = (-1.0) ** np.add.outer(np.arange(N), np.arange(N))
    expected = probe.astype(np.complex64) * (sign / N * (1 if mask is None else mask)).astype(np.float32)
    np.testing.assert_array_equal(P, expected.astype(np.complex64))
    with pytest.raises(ValueError):
        shifted_probe(np.ones((15, 16), np.complex64))
