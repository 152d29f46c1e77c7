"""Checks of the data stages: probe, simulate, group, normalize, scale, container,
network_input (docs/design.md §3, §4). Each reads the record's flat values and the ledger bounds."""
from __future__ import annotations

import math

from ..oracle import engine_agrees
from ..tolerances import rel_diff
from .kit import CheckContext, Result, passed, rel_check
from .registry import check


@check("probe")
def check_probe_normalization(v, ctx: CheckContext) -> Result:
    """mean |P*M| = 1/probe_scale (docs/design.md §3)."""
    return rel_check(ctx, v["probe.mean_abs_masked"], v["probe.target_mean_abs_masked"],
                     "probe_normalization", "mean|P*M| vs 1/probe_scale")


@check("simulate")
def check_simulate_energy(v, ctx: CheckContext) -> Result:
    """E[sum X_raw^2] = E[sum |Psi|^2] up to Poisson noise (docs/design.md §3 step 4)."""
    return rel_check(ctx, v["simulate.diff3d.mean_sum_xy_sq"], v["simulate.mean_exit_energy"],
                     "simulate_energy", "E[sum X_raw^2] vs E[sum |Psi|^2]")


@check("simulate")
def check_engine_agrees(v, ctx: CheckContext) -> Result | None:
    """An independent engine (PtyLab ePIE) reconstructs the simulated object from our data,
    probe and positions (parity.oracle; None: the scenario runs no oracle)."""
    res = engine_agrees(v, ctx.tol)
    if res is None:
        return None
    value, bound, ok, detail = res
    return Result(value, bound, passed(ok), detail)


@check("group")
def check_canvas_fit(v, ctx: CheckContext) -> Result:
    """The planned model canvas holds every patch of the group at its relative offset."""
    need, have = int(v["group.canvas_required"]), int(v["group.canvas_planned"])
    return Result(have, need, passed(have >= need),
                  f"planned canvas {have} px vs required {need} px "
                  f"(max |coords_relative| {v['group.max_abs_coords_relative']:.3f} px)")


@check("group")
def check_group_centroid(v, ctx: CheckContext) -> Result:
    """coords_relative = -(coords - centroid): the channels of a group sum to zero."""
    tol = ctx.tol("group_centroid")
    scale = max(1.0, float(v["group.max_abs_coords_relative"]))
    value = float(v["group.centroid_residual"]) / scale
    return Result(value, tol, passed(value <= tol),
                  f"max |sum_c coords_relative| / max(1, max|coords_relative|) = {value:.3g}")


@check("normalize")
def check_normalization_energy(v, ctx: CheckContext) -> Result:
    """E[sum X_norm^2] = (N/2)^2 with X_norm = g*X_raw (docs/design.md §4)."""
    return rel_check(ctx, v["normalize.energy_norm"], v["normalize.target_energy"],
                     "normalization_energy", "E[sum X_norm^2] vs (N/2)^2")


@check("scale")
def check_scale_identity(v, ctx: CheckContext) -> Result:
    """s = g * s_cf: fails when s_cf is used instead of the dataset scale, or s is computed on
    normalized data (both give s = s_cf)."""
    return rel_check(ctx, v["scale.s"], v["scale.g_s_cf"], "scale_identity",
                     "dataset scale s vs g*s_cf")


@check("scale")
def check_scale_energy(v, ctx: CheckContext) -> Result:
    """The energy behind s is E of the raw data (not of X_norm, not summed over channels)."""
    return rel_check(ctx, v["scale.energy"], v["normalize.E"], "scale_energy",
                     "energy used by the scale vs E[sum X_raw^2]")


@check("scale")
def check_scale_source(v, ctx: CheckContext) -> Result:
    """The dataset-derived scale is used whenever E is finite and > 0 (fallback otherwise)."""
    energy = v["normalize.E"]
    usable = isinstance(energy, (int, float)) and math.isfinite(energy) and energy > 0
    expected = "dataset" if usable else "closed_form"
    got = v["scale.source"]
    return Result(got, expected, passed(got == expected),
                  f"source {got!r} (reason: {v['scale.reason']}); expected {expected!r}")


@check("container")
def check_container_lazy(v, ctx: CheckContext) -> Result:
    """Scale statistics read numpy storage only: the container's tensor cache stays empty."""
    n = int(v["container.tensor_cache_size"])
    return Result(n, 0, passed(n == 0), f"{n} cached tensor(s) after the numpy-only statistics")


@check("container")
def check_container_scale(v, ctx: CheckContext) -> Result:
    """calculate_intensity_scale(container, nphotons) on the containers the replay builds (raw
    and fed) equals the plan's dataset scale s, with the same source."""
    tol = ctx.tol("container_scale")
    s = v["scale.s"]
    rd = max(rel_diff(v["container.intensity_scale"], s), rel_diff(v["container.fed_intensity_scale"], s))
    sources = [v["container.intensity_scale_source"], v["container.fed_intensity_scale_source"]]
    ok = math.isfinite(rd) and rd <= tol and all(x == v["scale.source"] for x in sources)
    return Result(rd, tol, passed(ok),
                  f"calculate_intensity_scale raw {v['container.intensity_scale']:.9g}, fed "
                  f"{v['container.fed_intensity_scale']:.9g} vs plan s {s:.9g} (rel {rd:.3g}, "
                  f"rtol {tol:g}); sources {sources} vs {v['scale.source']!r}")


@check("network_input")
def check_network_input_energy(v, ctx: CheckContext) -> Result:
    """The network sees g*X_raw in both profiles: E[sum input^2] = (N/2)^2."""
    return rel_check(ctx, v["network_input.mean_sum_xy_sq"], v["network_input.target_energy"],
                     "network_input_energy", "E[sum input^2] vs (N/2)^2")
