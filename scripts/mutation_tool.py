#!/usr/bin/env python3
"""Mutation testing of the product modules with cosmic-ray: a seeded sample or one shard of its
mutants, each run against the gate (fast tests + `python -m parity check`), scored per module.

Needs the `mutation` extra (`pip install -e ".[test,mutation]"`). Configuration:
tests/mutations/cosmic-ray.toml ([cosmic-ray] is cosmic-ray's, [mutation] this tool's).

    python scripts/mutation_tool.py run [--per-module K | --shard I/N] [--seed S]
                                        [--budget-min M] [--jobs J] [--out DIR]

`run`: the committed tree (`git archive HEAD`; `--source worktree` for uncommitted files) is
copied to a temporary folder; `cosmic-ray init` enumerates every mutant of `module-path` into
DIR/session.sqlite; mutants inside annotations (never evaluated: equivalent), of the bare `*`
of a keyword-only signature (a SyntaxError, or `/`: no fault) and of the operators of
`exclude-operators` are dropped; a deterministic selection is kept (per module,
the first K of a shuffle seeded by (seed, module); or the mutants whose stable hash falls in
shard I of N) and every other mutant is marked skipped in the session (a cosmic-ray filter).
The unmutated tree must pass the gate first (baseline; its step times set the per-step
limits). Then each kept mutant, modules interleaved, is applied with cosmic-ray's
`mutate_and_test` in a private copy of the tree (J copies for J parallel jobs) and the gate
runs there (`gate` below). After --budget-min minutes no new mutant starts (the rest are
reported "not run").

`gate` (the per-mutant test command; stops at the first step that fails):
  1. `import ptycho.<unit>` fails          -> crash (the mutant breaks the import)
  2. the module's fast tests (pytest -x)   -> killed by tests (rc 1); rc 2-5 -> crash
  3. `python -m parity check --quiet [check_args]` -> killed by the check (rc 1): a named
     check, a replay error, or only a golden (then confirmed: the same check with --no-golden
     passes); rc 0 -> survived
  A step over its time limit -> timeout. Crashes and timeouts are not kills: the score is
  killed / (killed + survived) per module; the golden-only kills count half in `score_half`
  (a golden drift is what `parity golden update` would accept).

Writes DIR/mutation.json and DIR/mutation.md (default reports/mutation/<UTC stamp>/) and
DIR/session.sqlite (cosmic-ray's session: `cr-report DIR/session.sqlite` reads it too). Exit 0 when the run
completed (whatever the score), 2 on a bad configuration or a red baseline.
"""
from __future__ import annotations

import argparse
import ast
import concurrent.futures as cf
import datetime as _dt
import hashlib
import json
import os
import pathlib
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tests" / "mutations" / "cosmic-ray.toml"
MARKER = "MUTATION-RESULT "
VERDICTS = ("killed", "survived", "timeout", "crash")
#: how a kill was made (the first gate step that failed)
KILL_KINDS = ("tests", "check", "check-error", "golden-only")
#: environment variables that would change what the gate checks
_DROP_ENV = ("PARITY_FAULT", "GITHUB_STEP_SUMMARY", "PARITY_GOLDEN_DIR")


class ConfigError(ValueError):
    """The configuration is unusable; the message names the key."""


# ------------------------------------------------------------------------------ configuration

def load_config(path: pathlib.Path = CONFIG) -> dict:
    """The whole TOML of `path`, validated: module-path a list of units (a .py file, or a package
    folder whose files are scored together) with a tests entry each, test-command naming
    {python}, {root} and {module}."""
    with open(path, "rb") as fh:
        cfg = tomllib.load(fh)
    cr = cfg.get("cosmic-ray")
    if not isinstance(cr, dict):
        raise ConfigError(f"{path}: no [cosmic-ray] table")
    modules = cr.get("module-path")
    if isinstance(modules, str):
        modules = [modules]
    if not modules or not all(isinstance(m, str) and m.startswith("ptycho")
                              and not m.endswith("/") for m in modules):
        raise ConfigError(f"{path}: cosmic-ray.module-path must list .py files or package "
                          "folders under ptycho (no trailing /)")
    cr["module-path"] = modules
    for key in ("{python}", "{root}", "{module}"):
        if key not in str(cr.get("test-command", "")):
            raise ConfigError(f"{path}: cosmic-ray.test-command must contain {key}")
    mut = cfg.setdefault("mutation", {})
    tests = mut.get("tests", {})
    missing = [m for m in modules if not tests.get(m)]
    if missing:
        raise ConfigError(f"{path}: mutation.tests has no entry for {missing}")
    check_args = mut.setdefault("check_args", [])
    if not isinstance(check_args, list) or not all(isinstance(a, str) for a in check_args):
        raise ConfigError(f"{path}: mutation.check_args must be a list of strings")
    return cfg


def unit_of(file: str, units: list[str]) -> str:
    """The module-path unit (a file, or the package folder holding it) a mutated file scores to."""
    for unit in units:
        if file == unit or file.startswith(unit + "/"):
            return unit
    raise ConfigError(f"{file}: in no cosmic-ray.module-path unit")


def import_name(unit: str) -> str:
    """'ptycho/physics.py' -> 'ptycho.physics'; 'ptycho/evaluation' -> 'ptycho.evaluation'."""
    return unit.removesuffix(".py").replace("/", ".")


def excluded_operator_patterns(cfg: dict) -> list[re.Pattern]:
    section = cfg["cosmic-ray"].get("filters", {}).get("operators-filter", {})
    return [re.compile(p) for p in section.get("exclude-operators", [])]


# --------------------------------------------------------------------------------- selection

def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) (line 1-based, column 0-based) of every annotation of `source`: argument
    and return annotations and the annotation of an annotated assignment."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        found = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            found.append(node.returns)
        elif isinstance(node, ast.arg) and node.annotation is not None:
            found.append(node.annotation)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        spans.extend(((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)) for a in found)
    return spans


def signature_marker_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Spans holding the bare `*` of a keyword-only signature (`def f(a, *, b)`): cosmic-ray
    reads it as a multiplication; its replacements are a SyntaxError (`**`, `+`, ...) or the
    positional-only marker `/` (the callers pass those arguments by keyword anyway), so none
    is a fault of the code. The span runs from the end of the last positional argument (or its
    default) to the first keyword-only argument."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        a = node.args
        if a.vararg is not None or not a.kwonlyargs:
            continue
        before = [*a.posonlyargs, *a.args, *a.defaults]
        start = (max(((n.end_lineno, n.end_col_offset) for n in before))
                 if before else (node.lineno, node.col_offset))
        first = a.kwonlyargs[0]
        spans.append((start, (first.lineno, first.col_offset)))
    return spans


def in_spans(pos: tuple[int, int], spans) -> bool:
    return any(start <= tuple(pos) < end for start, end in spans)


def mutant_key(module: str, operator: str, occurrence: int) -> str:
    """The stable name of a mutant (cosmic-ray's job ids are random per `init`)."""
    return f"{module}:{operator}:{occurrence}"


def select(candidates: list[dict], *, seed: int, per_module: int | None = None,
           shard: tuple[int, int] | None = None) -> list[dict]:
    """The mutants to run, in run order (modules interleaved, so a run cut short by its
    budget still covers every module). `candidates`: dicts with 'key' and 'module'.
    per_module: the first K of each module's list shuffled by Random(f'{seed}:{module}');
    shard (i, n): the mutants whose sha256(key) mod n == i, shuffled the same way."""
    if (per_module is None) == (shard is None):
        raise ValueError("give exactly one of per_module and shard")
    by_module: dict[str, list[dict]] = {}
    for c in sorted(candidates, key=lambda c: c["key"]):
        by_module.setdefault(c["module"], []).append(c)
    picked: dict[str, list[dict]] = {}
    for module, items in sorted(by_module.items()):
        if shard is not None:
            i, n = shard
            items = [c for c in items
                     if int(hashlib.sha256(c["key"].encode()).hexdigest(), 16) % n == i]
        items = list(items)
        random.Random(f"{seed}:{module}").shuffle(items)
        picked[module] = items if per_module is None else items[:per_module]
    order, rank = [], 0
    while any(rank < len(v) for v in picked.values()):
        order.extend(v[rank] for _, v in sorted(picked.items()) if rank < len(v))
        rank += 1
    return order


def parse_shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)/(\d+)", text)
    if not m or int(m.group(2)) < 1 or int(m.group(1)) >= int(m.group(2)):
        raise argparse.ArgumentTypeError(f"--shard {text!r}: expected I/N with 0 <= I < N")
    return int(m.group(1)), int(m.group(2))


# --------------------------------------------------------------------------------- the gate

def gate_env(root: pathlib.Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    env.update(PYTHONPATH=str(root), PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1",
               TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="2")
    return env


def _run(cmd: list[str], root: pathlib.Path, timeout: float) -> tuple[int | None, str, float]:
    """(rc or None on timeout, stdout+stderr tail, seconds) of `cmd` in `root`."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=root, env=gate_env(root), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out[-4000:], time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        return None, "", time.perf_counter() - t0


def check_kill_kind(report: dict) -> tuple[str, str]:
    """('check' | 'check-error' | 'golden-only', detail) of a failed parity check report: a
    named check failed anywhere -> 'check'; else a replay raised -> 'check-error'; else only a
    golden (or an orphan golden) -> 'golden-only'."""
    named, errors, goldens = [], [], []
    for rep in report.get("replays", []):
        where = f"{rep.get('scenario')}/{rep.get('profile')}"
        named.extend(f"{c.get('stage')}:{c.get('name')} ({where})"
                     for c in rep.get("checks", []) if c.get("verdict") == "fail")
        if rep.get("error"):
            errors.append(f"{where}: {str(rep['error'])[:160]}")
        if rep.get("golden") in ("changed", "missing", "error", "orphan"):
            keys = [line.split(":", 1)[0] for line in rep.get("golden_detail", [])[2:3]]
            goldens.append(f"{where} {keys[0] if keys else rep.get('golden')}")
    if named:
        return "check", "; ".join(dict.fromkeys(named))[:400]
    if errors:
        return "check-error", "; ".join(errors[:2])
    return "golden-only", "; ".join(goldens[:3])


def run_gate(root: pathlib.Path, modules: list[str], cfg: dict, *, tests_timeout: float,
             check_timeout: float) -> dict:
    """The gate on the tree at `root` for a mutant of `modules` (the baseline passes them all):
    {'verdict', 'by', 'detail', 'steps': {step: seconds}}."""
    mut = cfg["mutation"]
    steps: dict[str, float] = {}
    py = sys.executable

    def result(verdict, by=None, detail=""):
        return {"verdict": verdict, "by": by, "detail": detail,
                "steps": {k: round(v, 1) for k, v in steps.items()}}

    imports = "; ".join(f"import {import_name(m)}" for m in modules)
    rc, out, steps["import"] = _run([py, "-c", imports], root, mut.get("import_timeout_s", 120))
    if rc is None:
        return result("timeout", detail="import")
    if rc != 0:
        return result("crash", detail="import: " + (out.strip().splitlines() or ["?"])[-1][:300])
    tests = list(dict.fromkeys(t for m in modules for t in mut["tests"][m]))
    rc, out, steps["tests"] = _run(
        [py, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider", "-m", mut["markers"], *tests],
        root, tests_timeout)
    if rc is None:
        return result("timeout", detail="tests")
    if rc == 1:
        failed = [line.split(" ", 1)[1].split(" - ")[0] for line in out.splitlines()
                  if line.startswith(("FAILED ", "ERROR "))]
        return result("killed", "tests", failed[0] if failed else "pytest rc 1")
    if rc != 0:
        return result("crash", detail=f"pytest rc {rc}: " + out.strip()[-300:])
    report_dir = root / "_mutation_check"
    shutil.rmtree(report_dir, ignore_errors=True)
    rc, out, steps["check"] = _run(
        [py, "-m", "parity", "check", "--quiet", *mut.get("check_args", []),
         "--out", str(report_dir), "--golden-dir", str(root / "golden")], root, check_timeout)
    if rc is None:
        return result("timeout", detail="check")
    if rc == 0:
        return result("survived")
    if rc == 1 and (report_dir / "report.json").is_file():
        by, detail = check_kill_kind(json.loads((report_dir / "report.json").read_text()))
        if by == "golden-only":
            # the report says only goldens failed: confirm with the gate minus the goldens
            rc, out, steps["check --no-golden"] = _run(
                [py, "-m", "parity", "check", "--quiet", *mut.get("check_args", []),
                 "--no-golden", "--out", str(report_dir) + "_nogolden"], root, check_timeout)
            if rc is None:
                return result("timeout", detail="check --no-golden")
            if rc != 0:
                by, detail = "check", f"--no-golden rc {rc} (the report named no check): {detail}"
        return result("killed", by, detail)
    return result("crash", detail=f"parity check rc {rc}: " + out.strip()[-300:])


def _cmd_gate(args) -> int:
    cfg = load_config(args.root / "tests" / "mutations" / "cosmic-ray.toml")
    res = run_gate(args.root, args.module, cfg, tests_timeout=args.tests_timeout,
                   check_timeout=args.check_timeout)
    print(MARKER + json.dumps(res), flush=True)
    return 0 if res["verdict"] == "survived" else 1


# ------------------------------------------------------------------------------------ scoring

def outcome_of(worker_outcome: str, output: str | None) -> dict:
    """The gate's verdict from a cosmic-ray WorkResult (worker outcome, captured stdout): the
    MUTATION-RESULT line; cosmic-ray's own 'timeout' backstop -> timeout; no line (the worker
    raised, or the command died) -> crash."""
    text = output or ""
    for line in text.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    if text == "timeout":
        return {"verdict": "timeout", "by": None, "detail": "cosmic-ray timeout", "steps": {}}
    return {"verdict": "crash", "by": None, "steps": {},
            "detail": f"no gate result (worker {worker_outcome}): {text.strip()[-300:]}"}


def score_table(results: list[dict], modules: list[str]) -> list[dict]:
    """One row per module (in `modules` order) and a 'total' row: counts per verdict, kills
    per kind, score = killed / (killed + survived), score_half = the same with golden-only
    kills counted half (None where nothing was killed or survived)."""
    rows = []
    for name in [*modules, "total"]:
        rs = [r for r in results if name == "total" or r["module"] == name]
        row = {"module": name, "sampled": len(rs)}
        for v in (*VERDICTS, "not run"):
            row[v] = sum(r["verdict"] == v for r in rs)
        for k in KILL_KINDS:
            row[f"by {k}"] = sum(r["verdict"] == "killed" and r["by"] == k for r in rs)
        decided = row["killed"] + row["survived"]
        row["score"] = round(row["killed"] / decided, 3) if decided else None
        row["score_half"] = (round((row["killed"] - 0.5 * row["by golden-only"]) / decided, 3)
                             if decided else None)
        rows.append(row)
    return rows


def markdown(doc: dict) -> str:
    meta, rows = doc["meta"], doc["table"]
    cols = ["module", "sampled", "killed", "survived", "timeout", "crash", "not run", "score",
            "score_half", "by tests", "by check", "by check-error", "by golden-only"]
    fmt = lambda v: "" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = [f"# Mutation score ({meta['tool']}, {meta['selection']})", "",
             f"- tree: {meta['commit']} ({meta['source']}); date (UTC) {meta['date']}",
             f"- mutants: {meta['enumerated']} enumerated, {meta['annotation_skipped']} in "
             f"annotations, {meta.get('signature_marker_skipped', 0)} of keyword-only `*` "
             f"markers and {meta['operator_skipped']} of excluded operators dropped, "
             f"{meta['selected']} selected",
             f"- baseline gate: {meta['baseline']['steps']} s; limits: tests "
             f"{meta['limits']['tests']} s, check {meta['limits']['check']} s; wall "
             f"{meta['wall_s']} s, {meta['jobs']} job(s)",
             "- score = killed / (killed + survived); score_half counts a golden-only kill as "
             "half; timeouts and crashes are not kills", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    lines += ["", "## Mutants", "",
              "| verdict | by | file:line | function | operator | mutation | detail |",
              "|---|---|---|---|---|---|---|"]
    order = {v: i for i, v in enumerate(("survived", "timeout", "crash", "killed", "not run"))}
    for r in sorted(doc["mutants"], key=lambda r: (order[r["verdict"]], r["file"], r["line"])):
        lines.append(f"| {r['verdict']} | {r['by'] or ''} | {r['file']}:{r['line']} | "
                     f"{r['function'] or ''} | {r['operator'].removeprefix('core/')} | "
                     f"`{r['change']}` | {str(r['detail']).replace('|', '/')[:200]} |")
    return "\n".join(lines) + "\n"


def change_of(diff: str | None) -> str:
    """'old -> new' of a one-line unified diff (the first changed line pair)."""
    minus = [ln[1:].strip() for ln in (diff or "").splitlines()
             if ln.startswith("-") and not ln.startswith("---")]
    plus = [ln[1:].strip() for ln in (diff or "").splitlines()
            if ln.startswith("+") and not ln.startswith("+++")]
    return f"{minus[0][:90]} -> {plus[0][:90]}" if minus and plus else ""


# ---------------------------------------------------------------------------------------- run

def make_base(dest: pathlib.Path, source: str) -> str:
    """The unmutated tree at `dest` (committed HEAD or the working tree's files); returns the
    commit it was taken from (with '+worktree' for the working tree)."""
    dest.mkdir(parents=True)
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    if source == "head":
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        return commit
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         cwd=ROOT, capture_output=True, check=True).stdout
    for f in (f for f in out.decode().split("\0") if f and (ROOT / f).is_file()):
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dest / f)
    return commit + "+worktree"


def enumerate_mutants(base: pathlib.Path, config_path: pathlib.Path, session: pathlib.Path):
    """`cosmic-ray init` in `base` (module paths relative to it) into `session`."""
    cmd = [sys.executable, "-c", "import sys; from cosmic_ray.cli import main; sys.exit(main())",
           "init", str(config_path), str(session), "--force"]
    subprocess.run(cmd, cwd=base, check=True)


def candidates_of(db, base: pathlib.Path, cfg: dict) -> tuple[list[dict], int, int, int]:
    """The work items of a session as dicts, minus annotation mutants (when configured),
    excluded operators and the bare `*` of keyword-only signatures; returns (candidates,
    annotation-skipped, operator-skipped, signature-marker-skipped)."""
    patterns = excluded_operator_patterns(cfg)
    spans: dict[str, list] = {}
    out, n_ann, n_op, n_sig = [], 0, 0, 0
    markers: dict[str, list] = {}
    units = cfg["cosmic-ray"]["module-path"]
    for item in db.work_items:
        m = item.mutations[0]
        file = pathlib.Path(m.module_path).as_posix()
        if any(p.search(m.operator_name) for p in patterns):
            n_op += 1
            continue
        if file not in spans:
            spans[file] = annotation_spans((base / file).read_text())
        if cfg["mutation"].get("skip_annotations", True) and in_spans(m.start_pos, spans[file]):
            n_ann += 1
            continue
        if file not in markers:
            markers[file] = signature_marker_spans((base / file).read_text())
        if in_spans(m.start_pos, markers[file]):
            n_sig += 1
            continue
        out.append({"key": mutant_key(file, m.operator_name, m.occurrence),
                    "module": unit_of(file, units), "file": file,
                    "job_id": item.job_id, "operator": m.operator_name,
                    "occurrence": m.occurrence, "line": m.start_pos[0],
                    "function": m.definition_name, "item": item})
    return out, n_ann, n_op, n_sig


def _cmd_run(args) -> int:
    try:
        cfg = load_config(args.config)
    except (ConfigError, OSError, tomllib.TOMLDecodeError) as exc:
        print(f"mutation_tool: {exc}", file=sys.stderr)
        return 2
    import attrs
    from cosmic_ray.mutating import mutate_and_test
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    t_start = time.perf_counter()
    out = (args.out or ROOT / "reports" / "mutation" / _dt.datetime.now(
        _dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="mutation_tool_"))
    try:
        base = work / "base"
        commit = make_base(base, args.source)
        config_in_base = base / args.config.resolve().relative_to(ROOT.resolve())
        session = out / "session.sqlite"
        enumerate_mutants(base, config_in_base, session)
        with use_db(str(session), WorkDB.Mode.open) as db:
            items = list(db.work_items)
            cands, n_ann, n_op, n_sig = candidates_of(db, base, cfg)
            if args.modules:
                cands = [c for c in cands if c["module"] in args.modules]
            chosen = select(cands, seed=args.seed, per_module=args.per_module, shard=args.shard)
            keep = {c["job_id"] for c in chosen}
            db.set_multiple_results([i.job_id for i in items if i.job_id not in keep],
                                    WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
        modules = [m for m in cfg["cosmic-ray"]["module-path"]
                   if any(c["module"] == m for c in chosen)]
        print(f"mutation_tool: {len(items)} mutants, {n_ann} in annotations, {n_sig} of "
              f"signature markers and {n_op} of excluded operators dropped, {len(chosen)} "
              f"selected over {len(modules)} modules",
              flush=True)
        copies = []
        for j in range(max(1, args.jobs)):
            copies.append(work / f"job{j}")
            shutil.copytree(base, copies[-1])
        baseline = run_gate(copies[0], modules, cfg, tests_timeout=args.baseline_timeout,
                            check_timeout=args.baseline_timeout)
        print(f"baseline: {baseline['verdict']} {baseline['steps']}", flush=True)
        if baseline["verdict"] != "survived":
            print(f"mutation_tool: the unmutated tree fails the gate ({baseline}); no score",
                  file=sys.stderr)
            return 2
        mut = cfg["mutation"]
        factor, floor = mut.get("timeout_factor", 3.0), mut.get("timeout_floor_s", 60.0)
        limits = {s: round(max(floor, factor * baseline["steps"][s]))
                  for s in ("tests", "check")}
        template = cfg["cosmic-ray"]["test-command"]
        backstop = float(cfg["cosmic-ray"].get("timeout", 1500.0))

        def one(c: dict, copy: pathlib.Path):
            spec = attrs.evolve(c["item"].mutations[0], module_path=copy / c["file"])
            cmd = template.format(python=shlex.quote(sys.executable), root=shlex.quote(str(copy)),
                                  module=c["module"])
            cmd += f" --tests-timeout {limits['tests']} --check-timeout {limits['check']}"
            t0 = time.perf_counter()
            res = mutate_and_test([spec], cmd, backstop)
            return res, time.perf_counter() - t0

        results: list[dict] = []
        pending = list(chosen)
        free = list(copies)
        with cf.ThreadPoolExecutor(max_workers=len(copies)) as pool, \
                use_db(str(session), WorkDB.Mode.open) as db:
            running: dict = {}
            while pending or running:
                over = time.perf_counter() - t_start > args.budget_min * 60
                while pending and free and not over:
                    c = pending.pop(0)
                    copy = free.pop()
                    running[pool.submit(one, c, copy)] = (c, copy)
                if not running:
                    break
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    c, copy = running.pop(fut)
                    free.append(copy)
                    res, secs = fut.result()
                    db.set_result(c["job_id"], res)
                    gate = outcome_of(str(res.worker_outcome), res.output)
                    diff = (res.diff or "").replace(str(copy) + "/", "")
                    results.append({k: c[k] for k in ("key", "module", "file", "operator",
                                                       "occurrence", "line", "function")}
                                   | {"verdict": gate["verdict"], "by": gate["by"],
                                      "detail": gate["detail"], "steps": gate["steps"],
                                      "seconds": round(secs, 1), "change": change_of(diff),
                                      "diff": diff})
                    print(f"[{len(results)}/{len(chosen)}] {gate['verdict']:8s} "
                          f"{gate['by'] or '':12s} {c['file']}:{c['line']} "
                          f"{c['operator'].removeprefix('core/')} ({secs:.0f} s) "
                          f"{change_of(diff)[:80]}", flush=True)
        ran = {r["key"] for r in results}
        results += [{k: c[k] for k in ("key", "module", "file", "operator", "occurrence",
                                       "line", "function")}
                    | {"verdict": "not run", "by": None, "detail": "budget", "steps": {},
                       "seconds": 0.0, "change": "", "diff": ""}
                    for c in chosen if c["key"] not in ran]
        selection = (f"seed {args.seed}, {args.per_module} per module" if args.shard is None
                     else f"seed {args.seed}, shard {args.shard[0]}/{args.shard[1]}")
        doc = {"meta": {"tool": f"cosmic-ray {_version('cosmic-ray')}", "commit": commit,
                        "source": args.source, "selection": selection,
                        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "enumerated": len(items), "annotation_skipped": n_ann,
                        "operator_skipped": n_op, "signature_marker_skipped": n_sig,
                        "selected": len(chosen),
                        "baseline": baseline, "limits": limits, "jobs": len(copies),
                        "budget_min": args.budget_min,
                        "wall_s": round(time.perf_counter() - t_start)},
               "table": score_table(results, modules), "mutants": results}
        (out / "mutation.json").write_text(json.dumps(doc, indent=1) + "\n")
        text = markdown(doc)
        (out / "mutation.md").write_text(text)
        print(text)
        print(f"written: {out / 'mutation.md'}, {out / 'mutation.json'}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="enumerate, select, run the gate per mutant, score")
    r.add_argument("--config", type=pathlib.Path, default=CONFIG)
    how = r.add_mutually_exclusive_group()
    how.add_argument("--per-module", type=int, help="mutants per module (default 3)")
    how.add_argument("--shard", type=parse_shard, help="I/N: the mutants of shard I of N")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--modules", nargs="*", help="only these module paths (of module-path)")
    r.add_argument("--budget-min", type=float, default=float("inf"),
                   help="start no new mutant after this many minutes")
    r.add_argument("--jobs", type=int, default=1, help="mutants run in parallel (own copies)")
    r.add_argument("--baseline-timeout", type=float, default=1800.0)
    r.add_argument("--source", choices=("head", "worktree"), default="head")
    r.add_argument("--out", type=pathlib.Path)
    g = sub.add_parser("gate", help="(per mutant) the gate on a mutated copy; prints "
                                    "MUTATION-RESULT {json}; exit 0 = survived")
    g.add_argument("--root", type=pathlib.Path, required=True)
    g.add_argument("--module", action="append", required=True)
    g.add_argument("--tests-timeout", type=float, default=600.0)
    g.add_argument("--check-timeout", type=float, default=600.0)
    args = p.parse_args(argv)
    if args.cmd == "run":
        if args.per_module is None and args.shard is None:
            args.per_module = 3
        return _cmd_run(args)
    return _cmd_gate(args)


if __name__ == "__main__":
    sys.exit(main())
