"""scripts/ci/junit_summary.py on a small synthetic JUnit XML (pytest's xunit2 layout)."""
from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "ci" / "junit_summary.py"


@pytest.fixture(scope="module")
def js():
    spec = importlib.util.spec_from_file_location("junit_summary", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while it executes
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


# one pass, one failure (in a class, message with a pipe and a second line), one setup error
# (traceback ends in the fixture), one skip
JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4">
<testcase classname="tests.pkg.test_mod" name="test_ok[a|b]" time="0.001"/>
<testcase classname="tests.pkg.test_mod.TestK" name="test_fail" time="0.002"><failure message="AssertionError: one | two&#10;assert 1 == 2">self = &lt;TestK&gt;

    def test_fail(self):
&gt;       assert x == 2, "one | two"
E       AssertionError: one | two
E       assert 1 == 2

tests/pkg/test_mod.py:5: AssertionError</failure></testcase>
<testcase classname="tests.pkg.test_mod" name="test_err" time="0.000"><error message="failed on setup with &quot;RuntimeError: setup broke&quot;">@pytest.fixture
    def boom():
&gt;       raise RuntimeError("setup broke")
E       RuntimeError: setup broke

tests/pkg/test_mod.py:8: RuntimeError</error></testcase>
<testcase classname="tests.pkg.test_mod" name="test_skip" time="0.000"><skipped type="pytest.skip" message="not here">tests/pkg/test_mod.py:12: not here</skipped></testcase>
</testsuite></testsuites>
"""

ROWS = [
    "| `tests/pkg/test_mod.py::TestK::test_fail` (tests/pkg/test_mod.py:5) | failure "
    "| AssertionError: one \\| two assert 1 == 2 |",
    "| `tests/pkg/test_mod.py::test_err` (tests/pkg/test_mod.py:8) | error "
    "| failed on setup with \"RuntimeError: setup broke\" |",
]
ANNOTATIONS = [
    "::error file=tests/pkg/test_mod.py,line=5,"
    "title=failure%3A tests/pkg/test_mod.py%3A%3ATestK%3A%3Atest_fail"
    "::AssertionError: one | two assert 1 == 2",
    "::error file=tests/pkg/test_mod.py,line=8,"
    "title=error%3A tests/pkg/test_mod.py%3A%3Atest_err"
    "::failed on setup with \"RuntimeError: setup broke\"",
]


@pytest.fixture
def repo(tmp_path):
    """A repository root holding the test module the report names, and the report."""
    (tmp_path / "tests" / "pkg").mkdir(parents=True)
    (tmp_path / "tests" / "pkg" / "test_mod.py").write_text("# stand-in\n")
    (tmp_path / "junit.xml").write_text(JUNIT, encoding="utf-8")
    return tmp_path


def test_counts_and_problems(js, repo):
    report = js.parse_report(repo / "junit.xml", repo)
    assert (report.tests, report.failures, report.errors, report.skipped) == (4, 1, 1, 1)
    assert [(p.test_id, p.outcome, p.file, p.line) for p in report.problems] == [
        ("tests/pkg/test_mod.py::TestK::test_fail", "failure", "tests/pkg/test_mod.py", 5),
        ("tests/pkg/test_mod.py::test_err", "error", "tests/pkg/test_mod.py", 8),
    ]


def test_main_writes_table_to_step_summary_and_prints_annotations(js, repo, monkeypatch, capsys):
    summary = repo / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert js.main([str(repo / "junit.xml"), "--root", str(repo), "--title", "pytest (3.11)"]) == 0

    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n## pytest (3.11)\n")  # appended, not overwritten
    assert "4 tests: 1 passed, 1 failed, 1 errors, 1 skipped" in text
    table = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert table == ["| test | outcome | message |", "|---|---|---|", *ROWS]
    assert "test_skip" not in text and "test_ok" not in text

    assert capsys.readouterr().out.splitlines() == ANNOTATIONS


def test_messages_are_truncated(js, repo, capsys):
    summary = repo / "summary.md"
    assert js.main([str(repo / "junit.xml"), "--root", str(repo), "--summary", str(summary),
                    "--max-message", "12"]) == 0
    assert "| AssertionEr… |" in summary.read_text(encoding="utf-8")
    out = capsys.readouterr().out.splitlines()
    assert [ln.rsplit("::", 1)[1] for ln in out] == ["AssertionEr…", "failed on s…"]  # 12 characters


def test_newlines_and_percent_are_escaped_in_annotations(js):
    problem = js.Problem("t.py::x", "failure", "50% off\nnext", "a,b.py", 3)
    report = js.Report(1, 1, 0, 0, [problem])
    assert js.annotations(report) == [
        "::error file=a%2Cb.py,line=3,title=failure%3A t.py%3A%3Ax::50%25 off%0Anext"]


def test_xunit1_file_and_line_attributes(js, tmp_path):
    path = tmp_path / "j.xml"
    path.write_text('<testsuite tests="1"><testcase classname="tests.m.TestA" name="test_x" '
                    'file="tests/m.py" line="9"><failure message="boom"/></testcase></testsuite>')
    (problem,) = js.parse_report(path, tmp_path).problems
    assert (problem.test_id, problem.file, problem.line) == ("tests/m.py::TestA::test_x", "tests/m.py", 10)


def test_collection_error_names_the_module(js, tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_broken.py").write_text("import nosuchmod\n")
    path = tmp_path / "j.xml"
    path.write_text('<testsuites><testsuite><testcase classname="" name="tests.test_broken">'
                    '<error message="collection failure">tests/test_broken.py:1: in &lt;module&gt;\n'
                    "    import nosuchmod\nE   ModuleNotFoundError: No module named 'nosuchmod'"
                    "</error></testcase></testsuite></testsuites>")
    (problem,) = js.parse_report(path, tmp_path).problems
    assert (problem.test_id, problem.line) == ("tests/test_broken.py", 1)
    assert problem.message == "collection failure: ModuleNotFoundError: No module named 'nosuchmod'"


def test_missing_report_warns_and_exits_0(js, tmp_path, capsys):
    assert js.main([str(tmp_path / "none.xml"), "--summary", str(tmp_path / "s.md")]) == 0
    assert capsys.readouterr().out.startswith("::warning title=junit_summary::no JUnit XML at ")
    assert not (tmp_path / "s.md").exists()


def test_not_junit_exits_2(js, tmp_path, capsys):
    path = tmp_path / "j.xml"
    path.write_text("<html/>")
    assert js.main([str(path), "--summary", str(tmp_path / "s.md")]) == 2
    assert capsys.readouterr().out.startswith("::error title=junit_summary::")
