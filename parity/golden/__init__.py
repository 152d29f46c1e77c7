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

Review flow: `update_goldens` writes only what moved beyond tolerance, and added/removed keys;
every value within tolerance keeps its stored value (`merge_golden`), so one moved value is a
one-value diff of the file (plus provenance). `update_table` sorts beyond-tolerance rows first
and ends with `update_summary`. `orphan_goldens` lists the files no expected stem names, and
`regenerate_hint` is the line every golden failure ends with (file path, exact commands).
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
#: the golden files of a directory: <scenario>__<profile>__<tier>.json
GOLDEN_GLOB = "*__*__*.json"
#: this checkout's syrupy golden test (tiny tier), parametrized "[<scenario>-<profile>]"
GOLDEN_TEST = "tests/parity/test_golden_snapshots.py::test_tiny_golden"


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
    if _is_number(expected) and _is_number(actual) and _is_float(expected) != _is_float(actual):
        return "type", None, "exact", "exact"   # int <-> float is a change of kind, never "ok"
    if _is_number(expected) and _is_number(actual) and _is_float(expected):
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


# --------------------------------------------------------------------------- regeneration hints


def display_path(path: str | os.PathLike, cwd: str | os.PathLike | None = None) -> str:
    """`path` relative to `cwd` (default: the current directory) when it lies below it, else
    absolute: the form failure messages name a golden file in."""
    path = pathlib.Path(path).resolve()
    base = pathlib.Path(cwd if cwd is not None else os.getcwd()).resolve()
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def is_default_golden_dir(directory: str | os.PathLike | None,
                          cwd: str | os.PathLike | None = None) -> bool:
    """Whether `directory` (None: unspecified) is the golden/ a command run from `cwd`
    (default: the current directory) finds by itself, so a command need not name it with
    --golden-dir."""
    if directory is None:
        return True
    found = find_golden_dir(cwd if cwd is not None else os.getcwd())
    return found is not None and found.resolve() == pathlib.Path(directory).resolve()


def regenerate_command(header: Mapping[str, Any], directory: str | os.PathLike | None = None, *,
                       cwd: str | os.PathLike | None = None) -> str:
    """The exact CLI command regenerating the golden of `header` (a record, golden dict or
    {"scenario", "profile", "tier"}): ``python -m parity golden update --scenario S --profile P``,
    with ``--tier T`` off the tiny tier and ``--golden-dir D`` when `directory` is not the
    golden/ found from `cwd`."""
    h = header_of(header) if "values" in header else header
    cmd = [*shlex.split(REGENERATE), "--scenario", h["scenario"], "--profile", h["profile"]]
    if h["tier"] != "tiny":
        cmd += ["--tier", h["tier"]]
    if not is_default_golden_dir(directory, cwd):
        cmd += ["--golden-dir", display_path(directory, cwd)]  # type: ignore[arg-type]
    return shlex.join(cmd)


def pytest_command(node_id: str) -> str:
    """``python -m pytest --snapshot-update NODE``: the syrupy way to (re)write one golden."""
    return shlex.join(["python", "-m", "pytest", "--snapshot-update", node_id])


def regenerate_hint(header: Mapping[str, Any], directory: str | os.PathLike | None = None, *,
                    cwd: str | os.PathLike | None = None, node_id: str | None = None) -> str:
    """One line naming the regeneration commands of a golden: the CLI command, and the pytest
    alternative (`node_id`, else this checkout's golden test of the tiny tier when the golden
    lives in the default golden/)."""
    h = header_of(header) if "values" in header else header
    cli = regenerate_command(h, directory, cwd=cwd)
    if node_id is None and h["tier"] == "tiny" and is_default_golden_dir(directory, cwd):
        node_id = f"{GOLDEN_TEST}[{h['scenario']}-{h['profile']}]"
    alt = f" (or `{pytest_command(node_id)}`)" if node_id else ""
    return f"regenerate on purpose: `{cli}`{alt}"


# --------------------------------------------------------------------------- orphans


def golden_files(directory: str | os.PathLike) -> list[pathlib.Path]:
    """The golden files of a directory: every ``*__*__*.json`` in it, sorted by name."""
    return sorted(p for p in pathlib.Path(directory).glob(GOLDEN_GLOB) if p.is_file())


def orphan_goldens(directory: str | os.PathLike, expected_stems: Iterable[str]) -> list[pathlib.Path]:
    """Golden files of `directory` whose stem is none of `expected_stems` (the
    ``<scenario>__<profile>__<tier>`` the registry writes): goldens nothing compares any more."""
    expected = set(expected_stems)
    return [p for p in golden_files(directory) if p.stem not in expected]


# --------------------------------------------------------------------------- update


@dataclasses.dataclass(frozen=True)
class FileUpdate:
    """What `update_goldens` did (or, in a dry run, would do) with one golden file.

    status: new | updated | unchanged | replaced-corrupt; `results`: every comparison with the
    stored golden (header fields as ``<scenario>`` etc., then the values; empty for new and
    corrupt files); `changes`: those that did not pass or moved at all; `written`: the file was
    (or would be) written; `forced`: rewritten with every fresh value (``--force``).
    """

    path: pathlib.Path
    status: str
    changes: tuple[KeyResult, ...]
    results: tuple[KeyResult, ...] = ()
    written: bool = False
    forced: bool = False


def merged_values(stored: Mapping[str, Any], fresh: Mapping[str, Any], ledger: Ledger) -> dict[str, Any]:
    """The values an update writes: `fresh`'s keys in their order, each keeping its `stored`
    value when that is within the ledger tolerance of the fresh one (so a golden's diff shows
    only the values that moved beyond tolerance, and added and removed keys)."""
    out: dict[str, Any] = {}
    for key, value in fresh.items():
        if key in stored and _compare_value(stored[key], value, key, ledger)[0] == "ok":
            out[key] = stored[key]
        else:
            out[key] = value
    return out


def merge_golden(stored: Mapping[str, Any], record: Any, ledger: Ledger,
                 prov: Mapping[str, Any]) -> dict[str, Any]:
    """The golden dict an update writes over `stored`: the record's header and keys, stored
    values kept where within tolerance (`merged_values`), provenance `prov`."""
    rec = coerce_record(record)
    return {**make_golden(rec, prov), "values": merged_values(stored["values"], rec["values"], ledger)}


def update_goldens(records: Iterable[Any], directory: str | os.PathLike, *, ledger: Ledger,
                   force: bool = False, dry_run: bool = False,
                   command: str | None = None) -> list[FileUpdate]:
    """Write the goldens of `records` into `directory`, atomically.

    A golden is written when it is missing or corrupt (fresh values), or when a value moved
    beyond the ledger tolerance or a key was added or removed: then only those values change
    in the file, every value within tolerance keeps its stored text, and the provenance is
    renewed. A golden that matches is left untouched (no provenance churn). `force` rewrites
    every golden with every fresh value; `dry_run` writes nothing and reports what would be.
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
            if not dry_run:
                write_golden(path, rec, prov)
            out.append(FileUpdate(path, status, (), (), written=True, forced=force))
            continue
        results = tuple(compare_golden(old, rec, ledger))
        changed = tuple(r for r in results if r.verdict != "ok" or (r.rel_change or 0.0) > 0.0)
        if force or failures(results):
            if not dry_run:
                data = make_golden(rec, prov) if force else merge_golden(old, rec, ledger, prov)
                jsonsafe.write_json(path, data)
            out.append(FileUpdate(path, "updated", changed, results, written=True, forced=force))
        else:
            out.append(FileUpdate(path, "unchanged", changed, results))
    return out


#: verdict of a KeyResult -> (review verdict, sort rank: beyond first)
_REVIEW = {"changed": ("beyond", 0), "type": ("beyond (type)", 0), "extra": ("added", 1),
           "missing": ("removed", 2), "ok": ("within", 3)}


def _is_value(r: KeyResult) -> bool:
    return not r.key.startswith("<")


def _in_file(u: FileUpdate, r: KeyResult) -> str:
    """What the (updated) golden holds for one key: the new value, the stored one, or nothing."""
    if not u.written:
        return "stored"
    if r.verdict == "missing":
        return "dropped"
    return "new" if r.verdict != "ok" or u.forced else "stored"


def update_counts(updates: Iterable[FileUpdate]) -> dict[str, Any]:
    """Totals of an update: beyond, added, removed, within (value keys), max_rel (largest
    relative change kept within tolerance), files, written, new, corrupt."""
    updates = list(updates)
    results = [r for u in updates for r in u.results]
    within = [r for r in results if r.passed and _is_value(r)]
    rels = [r.rel_change for r in within if r.rel_change is not None and math.isfinite(r.rel_change)]
    return {"beyond": sum(r.verdict in ("changed", "type") for r in results),
            "added": sum(r.verdict == "extra" for r in results),
            "removed": sum(r.verdict == "missing" for r in results),
            "within": len(within), "max_rel": max(rels, default=0.0),
            "files": len(updates), "written": sum(u.written for u in updates),
            "new": sum(u.status == "new" for u in updates),
            "corrupt": sum(u.status == "replaced-corrupt" for u in updates)}


def update_summary(updates: Iterable[FileUpdate], *, dry_run: bool = False) -> str:
    """One line: "1 beyond, 0 added, 0 removed; 52 within, max rel 6.3e-14; 1 of 14 golden
    files written" (new and corrupt files named when there are any)."""
    c = update_counts(updates)
    line = (f"{c['beyond']} beyond, {c['added']} added, {c['removed']} removed; "
            f"{c['within']} within, max rel {c['max_rel']:.2g}")
    extra = [f"{c['new']} new"] if c["new"] else []
    extra += [f"{c['corrupt']} corrupt replaced"] if c["corrupt"] else []
    verb = "would be written (dry run, nothing written)" if dry_run else "written"
    return line + "".join(f"; {e}" for e in extra) + f"; {c['written']} of {c['files']} golden files {verb}"


def update_table(updates: Iterable[FileUpdate], *, dry_run: bool = False) -> str:
    """Markdown review of an update: one line per golden file (written ones first), then one
    row per key that moved (beyond tolerance first, then added, removed, and values within
    tolerance by size of change), then the summary line (`update_summary`)."""
    updates = list(updates)

    def counts(u: FileUpdate) -> tuple[int, int, int, int]:
        c = update_counts([u])
        return c["beyond"], c["added"], c["removed"], c["within"]

    ordered = sorted(updates, key=lambda u: (not u.written, -counts(u)[0], u.path.name))
    lines = ["| golden | status | beyond | added | removed | within |", "|---|---|---|---|---|---|"]
    for u in ordered:
        status = f"{u.status} (dry run)" if dry_run and u.written else u.status
        lines.append(f"| {u.path.name} | {status} | " + " | ".join(map(str, counts(u))) + " |")
    rows = [(u, r) for u in ordered for r in u.changes]
    rows.sort(key=lambda ur: (_REVIEW[ur[1].verdict][1],
                              -(ur[1].rel_change if ur[1].rel_change is not None else math.inf)))
    if rows:
        lines += ["", "| golden | key | stored | new | rel. change | tolerance | verdict | in file |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {u.path.name} | `{r.key}` | {' | '.join(_sides(r))} | {fmt_rel(r.rel_change)} | "
                  f"{r.tolerance} | {_REVIEW[r.verdict][0]} | {_in_file(u, r)} |" for u, r in rows]
    lines += ["", update_summary(updates, dry_run=dry_run)]
    return "\n".join(lines)
