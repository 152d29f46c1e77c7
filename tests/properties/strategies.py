"""Shared hypothesis strategies for the property tests (arrays drawn through
hypothesis.extra.numpy.arrays, so counterexamples shrink)."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


def signed_values(lo: float = 1e-3, hi: float = 1e2, width: int = 64):
    """0 or +-[lo, hi] (finite, normal floats of `width` bits); shrinks toward 0.

    Magnitudes stay away from the subnormal range: float32 kernels flush subnormal values to
    zero (a property of the kernel, not of the physics), and squares of tiny float64 values
    underflow."""
    if width == 32:  # bounds must be float32 values themselves
        lo, hi = float(np.float32(lo)), float(np.float32(hi))
    magnitude = st.floats(lo, hi, width=width, allow_nan=False, allow_infinity=False,
                          allow_subnormal=False)
    return st.one_of(st.just(0.0), magnitude, magnitude.map(lambda v: -v))


def real_arrays(shape, *, width: int = 64, lo: float = 1e-3, hi: float = 1e2):
    """float{width} array of `shape` with signed_values elements (a drawn fill value overwritten
    at drawn positions, as hypothesis' arrays does for large arrays)."""
    values = signed_values(lo, hi, width)
    return arrays(np.float32 if width == 32 else np.float64, shape, elements=values, fill=values)


@st.composite
def complex_fields(draw, sizes, batch=(1, 3), *, width: int = 64):
    """(B, N, N) complex exit waves, real and imaginary parts drawn as real_arrays.

    width=64: complex128; width=32: complex64 (both parts exactly float32)."""
    N = draw(st.sampled_from(sizes))
    B = draw(st.integers(*batch))
    re = draw(real_arrays((B, N, N), width=width))
    im = draw(real_arrays((B, N, N), width=width))
    dtype = np.complex64 if width == 32 else np.complex128
    psi = np.empty((B, N, N), dtype=dtype)
    psi.real, psi.imag = re, im
    return psi
