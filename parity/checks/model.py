"""Checks of the forward stage: the untrained, seeded model as built (scale weights, output
shape, trainable weights, canvas, physics head, reassembly, batch independence, activations;
docs/design.md §7)."""
from __future__ import annotations

import math

from ..tolerances import rel_diff
from .kit import CheckContext, Result, bound_check, parts_check, passed
from .registry import check


@check("forward")
def check_forward_scales(v, ctx: CheckContext) -> Result:
    """The model's scale weights equal the external scales (input s_cf; output = label scale)."""
    tol = ctx.tol("forward_scales")
    rin = rel_diff(v["forward.input_scale_weight"], v["forward.external_input_scale"])
    rout = rel_diff(v["forward.output_scale_weight"], v["labels.scale"])
    worst = max(rin, rout)
    ok = (math.isfinite(float(v["forward.input_scale_weight"]))
          and math.isfinite(float(v["forward.output_scale_weight"])) and worst <= tol)
    return Result(worst, tol, passed(ok),
                  f"input weight {v['forward.input_scale_weight']:.7g} vs "
                  f"{v['forward.external_input_scale']:.7g}; output weight "
                  f"{v['forward.output_scale_weight']:.7g} vs label scale {v['labels.scale']:.7g}")


@check("forward")
def check_forward_output_shape(v, ctx: CheckContext) -> Result:
    """Per-group output: counts shape == (B, N, N, C) of the input, for every B."""
    got, want = list(v["forward.output_shape"]), list(v["forward.input_shape"])
    return Result(got, want, passed(got == want), f"output {got} vs input {want}")


@check("forward")
def check_trainable_weights(v, ctx: CheckContext) -> Result:
    """Scale/probe weights are in trainable_weights exactly when configured trainable."""
    got, want = sorted(v["forward.trainable_special"]), sorted(v["forward.expected_trainable"])
    return Result(got, want, passed(got == want),
                  f"trainable scale/probe weights {got}, configured {want}")


@check("forward")
def check_model_canvas_fit(v, ctx: CheckContext) -> Result:
    """The canvas the built reassembly layer actually builds (measured: the largest group
    offset it carries without loss, parity.consistency.canvas_capacity) holds the largest
    relative offset of the data."""
    need, have = int(v["group.canvas_required"]), int(v["forward.canvas"])
    return Result(have, need, passed(have >= need),
                  f"measured model canvas {have} px (carries offsets up to "
                  f"{v['forward.canvas_capacity']} px of {v['forward.canvas_probe_offsets']} "
                  f"probed) vs required {need} px (max |coords_relative| "
                  f"{v['group.max_abs_coords_relative']:.3f} px)")


@check("forward")
def check_forward_consistency(v, ctx: CheckContext) -> Result:
    """The model's physics head after the decoders (probe, diffraction, output scaler,
    square) on the ground-truth patches, scaled by the amplitude ratio the labels imply,
    reproduces the simulator's expected count labels (max error relative to each pattern's
    max). Ties simulator and model: a shift, flip, conjugation or sign difference fails."""
    return bound_check(ctx, v["forward.consistency.max_rel_error"], "forward_consistency",
                       "max |head(r*Y) - E[labels]| / max E[labels]")


@check("forward")
def check_reassembly_roundtrip(v, ctx: CheckContext) -> Result:
    """The built reassembly layer returns ground-truth patches (whole-pixel group geometry)
    unchanged on their support, and the object where neighbours cover them."""
    return parts_check(ctx, [("own support", v["forward.reassembly.own_support_error"]),
                             ("covered", v["forward.reassembly.covered_error"])],
                       "reassembly_roundtrip", "reassembly of ground-truth patches")


@check("forward")
def check_batch_independence(v, ctx: CheckContext) -> Result:
    """Sample 0's output does not change when every other sample of its batch is perturbed
    (whole network; physics head with >= 64 patterns)."""
    return parts_check(ctx, [("network counts", v["forward.batch.counts_change"]),
                             ("network object", v["forward.batch.object_change"]),
                             ("head counts", v.get("forward.batch.head_counts_change", 0.0))],
                       "batch_independence", "relative change of sample 0")


@check("forward")
def check_activation_ceiling(v, ctx: CheckContext) -> Result:
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
    return Result(dev, tol, passed(ok), f"{what}; min {low:.3g} (rel {dev:.3g}, bound {tol:g})")


@check("forward")
def check_phase_range(v, ctx: CheckContext) -> Result:
    """The built phase activation spans (-pi, pi): its measured extremes reach +-pi."""
    tol = ctx.tol("phase_range")
    top, low = float(v["forward.phase.output_max"]), float(v["forward.phase.output_min"])
    dev = max(rel_diff(top, math.pi), rel_diff(low, -math.pi))
    return Result(dev, tol, passed(dev <= tol),
                  f"phase activation range [{low:.7g}, {top:.7g}] vs [-pi, pi] (rel {dev:.3g}, "
                  f"bound {tol:g})")
