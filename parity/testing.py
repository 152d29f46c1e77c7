"""Testing helpers and the pytest plugin of the harness (like ``xarray.testing``).

- `assert_golden(snapshot, record, directory=...)`: a telemetry record matches its golden,
  through a syrupy extension that compares with the ledger tolerances (not string equality).
- pytest plugin (entry point ``pytest11: parity``): fixtures `golden` (assert a record against
  its golden), `parity_golden_dir`, `parity_ledger` and `parity_tolerance`, and the ini option
  ``parity_golden_dir``; a fork of the pipeline gates its own runs with the same machinery.

syrupy is imported only when an extension is built, so loading the plugin costs nothing.
"""
from __future__ import annotations

import functools
import os
import pathlib
from collections.abc import Callable
from typing import Any

import pytest

from ptycho import atomic

from . import jsonsafe
from .golden import (GOLDEN_DIR_NAME, REGENERATE, GoldenError, KeyResult, compare_golden, failures,
                     find_golden_dir, golden_stem, ledger_of, make_golden, parse_golden, provenance,
                     results_table)
from .records import coerce_record
from .tolerances import LEDGER_NAME, Ledger, load_ledger


def _build_extension_class() -> type:
    from syrupy.data import SnapshotCollections
    from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

    class GoldenExtension(SingleFileSnapshotExtension):
        """syrupy extension: goldens are ``<golden_dir>/<name>.json`` compared with ledger
        tolerances (not string equality). Use with ``snapshot(name=golden_stem(record))``, or
        through `assert_golden`. Unused goldens are never deleted by syrupy."""

        file_extension = "json"
        _write_mode = WriteMode.TEXT
        golden_dir: pathlib.Path = pathlib.Path(GOLDEN_DIR_NAME)
        ledger_path: pathlib.Path = pathlib.Path(GOLDEN_DIR_NAME) / LEDGER_NAME
        regenerate_corrupt: bool = False

        def serialize(self, data: Any, **_: Any) -> str:
            return jsonsafe.dumps(make_golden(data, provenance(repo=self.golden_dir)))

        def matches(self, *, serialized_data: Any, snapshot_data: Any) -> bool:
            return not failures(self._results(serialized_data, snapshot_data))

        def _results(self, serialized_data: Any, snapshot_data: Any) -> list[KeyResult]:
            actual = parse_golden(str(serialized_data), "<serialized record>")
            expected = parse_golden(str(snapshot_data), "<golden>")
            return compare_golden(expected, actual, load_ledger(self.ledger_path))

        def diff_lines(self, serialized_data: Any, snapshot_data: Any):
            if not snapshot_data:
                return
            bad = failures(self._results(serialized_data, snapshot_data))
            yield f"{len(bad)} golden value(s) outside tolerance:"
            yield from results_table(bad).splitlines()

        @classmethod
        def get_snapshot_name(cls, *, test_location: Any, index: Any = 0) -> str:
            if not isinstance(index, str) or not index or any(c in index for c in '/\\:*?"<>|'):
                raise GoldenError(cls.golden_dir, "a golden assertion needs snapshot(name=golden_stem(record)) "
                                  f"naming the file, got index {index!r}")
            return index

        @classmethod
        def dirname(cls, *, test_location: Any) -> str:
            return str(cls.golden_dir)

        @classmethod
        def discovery_dirname(cls, *, test_location: Any) -> str:
            return str(cls.golden_dir)

        def discover_snapshots(self, *, test_location: Any, ignore_extensions: Any = None) -> Any:
            # Goldens are shared by several tests and the CLI; never report them unused/delete them.
            return SnapshotCollections()

        def read_snapshot_data_from_location(self, *, snapshot_location: str, snapshot_name: str,
                                             session_id: str) -> str | None:
            path = pathlib.Path(snapshot_location)
            if not path.exists():
                return None
            try:
                text = path.read_text(encoding="utf-8")
                parse_golden(text, path)
            except (GoldenError, UnicodeDecodeError) as exc:
                if self.regenerate_corrupt:
                    return None
                if isinstance(exc, GoldenError):
                    raise
                raise GoldenError(path, f"corrupt: not UTF-8 ({exc.reason})") from exc
            return text

        @classmethod
        def write_snapshot(cls, *, snapshot_location: str, snapshots: list, name_order: Any = None) -> None:
            for data, _location, _index in snapshots:
                atomic.write_text(snapshot_location, str(data))

    return GoldenExtension


@functools.lru_cache(maxsize=None)
def golden_extension(directory: str | os.PathLike, *, ledger: str | os.PathLike | None = None,
                     regenerate_corrupt: bool = False) -> type:
    """The syrupy extension class for goldens in `directory`, comparing with `ledger` (default
    ``<directory>/tolerances.toml``). With `regenerate_corrupt`, a corrupt golden is treated as
    missing (so ``--snapshot-update`` rewrites it); otherwise it raises GoldenError naming the
    file."""
    base = _extension_class()
    directory = pathlib.Path(directory)
    attrs = {"__module__": __name__, "golden_dir": directory,
             "ledger_path": pathlib.Path(ledger) if ledger is not None else directory / LEDGER_NAME,
             "regenerate_corrupt": regenerate_corrupt}
    return type("GoldenExtension", (base,), attrs)


@functools.lru_cache(maxsize=1)
def _extension_class() -> type:
    return _build_extension_class()


def assert_golden(snapshot: Any, record: Any, *, directory: str | os.PathLike,
                  ledger: str | os.PathLike | None = None) -> None:
    """Assert `record` matches its golden in `directory` through syrupy (`snapshot` is syrupy's
    fixture; the `golden` fixture of this plugin fills in the directory).

    Fails on a missing golden or a value outside tolerance; ``--snapshot-update`` (re)writes
    it, replacing a corrupt one. Without update, a corrupt/foreign golden fails with GoldenError.
    """
    __tracebackhide__ = True
    rec = coerce_record(record)
    ext = golden_extension(str(directory), ledger=str(ledger) if ledger is not None else None,
                           regenerate_corrupt=bool(snapshot.update_snapshots))
    assertion = snapshot.use_extension(ext)
    if not assertion(name=golden_stem(rec)) == rec:
        lines = assertion.get_assert_diff()
        path = ext.golden_dir / f"{golden_stem(rec)}.json"
        if not path.exists():
            lines = [f"golden {path} is missing: generate it with `pytest --snapshot-update` or "
                     f"`{REGENERATE}`", *lines]
        raise AssertionError("\n".join(lines))


# --------------------------------------------------------------------------- pytest plugin


def pytest_addoption(parser: Any) -> None:
    parser.addini("parity_golden_dir", "golden directory of parity goldens and the tolerance ledger "
                  "(relative to the rootdir; default: the first golden/ with a tolerances.toml "
                  "from the rootdir upward)", default="")


@pytest.fixture(scope="session")
def parity_golden_dir(pytestconfig: Any) -> pathlib.Path:
    """The golden directory: ini option ``parity_golden_dir``, else found from the rootdir up."""
    configured = pytestconfig.getini("parity_golden_dir")
    if configured:
        return (pytestconfig.rootpath / configured).resolve()
    found = find_golden_dir(pytestconfig.rootpath)
    if found is None:
        pytest.fail(f"no golden/{LEDGER_NAME} found from {pytestconfig.rootpath} upward; set the "
                    "ini option parity_golden_dir", pytrace=False)
    return found


@pytest.fixture(scope="session")
def parity_ledger(parity_golden_dir: pathlib.Path) -> Ledger:
    """The tolerance ledger of the golden directory."""
    return ledger_of(parity_golden_dir)


@pytest.fixture(scope="session")
def parity_tolerance(parity_ledger: Ledger) -> Callable[[str], float]:
    """Callable: parity_tolerance('physics.tf_vs_numpy') -> the ledger's ``[tests.*]`` value."""
    return parity_ledger.test_tolerance


@pytest.fixture
def golden(snapshot: Any, parity_golden_dir: pathlib.Path) -> Callable[[Any], None]:
    """Callable: golden(record) asserts the record matches its golden (see `assert_golden`)."""
    def check(record: Any) -> None:
        __tracebackhide__ = True
        assert_golden(snapshot, record, directory=parity_golden_dir)
    return check
