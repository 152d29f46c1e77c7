"""The NPZ data contract (DESIGN §6): RawData construction, validation, atomic round trip."""
import dataclasses
import json
import os

import numpy as np
import pytest

import ptycho.errors
from ptycho.raw_data import DataContractError, RawData, read_npz

M, N = 5, 16


def _arrays(**overrides):
    """A valid set of contract arrays (M=5 patterns of 16x16), with overrides."""
    rng = np.random.default_rng(0)
    arrays = {
        "xcoords": rng.uniform(10, 40, M),
        "ycoords": rng.uniform(10, 40, M),
        "diff3d": rng.uniform(0, 3, (M, N, N)).astype(np.float32),
        "probeGuess": (rng.standard_normal((N, N))
                       + 1j * rng.standard_normal((N, N))).astype(np.complex64),
    }
    arrays.update(overrides)
    return arrays


def _build(**overrides):
    a = _arrays(**overrides)
    return RawData.from_arrays(a.pop("xcoords"), a.pop("ycoords"), a.pop("diff3d"),
                               a.pop("probeGuess"), **a)


def _expect_error(key, **overrides):
    with pytest.raises(DataContractError) as info:
        _build(**overrides)
    assert info.value.key == key, str(info.value)
    return info.value


def _full_raw():
    rng = np.random.default_rng(1)
    obj = (rng.standard_normal((40, 48)) + 1j * rng.standard_normal((40, 48))).astype(np.complex64)
    return _build(xcoords_start=np.arange(M, dtype=np.float64),
                  ycoords_start=np.arange(M, dtype=np.float64) + 0.5,
                  scan_index=np.array([0, 0, 1, 1, 2]), objectGuess=obj,
                  metadata={"nphotons": 1e9, "seed": 3, "s_sim": 0.1 + 0.2,
                            "provenance": {"object": "test", "list": [1, 2.5, "x"]}})


# ------------------------------------------------------------------ valid data and defaults
def test_from_arrays_canonical_dtypes_and_defaults():
    raw = _build(diff3d=_arrays()["diff3d"].astype(np.float64),
                 probeGuess=_arrays()["probeGuess"].astype(np.complex128))
    assert (raw.M, raw.N) == (M, N)
    assert raw.xcoords.dtype == raw.ycoords.dtype == np.float64
    assert raw.diff3d.dtype == np.float32 and raw.probeGuess.dtype == np.complex64
    np.testing.assert_array_equal(raw.xcoords_start, raw.xcoords)
    np.testing.assert_array_equal(raw.ycoords_start, raw.ycoords)
    assert raw.scan_index.dtype == np.int64 and np.all(raw.scan_index == 0)
    assert raw.objectGuess is None and raw.metadata == {}


def test_data_contract_error_is_reexported():
    assert DataContractError is ptycho.errors.DataContractError


# ------------------------------------------------------------------ bad input, one case each
def test_missing_npz_key(tmp_path):
    arrays = _arrays()
    del arrays["diff3d"]
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataContractError) as info:
        RawData.from_npz(tmp_path / "d.npz")
    assert info.value.key == "diff3d"


def test_missing_probe_key(tmp_path):
    arrays = _arrays()
    del arrays["probeGuess"]
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataContractError) as info:
        RawData.from_npz(tmp_path / "d.npz")
    assert info.value.key == "probeGuess"


def test_integer_diffraction_is_wrong_dtype_kind():
    _expect_error("diff3d", diff3d=np.ones((M, N, N), np.int32))


def test_real_probe_is_wrong_dtype_kind():
    _expect_error("probeGuess", probeGuess=np.ones((N, N), np.float32))


def test_integer_coordinates_are_wrong_dtype_kind():
    _expect_error("xcoords", xcoords=np.arange(M))


def test_float_scan_index_is_wrong_dtype_kind():
    _expect_error("scan_index", scan_index=np.zeros(M))


def test_real_object_is_wrong_dtype_kind():
    _expect_error("objectGuess", objectGuess=np.ones((20, 20)))


def test_diffraction_wrong_rank():
    _expect_error("diff3d", diff3d=np.ones((M, N * N), np.float32))


def test_coordinates_wrong_rank():
    _expect_error("ycoords", ycoords=np.ones((M, 1)))


def test_probe_wrong_rank():
    _expect_error("probeGuess", probeGuess=np.ones((1, N, N), np.complex64))


def test_probe_shape_mismatch():
    _expect_error("probeGuess", probeGuess=np.ones((2 * N, 2 * N), np.complex64))


def test_non_square_patterns():
    _expect_error("diff3d", diff3d=np.ones((M, N, 2 * N), np.float32))


def test_coordinate_length_mismatch():
    _expect_error("ycoords", ycoords=np.ones(M + 1))


def test_start_coordinate_length_mismatch():
    _expect_error("xcoords_start", xcoords_start=np.ones(M - 1))


def test_nan_in_diffraction():
    diff = _arrays()["diff3d"]
    diff[2, 3, 4] = np.nan
    err = _expect_error("diff3d", diff3d=diff)
    assert "NaN" in err.problem


def test_inf_in_diffraction():
    diff = _arrays()["diff3d"]
    diff[1, 0, 0] = np.inf
    err = _expect_error("diff3d", diff3d=diff)
    assert "Inf" in err.problem


def test_nan_in_coordinates():
    x = _arrays()["xcoords"]
    x[0] = np.nan
    _expect_error("xcoords", xcoords=x)


def test_inf_in_probe():
    probe = _arrays()["probeGuess"]
    probe[0, 0] = np.inf
    _expect_error("probeGuess", probeGuess=probe)


def test_negative_amplitudes():
    diff = _arrays()["diff3d"]
    diff[4, 15, 15] = -1e-3
    err = _expect_error("diff3d", diff3d=diff)
    assert "negative" in err.problem


@pytest.mark.parametrize("n", [24, 48])
def test_n_not_power_of_two(n):
    err = _expect_error("diff3d", diff3d=np.ones((M, n, n), np.float32),
                        probeGuess=np.ones((n, n), np.complex64))
    assert "power of two" in err.problem


def test_n_below_16():
    err = _expect_error("diff3d", diff3d=np.ones((M, 8, 8), np.float32),
                        probeGuess=np.ones((8, 8), np.complex64))
    assert "power of two >= 16" in err.problem


def test_all_zero_diffraction():
    err = _expect_error("diff3d", diff3d=np.zeros((M, N, N), np.float32))
    assert "all zero" in err.problem


def test_all_zero_probe():
    _expect_error("probeGuess", probeGuess=np.zeros((N, N), np.complex64))


def test_empty_dataset():
    _expect_error("diff3d", diff3d=np.ones((0, N, N), np.float32), xcoords=np.ones(0),
                  ycoords=np.ones(0))


def test_metadata_not_json_serializable():
    _expect_error("metadata", metadata={"when": object()})


def test_metadata_invalid_json_in_npz(tmp_path):
    np.savez(tmp_path / "d.npz", **_arrays(), metadata=np.array("{not json"))
    with pytest.raises(DataContractError) as info:
        RawData.from_npz(tmp_path / "d.npz")
    assert info.value.key == "metadata"


def test_metadata_not_an_object_in_npz(tmp_path):
    np.savez(tmp_path / "d.npz", **_arrays(), metadata=np.array("[1, 2]"))
    with pytest.raises(DataContractError) as info:
        RawData.from_npz(tmp_path / "d.npz")
    assert info.value.key == "metadata"


def test_not_an_npz_file(tmp_path):
    (tmp_path / "d.npz").write_text("plain text, not an archive")
    with pytest.raises(DataContractError) as info:
        RawData.from_npz(tmp_path / "d.npz")
    assert info.value.key == "path"


def test_validate_on_directly_constructed_instance():
    a = _arrays()
    raw = RawData(xcoords=a["xcoords"], ycoords=a["ycoords"], diff3d=-a["diff3d"] - 1,
                  probeGuess=a["probeGuess"], xcoords_start=a["xcoords"],
                  ycoords_start=a["ycoords"], scan_index=np.zeros(M, np.int64))
    with pytest.raises(DataContractError) as info:
        raw.validate()
    assert info.value.key == "diff3d"


# ------------------------------------------------------------------ NPZ round trip
def test_npz_round_trip_is_exact(tmp_path):
    raw = _full_raw()
    path = raw.to_npz(tmp_path / "data.npz")
    back = RawData.from_npz(path)
    for key in ("xcoords", "ycoords", "diff3d", "probeGuess", "xcoords_start", "ycoords_start",
                "scan_index", "objectGuess"):
        original, loaded = getattr(raw, key), getattr(back, key)
        assert loaded.dtype == original.dtype, key
        np.testing.assert_array_equal(loaded, original, err_msg=key)
    assert back.metadata == raw.metadata
    assert json.loads(str(read_npz(path)["metadata"])) == raw.metadata


def test_npz_round_trip_without_object(tmp_path):
    raw = _build()
    back = RawData.from_npz(raw.to_npz(tmp_path / "data.npz"))
    assert back.objectGuess is None and back.metadata == {}
    assert "objectGuess" not in read_npz(tmp_path / "data.npz")


def test_optional_keys_default_when_absent(tmp_path):
    arrays = _arrays()
    np.savez(tmp_path / "d.npz", **arrays)
    raw = RawData.from_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(raw.xcoords_start, arrays["xcoords"])
    np.testing.assert_array_equal(raw.ycoords_start, arrays["ycoords"])
    np.testing.assert_array_equal(raw.scan_index, np.zeros(M, np.int64))
    assert raw.objectGuess is None and raw.metadata == {}


def test_to_npz_validates_before_writing(tmp_path):
    raw = _build()
    bad = dataclasses.replace(raw, diff3d=np.zeros_like(raw.diff3d))
    with pytest.raises(DataContractError):
        bad.to_npz(tmp_path / "bad.npz")
    assert os.listdir(tmp_path) == []


def _failing_savez(fh, **arrays):
    fh.write(b"PK\x03\x04 partial archive")
    raise OSError("simulated disk full")


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "savez", _failing_savez)
    with pytest.raises(OSError, match="simulated disk full"):
        _build().to_npz(tmp_path / "data.npz")
    assert os.listdir(tmp_path) == []


def test_atomic_write_failure_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "data.npz"
    first = _full_raw()
    first.to_npz(path)
    before = path.read_bytes()
    monkeypatch.setattr(np, "savez", _failing_savez)
    with pytest.raises(OSError):
        _build().to_npz(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["data.npz"]
    monkeypatch.undo()
    np.testing.assert_array_equal(RawData.from_npz(path).diff3d, first.diff3d)


def test_to_npz_writes_canonical_dtypes(tmp_path):
    raw = _build()
    wide = dataclasses.replace(raw, diff3d=raw.diff3d.astype(np.float64),
                               probeGuess=raw.probeGuess.astype(np.complex128))
    stored = read_npz(wide.to_npz(tmp_path / "d.npz"))
    assert stored["diff3d"].dtype == np.float32 and stored["probeGuess"].dtype == np.complex64
    np.testing.assert_array_equal(stored["diff3d"], raw.diff3d)
