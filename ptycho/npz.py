"""NPZ archives without pickles: reading members in place or as streams (`open_npz_member`,
`read_npz`) and writing atomically, streaming lazy arrays block by block (`write_npz`).

A member stored without compression (what `np.savez` writes) is read in place with ``pread`` at
its byte offset in the archive (`ptycho.frames.FileSource`; ``mmap=True`` gives an
``np.memmap`` instead; pread is the default because every page a memmap has read stays in the
process's resident set until it is unmapped, so a pass over a 4 GiB memmap shows 4 GiB of RSS
while pread keeps it at one block); a compressed member is decompressed as a stream. Errors name the member key, or
'path' for the archive itself (`DataContractError`).
"""
from __future__ import annotations

import math
import pathlib
import struct
import zipfile

import numpy as np

from . import atomic
from .errors import DataContractError
from .frames import FileSource, FrameArray, StreamSource

#: the ZIP local file header: signature and the lengths of the name and extra field after it
_ZIP_LOCAL_HEADER = struct.Struct("<4s22xHH")


def _npy_header(fp, where: str) -> tuple[tuple, bool, np.dtype]:
    """(shape, fortran_order, dtype) of the .npy stream `fp`, which is left at the data."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(fp)
        else:  # (3, 0): utf-8 field names; numpy has no public reader for its header
            shape, fortran, dtype = fmt._read_array_header(fp, version)
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise DataContractError(where, f"is not a readable .npy member: {exc}") from exc
    if dtype.hasobject:
        raise DataContractError(where, "holds Python objects (pickles are not read)")
    return tuple(int(d) for d in shape), bool(fortran), dtype


def _zip_data_offset(path: pathlib.Path, info: zipfile.ZipInfo) -> int:
    """Byte offset in the archive file where the data of member `info` starts."""
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        head = fh.read(_ZIP_LOCAL_HEADER.size)
    if len(head) != _ZIP_LOCAL_HEADER.size:
        raise DataContractError("path", f"{path.name}: truncated ZIP header of {info.filename}")
    magic, name_len, extra_len = _ZIP_LOCAL_HEADER.unpack(head)
    if magic != b"PK\x03\x04":
        raise DataContractError("path", f"{path.name}: bad ZIP local header of {info.filename}")
    return info.header_offset + _ZIP_LOCAL_HEADER.size + name_len + extra_len


def _member_info(zf: zipfile.ZipFile, path: pathlib.Path, key: str) -> zipfile.ZipInfo:
    try:
        info = zf.getinfo(key + ".npy")
    except KeyError:
        raise DataContractError(key, f"required key missing from {path.name}") from None
    if info.flag_bits & 0x1:
        raise DataContractError(key, "is an encrypted ZIP member")
    return info


def open_npz_member(path, key: str, *, mmap: bool = False):
    """Array `key` of the NPZ at `path`, not loaded: a FrameArray (or, with `mmap`, an
    ``np.memmap``) over the member's bytes.

    Stored members (no compression) are read in place at their offset in the archive; a
    compressed member is read as a decompressing stream (``mmap`` then raises
    DataContractError(key)). A Fortran-ordered member with more than one axis is loaded.
    Errors: FileNotFoundError; DataContractError('path') for an unreadable archive,
    DataContractError(key) for a missing or unreadable member.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NPZ file not found: {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            info = _member_info(zf, path, key)
            with zf.open(info) as fp:
                shape, fortran, dtype = _npy_header(fp, key)
                header_len = fp.tell()
                if not shape or (fortran and len(shape) > 1):
                    with zf.open(info) as whole:
                        return np.lib.format.read_array(whole, allow_pickle=False)
    except (OSError, zipfile.BadZipFile) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise DataContractError("path", f"{path.name} is not a readable NPZ file: {exc}") from exc
    nbytes = dtype.itemsize * math.prod(shape)
    if info.file_size < header_len + nbytes:
        raise DataContractError(key, f"member holds {info.file_size - header_len} data bytes, "
                                     f"shape {shape} {dtype} needs {nbytes}")
    description = f"{path.name}:{key}.npy"
    if info.compress_type == zipfile.ZIP_STORED:
        offset = _zip_data_offset(path, info) + header_len
        if mmap:
            return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
        source = FileSource(path, offset, shape, dtype, description=description)
    else:
        if mmap:
            raise DataContractError(key, "is compressed and cannot be memory-mapped "
                                         "(rewrite with np.savez or RawData.to_npz)")
        archive = zipfile.ZipFile(path)
        member = _member_info(archive, path, key)

        def opener(archive=archive, member=member):
            return archive.open(member)

        source = StreamSource(opener, header_len, shape, dtype,
                              description=description + " (compressed)",
                              on_close=archive.close)
    return FrameArray(source)


def read_npz(path, *, lazy=()) -> dict:
    """All arrays of an NPZ archive as a dict (no pickles).

    Keys named in `lazy` (e.g. ``("diff3d",)``) are not loaded: they come as
    `open_npz_member` FrameArrays (0-d members are always loaded).
    A missing file raises FileNotFoundError; an unreadable one DataContractError('path').
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NPZ file not found: {path}")
    lazy = set(lazy)
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise DataContractError("path", f"{path.name} is a single .npy array, not an NPZ")
        with data:
            out = {}
            for key in data.files:
                if key in lazy:
                    out[key] = None  # filled below, outside the open NpzFile
                else:
                    out[key] = data[key]
    except DataContractError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise DataContractError("path", f"{path.name} is not a readable NPZ file: {exc}") from exc
    for key in [k for k, v in out.items() if v is None]:
        out[key] = open_npz_member(path, key)
    return out


def _atomic_savez(path: pathlib.Path, arrays: dict) -> None:
    """np.savez into a temp file next to `path`, then atomically replace `path` with it."""
    with atomic.replacing(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _atomic_savez_streaming(path: pathlib.Path, arrays: dict, block_bytes: int) -> None:
    """Like `_atomic_savez` (stored members, ZIP64), writing FrameArrays block by block, so
    the archive can be larger than memory; the result reads back with np.load."""
    fmt = np.lib.format
    with atomic.replacing(path, suffix=".npz") as tmp, \
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, value in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as fh:
                if not isinstance(value, FrameArray):
                    fmt.write_array(fh, np.asarray(value), allow_pickle=False)
                    continue
                header = {"descr": fmt.dtype_to_descr(value.dtype), "fortran_order": False,
                          "shape": value.shape}
                try:
                    fmt.write_array_header_1_0(fh, header)
                except ValueError:  # header longer than 64 KiB
                    fmt.write_array_header_2_0(fh, header)
                for _, block in value.blocks(block_bytes):
                    fh.write(np.ascontiguousarray(block).data)


def write_npz(path, arrays: dict, *, block_bytes: int) -> pathlib.Path:
    """Write `arrays` (key -> array or FrameArray) as an NPZ at `path`, atomically: `np.savez`
    when every value is in memory, else stored ZIP64 members with each FrameArray streamed in
    blocks of about `block_bytes`. Returns the path."""
    path = pathlib.Path(path)
    if any(isinstance(v, FrameArray) for v in arrays.values()):
        _atomic_savez_streaming(path, arrays, block_bytes)
    else:
        _atomic_savez(path, arrays)
    return path
