"""Probe: docs/design.md §11 reference numbers, normalization, loading and its typed errors."""
import numpy as np
import pytest

from ptycho.config import ModelConfig
from ptycho.errors import ConfigError, DataContractError
from ptycho.probe import (
    experimental_probe_path as bundled_probe_path,
    ideal_probe,
    ideal_probe_support,
    load_probe,
    make_probe,
    normalize_probe,
    probe_mask,
)


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _masked_mean(P):
    return float(np.mean(np.abs(P.astype(np.complex128) * probe_mask(P.shape[0]))))


# ------------------------------------------------------------------ reference numbers (§11)
def test_ideal_probe_disk_has_376_pixels():
    assert int(ideal_probe_support(64, 0.7).sum()) == 376


def test_probe_mask_has_812_pixels():
    mask = probe_mask(64)
    assert int(mask.sum()) == 812
    assert set(np.unique(mask)) == {0.0, 1.0}


@pytest.mark.parametrize(
    "probe_scale, max_abs, digits_max, energy, digits_energy",
    [(4.0, 2.72, 2, 2505, 0), (10.0, 1.09, 2, 400.8, 1)],
)
def test_normalized_ideal_probe_reference_numbers(probe_scale, max_abs, digits_max, energy,
                                                  digits_energy):
    P = normalize_probe(ideal_probe(64, 0.7), probe_scale)
    abs64 = np.abs(P.astype(np.complex128))
    # docs/design.md §11 quotes the values to the precision written here
    assert round(float(abs64.max()), digits_max) == max_abs
    assert round(float(np.sum(abs64**2)), digits_energy) == energy


# ------------------------------------------------------------------ ideal probe properties
def test_ideal_probe_is_complex64_zero_phase_positive():
    P = ideal_probe(64)
    assert P.dtype == np.complex64 and P.shape == (64, 64)
    assert np.all(P.imag == 0)
    assert P.real.min() > 0  # the +1e-9 floor
    assert P.real.max() <= 1.0


def test_ideal_probe_is_symmetric(tol):
    P = ideal_probe(64).real.astype(np.float64)
    scale = P.max()
    assert np.max(np.abs(P - P[::-1, ::-1])) <= tol("probe.symmetry") * scale
    assert np.max(np.abs(P - P.T)) <= tol("probe.symmetry") * scale


def test_ideal_probe_support_is_centered_disk():
    disk = ideal_probe_support(32)
    rows, cols = np.nonzero(disk)
    assert rows.mean() == 15.5 and cols.mean() == 15.5


@pytest.mark.parametrize("N", [48, 8, 64.0, True])
def test_ideal_probe_rejects_bad_n(N):
    with pytest.raises(ConfigError) as info:
        ideal_probe(N)
    assert info.value.field == "N"


@pytest.mark.parametrize("value", [0.0, -0.7, float("nan")])
def test_ideal_probe_rejects_bad_default_probe_scale(value):
    with pytest.raises(ConfigError) as info:
        ideal_probe(64, value)
    assert info.value.field == "default_probe_scale"


# ------------------------------------------------------------------ normalization
@pytest.mark.parametrize("probe_scale", [1.0, 4.0, 10.0])
def test_normalize_probe_sets_masked_mean(probe_scale, tol):
    rng = np.random.default_rng(5)
    P = (rng.standard_normal((32, 32)) + 1j * rng.standard_normal((32, 32))).astype(np.complex64)
    Pn = normalize_probe(P, probe_scale)
    assert Pn.dtype == np.complex64
    assert _masked_mean(Pn) == pytest.approx(1.0 / probe_scale, rel=tol("probe.normalization"))


@pytest.mark.parametrize("probe_scale", [0, -4.0, float("inf"), float("nan"), "4"])
def test_normalize_probe_rejects_bad_probe_scale(probe_scale):
    with pytest.raises(ConfigError) as info:
        normalize_probe(ideal_probe(32), probe_scale)
    assert info.value.field == "probe_scale"


def test_normalize_probe_rejects_probe_zero_inside_mask():
    P = np.zeros((32, 32), np.complex64)
    P[0, 0] = 1.0  # outside r < N//4
    with pytest.raises(DataContractError) as info:
        normalize_probe(P, 4.0)
    assert info.value.key == "probeGuess"


# ------------------------------------------------------------------ experimental probe
def test_experimental_probe_path_is_bundled(experimental_probe_path):
    assert bundled_probe_path().is_file()
    assert bundled_probe_path().resolve() == experimental_probe_path.resolve()


@pytest.mark.parametrize("probe_scale", [4.0, 10.0])
def test_experimental_probe_normalizes_to_one_over_probe_scale(probe_scale, tol):
    P = load_probe(bundled_probe_path())
    assert P.shape == (64, 64) and P.dtype == np.complex64
    assert np.any(P.imag != 0)  # a measured probe has a phase
    Pn = normalize_probe(P, probe_scale)
    assert _masked_mean(Pn) == pytest.approx(1.0 / probe_scale, rel=tol("probe.normalization"))


def test_make_probe_ideal_and_experimental(tol):
    config = ModelConfig(N=64, probe_scale=4.0)
    ideal = make_probe(config)
    np.testing.assert_array_equal(ideal, normalize_probe(ideal_probe(64, 0.7), 4.0))
    for source in ("experimental", bundled_probe_path()):
        P = make_probe(config, source)
        assert P.dtype == np.complex64
        assert _masked_mean(P) == pytest.approx(0.25, rel=tol("probe.normalization"))


def test_make_probe_uses_default_probe_scale():
    wide = make_probe(ModelConfig(N=64, default_probe_scale=0.5))
    narrow = make_probe(ModelConfig(N=64, default_probe_scale=0.7))
    assert np.count_nonzero(np.abs(wide) > 0.5 * np.abs(wide).max()) > np.count_nonzero(
        np.abs(narrow) > 0.5 * np.abs(narrow).max())


def test_make_probe_rejects_size_mismatch():
    with pytest.raises(DataContractError) as info:
        make_probe(ModelConfig(N=32), "experimental")
    assert info.value.key == "probeGuess"


# ------------------------------------------------------------------ load_probe errors
def test_load_probe_missing_key(tmp_path):
    path = _write_npz(tmp_path / "p.npz", probe=np.ones((32, 32), np.complex64))
    with pytest.raises(DataContractError) as info:
        load_probe(path)
    assert info.value.key == "probeGuess"


def test_load_probe_not_square(tmp_path):
    path = _write_npz(tmp_path / "p.npz", probeGuess=np.ones((32, 16), np.complex64))
    with pytest.raises(DataContractError, match="square"):
        load_probe(path)


def test_load_probe_not_power_of_two(tmp_path):
    path = _write_npz(tmp_path / "p.npz", probeGuess=np.ones((48, 48), np.complex64))
    with pytest.raises(DataContractError, match="power of two"):
        load_probe(path)


def test_load_probe_real_dtype(tmp_path):
    path = _write_npz(tmp_path / "p.npz", probeGuess=np.ones((32, 32), np.float32))
    with pytest.raises(DataContractError, match="complex"):
        load_probe(path)


def test_load_probe_non_finite(tmp_path):
    P = np.ones((32, 32), np.complex64)
    P[3, 4] = np.nan
    path = _write_npz(tmp_path / "p.npz", probeGuess=P)
    with pytest.raises(DataContractError, match="NaN"):
        load_probe(path)


def test_load_probe_all_zero(tmp_path):
    path = _write_npz(tmp_path / "p.npz", probeGuess=np.zeros((32, 32), np.complex64))
    with pytest.raises(DataContractError, match="all zero"):
        load_probe(path)


def test_load_probe_not_an_npz(tmp_path):
    path = tmp_path / "p.npz"
    path.write_bytes(b"PK\x03\x04 definitely not a zip archive")
    with pytest.raises(DataContractError) as info:
        load_probe(path)
    assert info.value.key == "path"


def test_load_probe_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_probe(tmp_path / "absent.npz")
