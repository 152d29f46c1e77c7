"""Alignment and metrics against hand-computed answers (ptycho.evaluation)."""
import json

import numpy as np
import pytest

from ptycho.config import ModelConfig
from ptycho.errors import ConfigError
from ptycho.evaluation import (
    EvaluationReport,
    align_phase,
    amplitude_metrics,
    baseline_patches,
    constant_amplitude_baseline,
    crop_to_scan,
    evaluate_images,
    frc_crossing,
    frc_curve,
    ls_scalar,
    mae,
    pearson,
    psnr,
    relative_rmse,
    remove_plane,
    rmse,
    saturation_fraction,
    save_comparison_png,
    scan_region,
    ssim,
    twin_fraction,
)
from ptycho.physics import diffract_np, illuminate_np
from ptycho.probe import make_probe, probe_mask


def _image(seed=0, shape=(48, 40)):
    rng = np.random.default_rng(seed)
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(rng.normal(size=shape), 1.5) + 2.0


def test_ls_scalar_of_2x_vs_x_is_2(tol):
    x = _image()
    assert ls_scalar(2 * x, x) == pytest.approx(2.0, rel=tol("evaluation.exact"))
    assert ls_scalar(x, x) == pytest.approx(1.0, rel=tol("evaluation.exact"))


def test_pearson_of_x_and_affine_x_is_one(tol):
    x = _image(1)
    assert pearson(x, 2 * x + 3) == pytest.approx(1.0, rel=tol("evaluation.exact"))
    assert pearson(x, -x) == pytest.approx(-1.0, rel=tol("evaluation.exact"))
    assert np.isnan(pearson(np.ones((4, 4)), x[:4, :4]))


def test_plane_removal_of_a_pure_ramp_leaves_zeros(tol):
    rows, cols = np.indices((30, 50), dtype=np.float64)
    ramp = 0.7 - 0.03 * rows + 0.011 * cols
    assert np.abs(remove_plane(ramp)).max() <= tol("evaluation.exact")
    a, b = align_phase(ramp + 1.0, ramp)
    assert np.abs(a).max() <= tol("evaluation.exact") and np.abs(b).max() <= tol("evaluation.exact")
    bump = np.exp(-((rows - 15) ** 2 + (cols - 25) ** 2) / 20.0)
    np.testing.assert_allclose(remove_plane(bump + ramp), remove_plane(bump),
                               atol=tol("evaluation.exact"))


def test_errors_and_ssim_psnr_on_known_pairs(tol):
    x = _image(2)
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


def test_frc_of_an_image_with_itself_is_one_everywhere(tol):
    x = _image(3, shape=(64, 64))
    freq, frc = frc_curve(x, x)
    assert freq[0] > 0 and freq[-1] < 0.5
    np.testing.assert_allclose(frc[np.isfinite(frc)], 1.0, rtol=tol("evaluation.exact"))
    assert np.isfinite(frc).sum() >= len(frc) - 1
    assert frc_crossing(freq, frc, 0.5) is None


def test_frc_of_independent_noise_falls_and_crossings_interpolate():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(64, 64)), rng.normal(size=(64, 64))
    _, frc = frc_curve(a, b)
    assert np.nanmean(np.abs(frc)) < 0.2
    freq = np.array([0.05, 0.15, 0.25, 0.35])
    curve = np.array([1.0, 0.9, 0.3, 0.1])
    assert frc_crossing(freq, curve, 0.5) == pytest.approx(0.15 + 0.1 * (0.4 / 0.6))
    assert frc_crossing(freq, curve, 1 / 7) == pytest.approx(0.25 + 0.1 * ((0.3 - 1 / 7) / 0.2))


def test_scan_region_is_the_bounding_box_of_positions():
    rows, cols = scan_region([10.2, 30.0, 19.5], [5.5, 7.0, 20.9], (40, 40))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (6, 21, 11, 31)
    img = np.arange(1600.0).reshape(40, 40)
    np.testing.assert_array_equal(crop_to_scan(img, [10.2, 30.0], [5.5, 20.9]), img[6:21, 11:31])
    rows, _ = scan_region([10.0], [10.0], (40, 40), origin=(4.0, 0.0))
    assert (rows.start, rows.stop) == (6, 7)
    with pytest.raises(ConfigError):
        scan_region([], [], (4, 4))


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


def test_amplitude_metrics_report_unscaled_values(tol):
    x = _image(6)
    m = amplitude_metrics(3 * x, x)
    assert m["ls_scalar"] == pytest.approx(3.0, rel=tol("evaluation.exact"))
    # the scalar is reported, never applied: errors are those of the raw 3x
    assert m["rmse"] == pytest.approx(rmse(3 * x, x), rel=tol("evaluation.exact"))
    assert m["pearson"] == pytest.approx(1.0, rel=tol("evaluation.exact"))
    assert m["frc_0.5"] is None


def test_evaluate_images_pairs_model_with_baseline(tmp_path, tol):
    truth = _image(7, (60, 60)) * np.exp(1j * 0.2 * _image(8, (60, 60)))
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


def test_comparison_png_is_written_atomically(tmp_path):
    truth = _image(9, (40, 40)) * np.exp(0.1j * _image(10, (40, 40)))
    path = save_comparison_png(tmp_path / "cmp.png", truth, truth * 0.9, title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.png"]
    from matplotlib.image import imread

    img = imread(path)
    assert img.shape[0] > 200 and img.shape[1] > 300
    assert img[..., :3].std() > 0.05                             # not blank
    with pytest.raises(ConfigError):
        save_comparison_png(tmp_path / "bad.png", truth, truth[:10])


def test_uncovered_pixels_are_excluded_from_the_metrics(tol):
    truth = _image(11, (50, 50)).astype(np.complex128)
    recon = 1.5 * truth
    covered = np.ones((50, 50), bool)
    covered[20:30, 5:45] = False
    recon[~covered] = 0.0                                        # stitching leaves gaps at 0
    x, y = np.array([5.0, 45.0]), np.array([5.0, 45.0])
    rep = evaluate_images(recon, truth, np.abs(truth), xcoords=x, ycoords=y, covered=covered)
    assert rep.amplitude["ls_scalar"]["model"] == pytest.approx(1.5, rel=tol("evaluation.exact"))
    assert rep.amplitude["pearson"]["model"] == pytest.approx(1.0, rel=tol("evaluation.exact"))
    assert rep.amplitude["rmse"]["baseline"] == 0.0
    assert rep.region["covered_fraction"] == pytest.approx(np.mean(covered[5:46, 5:46]))
    m = amplitude_metrics(np.abs(recon), np.abs(truth))          # without the mask: gaps count
    assert m["ls_scalar"] < 1.5 * (1 - 0.05)


def test_largest_true_rectangle_against_brute_force():
    from ptycho.evaluation import largest_true_rectangle

    rng = np.random.default_rng(12)
    for trial in range(20):
        mask = rng.uniform(size=(9, 11)) > 0.25
        rows, cols = largest_true_rectangle(mask)
        area = (rows.stop - rows.start) * (cols.stop - cols.start)
        assert mask[rows, cols].all()
        best = 0
        for r0 in range(9):
            for r1 in range(r0 + 1, 10):
                for c0 in range(11):
                    for c1 in range(c0 + 1, 12):
                        if mask[r0:r1, c0:c1].all():
                            best = max(best, (r1 - r0) * (c1 - c0))
        assert area == best, trial
    rows, cols = largest_true_rectangle(np.zeros((3, 3), bool))
    assert rows.stop - rows.start == 0 or cols.stop - cols.start == 0


def test_comparison_png_blanks_uncovered_pixels(tmp_path):
    truth = _image(13, (40, 40)).astype(np.complex128)
    recon = truth.copy()
    covered = np.ones((40, 40), bool)
    covered[:5] = False
    recon[~covered] = -100.0                                      # would dominate the ranges
    path = save_comparison_png(tmp_path / "c.png", truth, recon, covered=covered)
    assert path.exists()
    with pytest.raises(ConfigError) as exc:
        save_comparison_png(tmp_path / "d.png", truth, recon, covered=np.zeros((40, 40), bool))
    assert exc.value.field == "covered"
