"""Fourier ring correlation and its crossings (ptycho.evaluation.frc)."""
import numpy as np
import pytest

from ptycho.evaluation.frc import (
    frc_crossing,
    frc_curve,
    frc_summary,
    half_bit_threshold,
    ring_pixel_counts,
)
from ptycho.evaluation.report import amplitude_metrics
from tests.ptycho.evaluation.images import smooth_image


def test_frc_of_an_image_with_itself_is_one_everywhere(tol):
    x = smooth_image(3, shape=(64, 64))
    freq, frc = frc_curve(x, x)
    assert freq[0] > 0 and freq[-1] < 0.5
    np.testing.assert_allclose(frc[np.isfinite(frc)], 1.0, rtol=tol("evaluation.exact"))
    assert np.isfinite(frc).sum() >= len(frc) - 1
    assert frc_crossing(freq, frc, 0.5) is None


def test_frc_of_independent_noise_falls_and_crossings_interpolate(tol):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(64, 64)), rng.normal(size=(64, 64))
    _, frc = frc_curve(a, b)
    assert np.nanmean(np.abs(frc)) < 0.2
    freq = np.array([0.05, 0.15, 0.25, 0.35])
    curve = np.array([1.0, 0.9, 0.3, 0.1])
    eps = tol("evaluation.exact")
    assert frc_crossing(freq, curve, 0.5) == pytest.approx(0.15 + 0.1 * (0.4 / 0.6), rel=eps)
    assert frc_crossing(freq, curve, 1 / 7) == pytest.approx(0.25 + 0.1 * ((0.3 - 1 / 7) / 0.2),
                                                         rel=eps)


def test_ring_pixel_counts_by_hand():
    # 64 x 64, ring r holds the Fourier pixels (i, j) with r <= sqrt(i^2 + j^2) < r + 1:
    # r=0 {(0,0)}; r=1 (+-1,0),(0,+-1),(+-1,+-1); r=2 (+-2,0),(0,+-2),(+-2,+-1),(+-1,+-2),(+-2,+-2);
    # r=3 (+-3,0),(0,+-3),(+-3,+-1),(+-1,+-3),(+-3,+-2),(+-2,+-3)
    np.testing.assert_array_equal(ring_pixel_counts((64, 64))[:4], [1, 8, 16, 20])
    assert len(ring_pixel_counts((64, 64))) == 32


def test_half_bit_threshold_values(tol):
    eps = tol("evaluation.exact")
    # n = 1: (0.2071 + 1.9102) / (1.2071 + 0.9102) = 1; n = 4: sqrt = 2; n = 16: sqrt = 4
    np.testing.assert_allclose(half_bit_threshold([1, 4, 16]),
                               [1.0, 1.1622 / 1.6622, 0.68465 / 1.43465], rtol=eps)
    assert half_bit_threshold(1e30) == pytest.approx(0.2071 / 1.2071, rel=eps)
    assert np.isnan(half_bit_threshold(0))


def test_frc_crossing_with_a_per_ring_threshold(tol):
    freq = np.array([0.05, 0.15, 0.25, 0.35])
    curve = np.array([1.0, 0.9, 0.3, 0.1])
    thr = np.array([1.0, 0.6, 0.4, 0.3])                      # frc - thr: 0, 0.3, -0.1, -0.2
    assert frc_crossing(freq, curve, thr) == pytest.approx(0.15 + 0.1 * 0.3 / 0.4,
                                                          rel=tol("evaluation.exact"))
    assert frc_crossing(freq, curve, np.zeros(4)) is None


def test_frc_half_bit_of_itself_and_of_independent_noise(tol):
    x = smooth_image(3, shape=(64, 64))
    s = frc_summary(x, x)
    assert s["1/2bit"] is None and s["1/7"] is None and s["0.5"] is None
    assert s["ring_pixels"][:2] == [1, 8]
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(64, 64)), rng.normal(size=(64, 64))
    s = frc_summary(a, b)
    # no correlation at any frequency: below the 1/2-bit threshold from the first ring on, so
    # the crossing is the centre of ring 1, (1 + 1/2) / 64 cycles/px (32 rings of width 1/64 on
    # 64 x 64), stated here rather than read back from the summary's own frequency axis
    # (breaker: ring centres at r / 64, the ring's inner edge, move it by 1/128)
    eps = tol("evaluation.exact")
    assert s["1/2bit"] == pytest.approx(1.5 / 64, rel=eps)
    assert amplitude_metrics(a, b)["frc_1/2bit"] == pytest.approx(1.5 / 64, rel=eps)
