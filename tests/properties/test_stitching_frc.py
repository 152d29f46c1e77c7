"""Hypothesis properties of reassembly and of the Fourier ring correlation.

- ptycho.stitching.stitch_patches: patches that all hold one constant c reassemble to c on
  every covered pixel (the overlap normalization divides the same bilinear weights it
  accumulated), to exactly 0 elsewhere, and the weights conserve mass (K * crop**2 when every
  crop lands on the default canvas).
- ptycho.evaluation.frc_curve (the public FRC): FRC(a, a) = 1 and FRC(a, 2**k a) = 1 on every
  non-empty ring (scaling by a power of two is exact through mean, window and FFT), FRC is
  symmetric, and |FRC| <= 1 (Cauchy-Schwarz per ring).
"""
import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ptycho.evaluation import frc_curve
from ptycho.stitching import stitch_patches
from tests.conftest import ledger_tolerance

from .strategies import KINDS, real_arrays, signed_values

RTOL_STITCH = ledger_tolerance("stitching.exact")
RTOL_FRC = ledger_tolerance("properties.frc_self")


# ----------------------------------------------------------------------------- stitching
@st.composite
def constant_patch_sets(draw):
    """(patches (K, N, N), x (K,), y (K,), crop, c): K copies of the constant c (real or
    complex) at fractional positions in [-20, 20] px."""
    K = draw(st.integers(1, 6))
    N = draw(st.sampled_from([4, 8, 16]))
    crop = draw(st.integers(1, N))
    positions = st.floats(-20.0, 20.0, allow_nan=False, allow_infinity=False)
    x = draw(arrays(np.float64, (K,), elements=positions))
    y = draw(arrays(np.float64, (K,), elements=positions))
    c = draw(signed_values(1e-3, 1e3))
    if draw(st.booleans()):
        c = complex(c, draw(signed_values(1e-3, 1e3)))
    patches = np.full((K, N, N), c, dtype=np.complex128 if isinstance(c, complex) else np.float64)
    return patches, x, y, crop, c


# boundary examples: one 1x1 crop at an integer position; two full crops at opposite
# half-pixel offsets (every canvas pixel weighted by bilinear fractions)
@example(case=(np.full((1, 4, 4), 2.5), np.array([0.0]), np.array([0.0]), 1, 2.5))
@example(case=(np.full((2, 8, 8), -1.5 + 2j), np.array([0.5, -0.5]), np.array([-0.5, 0.5]), 8,
               -1.5 + 2j))
@given(constant_patch_sets())
def test_stitching_constant_patches_gives_the_constant_on_covered_pixels(case):
    patches, x, y, crop, c = case
    res = stitch_patches(patches, x, y, crop=crop)
    covered = res.covered()
    assert covered.any()
    assert np.all(np.abs(res.image[covered] - c) <= RTOL_STITCH * abs(c))
    assert np.all(res.image[~covered] == 0)
    K = patches.shape[0]
    assert abs(res.weight.sum() - K * crop**2) <= RTOL_STITCH * K * crop**2


# ----------------------------------------------------------------------------- FRC
@st.composite
def images(draw, count=1):
    """`count` real (H, W) float64 images of one shape, H, W in [8, 32], all dense or all
    sparse; returns (kind, images)."""
    H = draw(st.integers(8, 32))
    W = draw(st.integers(8, 32))
    kind = draw(st.sampled_from(KINDS))
    return kind, [draw(real_arrays((H, W), kinds=(kind,))) for _ in range(count)]


def nonempty(frc):
    """Rings with power in both images (frc_curve reports nan for the others)."""
    return np.isfinite(frc)


def assert_rings_not_vacuous(kind, frc, *imgs, window):
    """The per-ring assertions hold on something: a dense image has power on every ring (each
    ring holds pixels, and a dense random image's spectrum has no zero ring); a sparse image
    that is not constant (with the window, which removes the mean) or not zero (without) has
    power on at least one ring.
    Breaker: an FRC that reports every ring empty passes the per-ring checks vacuously."""
    ok = nonempty(frc)
    if kind == "dense":
        assert ok.all(), frc
    elif all((np.ptp(a) > 0) if window else np.any(a != 0) for a in imgs):
        assert ok.any(), frc


# boundary example: a constant image (no power after mean removal with the window: every ring
# empty; without the window only the DC ring has power)
@example(imgs=("sparse", [np.full((8, 12), 3.0)]), k=1, window=True)
@example(imgs=("sparse", [np.full((8, 12), 3.0)]), k=-3, window=False)
@given(images(), st.integers(-10, 10), st.booleans())
def test_frc_of_an_image_with_itself_and_a_power_of_two_multiple_is_one(imgs, k, window):
    kind, (a,) = imgs
    freq, frc = frc_curve(a, a, window=window)
    assert freq.shape == frc.shape == (min(a.shape) // 2,)
    assert not np.any(np.isinf(frc))
    ok = nonempty(frc)
    assert_rings_not_vacuous(kind, frc, a, window=window)
    assert np.all(np.abs(frc[ok] - 1.0) <= RTOL_FRC)
    _, frc_scaled = frc_curve(a, a * 2.0**k, window=window)
    np.testing.assert_array_equal(nonempty(frc_scaled), ok)
    assert np.all(np.abs(frc_scaled[ok] - 1.0) <= RTOL_FRC)


@given(images(count=2), st.booleans())
def test_frc_is_symmetric_and_bounded_by_one(imgs, window):
    kind, (a, b) = imgs
    _, ab = frc_curve(a, b, window=window)
    _, ba = frc_curve(b, a, window=window)
    np.testing.assert_array_equal(ab, ba)  # the same products, summed in the same order
    ok = nonempty(ab)
    assert_rings_not_vacuous(kind, ab, a, b, window=window)
    assert np.all(np.abs(ab[ok]) <= 1.0 + RTOL_FRC)
