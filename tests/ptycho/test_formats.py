"""ptycho.formats: datasets are recognized by content, whatever their file name."""
import zipfile

import h5py
import numpy as np
import pytest

from ptycho.formats import HDF5_SIGNATURE, detect_format


def test_npz_by_content_under_any_name(tmp_path):
    for name in ("data.npz", "data.cxi", "data"):
        np.savez(tmp_path / "x.npz", a=np.ones(3))
        (tmp_path / "x.npz").rename(tmp_path / name)
        assert detect_format(tmp_path / name) == "npz", name


def test_compressed_and_empty_npz(tmp_path):
    np.savez_compressed(tmp_path / "c.npz", a=np.ones(3))
    np.savez(tmp_path / "e.npz")
    assert detect_format(tmp_path / "c.npz") == "npz"
    assert detect_format(tmp_path / "e.npz") == "npz"


def test_single_npy(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(3))
    (tmp_path / "a.npy").rename(tmp_path / "a.npz")
    assert detect_format(tmp_path / "a.npz") == "npy"


def test_hdf5_signature_with_and_without_user_block(tmp_path):
    with h5py.File(tmp_path / "plain.npz", "w") as f:  # misleading suffix on purpose
        f["x"] = 1
    with h5py.File(tmp_path / "ub.h5", "w", userblock_size=1024) as f:
        f["x"] = 1
    assert detect_format(tmp_path / "plain.npz") == "hdf5"
    with open(tmp_path / "ub.h5", "rb") as fh:
        assert fh.read(8) != HDF5_SIGNATURE
    assert detect_format(tmp_path / "ub.h5") == "hdf5"


@pytest.mark.parametrize("marker", [".zgroup", ".zarray", "zarr.json"])
def test_zarr_directory_by_marker(tmp_path, marker):
    store = tmp_path / "store.npz"  # a directory, whatever its name
    store.mkdir()
    (store / marker).write_text("{}")
    assert detect_format(store) == "zarr"


def test_zarr_zip_store(tmp_path):
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as zf:
        zf.writestr("zarr.json", "{}")
    assert detect_format(tmp_path / "s.zip") == "zarr"


def test_unrecognized(tmp_path):
    (tmp_path / "t.npz").write_text("not a zip")
    (tmp_path / "empty").write_bytes(b"")
    with zipfile.ZipFile(tmp_path / "z.npz", "w") as zf:
        zf.writestr("readme.txt", "hi")
    (tmp_path / "dir").mkdir()
    for name in ("t.npz", "empty", "z.npz", "dir"):
        assert detect_format(tmp_path / name) is None, name


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        detect_format(tmp_path / "nope.npz")
