"""Checks of the result stages: infer (the trained amplitude ratio vs the labels' prediction),
stitch (ground-truth round trip) and evaluate (the metrics on known inputs)."""
from __future__ import annotations

import math

from ..tolerances import rel_diff
from .kit import FAIL, PASS, WARN, CheckContext, Result, bound_check, deviation, parts_check
from .registry import check


@check("infer")
def check_amplitude_ratio_trained(v, ctx: CheckContext) -> Result | None:
    """After training: reconstructed/true amplitude (central patch region) vs the prediction
    made at `labels` (r = 1 current, g legacy, capped by the activation ceiling). Reported as
    'warn' when the tier trains too briefly to verify it (infer.verifies_prediction false).
    None in the tiny gate's inference probe (infer.mode 'probe': no trained model)."""
    if v.get("infer.mode") == "probe":
        return None
    tol = ctx.tol("amplitude_ratio_trained")
    observed, predicted = v["infer.amplitude_ratio"], v["labels.saturated_amplitude_ratio"]
    rd = rel_diff(observed, predicted)
    ok = math.isfinite(float(observed)) and rd <= tol
    verdict = PASS if ok else (FAIL if v["infer.verifies_prediction"] else WARN)
    detail = (f"trained |O|/|O_true| = {observed:.4g} vs predicted {predicted:.4g} "
              f"(r = {v['labels.predicted_amplitude_ratio']:.4g} before saturation; rel diff "
              f"{rd:.3g}, rtol {tol:g})")
    if verdict == WARN:
        detail += "; tier too short to verify"
    return Result(observed, predicted, verdict, detail)


@check("stitch")
def check_stitch_roundtrip(v, ctx: CheckContext) -> Result:
    """Ground-truth patches stitched at the product's global positions reproduce the object on
    the covered pixels (whole-pixel positions: exact up to round-off)."""
    return bound_check(ctx, v["stitch.truth_roundtrip.max_rel_error"], "stitch_roundtrip",
                       "max |stitch(truth patches) - O| / max |O| on covered pixels")


@check("evaluate")
def check_evaluate_identity(v, ctx: CheckContext) -> Result:
    """evaluate_images of the ground-truth stitch against the object scores perfectly."""
    p = "evaluate.truth.identity."
    return parts_check(ctx, [
        ("ls_scalar-1", deviation(v[p + "amplitude_ls_scalar"], 1.0)),
        ("amplitude MAE", deviation(v[p + "amplitude_mae"], 0.0)),
        ("1-amplitude r", deviation(v[p + "amplitude_pearson"], 1.0)),
        ("phase MAE", deviation(v[p + "phase_mae"], 0.0)),
        ("1-phase r", deviation(v[p + "phase_pearson"], 1.0)),
        ("registration shift", deviation(v[p + "registration_shift"], 0.0)),
    ], "evaluate_identity", "evaluate(truth stitch, truth)")


@check("evaluate")
def check_evaluate_scaled_copy(v, ctx: CheckContext) -> Result:
    """evaluate_images of copy_scale*exp(i copy_phase) * (truth stitch): LS scalar copy_scale
    (recon ~ c * truth), amplitude MAE (copy_scale - 1) * mean|O| over the evaluated pixels,
    global phase copy_phase removed, perfect phase metrics and no registration shift."""
    p = "evaluate.truth.scaled_copy."
    k, phi = float(v["evaluate.truth.copy_scale"]), float(v["evaluate.truth.copy_phase"])
    mean_o = float(v["evaluate.truth.truth_amplitude_mean"])
    mae = v[p + "amplitude_mae"]
    return parts_check(ctx, [
        ("ls_scalar/c-1", None if v[p + "amplitude_ls_scalar"] is None
         else abs(float(v[p + "amplitude_ls_scalar"]) / k - 1.0)),
        ("MAE/((c-1)mean|O|)-1", None if mae is None else abs(float(mae) / ((k - 1) * mean_o) - 1.0)),
        ("global phase", deviation(v[p + "phase_global_phase"], phi)),
        ("phase MAE", deviation(v[p + "phase_mae"], 0.0)),
        ("1-phase r", deviation(v[p + "phase_pearson"], 1.0)),
        ("registration shift", deviation(v[p + "registration_shift"], 0.0)),
    ], "evaluate_scaled_copy", f"evaluate({k:g} exp({phi:g}i) truth stitch, truth)")
