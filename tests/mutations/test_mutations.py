"""The mutation table (tests/mutations/mutations.toml) and its runner (scripts/mutations.py).

Fast: the table is valid against the tree (each `old` string occurs exactly once), holds at
least 20 realistic bugs across every stage of the pipeline, and a no-op control. Slow: the
runner on a small subset (two bugs and the no-op) in temporary copies of the tree, with the
check restricted to one replay: the bugs are caught at their stage, the no-op is not.
"""
from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

from tests.conftest import script_module

from parity.records import STAGES

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mutations():
    with script_module("scripts/mutations.py", "mutations_script") as module:
        yield module


def test_table_is_valid_and_covers_every_stage(mutations):
    table = mutations.load_table(mutations.TABLE, root=ROOT)
    real = [m for m in table if not m.get("noop")]
    assert len(real) >= 20
    assert {m["stage"] for m in real} >= set(STAGES)
    assert [m["id"] for m in table if m.get("noop")], "needs a no-op control"


def test_trained_table_is_valid_and_targets_the_trained_stages(mutations):
    table = mutations.load_table(mutations.TABLE.with_name("trained_mutations.toml"), root=ROOT)
    real = [m for m in table if not m.get("noop")]
    assert len(real) >= 3 and {m["stage"] for m in real} <= {"train", "evaluate"}
    assert [m["id"] for m in table if m.get("noop")], "needs a no-op control"


def test_table_errors_name_the_mutation(mutations, tmp_path):
    (tmp_path / "f.py").write_text("x = 1\nx = 1\n")
    bad = tmp_path / "t.toml"
    bad.write_text('[[mutation]]\nid = "twice"\nstage = "scale"\nfile = "f.py"\n'
                   'old = "x = 1"\nnew = "x = 2"\nwhat = "ambiguous"\n')
    with pytest.raises(mutations.TableError, match="twice.*occurs 2 times"):
        mutations.load_table(bad, root=tmp_path)


def test_first_failing_stage_reads_checks_goldens_and_errors(mutations):
    report = {"replays": [
        {"checks": [{"verdict": "fail", "stage": "forward", "name": "forward_scales"}],
         "golden": "ok"},
        {"checks": [], "golden": "changed",
         "golden_detail": ["golden/x.json: labels.k outside tolerance", "run ...",
                           "labels.k: golden 1 vs now 2"]},
        {"checks": [], "golden": "ok", "error": "stage train: ValueError: boom"}]}
    assert mutations.first_failing_stage(report) == "labels"
    assert mutations.first_failing_stage({"replays": [report["replays"][2]]}) == "train"
    assert mutations.first_failing_stage({"replays": []}) is None


def _replay(checks=(), golden="ok", detail=(), error=None):
    return {"checks": [{"verdict": v, "stage": s, "name": n, "detail": d}
                       for n, s, v, d in checks],
            "golden": golden, "golden_detail": list(detail), "error": error}


#: (rc, report, expected (outcome, stage)) -- a non-zero exit is not a kill by itself
GATE_CASES = {
    "clean": (0, {"replays": [_replay()]}, ("pass", None)),
    "timeout": (None, None, ("timeout", None)),
    "usage_error": (2, None, ("crash", None)),
    "traceback_without_report": (1, None, ("crash", None)),
    "named_check": (1, {"replays": [
        _replay([("scale_identity", "scale", "fail", "s vs g*s_cf: ...")],
                golden="changed", detail=["normalize.E: golden 1 vs now 2"])]},
        ("check", "scale")),
    "golden_only": (1, {"replays": [
        _replay([("scale_identity", "scale", "pass", "")], golden="changed",
                detail=["golden/a.json: 2 keys outside tolerance", "normalize.E: 1 vs 2"])]},
        ("golden", "normalize")),
    "stage_exception_only": (1, {"replays": [
        _replay([("counts", "labels", "fail", "telemetry key missing: labels.k")],
                error="stage labels: IndexError: index 9 out of range")]},
        ("crash", "labels")),
    "check_before_the_exception": (1, {"replays": [
        _replay([("scale_energy", "scale", "fail", "energy ..."),
                 ("counts", "labels", "fail", "cannot evaluate: None")],
                error="stage labels: IndexError: boom")]},
        ("check", "scale")),
}


@pytest.mark.parametrize("case", sorted(GATE_CASES))
def test_classify_gate_counts_only_named_and_golden_findings(mutations, case):
    """Breaker: the old runner's rule (`caught = rc != 0`) calls the timeout, the usage error,
    the traceback and the stage exception kills."""
    rc, report, (outcome, stage) = GATE_CASES[case]
    got = mutations.classify_gate(rc, report, "Traceback (most recent call last):\nImportError: x")
    assert (got["outcome"], got["stage"]) == (outcome, stage)
    if outcome == "check":
        assert got["detail"] == report["replays"][0]["checks"][0]["name"]
        assert got["check_stage"] == stage
    if outcome == "golden":
        assert (got["check_stage"], got["golden_stage"]) == (None, stage)


@pytest.mark.parametrize("rc, stdout, outcome", [
    (0, "3 passed", "pass"),
    (1, "FAILED tests/x.py::test_a - assert 1 == 2\n1 failed", "test"),
    (1, "ERROR tests/x.py::test_a - ImportError\n1 error", "crash"),
    (2, "ERROR tests/x.py - SyntaxError\nInterrupted: 1 error during collection", "crash"),
    (4, "ERROR: file or directory not found: tests/y.py", "crash"),
    (5, "no tests ran", "crash"),
    (None, "", "timeout"),
])
def test_classify_tests_counts_only_failed_tests(mutations, rc, stdout, outcome):
    """Breaker: the old rule (`caught = rc not in (0, 5)`) counts rc 2-4 and errors as kills."""
    assert mutations.classify_tests(rc, stdout)["outcome"] == outcome


def test_categorize_compares_the_stage_with_the_table(mutations):
    """Breaker: the old runner reported any non-zero exit as caught, whatever the stage."""
    row = {"id": "x", "stage": "scale"}

    def gate(outcome, check=None, golden=None):
        return {"outcome": outcome, "check_stage": check, "golden_stage": golden,
                "stage": check or golden}

    assert mutations.categorize(row, gate("check", "scale", "scale"), None) == "named"
    assert mutations.categorize(row, gate("check", "labels"), None) == "other_stage"
    assert mutations.categorize(row, gate("check", "labels", "scale"), None) == "golden"
    assert mutations.categorize(row, gate("golden", None, "scale"), None) == "golden"
    assert mutations.categorize(row, gate("golden", None, "forward"), None) == "other_stage"
    assert mutations.categorize(row, gate("pass"), {"outcome": "test"}) == "missed"
    assert mutations.categorize(row, gate("crash"), None) == "crash"
    assert mutations.categorize(row, gate("timeout"), None) == "timeout"
    tests_row = {**row, "detector": "tests", "tests": ["tests/t.py"]}
    assert mutations.categorize(tests_row, gate("pass"), {"outcome": "test"}) == "named"
    assert mutations.categorize(tests_row, gate("pass"), {"outcome": "pass"}) == "missed"
    assert mutations.categorize(tests_row, gate("pass"), {"outcome": "crash"}) == "crash"


def _result(mid, category, *, stage="scale", noop=False, detector="check", gate="pass",
            table="t"):
    return {"id": mid, "table": table, "stage": stage, "noop": noop, "detector": detector,
            "category": category, "tests": None, "what": "w", "file": "f",
            "check": {"outcome": gate, "stage": None, "detail": "", "seconds": 1.0}}


def test_score_counts_golden_only_as_half_and_crashes_as_nothing(mutations):
    results = [_result("a", "named"), _result("b", "golden"), _result("c", "crash"),
               _result("d", "timeout"), _result("e", "other_stage"), _result("f", "missed"),
               _result("n", "missed", noop=True)]
    s = mutations.summarize(results)
    assert s["score"] == 0.25
    assert (s["named"], s["golden"], s["crash"], s["timeout"], s["other_stage"], s["missed"]) \
        == (1, 1, 1, 1, 1, 1)
    line = mutations.summary_line(s, "t")
    for words in ("caught by named check at expected stage 1", "caught at another stage 1",
                  "golden-only 1", "missed 1", "crash 1", "timeout 1", "score 0.250"):
        assert words in line


def test_report_lines_name_the_category_and_what_found_it(mutations):
    """One progress line per mutation (category, finding) and the markdown table: a named
    kill names its check and stage, a tests row its failed self-test and the gate's outcome,
    a noop reads quiet."""
    named = {**_result("a", "named", gate="check"),
             "check": {"outcome": "check", "stage": "scale", "check_stage": "scale",
                       "golden_stage": "normalize", "detail": "scale_identity", "seconds": 9.0}}
    harness = {**_result("h", "named", detector="tests"),
               "tests": {"outcome": "test", "failed": ["tests/p/t.py::test_x"], "seconds": 1.0}}
    noop = _result("n", "missed", noop=True)
    assert "named" in mutations.progress_line(named)
    assert "check scale: scale_identity; golden normalize" in mutations.progress_line(named)
    assert "self-test failed: test_x (gate: pass)" in mutations.progress_line(harness)
    assert "quiet" in mutations.progress_line(noop)
    md = mutations.markdown([named, harness, noop], {"t": mutations.summarize([named, harness,
                                                                                noop])})
    assert "| t | a | scale | named | check scale: scale_identity; golden normalize |" in md
    assert "| t | n (noop) | scale | quiet |" in md
    assert "t: 2 mutations: caught by named check at expected stage 2" in md


def test_gate_ok_needs_a_kill_at_the_stage_of_every_gate_row(mutations):
    good = [_result("a", "named"), _result("b", "golden"),
            _result("i", "missed", stage="infer"), _result("n", "missed", noop=True),
            _result("h", "named", detector="tests")]
    assert mutations.gate_ok(good)
    for bad in (_result("c", "crash"), _result("d", "timeout"), _result("e", "other_stage"),
                _result("h2", "missed", detector="tests", stage="infer"),
                _result("n2", "missed", noop=True, gate="golden")):
        assert not mutations.gate_ok(good + [bad]), bad


def test_tests_rows_need_their_tests(mutations, tmp_path):
    (tmp_path / "f.py").write_text("x = 1\n")
    row = ('[[mutation]]\nid = "h"\nstage = "scale"\nfile = "f.py"\nold = "x = 1"\n'
           'new = "x = 2"\nwhat = "harness"\ndetector = "tests"\n')
    bad = tmp_path / "t.toml"
    bad.write_text(row)
    with pytest.raises(mutations.TableError, match="'h'.*names its tests"):
        mutations.load_table(bad, root=tmp_path)
    bad.write_text(row + 'tests = ["tests/missing.py::test_x"]\n')
    with pytest.raises(mutations.TableError, match="no test file tests/missing.py"):
        mutations.load_table(bad, root=tmp_path)


def test_several_tables_load_tagged_and_ids_stay_unique(mutations, tmp_path):
    (tmp_path / "f.py").write_text("x = 1\n")
    row = ('[[mutation]]\nid = "{}"\nstage = "scale"\nfile = "f.py"\nold = "x = 1"\n'
           'new = "x = 2"\nwhat = "w"\n')
    (tmp_path / "a.toml").write_text(row.format("one"))
    (tmp_path / "blind.toml").write_text(row.format("two"))
    rows = mutations.load_tables([tmp_path / "a.toml", tmp_path / "blind.toml"], root=tmp_path)
    assert [(m["id"], m["table"]) for m in rows] == [("one", "a"), ("two", "blind")]
    (tmp_path / "blind.toml").write_text(row.format("one"))
    with pytest.raises(mutations.TableError, match="'one': in both a.toml and blind.toml"):
        mutations.load_tables([tmp_path / "a.toml", tmp_path / "blind.toml"], root=tmp_path)


def test_the_default_and_the_blind_table_run_together(mutations):
    """`--table mutations.toml --table blind.toml`: both load against the tree, ids unique
    across them, each row tagged with its table (one summary line each)."""
    rows = mutations.load_tables([mutations.TABLE, mutations.TABLE.with_name("blind.toml")],
                                 root=ROOT)
    assert {m["table"] for m in rows} == {"mutations", "blind"}
    assert len({m["id"] for m in rows}) == len(rows)


def test_an_edit_that_does_not_import_is_a_crash(mutations, tmp_path):
    """Breaker: without the import step, a syntax error of the edit makes `check` exit 1 with a
    traceback, which the old runner counted as caught."""
    base = tmp_path / "repo"
    (base / "ptycho").mkdir(parents=True)
    (base / "ptycho" / "__init__.py").write_text("")
    (base / "ptycho" / "m.py").write_text("X = 1\n")
    assert mutations.edit_imports(base, {"file": "ptycho/m.py"}, 60) is None
    (base / "ptycho" / "m.py").write_text("X = (1\n")
    assert "SyntaxError" in mutations.edit_imports(base, {"file": "ptycho/m.py"}, 60)
    (base / "ptycho" / "m.py").write_text("import not_a_module_anywhere\n")
    assert "ModuleNotFoundError" in mutations.edit_imports(base, {"file": "ptycho/m.py"}, 60)


def test_harness_rows_name_self_tests_that_exist(mutations):
    """The two harness rows are judged by the self-tests they name (the gate cannot see a
    blinded check on a correct product), so `ok` can hold."""
    table = {m["id"]: m for m in mutations.load_table(mutations.TABLE, root=ROOT)}
    for mid in ("harness_bound_from_value", "harness_observed_copied_from_prediction"):
        assert table[mid]["detector"] == "tests" and table[mid]["tests"]


@pytest.mark.slow
def test_runner_catches_two_bugs_and_not_the_noop(mutations, tmp_path):
    if shutil.which("git") is None or subprocess.run(
            ["git", "rev-parse", "--git-dir"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("the mutation runner copies a git checkout; this is not one")
    base = tmp_path / "base"
    mutations.make_base(base, "worktree")
    table = {m["id"]: m for m in mutations.load_table(mutations.TABLE, root=base)}
    args = ["--scenario", "gs2_ideal", "--profile", "current"]
    results = {i: mutations.run_mutation(table[i], base, check_args=args, with_tests=False,
                                         timeout=600)
               for i in ("noop_comment", "phase_without_pi", "harness_bound_from_value")}
    noop = results["noop_comment"]
    assert not mutations.caught(noop), noop["check"]
    bug = results["phase_without_pi"]
    assert bug["category"] == "named" and bug["check"]["check_stage"] == "forward", bug
    harness = results["harness_bound_from_value"]
    assert harness["check"]["outcome"] == "pass" and harness["category"] == "named", harness
    assert harness["tests"]["failed"], harness
    assert (ROOT / table["phase_without_pi"]["file"]).read_text().count(
        table["phase_without_pi"]["old"]) == 1        # the working tree is untouched
