"""Alignment and metrics against hand-computed answers (ptycho.evaluation)."""
import json

import numpy as np
import pytest

from ptycho.config import ModelConfig
from ptycho.errors import ConfigError
from ptycho.evaluation import (
    EvaluationReport,
    align_phase,
    aligned_phases,
    amplitude_metrics,
    baseline_patches,
    complex_phase_metrics,
    constant_amplitude_baseline,
    crop_to_scan,
    evaluate_images,
    evaluate_patches,
    frc_crossing,
    frc_curve,
    frc_summary,
    global_phase,
    half_bit_threshold,
    ls_scalar,
    mae,
    measure_shift,
    patch_pearson,
    pearson,
    phase_metrics,
    psnr,
    relative_rmse,
    remove_plane,
    ring_pixel_counts,
    rmse,
    saturation_fraction,
    save_comparison_png,
    scan_region,
    ssim,
    twin_fraction,
    unwrap,
)
from ptycho.physics import diffract_np, illuminate_np
from ptycho.probe import make_probe, probe_mask


def assert_metrics_close(actual: dict, expected: dict, *, rel: float) -> None:
    """Metric dicts agree: the same keys, None (a metric that is undefined, e.g. an FRC that
    never crosses its threshold) and non-finite entries exactly, numbers to `rel`. pytest's
    `approx` of a dict raises TypeError on a None entry (pytest >= 9.2), so each entry is
    compared by its kind."""
    __tracebackhide__ = True
    assert actual.keys() == expected.keys(), f"keys differ: {actual.keys() ^ expected.keys()}"
    for key, want in expected.items():
        got = actual[key]
        if want is None or got is None:
            assert got is want, f"{key}: {got!r} != {want!r}"
        elif not np.all(np.isfinite(want)):
            np.testing.assert_array_equal(got, want, err_msg=key)
        else:
            assert got == pytest.approx(want, rel=rel), f"{key}: {got!r} != {want!r}"


def _image(seed=0, shape=(48, 40)):
    rng = np.random.default_rng(seed)
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(rng.normal(size=shape), 1.5) + 2.0


def test_ls_scalar_of_2x_vs_x_is_2(tol):
    x = _image()
    assert ls_scalar(2 * x, x) == pytest.approx(2.0, rel=tol("evaluation.exact"))
    assert ls_scalar(x, x) == pytest.approx(1.0, rel=tol("evaluation.exact"))


def test_scaled_relative_rmse_divides_out_the_ls_scalar(tol):
    from ptycho.evaluation import relative_rmse, scaled_relative_rmse

    rng = np.random.default_rng(4)
    truth = rng.uniform(0.5, 2.0, (32, 32))
    noise = rng.normal(0, 0.05, truth.shape)
    assert scaled_relative_rmse(0.267 * truth, truth) == pytest.approx(0.0, abs=1e-12)
    # a scaled copy of a noisy image has the noisy image's scaled error, not the scale's error
    assert scaled_relative_rmse(0.267 * (truth + noise), truth) == pytest.approx(
        scaled_relative_rmse(truth + noise, truth), rel=1e-12)
    assert relative_rmse(0.267 * truth, truth) == pytest.approx(0.733, rel=1e-12)
    assert np.isnan(scaled_relative_rmse(np.zeros_like(truth), truth))


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


# ---------------------------------------------------------------------------- reference cases
def _field(seed=20, shape=(80, 80), phase_std=0.5):
    """Smooth periodic complex test object (so a circular Fourier shift of it has no edge):
    amplitude ~2 +- 0.3, phase std `phase_std` rad about 0."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    amp = gaussian_filter(rng.normal(size=shape), 2.0, mode="wrap")
    amp = 2.0 + 0.3 * amp / amp.std()
    ph = gaussian_filter(rng.normal(size=shape), 3.0, mode="wrap")
    return amp * np.exp(1j * phase_std * ph / ph.std())


#: scan positions whose bounding box is rows/cols 15..65 of an 80 x 80 canvas
_X, _Y = np.array([15.0, 65.0, 40.0]), np.array([15.0, 65.0, 30.0])
_BOX = (slice(15, 66), slice(15, 66))


def _fourier_shift(image, shift):
    """Circular band-limited translation out(r) = in(r - shift): multiply the spectrum by
    exp(-2 pi i (ky dy + kx dx))."""
    ky = np.fft.fftfreq(image.shape[0])[:, None]
    kx = np.fft.fftfreq(image.shape[1])[None, :]
    ramp = np.exp(-2j * np.pi * (ky * shift[0] + kx * shift[1]))
    return np.fft.ifft2(np.fft.fft2(image) * ramp)


def test_truth_against_itself_scores_perfectly(tol):
    truth = _field()
    rep = evaluate_images(truth, truth, np.abs(truth), xcoords=_X, ycoords=_Y)
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
    truth = _field()
    recon = 2.0 * truth * np.exp(2.9j)
    rep = evaluate_images(recon, truth, np.abs(truth), xcoords=_X, ycoords=_Y)
    eps = tol("evaluation.exact")
    a_true = np.abs(truth[_BOX])
    amp = {k: v["model"] for k, v in rep.amplitude.items()}
    assert amp["ls_scalar"] == pytest.approx(2.0, rel=eps)
    assert amp["mae"] == pytest.approx(np.mean(a_true), rel=eps)
    assert amp["rmse"] == pytest.approx(np.sqrt(np.mean(a_true**2)), rel=eps)
    assert amp["rel_rmse"] == pytest.approx(1.0, rel=eps)
    assert amp["pearson"] == pytest.approx(1.0, rel=eps)
    # amplitude figures do not depend on the global phase
    plain = evaluate_images(2.0 * truth, truth, np.abs(truth), xcoords=_X, ycoords=_Y)
    assert_metrics_close({k: v["model"] for k, v in plain.amplitude.items()}, amp, rel=eps)
    ph = {k: v["model"] for k, v in rep.phase.items()}
    assert ph["global_phase"] == pytest.approx(2.9, rel=eps)
    assert ph["mae"] <= eps and ph["rmse"] <= eps            # was 2.97 rad before the fix
    assert ph["pearson"] == pytest.approx(1.0, rel=eps)      # was -0.73 before the fix
    assert rep.registration_shift == (0.0, 0.0)


def test_global_phase_is_the_angle_of_the_overlap(tol):
    truth = _field(21, (30, 30))
    eps = tol("evaluation.exact")
    for phi in (2.9, -3.0, 0.4):
        assert global_phase(1.7 * truth * np.exp(1j * phi), truth) == pytest.approx(phi, rel=eps)
    # phase-only API: a constant offset that wraps past pi is removed (circular mean)
    ph = np.angle(truth)
    m = phase_metrics(np.angle(np.exp(1j * (ph + 2.9))), ph)
    assert m["mae"] <= eps and m["pearson"] == pytest.approx(1.0, rel=eps)
    assert m["global_phase"] == pytest.approx(2.9, rel=eps)
    a, b = align_phase(ph + 2.9, ph)
    np.testing.assert_allclose(a, b, atol=eps)


def test_phase_ramp_is_removed_by_the_plane_fit(tol):
    truth = _field(22)
    rows, cols = np.indices(truth.shape, dtype=np.float64)
    ramp = 0.3 + 0.02 * rows - 0.015 * cols                 # |ramp| < pi: no wrapping
    rep = evaluate_images(truth * np.exp(1j * ramp), truth, np.abs(truth), xcoords=_X, ycoords=_Y)
    eps = tol("evaluation.exact")
    assert rep.phase["mae"]["model"] <= eps
    assert rep.phase["pearson"]["model"] == pytest.approx(1.0, rel=eps)
    off = evaluate_images(truth * np.exp(1j * ramp), truth, np.abs(truth), xcoords=_X,
                          ycoords=_Y, register=False)
    assert off.phase["mae"]["model"] <= eps                  # the ramp is not a shift


def test_wrapped_phase_ramp_is_unwrapped(tol):
    eps = tol("evaluation.exact")
    rows, cols = np.indices((40, 50), dtype=np.float64)
    ramp = 0.9 * rows + 0.4 * cols                            # 0 .. 55 rad, wraps ~9 times
    wrapped = np.angle(np.exp(1j * ramp))
    out = unwrap(wrapped)
    turns = (out - ramp) / (2 * np.pi)                         # one constant number of turns
    np.testing.assert_allclose(turns, np.round(turns[0, 0]), atol=eps)
    # through the metrics: truth with a steep wrapped ramp, recon = truth * exp(1.2i)
    truth = _field(23) * np.exp(1j * 0.7 * np.indices((80, 80))[0])
    rep = evaluate_images(truth * np.exp(1.2j), truth, np.abs(truth), xcoords=_X, ycoords=_Y)
    assert rep.phase["mae"]["model"] <= eps
    assert rep.phase["pearson"]["model"] == pytest.approx(1.0, rel=eps)
    # a wrapped ramp on the reconstruction only is unwrapped and then removed by the plane
    rows, cols = np.indices((80, 80), dtype=np.float64)
    rep = evaluate_images(_field(23) * np.exp(1j * (0.9 * rows + 0.4 * cols)), _field(23),
                          np.abs(_field(23)), xcoords=_X, ycoords=_Y)
    assert rep.phase["mae"]["model"] <= eps


def test_unwrapping_on_disconnected_parts_is_reconciled(tol):
    """unwrap_phase fixes each connected part of the mask only up to 2*pi*k; the recon's parts
    are moved to the truth's. With recon phase = truth phase + p (|p| <= 1), the aligned error is
    exactly the plane-removed p."""
    from scipy.ndimage import gaussian_filter

    rows, cols = np.indices((40, 60), dtype=np.float64)
    sel = np.ones((40, 60), bool)
    sel[:, 28:31] = False                                     # two parts
    truth = np.exp(1j * (0.8 * rows + 0.5 * cols))            # steep wrapped ramp
    p = gaussian_filter(np.random.default_rng(0).normal(size=(40, 60)), 2.0)
    p /= np.abs(p).max()
    a, b, _ = aligned_phases(truth * np.exp(1j * p), truth, sel)
    expected = remove_plane(p, sel)
    np.testing.assert_allclose((a - b)[sel], expected[sel], atol=tol("evaluation.exact"))


def test_integer_shift_is_measured_reported_and_undone(tol):
    truth = _field(24)
    recon = np.roll(truth, (3, -2), axis=(0, 1))              # recon(r) = truth(r - (3, -2))
    rep = evaluate_images(recon, truth, np.abs(truth), xcoords=_X, ycoords=_Y)
    px = tol("evaluation.registration_px")
    dy, dx = rep.registration_shift
    assert abs(dy - 3.0) <= px and abs(dx + 2.0) <= px
    assert rep.registration["applied"] is True
    eps = tol("evaluation.exact")
    # the exact integer translation is undone: a perfect score on the scanned region
    assert rep.amplitude["mae"]["model"] <= eps and rep.phase["mae"]["model"] <= eps
    assert rep.amplitude["ssim"]["model"] == pytest.approx(1.0, rel=eps)
    assert rep.registration["evaluated_fraction"] == 1.0     # rolled-in rows lie outside
    off = evaluate_images(recon, truth, np.abs(truth), xcoords=_X, ycoords=_Y, register=False)
    assert off.registration_shift is None and off.registration["enabled"] is False
    assert off.amplitude["mae"]["model"] > 0.0                # the shift costs without it
    json.dumps(rep.to_dict())


@pytest.mark.parametrize("shift", [(0.5, 0.0), (-1.25, 0.75)])
def test_subpixel_shift_is_recovered(shift, tol):
    truth = _field(25)
    recon = _fourier_shift(truth, shift)
    px = tol("evaluation.registration_px")
    got = measure_shift(recon, truth, _BOX)["shift"]
    assert abs(got[0] - shift[0]) <= px and abs(got[1] - shift[1]) <= px
    rep = evaluate_images(recon, truth, np.abs(truth), xcoords=_X, ycoords=_Y)
    assert abs(rep.registration_shift[0] - shift[0]) <= px
    assert abs(rep.registration_shift[1] - shift[1]) <= px
    off = evaluate_images(recon, truth, np.abs(truth), xcoords=_X, ycoords=_Y, register=False)
    # undone, not just reported: what is left is the padding's truncation error
    residual = tol("evaluation.subpixel_residual")
    assert rep.amplitude["mae"]["model"] <= residual * off.amplitude["mae"]["model"]
    assert rep.phase["mae"]["model"] <= residual * off.phase["mae"]["model"]
    # only pixels within a few px of the canvas edge are filled from outside: none in the box
    assert rep.registration["evaluated_fraction"] == 1.0


def test_registration_reports_its_peak_correlation(tol, monkeypatch):
    """A translated copy correlates perfectly at the recovered shift (r = 1); a measurement
    that has not converged is reported but not applied."""
    truth = _field(28)
    rep = evaluate_images(np.roll(1.5 * truth, (-4, 1), axis=(0, 1)), truth, np.abs(truth),
                          xcoords=_X, ycoords=_Y)
    assert rep.registration["converged"] is True
    assert rep.registration["peak_correlation"] == pytest.approx(1.0, abs=tol("evaluation.exact"))
    off = evaluate_images(truth, truth, np.abs(truth), xcoords=_X, ycoords=_Y)
    assert off.registration["peak_correlation"] == pytest.approx(1.0, abs=tol("evaluation.exact"))
    # one pass only: its step (~6 px) exceeds the 1/20 px grid, so it has not converged
    import ptycho.evaluation as ev

    moved = np.roll(truth, (6, 0), axis=(0, 1))
    assert measure_shift(moved, truth, _BOX, max_iterations=1)["converged"] is False
    one_pass = ev.measure_shift
    monkeypatch.setattr(ev, "measure_shift",
                        lambda *a, **k: one_pass(*a, **{**k, "max_iterations": 1}))
    rep = evaluate_images(moved, truth, np.abs(truth), xcoords=_X, ycoords=_Y)
    plain = evaluate_images(moved, truth, np.abs(truth), xcoords=_X, ycoords=_Y, register=False)
    assert rep.registration["applied"] is False and "reason" in rep.registration
    assert rep.registration_shift is not None                 # still reported
    assert rep.amplitude == plain.amplitude and rep.phase == plain.phase


@pytest.mark.parametrize("shift", [(0.5, 0.5), (-1.25, 0.75)])
def test_subpixel_translation_does_not_smooth_noise(shift, tol):
    """The sub-pixel correction is all-pass (|exp(-2 pi i k.shift)| = 1, Parseval): white
    noise keeps its power, so registering cannot flatter a noisy reconstruction (a cubic
    spline shift by (0.5, 0.5) would lower the noise std by ~25 %)."""
    from ptycho.evaluation import translate

    rng = np.random.default_rng(29)
    noise = rng.normal(size=(120, 120)) + 1j * rng.normal(size=(120, 120))
    moved = translate(noise, shift)[8:-8, 8:-8]
    assert moved.std() / noise.std() == pytest.approx(1.0, rel=tol("evaluation.subpixel_noise_std"))
    # and it is the inverse of itself up to the padding: there and back on a smooth field
    truth = _field(29)
    back = translate(translate(truth, shift), (-shift[0], -shift[1]))
    assert np.abs(back - truth)[_BOX].max() <= tol("evaluation.subpixel_residual") * np.abs(truth).max()


def test_baseline_is_scored_on_the_same_pixels_as_the_registered_model(tol):
    """Model displaced by (3, -2) with a stitching gap B: after undoing the shift the model has
    no data on B' = B - (3, -2); both model and baseline are scored without B and B'."""
    truth = _field(26)
    covered = np.ones(truth.shape, bool)
    covered[30:36, 30:36] = False                             # B (36 px)
    recon = np.roll(truth, (3, -2), axis=(0, 1))
    recon[~covered] = 0.0
    baseline = np.abs(truth).copy()
    b_prime = np.zeros(truth.shape, bool)
    b_prime[27:33, 32:38] = True                              # B' (36 px, 12 shared with B)
    baseline[b_prime & covered] += 1.0                        # a marker only B' exposes
    rep = evaluate_images(recon, truth, baseline, xcoords=_X, ycoords=_Y, covered=covered)
    eps = tol("evaluation.exact")
    assert rep.registration_shift == pytest.approx((3.0, -2.0), abs=tol("evaluation.registration_px"))
    assert rep.amplitude["mae"]["model"] <= eps
    assert rep.amplitude["mae"]["baseline"] <= eps            # B' excluded for the baseline too
    region = 51 * 51
    assert rep.registration["evaluated_fraction"] == pytest.approx(1 - 60 / region, rel=eps)
    assert rep.region["covered_fraction"] == pytest.approx(1 - 36 / region, rel=eps)


def test_evaluate_patches_perfect_and_phased_reconstructions(tol):
    from ptycho.simulate import extract_patches

    N, crop = 32, 16
    truth = _field(27, (96, 96))
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


# ---------------------------------------------------------------------------- FRC 1/2 bit
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


def test_frc_crossing_with_a_per_ring_threshold():
    freq = np.array([0.05, 0.15, 0.25, 0.35])
    curve = np.array([1.0, 0.9, 0.3, 0.1])
    thr = np.array([1.0, 0.6, 0.4, 0.3])                      # frc - thr: 0, 0.3, -0.1, -0.2
    assert frc_crossing(freq, curve, thr) == pytest.approx(0.15 + 0.1 * 0.3 / 0.4)
    assert frc_crossing(freq, curve, np.zeros(4)) is None


def test_frc_half_bit_of_itself_and_of_independent_noise():
    x = _image(3, shape=(64, 64))
    s = frc_summary(x, x)
    assert s["1/2bit"] is None and s["1/7"] is None and s["0.5"] is None
    assert s["ring_pixels"][:2] == [1, 8]
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(64, 64)), rng.normal(size=(64, 64))
    s = frc_summary(a, b)
    # no correlation at any frequency: below the 1/2-bit threshold from the first ring on
    assert s["1/2bit"] == pytest.approx(s["freq"][1])
    assert amplitude_metrics(a, b)["frc_1/2bit"] == pytest.approx(s["freq"][1])


# ---------------------------------------------------------------------------- patch windows
@pytest.mark.parametrize("N, crop", [(16, 8), (16, 7), (32, 17)])
def test_patch_metrics_use_the_stitched_window(N, crop):
    """The window is rows/cols (N - crop)//2 .. + crop, as ptycho.stitching stitches: a recon
    equal to the truth there and anti-correlated everywhere else scores exactly r = 1."""
    rng = np.random.default_rng(30)
    truth = rng.uniform(1.0, 2.0, (5, N, N))
    s = (N - crop) // 2
    inside = np.zeros((N, N), bool)
    inside[s:s + crop, s:s + crop] = True
    recon = np.where(inside, truth, 3.0 - truth)
    np.testing.assert_allclose(patch_pearson(recon, truth, crop=crop), 1.0, rtol=1e-12)
    wider = patch_pearson(recon, truth, crop=crop + 1)
    assert np.all(wider < 0.99)
    twin = np.roll(truth[:, ::-1, ::-1], shift=(1, 1), axis=(1, 2))
    assert twin_fraction(np.where(inside, twin, truth), truth, crop=crop) == 1.0
    with pytest.raises(ConfigError):
        patch_pearson(recon, truth, crop=N + 1)


def test_complex_phase_metrics_report_the_global_phase(tol):
    truth = _field(31, (32, 32))
    m = complex_phase_metrics(truth * np.exp(-2.5j), truth)
    assert m["global_phase"] == pytest.approx(-2.5, rel=tol("evaluation.exact"))
    assert m["mae"] <= tol("evaluation.exact")
