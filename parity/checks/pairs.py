"""Pair checks (kind 'pair'): a scenario's legacy and current records together (values of
each, in the order of `registry.PAIR_PROFILES`); reported with the legacy replay."""
from __future__ import annotations

from typing import Any, Mapping

from ..tolerances import rel_diff
from .kit import FAIL, PASS, WARN, CheckContext, Result, finite
from .registry import check, fitted
from .trained import mostly_unsaturated


def _both_trained_unsaturated(legacy: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Both records fitted, and both have at least MIN_UNSATURATED unsaturated pixels."""
    return (fitted(legacy) and fitted(current)
            and mostly_unsaturated(legacy) and mostly_unsaturated(current))


@check("evaluate", kind="pair", applies=_both_trained_unsaturated)
def check_legacy_ratio(legacy: Mapping[str, Any], current: Mapping[str, Any],
                       ctx: CheckContext) -> Result:
    """Trained legacy/current amplitude (LS scalars over the pixels predicted unsaturated, on the
    same held-out object) vs the predicted ratio (g of the legacy data over 1); held where both
    records hold learns_structure and the tier holds the ratio (`verifies_legacy_ratio`: a
    units claim needs models that reconstruct the object with converged units)."""
    tol = ctx.tol("legacy_ratio")
    ratio = (legacy["evaluate.saturation.unsaturated_ls_scalar"]
             / current["evaluate.saturation.unsaturated_ls_scalar"])
    predicted = (legacy["evaluate.predicted_amplitude_ratio"]
                 / current["evaluate.predicted_amplitude_ratio"])
    rd = rel_diff(ratio, predicted)
    ok = finite(ratio) and rd <= tol
    # a units claim needs models that reconstruct the object and whose units have converged:
    # where the tier is too short for that (TierSize.verify_learning, verify_legacy_ratio),
    # the ratio is reported, not held
    held = legacy["evaluate.verifies_legacy_ratio"] and current["evaluate.verifies_legacy_ratio"]
    verdict = PASS if ok else (FAIL if held else WARN)
    return Result(ratio, predicted, verdict,
                  f"LS legacy / LS current = {ratio:.4f} vs predicted g = {predicted:.4f} "
                  f"(rel diff {rd:.3g}, rtol {tol:g})")
