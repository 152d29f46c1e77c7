"""Hypothesis properties of far-field diffraction (ptycho.physics, docs/design.md §3), for both
implementations: the float64 numpy reference `diffract_np` and the complex64 TensorFlow op
`diffract_tf`.

- Parseval: sum_xy A**2 = sum_xy |Psi|**2 per pattern (A = |FFT2(Psi)| / N, fftshifted);
- |F| is invariant under circular shifts of the field (the shift only changes the phase).

Fields are drawn through hypothesis.extra.numpy.arrays (real and imaginary parts 0 or
+-[1e-3, 1e2]). TensorFlow calls cost milliseconds each, so the TF properties use N = 16/32 and
at most TF_EXAMPLES examples.
"""
import numpy as np
import pytest
from hypothesis import example, given, settings, target
from hypothesis import strategies as st

from ptycho.physics import diffract_np, diffract_tf
from tests.conftest import ledger_tolerance

from .strategies import complex_fields

NP_SIZES = (8, 16, 32)
TF_SIZES = (16, 32)
TF_EXAMPLES = 40

RTOL_PARSEVAL_NP = ledger_tolerance("physics.parseval")
RTOL_SHIFT_NP = ledger_tolerance("physics.shift_invariance")
RTOL_PARSEVAL_TF = ledger_tolerance("properties.tf_parseval")
RTOL_SHIFT_TF = ledger_tolerance("properties.tf_shift_invariance")


def field_energy(psi) -> np.ndarray:
    """(B,) sum |Psi|**2 in float64 (exact squares of complex64 parts)."""
    psi = np.asarray(psi, dtype=np.complex128)
    return np.sum(psi.real**2 + psi.imag**2, axis=(-2, -1))


def assert_parseval(A, psi, rtol):
    lhs = np.sum(np.asarray(A, dtype=np.float64) ** 2, axis=(-2, -1))
    rhs = field_energy(psi)
    err = np.abs(lhs - rhs)
    # steer the search toward the largest relative error (hypothesis' targeting phase)
    target(float(np.max(err / np.where(rhs > 0, rhs, 1.0))), label="relative Parseval error")
    assert np.all(err <= rtol * rhs), (lhs, rhs)


def assert_shift_invariant(A, A_shifted, rtol):
    """Per pattern: max|A_shifted - A| <= rtol * max|A|."""
    A = np.asarray(A, dtype=np.float64)
    A_shifted = np.asarray(A_shifted, dtype=np.float64)
    err = np.max(np.abs(A_shifted - A), axis=(-2, -1))
    peak = np.max(A, axis=(-2, -1))
    target(float(np.max(err / np.where(peak > 0, peak, 1.0))), label="shift error / max|A|")
    assert np.all(err <= rtol * peak), err


@pytest.fixture(scope="module")
def tf_loaded():
    """Import TensorFlow before the first example (an import inside a hypothesis run takes
    seconds and changes the recursion limit, which hypothesis warns about)."""
    from ptycho.tfload import tf

    return tf()


shifts = st.tuples(st.integers(-40, 40), st.integers(-40, 40))


# boundary examples: the zero field (both sides exactly 0) and a single bright pixel (flat |F|)
ZERO = np.zeros((1, 16, 16), dtype=np.complex64)
SPIKE = np.zeros((2, 16, 16), dtype=np.complex64)
SPIKE[0, 3, 5] = 100.0
SPIKE[1, 0, 0] = 1e-3j


@example(psi=ZERO.astype(np.complex128))
@example(psi=SPIKE.astype(np.complex128))
@given(complex_fields(NP_SIZES))
def test_parseval_numpy(psi):
    assert_parseval(diffract_np(psi), psi, RTOL_PARSEVAL_NP)


@example(psi=ZERO.astype(np.complex128), shift=(3, -5))
@example(psi=SPIKE.astype(np.complex128), shift=(40, -40))
@given(complex_fields(NP_SIZES), shifts)
def test_circular_shift_invariance_numpy(psi, shift):
    A = diffract_np(psi)
    assert_shift_invariant(A, diffract_np(np.roll(psi, shift, axis=(-2, -1))), RTOL_SHIFT_NP)


@settings(max_examples=TF_EXAMPLES)
@example(psi=ZERO)
@example(psi=SPIKE)
@given(complex_fields(TF_SIZES, width=32))
def test_parseval_tensorflow(tf_loaded, psi):
    assert_parseval(diffract_tf(psi).numpy(), psi, RTOL_PARSEVAL_TF)


@settings(max_examples=TF_EXAMPLES)
@example(psi=SPIKE, shift=(7, 9))
@given(complex_fields(TF_SIZES, width=32), shifts)
def test_circular_shift_invariance_tensorflow(tf_loaded, psi, shift):
    A = diffract_tf(psi).numpy()
    A_shifted = diffract_tf(np.roll(psi, shift, axis=(-2, -1))).numpy()
    assert_shift_invariant(A, A_shifted, RTOL_SHIFT_TF)
