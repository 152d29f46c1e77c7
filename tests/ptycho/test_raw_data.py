"""The NPZ data contract (docs/design.md §6): RawData construction, validation, atomic round trip."""
import dataclasses
import json
import os

import numpy as np
import pytest

import ptycho.errors
from ptycho.diffraction_health import check_diffraction_health, scan_diffraction
from ptycho.errors import DataContractError
from ptycho.formats import open_dataset
from ptycho.frames import FrameArray
from ptycho.npz import open_npz_member, read_npz
from ptycho.raw_data import RawData
from ptycho.scaling import mean_pattern_energy

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


# ------------------------------------------------------------------ out of core (lazy diff3d)


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed], ids=["stored", "deflated"])
def test_from_npz_keeps_diff3d_on_disk(tmp_path, save):
    arrays = _arrays()
    save(tmp_path / "d.npz", **arrays)
    raw = RawData.from_npz(tmp_path / "d.npz")
    assert raw.is_lazy and isinstance(raw.diff3d, FrameArray)
    assert raw.diff3d.shape == (M, N, N) and raw.diff3d.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(raw.diff3d), arrays["diff3d"])
    np.testing.assert_array_equal(raw.diff3d[[4, 0]], arrays["diff3d"][[4, 0]])
    np.testing.assert_array_equal(raw.subset([1, 3]).diff3d, arrays["diff3d"][[1, 3]])
    eager = RawData.from_npz(tmp_path / "d.npz", lazy=False)
    assert isinstance(eager.diff3d, np.ndarray) and not eager.is_lazy
    raw.close()


def test_lazy_float64_diff3d_is_cast_as_read(tmp_path):
    arrays = _arrays()
    arrays["diff3d"] = arrays["diff3d"].astype(np.float64) / 3
    np.savez(tmp_path / "d.npz", **arrays)
    raw = RawData.from_npz(tmp_path / "d.npz")
    assert raw.diff3d.dtype == np.float32
    np.testing.assert_array_equal(raw.diff3d[2], arrays["diff3d"][2].astype(np.float32))


def test_lazy_integer_diff3d_is_still_a_dtype_error(tmp_path):
    np.savez(tmp_path / "d.npz", **_arrays(diff3d=np.ones((M, N, N), np.int32)))
    with pytest.raises(DataContractError) as info:
        RawData.from_npz(tmp_path / "d.npz")
    assert info.value.key == "diff3d" and "dtype" in info.value.problem


def test_memmap_member(tmp_path):
    arrays = _arrays()
    np.savez(tmp_path / "d.npz", **arrays)
    mm = open_npz_member(tmp_path / "d.npz", "diff3d", mmap=True)
    assert isinstance(mm, np.memmap)
    np.testing.assert_array_equal(mm, arrays["diff3d"])
    np.savez_compressed(tmp_path / "c.npz", **arrays)
    with pytest.raises(DataContractError) as info:
        open_npz_member(tmp_path / "c.npz", "diff3d", mmap=True)
    assert info.value.key == "diff3d"


def test_truncated_member_is_an_error(tmp_path):
    arrays = _arrays()
    np.savez(tmp_path / "d.npz", **arrays)
    data = (tmp_path / "d.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataContractError):
        RawData.from_npz(tmp_path / "t.npz")


@pytest.mark.parametrize("where", ["first", "last"])
def test_lazy_value_checks_find_bad_values_anywhere(tmp_path, where, monkeypatch):
    import ptycho.diffraction_health as health

    monkeypatch.setattr(health, "CHECK_BLOCK_BYTES", N * N * 4)  # one pattern per block
    row = 0 if where == "first" else M - 1
    for value, word in ((np.nan, "NaN"), (np.inf, "Inf"), (-1.0, "negative")):
        diff = _arrays()["diff3d"]
        diff[row, 3, 3] = value
        np.savez(tmp_path / "d.npz", **_arrays(diff3d=diff))
        with pytest.raises(DataContractError) as info:
            RawData.from_npz(tmp_path / "d.npz")
        assert info.value.key == "diff3d" and word in info.value.problem
        raw = RawData.from_npz(tmp_path / "d.npz", check_values=False)  # structure only
        with pytest.raises(DataContractError, match=word):
            check_diffraction_health(scan_diffraction(raw.diff3d))
    np.savez(tmp_path / "z.npz", **_arrays(diff3d=np.zeros((M, N, N), np.float32)))
    with pytest.raises(DataContractError, match="all zero"):
        RawData.from_npz(tmp_path / "z.npz")


def test_scan_diffraction_counts_and_mean(tol):
    diff = _arrays()["diff3d"]
    diff[0, 1, 1] = np.nan
    diff[0, 2, 2] = np.nan
    diff[1, 0, 0] = -2.0
    diff[2, 0, 0] = np.inf
    diff[3] = 0.0
    h = scan_diffraction(diff, mean=True, block_bytes=2 * N * N * 4)
    assert (h.patterns, h.nan_patterns, h.nan_values, h.negative_patterns, h.inf_patterns,
            h.zero_patterns, h.nonzero) == (M, 1, 2, 1, 1, 1, True)
    # the JSON form carries every count (and no mean pattern) with its type, through a round
    # trip (breakers: a count left out, nonzero stored as an int)
    assert json.loads(json.dumps(h.to_dict())) == {
        "patterns": M, "nan_patterns": 1, "inf_patterns": 1, "negative_patterns": 1,
        "zero_patterns": 1, "nan_values": 2, "inf_values": 1, "negative_values": 1,
        "nonzero": True}
    assert type(json.loads(json.dumps(h.to_dict()))["nonzero"]) is bool
    clean = _arrays()["diff3d"]
    h = scan_diffraction(clean, mean=True, block_bytes=2 * N * N * 4)
    np.testing.assert_allclose(h.mean_pattern, clean.astype(np.float64).mean(axis=0),
                               rtol=tol("raw_data.mean_pattern"))


def test_energy_of_lazy_diff3d_is_bit_identical(tmp_path):
    rng = np.random.default_rng(5)
    diff = rng.uniform(0, 3, (301, 64, 64)).astype(np.float32)  # odd M, several blocks
    a = _arrays(diff3d=diff, xcoords=rng.uniform(0, 9, 301), ycoords=rng.uniform(0, 9, 301),
                probeGuess=np.ones((64, 64), np.complex64))
    np.savez(tmp_path / "d.npz", **a)
    np.savez_compressed(tmp_path / "c.npz", **a)
    want = mean_pattern_energy(diff)
    for name in ("d.npz", "c.npz"):
        assert mean_pattern_energy(RawData.from_npz(tmp_path / name).diff3d) == want


def test_to_npz_streams_a_lazy_diff3d(tmp_path):
    raw = _full_raw()
    raw.to_npz(tmp_path / "a.npz")
    lazy = RawData.from_npz(tmp_path / "a.npz")
    lazy.to_npz(tmp_path / "b.npz")
    back = RawData.from_npz(tmp_path / "b.npz", lazy=False)
    for key in ("xcoords", "diff3d", "probeGuess", "objectGuess", "scan_index"):
        np.testing.assert_array_equal(getattr(back, key), getattr(raw, key), err_msg=key)
    assert back.metadata == raw.metadata
    assert np.load(tmp_path / "b.npz")["diff3d"].dtype == np.float32


def test_hdf5_group_with_contract_keys(tmp_path):
    import h5py

    raw = _full_raw()
    with h5py.File(tmp_path / "d.h5", "w") as f:
        for key in ("xcoords", "ycoords", "diff3d", "probeGuess", "objectGuess"):
            f[key] = getattr(raw, key)
        f.attrs["metadata"] = json.dumps(raw.metadata)
    back = open_dataset(tmp_path / "d.h5")
    assert back.is_lazy and back.metadata == raw.metadata
    np.testing.assert_array_equal(np.asarray(back.diff3d), raw.diff3d)
    back.close()


def test_zarr_store_with_contract_keys(tmp_path):
    zarr = pytest.importorskip("zarr", reason="zarr not installed (the 'distributed' extra)")
    raw = _full_raw()
    group = zarr.open_group(str(tmp_path / "d.zarr"), mode="w")
    for key in ("xcoords", "ycoords", "diff3d", "probeGuess"):
        value = np.asarray(getattr(raw, key))
        chunks = (2,) + value.shape[1:] if key == "diff3d" else value.shape
        if hasattr(group, "create_array"):  # zarr 3
            group.create_array(key, data=value, chunks=chunks)
        else:  # zarr 2
            group.array(key, value, chunks=chunks)
    group.attrs["metadata"] = json.dumps(raw.metadata)
    back = open_dataset(tmp_path / "d.zarr")
    assert back.is_lazy and back.metadata == raw.metadata
    np.testing.assert_array_equal(np.asarray(back.diff3d), raw.diff3d)
    assert mean_pattern_energy(back.diff3d) == mean_pattern_energy(raw.diff3d)


def test_open_dataset_rejects_unknown_content(tmp_path):
    (tmp_path / "d.npz").write_text("hello")
    with pytest.raises(DataContractError) as info:
        open_dataset(tmp_path / "d.npz")
    assert info.value.key == "path"
    np.save(tmp_path / "a.npy", np.ones(3))
    with pytest.raises(DataContractError, match="single .npy"):
        open_dataset(tmp_path / "a.npy")
    with pytest.raises(FileNotFoundError):
        open_dataset(tmp_path / "missing.npz")
