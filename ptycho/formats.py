"""Recognize a dataset's storage format by its content, not by its file name.

- ``"npz"``: a ZIP archive (local-header magic ``PK\\x03\\x04``, or ``PK\\x05\\x06`` for an empty
  archive) whose members include ``.npy`` files (what ``np.savez`` writes);
- ``"npy"``: a single NumPy array file (magic ``\\x93NUMPY``): not a dataset, but named so the
  error can say what it is;
- ``"hdf5"``: the 8-byte HDF5 signature ``\\x89HDF\\r\\n\\x1a\\n`` at offset 0, 512, 1024, 2048, ...
  (HDF5 allows a user block in front of the superblock); CXI (``.cxi``) and NeXus (``.nxs``)
  files are HDF5 files;
- ``"zarr"``: a directory holding ``.zgroup`` / ``.zarray`` (zarr format 2) or ``zarr.json``
  (format 3), or a ZIP archive with one of those at its root (a zarr ZipStore);
- ``None``: none of these.

`detect_format` reads at most a few KiB of a file (and a ZIP's central directory);
`open_dataset` opens any of them as a lazy RawData (the one dispatcher by format).
"""
from __future__ import annotations

import os
import pathlib
import zipfile

from .errors import DataContractError

__all__ = ["HDF5_SIGNATURE", "ZARR_MARKERS", "detect_format", "FORMATS"]

#: every value `detect_format` can return besides None
FORMATS = ("npz", "npy", "hdf5", "zarr")
#: first 8 bytes of an HDF5 superblock
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: files that mark a zarr store (format 2 group / array, format 3 node)
ZARR_MARKERS = (".zgroup", ".zarray", "zarr.json")
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def _hdf5_signature_at(path: pathlib.Path) -> bool:
    """True when the HDF5 signature is at offset 0 or at 512 * 2**k within the file."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        offset = 0
        while offset + len(HDF5_SIGNATURE) <= size:
            fh.seek(offset)
            if fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def _zip_kind(path: pathlib.Path) -> str | None:
    """'npz' for an archive with .npy members, 'zarr' for a zarr ZipStore, else None."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if any(name in ZARR_MARKERS for name in names):
        return "zarr"
    if not names or any(name.endswith(".npy") for name in names):
        return "npz"
    return None


def detect_format(path) -> str | None:
    """The storage format of `path` by content: 'npz', 'npy', 'hdf5', 'zarr' or None.

    Raises FileNotFoundError when `path` does not exist.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        return "zarr" if any((path / m).is_file() for m in ZARR_MARKERS) else None
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(_ZIP_MAGICS):
        return _zip_kind(path)
    if head.startswith(_NPY_MAGIC):
        return "npy"
    if head == HDF5_SIGNATURE or (os.path.getsize(path) > 512 and _hdf5_signature_at(path)):
        return "hdf5"
    return None


def open_zarr(path: pathlib.Path):
    """The zarr group of a zarr directory store or zip store (zarr is the optional extra)."""
    try:
        import zarr
    except ImportError as exc:
        raise DataContractError("path", f"{path.name} is a zarr store; install the "
                                        "'distributed' extra (zarr) to read it") from exc
    try:
        if path.is_dir():
            return zarr.open_group(str(path), mode="r")
        return zarr.open_group(zarr.storage.ZipStore(str(path), mode="r"), mode="r")
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - zarr's errors of corrupt metadata (JSON, schema)
        raise DataContractError("path", f"{path.name} is not a readable zarr group (corrupt "
                                        f"metadata): {type(exc).__name__}: {exc}") from exc


def open_dataset(path, *, check_values: bool = True, **cxi_options):
    """Open a dataset of any supported format, recognized by content (not by suffix):
    NPZ (contract keys), HDF5 (a CXI / NeXus NXcxi_ptycho file, read by `ptycho.cxi.read_cxi`
    with `cxi_options`; PtyLab's layout, `ptycho.ptylab_h5`; or contract keys at the root), a
    zarr store (contract keys).

    diff3d is lazy in every case. Errors: FileNotFoundError; DataContractError('path') for
    an unrecognized or unreadable file; DataContractError(key or HDF5 path) for a dataset
    that violates the contract.
    """
    from . import cxi
    from .raw_data import RawData, from_group

    path = pathlib.Path(path)
    fmt = detect_format(path)
    if fmt == "npz":
        if cxi_options:
            raise TypeError(f"options {sorted(cxi_options)} only apply to CXI files")
        return RawData.from_npz(path, check_values=check_values)
    if fmt == "hdf5":
        return cxi.open_hdf5(path, check_values=check_values, **cxi_options)
    if fmt == "zarr":
        return from_group(open_zarr(path), check_values=check_values, where=path.name)
    if fmt == "npy":
        raise DataContractError("path", f"{path.name} is a single .npy array, not a dataset")
    raise DataContractError("path", f"{path.name} is not a recognized dataset (NPZ, "
                                    "CXI/NeXus HDF5 or zarr, by content)")
