"""Checks of a record as a whole (kind 'record'): finiteness of every value."""
from __future__ import annotations

import math
from typing import Any, Mapping

from ..records import stage_of
from .kit import CONFIG_STAGE, FAIL, PASS, CheckContext, Result
from .registry import ANY_STAGE, check


def _is_nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(_is_nonfinite(x) for x in value)
    return False


@check(ANY_STAGE, kind="record")
def check_finiteness(values: Mapping[str, Any], ctx: CheckContext | None = None) -> Result:
    """No NaN/Inf anywhere: every '.nan'/'.inf' count is 0 and every float value is finite.
    The stage is the first stage with a non-finite entry (the last stage when clean)."""
    bad = []
    for key, value in values.items():
        if key.endswith(".nan") or key.endswith(".inf"):
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                bad.append(key)
        elif _is_nonfinite(value):
            bad.append(key)
    if bad:
        return Result(len(bad), 0, FAIL,
                      f"{len(bad)} non-finite entr{'y' if len(bad) == 1 else 'ies'}, first {bad[0]}",
                      stage=stage_of(bad[0]))
    last = stage_of(next(reversed(values))) if values else CONFIG_STAGE
    return Result(0, 0, PASS, f"all {len(values)} values finite", stage=last)
