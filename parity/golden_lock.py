"""One `golden update` at a time per golden directory, and a journal of what it wrote.

`update_lock(directory, command)` holds an exclusive `fcntl.flock` on ``<directory>/.golden-
update.lock`` while an update writes. The kernel drops the lock when its process ends however it
ends (exit, exception, kill -9), so a lock file left by a dead process never blocks: the next
update takes it over (and removes the temp files of golden writes the dead holder left). A
second update while the first is alive raises `GoldenLockedError`
(exit 2) naming the holder's pid, command and start time.

The lock file is also the update's journal (JSON lines): a header {pid, command, host,
started_utc}, then {"writing": name} before each golden file is replaced and {"written": name}
after. A finished update removes it. An update that stops after writing some goldens (an
exception, SIGINT/SIGTERM, kill -9) leaves it behind, so the mixed state of the directory is
visible: the stopped process (when it could still run code) and the next update print which
files were written (each golden file is itself replaced atomically, so every file is whole: old
or new). `interrupted_update(directory)` reads such a left-over journal.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import fcntl
import json
import os
import pathlib
import socket
import time
from typing import Any, Iterator

from ptycho.atomic import write_error

from .errors import ParityError

LOCK_NAME = ".golden-update.lock"
#: the temp files `ptycho.atomic` makes while replacing a golden file (left only by a kill -9)
TEMP_GLOB = ".*__*__*.json.*.tmp"


class GoldenLockedError(ParityError):
    """Another live `golden update` holds the lock of a golden directory; `path` is the lock."""

    name_attr, prefix, str_name = "path", "golden update lock ", True


@dataclasses.dataclass(frozen=True)
class Journal:
    """What a lock file says: who held it and which golden files it replaced (`written`) or
    was replacing (`writing`: started, not known to have finished; None when none)."""

    pid: int | None
    command: str
    host: str
    started_utc: str
    written: tuple[str, ...] = ()
    writing: str | None = None

    def holder(self) -> str:
        """'pid 123 on host (`command`, started 2026-...Z)'."""
        return f"pid {self.pid} on {self.host} (`{self.command}`, started {self.started_utc})"

    def files_line(self) -> str:
        """'wrote a.json, b.json (and was writing c.json)' / 'wrote no golden file'."""
        done = ", ".join(self.written) if self.written else "no golden file"
        return f"wrote {done}" + (f" (and was replacing {self.writing})" if self.writing else "")


def lock_path(directory: str | os.PathLike) -> pathlib.Path:
    """The lock (and journal) file of a golden directory."""
    return pathlib.Path(directory) / LOCK_NAME


def parse_journal(text: str) -> Journal | None:
    """The Journal of a lock file's text (None when empty or without a readable header). A
    torn last line (the writer was killed mid-line) is ignored."""
    entries = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            entries.append(item)
    if not entries or "pid" not in entries[0]:
        return None
    head, written, writing = entries[0], [], None
    for item in entries[1:]:
        if "writing" in item:
            writing = str(item["writing"])
        elif "written" in item:
            written.append(str(item["written"]))
            writing = None if writing == item["written"] else writing
    pid = head.get("pid")
    return Journal(pid if isinstance(pid, int) else None, str(head.get("command", "?")),
                   str(head.get("host", "?")), str(head.get("started_utc", "?")),
                   tuple(written), writing)


def interrupted_update(directory: str | os.PathLike) -> Journal | None:
    """The journal an interrupted update left in `directory` (None when there is none, or
    when a live update holds the lock right now)."""
    path = lock_path(directory)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        return parse_journal(_read_all(fd))
    finally:
        os.close(fd)


def _read_all(fd: int) -> str:
    chunks, offset = [], 0
    while True:
        block = os.pread(fd, 1 << 16, offset)
        if not block:
            return b"".join(chunks).decode("utf-8", errors="replace")
        chunks.append(block)
        offset += len(block)


class UpdateLock:
    """A held lock of one golden directory; record each golden file write with `writing` and
    `written`. `previous`: the journal of an interrupted update this one took over (or None)."""

    def __init__(self, path: pathlib.Path, fd: int, previous: Journal | None):
        self.path, self._fd, self.previous = path, fd, previous
        #: temp files of golden writes a killed holder left behind, removed on take-over
        self.removed_temps: list[str] = []
        self.written: list[str] = []
        self.writing: str | None = None

    def _append(self, entry: dict[str, Any]) -> None:
        try:
            os.write(self._fd, (json.dumps(entry) + "\n").encode("utf-8"))
            os.fsync(self._fd)
        except OSError as exc:  # a full disk: exit 2 naming the journal
            typed = write_error(self.path, exc)
            if typed is None:
                raise
            raise typed from exc

    def begin(self, command: str) -> None:
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        self._append({"pid": os.getpid(), "command": command, "host": socket.gethostname(),
                      "started_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})

    def start_writing(self, name: str) -> None:
        """Journal that golden file `name` is about to be replaced."""
        self.writing = name
        self._append({"writing": name})

    def done_writing(self, name: str) -> None:
        """Journal that golden file `name` was replaced (whole)."""
        self.written.append(name)
        self.writing = None
        self._append({"written": name})


def _flock_exclusive(fd: int, tries: int = 5, pause_s: float = 0.05) -> None:
    """flock(LOCK_EX) without waiting on a holder; a few short retries ride over a reader's
    momentary shared lock (`interrupted_update`). Raises BlockingIOError when still held."""
    for attempt in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if attempt == tries - 1:
                raise
            time.sleep(pause_s)


def acquire(directory: str | os.PathLike, command: str) -> UpdateLock:
    """Take the update lock of `directory` (a stale one left by a dead process is taken over,
    its journal kept as `.previous`). Raises GoldenLockedError naming the live holder."""
    path = lock_path(directory)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _flock_exclusive(fd)
        except BlockingIOError:
            holder = parse_journal(_read_all(fd))
            os.close(fd)
            who = holder.holder() if holder else "another process (it has not written its name yet)"
            raise GoldenLockedError(path, f"another golden update is running in this directory: "
                                          f"{who}; wait until it finishes, then run this one again")
        except BaseException:
            os.close(fd)
            raise
        try:  # the file we locked must still be the one at `path` (a finishing holder unlinks it)
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        previous = parse_journal(_read_all(fd))
        lock = UpdateLock(path, fd, previous)
        try:
            lock.begin(command)
        except BaseException:  # e.g. a full disk: leave no lock file of ours behind
            if previous is None:
                path.unlink(missing_ok=True)
            os.close(fd)
            raise
        if previous is not None:  # its holder died: no atomic write of it is still running
            for tmp in sorted(path.parent.glob(TEMP_GLOB)):
                tmp.unlink(missing_ok=True)
                lock.removed_temps.append(tmp.name)
        return lock


def release(lock: UpdateLock, *, finished: bool) -> None:
    """Give the lock up. A finished update, or one that replaced no golden file, removes the
    journal; an unfinished one that did keeps it (the directory is mixed: some goldens new)."""
    try:
        if finished or (not lock.written and lock.writing is None):
            lock.path.unlink(missing_ok=True)
    finally:
        os.close(lock._fd)


@contextlib.contextmanager
def update_lock(directory: str | os.PathLike, command: str) -> Iterator[UpdateLock]:
    """Hold the update lock of `directory` for the block (see the module doc); released on any
    exit, the journal kept when the block stopped after replacing some golden file."""
    lock = acquire(directory, command)
    finished = False
    try:
        yield lock
        finished = True
    finally:
        release(lock, finished=finished)
