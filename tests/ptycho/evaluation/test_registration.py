"""Sub-pixel registration: measured, reported, undone (ptycho.evaluation.registration)."""
import json

import numpy as np
import pytest

from ptycho.errors import ConfigError
from ptycho.evaluation.registration import measure_shift, translate
from ptycho.evaluation.report import evaluate_images
from tests.ptycho.evaluation.images import BOX, SCAN_X, SCAN_Y, fourier_shift, periodic_field


def test_integer_shift_is_measured_reported_and_undone(tol):
    truth = periodic_field(24)
    recon = np.roll(truth, (3, -2), axis=(0, 1))              # recon(r) = truth(r - (3, -2))
    rep = evaluate_images(recon, truth, np.abs(truth), xcoords=SCAN_X, ycoords=SCAN_Y)
    px = tol("evaluation.registration_px")
    dy, dx = rep.registration_shift
    assert abs(dy - 3.0) <= px and abs(dx + 2.0) <= px
    assert rep.registration["applied"] is True
    eps = tol("evaluation.exact")
    # the exact integer translation is undone: a perfect score on the scanned region
    assert rep.amplitude["mae"]["model"] <= eps and rep.phase["mae"]["model"] <= eps
    assert rep.amplitude["ssim"]["model"] == pytest.approx(1.0, rel=eps)
    assert rep.registration["evaluated_fraction"] == 1.0     # rolled-in rows lie outside
    off = evaluate_images(recon, truth, np.abs(truth), xcoords=SCAN_X, ycoords=SCAN_Y, register=False)
    assert off.registration_shift is None and off.registration["enabled"] is False
    assert off.amplitude["mae"]["model"] > 0.0                # the shift costs without it
    json.dumps(rep.to_dict())


@pytest.mark.parametrize("shift", [(0.5, 0.0), (-1.25, 0.75)])
def test_subpixel_shift_is_recovered(shift, tol):
    truth = periodic_field(25)
    recon = fourier_shift(truth, shift)
    px = tol("evaluation.registration_px")
    got = measure_shift(recon, truth, BOX)["shift"]
    assert abs(got[0] - shift[0]) <= px and abs(got[1] - shift[1]) <= px
    rep = evaluate_images(recon, truth, np.abs(truth), xcoords=SCAN_X, ycoords=SCAN_Y)
    assert abs(rep.registration_shift[0] - shift[0]) <= px
    assert abs(rep.registration_shift[1] - shift[1]) <= px
    off = evaluate_images(recon, truth, np.abs(truth), xcoords=SCAN_X, ycoords=SCAN_Y, register=False)
    # undone, not just reported: what is left is the padding's truncation error
    residual = tol("evaluation.subpixel_residual")
    assert rep.amplitude["mae"]["model"] <= residual * off.amplitude["mae"]["model"]
    assert rep.phase["mae"]["model"] <= residual * off.phase["mae"]["model"]
    # only pixels within a few px of the canvas edge are filled from outside: none in the box
    assert rep.registration["evaluated_fraction"] == 1.0


def test_registration_reports_its_peak_correlation(tol, monkeypatch):
    """A translated copy correlates perfectly at the recovered shift (r = 1); a measurement
    that has not converged is reported but not applied."""
    truth = periodic_field(28)
    rep = evaluate_images(np.roll(1.5 * truth, (-4, 1), axis=(0, 1)), truth, np.abs(truth),
                          xcoords=SCAN_X, ycoords=SCAN_Y)
    assert rep.registration["converged"] is True
    assert rep.registration["peak_correlation"] == pytest.approx(1.0, abs=tol("evaluation.exact"))
    off = evaluate_images(truth, truth, np.abs(truth), xcoords=SCAN_X, ycoords=SCAN_Y)
    assert off.registration["peak_correlation"] == pytest.approx(1.0, abs=tol("evaluation.exact"))
    # one pass only: its step (~6 px) exceeds the 1/20 px grid, so it has not converged
    import ptycho.evaluation.report as report_module

    moved = np.roll(truth, (6, 0), axis=(0, 1))
    assert measure_shift(moved, truth, BOX, max_iterations=1)["converged"] is False
    one_pass = report_module.measure_shift
    monkeypatch.setattr(report_module, "measure_shift",
                        lambda *a, **k: one_pass(*a, **{**k, "max_iterations": 1}))
    rep = evaluate_images(moved, truth, np.abs(truth), xcoords=SCAN_X, ycoords=SCAN_Y)
    plain = evaluate_images(moved, truth, np.abs(truth), xcoords=SCAN_X, ycoords=SCAN_Y, register=False)
    assert rep.registration["applied"] is False and "reason" in rep.registration
    assert rep.registration_shift is not None                 # still reported
    assert rep.amplitude == plain.amplitude and rep.phase == plain.phase


@pytest.mark.parametrize("shift", [(0.5, 0.5), (-1.25, 0.75)])
def test_subpixel_translation_does_not_smooth_noise(shift, tol):
    """The sub-pixel correction is all-pass (|exp(-2 pi i k.shift)| = 1, Parseval): white
    noise keeps its power, so registering cannot flatter a noisy reconstruction (a cubic
    spline shift by (0.5, 0.5) would lower the noise std by ~25 %)."""
    rng = np.random.default_rng(29)
    noise = rng.normal(size=(120, 120)) + 1j * rng.normal(size=(120, 120))
    moved = translate(noise, shift)[8:-8, 8:-8]
    assert moved.std() / noise.std() == pytest.approx(1.0, rel=tol("evaluation.subpixel_noise_std"))
    # and it is the inverse of itself up to the padding: there and back on a smooth field
    truth = periodic_field(29)
    back = translate(translate(truth, shift), (-shift[0], -shift[1]))
    assert np.abs(back - truth)[BOX].max() <= tol("evaluation.subpixel_residual") * np.abs(truth).max()


def test_baseline_is_scored_on_the_same_pixels_as_the_registered_model(tol):
    """Model displaced by (3, -2) with a stitching gap B: after undoing the shift the model has
    no data on B' = B - (3, -2); both model and baseline are scored without B and B'."""
    truth = periodic_field(26)
    covered = np.ones(truth.shape, bool)
    covered[30:36, 30:36] = False                             # B (36 px)
    recon = np.roll(truth, (3, -2), axis=(0, 1))
    recon[~covered] = 0.0
    baseline = np.abs(truth).copy()
    b_prime = np.zeros(truth.shape, bool)
    b_prime[27:33, 32:38] = True                              # B' (36 px, 12 shared with B)
    baseline[b_prime & covered] += 1.0                        # a marker only B' exposes
    rep = evaluate_images(recon, truth, baseline, xcoords=SCAN_X, ycoords=SCAN_Y, covered=covered)
    eps = tol("evaluation.exact")
    assert rep.registration_shift == pytest.approx((3.0, -2.0), abs=tol("evaluation.registration_px"))
    assert rep.amplitude["mae"]["model"] <= eps
    assert rep.amplitude["mae"]["baseline"] <= eps            # B' excluded for the baseline too
    region = 51 * 51
    assert rep.registration["evaluated_fraction"] == pytest.approx(1 - 60 / region, rel=eps)
    assert rep.region["covered_fraction"] == pytest.approx(1 - 36 / region, rel=eps)


@pytest.mark.parametrize("passes", [0, -1])
def test_registration_without_a_pass_is_refused(passes):
    """Zero passes would report a shift never measured (and an `iterations` count that only the
    loop sets: mutation testing found `iterations = -1` before the loop unobservable otherwise)."""
    truth = periodic_field(24)
    with pytest.raises(ConfigError, match="max_iterations"):
        measure_shift(np.roll(truth, (3, 0), axis=(0, 1)), truth, BOX, max_iterations=passes)
