"""Testing helpers and the pytest plugin of the harness (like ``xarray.testing``).

- `assert_golden(snapshot, record, directory=...)`: a telemetry record matches its golden,
  through a syrupy extension that compares with the ledger tolerances (not string equality).
- `assert_checks_pass(record)`, `assert_caught(record, check, stage)`,
  `assert_matches_golden(record, golden_dir)` (from `parity.assertions`): plain assertions whose
  failure message is the check table or the golden difference table.
- pytest plugin (entry point ``pytest11: parity``): fixtures `golden` (assert a record against
  its golden), `parity_golden_dir`, `parity_ledger` and `parity_tolerance`, and the ini option
  ``parity_golden_dir``; a fork of the pipeline gates its own runs with the same machinery.

syrupy is imported only when an extension is built, so loading the plugin costs nothing.

The syrupy extension (syrupy >= 7, < 8, the tested major) overrides only what syrupy 7 offers
for overriding, decided from its source (``syrupy/extensions/base.py``, ``single_file.py``) and
README ("By overriding the provided AbstractSyrupyExtension you can implement varied custom
behaviours"):

- the serializer/comparator/reporter hooks `serialize`, `matches` and `diff_lines`, and the
  location hooks `get_snapshot_name`, `get_file_basename`, `dirname`, `discovery_dirname`,
  `matches_test_location` (public classmethods with docstrings, none marked final);
- the storage hooks `read_snapshot_data_from_location`, `write_snapshot_collection`,
  `read_snapshot_collection`, `delete_snapshots` and `discover_snapshots`: abstract or public
  methods of `SnapshotCollectionStorage`, and the docstrings of the two methods syrupy marks
  final (`read_snapshot`, `write_snapshot`: "This method is _final_, do not override. You can
  override `read_snapshot_data_from_location` / `write_snapshot_collection` in a subclass to
  change behaviour") name the first two as *the* hooks to override. (syrupy 4 spelled them
  with a leading underscore; in 7 they are public.) `get_supported_dataclass` (public) says
  the data is text; the private ``_write_mode`` is not used.

Goldens are ``<golden dir>/<scenario>__<profile>__<tier>.json``: the file basename is the
name given to the assertion (``snapshot(name=golden_stem(record))``), while the snapshot name
syrupy reports keeps the test's name (so syrupy can relate it to the test). Writing (with
``--snapshot-update``) keeps every stored value within tolerance (`parity.golden.merge_golden`),
exactly as `python -m parity golden update` does, so one moved value is a one-value diff.

Unused-snapshot detection stays off for goldens (`discover_snapshots` reports none, and
`delete_snapshots` never deletes): a golden is shared by several tests and the CLI, and
whether it is an orphan is a property of the scenario registry, not of which tests a pytest
run selected. Orphans are found by ``python -m parity check`` and removed by
``python -m parity golden prune``.
"""
from __future__ import annotations

import functools
import os
import pathlib
import shlex
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from ptycho import atomic

from . import jsonsafe
from .assertions import assert_caught, assert_checks_pass, assert_matches_golden, checks_table
from .golden import (GOLDEN_DIR_NAME, GoldenError, KeyResult, compare_golden, display_path, failures,
                     find_golden_dir, golden_stem, ledger_of, make_golden, merge_golden, parse_golden,
                     provenance, regenerate_hint, results_table)
from .records import coerce_record, header_of
from .tolerances import LEDGER_NAME, Ledger, load_ledger

_BAD_NAME_CHARS = '/\\:*?"<>|'


def _build_extension_class() -> type:
    from syrupy.data import Snapshot, SnapshotCollection, SnapshotCollections
    from syrupy.extensions.single_file import SingleFileSnapshotExtension

    class GoldenExtension(SingleFileSnapshotExtension):
        """syrupy extension: goldens are ``<golden_dir>/<name>.json`` compared with ledger
        tolerances (not string equality). Use with ``snapshot(name=golden_stem(record))``, or
        through `assert_golden`. syrupy never reports goldens unused nor deletes them."""

        file_extension = "json"
        golden_dir: pathlib.Path = pathlib.Path(GOLDEN_DIR_NAME)
        ledger_path: pathlib.Path = pathlib.Path(GOLDEN_DIR_NAME) / LEDGER_NAME
        regenerate_corrupt: bool = False

        # -- serializer, comparator, reporter
        @classmethod
        def get_supported_dataclass(cls) -> type[str]:
            return str

        def serialize(self, data: Any, **_: Any) -> str:
            return jsonsafe.dumps(make_golden(data, provenance(_WORKER_COMMAND,
                                                               repo=self.golden_dir)))

        def matches(self, *, serialized_data: Any, snapshot_data: Any) -> bool:
            return not failures(self._results(serialized_data, snapshot_data))

        def _results(self, serialized_data: Any, snapshot_data: Any) -> list[KeyResult]:
            actual = parse_golden(str(serialized_data), "<serialized record>")
            expected = parse_golden(str(snapshot_data), "<golden>")
            return compare_golden(expected, actual, load_ledger(self.ledger_path))

        def diff_lines(self, serialized_data: Any, snapshot_data: Any):
            if not snapshot_data:
                return
            actual = parse_golden(str(serialized_data), "<serialized record>")
            path = self.golden_dir / f"{golden_stem(actual)}.json"
            bad = failures(self._results(serialized_data, snapshot_data))
            yield f"golden {display_path(path)}: {len(bad)} value(s) outside tolerance:"
            yield from results_table(bad).splitlines()

        # -- locations: <golden_dir>/<name>.json
        @classmethod
        def _stem(cls, index: Any) -> str:
            if not isinstance(index, str) or not index or any(c in index for c in _BAD_NAME_CHARS):
                raise GoldenError(cls.golden_dir, "a golden assertion needs snapshot(name=golden_stem(record)) "
                                  f"naming the file, got index {index!r}")
            return index

        @classmethod
        def get_snapshot_name(cls, *, test_location: Any, index: Any = 0) -> str:
            cls._stem(index)
            return super().get_snapshot_name(test_location=test_location, index=index)

        @classmethod
        def get_file_basename(cls, *, test_location: Any, index: Any) -> str:
            return cls._stem(index)

        @classmethod
        def dirname(cls, *, test_location: Any) -> str:
            return str(cls.golden_dir)

        @classmethod
        def discovery_dirname(cls, *, test_location: Any) -> str:
            return str(cls.golden_dir)

        @classmethod
        def matches_test_location(cls, *, test_location: Any, snapshot_location: str) -> bool:
            return pathlib.Path(snapshot_location).parent.resolve() == cls.golden_dir.resolve()

        # -- storage
        def discover_snapshots(self, *, test_location: Any, ignore_extensions: Any = None) -> Any:
            # Goldens are shared by several tests and the CLI: never report them unused.
            return SnapshotCollections()

        def read_snapshot_collection(self, *, snapshot_location: str) -> Any:
            collection = SnapshotCollection(location=snapshot_location)
            collection.add(Snapshot(name=pathlib.Path(snapshot_location).stem))
            return collection

        def delete_snapshots(self, *, snapshot_location: str, snapshot_names: set[str]) -> None:
            warnings.warn(f"parity: not deleting golden {snapshot_location}; orphan goldens are "
                          "removed by `python -m parity golden prune`", stacklevel=1)

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
        def write_snapshot_collection(cls, *, snapshot_collection: Any, name_order: Any = None) -> None:
            path = pathlib.Path(snapshot_collection.location)
            for snapshot in snapshot_collection:
                fresh = parse_golden(str(snapshot.data), "<serialized record>")
                try:
                    stored = parse_golden(path.read_text(encoding="utf-8"), path)
                except (OSError, UnicodeDecodeError, GoldenError):
                    data = fresh  # missing or corrupt: the fresh golden
                else:
                    data = merge_golden(stored, fresh, load_ledger(cls.ledger_path), fresh["provenance"])
                atomic.write_text(path, jsonsafe.dumps(data))

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


def _registry_hint(header: dict, directory: pathlib.Path, node_id: str | None) -> str:
    """The regeneration line of a failed golden assertion: pytest with the failing test's node
    id, and the CLI command when the scenario and profile are this harness's own."""
    from .profiles import PROFILES
    from .scenarios import SCENARIOS

    hint = regenerate_hint(header, directory, node_id=node_id)
    if header["scenario"] in SCENARIOS and header["profile"] in PROFILES:
        return hint
    return f"regenerate on purpose: `python -m pytest --snapshot-update {node_id}`" if node_id else hint


def assert_golden(snapshot: Any, record: Any, *, directory: str | os.PathLike,
                  ledger: str | os.PathLike | None = None) -> None:
    """Assert `record` matches its golden in `directory` through syrupy (`snapshot` is syrupy's
    fixture; the `golden` fixture of this plugin fills in the directory).

    Fails on a missing golden or a value outside tolerance; ``--snapshot-update`` (re)writes
    it (keeping the stored values within tolerance), replacing a corrupt one. Without update, a
    corrupt/foreign golden fails with GoldenError. Every failure names the golden file and the
    regeneration commands.
    """
    __tracebackhide__ = True
    rec = coerce_record(record)
    ext = golden_extension(str(directory), ledger=str(ledger) if ledger is not None else None,
                           regenerate_corrupt=bool(snapshot.update_snapshots))
    assertion = snapshot.use_extension(ext)
    if not assertion(name=golden_stem(rec)) == rec:
        lines = assertion.get_assert_diff()
        path = ext.golden_dir / f"{golden_stem(rec)}.json"
        location = getattr(snapshot, "test_location", None)
        hint = _registry_hint(header_of(rec), ext.golden_dir, getattr(location, "nodeid", None))
        if not path.exists():
            lines = [f"golden {display_path(path)} is missing", *lines]
        raise AssertionError("\n".join([*lines, hint]))


# --------------------------------------------------------------------------- pytest plugin

#: the pytest command line a golden written by a pytest-xdist worker records (a worker's own
#: sys.argv is execnet's bootstrap); None outside xdist workers (provenance reads sys.argv)
_WORKER_COMMAND: str | None = None


def pytest_configure(config: Any) -> None:
    """Under pytest-xdist, remember the controller's command line (xdist hands its sys.argv to
    each worker as ``workerinput['mainargv']``) for the provenance of goldens the worker
    writes (a pytester run inside a worker keeps it); without xdist provenance reads sys.argv."""
    global _WORKER_COMMAND
    argv = getattr(config, "workerinput", {}).get("mainargv")
    if argv:
        _WORKER_COMMAND = shlex.join(["pytest", *argv[1:]])


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
