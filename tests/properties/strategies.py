"""Shared hypothesis strategies for the property tests: dense fields (every element drawn, from
a drawn seed) and sparse ones (hypothesis.extra.numpy.arrays: a background value and a few
drawn entries, which shrink to the boundary cases), both drawn by `real_arrays`."""
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


#: kinds of drawn fields: "dense" (every element drawn) and "sparse" (one background value and
#: a few drawn entries, the form hypothesis' arrays() takes for large arrays)
KINDS = ("dense", "sparse")


@st.composite
def dense_arrays(draw, shape, *, width: int = 64, lo: float = 1e-3, hi: float = 1e2):
    """float{width} array of `shape` whose every element is drawn: magnitudes log-uniform over
    a drawn sub-range of [lo, hi], at least a tenth of its decades wide (nearly flat fields
    and fields spanning the whole range), random
    signs, a drawn fraction (<= 1/4) of exact zeros. The elements come from a numpy
    Generator seeded by a drawn integer (hypothesis draws every element of an array this size
    only through fill values), so a counterexample reproduces from its seed."""
    seed = draw(st.integers(0, 2**32 - 1))
    a, b = sorted(draw(st.tuples(st.floats(0, 1), st.floats(0, 1))))
    span = max(b - a, 0.1)          # at least a tenth of the log range: no constant |field|
    a = min(a, 1.0 - span)
    zeros = draw(st.sampled_from([0.0, 0.05, 0.25]))
    rng = np.random.default_rng(seed)
    lg_lo, lg_hi = np.log10(lo), np.log10(hi)
    lg = rng.uniform(lg_lo + a * (lg_hi - lg_lo), lg_lo + (a + span) * (lg_hi - lg_lo), shape)
    values = 10.0**lg * rng.choice([-1.0, 1.0], shape)
    values[rng.random(shape) < zeros] = 0.0
    dtype = np.float32 if width == 32 else np.float64
    lo_t, hi_t = dtype(lo), dtype(hi)
    out = values.astype(dtype)
    mag = np.abs(out)
    # float32 rounding may step just outside [lo, hi]: clip the magnitude back (sign kept)
    out = np.where(out == 0, out, np.sign(out) * np.clip(mag, lo_t, hi_t)).astype(dtype)
    return out


def sparse_arrays(shape, *, width: int = 64, lo: float = 1e-3, hi: float = 1e2):
    """float{width} array of `shape` with signed_values elements: a drawn fill value
    overwritten at drawn positions (hypothesis' arrays; for large arrays ~2% of the entries),
    so mostly one background value: boundary cases (constant, one spike) shrink here."""
    values = signed_values(lo, hi, width)
    return arrays(np.float32 if width == 32 else np.float64, shape, elements=values, fill=values)


@st.composite
def real_arrays(draw, shape, *, width: int = 64, lo: float = 1e-3, hi: float = 1e2,
                kinds=KINDS):
    """float{width} array of `shape`, dense or sparse (drawn among `kinds`), values 0 or
    +-[lo, hi]."""
    kind = draw(st.sampled_from(kinds))
    build = dense_arrays if kind == "dense" else sparse_arrays
    return draw(build(shape, width=width, lo=lo, hi=hi))


@st.composite
def complex_fields(draw, sizes, batch=(1, 3), *, width: int = 64, kinds=KINDS):
    """(B, N, N) complex exit waves, real and imaginary parts drawn as real_arrays (dense or
    sparse, each part its own kind).

    width=64: complex128; width=32: complex64 (both parts exactly float32)."""
    N = draw(st.sampled_from(sizes))
    B = draw(st.integers(*batch))
    re = draw(real_arrays((B, N, N), width=width, kinds=kinds))
    im = draw(real_arrays((B, N, N), width=width, kinds=kinds))
    dtype = np.complex64 if width == 32 else np.complex128
    psi = np.empty((B, N, N), dtype=dtype)
    psi.real, psi.imag = re, im
    return psi
