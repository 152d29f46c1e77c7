"""Atomic file writing: the one implementation every writer in ptycho and parity uses.

A file is written into a temp file in the target folder, flushed and fsynced, given the mode a
plain ``open()`` would give it, then moved onto the target with ``os.replace``: readers see the
old file or the new one, never half of one, and a failed write leaves no temp file behind.

A write that fails for want of room or permission (full disk, quota, read-only folder, file
size limit) raises `ptycho.errors.WriteError` naming the target file, whichever step failed
(creating the temp file, the writer's own writes into it, fsync, the rename).
"""
from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import tempfile
from collections.abc import Iterator

from .errors import WriteError

#: errno codes that mean "this file cannot be written here" (not a bug of the writer)
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                          errno.EFBIG})


def write_error(path: str | os.PathLike, exc: OSError,
                outcome: str = "nothing written, the previous file (if any) is unchanged"
                ) -> WriteError | None:
    """The WriteError naming `path` for an OSError of a failed write (full disk, read-only,
    permission, size limit), else None. `outcome` says what was left."""
    code = exc.errno
    if code not in WRITE_ERRNOS:
        return None
    return WriteError(path, f"{os.strerror(code)} (errno {errno.errorcode.get(code, code)}); "
                            + outcome, errno=code)


def _new_file_mode() -> int:
    """Permission bits a plain open() would give a new file (0o666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def make_dirs(path: str | os.PathLike) -> pathlib.Path:
    """Create folder `path` with its parents (mkdir -p); a full disk or a read-only parent
    raises WriteError naming `path`."""
    path = pathlib.Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        typed = write_error(path, exc, "the folder could not be created")
        if typed is None:
            raise
        raise typed from exc
    return path


@contextlib.contextmanager
def replacing(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[pathlib.Path]:
    """Yield a temp path next to `path`; on a clean exit fsync it and replace `path` with it.

    For writers that need a file name (``model.save``, ``fig.savefig``); `suffix` keeps the
    extension such writers look at (``.keras``, ``.png``). The parent folder is created. On an
    exception the temp file is removed and `path` is left as it was; an OSError of a full disk
    or a read-only folder becomes a WriteError naming `path`.
    """
    path = pathlib.Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        os.close(fd)
        tmp = pathlib.Path(tmp_name)
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _new_file_mode())
        os.replace(tmp, path)
    except OSError as exc:
        typed = None if isinstance(exc, WriteError) else write_error(path, exc)
        if typed is None:
            raise
        raise typed from exc
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def write_bytes(path: str | os.PathLike, data: bytes) -> pathlib.Path:
    """Write `data` to `path` atomically; returns the path."""
    with replacing(path) as tmp:
        tmp.write_bytes(data)
    return pathlib.Path(path)


def write_text(path: str | os.PathLike, text: str) -> pathlib.Path:
    """Write `text` (UTF-8, ``\\n`` line ends) to `path` atomically; returns the path."""
    return write_bytes(path, text.encode("utf-8"))
