"""ptycho.validation: each check raises the caller's typed error, naming the field and problem."""
import math

import numpy as np
import pytest

from ptycho import validation as v
from ptycho.errors import ConfigError, DataContractError, GroupingError


# --------------------------------------------------------------------------- power of two
@pytest.mark.parametrize("n, minimum, ok", [
    (16, 16, True), (64, 16, True), (1024, 16, True), (8, 16, False), (48, 16, False),
    (8, 8, True), (0, 0, False), (True, 1, False), (64.0, 16, False), (np.int64(64), 16, False),
])
def test_is_power_of_two(n, minimum, ok):
    assert v.is_power_of_two(n, minimum) is ok


def test_require_power_of_two_returns_n_and_raises_the_given_error():
    assert v.require_power_of_two("N", 64) == 64
    with pytest.raises(ConfigError) as exc:
        v.require_power_of_two("N", 48)
    assert exc.value.field == "N"
    assert exc.value.problem == "must be a power of two >= 16, got 48"
    with pytest.raises(DataContractError) as exc:
        v.require_power_of_two("probeGuess", 8, subject="side", error=DataContractError)
    assert exc.value.key == "probeGuess"
    assert exc.value.problem == "side must be a power of two >= 16, got 8"
    with pytest.raises(ConfigError, match="power of two >= 32, got 16"):
        v.require_power_of_two("N", 16, minimum=32)


# --------------------------------------------------------------------------- ints
def test_require_int_returns_a_python_int():
    out = v.require_int("n_groups", np.int64(7), minimum=1)
    assert out == 7 and type(out) is int
    assert v.require_int("seed", 0, minimum=0) == 0
    assert v.require_int("offset", -5) == -5  # no minimum: any int


@pytest.mark.parametrize("bad", [2.0, "3", None, True, np.float64(2.0)])
def test_require_int_rejects_non_ints_naming_the_type(bad):
    with pytest.raises(ConfigError) as exc:
        v.require_int("gridsize", bad, minimum=1)
    assert exc.value.field == "gridsize"
    assert exc.value.problem == f"must be an int, got {type(bad).__name__} {bad!r}"


def test_require_int_minimum():
    with pytest.raises(GroupingError) as exc:
        v.require_int("neighbor_count", np.int32(0), minimum=1, error=GroupingError)
    assert exc.value.field == "neighbor_count"
    assert exc.value.problem == "must be >= 1, got 0"


def test_require_int_without_numpy_ints_only_takes_python_ints():
    assert v.require_int("batch_size", 4, minimum=1, numpy_ints=False) == 4
    with pytest.raises(ConfigError, match=r"must be an int, got int64"):
        v.require_int("batch_size", np.int64(4), minimum=1, numpy_ints=False)


# --------------------------------------------------------------------------- positive numbers
def test_require_positive_returns_a_float():
    out = v.require_positive("nphotons", 10**9)
    assert out == 1e9 and type(out) is float
    assert v.require_positive("probe_scale", np.float32(0.5)) == 0.5


@pytest.mark.parametrize("bad", [0, 0.0, -1, -1e-300, math.inf, -math.inf, math.nan])
def test_require_positive_rejects_zero_negative_and_non_finite(bad):
    with pytest.raises(ConfigError) as exc:
        v.require_positive("probe_scale", bad)
    assert exc.value.field == "probe_scale"
    assert exc.value.problem == f"must be finite and > 0, got {bad!r}"


@pytest.mark.parametrize("bad", ["1.0", None, True, [1.0], 1j])
def test_require_positive_rejects_non_numbers(bad):
    with pytest.raises(ConfigError) as exc:
        v.require_positive("nphotons", bad)
    assert exc.value.field == "nphotons"
    assert exc.value.problem == f"must be a number, got {type(bad).__name__} {bad!r}"


def test_require_positive_allow_zero():
    assert v.require_positive("mae_weight", 0, allow_zero=True) == 0.0
    with pytest.raises(ConfigError) as exc:
        v.require_positive("mae_weight", -0.5, allow_zero=True)
    assert exc.value.problem == "must be finite and >= 0, got -0.5"
    with pytest.raises(ConfigError, match="finite and >= 0, got nan"):
        v.require_positive("mae_weight", math.nan, allow_zero=True)


def test_require_positive_without_numpy_numbers():
    assert v.require_positive("learning_rate", np.float64(1e-3), numpy_numbers=False) == 1e-3
    with pytest.raises(ConfigError, match="must be a number, got float32"):
        v.require_positive("learning_rate", np.float32(1e-3), numpy_numbers=False)
    with pytest.raises(ConfigError, match="must be a number, got int64"):
        v.require_positive("nphotons", np.int64(5), numpy_numbers=False)


# --------------------------------------------------------------------------- choices
def test_require_choice():
    assert v.require_choice("strategy", "legacy", ("current", "legacy")) == "legacy"
    assert v.require_choice("normalize", None, (None, "max")) is None
    with pytest.raises(ConfigError) as exc:
        v.require_choice("strategy", "nearest", ("current", "legacy"))
    assert exc.value.field == "strategy"
    assert exc.value.problem == "must be one of ('current', 'legacy'), got 'nearest'"


# --------------------------------------------------------------------------- arrays
def test_require_finite_passes_finite_arrays_of_any_kind():
    v.require_finite("xcoords", np.arange(5.0))
    v.require_finite("probeGuess", np.ones((4, 4), np.complex64))
    v.require_finite("scan_index", np.arange(3))
    v.require_finite("empty", np.zeros(0))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, complex(0, np.nan)])
def test_require_finite_names_the_key(bad):
    arr = np.zeros(6, dtype=np.complex128)
    arr[4] = bad
    with pytest.raises(DataContractError) as exc:
        v.require_finite("objectGuess", arr)
    assert exc.value.key == "objectGuess"
    assert exc.value.problem == "contains NaN or Inf"
    with pytest.raises(ConfigError) as exc:
        v.require_finite("obj", arr, error=ConfigError)
    assert exc.value.field == "obj"


def test_require_finite_separate_says_which():
    with pytest.raises(DataContractError) as exc:
        v.require_finite("diff3d", np.array([0.0, np.inf, 1.0]), separate=True)
    assert exc.value.problem == "contains Inf"
    with pytest.raises(DataContractError) as exc:
        v.require_finite("diff3d", np.array([np.nan, 1.0]), separate=True)
    assert exc.value.problem == "contains NaN"
    with pytest.raises(DataContractError) as exc:  # NaN wins when both are present
        v.require_finite("diff3d", np.array([np.inf, np.nan]), separate=True)
    assert exc.value.problem == "contains NaN"


def test_require_rank():
    v.require_rank("xcoords", np.zeros(3), 1)
    v.require_rank("xcoords", [1.0, 2.0], 1)
    with pytest.raises(DataContractError) as exc:
        v.require_rank("diff3d", np.zeros((2, 16)), 3)
    assert exc.value.key == "diff3d"
    assert exc.value.problem == "must have rank 3, got shape (2, 16)"
    with pytest.raises(ConfigError) as exc:
        v.require_rank("obj", np.zeros(5), 2, error=ConfigError)
    assert exc.value.field == "obj" and exc.value.problem == "must have rank 2, got shape (5,)"


def test_require_same_shape():
    v.require_same_shape("probe", np.zeros((4, 4)), (4, 4))
    v.require_same_shape("recon", np.zeros((2, 3)), np.ones((2, 3)), of="truth")
    v.require_same_shape("x", [1.0, 2.0], (np.int64(2),))
    with pytest.raises(DataContractError) as exc:
        v.require_same_shape("probeGuess", np.zeros((4, 5)), (4, 4))
    assert exc.value.key == "probeGuess"
    assert exc.value.problem == "must have shape (4, 4), got shape (4, 5)"
    with pytest.raises(ConfigError) as exc:
        v.require_same_shape("recon", np.zeros((3, 3)), np.zeros((3, 4)), of="truth",
                             error=ConfigError)
    assert exc.value.field == "recon" and exc.value.problem == "shape (3, 3) != truth shape (3, 4)"
    with pytest.raises(DataContractError, match=r"got shape \(3,\)"):  # same size, other rank
        v.require_same_shape("x", np.zeros(3), (3, 1))


def test_require_kind():
    v.require_kind("scan_index", np.arange(3, dtype=np.uint8), "iu", "integer")
    with pytest.raises(DataContractError) as exc:
        v.require_kind("probeGuess", np.ones((4, 4)), "c", "complex (dtype kind 'c')")
    assert exc.value.key == "probeGuess"
    assert exc.value.problem == "must be complex (dtype kind 'c'), got dtype float64"
    with pytest.raises(ConfigError, match="must be real, got dtype complex64"):
        v.require_kind("X", np.ones(2, np.complex64), "fiu", "real", error=ConfigError)


def test_require_nonzero():
    v.require_nonzero("probeGuess", np.array([0, 0, 1e-30]))
    with pytest.raises(DataContractError) as exc:
        v.require_nonzero("probeGuess", np.zeros((4, 4), np.complex64))
    assert exc.value.key == "probeGuess" and exc.value.problem == "is all zero"
    with pytest.raises(DataContractError, match="is all zero"):
        v.require_nonzero("probeGuess", np.zeros(0))


# --------------------------------------------------------------------------- call sites
def test_call_sites_keep_their_error_types_and_fields():
    from ptycho.config import ModelConfig, TrainingConfig
    from ptycho.probe import check_probe, ideal_probe
    from ptycho.simulate import raster_scan

    with pytest.raises(ConfigError) as exc:
        ModelConfig(N=48)
    assert exc.value.field == "N" and "power of two >= 16" in exc.value.problem
    with pytest.raises(ConfigError) as exc:
        TrainingConfig(nphotons=np.int64(10))  # configs store values as given: Python only
    assert exc.value.field == "nphotons"
    with pytest.raises(ConfigError) as exc:
        ideal_probe(32, default_probe_scale=0)
    assert exc.value.field == "default_probe_scale"
    bad = np.ones((16, 16), np.complex64)
    bad[3, 3] = np.nan
    with pytest.raises(DataContractError) as exc:
        check_probe(bad)
    assert exc.value.key == "probeGuess" and exc.value.problem == "contains NaN or Inf"
    with pytest.raises(ConfigError) as exc:
        raster_scan(64, -2.0, buffer=8)
    assert exc.value.field == "offset" and exc.value.problem == "must be finite and > 0, got -2.0"
