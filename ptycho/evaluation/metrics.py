"""Scalar figures of two equally shaped real images (reconstruction, truth): least-squares
scalar, MAE, RMSE (absolute, relative, scale-divided), Pearson r, SSIM and PSNR."""
from __future__ import annotations

import math

import numpy as np

from .. import stats
from ..errors import ConfigError
from ..validation import require_same_shape


def float_pair(recon, truth) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 arrays; ConfigError naming recon when the shapes differ."""
    recon = np.asarray(recon, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    require_same_shape("recon", recon, truth, of="truth", error=ConfigError)
    return recon, truth


def ls_scalar(recon, truth) -> float:
    """Least-squares c with recon ~ c * truth: <recon, truth> / <truth, truth>."""
    recon, truth = float_pair(recon, truth)
    denom = float(np.sum(truth * truth))
    return float(np.sum(recon * truth) / denom) if denom > 0 else math.nan


def mae(recon, truth) -> float:
    """Mean absolute error."""
    recon, truth = float_pair(recon, truth)
    return float(np.mean(np.abs(recon - truth)))


def rmse(recon, truth) -> float:
    """Root mean squared error."""
    recon, truth = float_pair(recon, truth)
    return float(np.sqrt(np.mean((recon - truth) ** 2)))


def relative_rmse(recon, truth) -> float:
    """RMSE divided by the root mean square of the truth."""
    recon, truth = float_pair(recon, truth)
    denom = float(np.sqrt(np.mean(truth * truth)))
    return rmse(recon, truth) / denom if denom > 0 else math.nan


def scaled_relative_rmse(recon, truth) -> float:
    """relative_rmse of recon / c against truth, c = ls_scalar(recon, truth): the structure
    error left once the best single scale is divided out (nan when c is 0 or undefined)."""
    c = ls_scalar(recon, truth)
    if not math.isfinite(c) or c == 0:
        return math.nan
    recon, truth = float_pair(recon, truth)
    return relative_rmse(recon / c, truth)


def pearson(recon, truth) -> float:
    """Pearson correlation coefficient (nan when either image is constant)."""
    recon, truth = float_pair(recon, truth)
    return stats.pearson(recon, truth)


def data_range(truth) -> float:
    """max - min of the truth (the data range used by SSIM and PSNR)."""
    truth = np.asarray(truth, dtype=np.float64)
    return float(truth.max() - truth.min())


def ssim(recon, truth) -> float:
    """scikit-image SSIM with data_range = range of the truth (nan if the truth is constant)."""
    from skimage.metrics import structural_similarity

    recon, truth = float_pair(recon, truth)
    rng = data_range(truth)
    if rng <= 0 or min(truth.shape) < 7:
        return math.nan
    return float(structural_similarity(truth, recon, data_range=rng))


def psnr(recon, truth) -> float:
    """scikit-image PSNR (dB) with data_range = range of the truth."""
    from skimage.metrics import peak_signal_noise_ratio

    recon, truth = float_pair(recon, truth)
    rng = data_range(truth)
    if rng <= 0:
        return math.nan
    if np.array_equal(recon, truth):
        return math.inf
    return float(peak_signal_noise_ratio(truth, recon, data_range=rng))
