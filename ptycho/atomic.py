"""Atomic file writing: the one implementation every writer in ptycho and parity uses.

A file is written into a temp file in the target folder, flushed and fsynced, given the mode a
plain ``open()`` would give it, then moved onto the target with ``os.replace``: readers see the
old file or the new one, never half of one, and a failed write leaves no temp file behind.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from collections.abc import Iterator


def _new_file_mode() -> int:
    """Permission bits a plain open() would give a new file (0o666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def replacing(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[pathlib.Path]:
    """Yield a temp path next to `path`; on a clean exit fsync it and replace `path` with it.

    For writers that need a file name (``model.save``, ``fig.savefig``); `suffix` keeps the
    extension such writers look at (``.keras``, ``.png``). The parent folder is created. On an
    exception the temp file is removed and `path` is left as it was.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = pathlib.Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _new_file_mode())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path: str | os.PathLike, data: bytes) -> pathlib.Path:
    """Write `data` to `path` atomically; returns the path."""
    with replacing(path) as tmp:
        tmp.write_bytes(data)
    return pathlib.Path(path)


def write_text(path: str | os.PathLike, text: str) -> pathlib.Path:
    """Write `text` (UTF-8, ``\\n`` line ends) to `path` atomically; returns the path."""
    return write_bytes(path, text.encode("utf-8"))
