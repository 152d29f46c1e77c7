"""The shared numeric helpers (ptycho.stats): Pearson r and finite-or-None."""
import math

import numpy as np
import pytest

from ptycho.stats import finite_or_none, pearson


def test_pearson_of_affine_copies_is_plus_or_minus_one(tol):
    x = np.random.default_rng(0).normal(size=(12, 9))
    assert pearson(x, 2 * x + 3) == pytest.approx(1.0, rel=tol("evaluation.exact"))
    assert pearson(x, -0.5 * x + 1) == pytest.approx(-1.0, rel=tol("evaluation.exact"))


def test_pearson_by_hand(tol):
    # a' = (-1, 0, 1), b' = (-2, 1, 1): sum a'b' = 3, sum a'^2 = 2, sum b'^2 = 6 -> 3 / sqrt(12)
    assert pearson([1.0, 2.0, 3.0], [0.0, 3.0, 3.0]) == pytest.approx(
        3 / math.sqrt(12), rel=tol("arithmetic.float64_ulp"))


def test_pearson_is_nan_for_a_constant_input():
    assert math.isnan(pearson(np.ones(5), np.arange(5.0)))
    assert math.isnan(pearson(np.arange(5.0), np.full(5, 2.0)))


def test_pearson_along_axes_is_the_per_slice_value(tol):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 6, 5)), rng.normal(size=(4, 6, 5))
    b[1] = 3 * a[1] - 2
    b[2] = 7.0                                                   # constant slice: nan
    got = pearson(a, b, axis=(1, 2))
    assert got.shape == (4,)
    for k in (0, 3):
        assert got[k] == pearson(a[k], b[k])
    assert got[1] == pytest.approx(1.0, rel=tol("arithmetic.float64_sums")) and math.isnan(got[2])


def test_pearson_rejects_different_shapes():
    with pytest.raises(ValueError, match=r"shape \(5,\) != a shape \(4,\)") as exc:
        pearson(np.ones(4), np.ones(5))
    assert exc.value.field == "b"


def test_finite_or_none():
    assert finite_or_none(None) is None
    assert finite_or_none(math.nan) is None and finite_or_none(-math.inf) is None
    assert finite_or_none(np.float32(1.5)) == 1.5 and type(finite_or_none(np.float32(1.5))) is float
    assert finite_or_none(2) == 2.0
