"""Comparing a record with a golden, key by key, with the tolerance ledger.

Floats by the first ``[golden]`` glob rule matching ``"<stage>.<key>"``
(``|a - e| <= atol + rtol*|e|``); integers, strings, bools, null and integer lists (shapes)
always exactly; int <-> float is a change of kind. Missing and extra keys fail.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..records import coerce_record, header_of
from ..tolerances import Ledger, Rule, rel_diff


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


def compare_value(expected: Any, actual: Any, key: str, ledger: Ledger) -> tuple[str, float | None, str, str]:
    """(verdict, rel_change, tolerance text, class) for one pair of JSON values."""
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return "changed", None, "exact length", "exact"
        worst: tuple[str, float | None, str, str] = ("ok", 0.0, "exact", "exact")
        for e, a in zip(expected, actual):
            verdict, rel, tol, cls = compare_value(e, a, key, ledger)
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
        verdict, rel, tol, cls = compare_value(e, actual[key], key, ledger)
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


def value_sides(r: KeyResult) -> tuple[str, str]:
    """Expected and actual text of a KeyResult; '(absent)' for the side a key is missing from."""
    return ("(absent)" if r.verdict == "extra" else fmt_value(r.expected),
            "(absent)" if r.verdict == "missing" else fmt_value(r.actual))


def results_table(results: Iterable[KeyResult]) -> str:
    """Markdown table of KeyResults."""
    lines = ["| key | expected | actual | rel. change | tolerance | class | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        exp, act = value_sides(r)
        lines.append(f"| `{r.key}` | {exp} | {act} | {fmt_rel(r.rel_change)} "
                     f"| {r.tolerance} | {r.tol_class} | {r.verdict} |")
    return "\n".join(lines)


def compare_golden(golden: Mapping[str, Any], record: Any, ledger: Ledger) -> list[KeyResult]:
    """Compare a record with a golden dict: header fields exactly, values with the ledger.
    Provenance is not compared."""
    rec = coerce_record(record)
    results = [KeyResult(f"<{k}>", golden[k], v, None, "exact", "exact", "ok" if golden[k] == v else "changed")
               for k, v in header_of(rec).items()]
    return results + compare(golden["values"], rec["values"], ledger)
