"""Image-pair comparison, the two-sided verdict and compare-images."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from parity import attribution, images
from parity.images import ImageInputError
from tests.conftest import LEDGER_PATH, ROOT
from parity.tolerances import load_ledger

LEDGER = load_ledger(LEDGER_PATH)

# docs/design.md §11: s_cf for N=64 and 1e9 photons; g is a typical normalization gain.
S_CF = 988.2117
G = 0.2631
SCALARS = {"s_cf": S_CF, "g": G, "probe_scale": 4.0, "nphotons": 1e9, "N": 64.0, "gridsize": 2.0}


@pytest.fixture(scope="module")
def image():
    """A seeded 64x64 positive texture (smooth noise on a Gaussian blob)."""
    rng = np.random.default_rng(1234)
    yy, xx = np.indices((64, 64))
    blob = np.exp(-((yy - 32) ** 2 + (xx - 30) ** 2) / (2 * 12.0**2))
    return 1.0 + blob + gaussian_filter(rng.random((64, 64)), 1.5)


def test_image_stats_of_a_known_array(tol):
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    s = images.image_stats(x)
    assert (s.max, s.min, s.mean, s.sum) == (4.0, 1.0, 2.5, 10.0)
    rel = tol("gap.synthetic")
    assert s.std == pytest.approx(math.sqrt(1.25), rel=rel) and s.l2 == pytest.approx(math.sqrt(30.0), rel=rel)
    assert s.rms == pytest.approx(math.sqrt(7.5), rel=rel)


def test_rois_are_fixed_regions(image):
    rois = images.roi_slices((64, 64))
    assert tuple(rois) == images.ROI_NAMES
    for rows, cols in rois.values():
        assert rows.stop - rows.start == 16 and cols.stop - cols.start == 16
    assert rois["centre"] == (slice(24, 40), slice(24, 40))
    assert rois["bottom_right"] == (slice(48, 64), slice(48, 64))
    assert rois["top"] == (slice(0, 16), slice(24, 40))
    cmp = images.compare_images(image, image)
    assert [r.name for r in cmp.regions] == ["full", *images.ROI_NAMES]


def test_radial_profile_of_a_radial_image():
    yy, xx = np.indices((33, 33))
    r = np.hypot(yy - 16, xx - 16)
    radius, prof = images.radial_profile(np.rint(r))
    assert radius[:5].tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(prof, radius)


def test_scale_factor_of_two_named_scalars_is_found_and_fails_on_sum(image, tol):
    factor = S_CF * G  # 2.6e2
    assert 255 < factor < 265
    cmp = images.compare_images(image, factor * image)
    full = cmp.full
    for ratio in (full.sum_ratio, full.max_ratio, full.l2_ratio):
        assert ratio == pytest.approx(factor, rel=tol("gap.synthetic"))
    assert full.pearson_r == pytest.approx(1.0, rel=tol("gap.synthetic"))
    matches = attribution.attribute_ratio(full.sum_ratio, SCALARS, rel_tol=tol("gap.attribution"))
    assert matches, "no attribution found"
    assert dict(matches[0].terms) == {"s_cf": 1.0, "g": 1.0}
    assert matches[0].expression == "s_cf * g"
    assert all(m.rel_error <= tol("gap.attribution") for m in matches)
    buckets = [round(m.rel_error / attribution.ERROR_RESOLUTION) for m in matches]  # sorted by error
    assert buckets == sorted(buckets)
    v = images.verdict(cmp, LEDGER)
    assert not v.passed
    assert len(v.reasons) == 1 and "sum_ratio" in v.reasons[0]  # r = 1: fails on the sum ratio alone


def test_pure_geometric_change_with_equal_sums_fails_on_correlation(image, tol):
    moved = np.roll(image, (20, 23), axis=(0, 1))
    cmp = images.compare_images(image, moved)
    assert cmp.full.sum_ratio == pytest.approx(1.0, rel=tol("gap.synthetic"))
    v = images.verdict(cmp, LEDGER)
    assert not v.passed
    assert len(v.reasons) == 1 and "|r|" in v.reasons[0]


def test_close_pair_passes(image):
    rng = np.random.default_rng(5)
    cmp = images.compare_images(image, image * (1 + 1e-3 * rng.standard_normal(image.shape)))
    v = images.verdict(cmp, LEDGER)
    assert v.passed and v.reasons == ()


def test_verdict_bounds_come_from_the_ledger(image, tol):
    v = images.verdict(images.compare_images(image, image), LEDGER)
    assert v.r_min == pytest.approx(1 - tol("gap.verdict_one_minus_r"), rel=tol("arithmetic.float64"))
    assert v.sum_bound == tol("gap.verdict_sum_ratio")


def test_constant_image_has_undefined_r_and_fails():
    flat = np.ones((16, 16))
    v = images.verdict(images.compare_images(flat, flat), LEDGER)
    assert not v.passed and "undefined" in v.reasons[0]


# --------------------------------------------------------------------------- input


def test_load_image_formats(tmp_path, image):
    np.save(tmp_path / "a.npy", image)
    np.testing.assert_array_equal(images.load_image(tmp_path / "a.npy"), image)
    np.savez(tmp_path / "z.npz", obj=image.astype(np.complex64) * 1j, other=image)
    # |0 + i*x| of complex64 is exactly float32(x)
    np.testing.assert_array_equal(images.load_image(f"{tmp_path / 'z.npz'}:obj"), image.astype(np.float32))
    np.testing.assert_array_equal(images.load_image(tmp_path / "z.npz", key="other"), image)
    image.astype("<f4").tofile(tmp_path / "r.bin")
    np.testing.assert_array_equal(images.load_image(tmp_path / "r.bin", shape=(64, 64)), image.astype(np.float32))
    np.save(tmp_path / "b.npy", image[None, :, :, None])
    assert images.load_image(tmp_path / "b.npy").shape == (64, 64)


def test_load_image_errors_name_the_file(tmp_path, image):
    np.savez(tmp_path / "z.npz", a=image, b=image)
    np.save(tmp_path / "cube.npy", np.zeros((2, 4, 4)))
    np.save(tmp_path / "nan.npy", np.full((4, 4), np.nan))
    image.astype("<f4").tofile(tmp_path / "r.bin")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    cases = [((tmp_path / "missing.npy",), {}, "file not found"),
             ((tmp_path / "z.npz",), {}, "choose one"),
             ((tmp_path / "z.npz",), {"key": "c"}, "no array 'c'"),
             ((tmp_path / "cube.npy",), {}, "2-D"),
             ((tmp_path / "nan.npy",), {}, "NaN"),
             ((tmp_path / "r.bin",), {}, "--shape"),
             ((tmp_path / "r.bin",), {"shape": (60, 64)}, "needs 3840"),
             ((tmp_path / "junk.npy",), {}, "cannot read")]
    for args, kwargs, problem in cases:
        with pytest.raises(ImageInputError, match=problem) as info:
            images.load_image(*args, **kwargs)
        assert args[0].name in info.value.source


def test_mismatched_shapes_are_an_input_error(image):
    with pytest.raises(ImageInputError, match="equally shaped"):
        images.compare_images(image, image[:32])


# --------------------------------------------------------------------------- CLI


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "parity", "compare-images", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_compare_images_cli_exit_codes(tmp_path, image):
    np.save(tmp_path / "a.npy", image)
    np.save(tmp_path / "scaled.npy", S_CF * G * image)
    np.save(tmp_path / "close.npy", image * 1.001)
    (tmp_path / "s.json").write_text(json.dumps(SCALARS))

    ok = _cli(tmp_path / "a.npy", tmp_path / "close.npy")
    assert ok.returncode == 0, ok.stderr
    assert "**PASS**" in ok.stdout and "| centre |" in ok.stdout

    fail = _cli(tmp_path / "a.npy", tmp_path / "scaled.npy", "--scalars", tmp_path / "s.json",
                "--out", tmp_path / "out", "--json")
    assert fail.returncode == 1, fail.stderr
    payload = json.loads(fail.stdout)
    assert payload["verdict"]["passed"] is False
    assert payload["attributions"]["sum ratio"][0]["expression"] == "s_cf * g"
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "report.md", "comparison.json", "side_by_side.png", "residual_hist.png", "radial_profiles.png"}
    assert "s_cf * g" in (tmp_path / "out" / "report.md").read_text()
    for name in ("side_by_side.png", "residual_hist.png", "radial_profiles.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    missing = _cli(tmp_path / "a.npy", tmp_path / "nope.npy")
    assert missing.returncode == 2 and "nope.npy: file not found" in missing.stderr
    bad_shape = _cli(tmp_path / "a.npy", tmp_path / "a.npy", "--shape", "64")
    assert bad_shape.returncode == 2 and "--shape" in bad_shape.stderr
