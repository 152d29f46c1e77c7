"""The tolerance ledger (``golden/tolerances.toml``) and the relative difference it bounds.

The ledger is the one place numeric tolerances live. ``[classes]`` gives each tolerance class
a ceiling; ``[golden]`` maps glob patterns of telemetry keys ("<stage>.<key>") to rtol/atol for
golden comparisons (first match wins); ``[tests.*]`` holds single values used by tests and by
the invariants. Every entry names its class, and no entry may exceed its class ceiling.

`rel_diff` is the one relative difference of the harness (goldens, trace-diff, invariants).
"""
from __future__ import annotations

import dataclasses
import fnmatch
import functools
import math
import os
import pathlib
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ParityError

LEDGER_NAME = "tolerances.toml"
_TOL_KEYS = ("rtol", "atol", "value")


def rel_diff(value: float, reference: float, *, symmetric: bool = False) -> float:
    """|value - reference| / |reference| (symmetric: / max(|value|, |reference|)).

    One rule for the edge cases: 0 when the two are equal (NaN == NaN and inf == inf count as
    equal); inf when exactly one is NaN, when they differ and one is infinite, or (not
    symmetric) when the reference is 0 and the value is not. Callers that must not pass on a
    NaN value check finiteness themselves (`parity.checks` does).
    """
    value, reference = float(value), float(reference)
    if value == reference or (math.isnan(value) and math.isnan(reference)):
        return 0.0
    if not (math.isfinite(value) and math.isfinite(reference)):
        return math.inf
    denom = max(abs(value), abs(reference)) if symmetric else abs(reference)
    return math.inf if denom == 0 else abs(value - reference) / denom


class LedgerError(ParityError):
    """The tolerance ledger is invalid; `entry` names the offending entry (e.g. ``golden."scan.*"``)."""

    name_attr, prefix = "entry", "tolerance ledger entry "


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


def load_ledger(path: str | os.PathLike) -> Ledger:
    """Load and validate the tolerance ledger at `path` (a checkout's ``golden/tolerances.toml``;
    see `parity.golden.find_golden_dir`). Cached per (path, mtime, size)."""
    path = pathlib.Path(path)
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
