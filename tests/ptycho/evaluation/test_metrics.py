"""Scalar metrics against hand-computed answers (ptycho.evaluation.metrics)."""
import numpy as np
import pytest

from ptycho.evaluation.metrics import (
    ls_scalar,
    mae,
    pearson,
    psnr,
    relative_rmse,
    rmse,
    scaled_relative_rmse,
    ssim,
)
from tests.ptycho.evaluation.images import smooth_image


def test_ls_scalar_of_2x_vs_x_is_2(tol):
    x = smooth_image()
    assert ls_scalar(2 * x, x) == pytest.approx(2.0, rel=tol("evaluation.exact"))
    assert ls_scalar(x, x) == pytest.approx(1.0, rel=tol("evaluation.exact"))


def test_scaled_relative_rmse_divides_out_the_ls_scalar(tol):
    rng = np.random.default_rng(4)
    truth = rng.uniform(0.5, 2.0, (32, 32))
    noise = rng.normal(0, 0.05, truth.shape)
    assert scaled_relative_rmse(0.267 * truth, truth) == pytest.approx(0.0, abs=tol("evaluation.float64_zero"))
    # a scaled copy of a noisy image has the noisy image's scaled error, not the scale's error
    assert scaled_relative_rmse(0.267 * (truth + noise), truth) == pytest.approx(
        scaled_relative_rmse(truth + noise, truth), rel=tol("evaluation.float64"))
    assert relative_rmse(0.267 * truth, truth) == pytest.approx(0.733, rel=tol("evaluation.float64"))
    assert np.isnan(scaled_relative_rmse(np.zeros_like(truth), truth))


def test_pearson_of_x_and_affine_x_is_one(tol):
    x = smooth_image(1)
    assert pearson(x, 2 * x + 3) == pytest.approx(1.0, rel=tol("evaluation.exact"))
    assert pearson(x, -x) == pytest.approx(-1.0, rel=tol("evaluation.exact"))
    assert np.isnan(pearson(np.ones((4, 4)), x[:4, :4]))


def test_errors_and_ssim_psnr_on_known_pairs(tol):
    x = smooth_image(2)
    y = x + 0.5
    assert mae(y, x) == pytest.approx(0.5, rel=tol("evaluation.exact"))
    assert rmse(y, x) == pytest.approx(0.5, rel=tol("evaluation.exact"))
    assert relative_rmse(y, x) == pytest.approx(0.5 / np.sqrt(np.mean(x**2)),
                                                rel=tol("evaluation.exact"))
    assert ssim(x, x) == pytest.approx(1.0, rel=tol("evaluation.exact"))
    assert ssim(y, x) < 1.0
    assert psnr(x, x) == np.inf
    rng_x = x.max() - x.min()
    assert psnr(y, x) == pytest.approx(20 * np.log10(rng_x / 0.5), rel=tol("evaluation.exact"))
