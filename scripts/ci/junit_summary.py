#!/usr/bin/env python3
"""Summarize a pytest JUnit XML report for GitHub Actions (standard library only).

    python scripts/ci/junit_summary.py reports/junit.xml [--title NAME] [--max-message 200]

- Appends a Markdown section to $GITHUB_STEP_SUMMARY (or the file given with --summary; printed
  to stdout when neither is set): the counts, then one table row per failed or errored test
  with its (truncated) message.
- Prints one workflow command per failed or errored test,
  ``::error file=tests/x.py,line=12,title=<test id>::<message>``, which GitHub shows as an
  annotation on that line. The file and line come from the testcase's ``file``/``line``
  attributes when the report has them (junit_family=xunit1), else from the test's module
  (``classname``) and the last ``path:line:`` of that file in the traceback text.
- Exits 0 whatever the tests did (the pytest step carries the verdict); exits 0 with a warning
  annotation when the report does not exist (pytest died before writing it), 2 when the report is
  not JUnit XML.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_MESSAGE = 200
OUTCOMES = ("failure", "error")


@dataclass(frozen=True)
class Problem:
    """One failed or errored test case."""

    test_id: str         # pytest-style id: tests/x.py::TestClass::test_name[param]
    outcome: str         # "failure" or "error"
    message: str         # one line, untruncated
    file: str | None     # repository-relative path, when known
    line: int | None     # 1-based line, when known


@dataclass(frozen=True)
class Report:
    tests: int
    failures: int
    errors: int
    skipped: int
    problems: list[Problem]


# --------------------------------------------------------------------------- parsing
def _module_path(classname: str, root: Path) -> tuple[str | None, list[str]]:
    """('tests/x.py', ['TestClass']) for classname 'tests.x.TestClass' when tests/x.py exists
    under root; the longest dotted prefix that names a file wins."""
    parts = [p for p in classname.split(".") if p]
    for cut in range(len(parts), 0, -1):
        candidate = "/".join(parts[:cut]) + ".py"
        if (root / candidate).is_file():
            return candidate, parts[cut:]
    return None, parts


def _traceback_line(text: str, file: str | None) -> int | None:
    """Last 'file:LINE:' in the traceback text (pytest prints 'tests/x.py:12: AssertionError')."""
    if not file or not text:
        return None
    hits = re.findall(rf"(?m)^{re.escape(file)}:(\d+):", text)
    return int(hits[-1]) if hits else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _message(element: ET.Element) -> str:
    message = element.get("message") or ""
    if not message.strip():
        body = (element.text or "").strip()
        lines = [ln for ln in body.splitlines() if ln.strip()]
        # pytest puts the exception line ("E   AssertionError: ...") near the end
        e_lines = [ln.strip()[1:].strip() for ln in lines if ln.lstrip().startswith("E ")]
        message = e_lines[0] if e_lines else (lines[-1] if lines else "")
    elif message == "collection failure":  # pytest's whole message for a module that fails to import
        e_lines = [ln.strip()[1:].strip() for ln in (element.text or "").splitlines()
                   if ln.lstrip().startswith("E ")]
        if e_lines:
            message = f"{message}: {e_lines[-1]}"
    return _one_line(message) or element.tag


def _problem(case: ET.Element, element: ET.Element, root: Path) -> Problem:
    classname = case.get("classname") or ""
    name = case.get("name") or "?"
    line = None
    if case.get("file"):  # junit_family=xunit1
        file = case.get("file")
        module = file[:-3].replace("/", ".") if file.endswith(".py") else ""
        rest = classname[len(module):] if module and classname.startswith(module) else ""
        classes = [p for p in rest.split(".") if p]
        # xunit1 `line` is pytest's 0-based line of the test function
        if (case.get("line") or "").isdigit():
            line = int(case.get("line")) + 1
    elif classname:
        file, classes = _module_path(classname, root)
    else:  # a collection error: classname "", name = the module's dotted path
        file, classes = _module_path(name, root)
        if file and not classes:
            name = ""
    traced = _traceback_line(element.text or "", file)
    if traced is not None:
        line = traced
    if file:
        test_id = "::".join(p for p in (file, *classes, name) if p)
    else:
        test_id = "::".join(p for p in (classname, name) if p)
    return Problem(test_id=test_id, outcome=element.tag, message=_message(element),
                   file=file, line=line)


def parse_report(path: str | os.PathLike, root: str | os.PathLike = ".") -> Report:
    """Counts and failed/errored cases of a JUnit XML file (<testsuites> or one <testsuite>)."""
    root = Path(root)
    tree = ET.parse(path).getroot()
    if tree.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"{path}: root element is <{tree.tag}>, not <testsuites>/<testsuite>")
    tests = failures = errors = skipped = 0
    problems: list[Problem] = []
    for case in tree.iter("testcase"):
        tests += 1
        outcome = None
        for child in case:
            if child.tag in OUTCOMES:
                outcome = outcome or child.tag
                problems.append(_problem(case, child, root))
            elif child.tag == "skipped":
                outcome = outcome or "skipped"
        # a test that fails and also errors in teardown is reported twice by pytest; count once
        failures += outcome == "failure"
        errors += outcome == "error"
        skipped += outcome == "skipped"
    return Report(tests, failures, errors, skipped, problems)


# --------------------------------------------------------------------------- output
def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _cell(text: str) -> str:
    """Markdown table cell: one line, pipes escaped (also inside `code`, as GFM tables want)."""
    return _one_line(text).replace("|", "\\|")


def markdown(report: Report, *, title: str = "pytest", max_message: int = DEFAULT_MAX_MESSAGE) -> str:
    passed = report.tests - report.failures - report.errors - report.skipped
    out = [f"## {title}", "",
           f"{report.tests} tests: {passed} passed, {report.failures} failed, "
           f"{report.errors} errors, {report.skipped} skipped", ""]
    if report.problems:
        out += ["| test | outcome | message |", "|---|---|---|"]
        for p in report.problems:
            where = f"`{_cell(p.test_id)}`"
            if p.file and p.line:
                where += f" ({_cell(p.file)}:{p.line})"
            out.append(f"| {where} | {p.outcome} | {_cell(truncate(p.message, max_message))} |")
        out.append("")
    return "\n".join(out) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotations(report: Report, *, max_message: int = DEFAULT_MAX_MESSAGE) -> list[str]:
    """One `::error ...::message` workflow command per failed or errored test."""
    lines = []
    for p in report.problems:
        props = []
        if p.file:
            props.append(f"file={_escape_property(p.file)}")
            if p.line:
                props.append(f"line={p.line}")
        props.append(f"title={_escape_property(f'{p.outcome}: {p.test_id}')}")
        lines.append(f"::error {','.join(props)}::{_escape_data(truncate(p.message, max_message))}")
    return lines


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit", type=Path, help="JUnit XML written by pytest --junitxml")
    parser.add_argument("--summary", type=Path, default=None,
                        help="Markdown file to append to (default: $GITHUB_STEP_SUMMARY, else stdout)")
    parser.add_argument("--title", default="pytest", help="section heading (default: pytest)")
    parser.add_argument("--max-message", type=int, default=DEFAULT_MAX_MESSAGE,
                        help=f"truncate messages to this many characters (default {DEFAULT_MAX_MESSAGE})")
    parser.add_argument("--root", type=Path, default=Path("."),
                        help="repository root that test paths are relative to (default: .)")
    args = parser.parse_args(argv)

    if not args.junit.is_file():
        print(f"::warning title=junit_summary::no JUnit XML at {_escape_data(str(args.junit))} "
              "(did pytest start?)")
        return 0
    try:
        report = parse_report(args.junit, args.root)
    except (ET.ParseError, ValueError) as exc:
        print(f"::error title=junit_summary::{_escape_data(str(exc))}")
        return 2

    text = markdown(report, title=args.title, max_message=args.max_message)
    target = args.summary or (Path(os.environ["GITHUB_STEP_SUMMARY"])
                              if os.environ.get("GITHUB_STEP_SUMMARY") else None)
    if target is None:
        sys.stdout.write(text)
    else:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(text)
    for line in annotations(report, max_message=args.max_message):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
