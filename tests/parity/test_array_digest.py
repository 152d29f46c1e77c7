"""parity.array_digest: the content key of the oracle's and the forward pass's caches."""
import numpy as np

from parity.array_digest import array_digest


def test_equal_contents_give_equal_digests_and_any_difference_another():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    base = array_digest([a, None])
    assert array_digest([a.copy(), None]) == base
    assert array_digest([np.asfortranarray(a), None]) == base  # contents, not memory layout
    changed = a.copy()
    changed[2, 3] = np.nextafter(changed[2, 3], np.float32(np.inf))
    others = [array_digest([changed, None]),              # one ulp of one entry
              array_digest([a.reshape(4, 3), None]),       # same bytes, other shape
              array_digest([a.astype(np.float64), None]),  # same values, other dtype
              array_digest([a]),                           # the None marker counts
              array_digest([None, a])]                     # order counts
    assert base not in others and len(set(others)) == len(others)
