"""Poisson NLL (mean and full forms) and amplitude MAE (ptycho.losses)."""
import math

import numpy as np
import pytest
from scipy.special import gammaln
from scipy.stats import poisson

from ptycho.losses import (
    LOG_FLOOR,
    amplitude_mae,
    nll_for,
    poisson_nll_full,
    poisson_nll_mean,
)


def _counts(seed=0, shape=(3, 8, 8, 2)):
    rng = np.random.default_rng(seed)
    lam = rng.uniform(0.5, 50.0, shape)
    k = rng.poisson(lam).astype(np.float64)
    return k, lam


def test_mean_form_is_lambda_minus_k_log_lambda_averaged_per_sample(tol):
    k, lam = _counts()
    got = poisson_nll_mean(k.astype(np.float32), lam.astype(np.float32)).numpy()
    ref = np.mean(lam - k * np.log(lam), axis=(1, 2, 3))
    assert got.shape == (3,)
    np.testing.assert_allclose(got, ref, rtol=tol("losses.float32_vs_float64"))


def test_full_form_is_minus_log_pmf_summed_per_sample(tol):
    k, lam = _counts(1)
    got = poisson_nll_full(k.astype(np.float32), lam.astype(np.float32)).numpy()
    ref = -np.sum(poisson.logpmf(k, lam), axis=(1, 2, 3))
    np.testing.assert_allclose(got, ref, rtol=tol("losses.float32_vs_float64"))


def test_full_minus_mean_form_is_the_lgamma_constant(tol):
    k, lam = _counts(2)
    n = k[0].size
    diff = (poisson_nll_full(k, lam).numpy()
            - n * poisson_nll_mean(k, lam).numpy())
    np.testing.assert_allclose(diff, np.sum(gammaln(k + 1), axis=(1, 2, 3)),
                               rtol=tol("losses.float32_vs_float64"))


@pytest.mark.parametrize("loss", [poisson_nll_mean, poisson_nll_full])
def test_log_zero_is_guarded(loss, tol):
    k = np.array([[0.0, 3.0]], np.float32)
    lam = np.array([[0.0, 0.0]], np.float32)
    value = float(loss(k, lam).numpy()[0])
    assert math.isfinite(value)
    # k = 3 against lam = 0 costs -3*log(LOG_FLOOR) (plus lgamma(4) in the full form)
    expected = -3.0 * math.log(LOG_FLOOR)
    if loss is poisson_nll_full:
        expected += math.lgamma(4.0)
    else:
        expected /= 2
    assert value == pytest.approx(expected, rel=tol("losses.log_floor"))
    zero = float(loss(np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32)).numpy()[0])
    assert zero == 0.0


@pytest.mark.parametrize("loss", [poisson_nll_mean, poisson_nll_full])
def test_nll_is_minimized_at_lambda_equal_k(loss):
    k = np.full((1, 4), 37.0, np.float32)
    grid = np.linspace(20.0, 60.0, 401, dtype=np.float32)
    values = [float(loss(k, np.full((1, 4), g, np.float32)).numpy()[0]) for g in grid]
    # the grid holds 37 exactly; its neighbours cost ~1.4e-4 more per element, ~10x the float32
    # round-off of the loss there, so the argmin is exact
    assert grid[int(np.argmin(values))] == np.float32(37.0)


def test_gradient_of_mean_form_is_one_minus_k_over_lambda(tol):
    from ptycho.tfload import tf as load_tf

    tf = load_tf()
    k, lam = _counts(3, shape=(2, 4, 4, 1))
    lam_t = tf.Variable(lam.astype(np.float32))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(poisson_nll_mean(k.astype(np.float32), lam_t))
    grad = tape.gradient(total, lam_t).numpy()
    np.testing.assert_allclose(grad, (1 - k / lam) / 16.0, rtol=tol("losses.float32_vs_float64"),
                               atol=tol("losses.gradient_floor"))


def test_amplitude_mae(tol):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4, 1)
    b = a + np.where(np.arange(24).reshape(2, 3, 4, 1) % 2, 1.5, -0.5).astype(np.float32)
    np.testing.assert_allclose(amplitude_mae(a, b).numpy(), [1.0, 1.0],
                               rtol=tol("losses.float32_vs_float64"))


def test_nll_for_selects_form():
    assert nll_for("mean") is poisson_nll_mean
    assert nll_for("full") is poisson_nll_full
    with pytest.raises(ValueError):
        nll_for("median")


@pytest.mark.parametrize("form", ["mean", "full"])
def test_nll_floor_is_the_loss_at_lambda_equal_k_and_below_any_other_lambda(form, tol):
    """Oracle: the TF loss evaluated at lam = k (zeros included); every other lam is higher
    (Gibbs: lam - k log lam is minimal at lam = k)."""
    from ptycho.losses import nll_floor

    k, lam = _counts(seed=3)
    k[0, :2, :2, 0] = 0.0
    func = nll_for(form)
    lam_k = np.where(k > 0, k, 0.0).astype(np.float32)
    ref = float(np.mean(func(k.astype(np.float32), lam_k).numpy().astype(np.float64)))
    assert nll_floor(k, form) == pytest.approx(ref, rel=tol("losses.float32_vs_float64"))
    above = float(np.mean(func(k.astype(np.float32), lam.astype(np.float32)).numpy()))
    assert above > nll_floor(k, form)
    with pytest.raises(ValueError, match="nll_form"):
        nll_floor(k, "sum")
