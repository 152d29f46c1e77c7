"""Synthetic objects: the seeded lines object (docs/design.md §3, §11) and the GRF object."""
import math

import numpy as np
import pytest

from ptycho.errors import ConfigError
from ptycho.objects import coupled_phase, grf_object, lines_amplitude, lines_object

# Our stream (numpy default_rng(1), endpoints as one (400, 4) integer block), size 392:
LINES_392_SEED1 = {"min": 0.8478115666972553, "max": 5.020942285275891, "mean": 2.769869039272137}
# docs/design.md §11 (legacy RNG stream): min ~0.61, max ~4.86, mean ~2.71
DOCUMENTED_LINES_392 = {"max": 4.86, "mean": 2.71}


@pytest.fixture(scope="module")
def lines_392():
    return lines_amplitude(392, seed=1)


def test_lines_pinned_numbers(lines_392, tol):
    assert lines_392.shape == (392, 392) and lines_392.dtype == np.float64
    stats = {"min": lines_392.min(), "max": lines_392.max(), "mean": lines_392.mean()}
    for name, value in LINES_392_SEED1.items():
        assert stats[name] == pytest.approx(value, rel=tol("objects.lines_pinned")), name


def test_lines_in_design_ballpark(lines_392, tol):
    rel = tol("objects.lines_ballpark")
    assert lines_392.mean() == pytest.approx(DOCUMENTED_LINES_392["mean"], rel=rel)
    assert lines_392.max() == pytest.approx(DOCUMENTED_LINES_392["max"], rel=rel)
    assert lines_392.min() > 0  # the g10 blur of 400 lines reaches every pixel


def test_lines_object_complex64_zero_phase(lines_392):
    obj = lines_object(392, seed=1)
    assert obj.dtype == np.complex64 and obj.shape == (392, 392)
    assert np.all(obj.imag == 0)
    np.testing.assert_array_equal(obj.real, lines_392.astype(np.float32))


def test_lines_deterministic_and_seed_dependent():
    a, b, c = (lines_amplitude(48, seed=s, nlines=40) for s in (3, 3, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_lines_odd_size_crop():
    assert lines_amplitude(33, seed=0, nlines=20).shape == (33, 33)


def test_lines_normalize_max():
    obj = lines_object(64, seed=2, nlines=60, normalize="max")
    assert np.abs(obj).max() == 1.0
    assert np.all(obj.imag == 0)


def test_lines_coupled_phase(tol):
    plain = lines_object(64, seed=2, nlines=60)
    phased = lines_object(64, seed=2, nlines=60, phase="coupled")
    amp = np.abs(plain.astype(np.complex128))
    assert np.max(np.abs(np.abs(phased) - amp)) <= tol("objects.complex64") * amp.max()
    expected = coupled_phase(amp)
    assert np.all(np.abs(expected) < math.pi)
    assert np.std(np.angle(phased)) > 0.1
    assert np.max(np.abs(np.angle(phased) - expected)) <= tol("objects.complex64") * math.pi


@pytest.mark.parametrize(
    "kwargs, field",
    [({"normalize": "sum"}, "normalize"), ({"phase": "random"}, "phase"), ({"seed": -1}, "seed"),
     ({"nlines": 0}, "nlines")],
)
def test_lines_rejects_bad_options(kwargs, field):
    with pytest.raises(ConfigError) as info:
        lines_object(32, **kwargs)
    assert info.value.field == field


def test_lines_rejects_bad_size():
    with pytest.raises(ConfigError) as info:
        lines_object(0)
    assert info.value.field == "size"


# ------------------------------------------------------------------ Gaussian random field
def test_grf_shape_dtype_ranges(tol):
    obj = grf_object((48, 80), seed=7, correlation_length=4.0, amplitude_range=(0.5, 1.0),
                     phase_std=0.5)
    assert obj.shape == (48, 80) and obj.dtype == np.complex64
    amp = np.abs(obj.astype(np.complex128))
    phase = np.angle(obj.astype(np.complex128))
    assert amp.min() == pytest.approx(0.5, rel=tol("objects.complex64"))
    assert amp.max() == pytest.approx(1.0, rel=tol("objects.complex64"))
    assert abs(phase.mean()) <= tol("objects.complex64")
    assert phase.std() == pytest.approx(0.5, rel=tol("objects.complex64"))


def test_grf_deterministic_and_seed_dependent():
    a, b, c = (grf_object(32, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_grf_amplitude_and_phase_are_independent_fields():
    obj = grf_object(128, seed=3, correlation_length=4.0).astype(np.complex128)
    corr = np.corrcoef(np.abs(obj).ravel(), np.angle(obj).ravel())[0, 1]
    assert abs(corr) < 0.3  # distinct draws; ~64 correlation areas give |r| ~ 0.1


def test_grf_correlation_length_controls_smoothness():
    def roughness(length):
        amp = np.abs(grf_object(128, seed=4, correlation_length=length, phase_std=0.0))
        return float(np.mean(np.abs(np.diff(amp, axis=1))))

    assert roughness(8.0) < roughness(2.0)


@pytest.mark.parametrize(
    "kwargs, field",
    [({"correlation_length": 0.0}, "correlation_length"),
     ({"amplitude_range": (1.0, 0.5)}, "amplitude_range"),
     ({"amplitude_range": (-0.1, 1.0)}, "amplitude_range"),
     ({"phase_std": -1.0}, "phase_std"), ({"seed": 1.5}, "seed")],
)
def test_grf_rejects_bad_options(kwargs, field):
    with pytest.raises(ConfigError) as info:
        grf_object(32, **kwargs)
    assert info.value.field == field
