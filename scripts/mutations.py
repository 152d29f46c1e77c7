#!/usr/bin/env python3
"""Run mutation tables (tests/mutations/*.toml) against the PR gate and classify every outcome.

Each mutation is one literal edit (file, exact old string, new string). For each, the tree is
copied to a temporary directory (by default the committed tree, `git archive HEAD`, so other
people's uncommitted work in progress cannot disturb the run; `--source worktree` copies the
files `git ls-files --cached --others --exclude-standard` lists instead; the working tree is
never edited), the edit is applied to the copy, the edited module is compiled and imported
(an edit that does not import is a crash, not a kill), and `python -m parity check --quiet`
runs there (cwd and PYTHONPATH the copy, its own goldens and ledger).

A kill is a named check failure, or a golden failure, at the stage the table expects; the
stage is read from the copy's report.json. Every mutation lands in exactly one category:

    named        the earliest named check failure is at the expected stage (a kill)
    golden       not named, and the earliest golden difference is at the expected stage (half a
                 kill: `golden update` would accept it; a named check that fires only
                 downstream does not make it a named kill)
    other_stage  a named check or golden fails, but neither first at the expected stage (not
                 a kill)
    missed       the gate passes
    crash        the edit does not import, `check` dies without a report (traceback, usage
                 error), or only a stage exception / its missing telemetry fails (not a kill)
    timeout      the command ran past --timeout (not a kill)

Score = (named + golden / 2) / mutations. A row with `detector = "tests"` (a harness edit that
blinds a check: the gate run on a correct product cannot see it) names in `tests` the
self-tests that must fail; for it, a named test failure is the kill and pytest usage/collection
errors (rc 2-4), errors outside a test and no tests collected (rc 5) are crashes. With
--tests, the fast pytest subset also runs for every gate row the gate did not kill (its
outcome is reported in a column of its own, never folded into the score). A `noop` mutation
must be missed (a catch is a false alarm).

Usage:
    python scripts/mutations.py [--table TOML ...] [--only ID ...] [--tests]
                                [--check-args "..."] [--timeout S] [--out DIR]

--table may be given several times (e.g. the default table and a blind batch,
`--table tests/mutations/mutations.toml --table tests/mutations/blind.toml`); each table is
summarized on its own. (--table tests/mutations/trained_mutations.toml with --check-args
"--tier trained ...": the trained tier's table; see its header.)

Writes DIR/mutations.json and DIR/mutations.md (default reports/mutations/) and prints one line
per mutation, the table and one summary line per table. Exit status 0 when no noop is caught
and every other row the gate runs (stage not in NOT_IN_GATE) is killed by its detector at its
expected stage (named, or golden for gate rows); 1 otherwise; 2 on a bad table.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests" / "mutations" / "mutations.toml"
#: fast tests run for a mutation the check missed (unit tests of ptycho and the harness'
#: self-tests; no training, no benchmarks)
FAST_TESTS = ("tests/ptycho", "tests/parity/test_invariants.py", "tests/parity/test_stages.py",
              "tests/parity/test_consistency.py")
FAST_MARKERS = "not slow and not bench and not gpu"
#: stages the tiny gate does not run: a mutation there is expected to be missed by the check
NOT_IN_GATE = ("infer",)
STAGE_ORDER = ("config", "object", "probe", "scan", "simulate", "group", "normalize", "scale",
               "container", "network_input", "labels", "forward", "train", "infer", "stitch",
               "evaluate")


class TableError(ValueError):
    """The mutation table is malformed; the message names the mutation and the problem."""


def load_table(path: pathlib.Path = TABLE, root: pathlib.Path = ROOT) -> list[dict]:
    """The mutations of `path`, validated against the tree at `root`: unique ids, known
    stages, each `old` string occurring exactly once in its file, and a `detector = "tests"`
    row naming the test files (or node ids) in `tests` that must fail."""
    try:
        with open(path, "rb") as fh:
            rows = tomllib.load(fh).get("mutation", [])
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TableError(f"table {path}: cannot read ({exc})") from exc
    seen = set()
    for m in rows:
        mid = m.get("id")
        for field in ("id", "stage", "file", "old", "new", "what"):
            if not isinstance(m.get(field), str) or not m[field]:
                raise TableError(f"mutation {mid!r}: field {field!r} missing or empty")
        if mid in seen:
            raise TableError(f"mutation {mid!r}: duplicate id")
        seen.add(mid)
        if m["stage"] not in STAGE_ORDER and not m.get("noop"):
            raise TableError(f"mutation {mid!r}: unknown stage {m['stage']!r}")
        detector = m.get("detector", "check")
        if detector not in ("check", "tests"):
            raise TableError(f"mutation {mid!r}: detector must be 'check' or 'tests', "
                             f"got {detector!r}")
        tests = m.get("tests")
        if detector == "tests" and not (isinstance(tests, list) and tests
                                        and all(isinstance(t, str) and t for t in tests)):
            raise TableError(f"mutation {mid!r}: a tests row names its tests "
                             "(tests = [\"tests/...\"])")
        for t in tests or []:
            if not (root / t.split("::", 1)[0]).exists():
                raise TableError(f"mutation {mid!r}: no test file {t.split('::', 1)[0]}")
        if m["old"] == m["new"]:
            raise TableError(f"mutation {mid!r}: old and new are the same")
        target = root / m["file"]
        if not target.is_file():
            raise TableError(f"mutation {mid!r}: no file {m['file']}")
        count = target.read_text().count(m["old"])
        if count != 1:
            raise TableError(f"mutation {mid!r}: old string occurs {count} times in {m['file']}")
    return rows


def make_base(dest: pathlib.Path, source: str = "head", root: pathlib.Path = ROOT) -> None:
    """The unmutated tree at `dest`: the committed HEAD ('head') or the working tree's tracked
    and untracked-but-not-ignored files ('worktree')."""
    dest.mkdir(parents=True)
    if source == "head":
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=root,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        return
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         cwd=root, capture_output=True, check=True).stdout
    for f in (f for f in out.decode().split("\0") if f and (root / f).is_file()):
        target = dest / f
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f, target)


def apply_edit(copy: pathlib.Path, m: dict) -> None:
    """Apply mutation `m` to the copy (never to the working tree)."""
    target = copy / m["file"]
    text = target.read_text()
    if text.count(m["old"]) != 1:
        raise TableError(f"mutation {m['id']!r}: old string not unique in the copy")
    target.write_text(text.replace(m["old"], m["new"], 1))


def _env(copy: pathlib.Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PARITY_FAULT", "GITHUB_STEP_SUMMARY", "PARITY_GOLDEN_DIR")}
    env.update(PYTHONPATH=str(copy), PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1",
               TF_CPP_MIN_LOG_LEVEL="2")
    return env


def resolves_to_copy(copy: pathlib.Path) -> bool:
    """True when `import ptycho, parity` in the copy loads the copy's modules."""
    code = "import ptycho, parity; print(ptycho.__file__); print(parity.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=copy, env=_env(copy),
                         capture_output=True, text=True)
    paths = out.stdout.split()
    return len(paths) == 2 and all(pathlib.Path(p).resolve().is_relative_to(copy.resolve())
                                   for p in paths)


#: outcome categories of a mutation (see the module docstring), in report order
CATEGORIES = ("named", "other_stage", "golden", "missed", "crash", "timeout")
#: what each category is called in the summary line
CATEGORY_TEXT = {"named": "caught by named check at expected stage", "golden": "golden-only",
                 "other_stage": "caught at another stage", "missed": "missed",
                 "crash": "crash", "timeout": "timeout"}
#: detail prefixes of a failing check that only reports telemetry a crashed stage never wrote
_CONSEQUENCE_DETAILS = ("telemetry key missing", "cannot evaluate")


def _stage_of_error(error: str) -> str | None:
    for token in error.replace(":", " ").split():
        if token in STAGE_ORDER:
            return token
    return None


def _earliest(stages) -> str | None:
    stages = [s for s in stages if s in STAGE_ORDER]
    return min(stages, key=STAGE_ORDER.index) if stages else None


def gate_findings(report: dict) -> dict:
    """What a check report found, over all replays: the earliest stage of a named check
    failure ('check_stage', with 'check' naming it), of a golden difference ('golden_stage'),
    and of a stage exception ('error_stage', with 'error'). A failing check that only says
    telemetry is missing or cannot be evaluated is a consequence of a crashed stage, not a
    named finding."""
    named, golden, errors = [], [], []
    for rep in report.get("replays", []):
        for c in rep.get("checks", []):
            if c.get("verdict") == "fail" and not str(c.get("detail", "")).startswith(
                    _CONSEQUENCE_DETAILS):
                named.append((c.get("stage"), c.get("name")))
        if rep.get("golden") in ("changed", "missing", "error"):
            for line in rep.get("golden_detail", []):
                key = line.split(":", 1)[0]
                if " " not in key and key.split(".", 1)[0] in STAGE_ORDER:
                    golden.append(key.split(".", 1)[0])
                    break
        if rep.get("error"):
            errors.append((_stage_of_error(rep["error"]) or "config", rep["error"]))
    check_stage = _earliest(s for s, _ in named)
    error_stage = _earliest(s for s, _ in errors)
    return {"check_stage": check_stage,
            "check": next((n for s, n in named if s == check_stage), None),
            "golden_stage": _earliest(golden), "error_stage": error_stage,
            "error": next((e for s, e in errors if s == error_stage), None)}


def first_failing_stage(report: dict) -> str | None:
    """Earliest stage at which any replay of a check report failed (check, golden or error)."""
    f = gate_findings(report)
    return _earliest([f["check_stage"], f["golden_stage"], f["error_stage"]])


def classify_gate(rc: int | None, report: dict | None, tail: str = "") -> dict:
    """One gate run as {'outcome', 'stage', 'detail', 'check_stage', 'golden_stage'}; outcome:
    'pass' | 'check' (a named check failed) | 'golden' (only goldens differ) | 'crash' |
    'timeout'; rc None = timed out. 'stage' is the stage of the outcome's finding (the
    earliest named check failure, else the earliest golden difference); check_stage and
    golden_stage keep both, for `categorize`.

    A stage exception alone (and the missing-telemetry failures it leaves) is a crash, as is
    any failure without a report (an uncaught traceback exits 1 too) or an exit status other
    than 0/1 (usage errors)."""
    none = {"check_stage": None, "golden_stage": None}
    if rc is None:
        return {"outcome": "timeout", "stage": None, "detail": "timeout", **none}
    if rc == 0:
        return {"outcome": "pass", "stage": None, "detail": "", **none}
    if rc != 1 or report is None:
        last = [line for line in tail.strip().splitlines() if line.strip()][-1:] or [""]
        return {"outcome": "crash", "stage": None, **none,
                "detail": f"rc {rc}{'' if report is not None else ', no report'}: {last[0][:160]}"}
    f = gate_findings(report)
    stages = {"check_stage": f["check_stage"], "golden_stage": f["golden_stage"]}
    if f["check_stage"] is not None:
        return {"outcome": "check", "stage": f["check_stage"], "detail": f["check"], **stages}
    if f["golden_stage"] is not None:
        return {"outcome": "golden", "stage": f["golden_stage"], "detail": "golden", **stages}
    return {"outcome": "crash", "stage": f["error_stage"], **stages,
            "detail": (f["error"] or "rc 1 without a failing check, golden or error")[:160]}


def classify_tests(rc: int | None, stdout: str) -> dict:
    """One pytest run as {'outcome', 'failed'}; outcome: 'pass' | 'test' (a named test failed)
    | 'crash' (usage/collection errors rc 2-4, no tests rc 5, or only errors outside a test)
    | 'timeout' (rc None)."""
    lines = stdout.splitlines()
    failed = [line.split(" ", 1)[1].split(" - ")[0] for line in lines
              if line.startswith("FAILED ")]
    errors = [line.split(" ", 1)[1].split(" - ")[0] for line in lines
              if line.startswith("ERROR ")]
    if rc is None:
        return {"outcome": "timeout", "failed": []}
    if rc == 0:
        return {"outcome": "pass", "failed": []}
    if rc == 1 and failed:
        return {"outcome": "test", "failed": failed[:3]}
    return {"outcome": "crash", "failed": (errors or [f"pytest rc {rc}"])[:3]}


def categorize(m: dict, gate: dict, tests: dict | None) -> str:
    """The category (CATEGORIES) of mutation `m` from its gate and test outcomes: for a
    `detector = "tests"` row the named tests decide; for a gate row, 'named' when the
    earliest named check failure is at the table's stage, else 'golden' when the earliest
    golden difference is (a named check that fires only downstream does not make it a named
    kill), else 'other_stage' when anything failed."""
    if m.get("detector") == "tests":
        outcome = (tests or {}).get("outcome", "pass")
        return {"test": "named", "pass": "missed"}.get(outcome, outcome)
    outcome = gate["outcome"]
    if outcome in ("check", "golden"):
        if gate.get("check_stage") == m["stage"]:
            return "named"
        if gate.get("golden_stage") == m["stage"]:
            return "golden"
        return "other_stage"
    return {"pass": "missed"}.get(outcome, outcome)


def edit_imports(copy: pathlib.Path, m: dict, timeout: float) -> str | None:
    """None when the edited file compiles and (a module of the copy's packages) imports;
    else the error's last line (the edit is a crash, not a bug the gate should see)."""
    rel = pathlib.PurePosixPath(m["file"])
    if rel.suffix != ".py":
        return None
    module = ".".join(rel.with_suffix("").parts)
    code = (f"import py_compile; py_compile.compile({str(copy / rel)!r}, doraise=True)"
            + (f"\nimport importlib; importlib.import_module({module!r})"
               if rel.parts[0] in ("ptycho", "parity") else ""))
    try:
        proc = subprocess.run([sys.executable, "-c", code], cwd=copy, env=_env(copy),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "import timed out"
    if proc.returncode == 0:
        return None
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else f"rc {proc.returncode}")[:160]


def run_gate(copy: pathlib.Path, check_args: list[str], timeout: float) -> dict:
    """`python -m parity check` in the copy: classify_gate's dict plus 'rc' and 'seconds'."""
    out_dir = copy / "_mutation_report"
    cmd = [sys.executable, "-m", "parity", "check", "--quiet", "--out", str(out_dir),
           "--golden-dir", str(copy / "golden"), *check_args]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=_env(copy), capture_output=True, text=True,
                              timeout=timeout)
        rc, tail = proc.returncode, (proc.stdout + proc.stderr)[-2000:]
    except subprocess.TimeoutExpired:
        rc, tail = None, "timeout"
    report = None
    path = out_dir / "report.json"
    if rc is not None and path.is_file():
        try:
            report = json.loads(path.read_text())
        except (ValueError, OSError):
            report = None
    return {"rc": rc, **classify_gate(rc, report, tail),
            "seconds": round(time.perf_counter() - t0, 1)}


def run_tests(copy: pathlib.Path, timeout: float, tests=FAST_TESTS) -> dict:
    """pytest on `tests` in the copy (fast markers): classify_tests's dict plus 'rc' and
    'seconds'."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-n", "0", "-p", "no:cacheprovider",
           "-m", FAST_MARKERS, *tests]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=_env(copy), capture_output=True, text=True,
                              timeout=timeout)
        rc, out = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired:
        rc, out = None, ""
    return {"rc": rc, **classify_tests(rc, out), "seconds": round(time.perf_counter() - t0, 1)}


def run_mutation(m: dict, base: pathlib.Path, *, check_args: list[str], with_tests: bool,
                 timeout: float, keep: bool = False) -> dict:
    """Apply one mutation to a fresh copy of `base`, make sure the edit imports, run the gate
    (and the named tests of a tests row; the fast tests when asked and the gate did not kill
    it) and categorize the outcome."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"mutation_{m['id']}_"))
    try:
        copy = tmp / "repo"
        shutil.copytree(base, copy)
        if not resolves_to_copy(copy):
            raise RuntimeError(f"imports in {copy} do not resolve to the copy; refusing to run")
        apply_edit(copy, m)
        res = {"id": m["id"], "table": m.get("table", ""), "stage": m["stage"],
               "noop": bool(m.get("noop")), "detector": m.get("detector", "check"),
               "file": m["file"], "what": m["what"], "tests": None}
        broken = edit_imports(copy, m, timeout)
        if broken is not None:
            res["check"] = {"rc": None, "outcome": "crash", "stage": None, "check_stage": None,
                            "golden_stage": None, "detail": f"edit does not import: {broken}",
                            "seconds": 0.0}
        else:
            res["check"] = run_gate(copy, check_args, timeout)
            if res["detector"] == "tests":
                res["tests"] = run_tests(copy, timeout, tests=m["tests"])
            elif with_tests and res["check"]["outcome"] not in ("check", "golden"):
                res["tests"] = run_tests(copy, timeout)
        res["category"] = ("crash" if broken is not None and res["detector"] == "tests"
                           else categorize(m, res["check"], res["tests"]))
        return res
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def caught(r: dict) -> bool:
    """True when a noop mutation raised an alarm (a named check, golden or test failure)."""
    return (r["check"]["outcome"] in ("check", "golden")
            or bool(r["tests"] and r["tests"]["outcome"] == "test"))


def summarize(results: list[dict]) -> dict:
    """Counts per category, the score (named + golden/2 over the non-noop mutations), the
    tests column, false alarms, and per-stage counts."""
    real = [r for r in results if not r["noop"]]
    noop = [r for r in results if r["noop"]]
    counts = {c: sum(r["category"] == c for r in real) for c in CATEGORIES}
    by_stage: dict[str, dict] = {}
    for r in real:
        s = by_stage.setdefault(r["stage"], {"n": 0, **{c: 0 for c in CATEGORIES}})
        s["n"] += 1
        s[r["category"]] += 1
    tests_run = [r for r in real if r["tests"] is not None and r["detector"] != "tests"]
    n = len(real)
    return {"mutations": n, **counts,
            "score": round((counts["named"] + counts["golden"] / 2) / n, 4) if n else None,
            "fast_tests_run": len(tests_run),
            "fast_tests_caught": sum(r["tests"]["outcome"] == "test" for r in tests_run),
            "false_alarms": sum(caught(r) for r in noop), "noops": len(noop),
            "by_stage": by_stage}


def summary_line(summary: dict, name: str = "") -> str:
    """One line: the categories, golden-only counted half in the score."""
    n = summary["mutations"]
    parts = [f"{CATEGORY_TEXT[c]} {summary[c]}" for c in CATEGORIES]
    score = "n/a" if summary["score"] is None else f"{summary['score']:.3f}"
    line = (f"{name + ': ' if name else ''}{n} mutations: " + ", ".join(parts)
            + f"; score {score} (golden-only counts half); false alarms "
              f"{summary['false_alarms']}/{summary['noops']}")
    if summary["fast_tests_run"]:
        line += (f"; fast tests caught {summary['fast_tests_caught']}/"
                 f"{summary['fast_tests_run']} of those the gate did not kill")
    return line


def _finding(r: dict) -> str:
    g = r["check"]
    if r["detector"] == "tests" and r["tests"] is not None:
        t = r["tests"]
        words = {"test": "self-test failed", "pass": "self-tests pass",
                 "crash": "self-tests crash", "timeout": "self-tests time out"}[t["outcome"]]
        first = t["failed"][0].split("::")[-1] if t["failed"] else ""
        return f"{words}{': ' + first if first else ''} (gate: {g['outcome']})"
    if g["outcome"] in ("check", "golden"):
        parts = ([f"check {g['check_stage']}: {g['detail']}"] if g.get("check_stage") else []) \
            + ([f"golden {g['golden_stage']}"] if g.get("golden_stage") else [])
        return "; ".join(parts)
    return g["detail"] or g["outcome"]


def markdown(results: list[dict], summaries: dict[str, dict]) -> str:
    lines = ["| table | id | bug stage | category | gate found | fast tests | s | what |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        tests = ("" if r["tests"] is None or r["detector"] == "tests"
                 else f"{r['tests']['outcome']} {', '.join(r['tests']['failed'][:1])}".strip())
        category = ("false alarm" if caught(r) else "quiet") if r["noop"] else r["category"]
        finding = _finding(r).replace("|", "\\|")
        lines.append(f"| {r['table']} | {r['id']}{' (noop)' if r['noop'] else ''} | {r['stage']} | "
                     f"{category} | {finding[:120]} | {tests} | {r['check']['seconds']} | "
                     f"{r['what']} |")
    for name, summary in summaries.items():
        lines += ["", summary_line(summary, name), "",
                  "| stage | mutations | " + " | ".join(CATEGORIES) + " |",
                  "|---|---|" + "---|" * len(CATEGORIES)]
        for stage in STAGE_ORDER:
            if stage in summary["by_stage"]:
                s = summary["by_stage"][stage]
                lines.append(f"| {stage} | {s['n']} | "
                             + " | ".join(str(s[c]) for c in CATEGORIES) + " |")
    return "\n".join(lines) + "\n"


def gate_ok(results: list[dict]) -> bool:
    """No false alarm, and every row the gate runs killed at its expected stage by its
    detector (named or golden for gate rows; a named test for tests rows)."""
    for r in results:
        if r["noop"]:
            if caught(r):
                return False
        elif (r["stage"] not in NOT_IN_GATE or r["detector"] == "tests") and \
                r["category"] not in ("named", "golden"):
            return False
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", type=pathlib.Path, action="append",
                   help="mutation table; repeat for several (default "
                        "tests/mutations/mutations.toml)")
    p.add_argument("--only", nargs="*", help="mutation ids to run (default: all)")
    p.add_argument("--tests", action="store_true",
                   help="run the fast test subset for gate rows the gate did not kill")
    p.add_argument("--check-args", default="", help="extra arguments for `parity check`")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per command")
    p.add_argument("--out", type=pathlib.Path, default=ROOT / "reports" / "mutations")
    p.add_argument("--keep", action="store_true", help="keep the temporary copies")
    p.add_argument("--source", choices=("head", "worktree"), default="head",
                   help="tree to mutate: the committed HEAD (default) or the working tree")
    args = p.parse_args(argv)
    args.table = args.table or [TABLE]
    work = pathlib.Path(tempfile.mkdtemp(prefix="mutations_base_"))
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def load_tables(paths, root: pathlib.Path) -> list[dict]:
    """The rows of every table in `paths` (each validated against `root`), tagged with their
    table's file stem; ids must be unique across the tables."""
    rows, seen = [], {}
    for path in paths:
        path = pathlib.Path(path)
        for m in load_table(path, root=root):
            if m["id"] in seen:
                raise TableError(f"mutation {m['id']!r}: in both {seen[m['id']]} and {path.name}")
            seen[m["id"]] = path.name
            rows.append({**m, "table": path.stem})
    return rows


def progress_line(r: dict) -> str:
    """One line per mutation while the run goes on."""
    tests = ("" if r["tests"] is None or r["detector"] == "tests" else
             f"  fast tests {r['tests']['outcome']} {', '.join(r['tests']['failed'][:1])}")
    label = ("FALSE ALARM" if caught(r) else "quiet") if r["noop"] else r["category"]
    return (f"{r['id']:40s} {label:11s} {_finding(r)[:70]:70s} ({r['check']['seconds']} s)"
            + tests)


def _run(args, work: pathlib.Path) -> int:
    base = work / "base"
    make_base(base, args.source)
    try:
        table = load_tables(args.table, root=base)
    except TableError as exc:
        print(f"mutations: {exc}", file=sys.stderr)
        return 2
    if args.only:
        unknown = set(args.only) - {m["id"] for m in table}
        if unknown:
            print(f"mutations: unknown ids {sorted(unknown)}", file=sys.stderr)
            return 2
        table = [m for m in table if m["id"] in args.only]
    results = []
    for m in table:
        r = run_mutation(m, base, check_args=shlex.split(args.check_args),
                         with_tests=args.tests, timeout=args.timeout, keep=args.keep)
        results.append(r)
        print(progress_line(r), flush=True)
    names = list(dict.fromkeys(r["table"] for r in results))
    summaries = {name: summarize([r for r in results if r["table"] == name]) for name in names}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mutations.json").write_text(json.dumps(
        {"summaries": summaries, "results": results}, indent=2) + "\n")
    text = markdown(results, summaries)
    (args.out / "mutations.md").write_text(text)
    print(text)
    for name in names:
        print(summary_line(summaries[name], name))
    return 0 if gate_ok(results) else 1


if __name__ == "__main__":
    sys.exit(main())
