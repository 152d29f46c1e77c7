"""Checks of the legacy-dict bridge (kind 'path', stage config; docs/design.md §5): the replay calls
them with the bridge's outcome and the telemetry of its two paths."""
from __future__ import annotations

from typing import Any, Mapping

from ..records import first_difference, stage_of
from .kit import CONFIG_STAGE, FAIL, PASS, Result
from .registry import ANY_STAGE, check


@check(CONFIG_STAGE, kind="path", name="legacy_dict_fresh")
def check_legacy_fresh(stale_error: Exception | None) -> Result:
    """The legacy dict agrees with the dataclass config after the bridge (no stale key)."""
    if stale_error is None:
        return Result([], [], PASS,
                      "update_legacy_dict -> config_from_legacy -> require_fresh: no stale key")
    stale = getattr(stale_error, "stale", {})
    keys = sorted(stale)
    return Result(keys, [], FAIL, f"stale legacy key(s): {stale_error}")


@check(ANY_STAGE, kind="path", name="legacy_dict_path")
def check_legacy_path(dataclass_values: Mapping[str, Any] | None,
                      legacy_values: Mapping[str, Any] | None) -> Result:
    """Telemetry of the legacy-dict path equals the dataclass path's, value for value (the
    stage is the first differing key's; the last stage when identical)."""
    if dataclass_values is None or legacy_values is None:
        return Result(None, "identical", FAIL,
                      "the legacy-dict path did not run (see legacy_dict_fresh)", stage=CONFIG_STAGE)
    key = first_difference(dataclass_values, legacy_values)
    if key is None:
        last = stage_of(next(reversed(dataclass_values))) if dataclass_values else CONFIG_STAGE
        return Result(len(dataclass_values), "identical", PASS,
                      f"{len(dataclass_values)} values identical on both paths", stage=last)
    return Result(key, "identical", FAIL,
                  f"first difference at {key}: dataclass {dataclass_values.get(key)!r} vs "
                  f"legacy dict {legacy_values.get(key)!r}", stage=stage_of(key))
