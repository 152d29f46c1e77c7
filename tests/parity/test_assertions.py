"""parity.testing's assertions: silent on a clean record, and each failure readable (the check
table or the golden difference table, the assertion's own frame hidden)."""
import copy
import shutil
import textwrap

import pytest

from parity import golden, jsonsafe
from parity.testing import assert_caught, assert_checks_pass, assert_matches_golden
from tests.conftest import LEDGER_PATH

pytest_plugins = ["pytester"]

GOLDEN_DIR = LEDGER_PATH.parent
#: a clean record: the committed golden of a replay (a golden dict is a record too)
CLEAN = golden.load_golden(GOLDEN_DIR / "gs2_ideal__current__tiny.json")


def _broken(**values):
    record = copy.deepcopy(CLEAN)
    record["values"].update(values)
    return record


def test_assert_checks_pass_is_silent_on_a_clean_record():
    assert_checks_pass(CLEAN, ledger=LEDGER_PATH)


def test_assert_checks_pass_fails_with_the_table_of_failing_checks():
    with pytest.raises(AssertionError) as exc:
        assert_checks_pass(_broken(**{"group.centroid_residual": 1.0}), ledger=LEDGER_PATH)
    message = str(exc.value)
    assert message.startswith("1 of ")
    assert "checks fail for gs2_ideal / current (tiny), the first at stage group:" in message
    assert "| stage | check | verdict | value | bound | detail |" in message
    assert "| group | group_centroid | fail |" in message
    assert "scale_identity" not in message            # only the failing rows


def test_assert_caught_passes_when_the_check_fails_at_its_stage():
    assert_caught(_broken(**{"group.centroid_residual": 1.0}), "group_centroid", "group",
                  ledger=LEDGER_PATH)
    assert_caught(_broken(**{"group.centroid_residual": 1.0}), "group_centroid", ledger=LEDGER_PATH)


def test_assert_caught_fails_when_the_check_passes():
    with pytest.raises(AssertionError) as exc:
        assert_caught(CLEAN, "group_centroid", ledger=LEDGER_PATH)
    message = str(exc.value)
    assert message.startswith("group_centroid did not catch it on gs2_ideal / current (tiny) "
                              "(verdict pass):")
    assert "| group | group_centroid | pass |" in message and "(no check fails)" in message


def test_assert_caught_fails_when_an_earlier_stage_fails_first():
    record = _broken(**{"group.centroid_residual": 1.0,
                        "scale.s": CLEAN["values"]["scale.s_cf"] * 2.0})
    with pytest.raises(AssertionError) as exc:
        assert_caught(record, "scale_identity", ledger=LEDGER_PATH)
    message = str(exc.value)
    assert message.startswith("scale_identity fails, but the earliest failure on gs2_ideal / "
                              "current (tiny) is at stage group (group_centroid), not scale:")
    assert "| group | group_centroid | fail |" in message and "| scale | scale_identity | fail |" in message


def test_assert_caught_names_an_unknown_check_or_one_that_did_not_run():
    with pytest.raises(AssertionError, match="no check named 'group_centroids' is registered"):
        assert_caught(CLEAN, "group_centroids", ledger=LEDGER_PATH)
    with pytest.raises(AssertionError, match="check 'loss_decreases' did not run"):
        assert_caught(CLEAN, "loss_decreases", "train", ledger=LEDGER_PATH)


@pytest.fixture
def golden_dir(tmp_path):
    shutil.copy(LEDGER_PATH, tmp_path / LEDGER_PATH.name)
    return tmp_path


def test_assert_matches_golden_is_silent_within_tolerance(golden_dir):
    golden.write_golden(golden.golden_path(golden_dir, CLEAN), CLEAN, {"command": "test"})
    assert_matches_golden(CLEAN, golden_dir)
    assert_matches_golden(CLEAN, GOLDEN_DIR)                # the committed golden itself


def test_assert_matches_golden_fails_with_the_difference_table(golden_dir):
    golden.write_golden(golden.golden_path(golden_dir, CLEAN), CLEAN, {"command": "test"})
    moved = _broken(**{"scale.s": CLEAN["values"]["scale.s"] * 1.5})
    del moved["values"]["scale.energy"]
    with pytest.raises(AssertionError) as exc:
        assert_matches_golden(moved, golden_dir)
    message = str(exc.value)
    assert message.startswith("2 of ")
    assert "values of gs2_ideal / current (tiny) differ from golden" in message
    assert "| key | expected | actual | rel. change | tolerance | class | verdict |" in message
    assert "| `scale.s` |" in message and "| changed |" in message
    assert "| `scale.energy` |" in message and "| missing |" in message
    assert message.splitlines()[-1].startswith("regenerate on purpose: `python -m parity golden update "
                                               "--scenario gs2_ideal --profile current")


def test_assert_matches_golden_names_a_missing_golden(golden_dir):
    with pytest.raises(AssertionError) as exc:
        assert_matches_golden(CLEAN, golden_dir)
    first, hint = str(exc.value).splitlines()
    assert first.endswith("gs2_ideal__current__tiny.json is missing")
    assert hint.startswith("regenerate on purpose:")


def test_a_failing_assertion_reads_as_the_table_in_pytest_output(pytester):
    """__tracebackhide__: pytest shows the test's line and the message, not the helper's body."""
    jsonsafe.write_json(pytester.path / "record.json",
                        _broken(**{"group.centroid_residual": 1.0}))
    pytester.makepyfile(test_inner=textwrap.dedent(f"""
        import pathlib
        from parity import jsonsafe
        from parity.testing import assert_checks_pass

        def test_record():
            record = jsonsafe.read_json(pathlib.Path(__file__).parent / "record.json")
            assert_checks_pass(record, ledger={str(LEDGER_PATH)!r})
    """))
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "| group | group_centroid | fail |" in out
    assert "assert_checks_pass(record, ledger=" in out      # the test's own line
    assert "bad = [c for c in checks" not in out           # not the helper's body
