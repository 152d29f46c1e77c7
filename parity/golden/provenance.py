"""Provenance of a golden: generator command, git commit, package versions, platform and date
(stored in the golden, never compared)."""
from __future__ import annotations

import datetime as _dt
import functools
import importlib.metadata
import os
import pathlib
import platform
import shlex
import subprocess
import sys
from typing import Any

PROVENANCE_PACKAGES = ("numpy", "scipy", "tensorflow", "keras", "syrupy", "pytest")


@functools.lru_cache(maxsize=8)
def _git_info(repo: str) -> tuple[str, bool | None]:
    """(HEAD commit, dirty flag) of the git checkout holding folder `repo`; ("unknown", None)
    outside a checkout."""
    git = ["git", "--no-optional-locks", "-C", repo]
    try:
        head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown", None
        dirty = subprocess.run([*git, "diff-index", "--quiet", "HEAD", "--"], capture_output=True,
                               timeout=10)
        return head.stdout.strip(), dirty.returncode == 1 if dirty.returncode in (0, 1) else None
    except (OSError, subprocess.TimeoutExpired):
        return "unknown", None


def _package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def portable_command(command: str, *, repo: str | os.PathLike = ".") -> str:
    """`command` with every absolute path argument made machine-independent: relative to the
    checkout folder `repo` when inside it, else its last two parts (e.g.
    'telemetry/gs1_ideal__legacy__tiny.json'), so a golden never stores a path of the machine
    that wrote it. A command that does not split like a shell line is kept as it is."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    root = pathlib.Path(repo).resolve()
    out = []
    for word in words:
        key, sep, value = word.partition("=") if word.startswith("--") else ("", "", word)
        path = pathlib.PurePath(value)
        if path.is_absolute():
            try:
                value = str(pathlib.Path(value).resolve().relative_to(root))
            except ValueError:
                value = str(pathlib.PurePath(*path.parts[-2:]))
        out.append(f"{key}{sep}{value}")
    return shlex.join(out)


def provenance(command: str | None = None, *, repo: str | os.PathLike = ".") -> dict[str, Any]:
    """Provenance of a golden: generator command (absolute paths made portable), git commit
    (+ dirty flag) of the checkout holding `repo` (the golden directory), package versions,
    platform and UTC date. Stored in the golden, never compared."""
    if command is None:
        argv = list(getattr(sys, "orig_argv", sys.argv))
        if argv:
            argv[0] = pathlib.Path(argv[0]).name
        command = shlex.join(argv)
    checkout = pathlib.Path(repo).resolve()
    command = portable_command(command, repo=checkout.parent)
    commit, dirty = _git_info(str(checkout))
    return {
        "command": command,
        "git_commit": commit,
        "git_dirty": dirty,
        "packages": _package_versions(),
        "platform": f"{platform.system()} {platform.machine()}",
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
