"""Patch-level figures: within-patch Pearson r, twin fraction, saturation (ptycho.evaluation.patches)."""
import numpy as np
import pytest

from ptycho.errors import ConfigError
from ptycho.evaluation.patches import patch_pearson, saturation_fraction, twin_fraction


def test_twin_fraction_detects_the_rotated_solution():
    rng = np.random.default_rng(5)
    truth = rng.uniform(1, 2, (6, 16, 16))
    twin = np.roll(truth[:, ::-1, ::-1], shift=(1, 1), axis=(1, 2))
    assert twin_fraction(truth, truth, crop=8) == 0.0
    assert twin_fraction(twin, truth, crop=8) == 1.0


def test_saturation_fraction():
    a = np.array([0.2, 0.995, 1.0, 0.5])
    assert saturation_fraction(a, 1.0) == 0.5
    assert saturation_fraction(a, np.inf) == 0.0
    assert saturation_fraction(a, 1.0, where=np.array([1, 0, 0, 1], bool)) == 0.0


@pytest.mark.parametrize("N, crop", [(16, 8), (16, 7), (32, 17)])
def test_patch_metrics_use_the_stitched_window(N, crop, tol):
    """The window is rows/cols (N - crop)//2 .. + crop, as ptycho.stitching stitches: a recon
    equal to the truth there and anti-correlated everywhere else scores exactly r = 1."""
    rng = np.random.default_rng(30)
    truth = rng.uniform(1.0, 2.0, (5, N, N))
    s = (N - crop) // 2
    inside = np.zeros((N, N), bool)
    inside[s:s + crop, s:s + crop] = True
    recon = np.where(inside, truth, 3.0 - truth)
    np.testing.assert_allclose(patch_pearson(recon, truth, crop=crop), 1.0,
                               rtol=tol("evaluation.float64"))
    wider = patch_pearson(recon, truth, crop=crop + 1)
    assert np.all(wider < 0.99)
    twin = np.roll(truth[:, ::-1, ::-1], shift=(1, 1), axis=(1, 2))
    assert twin_fraction(np.where(inside, twin, truth), truth, crop=crop) == 1.0
    with pytest.raises(ConfigError):
        patch_pearson(recon, truth, crop=N + 1)
