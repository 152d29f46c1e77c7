"""Global reassembly with overlap normalization (ptycho.stitching)."""
import numpy as np
import pytest

from ptycho.errors import ConfigError
from ptycho.simulate import extract_patches
from ptycho.stitching import flatten_patches, global_positions, stitch_patches


def _object(shape=(80, 96), seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 2.0, shape) * np.exp(1j * rng.uniform(-1, 1, shape))


def test_identical_patches_at_one_position_reassemble_to_the_patch(tol):
    rng = np.random.default_rng(1)
    patch = rng.normal(size=(32, 32)) + 1j * rng.normal(size=(32, 32))
    patches = np.repeat(patch[None], 5, axis=0)
    res = stitch_patches(patches, [40.0] * 5, [30.0] * 5, crop=16, origin=(0, 0), shape=(64, 64))
    # central 16 x 16 of the patch lands at rows 30-8.., cols 40-8..
    np.testing.assert_allclose(res.image[22:38, 32:48], patch[8:24, 8:24],
                               rtol=tol("stitching.exact"), atol=0)
    assert np.all(res.weight[22:38, 32:48] == 5.0)
    assert np.count_nonzero(res.covered()) == 16 * 16


def test_patches_cut_from_an_object_reassemble_to_the_object(tol):
    obj = _object()
    ys, xs = np.meshgrid(np.arange(20.0, 61.0, 6.0), np.arange(20.0, 77.0, 7.0), indexing="ij")
    x, y = xs.ravel(), ys.ravel()
    patches = extract_patches(obj, x, y, 32)
    res = stitch_patches(patches, x, y, crop=16, origin=(0, 0), shape=obj.shape)
    cov = res.covered()
    assert cov[12:64, 12:84].all()
    np.testing.assert_allclose(res.image[cov], obj[cov], rtol=tol("stitching.exact"), atol=0)
    assert np.all(res.image[~cov] == 0)


def test_overlap_normalization_is_exact_on_a_known_tiling(tol):
    # 2 x 2 tiling, step 8 with crop 16: weights 1 (corners), 2 (edges), 4 (centre)
    value = 3.0 - 2.0j
    patches = np.full((4, 32, 32), value)
    x = np.array([16.0, 24.0, 16.0, 24.0])
    y = np.array([16.0, 16.0, 24.0, 24.0])
    res = stitch_patches(patches, x, y, crop=16, origin=(0, 0), shape=(48, 48))
    w = res.weight
    assert np.all(w[16:24, 16:24] == 4.0)
    assert np.all(w[8:16, 16:24] == 2.0) and np.all(w[16:24, 8:16] == 2.0)
    assert np.all(w[8:16, 8:16] == 1.0) and np.all(w[24:32, 24:32] == 1.0)
    assert np.count_nonzero(w) == 24 * 24
    np.testing.assert_allclose(res.image[8:32, 8:32], value, rtol=tol("stitching.exact"), atol=0)
    assert np.all(res.image[w == 0] == 0)


def test_overlap_normalization_at_subpixel_positions_keeps_a_constant(tol):
    rng = np.random.default_rng(3)
    x = rng.uniform(20, 60, 40)
    y = rng.uniform(20, 60, 40)
    res = stitch_patches(np.full((40, 32, 32), 2.5), x, y, crop=16, origin=(0, 0), shape=(80, 80))
    cov = res.covered()
    np.testing.assert_allclose(res.image[cov], 2.5, rtol=tol("stitching.exact"))
    # fractional bilinear weights: total weight equals the number of crop pixels placed
    assert res.weight.sum() == pytest.approx(40 * 16 * 16, rel=tol("stitching.exact"))


def test_default_canvas_centres_the_centre_of_mass(tol):
    x = np.array([10.0, 30.0, 50.0])
    y = np.array([5.0, 5.0, 17.0])
    patches = np.ones((3, 16, 16))
    res = stitch_patches(patches, x, y, crop=8)
    com = (np.mean(y) - res.origin[0], np.mean(x) - res.origin[1])
    assert com == pytest.approx((res.image.shape[0] / 2, res.image.shape[1] / 2), rel=tol("arithmetic.float64"))
    # every crop fits entirely: total weight = 3 full crops
    assert res.weight.sum() == pytest.approx(3 * 64, rel=tol("stitching.exact"))


def test_global_positions_and_flatten_follow_grouping_conventions():
    offsets = np.array([[[[10.0], [20.0]]], [[[30.0], [40.0]]]])           # (2, 1, 2, 1)
    rel = np.array([[[[1.0, -1.0], [2.0, -2.0]]], [[[0.5, -0.5], [0.0, 0.0]]]])  # (2, 1, 2, 2)
    x, y = global_positions(offsets, rel)
    np.testing.assert_array_equal(x, [9.0, 11.0, 29.5, 30.5])
    np.testing.assert_array_equal(y, [18.0, 22.0, 40.0, 40.0])
    patches = np.arange(2 * 4 * 4 * 2).reshape(2, 4, 4, 2)
    flat = flatten_patches(patches)
    np.testing.assert_array_equal(flat[3], patches[1, :, :, 1])


def test_bad_inputs_name_the_field():
    with pytest.raises(ConfigError) as exc:
        stitch_patches(np.ones((2, 16, 16)), [1.0], [1.0], crop=8)
    assert exc.value.field == "xcoords"
    # one of the two coordinate arrays short is as wrong as both, and named (mutation testing:
    # `or` -> `and` in the shape test survived)
    for x, y, field in (([1.0, 2.0], [1.0], "ycoords"), ([1.0], [1.0, 2.0], "xcoords")):
        with pytest.raises(ConfigError) as exc:
            stitch_patches(np.ones((2, 16, 16)), x, y, crop=8)
        assert exc.value.field == field
    with pytest.raises(ConfigError) as exc:
        stitch_patches(np.ones((1, 16, 16)), [1.0], [1.0], crop=32)
    assert exc.value.field == "crop"
    with pytest.raises(ConfigError) as exc:
        global_positions(np.zeros((2, 1, 2, 1)), np.zeros((3, 1, 2, 4)))
    assert exc.value.field == "coords_relative"
