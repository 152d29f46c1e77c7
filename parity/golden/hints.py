"""What a golden failure ends with: the file named relative to the current directory, and the
exact commands that regenerate it (`regenerate_hint`)."""
from __future__ import annotations

import os
import pathlib
import shlex
from collections.abc import Mapping
from typing import Any

from ..records import header_of
from .files import find_golden_dir

REGENERATE = "python -m parity golden update"
#: this checkout's syrupy golden test (tiny tier), parametrized "[<scenario>-<profile>]"
GOLDEN_TEST = "tests/parity/test_golden_snapshots.py::test_tiny_golden"


def display_path(path: str | os.PathLike, cwd: str | os.PathLike | None = None) -> str:
    """`path` relative to `cwd` (default: the current directory) when it lies below it, else
    absolute: the form failure messages name a golden file in."""
    path = pathlib.Path(path).resolve()
    base = pathlib.Path(cwd if cwd is not None else os.getcwd()).resolve()
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def is_default_golden_dir(directory: str | os.PathLike | None,
                          cwd: str | os.PathLike | None = None) -> bool:
    """Whether `directory` (None: unspecified) is the golden/ a command run from `cwd`
    (default: the current directory) finds by itself, so a command need not name it with
    --golden-dir."""
    if directory is None:
        return True
    found = find_golden_dir(cwd if cwd is not None else os.getcwd())
    return found is not None and found.resolve() == pathlib.Path(directory).resolve()


def regenerate_command(header: Mapping[str, Any], directory: str | os.PathLike | None = None, *,
                       cwd: str | os.PathLike | None = None) -> str:
    """The exact CLI command regenerating the golden of `header` (a record, golden dict or
    {"scenario", "profile", "tier"}): ``python -m parity golden update --scenario S --profile P``,
    with ``--tier T`` off the tiny tier and ``--golden-dir D`` when `directory` is not the
    golden/ found from `cwd`."""
    h = header_of(header) if "values" in header else header
    cmd = [*shlex.split(REGENERATE), "--scenario", h["scenario"], "--profile", h["profile"]]
    if h["tier"] != "tiny":
        cmd += ["--tier", h["tier"]]
    if not is_default_golden_dir(directory, cwd):
        cmd += ["--golden-dir", display_path(directory, cwd)]  # type: ignore[arg-type]
    return shlex.join(cmd)


def pytest_command(node_id: str) -> str:
    """``python -m pytest --snapshot-update NODE``: the syrupy way to (re)write one golden."""
    return shlex.join(["python", "-m", "pytest", "--snapshot-update", node_id])


def regenerate_hint(header: Mapping[str, Any], directory: str | os.PathLike | None = None, *,
                    cwd: str | os.PathLike | None = None, node_id: str | None = None) -> str:
    """One line naming the regeneration commands of a golden: the CLI command, and the pytest
    alternative (`node_id`, else this checkout's golden test of the tiny tier when the golden
    lives in the default golden/)."""
    h = header_of(header) if "values" in header else header
    cli = regenerate_command(h, directory, cwd=cwd)
    if node_id is None and h["tier"] == "tiny" and is_default_golden_dir(directory, cwd):
        node_id = f"{GOLDEN_TEST}[{h['scenario']}-{h['profile']}]"
    alt = f" (or `{pytest_command(node_id)}`)" if node_id else ""
    return f"regenerate on purpose: `{cli}`{alt}"
