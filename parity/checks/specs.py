"""Checks of the stage specifications (issue 16 §2, docs/specifications.md): what each stage's
output must satisfy whatever the implementation, measured by `parity.specs` against references
recomputed independently (the documented recipes, brute-force numpy) and recorded as
`<stage>.spec.*` telemetry in the tiny tier.

A check applies where its stage recorded specification values (`<stage>.spec.*`; other tiers
record none) and returns None where the specification does not apply to the scenario (the lines
object, the ideal probe's geometry, the C = 1 head, the training contract on the replays that
run it); once it applies, a missing key is a failure naming it. Bounds: `spec_*` in
golden/tolerances.toml (absolute/relative errors of the references, exact counts).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from ..specs.scan import ks_bound
from ..specs.simulate import SIGMAS
from .kit import CheckContext, Result, parts_check, passed
from .registry import check

PREFIX = "spec."


def _spec(v: Mapping[str, Any], stage: str) -> Callable[[str], Any] | None:
    """A getter of `<stage>.spec.<name>` (KeyError naming the full key when missing), or None
    when the stage recorded no specification values."""
    head = f"{stage}.{PREFIX}"
    if not any(k.startswith(head) for k in v):
        return None
    return lambda name: v[head + name]


def _flag(ok: Any) -> float:
    """A specification flag (shape/dtype as documented) as a deviation: 0 when True, inf else."""
    return 0.0 if ok is True else math.inf


def _count(n: Any) -> float:
    """An exact count as a deviation (None when missing -> inf in parts_check)."""
    return None if n is None else float(n)


# --------------------------------------------------------------------------------- object
@check("object")
def check_spec_object_recipe(v, ctx: CheckContext) -> Result | None:
    """The lines object equals the documented recipe (400 seeded segments on a 2S canvas,
    g1 + 2 g5 + 5 g10 blur, centre crop to S, complex64), rebuilt here with its own rasterizer:
    max |O| - O_ref| / max O_ref."""
    s = _spec(v, "object")
    if s is None:
        return None
    return parts_check(ctx, [("shape (S, S)", _flag(s("shape_ok"))),
                             ("complex64", _flag(s("complex64"))),
                             ("|O| vs recipe", s("reference_error"))],
                       "spec_object_recipe", "lines object vs the documented recipe")


@check("object")
def check_spec_object_range(v, ctx: CheckContext) -> Result | None:
    """Whatever the seed, the amplitude lies in [0, 1 + 2 + 5] (normalized filters of a {0, 1}
    canvas) and the default phase is 0."""
    s = _spec(v, "object")
    if s is None:
        return None
    lo, hi, ceiling = float(s("amplitude_min")), float(s("amplitude_max")), float(s("amplitude_ceiling"))
    return parts_check(ctx, [("below 0", max(0.0, -lo)), ("above ceiling", max(0.0, hi - ceiling)),
                             ("|phase|", s("phase_max_abs"))],
                       "spec_object_range", f"amplitude in [0, {ceiling:g}], phase 0")


@check("object")
def check_spec_object_options(v, ctx: CheckContext) -> Result | None:
    """Options change only what they document: normalize='max' rescales to max 1 (same shape);
    phase='coupled' keeps the amplitude and sets the phase pi*tanh((A - max/2)/(3 mean))."""
    s = _spec(v, "object")
    if s is None:
        return None
    return parts_check(ctx, [("normalize max-1", s("normalize_max_error")),
                             ("normalize shape", s("normalize_shape_error")),
                             ("coupled amplitude", s("coupled_amplitude_error")),
                             ("coupled phase (rad)", s("coupled_phase_error"))],
                       "spec_object_options", "lines_object options")


@check("object")
def check_spec_object_grf(v, ctx: CheckContext) -> Result | None:
    """The Gaussian-random-field generator equals its documented recipe (two independent
    seeded fields, amplitude first, Fourier Gaussian filter, standardized; amplitude mapped
    onto amplitude_range, phase phase_std * field clipped to [-pi, pi]) on two non-square
    cases, and its amplitude spans amplitude_range exactly."""
    s = _spec(v, "object")
    if s is None or "object.spec.grf_reference_error" not in v:
        return None
    return parts_check(ctx, [("shape/dtype", _flag(s("grf_shape_ok"))),
                             ("O vs recipe", s("grf_reference_error")),
                             ("amplitude span", s("grf_span_error"))],
                       "spec_object_grf", "grf_object vs its documented recipe")


# ---------------------------------------------------------------------------------- probe
@check("probe")
def check_spec_probe_recipe(v, ctx: CheckContext) -> Result | None:
    """The normalized probe equals the documented recipe (ideal: Gaussian window of std
    N/(default_probe_scale pi^2), disk > 0.5, sigma-1 smoothing, + 1e-9; experimental: the
    bundled probeGuess) divided by probe_scale * mean|P*M|; (N, N) complex64."""
    s = _spec(v, "probe")
    if s is None:
        return None
    return parts_check(ctx, [("shape/dtype", _flag(s("shape_ok"))),
                             ("P vs recipe", s("reference_error"))],
                       "spec_probe_recipe", "probe vs the documented recipe")


@check("probe")
def check_spec_probe_mask(v, ctx: CheckContext) -> Result | None:
    """The probe mask is the disk r < N//4 about ((N-1)/2, (N-1)/2): pixels that differ."""
    s = _spec(v, "probe")
    if s is None:
        return None
    return parts_check(ctx, [("mask pixels differing", _count(s("mask_pixel_errors")))],
                       "spec_probe_mask", "probe_mask vs the documented disk")


@check("probe")
def check_spec_probe_scale(v, ctx: CheckContext) -> Result | None:
    """probe_scale * mean|P*M| = 1 with the documented mask, and the probe_scale option changes
    the scale only: normalize(P_raw, 2a) = P(a)/2."""
    s = _spec(v, "probe")
    if s is None:
        return None
    return parts_check(ctx, [("probe_scale*mean|P*M| - 1", s("normalization_error")),
                             ("normalize(2a) vs P/2", s("scale_option_error"))],
                       "spec_probe_scale", "probe_scale normalization")


@check("probe")
def check_spec_probe_geometry(v, ctx: CheckContext) -> Result | None:
    """The ideal probe is centred (|P|^2 centroid at ((N-1)/2, (N-1)/2), px) and equals its
    transpose and its 180-degree rotation (None: experimental probe, no such specification)."""
    s = _spec(v, "probe")
    if s is None or s("centre_offset") is None:
        return None
    return parts_check(ctx, [("centroid offset (px)", s("centre_offset")),
                             ("symmetry", s("symmetry_error"))],
                       "spec_probe_geometry", "ideal probe geometry")


# ----------------------------------------------------------------------------------- scan
@check("scan")
def check_spec_scan_bounds(v, ctx: CheckContext) -> Result | None:
    """Exactly n positions, all within [N/2, S - N/2] on both axes (every patch inside)."""
    s = _spec(v, "scan")
    if s is None:
        return None
    return parts_check(ctx, [("count error", _count(s("count_error"))),
                             ("outside [b, S-b] (px)", s("bounds_violation"))],
                       "spec_scan_bounds", "scan positions")


@check("scan")
def check_spec_scan_stream(v, ctx: CheckContext) -> Result | None:
    """The random scan is one (n, 2) block [x, y] of uniforms from the scan stream
    (SeedSequence(seed, spawn_key=(0,))) mapped affinely to [b, S - b]: max deviation in px."""
    s = _spec(v, "scan")
    if s is None:
        return None
    return parts_check(ctx, [("vs documented draw (px)", s("reference_error"))],
                       "spec_scan_stream", "random scan vs its documented stream")


@check("scan")
def check_spec_scan_uniformity(v, ctx: CheckContext) -> Result | None:
    """Each axis of the random scan passes a Kolmogorov-Smirnov test of uniformity on
    [b, S - b] at the ledger's false-alarm rate: bound sqrt(-ln(alpha/2)/(2n))."""
    s = _spec(v, "scan")
    if s is None:
        return None
    alpha = ctx.tol("spec_scan_uniformity_alpha")
    n = int(s("n"))
    bound = ks_bound(n, alpha) if n else 0.0
    ks = max(float(s("ks_x")), float(s("ks_y")))
    ok = n > 0 and math.isfinite(ks) and ks <= bound
    return Result(ks, bound, passed(ok),
                  f"KS distance x {float(s('ks_x')):.3g}, y {float(s('ks_y')):.3g} vs critical "
                  f"{bound:.3g} (n = {n}, alpha {alpha:g})")


@check("scan")
def check_spec_scan_raster(v, ctx: CheckContext) -> Result | None:
    """The raster option: b + k*offset <= S - b on both axes, row-major, spacing exactly
    offset (max deviation in px; inf on a wrong count)."""
    s = _spec(v, "scan")
    if s is None:
        return None
    return parts_check(ctx, [("vs documented grid (px)", s("raster_error"))],
                       "spec_scan_raster", "raster_scan")


# ------------------------------------------------------------------------------- simulate
@check("simulate")
def check_spec_simulate_scale(v, ctx: CheckContext) -> Result | None:
    """s_sim = sqrt(nphotons / mean_p sum|Psi|^2) and the recorded mean exit energy is that
    mean, with Psi = P * O_patch (* M) from an independent bilinear sampler; float32 (M, N, N)."""
    s = _spec(v, "simulate")
    if s is None:
        return None
    return parts_check(ctx, [("shape/dtype", _flag(s("shape_ok"))),
                             ("s_sim", s("s_sim_error")),
                             ("mean exit energy", s("exit_energy_error"))],
                       "spec_simulate_scale", "simulation scale vs independent exit waves")


@check("simulate")
def check_spec_simulate_integer(v, ctx: CheckContext) -> Result | None:
    """The counts (s_sim * X_raw)^2 are integers (Poisson draws): max |k - round(k)|/max(1, k)."""
    s = _spec(v, "simulate")
    if s is None:
        return None
    return parts_check(ctx, [("non-integer counts", s("integer_error"))],
                       "spec_simulate_integer", "integer counts")


@check("simulate")
def check_spec_simulate_poisson(v, ctx: CheckContext) -> Result | None:
    """k ~ Poisson(mu), mu = s_sim^2 * fftshift(|FFT2 Psi|^2)/N^2 (independent numpy far
    field): the pixelwise mean of (k - mu)^2/mu is 1 within 6 sampling sigmas (+ the ledger's
    systematic allowance); each pattern's total and the dataset's total (M * nphotons) within 6
    Poisson sigmas."""
    s = _spec(v, "simulate")
    if s is None:
        return None
    tol = ctx.tol("spec_simulate_poisson")
    z2, pz, dz = float(s("poisson_z2_excess")), float(s("pattern_z_max")), float(s("dose_z"))
    # excess of each statistic over its bound (<= 0 passes; NaN never does)
    excess = max(z2 - tol, abs(pz) - SIGMAS, abs(dz) - SIGMAS)
    ok = math.isfinite(excess) and excess <= 0.0
    return Result(excess, 0.0, passed(ok),
                  f"Poisson statistics vs an independent far field ({int(s('poisson_pixels'))} "
                  f"px): |mean z^2 - 1| beyond {SIGMAS:g} sampling sigmas {z2:.3g} (allowance "
                  f"{tol:g}), max pattern |z| {abs(pz):.3g}, dataset dose |z| {abs(dz):.3g} "
                  f"(bound {SIGMAS:g} sigma); worst excess {excess:.3g}")


# ---------------------------------------------------------------------------------- group
@check("group")
def check_spec_group_membership(v, ctx: CheckContext) -> Result | None:
    """Members are distinct valid indices; 'current': n_groups distinct sorted seeds, C of the K
    nearest neighbours excluding the seed; 'legacy': every point a seed, C of the K + 1 nearest
    including it; C = 1: the seed itself (brute-force distances, ties allowed)."""
    s = _spec(v, "group")
    if s is None:
        return None
    return parts_check(ctx, [("groups violating membership", _count(s("membership_violations"))),
                             ("seeds not as documented", _count(s("seed_violations")))],
                       "spec_group_membership", "group membership")


@check("group")
def check_spec_group_order(v, ctx: CheckContext) -> Result | None:
    """Channels are in row-major geometric order (sort by (y, x), cut into gridsize rows, each
    sorted by (x, y)): groups out of order."""
    s = _spec(v, "group")
    if s is None:
        return None
    return parts_check(ctx, [("groups out of order", _count(s("order_violations")))],
                       "spec_group_order", "channel order")


@check("group")
def check_spec_group_coordinates(v, ctx: CheckContext) -> Result | None:
    """coords_offsets is the members' centroid and coords_relative = -(p - centroid) (px)."""
    s = _spec(v, "group")
    if s is None:
        return None
    return parts_check(ctx, [("coords (px)", s("coords_error"))],
                       "spec_group_coordinates", "group coordinates")


@check("group")
def check_spec_group_gather(v, ctx: CheckContext) -> Result | None:
    """Channel c of group b is the raw pattern nn[b, c] bit for bit, and the ground-truth patch
    is the object at that member's own position (independent bilinear sampler, / max|O|)."""
    s = _spec(v, "group")
    if s is None:
        return None
    mism = int(s("diffraction_mismatches"))
    truth = s("truth_error")
    parts = [(f"channels not their raw pattern ({mism}, exact)", 0.0 if mism == 0 else math.inf)]
    if truth is not None:       # None: a scenario without ground truth
        parts.append(("truth patches vs O at the member's position", truth))
    return parts_check(ctx, parts, "spec_group_truth", "gathered channels and truth patches")


# ------------------------------------------------------------------- normalize ... labels
def _reference(v, ctx, stage: str, parts: list[tuple[str, str]], what: str) -> Result | None:
    s = _spec(v, stage)
    if s is None:
        return None
    return parts_check(ctx, [(lab, s(key)) for lab, key in parts], "spec_scaling_reference", what)


@check("normalize")
def check_spec_normalize_reference(v, ctx: CheckContext) -> Result | None:
    """E = mean over patterns (b and c) of sum_xy X_raw^2, g = sqrt((N/2)^2/E), X_norm = g*X_raw,
    recomputed in float64 from the grouped raw amplitudes (relative errors)."""
    return _reference(v, ctx, "normalize", [("E", "energy_error"), ("g", "gain_error"),
                                            ("X_norm", "x_norm_error")],
                      "normalization vs float64 recomputation")


@check("scale")
def check_spec_scale_reference(v, ctx: CheckContext) -> Result | None:
    """s = sqrt(nphotons/E), s_cf = sqrt(nphotons)/(N/2), the dataset source whenever E is
    usable, and the plan of docs/design.md §4 (input scaler s_cf; output scaler = label scale s for the
    dataset source, s_cf for the closed form; feed gain g normalized, 1 raw)."""
    s = _spec(v, "scale")
    if s is None:
        return None
    return parts_check(ctx, [("source", _flag(s("source_ok"))), ("s", s("s_error")),
                             ("s_cf", s("s_cf_error")), ("E", s("energy_error")),
                             ("plan scalars", s("plan_error"))],
                       "spec_scaling_reference", "scale plan vs docs/design.md §4 recomputed")


@check("container")
def check_spec_container_reference(v, ctx: CheckContext) -> Result | None:
    """The raw container holds X_raw, |Y|, angle(Y) and coords_relative; the fed one
    feed_gain * X_raw."""
    s = _spec(v, "container")
    if s is None:
        return None
    truth = s("truth_error")
    parts = [("X", s("x_error")), ("fed X", s("fed_x_error")), ("coords (px)", s("coords_error"))]
    if truth is not None:
        parts.append(("Y_I/Y_phi", truth))
    return parts_check(ctx, parts, "spec_scaling_reference", "containers vs the grouped data")


@check("network_input")
def check_spec_network_input_reference(v, ctx: CheckContext) -> Result | None:
    """The network input after its scaler is g * X_raw in both profiles (relative)."""
    return _reference(v, ctx, "network_input", [("input", "input_error")],
                      "network input vs g*X_raw")


@check("labels")
def check_spec_labels_reference(v, ctx: CheckContext) -> Result | None:
    """The labels are L*X_raw and (L*X_raw)^2, L = output scaler * feed gain (= s in both
    built-in profiles), so the mean counts per pattern are L^2 E = nphotons."""
    return _reference(v, ctx, "labels", [("amplitude", "amplitude_error"),
                                         ("counts", "counts_error"), ("dose", "dose_error")],
                      "labels vs L*X_raw")


# ---------------------------------------------------------------------------------- train
@check("forward")
def check_spec_forward_object(v, ctx: CheckContext) -> Result | None:
    """The model's object is its amplitude decoder's output times exp(+i x) its phase
    decoder's output (not the conjugate, not swapped), on the model's own intermediate tensors:
    max |object - A exp(i phi)| / max A."""
    s = _spec(v, "forward")
    if s is None:
        return None
    return parts_check(ctx, [("A exp(i phi)", s("composition_error"))],
                       "spec_forward_object", "object vs amplitude x exp(i phase)")


@check("train")
def check_spec_train_split(v, ctx: CheckContext) -> Result | None:
    """The training/validation split (ptycho.train.split_indices on the fed groups) is disjoint,
    covers every group, and validation holds round(validation_split x B) groups: counts."""
    s = _spec(v, "train")
    if s is None:
        return None
    return parts_check(ctx, [("groups in both", _count(s("split.overlap"))),
                             ("groups in neither", _count(s("split.missing"))),
                             ("validation size", _count(s("split.validation_size_error")))],
                       "spec_train_split", "training/validation split")


@check("train")
def check_spec_train_contract(v, ctx: CheckContext) -> Result | None:
    """The product's training loop (ptycho.train.train, a few eager steps on one batch): the
    loss after the updates is below the loss before any; every trainable weight changes and no
    non-trainable one does; the scale weights move exactly when configured trainable
    (forward.expected_trainable). None: the replay runs no contract (parity.specs.measure)."""
    s = _spec(v, "train")
    if s is None or "train.spec.steps" not in v:
        return None
    tol = ctx.tol("spec_train_contract")
    want_scales = sorted(set(v["forward.expected_trainable"]) & {"input_scaler", "output_scaler"})
    moved = sorted(s("scales_moved"))
    unchanged, frozen = list(s("unchanged_trainable")), list(s("changed_frozen"))
    decrease = float(s("loss_decrease"))
    parts = [("steps", int(s("steps")) >= 2), ("loss decreases", math.isfinite(decrease)
                                               and decrease > tol),
             ("every trainable weight moves", not unchanged),
             ("no frozen weight moves", not frozen), ("scales move as configured",
                                                      moved == want_scales)]
    failed = [lab for lab, p in parts if not p]
    return Result(len(failed), 0, passed(not failed),
                  f"{int(s('steps'))} steps: loss {float(s('loss_first')):.6g} -> "
                  f"{float(s('loss_last')):.6g} (relative decrease {decrease:.3g}, bound > {tol:g}); "
                  f"trainable weights that did not move {unchanged[:4]}; frozen weights that "
                  f"moved {frozen[:4]}; scales moved {moved} vs configured {want_scales}"
                  + (f"; failed: {', '.join(failed)}" if failed else ""))


# ---------------------------------------------------------------------------------- infer
@check("infer")
def check_spec_infer_path(v, ctx: CheckContext) -> Result | None:
    """ptycho.inference.reconstruct on a few groups of the untrained model returns (B, N, N, C)
    complex64, finite, equal to the training model's object for the same input
    external_scale * X_fed whatever the batch size (relative to max)."""
    s = _spec(v, "infer")
    if s is None:
        return None
    return parts_check(ctx, [("shape/dtype", _flag(s("shape_ok"))),
                             ("non-finite", _count(s("nonfinite"))),
                             ("vs training model", s("forward_agreement"))],
                       "spec_infer_path", f"reconstruct() on {s('groups')} group(s)")


@check("infer")
def check_spec_infer_units(v, ctx: CheckContext) -> Result | None:
    """The reconstructed patch is the object the physics head diffracts: for C = 1 the model's
    predicted counts equal (s_out |FFT2(P M patch)|/N)^2 by an independent numpy head (None:
    C > 1, whose head reassembles the group first)."""
    s = _spec(v, "infer")
    if s is None or s("head_error") is None:
        return None
    return parts_check(ctx, [("counts vs numpy head", s("head_error"))],
                       "spec_infer_units", "inferred patch units")


# --------------------------------------------------------------------------------- stitch
@check("stitch")
def check_spec_stitch_reference(v, ctx: CheckContext) -> Result | None:
    """Global positions (coords_offsets - coords_relative) are the members' raw scan positions,
    and the stitched image equals a brute-force paste-and-average of the central crops (area
    weights over the four canvas pixels around each position); on ground-truth and on
    reconstructed patches."""
    s = _spec(v, "stitch")
    if s is None:
        return None
    runs = sorted({k.split(".")[2] for k in v if k.startswith("stitch." + PREFIX)})
    parts = []
    for run in runs:
        parts += [(f"{run} positions (px)", s(f"{run}.position_error")),
                  (f"{run} image", s(f"{run}.image_error")),
                  (f"{run} weights", s(f"{run}.weight_error"))]
    return parts_check(ctx, parts, "spec_stitch_reference", "stitch vs brute force")


# ------------------------------------------------------------------------------- evaluate
@check("evaluate")
def check_spec_evaluate_registration(v, ctx: CheckContext) -> Result | None:
    """The registration reports a known displacement with its documented sign: the object's
    amplitude moved by KNOWN_SHIFT whole pixels (recon(r) = truth(r - shift)) registers to
    that shift on the object's central half, converged; max axis error in pixels."""
    s = _spec(v, "evaluate")
    if s is None:
        return None
    return parts_check(ctx, [("shift (px)", s("registration.shift_error")),
                             ("converged", _flag(s("registration.converged")))],
                       "spec_evaluate_registration", "registration of a known shift")


@check("evaluate")
def check_spec_evaluate_reference(v, ctx: CheckContext) -> Result | None:
    """The amplitude metrics on the covered pixels equal their definitions: Pearson r by
    np.corrcoef, RMSE, MAE, relative RMSE, LS scalar sum(ab)/sum(b^2), PSNR (relative). None
    where no reconstruction was stitched for it (`evaluate.spec.pixels` absent: a training
    replay's evaluate stage judges its own trained stitch)."""
    s = _spec(v, "evaluate")
    if s is None or "evaluate.spec.pixels" not in v:
        return None
    return parts_check(ctx, [(m, s(f"{m}_error")) for m in
                             ("pearson", "rmse", "mae", "rel_rmse", "ls_scalar", "psnr")],
                       "spec_evaluate_reference", "amplitude metrics vs definitions")
