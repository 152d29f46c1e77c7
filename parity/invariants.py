"""Normalization invariants and other checks, evaluated on a telemetry record (DESIGN §8).

Each check is named, belongs to a stage, and returns a `Check` with the observed value, the
bound it was held to (bounds come from `[tests.parity.invariants]` in golden/tolerances.toml),
a verdict and a one-line detail. Verdicts: 'pass', 'fail', and 'warn' (a predicted, documented
behaviour of a profile that is reported, not failed: the legacy profile's saturating amplitude
target under its 'predict' reachability policy). A check whose stage was not recorded is not
evaluated (the train-only checks without --train).

Checks read only the flat telemetry values (plus the profile and the ledger, in a
`CheckContext`), so a record loaded from JSON can be re-checked: `evaluate(record, ledger)`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

from .oracle import engine_agrees
from .profiles import Profile, get_profile
from .records import STAGES, first_difference, stage_of
from .tolerances import Ledger, rel_diff

PASS, FAIL, WARN = "pass", "fail", "warn"
VERDICTS = (PASS, FAIL, WARN)
#: pseudo-stage before `object`: configuration resolution (the legacy-dict bridge)
CONFIG_STAGE = "config"
CHECK_STAGES = (CONFIG_STAGE,) + STAGES


@dataclass(frozen=True)
class Check:
    """One invariant verdict. value/bound are JSON-safe (numbers, strings, lists)."""

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
class CheckContext:
    """What a check reads besides the telemetry values: the profile and the tolerance ledger."""

    profile: Profile
    ledger: Ledger

    def tol(self, name: str) -> float:
        """Bound `tests.parity.invariants.<name>` from the ledger."""
        return self.ledger.test_tolerance(f"parity.invariants.{name}")


def _rel_check(ctx, name, stage, value, target, tol_name, what) -> Check:
    tol = ctx.tol(tol_name)
    rd = rel_diff(value, target)
    ok = math.isfinite(float(value)) and rd <= tol  # a NaN value never passes
    return Check(name, stage, value, target,
                 PASS if ok else FAIL,
                 f"{what}: {value:.9g} vs {target:.9g} (rel diff {rd:.3g}, rtol {tol:g})")


# ------------------------------------------------------------------------------- checks
# Each takes (values, ctx) and returns a Check. `values` is the record's flat dict.

def check_probe_normalization(v, ctx: CheckContext) -> Check:
    """mean |P*M| = 1/probe_scale (DESIGN §3)."""
    return _rel_check(ctx, "probe_normalization", "probe", v["probe.mean_abs_masked"],
                      v["probe.target_mean_abs_masked"], "probe_normalization",
                      "mean|P*M| vs 1/probe_scale")


def check_simulate_energy(v, ctx: CheckContext) -> Check:
    """E[sum X_raw^2] = E[sum |Psi|^2] up to Poisson noise (DESIGN §3 step 4)."""
    return _rel_check(ctx, "simulate_energy", "simulate", v["simulate.diff3d.mean_sum_xy_sq"],
                      v["simulate.mean_exit_energy"], "simulate_energy",
                      "E[sum X_raw^2] vs E[sum |Psi|^2]")


def check_canvas_fit(v, ctx: CheckContext) -> Check:
    """The planned model canvas holds every patch of the group at its relative offset."""
    need, have = int(v["group.canvas_required"]), int(v["group.canvas_planned"])
    ok = have >= need
    return Check("canvas_fit", "group", have, need, PASS if ok else FAIL,
                 f"planned canvas {have} px vs required {need} px "
                 f"(max |coords_relative| {v['group.max_abs_coords_relative']:.3f} px)")


def check_group_centroid(v, ctx: CheckContext) -> Check:
    """coords_relative = -(coords - centroid): the channels of a group sum to zero."""
    tol = ctx.tol("group_centroid")
    scale = max(1.0, float(v["group.max_abs_coords_relative"]))
    value = float(v["group.centroid_residual"]) / scale
    return Check("group_centroid", "group", value, tol, PASS if value <= tol else FAIL,
                 f"max |sum_c coords_relative| / max(1, max|coords_relative|) = {value:.3g}")


def check_normalization_energy(v, ctx: CheckContext) -> Check:
    """E[sum X_norm^2] = (N/2)^2 with X_norm = g*X_raw (DESIGN §4)."""
    return _rel_check(ctx, "normalization_energy", "normalize", v["normalize.energy_norm"],
                      v["normalize.target_energy"], "normalization_energy",
                      "E[sum X_norm^2] vs (N/2)^2")


def check_scale_identity(v, ctx: CheckContext) -> Check:
    """s = g * s_cf: fails when s_cf is used instead of the dataset scale, or s is computed on
    normalized data (both give s = s_cf)."""
    return _rel_check(ctx, "scale_identity", "scale", v["scale.s"], v["scale.g_s_cf"],
                      "scale_identity", "dataset scale s vs g*s_cf")


def check_scale_energy(v, ctx: CheckContext) -> Check:
    """The energy behind s is E of the raw data (not of X_norm, not summed over channels)."""
    return _rel_check(ctx, "scale_energy", "scale", v["scale.energy"], v["normalize.E"],
                      "scale_energy", "energy used by the scale vs E[sum X_raw^2]")


def check_scale_source(v, ctx: CheckContext) -> Check:
    """The dataset-derived scale is used whenever E is finite and > 0 (fallback otherwise)."""
    energy = v["normalize.E"]
    usable = isinstance(energy, (int, float)) and math.isfinite(energy) and energy > 0
    expected = "dataset" if usable else "closed_form"
    got = v["scale.source"]
    return Check("scale_source", "scale", got, expected, PASS if got == expected else FAIL,
                 f"source {got!r} (reason: {v['scale.reason']}); expected {expected!r}")


def check_container_lazy(v, ctx: CheckContext) -> Check:
    """Scale statistics read numpy storage only: the container's tensor cache stays empty."""
    n = int(v["container.tensor_cache_size"])
    return Check("container_lazy", "container", n, 0, PASS if n == 0 else FAIL,
                 f"{n} cached tensor(s) after the numpy-only statistics")


def check_network_input_energy(v, ctx: CheckContext) -> Check:
    """The network sees g*X_raw in both profiles: E[sum input^2] = (N/2)^2."""
    return _rel_check(ctx, "network_input_energy", "network_input", v["network_input.mean_sum_xy_sq"],
                      v["network_input.target_energy"], "network_input_energy",
                      "E[sum input^2] vs (N/2)^2")


def check_counts(v, ctx: CheckContext) -> Check:
    """E[sum (s*X_label)^2] = nphotons: the count labels carry the dose."""
    return _rel_check(ctx, "counts", "labels", v["labels.mean_counts_per_pattern"], v["scale.nphotons"],
                      "counts", "E[sum counts label] vs nphotons")


def check_symmetry(v, ctx: CheckContext) -> Check:
    """Labels and output use the same scale (s_cf legacy, s current)."""
    return _rel_check(ctx, "symmetry", "labels", v["labels.scale"], v["labels.output_scale"],
                      "symmetry", "label scale vs output scaler")


def check_chain_product(v, ctx: CheckContext) -> Check:
    """feed gain * label scale / input scaler = observed network-input gain = g."""
    tol = ctx.tol("chain_product")
    predicted = v["labels.predicted_input_gain"]
    observed = v["labels.observed_input_gain"]
    g = v["normalize.g"]
    rd_obs, rd_g = rel_diff(predicted, observed), rel_diff(predicted, g)
    ok = math.isfinite(float(predicted)) and rd_obs <= tol and rd_g <= tol
    return Check("chain_product", "labels", predicted, g, PASS if ok else FAIL,
                 f"feed_gain*scale/input_scale = {predicted:.9g}; observed input gain "
                 f"{observed:.9g} (rel {rd_obs:.3g}); g = {g:.9g} (rel {rd_g:.3g}); rtol {tol:g}")


def check_reachability(v, ctx: CheckContext) -> Check:
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
    return Check("reachability", "labels", implied, raw_ceiling, verdict, detail)


def check_forward_scales(v, ctx: CheckContext) -> Check:
    """The model's scale weights equal the external scales (input s_cf; output = label scale)."""
    tol = ctx.tol("forward_scales")
    rin = rel_diff(v["forward.input_scale_weight"], v["forward.external_input_scale"])
    rout = rel_diff(v["forward.output_scale_weight"], v["labels.scale"])
    worst = max(rin, rout)
    ok = (math.isfinite(float(v["forward.input_scale_weight"]))
          and math.isfinite(float(v["forward.output_scale_weight"])) and worst <= tol)
    return Check("forward_scales", "forward", worst, tol, PASS if ok else FAIL,
                 f"input weight {v['forward.input_scale_weight']:.7g} vs "
                 f"{v['forward.external_input_scale']:.7g}; output weight "
                 f"{v['forward.output_scale_weight']:.7g} vs label scale {v['labels.scale']:.7g}")


def check_forward_output_shape(v, ctx: CheckContext) -> Check:
    """Per-group output: counts shape == (B, N, N, C) of the input, for every B."""
    got, want = list(v["forward.output_shape"]), list(v["forward.input_shape"])
    return Check("forward_output_shape", "forward", got, want, PASS if got == want else FAIL,
                 f"output {got} vs input {want}")


def check_trainable_weights(v, ctx: CheckContext) -> Check:
    """Scale/probe weights are in trainable_weights exactly when configured trainable."""
    got, want = sorted(v["forward.trainable_special"]), sorted(v["forward.expected_trainable"])
    return Check("trainable_weights", "forward", got, want, PASS if got == want else FAIL,
                 f"trainable scale/probe weights {got}, configured {want}")


def check_model_canvas_fit(v, ctx: CheckContext) -> Check:
    """The canvas the built reassembly layer actually builds (measured: the largest group
    offset it carries without loss, parity.consistency.canvas_capacity) holds the largest
    relative offset of the data."""
    need, have = int(v["group.canvas_required"]), int(v["forward.canvas"])
    return Check("model_canvas_fit", "forward", have, need, PASS if have >= need else FAIL,
                 f"measured model canvas {have} px (carries offsets up to "
                 f"{v['forward.canvas_capacity']} px of {v['forward.canvas_probe_offsets']} "
                 f"probed) vs required {need} px (max |coords_relative| "
                 f"{v['group.max_abs_coords_relative']:.3f} px)")


def _bound_check(ctx, name, stage, value, tol_name, what) -> Check:
    """value <= the ledger bound `tol_name` (a NaN or missing value never passes)."""
    tol = ctx.tol(tol_name)
    ok = value is not None and math.isfinite(float(value)) and float(value) <= tol
    shown = "None" if value is None else f"{float(value):.3g}"
    return Check(name, stage, value, tol, PASS if ok else FAIL, f"{what} = {shown} (bound {tol:g})")


def _worst(parts: list[tuple[str, float | None]]) -> tuple[float, str]:
    """(largest value, its label) of labelled non-negative deviations; None/NaN -> inf."""
    worst, label = -math.inf, ""
    for lab, val in parts:
        x = math.inf if val is None or not math.isfinite(float(val)) else float(val)
        if x > worst:
            worst, label = x, lab
    return worst, label


def _parts_check(ctx, name, stage, parts, tol_name, what) -> Check:
    """The largest of several labelled deviations against one ledger bound."""
    tol = ctx.tol(tol_name)
    worst, label = _worst(parts)
    listed = ", ".join(f"{lab} {('None' if val is None else format(float(val), '.3g'))}"
                       for lab, val in parts)
    return Check(name, stage, worst, tol, PASS if worst <= tol else FAIL,
                 f"{what}: worst {label} = {worst:.3g} (bound {tol:g}; {listed})")


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


def check_pixel_alignment(v, ctx: CheckContext) -> Check:
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
        return Check("pixel_alignment", "labels", worst, tol, PASS,
                     f"1 - corr with the previous stage's array <= {worst:.3g} on {len(devs)} "
                     f"pairs (bound {tol:g})")
    key, stage, dev = bad[0]
    return Check("pixel_alignment", stage, dev, tol, FAIL,
                 f"{key}: 1 - corr = {dev:.3g} (bound {tol:g}): not a pixel-aligned multiple "
                 f"of the previous stage's array")


def check_container_scale(v, ctx: CheckContext) -> Check:
    """calculate_intensity_scale(container, nphotons) on the containers the replay builds (raw
    and fed) equals the plan's dataset scale s, with the same source."""
    tol = ctx.tol("container_scale")
    s = v["scale.s"]
    rd = max(rel_diff(v["container.intensity_scale"], s), rel_diff(v["container.fed_intensity_scale"], s))
    sources = [v["container.intensity_scale_source"], v["container.fed_intensity_scale_source"]]
    ok = math.isfinite(rd) and rd <= tol and all(x == v["scale.source"] for x in sources)
    return Check("container_scale", "container", rd, tol, PASS if ok else FAIL,
                 f"calculate_intensity_scale raw {v['container.intensity_scale']:.9g}, fed "
                 f"{v['container.fed_intensity_scale']:.9g} vs plan s {s:.9g} (rel {rd:.3g}, "
                 f"rtol {tol:g}); sources {sources} vs {v['scale.source']!r}")


#: labels_poisson: sigmas of the statistical allowance added to the ledger bound
POISSON_SIGMAS = 6.0


def check_labels_poisson(v, ctx: CheckContext) -> Check:
    """The count labels are Poisson draws of the simulator's noise-free expectation at the
    group members' scan positions: mean (k - mu)^2 / mu = 1 over pixels expecting >= 1 photon.
    Bound: the ledger's plus POISSON_SIGMAS standard deviations of that mean for the number of
    pixels used (sqrt((2 + 1/mu) / n) <= sqrt(3 / n)), never the value itself."""
    n = int(v["labels.truth_agreement.pixels"])
    z2 = v["labels.truth_agreement.mean_z2"]
    tol = ctx.tol("labels_poisson") + POISSON_SIGMAS * math.sqrt(3.0 / n) if n else 0.0
    dev = math.inf if z2 is None or not math.isfinite(float(z2)) else abs(float(z2) - 1.0)
    return Check("labels_poisson", "labels", dev, tol, PASS if n and dev <= tol else FAIL,
                 f"|mean (k - mu)^2/mu - 1| = {dev:.3g} over {n} pixels (bound {tol:.3g}); "
                 f"a shifted, flipped or mis-scaled label is orders of magnitude off")


def check_forward_consistency(v, ctx: CheckContext) -> Check:
    """The model's physics head after the decoders (probe, diffraction, output scaler,
    square) on the ground-truth patches, scaled by the amplitude ratio the labels imply,
    reproduces the simulator's expected count labels (max error relative to each pattern's
    max). Ties simulator and model: a shift, flip, conjugation or sign difference fails."""
    return _bound_check(ctx, "forward_consistency", "forward",
                        v["forward.consistency.max_rel_error"], "forward_consistency",
                        "max |head(r*Y) - E[labels]| / max E[labels]")


def check_reassembly_roundtrip(v, ctx: CheckContext) -> Check:
    """The built reassembly layer returns ground-truth patches (whole-pixel group geometry)
    unchanged on their support, and the object where neighbours cover them."""
    return _parts_check(ctx, "reassembly_roundtrip", "forward",
                        [("own support", v["forward.reassembly.own_support_error"]),
                         ("covered", v["forward.reassembly.covered_error"])],
                        "reassembly_roundtrip", "reassembly of ground-truth patches")


def check_batch_independence(v, ctx: CheckContext) -> Check:
    """Sample 0's output does not change when every other sample of its batch is perturbed
    (whole network; physics head with >= 64 patterns)."""
    return _parts_check(ctx, "batch_independence", "forward",
                        [("network counts", v["forward.batch.counts_change"]),
                         ("network object", v["forward.batch.object_change"]),
                         ("head counts", v.get("forward.batch.head_counts_change", 0.0))],
                        "batch_independence", "relative change of sample 0")


def check_activation_ceiling(v, ctx: CheckContext) -> Check:
    """The ceiling declared by the built amplitude activation equals the configured one, its
    measured output never exceeds it and reaches it (bounded), or grows with its input
    (unbounded); the output is non-negative."""
    tol = ctx.tol("activation_ceiling")
    conf, layer = v["forward.activation.configured_ceiling"], v["forward.activation.layer_ceiling"]
    top, low = float(v["forward.activation.output_max"]), float(v["forward.activation.output_min"])
    if conf is None:
        target = float(v["forward.activation.ramp_limit"])
        dev = max(rel_diff(top, target), 0.0 if layer is None else math.inf)
        what = f"unbounded: layer ceiling {layer}, output at +{target:g} = {top:.7g}"
    else:
        dev = max(rel_diff(top, conf), math.inf if layer is None else rel_diff(layer, conf))
        what = f"layer ceiling {layer} vs configured {conf}; measured max {top:.7g}"
    ok = math.isfinite(dev) and dev <= tol and low >= 0.0 and (conf is None or top <= conf * (1 + tol))
    return Check("activation_ceiling", "forward", dev, tol, PASS if ok else FAIL,
                 f"{what}; min {low:.3g} (rel {dev:.3g}, bound {tol:g})")


def check_phase_range(v, ctx: CheckContext) -> Check:
    """The built phase activation spans (-pi, pi): its measured extremes reach +-pi."""
    tol = ctx.tol("phase_range")
    top, low = float(v["forward.phase.output_max"]), float(v["forward.phase.output_min"])
    dev = max(rel_diff(top, math.pi), rel_diff(low, -math.pi))
    return Check("phase_range", "forward", dev, tol, PASS if dev <= tol else FAIL,
                 f"phase activation range [{low:.7g}, {top:.7g}] vs [-pi, pi] (rel {dev:.3g}, "
                 f"bound {tol:g})")


def check_loss_composition(v, ctx: CheckContext) -> Check:
    """The compiled training loss on one batch equals nll_weight*NLL + mae_weight*MAE computed
    independently from ptycho.losses on the same predictions."""
    return _rel_check(ctx, "loss_composition", "train", v["train.probe.loss_compiled"],
                      v["train.probe.loss_composed"], "loss_composition",
                      f"compiled loss vs {v['train.probe.nll_weight']:g}*NLL + "
                      f"{v['train.probe.mae_weight']:g}*MAE")


def check_gradient_flow(v, ctx: CheckContext) -> Check:
    """One gradient on one batch reaches every trainable weight (no None/all-zero tensor)."""
    zero = list(v["train.probe.zero_gradient_weights"])
    n = int(v["train.probe.trainable_weights"])
    ok = not zero and n > 0
    return Check("gradient_flow", "train", len(zero), 0, PASS if ok else FAIL,
                 f"{len(zero)} of {n} trainable weights get no gradient"
                 + (f": {', '.join(zero[:4])}{' ...' if len(zero) > 4 else ''}" if zero else ""))


def check_optimizer_step(v, ctx: CheckContext) -> Check:
    """One optimizer step at the configured learning rate goes downhill: the optimizer's
    learning rate is the configured one, Adam's first update of a zero-initialized weight has
    size lr (|g|/(|g| + eps') of it), and the step's first-order loss change sum g . dw is
    negative. (The loss after a full step of size lr is reported, not held: on a random batch a
    step that size can overshoot, +0.8% and +2.1% on two gridsize-2 trained-tier seeds.)"""
    tol_lr = ctx.tol("optimizer_learning_rate")
    tol_step = ctx.tol("optimizer_step_size")
    lr, conf = v["train.probe.learning_rate"], v["train.probe.configured_learning_rate"]
    size = v["train.probe.max_update_over_lr"]
    change = v["train.probe.step_first_order_change"]
    d_lr = rel_diff(lr, conf)
    d_size = math.inf if size is None or not math.isfinite(float(size)) else abs(float(size) - 1.0)
    ok = d_lr <= tol_lr and d_size <= tol_step and change is not None and float(change) < 0.0
    return Check("optimizer_step", "train", change, 0.0, PASS if ok else FAIL,
                 f"first-order loss change of one step {float(change):+.3g} (must be < 0; full "
                 f"step {float(v['train.probe.step_relative_change']):+.3g}); learning rate "
                 f"{lr:.7g} vs configured {conf:g} (rel {d_lr:.3g}, bound {tol_lr:g}); largest "
                 f"update / lr {size:.6g} (|1 - it| bound {tol_step:g})")


def check_training_feed(v, ctx: CheckContext) -> Check:
    """What ptycho.train.train hands the optimizer, row by row, on the shuffled and the
    unshuffled path: every input row is one group's scaled diffraction, its offsets are that
    group's, its count label is (scale * fed diffraction)^2 of the same group, and every
    training group is fed exactly once per epoch."""
    tol = ctx.tol("training_feed")
    err = v["train.feed.label_error"]
    bad = int(v["train.feed.unmatched_rows"]) + int(v["train.feed.coords_mismatch_rows"])
    paths = [(v["train.feed.rows_shuffled"], v["train.feed.distinct_groups_shuffled"]),
             (v["train.feed.rows_unshuffled"], v["train.feed.distinct_groups_unshuffled"])]
    once = all(int(r) == int(d) and int(r) > 0 for r, d in paths)
    ok = err is not None and math.isfinite(float(err)) and float(err) <= tol and bad == 0 and once
    return Check("training_feed", "train", err, tol, PASS if ok else FAIL,
                 f"label vs (scale*fed diffraction)^2 of the same group: rel {float(err):.3g} "
                 f"(bound {tol:g}); {v['train.feed.unmatched_rows']} rows match no group, "
                 f"{v['train.feed.coords_mismatch_rows']} with other offsets; rows/distinct "
                 f"groups shuffled {paths[0][0]}/{paths[0][1]}, unshuffled {paths[1][0]}/{paths[1][1]}")


def check_stitch_roundtrip(v, ctx: CheckContext) -> Check:
    """Ground-truth patches stitched at the product's global positions reproduce the object on
    the covered pixels (whole-pixel positions: exact up to round-off)."""
    return _bound_check(ctx, "stitch_roundtrip", "stitch",
                        v["stitch.truth_roundtrip.max_rel_error"], "stitch_roundtrip",
                        "max |stitch(truth patches) - O| / max |O| on covered pixels")


def _dev(value, target) -> float | None:
    return None if value is None else abs(float(value) - target)


def check_evaluate_identity(v, ctx: CheckContext) -> Check:
    """evaluate_images of the ground-truth stitch against the object scores perfectly."""
    p = "evaluate.truth.identity."
    return _parts_check(ctx, "evaluate_identity", "evaluate", [
        ("ls_scalar-1", _dev(v[p + "amplitude_ls_scalar"], 1.0)),
        ("amplitude MAE", _dev(v[p + "amplitude_mae"], 0.0)),
        ("1-amplitude r", _dev(v[p + "amplitude_pearson"], 1.0)),
        ("phase MAE", _dev(v[p + "phase_mae"], 0.0)),
        ("1-phase r", _dev(v[p + "phase_pearson"], 1.0)),
        ("registration shift", _dev(v[p + "registration_shift"], 0.0)),
    ], "evaluate_identity", "evaluate(truth stitch, truth)")


def check_evaluate_scaled_copy(v, ctx: CheckContext) -> Check:
    """evaluate_images of copy_scale*exp(i copy_phase) * (truth stitch): LS scalar copy_scale
    (recon ~ c * truth), amplitude MAE (copy_scale - 1) * mean|O| over the evaluated pixels,
    global phase copy_phase removed, perfect phase metrics and no registration shift."""
    p = "evaluate.truth.scaled_copy."
    k, phi = float(v["evaluate.truth.copy_scale"]), float(v["evaluate.truth.copy_phase"])
    mean_o = float(v["evaluate.truth.truth_amplitude_mean"])
    mae = v[p + "amplitude_mae"]
    return _parts_check(ctx, "evaluate_scaled_copy", "evaluate", [
        ("ls_scalar/c-1", None if v[p + "amplitude_ls_scalar"] is None
         else abs(float(v[p + "amplitude_ls_scalar"]) / k - 1.0)),
        ("MAE/((c-1)mean|O|)-1", None if mae is None else abs(float(mae) / ((k - 1) * mean_o) - 1.0)),
        ("global phase", _dev(v[p + "phase_global_phase"], phi)),
        ("phase MAE", _dev(v[p + "phase_mae"], 0.0)),
        ("1-phase r", _dev(v[p + "phase_pearson"], 1.0)),
        ("registration shift", _dev(v[p + "registration_shift"], 0.0)),
    ], "evaluate_scaled_copy", f"evaluate({k:g} exp({phi:g}i) truth stitch, truth)")


def check_amplitude_ratio_trained(v, ctx: CheckContext) -> Check:
    """After training: reconstructed/true amplitude (central patch region) vs the prediction
    made at `labels` (r = 1 current, g legacy, capped by the activation ceiling). Reported as
    'warn' when the tier trains too briefly to verify it (infer.verifies_prediction false)."""
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
    return Check("amplitude_ratio_trained", "infer", observed, predicted, verdict, detail)


def check_engine_agrees(v, ctx: CheckContext) -> Check | None:
    """An independent engine (PtyLab ePIE) reconstructs the simulated object from our data,
    probe and positions (parity.oracle; None: the scenario runs no oracle)."""
    res = engine_agrees(v, ctx.tol)
    if res is None:
        return None
    value, bound, ok, detail = res
    return Check("engine_agrees", "simulate", value, bound, PASS if ok else FAIL, detail)


#: name -> (stage, function); evaluated in this order when the stage was recorded
CHECKS: dict[str, tuple[str, Callable[[Mapping[str, Any], CheckContext], Check]]] = {
    "probe_normalization": ("probe", check_probe_normalization),
    "simulate_energy": ("simulate", check_simulate_energy),
    "engine_agrees": ("simulate", check_engine_agrees),
    "canvas_fit": ("group", check_canvas_fit),
    "group_centroid": ("group", check_group_centroid),
    "normalization_energy": ("normalize", check_normalization_energy),
    "scale_identity": ("scale", check_scale_identity),
    "scale_energy": ("scale", check_scale_energy),
    "scale_source": ("scale", check_scale_source),
    "container_lazy": ("container", check_container_lazy),
    "network_input_energy": ("network_input", check_network_input_energy),
    "counts": ("labels", check_counts),
    "symmetry": ("labels", check_symmetry),
    "chain_product": ("labels", check_chain_product),
    "reachability": ("labels", check_reachability),
    "forward_scales": ("forward", check_forward_scales),
    "forward_output_shape": ("forward", check_forward_output_shape),
    "trainable_weights": ("forward", check_trainable_weights),
    "model_canvas_fit": ("forward", check_model_canvas_fit),
    "container_scale": ("container", check_container_scale),
    "pixel_alignment": ("labels", check_pixel_alignment),
    "labels_poisson": ("labels", check_labels_poisson),
    "forward_consistency": ("forward", check_forward_consistency),
    "reassembly_roundtrip": ("forward", check_reassembly_roundtrip),
    "batch_independence": ("forward", check_batch_independence),
    "activation_ceiling": ("forward", check_activation_ceiling),
    "phase_range": ("forward", check_phase_range),
    "loss_composition": ("train", check_loss_composition),
    "gradient_flow": ("train", check_gradient_flow),
    "optimizer_step": ("train", check_optimizer_step),
    "training_feed": ("train", check_training_feed),
    "amplitude_ratio_trained": ("infer", check_amplitude_ratio_trained),
    "stitch_roundtrip": ("stitch", check_stitch_roundtrip),
    "evaluate_identity": ("evaluate", check_evaluate_identity),
    "evaluate_scaled_copy": ("evaluate", check_evaluate_scaled_copy),
}


def _is_nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(_is_nonfinite(x) for x in value)
    return False


def check_finiteness(values: Mapping[str, Any]) -> Check:
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
        return Check("finiteness", stage_of(bad[0]), len(bad), 0, FAIL,
                     f"{len(bad)} non-finite entr{'y' if len(bad) == 1 else 'ies'}, first {bad[0]}")
    last = stage_of(next(reversed(values))) if values else CONFIG_STAGE
    return Check("finiteness", last, 0, 0, PASS, f"all {len(values)} values finite")


def check_legacy_fresh(stale_error: Exception | None) -> Check:
    """The legacy dict agrees with the dataclass config after the bridge (no stale key)."""
    if stale_error is None:
        return Check("legacy_dict_fresh", CONFIG_STAGE, [], [], PASS,
                     "update_legacy_dict -> config_from_legacy -> require_fresh: no stale key")
    stale = getattr(stale_error, "stale", {})
    keys = sorted(stale)
    return Check("legacy_dict_fresh", CONFIG_STAGE, keys, [], FAIL, f"stale legacy key(s): {stale_error}")


def check_legacy_path(dataclass_values: Mapping[str, Any] | None,
                      legacy_values: Mapping[str, Any] | None) -> Check:
    """Telemetry of the legacy-dict path equals the dataclass path's, value for value."""
    if dataclass_values is None or legacy_values is None:
        return Check("legacy_dict_path", CONFIG_STAGE, None, "identical", FAIL,
                     "the legacy-dict path did not run (see legacy_dict_fresh)")
    key = first_difference(dataclass_values, legacy_values)
    if key is None:
        last = stage_of(next(reversed(dataclass_values))) if dataclass_values else CONFIG_STAGE
        return Check("legacy_dict_path", last, len(dataclass_values), "identical", PASS,
                     f"{len(dataclass_values)} values identical on both paths")
    return Check("legacy_dict_path", stage_of(key), key, "identical", FAIL,
                 f"first difference at {key}: dataclass {dataclass_values.get(key)!r} vs "
                 f"legacy dict {legacy_values.get(key)!r}")


def evaluate(record: Mapping[str, Any], ledger: Ledger, profile: Profile | None = None) -> list[Check]:
    """Every applicable check of a telemetry record, in stage order, with bounds from `ledger`.

    profile: defaults to the record's meta['profile']. A check runs when its stage and every
    stage it reads were recorded; a missing key inside a recorded stage is a failure naming it.
    """
    values = record["values"]
    ctx = CheckContext(profile or get_profile(record["meta"]["profile"]), ledger)
    recorded = {stage_of(k) for k in values}
    out: list[Check] = []
    for name, (stage, func) in CHECKS.items():
        if stage not in recorded:
            continue
        try:
            result = func(values, ctx)
            if result is not None:  # None: the check does not apply to this record
                out.append(result)
        except KeyError as exc:
            out.append(Check(name, stage, None, None, FAIL, f"telemetry key missing: {exc.args[0]}"))
        except (TypeError, ValueError) as exc:
            out.append(Check(name, stage, None, None, FAIL, f"cannot evaluate: {exc}"))
    out.append(check_finiteness(values))
    return sort_checks(out)


def sort_checks(checks: list[Check]) -> list[Check]:
    """Checks ordered by stage (config first), stable within a stage."""
    return sorted(checks, key=lambda c: CHECK_STAGES.index(c.stage) if c.stage in CHECK_STAGES
                  else len(CHECK_STAGES))


def first_failure(checks: list[Check]) -> Check | None:
    """The earliest failing check in stage order, or None."""
    for c in sort_checks(checks):
        if c.failed:
            return c
    return None
