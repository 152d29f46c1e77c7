"""The check kit: the `Check` verdict, what a check reads (`CheckContext`) and the helpers that
turn a value and a ledger bound into a verdict.

A check function returns a `Result` (value, bound, verdict, detail); the registry
(`parity.checks.registry`) adds the check's name and stage, written once in its decorator, and
turns it into a `Check`. Verdicts: 'pass', 'fail', and 'warn' (a predicted, documented
behaviour that is reported, not failed: the legacy profile's saturating amplitude target under
its 'predict' reachability policy, or a trained check on a tier too short to verify it).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ..profiles import Profile
from ..records import STAGES
from ..tolerances import Ledger, rel_diff

PASS, FAIL, WARN = "pass", "fail", "warn"
VERDICTS = (PASS, FAIL, WARN)
#: pseudo-stage before `object`: configuration resolution (the legacy-dict bridge)
CONFIG_STAGE = "config"
CHECK_STAGES = (CONFIG_STAGE,) + STAGES


@dataclass(frozen=True)
class Check:
    """One verdict. value/bound are JSON-safe (numbers, strings, lists, dicts)."""

    name: str
    stage: str
    value: Any
    bound: Any
    verdict: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failed(self) -> bool:
        return self.verdict == FAIL


@dataclass(frozen=True)
class Result:
    """What a check function returns: the verdict without the check's name and stage (the
    registry adds them). stage: only for a check that names the stage where it found the
    problem (pixel_alignment, finiteness, legacy_dict_path); None keeps the registered one."""

    value: Any
    bound: Any
    verdict: str
    detail: str
    stage: str | None = None


@dataclass(frozen=True)
class CheckContext:
    """What a check reads besides the telemetry values: the profile and the tolerance ledger."""

    profile: Profile
    ledger: Ledger

    def tol(self, name: str) -> float:
        """Bound `tests.parity.invariants.<name>` from the ledger."""
        return self.ledger.test_tolerance(f"parity.invariants.{name}")


def passed(ok: bool) -> str:
    """PASS when ok, else FAIL."""
    return PASS if ok else FAIL


def finite(*xs: Any) -> bool:
    """Every x is a number (not None) and finite."""
    return all(x is not None and math.isfinite(float(x)) for x in xs)


def rel_check(ctx: CheckContext, value, target, tol_name: str, what: str) -> Result:
    """rel_diff(value, target) <= the ledger bound `tol_name` (a NaN value never passes)."""
    tol = ctx.tol(tol_name)
    rd = rel_diff(value, target)
    ok = math.isfinite(float(value)) and rd <= tol
    return Result(value, target, passed(ok),
                  f"{what}: {value:.9g} vs {target:.9g} (rel diff {rd:.3g}, rtol {tol:g})")


def bound_check(ctx: CheckContext, value, tol_name: str, what: str) -> Result:
    """value <= the ledger bound `tol_name` (a NaN or missing value never passes)."""
    tol = ctx.tol(tol_name)
    ok = value is not None and math.isfinite(float(value)) and float(value) <= tol
    shown = "None" if value is None else f"{float(value):.3g}"
    return Result(value, tol, passed(ok), f"{what} = {shown} (bound {tol:g})")


def worst(parts: list[tuple[str, float | None]]) -> tuple[float, str]:
    """(largest value, its label) of labelled non-negative deviations; None/NaN -> inf."""
    top, label = -math.inf, ""
    for lab, val in parts:
        x = math.inf if val is None or not math.isfinite(float(val)) else float(val)
        if x > top:
            top, label = x, lab
    return top, label


def parts_check(ctx: CheckContext, parts: list[tuple[str, float | None]], tol_name: str,
                what: str) -> Result:
    """The largest of several labelled deviations against one ledger bound."""
    tol = ctx.tol(tol_name)
    top, label = worst(parts)
    listed = ", ".join(f"{lab} {('None' if val is None else format(float(val), '.3g'))}"
                       for lab, val in parts)
    return Result(top, tol, passed(top <= tol),
                  f"{what}: worst {label} = {top:.3g} (bound {tol:g}; {listed})")


def deviation(value, target: float) -> float | None:
    """|value - target|, None when the value is missing."""
    return None if value is None else abs(float(value) - target)
