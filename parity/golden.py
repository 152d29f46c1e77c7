"""Golden telemetry files, the tolerance ledger, and the syrupy extension that ties them.

A golden is one readable JSON file per scenario x profile x tier,
``golden/<scenario>__<profile>__<tier>.json``::

    {"schema": "parity-golden/1", "scenario": ..., "profile": ..., "tier": ...,
     "provenance": {...},          # generator command, git commit, versions, UTC date; NOT compared
     "values": {"<stage>.<key>": value, ...}}   # stage order kept, NaN/Inf tagged (parity.jsonsafe)

Values are compared key by key with the tolerance ledger ``golden/tolerances.toml``: floats by
the first ``[golden]`` glob rule matching ``"<stage>.<key>"`` (``|a - e| <= atol + rtol*|e|``);
integers, strings, bools, null and integer lists (shapes) always exactly. Missing and extra keys
fail. Regenerate with ``pytest --snapshot-update`` or ``python -m parity golden update``.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import fnmatch
import functools
import importlib.metadata
import math
import os
import pathlib
import platform
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from parity import jsonsafe
from ptycho.errors import NamedProblemError

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_GOLDEN_DIR = ROOT / "golden"
DEFAULT_LEDGER = DEFAULT_GOLDEN_DIR / "tolerances.toml"
GOLDEN_SCHEMA = "parity-golden/1"
TELEMETRY_SCHEMA = "parity-telemetry/1"
HEADER_KEYS = ("scenario", "profile", "tier")
PROVENANCE_PACKAGES = ("numpy", "scipy", "tensorflow", "keras", "syrupy", "pytest")
_TOL_KEYS = ("rtol", "atol", "value")


class GoldenError(NamedProblemError, ValueError):
    """A golden file (or a telemetry record) is missing, corrupt or of a foreign schema.

    `source` names the file as str (or ``<record>``), `problem` says what is wrong.
    """

    name_attr, prefix, str_name = "source", "golden ", True


class LedgerError(NamedProblemError, ValueError):
    """The tolerance ledger is invalid; `entry` names the offending entry (e.g. ``golden."scan.*"``)."""

    name_attr, prefix = "entry", "tolerance ledger entry "


# --------------------------------------------------------------------------- tolerance ledger


@dataclasses.dataclass(frozen=True)
class Rule:
    """One ``[golden]`` rule: keys matching the glob `pattern` compare within rtol/atol."""

    pattern: str
    rtol: float
    atol: float
    tol_class: str

    def describe(self) -> str:
        parts = [f"rtol={self.rtol:g}" if self.rtol else "", f"atol={self.atol:g}" if self.atol else ""]
        return ", ".join(p for p in parts if p) or "exact"


@dataclasses.dataclass(frozen=True)
class Ledger:
    """The parsed, validated tolerance ledger."""

    path: str
    classes: dict[str, float]
    rules: tuple[Rule, ...]
    tests: dict[str, Any]

    def rule_for(self, key: str) -> Rule:
        """First ``[golden]`` rule whose glob matches `key` ("<stage>.<key>")."""
        for rule in self.rules:
            if fnmatch.fnmatchcase(key, rule.pattern):
                return rule
        raise LedgerError(f"golden.{key!r}", "no [golden] rule matches this key; add a pattern")

    def test_tolerance(self, name: str) -> float:
        """The single value of entry ``[tests.<name>]``, e.g. ``"gap.verdict_sum_ratio"``."""
        node: Any = self.tests
        for part in name.split("."):
            if not isinstance(node, dict) or part not in node:
                raise LedgerError(f"tests.{name}", "no such entry")
            node = node[part]
        values = [node[k] for k in _TOL_KEYS if k in node]
        if len(values) != 1:
            raise LedgerError(f"tests.{name}", "must hold exactly one of rtol/atol/value")
        return float(values[0])


def iter_ledger_entries(raw: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """Yield (dotted name, entry) for every tolerance entry of ``[golden]`` and ``[tests.*]``.

    An entry is a table holding ``class``; any other non-table value is yielded too, so that
    validation reports it as an entry without a class.
    """
    for pattern, entry in raw.get("golden", {}).items():
        yield f"golden.{pattern!r}", entry

    def walk(prefix: str, node: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
        for name, value in node.items():
            dotted = f"{prefix}.{name}"
            if isinstance(value, dict) and "class" not in value and not any(k in value for k in _TOL_KEYS):
                yield from walk(dotted, value)
            else:
                yield dotted, value

    yield from walk("tests", raw.get("tests", {}))


def ledger_problems(raw: Mapping[str, Any]) -> list[str]:
    """Every problem of a parsed ledger: classes without numeric ceilings, entries without a
    class, with an unknown class, without rtol/atol/value, or above their class ceiling."""
    problems: list[str] = []
    classes = raw.get("classes")
    if not isinstance(classes, dict) or not classes:
        return ["[classes]: missing or empty"]
    for name, ceiling in classes.items():
        if isinstance(ceiling, bool) or not isinstance(ceiling, (int, float)) or not ceiling >= 0:
            problems.append(f"classes.{name}: ceiling must be a number >= 0, got {ceiling!r}")
    if not isinstance(raw.get("golden", {}), dict):
        problems.append("[golden]: must be a table of glob pattern = { rtol|atol, class }")
        return problems
    for name, entry in iter_ledger_entries(raw):
        if not isinstance(entry, dict):
            problems.append(f"{name}: must be a table {{ rtol|atol = value, class = ... }}, got {entry!r}")
            continue
        cls = entry.get("class")
        if cls is None:
            problems.append(f"{name}: has no class")
            continue
        if cls not in classes:
            problems.append(f"{name}: unknown class {cls!r} (known: {', '.join(classes)})")
            continue
        unknown = set(entry) - {"class", *_TOL_KEYS}
        if unknown:
            problems.append(f"{name}: unknown fields {sorted(unknown)}")
        tol_fields = [k for k in _TOL_KEYS if k in entry]
        if not tol_fields:
            problems.append(f"{name}: has no rtol/atol/value")
        if name.startswith("tests.") and len(tol_fields) > 1:
            problems.append(f"{name}: a test entry holds exactly one of rtol/atol/value")
        if name.startswith("golden.") and "value" in entry:
            problems.append(f"{name}: a golden rule takes rtol and/or atol, not value")
        for k in tol_fields:
            v = entry[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                problems.append(f"{name}: {k} must be a finite number >= 0, got {v!r}")
            elif isinstance(classes.get(cls), (int, float)) and v > classes[cls]:
                problems.append(f"{name}: {k}={v:g} exceeds the ceiling {classes[cls]:g} of class {cls!r}")
    return problems


def parse_ledger(raw: Mapping[str, Any], path: str = "<ledger>") -> Ledger:
    """Validate a parsed TOML ledger and build a Ledger. Raises LedgerError listing problems."""
    problems = ledger_problems(raw)
    if problems:
        raise LedgerError(path, "; ".join(problems))
    rules = tuple(
        Rule(pattern, float(e.get("rtol", 0.0)), float(e.get("atol", 0.0)), e["class"])
        for pattern, e in raw.get("golden", {}).items()
    )
    return Ledger(str(path), {k: float(v) for k, v in raw["classes"].items()}, rules, dict(raw.get("tests", {})))


def load_ledger(path: str | os.PathLike | None = None) -> Ledger:
    """Load and validate the tolerance ledger (default ``golden/tolerances.toml``)."""
    path = pathlib.Path(path) if path is not None else DEFAULT_LEDGER
    try:
        stat = path.stat()
    except OSError as exc:
        raise LedgerError(str(path), f"cannot read ({exc.strerror})") from exc
    return _load_ledger_cached(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _load_ledger_cached(path: str, _mtime_ns: int, _size: int) -> Ledger:
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise LedgerError(path, f"not valid TOML ({exc})") from exc
    return parse_ledger(raw, path)


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


def rel_change(expected: float, actual: float) -> float:
    """|actual - expected| / |expected|; 0 for equal values (NaN==NaN, inf==inf), inf when
    expected is 0 and actual is not, or when exactly one is NaN."""
    if expected == actual or (math.isnan(expected) and math.isnan(actual)):
        return 0.0
    if math.isnan(expected) or math.isnan(actual) or math.isinf(expected) or math.isinf(actual):
        return math.inf
    if expected == 0:
        return math.inf
    return abs(actual - expected) / abs(expected)


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
        return verdict, rel_change(e, a), rule.describe(), rule.tol_class
    if type(expected) is not type(actual):
        return "type", None, "exact", "exact"
    if expected == actual:
        return "ok", 0.0 if _is_number(expected) else None, "exact", "exact"
    rel = rel_change(float(expected), float(actual)) if _is_number(expected) else None
    return "changed", rel, "exact", "exact"


def compare(expected: Mapping[str, Any], actual: Mapping[str, Any], ledger: Ledger | None = None) -> list[KeyResult]:
    """Compare two value dicts ("<stage>.<key>" -> JSON value) with the ledger tolerances.

    Returns one KeyResult per key: expected's keys in order, then keys only in `actual`
    (verdict "extra"); keys only in `expected` have verdict "missing".
    """
    ledger = ledger or load_ledger()
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


# --------------------------------------------------------------------------- records and files


def coerce_record(record: Any, source: str = "<record>") -> dict[str, Any]:
    """Validate a telemetry record (or a golden dict) and return it as a plain dict.

    Accepts a mapping, or an object with ``to_dict()``. Raises GoldenError naming `source`.
    """
    if not isinstance(record, Mapping) and hasattr(record, "to_dict"):
        record = record.to_dict()
    if not isinstance(record, Mapping):
        raise GoldenError(source, f"a telemetry record must be a mapping, got {type(record).__name__}")
    schema = record.get("schema")
    if schema == TELEMETRY_SCHEMA:
        meta = record.get("meta")
        if not isinstance(meta, Mapping):
            raise GoldenError(source, "telemetry record has no 'meta' mapping")
        header = {k: meta.get(k) for k in HEADER_KEYS}
    elif schema == GOLDEN_SCHEMA:
        header = {k: record.get(k) for k in HEADER_KEYS}
    else:
        raise GoldenError(source, f"foreign schema {schema!r} (expected {TELEMETRY_SCHEMA!r} or {GOLDEN_SCHEMA!r})")
    for k, v in header.items():
        if not isinstance(v, str) or not v or "/" in v or "\\" in v or "__" in v:
            raise GoldenError(source, f"{k} must be a non-empty name without '/', '\\' or '__', got {v!r}")
    values = record.get("values")
    if not isinstance(values, Mapping):
        raise GoldenError(source, "no 'values' mapping")
    return {**dict(record), "values": dict(values)}


def header_of(record: Mapping[str, Any]) -> dict[str, str]:
    """{"scenario", "profile", "tier"} of a telemetry record or a golden dict."""
    src = record["meta"] if record.get("schema") == TELEMETRY_SCHEMA else record
    return {k: src[k] for k in HEADER_KEYS}


def golden_stem(record: Mapping[str, Any]) -> str:
    """``<scenario>__<profile>__<tier>`` of a telemetry record (the golden file stem)."""
    h = header_of(coerce_record(record))
    return f"{h['scenario']}__{h['profile']}__{h['tier']}"


def golden_path(directory: str | os.PathLike, record: Mapping[str, Any]) -> pathlib.Path:
    """Path of the golden file of `record` in `directory`."""
    return pathlib.Path(directory) / f"{golden_stem(record)}.json"


@functools.lru_cache(maxsize=1)
def _git_info() -> tuple[str, bool | None]:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return "unknown", None
        dirty = subprocess.run(["git", "diff-index", "--quiet", "HEAD", "--"], cwd=ROOT, env=env,
                               capture_output=True, timeout=10)
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


def provenance(command: str | None = None) -> dict[str, Any]:
    """Provenance of a golden: generator command, git commit (+ dirty flag), package versions,
    platform and UTC date. Stored in the golden, never compared."""
    if command is None:
        argv = list(getattr(sys, "orig_argv", sys.argv))
        if argv:
            argv[0] = pathlib.Path(argv[0]).name
        command = shlex.join(argv)
    commit, dirty = _git_info()
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
    return jsonsafe.write_json(path, make_golden(record, prov if prov is not None else provenance()))


def compare_golden(golden: Mapping[str, Any], record: Any, ledger: Ledger | None = None) -> list[KeyResult]:
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


def update_goldens(records: Iterable[Any], directory: str | os.PathLike, *, ledger: Ledger | None = None,
                   force: bool = False, command: str | None = None) -> list[FileUpdate]:
    """Write the goldens of `records` into `directory`, atomically.

    A golden is (re)written when it is missing, corrupt, differs outside the ledger tolerances
    (or in keys), or when `force`; one that matches is left untouched (no provenance churn).
    Every value that changed at all is reported, with its relative change and verdict.
    """
    ledger = ledger or load_ledger()
    prov = provenance(command)
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


# --------------------------------------------------------------------------- syrupy extension


def _build_extension_class() -> type:
    from syrupy.data import SnapshotCollections
    from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

    class GoldenExtension(SingleFileSnapshotExtension):
        """syrupy extension: goldens are ``<golden_dir>/<name>.json`` compared with ledger
        tolerances (not string equality). Use with ``snapshot(name=golden_stem(record))``, or
        through `assert_golden`. Unused goldens are never deleted by syrupy."""

        file_extension = "json"
        _write_mode = WriteMode.TEXT
        golden_dir: pathlib.Path = DEFAULT_GOLDEN_DIR
        ledger_path: pathlib.Path | None = None
        regenerate_corrupt: bool = False

        def serialize(self, data: Any, **_: Any) -> str:
            return jsonsafe.dumps(make_golden(data, provenance()))

        def matches(self, *, serialized_data: Any, snapshot_data: Any) -> bool:
            return not failures(self._results(serialized_data, snapshot_data))

        def _results(self, serialized_data: Any, snapshot_data: Any) -> list[KeyResult]:
            actual = parse_golden(str(serialized_data), "<serialized record>")
            expected = parse_golden(str(snapshot_data), "<golden>")
            return compare_golden(expected, actual, load_ledger(self.ledger_path))

        def diff_lines(self, serialized_data: Any, snapshot_data: Any):
            if not snapshot_data:
                return
            bad = failures(self._results(serialized_data, snapshot_data))
            yield f"{len(bad)} golden value(s) outside tolerance:"
            yield from results_table(bad).splitlines()

        @classmethod
        def get_snapshot_name(cls, *, test_location: Any, index: Any = 0) -> str:
            if not isinstance(index, str) or not index or any(c in index for c in '/\\:*?"<>|'):
                raise GoldenError(cls.golden_dir, "a golden assertion needs snapshot(name=golden_stem(record)) "
                                  f"naming the file, got index {index!r}")
            return index

        @classmethod
        def dirname(cls, *, test_location: Any) -> str:
            return str(cls.golden_dir)

        @classmethod
        def discovery_dirname(cls, *, test_location: Any) -> str:
            return str(cls.golden_dir)

        def discover_snapshots(self, *, test_location: Any, ignore_extensions: Any = None) -> Any:
            # Goldens are shared by several tests and the CLI; never report them unused/delete them.
            return SnapshotCollections()

        def read_snapshot_data_from_location(self, *, snapshot_location: str, snapshot_name: str,
                                             session_id: str) -> str | None:
            path = pathlib.Path(snapshot_location)
            if not path.exists():
                return None
            try:
                text = path.read_text(encoding="utf-8")
                parse_golden(text, path)
            except (GoldenError, UnicodeDecodeError) as exc:
                if self.regenerate_corrupt:
                    return None
                if isinstance(exc, GoldenError):
                    raise
                raise GoldenError(path, f"corrupt: not UTF-8 ({exc.reason})") from exc
            return text

        @classmethod
        def write_snapshot(cls, *, snapshot_location: str, snapshots: list, name_order: Any = None) -> None:
            for data, _location, _index in snapshots:
                jsonsafe.write_text_atomic(snapshot_location, str(data))

    return GoldenExtension


@functools.lru_cache(maxsize=None)
def golden_extension(directory: str | os.PathLike | None = None, *, ledger: str | os.PathLike | None = None,
                     regenerate_corrupt: bool = False) -> type:
    """The syrupy extension class for goldens in `directory` (default ``golden/``), comparing
    with `ledger` (default ``golden/tolerances.toml``). With `regenerate_corrupt`, a corrupt
    golden is treated as missing (so ``--snapshot-update`` rewrites it); otherwise it raises
    GoldenError naming the file."""
    base = _extension_class()
    attrs = {"__module__": __name__,
             "golden_dir": pathlib.Path(directory) if directory is not None else DEFAULT_GOLDEN_DIR,
             "ledger_path": pathlib.Path(ledger) if ledger is not None else None,
             "regenerate_corrupt": regenerate_corrupt}
    return type("GoldenExtension", (base,), attrs)


@functools.lru_cache(maxsize=1)
def _extension_class() -> type:
    return _build_extension_class()


def __getattr__(name: str) -> Any:
    # `parity.golden.GoldenExtension`: the default extension class, built on first use so that
    # importing parity.golden does not need syrupy (a test dependency).
    if name == "GoldenExtension":
        return golden_extension()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def assert_golden(snapshot: Any, record: Any, *, directory: str | os.PathLike | None = None,
                  ledger: str | os.PathLike | None = None) -> None:
    """Assert `record` matches its golden through syrupy (`snapshot` is syrupy's fixture).

    Fails on a missing golden or a value outside tolerance; ``--snapshot-update`` (re)writes
    it, replacing a corrupt one. Without update, a corrupt/foreign golden fails with GoldenError.
    """
    __tracebackhide__ = True
    rec = coerce_record(record)
    ext = golden_extension(str(directory) if directory is not None else None,
                           ledger=str(ledger) if ledger is not None else None,
                           regenerate_corrupt=bool(snapshot.update_snapshots))
    assertion = snapshot.use_extension(ext)
    if not assertion(name=golden_stem(rec)) == rec:
        lines = assertion.get_assert_diff()
        path = ext.golden_dir / f"{golden_stem(rec)}.json"
        if not path.exists():
            lines = [f"golden {path} is missing: generate it with `pytest --snapshot-update` or "
                     "`python -m parity golden update`", *lines]
        raise AssertionError("\n".join(lines))


# --------------------------------------------------------------------------- CLI


def _replay_records(tier: str, scenarios: list[str] | None, profiles: list[str] | None) -> list[dict[str, Any]]:
    """Replay scenarios through parity.stages (helper of the CLI; imported lazily)."""
    from parity import stages

    try:
        records = stages.replay_all(tier=tier, scenarios=scenarios or None, profiles=profiles or None,
                                    progress=True)
    except (stages.StageError, RuntimeError) as exc:
        raise ReplayFailed(str(exc)) from exc
    return [coerce_record(r) for r in records]


class ReplayFailed(RuntimeError):
    """The replay behind `golden update|diff` did not run through; no golden is written."""


def _records_from_args(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Records from the given files, or from a fresh replay of the scenarios."""
    if args.records:
        out = []
        for p in args.records:
            try:
                out.append(coerce_record(jsonsafe.read_json(p), str(p)))
            except jsonsafe.JsonSafeError as exc:
                raise GoldenError(p, exc.problem) from exc
        return out
    return _replay_records(args.tier, args.scenario, args.profile)


def _resolve_golden(arg: str, directory: pathlib.Path) -> pathlib.Path:
    p = pathlib.Path(arg)
    if p.suffix == ".json" or p.exists():
        return p
    return directory / f"{arg}.json"


def _cmd_update(args: argparse.Namespace) -> int:
    records = _records_from_args(args)
    updates = update_goldens(records, args.dir, force=args.force)
    print(update_table(updates))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    golden = load_golden(_resolve_golden(args.name, args.dir))
    print(f"# {golden['scenario']} / {golden['profile']} / {golden['tier']}\n")
    for k, v in golden["provenance"].items():
        print(f"- {k}: {v}")
    print("\n| key | value |\n|---|---|")
    for k, v in golden["values"].items():
        print(f"| `{k}` | {fmt_value(v)} |")
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    records = _records_from_args(args)
    status = 0
    for rec in records:
        path = golden_path(args.dir, rec)
        if not path.exists():
            print(f"FAIL {path.name}: missing golden")
            status = 1
            continue
        golden = load_golden(path)  # corrupt/foreign: GoldenError -> exit 2
        bad = failures(compare_golden(golden, rec))
        print(f"{'FAIL' if bad else 'ok  '} {path.name}: {len(bad)} value(s) outside tolerance")
        if bad:
            print(results_table(bad))
            status = 1
    return status


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (GoldenError, LedgerError, jsonsafe.JsonSafeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except ReplayFailed as exc:
            print(f"error: replay failed, no golden written: {exc}", file=sys.stderr)
            return 1
    return run


def register_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``golden update|show|diff`` to an argparse subparsers object. Each leaf parser sets
    ``func(args) -> exit code`` (0 ok, 1 a golden differs/missing, 2 input error)."""
    p = subparsers.add_parser("golden", help="golden telemetry files: update, show, diff",
                              description="Regenerate, show or check the golden telemetry JSON under golden/.")
    sub = p.add_subparsers(dest="golden_command", required=True)

    def sources(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("records", nargs="*", type=pathlib.Path,
                        help="telemetry record JSON files (default: replay the scenarios)")
        sp.add_argument("--tier", default="tiny", help="scenario size tier to replay (default tiny)")
        sp.add_argument("--scenario", action="append", help="replay only this scenario (repeatable)")
        sp.add_argument("--profile", action="append", help="replay only this profile (repeatable)")
        sp.add_argument("--dir", type=pathlib.Path, default=DEFAULT_GOLDEN_DIR, help="golden directory")

    up = sub.add_parser("update", help="replay and (re)write goldens; print old -> new of every change")
    sources(up)
    up.add_argument("--force", action="store_true", help="rewrite even goldens that match within tolerance")
    up.set_defaults(func=_guarded(_cmd_update))
    sh = sub.add_parser("show", help="print one golden (provenance and values)")
    sh.add_argument("name", help="golden file path or stem <scenario>__<profile>__<tier>")
    sh.add_argument("--dir", type=pathlib.Path, default=DEFAULT_GOLDEN_DIR, help="golden directory")
    sh.set_defaults(func=_guarded(_cmd_show))
    df = sub.add_parser("diff", help="compare records (or a fresh replay) with their goldens; exit 1 on a difference")
    sources(df)
    df.set_defaults(func=_guarded(_cmd_diff))
    return p

