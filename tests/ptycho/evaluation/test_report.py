"""evaluate_images / evaluate_patches and the metric sets (ptycho.evaluation.report)."""
import json

import numpy as np
import pytest

from ptycho.config import ModelConfig
from ptycho.evaluation.metrics import rmse
from ptycho.evaluation.report import (
    EvaluationReport,
    amplitude_metrics,
    complex_phase_metrics,
    evaluate_images,
    evaluate_patches,
)
from ptycho.physics import diffract_np, illuminate_np
from ptycho.probe import make_probe
from tests.ptycho.evaluation.images import (
    BOX,
    SCAN_X,
    SCAN_Y,
    assert_metrics_close,
    periodic_field,
    smooth_image,
)


def test_amplitude_metrics_report_unscaled_values(tol):
    x = smooth_image(6)
    m = amplitude_metrics(3 * x, x)
    assert m["ls_scalar"] == pytest.approx(3.0, rel=tol("evaluation.exact"))
    # the scalar is reported, never applied: errors are those of the raw 3x
    assert m["rmse"] == pytest.approx(rmse(3 * x, x), rel=tol("evaluation.exact"))
    assert m["pearson"] == pytest.approx(1.0, rel=tol("evaluation.exact"))
    assert m["frc_0.5"] is None


def test_evaluate_images_pairs_model_with_baseline(tmp_path, tol):
    truth = smooth_image(7, (60, 60)) * np.exp(1j * 0.2 * smooth_image(8, (60, 60)))
    recon = truth * 1.02
    baseline = np.full((60, 60), np.mean(np.abs(truth)))
    x = np.array([12.0, 47.0, 30.0])
    y = np.array([10.0, 50.0, 25.0])
    rep = evaluate_images(recon, truth, baseline, xcoords=x, ycoords=y,
                          covered=np.ones((60, 60), bool))
    assert isinstance(rep, EvaluationReport)
    for metric, pair in rep.amplitude.items():
        assert set(pair) == {"model", "baseline"}, metric
    assert rep.amplitude["ls_scalar"]["model"] == pytest.approx(1.02, rel=tol("evaluation.exact"))
    assert rep.amplitude["rel_rmse"]["model"] < rep.amplitude["rel_rmse"]["baseline"]
    assert rep.amplitude["pearson"]["baseline"] is None          # constant image
    assert rep.phase["rmse"]["model"] <= tol("evaluation.exact")
    assert rep.region == {"rows": [10, 51], "cols": [12, 48], "covered_fraction": 1.0,
                          "rectangle": {"rows": [10, 51], "cols": [12, 48]}}
    json.dumps(rep.to_dict())                                    # JSON-safe


def test_uncovered_pixels_are_excluded_from_the_metrics(tol):
    truth = smooth_image(11, (50, 50)).astype(np.complex128)
    recon = 1.5 * truth
    covered = np.ones((50, 50), bool)
    covered[20:30, 5:45] = False
    recon[~covered] = 0.0                                        # stitching leaves gaps at 0
    x, y = np.array([5.0, 45.0]), np.array([5.0, 45.0])
    rep = evaluate_images(recon, truth, np.abs(truth), xcoords=x, ycoords=y, covered=covered)
    assert rep.amplitude["ls_scalar"]["model"] == pytest.approx(1.5, rel=tol("evaluation.exact"))
    assert rep.amplitude["pearson"]["model"] == pytest.approx(1.0, rel=tol("evaluation.exact"))
    assert rep.amplitude["rmse"]["baseline"] == 0.0
    # the scanned box 5..45 holds 41 x 41 pixels; the gap rows 20..29 x cols 5..44 remove 400
    assert rep.region["covered_fraction"] == pytest.approx(1 - 400 / 41**2,
                                                          rel=tol("evaluation.exact"))
    m = amplitude_metrics(np.abs(recon), np.abs(truth))          # without the mask: gaps count
    assert m["ls_scalar"] < 1.5 * (1 - 0.05)


def test_truth_against_itself_scores_perfectly(tol):
    truth = periodic_field()
    rep = evaluate_images(truth, truth, np.abs(truth), xcoords=SCAN_X, ycoords=SCAN_Y)
    eps = tol("evaluation.exact")
    amp, ph = rep.amplitude, rep.phase
    assert amp["mae"]["model"] == 0.0 and amp["rmse"]["model"] == 0.0
    assert amp["ls_scalar"]["model"] == pytest.approx(1.0, rel=eps)
    assert amp["pearson"]["model"] == pytest.approx(1.0, rel=eps)
    assert amp["ssim"]["model"] == pytest.approx(1.0, rel=eps)
    assert amp["psnr"]["model"] is None                          # +inf is not JSON: None
    assert amp["frc_0.5"]["model"] is None and amp["frc_1/7"]["model"] is None
    assert amp["frc_1/2bit"]["model"] is None
    curve = np.array([v for v in rep.frc["model"]["frc"] if v is not None])
    np.testing.assert_allclose(curve, 1.0, rtol=eps)
    assert ph["mae"]["model"] <= eps and ph["rmse"]["model"] <= eps
    assert ph["pearson"]["model"] == pytest.approx(1.0, rel=eps)
    assert abs(ph["global_phase"]["model"]) <= eps
    # registration ran and found exactly no shift: nothing was interpolated
    assert rep.registration["enabled"] is True
    assert rep.registration_shift == (0.0, 0.0) and rep.registration["applied"] is False
    assert rep.registration["evaluated_fraction"] == 1.0


def test_scaled_and_globally_phased_truth(tol):
    """recon = 2 * truth * exp(2.9i): LS scalar 2 (convention recon ~ c * truth), amplitude
    errors of the raw 2|O| (MAE = mean|O|, RMSE = rms|O|, rel. RMSE 1: the scalar is reported,
    not applied), phase errors 0 and r = 1 once the global phase 2.9 is removed."""
    truth = periodic_field()
    recon = 2.0 * truth * np.exp(2.9j)
    rep = evaluate_images(recon, truth, np.abs(truth), xcoords=SCAN_X, ycoords=SCAN_Y)
    eps = tol("evaluation.exact")
    a_true = np.abs(truth[BOX])
    amp = {k: v["model"] for k, v in rep.amplitude.items()}
    assert amp["ls_scalar"] == pytest.approx(2.0, rel=eps)
    assert amp["mae"] == pytest.approx(np.mean(a_true), rel=eps)
    assert amp["rmse"] == pytest.approx(np.sqrt(np.mean(a_true**2)), rel=eps)
    assert amp["rel_rmse"] == pytest.approx(1.0, rel=eps)
    assert amp["pearson"] == pytest.approx(1.0, rel=eps)
    # amplitude figures do not depend on the global phase
    plain = evaluate_images(2.0 * truth, truth, np.abs(truth), xcoords=SCAN_X, ycoords=SCAN_Y)
    assert_metrics_close({k: v["model"] for k, v in plain.amplitude.items()}, amp, rel=eps)
    ph = {k: v["model"] for k, v in rep.phase.items()}
    assert ph["global_phase"] == pytest.approx(2.9, rel=eps)
    assert ph["mae"] <= eps and ph["rmse"] <= eps            # was 2.97 rad before the fix
    assert ph["pearson"] == pytest.approx(1.0, rel=eps)      # was -0.73 before the fix
    assert rep.registration_shift == (0.0, 0.0)


def test_phase_ramp_is_removed_by_the_plane_fit(tol):
    truth = periodic_field(22)
    rows, cols = np.indices(truth.shape, dtype=np.float64)
    ramp = 0.3 + 0.02 * rows - 0.015 * cols                 # |ramp| < pi: no wrapping
    rep = evaluate_images(truth * np.exp(1j * ramp), truth, np.abs(truth), xcoords=SCAN_X, ycoords=SCAN_Y)
    eps = tol("evaluation.exact")
    assert rep.phase["mae"]["model"] <= eps
    assert rep.phase["pearson"]["model"] == pytest.approx(1.0, rel=eps)
    off = evaluate_images(truth * np.exp(1j * ramp), truth, np.abs(truth), xcoords=SCAN_X,
                          ycoords=SCAN_Y, register=False)
    assert off.phase["mae"]["model"] <= eps                  # the ramp is not a shift


def test_evaluate_patches_perfect_and_phased_reconstructions(tol):
    from ptycho.simulate import extract_patches

    N, crop = 32, 16
    truth = periodic_field(27, (96, 96))
    xs, ys = np.meshgrid(np.arange(24.0, 73.0, 8.0), np.arange(24.0, 73.0, 8.0))
    x, y = xs.ravel(), ys.ravel()
    patches = extract_patches(truth, x, y, N)[..., None]      # (K, N, N, 1), integer positions
    probe = make_probe(ModelConfig(N=N, probe_scale=4.0))
    X = diffract_np(illuminate_np(patches[..., 0], probe))[..., None]
    offsets = np.stack([x, y], axis=1)[:, None, :, None]      # (K, 1, 2, 1)
    relative = np.zeros_like(offsets)
    eps = tol("evaluation.exact")
    rep, images = evaluate_patches(patches, X_raw=X, coords_offsets=offsets,
                                   coords_relative=relative, probe=probe, truth_object=truth,
                                   crop=crop, true_patches=patches)
    assert rep.registration_shift == (0.0, 0.0)
    assert rep.amplitude["mae"]["model"] <= eps and rep.phase["mae"]["model"] <= eps
    assert rep.extra["patch_pearson_mean"] == pytest.approx(1.0, rel=eps)
    rep2, _ = evaluate_patches(2.0 * np.exp(2.9j) * patches, X_raw=X, coords_offsets=offsets,
                               coords_relative=relative, probe=probe, truth_object=truth,
                               crop=crop)
    assert rep2.amplitude["ls_scalar"]["model"] == pytest.approx(2.0, rel=eps)
    assert rep2.phase["mae"]["model"] <= eps
    assert rep2.phase["global_phase"]["model"] == pytest.approx(2.9, rel=eps)


def test_complex_phase_metrics_report_the_global_phase(tol):
    truth = periodic_field(31, (32, 32))
    m = complex_phase_metrics(truth * np.exp(-2.5j), truth)
    assert m["global_phase"] == pytest.approx(-2.5, rel=tol("evaluation.exact"))
    assert m["mae"] <= tol("evaluation.exact")
