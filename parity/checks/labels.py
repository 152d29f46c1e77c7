"""Checks of the labels stage: the dose in the count labels, one scale for labels and output,
the gain chain, reachability of the amplitude target, pixel alignment along the pipeline and
the Poisson statistics of the labels (docs/design.md §4)."""
from __future__ import annotations

import math

from ..tolerances import rel_diff
from .kit import FAIL, PASS, WARN, CheckContext, Result, passed, rel_check
from .registry import check


@check("labels")
def check_counts(v, ctx: CheckContext) -> Result:
    """E[sum (s*X_label)^2] = nphotons: the count labels carry the dose."""
    return rel_check(ctx, v["labels.mean_counts_per_pattern"], v["scale.nphotons"], "counts",
                     "E[sum counts label] vs nphotons")


@check("labels")
def check_symmetry(v, ctx: CheckContext) -> Result:
    """Labels and output use the same scale (s_cf legacy, s current)."""
    return rel_check(ctx, v["labels.scale"], v["labels.output_scale"], "symmetry",
                     "label scale vs output scaler")


@check("labels")
def check_chain_product(v, ctx: CheckContext) -> Result:
    """feed gain * label scale / input scaler = observed network-input gain = g."""
    tol = ctx.tol("chain_product")
    predicted = v["labels.predicted_input_gain"]
    observed = v["labels.observed_input_gain"]
    g = v["normalize.g"]
    rd_obs, rd_g = rel_diff(predicted, observed), rel_diff(predicted, g)
    ok = math.isfinite(float(predicted)) and rd_obs <= tol and rd_g <= tol
    return Result(predicted, g, passed(ok),
                  f"feed_gain*scale/input_scale = {predicted:.9g}; observed input gain "
                  f"{observed:.9g} (rel {rd_obs:.3g}); g = {g:.9g} (rel {rd_g:.3g}); rtol {tol:g}")


@check("labels")
def check_reachability(v, ctx: CheckContext) -> Result:
    """Predicted amplitude target r*|O| (r = feed_gain*scale/output_scale: g legacy, 1 current)
    vs the activation ceiling, before training. Policy 'predict' reports (warn)."""
    implied = float(v["labels.implied_amplitude_max"])
    raw_ceiling = v["labels.activation_ceiling"]
    ceiling = math.inf if raw_ceiling is None else float(raw_ceiling)
    ratio = v["labels.predicted_amplitude_ratio"]
    frac = v["labels.fraction_above_ceiling"]
    reachable = implied <= ceiling
    if reachable:
        verdict = PASS
    else:
        verdict = WARN if ctx.profile.reachability == "predict" else FAIL
    detail = (f"predicted amplitude ratio {ratio:.6g} (g = {v['normalize.g']:.6g}); implied max "
              f"amplitude {implied:.4g} vs {v['labels.activation']} ceiling {ceiling:g}; "
              f"{100 * frac:.1f}% of object pixels above it")
    if not reachable and verdict == WARN:
        detail += " (saturation predicted for this profile)"
    return Result(implied, raw_ceiling, verdict, detail)


#: (key of a correlation with the previous stage's array, stage) for arrays that are positive
#: multiples of that array by construction (a pixel permutation in between makes it < 1)
ALIGNED_PAIRS = (
    ("group.diffraction.corr_prev", "group"),          # vs raw diff3d gathered by nn_indices
    ("container.X.corr_prev", "container"),            # vs group.diffraction
    ("container.Y_I.corr_prev", "container"),          # vs |group.Y|
    ("network_input.corr_prev", "network_input"),      # vs container.X (g*X_raw vs X_raw)
    ("labels.amplitude.corr_prev", "labels"),          # vs network_input
    ("labels.counts.corr_prev", "labels"),             # vs amplitude labels squared
)


@check("labels")
def check_pixel_alignment(v, ctx: CheckContext) -> Result:
    """Arrays that are positive multiples of the previous stage's array correlate to 1 with it
    (pixel for pixel): a flip, shift, transpose or channel permutation between two stages
    fails, and names the first stage where it happened."""
    tol = ctx.tol("pixel_alignment")
    devs = []
    for key, stage in ALIGNED_PAIRS:
        if key == "container.Y_I.corr_prev" and key not in v:
            continue  # no ground truth
        corr = v[key]
        dev = math.inf if corr is None or not math.isfinite(float(corr)) else 1.0 - float(corr)
        devs.append((key, stage, dev))
    bad = [d for d in devs if not d[2] <= tol]
    if not bad:
        worst = max(d[2] for d in devs)
        return Result(worst, tol, PASS,
                      f"1 - corr with the previous stage's array <= {worst:.3g} on {len(devs)} "
                      f"pairs (bound {tol:g})")
    key, stage, dev = bad[0]
    return Result(dev, tol, FAIL,
                  f"{key}: 1 - corr = {dev:.3g} (bound {tol:g}): not a pixel-aligned multiple "
                  f"of the previous stage's array", stage=stage)


#: labels_poisson: sigmas of the statistical allowance added to the ledger bound
POISSON_SIGMAS = 6.0


@check("labels")
def check_labels_poisson(v, ctx: CheckContext) -> Result:
    """The count labels are Poisson draws of the simulator's noise-free expectation at the
    group members' scan positions: mean (k - mu)^2 / mu = 1 over pixels expecting >= 1 photon.
    Bound: the ledger's plus POISSON_SIGMAS standard deviations of that mean for the number of
    pixels used (sqrt((2 + 1/mu) / n) <= sqrt(3 / n)), never the value itself."""
    n = int(v["labels.truth_agreement.pixels"])
    z2 = v["labels.truth_agreement.mean_z2"]
    tol = ctx.tol("labels_poisson") + POISSON_SIGMAS * math.sqrt(3.0 / n) if n else 0.0
    dev = math.inf if z2 is None or not math.isfinite(float(z2)) else abs(float(z2) - 1.0)
    return Result(dev, tol, passed(bool(n) and dev <= tol),
                  f"|mean (k - mu)^2/mu - 1| = {dev:.3g} over {n} pixels (bound {tol:.3g}); "
                  f"a shifted, flipped or mis-scaled label is orders of magnitude off")
