#!/usr/bin/env python3
"""Run the mutation table (tests/mutations/mutations.toml) against the PR gate.

Each mutation is one literal edit (file, exact old string, new string). For each, the tree is
copied to a temporary directory (by default the committed tree, `git archive HEAD`, so other
people's uncommitted work in progress cannot disturb the run; `--source worktree` copies the
files `git ls-files --cached --others --exclude-standard` lists instead; the working tree is
never edited), the edit is applied to the copy, and
`python -m parity check --quiet` runs there (cwd and PYTHONPATH the copy, its own goldens and
ledger). Exit 0 = missed, anything else = caught; the first failing stage is read from the
copy's report.json (earliest failing check, else the stage of the first golden key, else the
stage named by the error). With --tests, a fast pytest subset runs in the copy for every
mutation the check missed (check + tests = caught by either). A `noop` mutation must be missed
by both (a catch is a false alarm).

Usage:
    python scripts/mutations.py [--table TOML] [--only ID ...] [--tests] [--check-args "..."]
                                [--out DIR]

(--table tests/mutations/trained_mutations.toml with --check-args "--tier trained ...": the
trained tier's table; see its header.)

Writes DIR/mutations.json and DIR/mutations.md (default reports/mutations/) and prints the
table. Exit status 0 when every non-noop mutation the table expects the check to catch
(stage != infer) is caught and no noop is; 1 otherwise; 2 on a bad table.
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
    stages, and each `old` string occurring exactly once in its file."""
    with open(path, "rb") as fh:
        rows = tomllib.load(fh).get("mutation", [])
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


def _stage_of_error(error: str) -> str | None:
    for token in error.replace(":", " ").split():
        if token in STAGE_ORDER:
            return token
    return None


def first_failing_stage(report: dict) -> str | None:
    """Earliest stage (pipeline order) at which any replay of a check report failed."""
    stages = []
    for rep in report.get("replays", []):
        for c in rep.get("checks", []):
            if c.get("verdict") == "fail":
                stages.append(c.get("stage"))
        for line in rep.get("golden_detail", []) if rep.get("golden") != "ok" else []:
            key = line.split(":", 1)[0]
            if " " not in key and key.split(".", 1)[0] in STAGE_ORDER:
                stages.append(key.split(".", 1)[0])
                break
        if rep.get("error"):
            stages.append(_stage_of_error(rep["error"]) or "config")
    stages = [s for s in stages if s in STAGE_ORDER]
    return min(stages, key=STAGE_ORDER.index) if stages else None


def run_gate(copy: pathlib.Path, check_args: list[str], timeout: float) -> dict:
    """`python -m parity check` in the copy: {'rc', 'caught', 'stage', 'seconds', 'tail'}."""
    out_dir = copy / "_mutation_report"
    cmd = [sys.executable, "-m", "parity", "check", "--quiet", "--out", str(out_dir),
           "--golden-dir", str(copy / "golden"), *check_args]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=_env(copy), capture_output=True, text=True,
                              timeout=timeout)
        rc, tail = proc.returncode, (proc.stdout + proc.stderr)[-2000:]
    except subprocess.TimeoutExpired:
        rc, tail = -1, "timeout"
    seconds = time.perf_counter() - t0
    stage = None
    report = out_dir / "report.json"
    if report.is_file():
        try:
            stage = first_failing_stage(json.loads(report.read_text()))
        except (ValueError, OSError):
            stage = None
    elif rc not in (0, -1):
        stage = "config"          # crashed before any replay (e.g. an import error)
    return {"rc": rc, "caught": rc != 0, "stage": stage, "seconds": round(seconds, 1),
            "tail": tail if rc not in (0, 1) else ""}


def run_tests(copy: pathlib.Path, timeout: float, tests=FAST_TESTS) -> dict:
    """The fast pytest subset in the copy: {'rc', 'caught', 'seconds', 'failed'}."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
           "-m", FAST_MARKERS, *tests]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=_env(copy), capture_output=True, text=True,
                              timeout=timeout)
        rc, out = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired:
        rc, out = -1, "timeout"
    failed = [line.split(" ", 1)[1].split(" - ")[0] for line in out.splitlines()
              if line.startswith("FAILED ") or line.startswith("ERROR ")]
    return {"rc": rc, "caught": rc not in (0, 5), "seconds": round(time.perf_counter() - t0, 1),
            "failed": failed[:3]}


def run_mutation(m: dict, base: pathlib.Path, *, check_args: list[str], with_tests: bool,
                 timeout: float, keep: bool = False) -> dict:
    """Apply one mutation to a fresh copy of `base` and run the gate (and the fast tests if the
    gate missed it)."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"mutation_{m['id']}_"))
    try:
        copy = tmp / "repo"
        shutil.copytree(base, copy)
        if not resolves_to_copy(copy):
            raise RuntimeError(f"imports in {copy} do not resolve to the copy; refusing to run")
        apply_edit(copy, m)
        res = {"id": m["id"], "stage": m["stage"], "noop": bool(m.get("noop")),
               "file": m["file"], "what": m["what"]}
        res["check"] = run_gate(copy, check_args, timeout)
        res["tests"] = (run_tests(copy, timeout) if with_tests and not res["check"]["caught"]
                        else None)
        res["caught_by_check"] = res["check"]["caught"]
        res["caught_by_check_or_tests"] = res["check"]["caught"] or bool(
            res["tests"] and res["tests"]["caught"])
        return res
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def summarize(results: list[dict]) -> dict:
    real = [r for r in results if not r["noop"]]
    noop = [r for r in results if r["noop"]]
    by_stage: dict[str, dict] = {}
    for r in real:
        s = by_stage.setdefault(r["stage"], {"n": 0, "check": 0, "check_or_tests": 0})
        s["n"] += 1
        s["check"] += r["caught_by_check"]
        s["check_or_tests"] += r["caught_by_check_or_tests"]
    return {"mutations": len(real), "caught_by_check": sum(r["caught_by_check"] for r in real),
            "caught_by_check_or_tests": sum(r["caught_by_check_or_tests"] for r in real),
            "false_alarms": sum(r["caught_by_check_or_tests"] for r in noop),
            "noops": len(noop), "by_stage": by_stage}


def markdown(results: list[dict], summary: dict) -> str:
    lines = ["| id | bug stage | caught by check | first failing stage | check+tests | s | what |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        tests = "" if r["tests"] is None else ("caught" if r["tests"]["caught"] else "missed")
        both = "caught" if r["caught_by_check_or_tests"] else "missed"
        lines.append(f"| {r['id']}{' (noop)' if r['noop'] else ''} | {r['stage']} | "
                     f"{'yes' if r['caught_by_check'] else 'no'} | {r['check']['stage'] or ''} | "
                     f"{both}{f' (tests {tests})' if tests else ''} | {r['check']['seconds']} | "
                     f"{r['what']} |")
    n = summary["mutations"]
    lines += ["", f"check alone: {summary['caught_by_check']}/{n}; check + fast tests: "
                  f"{summary['caught_by_check_or_tests']}/{n}; false alarms on no-op edits: "
                  f"{summary['false_alarms']}/{summary['noops']}", "",
              "| stage | mutations | check | check+tests |", "|---|---|---|---|"]
    for stage in STAGE_ORDER:
        if stage in summary["by_stage"]:
            s = summary["by_stage"][stage]
            lines.append(f"| {stage} | {s['n']} | {s['check']} | {s['check_or_tests']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", type=pathlib.Path, default=TABLE,
                   help="mutation table (default tests/mutations/mutations.toml)")
    p.add_argument("--only", nargs="*", help="mutation ids to run (default: all)")
    p.add_argument("--tests", action="store_true",
                   help="run the fast test subset for mutations the check missed")
    p.add_argument("--check-args", default="", help="extra arguments for `parity check`")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per command")
    p.add_argument("--out", type=pathlib.Path, default=ROOT / "reports" / "mutations")
    p.add_argument("--keep", action="store_true", help="keep the temporary copies")
    p.add_argument("--source", choices=("head", "worktree"), default="head",
                   help="tree to mutate: the committed HEAD (default) or the working tree")
    args = p.parse_args(argv)
    work = pathlib.Path(tempfile.mkdtemp(prefix="mutations_base_"))
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args, work: pathlib.Path) -> int:
    base = work / "base"
    make_base(base, args.source)
    try:
        table = load_table(args.table, root=base)
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
        print(f"{r['id']:40s} check {'caught' if r['caught_by_check'] else 'MISSED':7s} "
              f"at {r['check']['stage']!s:14s} ({r['check']['seconds']} s)"
              + ("" if r["tests"] is None else
                 f"  tests {'caught' if r['tests']['caught'] else 'MISSED'} {r['tests']['failed'][:1]}"),
              flush=True)
    summary = summarize(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mutations.json").write_text(json.dumps({"summary": summary, "results": results},
                                                        indent=2) + "\n")
    text = markdown(results, summary)
    (args.out / "mutations.md").write_text(text)
    print(text)
    expected_missed = [r for r in results if not r["noop"] and r["stage"] in NOT_IN_GATE]
    ok = (summary["false_alarms"] == 0
          and all(r["caught_by_check"] for r in results
                  if not r["noop"] and r not in expected_missed))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
