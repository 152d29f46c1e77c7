"""Golden telemetry files: format, provenance, comparison with the ledger, and update.

A golden is one readable JSON file per scenario x profile x tier,
``<golden dir>/<scenario>__<profile>__<tier>.json``::

    {"schema": "parity-golden/1", "scenario": ..., "profile": ..., "tier": ...,
     "provenance": {...},          # generator command, git commit, versions, UTC date; NOT compared
     "values": {"<stage>.<key>": value, ...}}   # stage order kept, NaN/Inf tagged (parity.jsonsafe)

Values are compared key by key with the tolerance ledger (``<golden dir>/tolerances.toml``):
floats by the first ``[golden]`` glob rule matching ``"<stage>.<key>"``
(``|a - e| <= atol + rtol*|e|``); integers, strings, bools, null and integer lists (shapes)
always exactly. Missing and extra keys fail. The golden directory of a checkout is found from
the current directory upward (`find_golden_dir`), like pytest's rootdir.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import importlib.metadata
import math
import os
import pathlib
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from . import jsonsafe
from .errors import ParityError
from .records import GOLDEN_SCHEMA, HEADER_KEYS, coerce_record, header_of
from .tolerances import LEDGER_NAME, Ledger, Rule, load_ledger, rel_diff

GOLDEN_DIR_NAME = "golden"
PROVENANCE_PACKAGES = ("numpy", "scipy", "tensorflow", "keras", "syrupy", "pytest")
REGENERATE = "python -m parity golden update"


class GoldenError(ParityError):
    """A golden file is missing, corrupt or of a foreign schema, or no golden directory was
    found. `source` names the file or directory (as str), `problem` says what is wrong.
    """

    name_attr, prefix, str_name = "source", "golden ", True


def find_golden_dir(start: str | os.PathLike) -> pathlib.Path | None:
    """The first ``golden/`` holding a ``tolerances.toml`` in `start` or a folder above it."""
    here = pathlib.Path(start).resolve()
    for folder in (here, *here.parents):
        candidate = folder / GOLDEN_DIR_NAME
        if (candidate / LEDGER_NAME).is_file():
            return candidate
    return None


def ledger_of(golden_dir: str | os.PathLike) -> Ledger:
    """The tolerance ledger of a golden directory (``<dir>/tolerances.toml``)."""
    return load_ledger(pathlib.Path(golden_dir) / LEDGER_NAME)


# --------------------------------------------------------------------------- comparison


@dataclasses.dataclass(frozen=True)
class KeyResult:
    """Comparison of one telemetry key. `verdict`: ok | changed | missing | extra | type."""

    key: str
    expected: Any
    actual: Any
    rel_change: float | None
    tolerance: str
    tol_class: str
    verdict: str

    @property
    def passed(self) -> bool:
        return self.verdict == "ok"


def _is_float(x: Any) -> bool:
    return isinstance(x, float)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _within(expected: float, actual: float, rule: Rule) -> bool:
    if expected == actual or (math.isnan(expected) and math.isnan(actual)):
        return True
    if not (math.isfinite(expected) and math.isfinite(actual)):
        return False
    return abs(actual - expected) <= rule.atol + rule.rtol * abs(expected)


def _compare_value(expected: Any, actual: Any, key: str, ledger: Ledger) -> tuple[str, float | None, str, str]:
    """(verdict, rel_change, tolerance text, class) for one pair of JSON values."""
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return "changed", None, "exact length", "exact"
        worst: tuple[str, float | None, str, str] = ("ok", 0.0, "exact", "exact")
        for e, a in zip(expected, actual):
            verdict, rel, tol, cls = _compare_value(e, a, key, ledger)
            if verdict != "ok":
                return verdict, rel, tol, cls
            if cls != "exact":
                worst = ("ok", max(worst[1] or 0.0, rel or 0.0), tol, cls)
        return worst
    if _is_number(expected) and _is_number(actual) and (_is_float(expected) or _is_float(actual)):
        rule = ledger.rule_for(key)
        e, a = float(expected), float(actual)
        verdict = "ok" if _within(e, a, rule) else "changed"
        return verdict, rel_diff(a, e), rule.describe(), rule.tol_class
    if type(expected) is not type(actual):
        return "type", None, "exact", "exact"
    if expected == actual:
        return "ok", 0.0 if _is_number(expected) else None, "exact", "exact"
    rel = rel_diff(float(actual), float(expected)) if _is_number(expected) else None
    return "changed", rel, "exact", "exact"


def compare(expected: Mapping[str, Any], actual: Mapping[str, Any], ledger: Ledger) -> list[KeyResult]:
    """Compare two value dicts ("<stage>.<key>" -> JSON value) with the ledger tolerances.

    Returns one KeyResult per key: expected's keys in order, then keys only in `actual`
    (verdict "extra"); keys only in `expected` have verdict "missing".
    """
    out: list[KeyResult] = []
    for key, e in expected.items():
        if key not in actual:
            out.append(KeyResult(key, e, None, None, "present", "exact", "missing"))
            continue
        verdict, rel, tol, cls = _compare_value(e, actual[key], key, ledger)
        out.append(KeyResult(key, e, actual[key], rel, tol, cls, verdict))
    for key, a in actual.items():
        if key not in expected:
            out.append(KeyResult(key, None, a, None, "absent", "exact", "extra"))
    return out


def failures(results: Iterable[KeyResult]) -> list[KeyResult]:
    """The results that did not pass."""
    return [r for r in results if not r.passed]


def fmt_value(x: Any) -> str:
    """Short readable text of a telemetry value (floats to 10 significant digits)."""
    if isinstance(x, float):
        return f"{x:.10g}"
    if isinstance(x, list):
        return "[" + ", ".join(fmt_value(v) for v in x) + "]"
    return "null" if x is None else str(x)


def fmt_rel(rel: float | None) -> str:
    return "" if rel is None else f"{rel:.3g}"


def _sides(r: KeyResult) -> tuple[str, str]:
    """Expected and actual text of a KeyResult; '(absent)' for the side a key is missing from."""
    return ("(absent)" if r.verdict == "extra" else fmt_value(r.expected),
            "(absent)" if r.verdict == "missing" else fmt_value(r.actual))


def results_table(results: Iterable[KeyResult]) -> str:
    """Markdown table of KeyResults."""
    lines = ["| key | expected | actual | rel. change | tolerance | class | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        exp, act = _sides(r)
        lines.append(f"| `{r.key}` | {exp} | {act} | {fmt_rel(r.rel_change)} "
                     f"| {r.tolerance} | {r.tol_class} | {r.verdict} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- files and provenance


def golden_stem(record: Mapping[str, Any]) -> str:
    """``<scenario>__<profile>__<tier>`` of a telemetry record (the golden file stem)."""
    h = header_of(coerce_record(record))
    return f"{h['scenario']}__{h['profile']}__{h['tier']}"


def golden_path(directory: str | os.PathLike, record: Mapping[str, Any]) -> pathlib.Path:
    """Path of the golden file of `record` in `directory`."""
    return pathlib.Path(directory) / f"{golden_stem(record)}.json"


@functools.lru_cache(maxsize=8)
def _git_info(repo: str) -> tuple[str, bool | None]:
    """(HEAD commit, dirty flag) of the git checkout holding folder `repo`; ("unknown", None)
    outside a checkout."""
    git = ["git", "--no-optional-locks", "-C", repo]
    try:
        head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown", None
        dirty = subprocess.run([*git, "diff-index", "--quiet", "HEAD", "--"], capture_output=True,
                               timeout=10)
        return head.stdout.strip(), dirty.returncode == 1 if dirty.returncode in (0, 1) else None
    except (OSError, subprocess.TimeoutExpired):
        return "unknown", None


def _package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance(command: str | None = None, *, repo: str | os.PathLike = ".") -> dict[str, Any]:
    """Provenance of a golden: generator command, git commit (+ dirty flag) of the checkout
    holding `repo` (the golden directory), package versions, platform and UTC date. Stored in
    the golden, never compared."""
    if command is None:
        argv = list(getattr(sys, "orig_argv", sys.argv))
        if argv:
            argv[0] = pathlib.Path(argv[0]).name
        command = shlex.join(argv)
    commit, dirty = _git_info(str(pathlib.Path(repo).resolve()))
    return {
        "command": command,
        "git_commit": commit,
        "git_dirty": dirty,
        "packages": _package_versions(),
        "platform": f"{platform.system()} {platform.machine()}",
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def make_golden(record: Any, prov: Mapping[str, Any]) -> dict[str, Any]:
    """The golden dict of a telemetry record, with provenance `prov`."""
    rec = coerce_record(record)
    return {"schema": GOLDEN_SCHEMA, **header_of(rec), "provenance": dict(prov), "values": rec["values"]}


def parse_golden(text: str, source: str | os.PathLike) -> dict[str, Any]:
    """Parse golden JSON text. Raises GoldenError naming `source` if it is corrupt (not JSON,
    truncated) or of a foreign schema."""
    try:
        data = jsonsafe.loads(text, where=str(source))
    except jsonsafe.JsonSafeError as exc:
        raise GoldenError(source, f"corrupt: {exc.problem}") from exc
    if not isinstance(data, dict):
        raise GoldenError(source, f"corrupt: top level is {type(data).__name__}, not an object")
    if data.get("schema") != GOLDEN_SCHEMA:
        raise GoldenError(source, f"foreign schema {data.get('schema')!r} (expected {GOLDEN_SCHEMA!r})")
    for key in (*HEADER_KEYS, "provenance", "values"):
        if key not in data:
            raise GoldenError(source, f"corrupt: missing {key!r}")
    if not isinstance(data["values"], dict) or not isinstance(data["provenance"], dict):
        raise GoldenError(source, "corrupt: 'values' and 'provenance' must be objects")
    return data


def load_golden(path: str | os.PathLike) -> dict[str, Any]:
    """Read a golden file. Raises GoldenError naming the file when missing, corrupt or foreign."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise GoldenError(path, "missing (generate it with `pytest --snapshot-update` or "
                                "`python -m parity golden update`)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldenError(path, f"unreadable: {exc}") from exc
    return parse_golden(text, path)


def write_golden(path: str | os.PathLike, record: Any, prov: Mapping[str, Any] | None = None) -> pathlib.Path:
    """Write the golden of `record` to `path` atomically (indent 2, stage order kept)."""
    prov = prov if prov is not None else provenance(repo=pathlib.Path(path).parent)
    return jsonsafe.write_json(path, make_golden(record, prov))


def compare_golden(golden: Mapping[str, Any], record: Any, ledger: Ledger) -> list[KeyResult]:
    """Compare a record with a golden dict: header fields exactly, values with the ledger.
    Provenance is not compared."""
    rec = coerce_record(record)
    results = [KeyResult(f"<{k}>", golden[k], v, None, "exact", "exact", "ok" if golden[k] == v else "changed")
               for k, v in header_of(rec).items()]
    return results + compare(golden["values"], rec["values"], ledger)


# --------------------------------------------------------------------------- update


@dataclasses.dataclass(frozen=True)
class FileUpdate:
    """What `update_goldens` did with one golden file. status: new | updated | unchanged |
    replaced-corrupt."""

    path: pathlib.Path
    status: str
    changes: tuple[KeyResult, ...]


def update_goldens(records: Iterable[Any], directory: str | os.PathLike, *, ledger: Ledger,
                   force: bool = False, command: str | None = None) -> list[FileUpdate]:
    """Write the goldens of `records` into `directory`, atomically.

    A golden is (re)written when it is missing, corrupt, differs outside the ledger tolerances
    (or in keys), or when `force`; one that matches is left untouched (no provenance churn).
    Every value that changed at all is reported, with its relative change and verdict.
    """
    prov = provenance(command, repo=directory)
    out = []
    for record in records:
        rec = coerce_record(record)
        path = golden_path(directory, rec)
        try:
            old = load_golden(path)
        except GoldenError as exc:
            status = "new" if not path.exists() else "replaced-corrupt"
            if status == "replaced-corrupt":
                print(f"warning: {exc}", file=sys.stderr)
            write_golden(path, rec, prov)
            out.append(FileUpdate(path, status, ()))
            continue
        results = compare_golden(old, rec, ledger)
        changed = tuple(r for r in results if r.verdict != "ok" or (r.rel_change or 0.0) > 0.0)
        if force or failures(results):
            write_golden(path, rec, prov)
            out.append(FileUpdate(path, "updated", changed))
        else:
            out.append(FileUpdate(path, "unchanged", changed))
    return out


def update_table(updates: Iterable[FileUpdate]) -> str:
    """Markdown: one line per golden file, then old -> new of every changed value."""
    updates = list(updates)
    lines = ["| golden | status | changed values |", "|---|---|---|"]
    lines += [f"| {u.path.name} | {u.status} | {len(u.changes)} |" for u in updates]
    rows = [(u, r) for u in updates for r in u.changes]
    if rows:
        lines += ["", "| golden | key | old | new | rel. change | tolerance | verdict |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {u.path.name} | `{r.key}` | {' | '.join(_sides(r))} | "
                  f"{fmt_rel(r.rel_change)} | {r.tolerance} | {'within' if r.passed else r.verdict} |" for u, r in rows]
    return "\n".join(lines)
