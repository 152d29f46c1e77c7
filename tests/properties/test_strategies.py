"""The shared strategies draw what the properties need: dense fields (most elements distinct)
as well as sparse ones (one background value), within the documented value range."""
import numpy as np
from hypothesis import find, given, settings
from hypothesis import strategies as st

from .strategies import complex_fields, dense_arrays, real_arrays

SHAPE = (2, 16, 16)
SIZE = int(np.prod(SHAPE))
SEARCH = settings(database=None, max_examples=200)


def _distinct(a) -> int:
    return len(np.unique(np.abs(a)))


@given(st.data(), st.sampled_from([32, 64]))
def test_dense_fields_are_dense_and_in_range(data, width):
    """Breaker: a dense strategy built on hypothesis' arrays() (one fill value overwritten at a
    few positions, ~2% of a 512-element field) fails the distinct-value count."""
    a = data.draw(dense_arrays(SHAPE, width=width))
    assert a.shape == SHAPE and a.dtype == (np.float32 if width == 32 else np.float64)
    assert _distinct(a) >= SIZE // 2
    mag = np.abs(a[a != 0])
    lo, hi = (np.float32(1e-3), np.float32(1e2)) if width == 32 else (1e-3, 1e2)
    assert np.all((mag >= lo) & (mag <= hi))


def test_default_strategies_draw_dense_and_sparse_fields():
    """real_arrays and complex_fields (what the properties use) reach dense fields and sparse
    ones; `find` searches each strategy. Breaker: the old real_arrays (sparse only) never
    yields a field with half its elements distinct."""
    dense = find(real_arrays(SHAPE), lambda a: _distinct(a) >= SIZE // 2, settings=SEARCH)
    assert _distinct(dense) >= SIZE // 2
    sparse = find(real_arrays(SHAPE), lambda a: _distinct(a) <= 4, settings=SEARCH)
    assert _distinct(sparse) <= 4
    field = find(complex_fields((16,)), lambda p: _distinct(p.real) >= p.size // 2,
                 settings=SEARCH)
    assert field.dtype == np.complex128
