"""The syrupy golden extension and assert_golden, run in a throw-away pytest project."""
import json
import shutil
import textwrap

import pytest

from parity import golden, jsonsafe
from tests.conftest import LEDGER_PATH
from tests.parity.test_golden import _rule
from tests.parity.test_records import make_record

pytest_plugins = ["pytester"]


INNER_TEST = """
    import pathlib
    from parity import jsonsafe
    from parity.testing import assert_golden

    HERE = pathlib.Path(__file__).parent

    def test_record_matches_golden(snapshot):
        assert_golden(snapshot, jsonsafe.read_json(HERE / "record.json"), directory=HERE / "golden")
"""


@pytest.fixture
def inner(pytester):
    """A throw-away pytest project asserting record.json against golden/ via syrupy."""
    pytester.makepyfile(test_inner=textwrap.dedent(INNER_TEST))
    (pytester.path / "golden").mkdir()
    shutil.copy(LEDGER_PATH, pytester.path / "golden" / LEDGER_PATH.name)
    (pytester.path / "golden" / "unrelated__legacy__tiny.json").write_text("{}")

    def run(record, *args):
        jsonsafe.write_json(pytester.path / "record.json", record)
        return pytester.runpytest("-p", "no:cacheprovider", "-q", *args)

    run.golden = pytester.path / "golden" / "gs1_ideal__current__tiny.json"
    return run


def test_syrupy_missing_golden_fails_then_update_writes_it(inner):
    rec = make_record()
    inner(rec).assert_outcomes(failed=1)
    assert not inner.golden.exists()
    inner(rec, "--snapshot-update").assert_outcomes(passed=1)
    stored = golden.load_golden(inner.golden)
    assert stored["values"]["scale.s"] == 260.0 and "pytest" in stored["provenance"]["command"]
    assert (inner.golden.parent / "unrelated__legacy__tiny.json").exists()  # never deleted as "unused"
    inner(rec).assert_outcomes(passed=1)


def test_syrupy_compares_with_ledger_tolerances(inner):
    rec = make_record()
    inner(rec, "--snapshot-update").assert_outcomes(passed=1)
    written = inner.golden.read_text()
    rtol = _rule("scale.s").rtol
    inner(make_record(**{"scale.s": 260.0 * (1 + 0.5 * rtol)})).assert_outcomes(passed=1)
    result = inner(make_record(**{"scale.s": 260.0 * (1 + 10 * rtol)}))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*outside tolerance*", "*scale.s*changed*"])
    assert inner.golden.read_text() == written  # a failure never rewrites


def test_syrupy_corrupt_golden_fails_naming_file_and_update_regenerates(inner):
    rec = make_record()
    inner.golden.write_text('{"schema": "parity-golden/1", "values": {')
    result = inner(rec)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*GoldenError*gs1_ideal__current__tiny.json*corrupt*"])
    inner(rec, "--snapshot-update").assert_outcomes(passed=1)
    assert golden.load_golden(inner.golden)["values"]["scale.g"] == 0.2631


def test_syrupy_foreign_schema_fails_naming_file(inner):
    inner.golden.write_text(json.dumps({"schema": "other/2", "values": {}}))
    result = inner(make_record())
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*GoldenError*gs1_ideal__current__tiny.json*foreign schema*"])


def test_syrupy_failure_names_the_file_and_the_regeneration_commands(inner):
    rec = make_record()
    missing = inner(rec)
    missing.stdout.fnmatch_lines(["*golden golden/gs1_ideal__current__tiny.json is missing*",
                                  "*python -m pytest --snapshot-update test_inner.py::test_record_matches_golden*"])
    inner(rec, "--snapshot-update").assert_outcomes(passed=1)
    changed = inner(make_record(**{"scale.s": 520.0}))
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines([
        "*golden golden/gs1_ideal__current__tiny.json: 1 value(s) outside tolerance*",
        ("*regenerate on purpose: `python -m parity golden update --scenario gs1_ideal --profile current` "
         "(or `python -m pytest --snapshot-update test_inner.py::test_record_matches_golden`)*")])
    inner.golden.write_text("{oops")
    corrupt = inner(rec)
    corrupt.stdout.fnmatch_lines(["*GoldenError*gs1_ideal__current__tiny.json*corrupt*",
                                  "*regenerate on purpose:*--snapshot-update*"])


def test_syrupy_update_keeps_values_within_tolerance_and_warns_nothing(inner):
    rec = make_record()
    inner(rec, "--snapshot-update").assert_outcomes(passed=1)
    before = golden.load_golden(inner.golden)
    rtol = _rule("simulate.s_sim").rtol
    moved = make_record(**{"simulate.s_sim": 1234.5678 * (1 + 0.5 * rtol), "scale.s": 520.0})
    result = inner(moved, "--snapshot-update", "-W", "error")
    result.assert_outcomes(passed=1)
    assert "Can not relate" not in result.stdout.str() and "warning" not in result.stdout.str().lower()
    after = golden.load_golden(inner.golden)
    assert after["values"]["scale.s"] == 520.0                      # beyond: the new value
    assert after["values"]["simulate.s_sim"] == 1234.5678          # within: the stored value kept
    assert after["provenance"]["date_utc"] >= before["provenance"]["date_utc"]
    assert (inner.golden.parent / "unrelated__legacy__tiny.json").exists()
    inner(moved).assert_outcomes(passed=1)


def test_syrupy_extension_overrides_no_final_or_private_hook():
    """syrupy documents read_snapshot and write_snapshot as final; private names are not API."""
    from syrupy.extensions.single_file import SingleFileSnapshotExtension

    from parity.testing import golden_extension
    ext = golden_extension("golden")
    own = {name for klass in ext.__mro__ if klass.__module__ == "parity.testing" for name in vars(klass)}
    assert not own & {"read_snapshot", "write_snapshot"}
    private = {n for n in own if n.startswith("_") and not n.startswith("__") and n != "_abc_impl"}
    assert not {n for n in private if hasattr(SingleFileSnapshotExtension, n)}  # e.g. _write_mode
    hooks = {n for n in own if not n.startswith("_")} - {"golden_dir", "ledger_path", "regenerate_corrupt"}
    assert all(hasattr(SingleFileSnapshotExtension, n) for n in hooks), hooks - set(dir(SingleFileSnapshotExtension))
