"""The data stages (docs/design.md §3, §4, §6): object, probe, scan, simulate, group, normalize,
scale, container, network_input. Profile-independent: E, g, s, s_cf, the raw container and the
network input (g*X_raw in both profiles)."""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ptycho.canvas import canvas_padding
from ptycho.scaling import apply_gain

from .. import oracle
from ..positions import correlation, position_stats
from ..telemetry import array_stats, prefixed
from .common import held_out_seed, image_stats
from .state import StageState


def stage_object(st: StageState) -> dict[str, Any]:
    """Lines object (H, W) complex64, un-normalized (docs/design.md §3), seeded by config.seed."""
    from ptycho.objects import lines_object

    obj = lines_object(st.sizes.object_size, seed=st.config.seed)
    st.art.object = obj
    out = {"kind": st.scenario.object_kind, "size": st.sizes.object_size}
    out.update(image_stats("amplitude", np.abs(obj)))
    out["phase_max_abs"] = float(np.max(np.abs(np.angle(obj))))
    if st.sizes.split == "object":  # the held-out object (another seed, same generator)
        held_out = lines_object(st.sizes.object_size, seed=held_out_seed(st))
        st.art.object_test = held_out
        out["held_out.seed"] = held_out_seed(st)
        out["held_out.amplitude_mean"] = float(np.mean(np.abs(held_out)))
        out["held_out.correlation"] = correlation(np.abs(held_out), np.abs(obj))
    return out


def stage_probe(st: StageState) -> dict[str, Any]:
    """Normalized probe (ptycho.probe.make_probe) and the optional mask M."""
    from ptycho.probe import make_probe, probe_mask

    P = make_probe(st.config.model, source=st.scenario.probe)
    mask = probe_mask(st.N)
    st.art.probe = P
    st.art.mask = mask if st.config.model.probe_mask else None
    P64 = P.astype(np.complex128)
    out = {"source": st.scenario.probe, "probe_scale": st.config.model.probe_scale,
           "mask_applied": bool(st.config.model.probe_mask)}
    out.update(image_stats("amplitude", np.abs(P64)))
    out["max_abs"] = float(np.max(np.abs(P64)))
    out["sum_sq"] = float(np.sum(np.abs(P64) ** 2))
    out["mean_abs_masked"] = float(np.mean(np.abs(P64 * mask)))
    out["target_mean_abs_masked"] = 1.0 / st.config.model.probe_scale
    out["mask_pixels"] = int(np.count_nonzero(mask))
    return out


def stage_scan(st: StageState) -> dict[str, Any]:
    """Random scan (ptycho.simulate.random_scan), buffer N/2; optional train/test split in y;
    split 'object': a second scan (held-out seed) over the held-out object, rounded to whole
    pixels (ptycho.oracle.agreement.oracle_scan) so that ePIE reconstructs the same data."""
    from scipy.spatial import cKDTree

    from ptycho.oracle.agreement import oracle_scan
    from ptycho.simulate import random_scan

    size = st.sizes.object_size
    buffer = st.N / 2
    x, y = random_scan((size, size), st.sizes.n_images, buffer=buffer, seed=st.config.seed)
    st.art.xcoords, st.art.ycoords = x, y
    if st.sizes.split == "y":
        train = np.flatnonzero(y < size / 2)
        st.art.split = (train, np.flatnonzero(y >= size / 2))
    else:
        st.art.split = None
    if st.sizes.split == "object":  # whole pixels: the oracle (ePIE) reconstructs it too
        st.art.test_xy = oracle_scan((size, size), st.sizes.n_images, buffer=buffer,
                                        seed=held_out_seed(st))
    dist, _ = cKDTree(np.stack([x, y], axis=1)).query(np.stack([x, y], axis=1), k=2)
    out = {"kind": st.scenario.scan, "n_points": int(x.shape[0]), "buffer": float(buffer),
           "x_min": float(x.min()), "x_max": float(x.max()), "y_min": float(y.min()),
           "y_max": float(y.max()), "mean_nn_distance": float(np.mean(dist[:, 1])),
           "split": st.sizes.split}
    if st.art.split is not None:
        out["n_train"] = int(st.art.split[0].size)
        out["n_test"] = int(st.art.split[1].size)
    return out


def stage_simulate(st: StageState) -> dict[str, Any]:
    """Poisson simulation (ptycho.simulate.simulate_dataset) -> RawData, X_raw amplitudes."""
    from ptycho.simulate import simulate_dataset

    raw = simulate_dataset(st.art.object, st.art.probe, st.art.xcoords,
                           st.art.ycoords, nphotons=st.config.nphotons, seed=st.config.seed,
                           mask=st.art.mask,
                           provenance={"object": "lines", "probe": st.scenario.probe,
                                       "scenario": st.scenario.name})
    st.art.raw = raw
    if st.art.has("object_test"):
        xt, yt = st.art.test_xy
        st.art.raw_test = simulate_dataset(
            st.art.object_test, st.art.probe, xt, yt, nphotons=st.config.nphotons,
            seed=held_out_seed(st), mask=st.art.mask,
            provenance={"object": "lines (held out)", "probe": st.scenario.probe,
                        "scenario": st.scenario.name})
    stats = array_stats(raw.diff3d)
    s_sim = float(raw.metadata["s_sim"])
    out = {"nphotons": float(raw.metadata["nphotons"]), "s_sim": s_sim,
           "mean_exit_energy": float(raw.metadata["mean_exit_energy"])}
    out.update(prefixed("diff3d", stats))
    out.update(prefixed("diff3d", position_stats(raw.diff3d, diffraction=True)))
    out["mean_counts_per_pattern"] = s_sim ** 2 * stats["mean_sum_xy_sq"]
    if st.art.has("raw_test"):
        out["held_out.s_sim"] = float(st.art.raw_test.metadata["s_sim"])
        out["held_out.diff3d_mean"] = float(np.mean(st.art.raw_test.diff3d, dtype=np.float64))
    out.update(oracle.stage_values(st))  # engine_agrees: oracle scenarios only
    return out


def stage_group(st: StageState) -> dict[str, Any]:
    """Neighbour groups (ptycho.grouping.group) and the canvas they need."""
    from ptycho.grouping import group

    raw = st.art.raw
    if st.art.split is not None:
        raw = raw.subset(st.art.split[0])
    cfg = st.config
    grouped = group(raw, gridsize=cfg.model.gridsize, n_groups=cfg.n_groups,
                    neighbor_count=cfg.neighbor_count, strategy=cfg.grouping_strategy,
                    seed=cfg.seed)
    st.art.grouped = grouped
    max_abs = grouped.max_offset
    planned = 0.0 if st.fault("small_canvas") else max_abs
    st.art.planned_max_offset = planned
    rel = np.asarray(grouped.coords_relative)
    out = {"strategy": grouped.strategy, "neighbor_count": grouped.neighbor_count,
           "gridsize": grouped.gridsize, "channels": grouped.C, "n_groups": grouped.B,
           "distinct_patterns": int(np.unique(grouped.nn_indices).size)}
    gathered = np.stack([np.asarray(raw.diff3d)[grouped.nn_indices[:, c]]
                         for c in range(grouped.C)], axis=-1)
    out.update(image_stats("diffraction", grouped.diffraction, diffraction=True,
                            previous=gathered))
    out.update(prefixed("coords_relative", array_stats(rel, image_axes=(1, 2))))
    out["max_abs_coords_relative"] = max_abs
    out["centroid_residual"] = float(np.max(np.abs(rel.sum(axis=3)))) if rel.size else 0.0
    out["canvas_required"] = st.N + 2 * canvas_padding(max_abs)
    out["canvas_planned"] = st.N + 2 * canvas_padding(planned)
    if grouped.Y is not None:
        out.update(image_stats("truth_amplitude", np.abs(grouped.Y)))
    return out


def stage_normalize(st: StageState) -> dict[str, Any]:
    """E (mean over b and c of sum_xy X_raw^2), g, and X_norm = g*X_raw (input conditioning)."""
    from ptycho.scaling import mean_pattern_energy, normalization_gain

    X = st.art.grouped.diffraction
    E = mean_pattern_energy(X)
    g = normalization_gain(X, st.N)
    X_norm = apply_gain(X, g)
    st.art.E, st.art.g, st.art.X_norm = E, g, X_norm
    return {"E": E, "g": g, "target_energy": (st.N / 2) ** 2,
            "energy_norm": mean_pattern_energy(X_norm)}


def stage_scale(st: StageState) -> dict[str, Any]:
    """ScalePlan on the raw data (ptycho.scaling.plan_scales): s, s_cf, source and reason.

    Faults: 'scale_on_normalized' plans on X_norm; 'closed_form_scale' silently replaces the
    dataset scale by s_cf (still labelled 'dataset').
    """
    from ptycho.scaling import ScaleResult, plan_scales

    cfg = st.config
    if st.fault("scale_on_normalized"):
        plan = plan_scales(st.art.X_norm, cfg)
    else:
        plan = plan_scales(st.art.grouped.diffraction, cfg)
    if st.fault("closed_form_scale"):
        fake = ScaleResult(plan.closed_form, "dataset", plan.dataset.reason, plan.dataset.energy)
        chosen = fake.value if cfg.scale_source == "dataset" else plan.closed_form
        plan = dataclasses.replace(plan, dataset=fake, external_scale=chosen,
                                   output_scaler=chosen)
    st.art.plan = plan
    g, s, s_cf = st.art.g, plan.dataset.value, plan.closed_form
    return {"nphotons": float(cfg.nphotons), "N": st.N, "s_cf": s_cf, "s": s,
            "energy": plan.dataset.energy, "g_s_cf": g * s_cf, "s_over_s_cf": s / s_cf,
            "plan_gain": plan.gain, "source": plan.dataset.source, "reason": plan.dataset.reason}


def stage_container(st: StageState) -> dict[str, Any]:
    """Raw PtychoDataContainer (feed_gain 1) and its numpy-only intensity scale."""
    from ptycho.container import PtychoDataContainer
    from ptycho.scaling import calculate_intensity_scale

    c = PtychoDataContainer.from_grouped(st.art.grouped, st.art.probe)
    st.art.container = c
    plan = st.art.plan
    if plan.feed_gain == 1.0:
        fed = c
    else:
        fed = PtychoDataContainer.from_grouped(st.art.grouped, st.art.probe,
                                               feed_gain=plan.feed_gain)
    st.art.fed = fed
    res = calculate_intensity_scale(c, st.config.nphotons)
    fed_res = calculate_intensity_scale(fed, st.config.nphotons)
    out = {}
    out.update(image_stats("X", c.X_np, diffraction=True,
                            previous=st.art.grouped.diffraction))
    if c.Y_I_np is not None:
        out.update(image_stats("Y_I", c.Y_I_np, previous=np.abs(st.art.grouped.Y)))
        out.update(prefixed("Y_phi", array_stats(c.Y_phi_np)))
    out.update(prefixed("coords_nominal", array_stats(c.coords_nominal_np, image_axes=(1, 2))))
    out["feed_gain"] = c.feed_gain
    out["intensity_scale"] = res.value
    out["intensity_scale_source"] = res.source
    out["fed_intensity_scale"] = fed_res.value
    out["fed_intensity_scale_source"] = fed_res.source
    out["tensor_cache_size"] = len(c.cached_tensors) + len(fed.cached_tensors)
    return out


def stage_network_input(st: StageState) -> dict[str, Any]:
    """What the network sees after its input scaler: external_scale*X_fed / s_cf (= g*X_raw).

    Builds the profile's fed container (X_fed = feed_gain*X_raw) and the training arrays
    (ptycho.train.training_arrays); the recorded input is profile-independent.
    """
    from ptycho.train import training_arrays

    plan, fed = st.art.plan, st.art.fed
    inputs, labels = training_arrays(fed, plan)
    st.art.inputs, st.art.labels = inputs, labels
    net = inputs["diffraction"] / np.float32(plan.input_scaler)
    st.art.network_input = net
    out = array_stats(net)
    out.update(position_stats(net, diffraction=True))
    out["corr_prev"] = correlation(net, st.art.container.X_np)
    out["target_energy"] = (st.N / 2) ** 2
    return out

