"""The pipeline as named stages (docs/design.md §8), one function each: thin calls into ptycho.

Stage order: object, probe, scan, simulate, group, normalize, scale, container,
network_input, labels, forward; with training also train, infer, stitch, evaluate. Every
runner (replay, check, goldens, tests, benchmarks) goes through `parity.replay.run_stages`;
there is no second implementation of a stage.

Profile-independent quantities come first: E, g, s, s_cf, the raw container and the network
input (g*X_raw in both profiles, docs/design.md §4). The profile's data feed and chosen scale enter at
`labels` (amplitude labels X_norm vs X_raw: ratio g; count labels equal) and `forward`
(activation, output scaler). Grouping is its own axis (`ReplaySpec.grouping`).

A stage reads what it needs from `StageState`: the replay spec (with its injected test faults,
see `parity.faults`), the resolved scenario, profile, config and tier sizes, the model cache,
and the artifacts of earlier stages.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ptycho.canvas import canvas_padding, support_mean
from ptycho.config import InferenceConfig, TrainingConfig
from ptycho.scaling import apply_gain, sum_float64

from . import consistency, oracle
from .model_cache import ModelCache
from .profiles import Profile
from .records import STAGES
from .scenarios import HELD_OUT_SEED_OFFSET, Scenario, TierSize
from .positions import correlation, position_stats
from .telemetry import Recorder, array_stats, prefixed

#: groups per model call in the forward stage
FORWARD_BATCH = 64
#: a pixel is saturated at or above (1 - this) x the activation ceiling (as
#: ptycho.evaluation.saturation_fraction's default tolerance)
SATURATION_MARGIN = 0.01


@dataclass
class StageState:
    """Everything the stages share: the spec (`parity.replay.ReplaySpec`: scenario, profile,
    tier, seed, grouping, train, faults), the resolved scenario, profile, config and sizes, the
    recorder, the model cache and the artifacts of earlier stages."""

    spec: Any
    scenario: Scenario
    profile: Profile
    config: TrainingConfig
    sizes: TierSize
    recorder: Recorder
    models: ModelCache
    art: dict[str, Any] = field(default_factory=dict)

    @property
    def N(self) -> int:
        return self.config.model.N

    def fault(self, name: str) -> bool:
        """True when test fault `name` (parity.faults) is injected into this replay."""
        return name in self.spec.faults


# ============================================================================ helpers
def _image_stats(prefix: str, x, *, diffraction: bool = False, previous=None,
                 image_axes=None) -> dict[str, Any]:
    """array_stats + position_stats of an image array under `prefix`, and `corr_prev`: its
    correlation with `previous` (the same quantity at the previous stage, same shape)."""
    out = prefixed(prefix, array_stats(x, image_axes=image_axes))
    out.update(prefixed(prefix, position_stats(x, image_axes=image_axes, diffraction=diffraction)))
    if previous is not None:
        out[f"{prefix}.corr_prev"] = correlation(x, previous)
    return out


def _probe_groups(st: "StageState") -> int:
    """Groups the consistency probes use: the first PROBE_GROUPS (one model batch)."""
    return min(st.art["grouped"].B, consistency.PROBE_GROUPS)


def _held_out_seed(st: "StageState") -> int:
    """Seed of the held-out object and its scan (split 'object')."""
    return int(st.config.seed) + HELD_OUT_SEED_OFFSET


def _ceiling_or_none(config: TrainingConfig) -> float | None:
    """Activation ceiling of the model config; None when unbounded (JSON has no inf)."""
    c = config.model.activation_ceiling
    return None if math.isinf(c) else float(c)


# ============================================================================ stages
def stage_object(st: StageState) -> dict[str, Any]:
    """Lines object (H, W) complex64, un-normalized (docs/design.md §3), seeded by config.seed."""
    from ptycho.objects import lines_object

    obj = lines_object(st.sizes.object_size, seed=st.config.seed)
    st.art["object"] = obj
    out = {"kind": st.scenario.object_kind, "size": st.sizes.object_size}
    out.update(_image_stats("amplitude", np.abs(obj)))
    out["phase_max_abs"] = float(np.max(np.abs(np.angle(obj))))
    if st.sizes.split == "object":  # the held-out object (another seed, same generator)
        held_out = lines_object(st.sizes.object_size, seed=_held_out_seed(st))
        st.art["object_test"] = held_out
        out["held_out.seed"] = _held_out_seed(st)
        out["held_out.amplitude_mean"] = float(np.mean(np.abs(held_out)))
        out["held_out.correlation"] = correlation(np.abs(held_out), np.abs(obj))
    return out


def stage_probe(st: StageState) -> dict[str, Any]:
    """Normalized probe (ptycho.probe.make_probe) and the optional mask M."""
    from ptycho.probe import make_probe, probe_mask

    P = make_probe(st.config.model, source=st.scenario.probe)
    mask = probe_mask(st.N)
    st.art["probe"] = P
    st.art["mask"] = mask if st.config.model.probe_mask else None
    P64 = P.astype(np.complex128)
    out = {"source": st.scenario.probe, "probe_scale": st.config.model.probe_scale,
           "mask_applied": bool(st.config.model.probe_mask)}
    out.update(_image_stats("amplitude", np.abs(P64)))
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
    st.art["xcoords"], st.art["ycoords"] = x, y
    if st.sizes.split == "y":
        train = np.flatnonzero(y < size / 2)
        st.art["split"] = (train, np.flatnonzero(y >= size / 2))
    else:
        st.art["split"] = None
    if st.sizes.split == "object":  # whole pixels: the oracle (ePIE) reconstructs it too
        st.art["test_xy"] = oracle_scan((size, size), st.sizes.n_images, buffer=buffer,
                                        seed=_held_out_seed(st))
    dist, _ = cKDTree(np.stack([x, y], axis=1)).query(np.stack([x, y], axis=1), k=2)
    out = {"kind": st.scenario.scan, "n_points": int(x.shape[0]), "buffer": float(buffer),
           "x_min": float(x.min()), "x_max": float(x.max()), "y_min": float(y.min()),
           "y_max": float(y.max()), "mean_nn_distance": float(np.mean(dist[:, 1])),
           "split": st.sizes.split}
    if st.art["split"] is not None:
        out["n_train"] = int(st.art["split"][0].size)
        out["n_test"] = int(st.art["split"][1].size)
    return out


def stage_simulate(st: StageState) -> dict[str, Any]:
    """Poisson simulation (ptycho.simulate.simulate_dataset) -> RawData, X_raw amplitudes."""
    from ptycho.simulate import simulate_dataset

    raw = simulate_dataset(st.art["object"], st.art["probe"], st.art["xcoords"],
                           st.art["ycoords"], nphotons=st.config.nphotons, seed=st.config.seed,
                           mask=st.art["mask"],
                           provenance={"object": "lines", "probe": st.scenario.probe,
                                       "scenario": st.scenario.name})
    st.art["raw"] = raw
    if "object_test" in st.art:
        xt, yt = st.art["test_xy"]
        st.art["raw_test"] = simulate_dataset(
            st.art["object_test"], st.art["probe"], xt, yt, nphotons=st.config.nphotons,
            seed=_held_out_seed(st), mask=st.art["mask"],
            provenance={"object": "lines (held out)", "probe": st.scenario.probe,
                        "scenario": st.scenario.name})
    stats = array_stats(raw.diff3d)
    s_sim = float(raw.metadata["s_sim"])
    out = {"nphotons": float(raw.metadata["nphotons"]), "s_sim": s_sim,
           "mean_exit_energy": float(raw.metadata["mean_exit_energy"])}
    out.update(prefixed("diff3d", stats))
    out.update(prefixed("diff3d", position_stats(raw.diff3d, diffraction=True)))
    out["mean_counts_per_pattern"] = s_sim ** 2 * stats["mean_sum_xy_sq"]
    if "raw_test" in st.art:
        out["held_out.s_sim"] = float(st.art["raw_test"].metadata["s_sim"])
        out["held_out.diff3d_mean"] = float(np.mean(st.art["raw_test"].diff3d, dtype=np.float64))
    out.update(oracle.stage_values(st))  # engine_agrees: oracle scenarios only
    return out


def stage_group(st: StageState) -> dict[str, Any]:
    """Neighbour groups (ptycho.grouping.group) and the canvas they need."""
    from ptycho.grouping import group

    raw = st.art["raw"]
    if st.art["split"] is not None:
        raw = raw.subset(st.art["split"][0])
    cfg = st.config
    grouped = group(raw, gridsize=cfg.model.gridsize, n_groups=cfg.n_groups,
                    neighbor_count=cfg.neighbor_count, strategy=cfg.grouping_strategy,
                    seed=cfg.seed)
    st.art["grouped"] = grouped
    max_abs = grouped.max_offset
    planned = 0.0 if st.fault("small_canvas") else max_abs
    st.art["planned_max_offset"] = planned
    rel = np.asarray(grouped.coords_relative)
    out = {"strategy": grouped.strategy, "neighbor_count": grouped.neighbor_count,
           "gridsize": grouped.gridsize, "channels": grouped.C, "n_groups": grouped.B,
           "distinct_patterns": int(np.unique(grouped.nn_indices).size)}
    gathered = np.stack([np.asarray(raw.diff3d)[grouped.nn_indices[:, c]]
                         for c in range(grouped.C)], axis=-1)
    out.update(_image_stats("diffraction", grouped.diffraction, diffraction=True,
                            previous=gathered))
    out.update(prefixed("coords_relative", array_stats(rel, image_axes=(1, 2))))
    out["max_abs_coords_relative"] = max_abs
    out["centroid_residual"] = float(np.max(np.abs(rel.sum(axis=3)))) if rel.size else 0.0
    out["canvas_required"] = st.N + 2 * canvas_padding(max_abs)
    out["canvas_planned"] = st.N + 2 * canvas_padding(planned)
    if grouped.Y is not None:
        out.update(_image_stats("truth_amplitude", np.abs(grouped.Y)))
    return out


def stage_normalize(st: StageState) -> dict[str, Any]:
    """E (mean over b and c of sum_xy X_raw^2), g, and X_norm = g*X_raw (input conditioning)."""
    from ptycho.scaling import mean_pattern_energy, normalization_gain

    X = st.art["grouped"].diffraction
    E = mean_pattern_energy(X)
    g = normalization_gain(X, st.N)
    X_norm = apply_gain(X, g)
    st.art["E"], st.art["g"], st.art["X_norm"] = E, g, X_norm
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
        plan = plan_scales(st.art["X_norm"], cfg)
    else:
        plan = plan_scales(st.art["grouped"].diffraction, cfg)
    if st.fault("closed_form_scale"):
        fake = ScaleResult(plan.closed_form, "dataset", plan.dataset.reason, plan.dataset.energy)
        chosen = fake.value if cfg.scale_source == "dataset" else plan.closed_form
        plan = dataclasses.replace(plan, dataset=fake, external_scale=chosen,
                                   output_scaler=chosen)
    st.art["plan"] = plan
    g, s, s_cf = st.art["g"], plan.dataset.value, plan.closed_form
    return {"nphotons": float(cfg.nphotons), "N": st.N, "s_cf": s_cf, "s": s,
            "energy": plan.dataset.energy, "g_s_cf": g * s_cf, "s_over_s_cf": s / s_cf,
            "plan_gain": plan.gain, "source": plan.dataset.source, "reason": plan.dataset.reason}


def stage_container(st: StageState) -> dict[str, Any]:
    """Raw PtychoDataContainer (feed_gain 1) and its numpy-only intensity scale."""
    from ptycho.container import PtychoDataContainer
    from ptycho.scaling import calculate_intensity_scale

    c = PtychoDataContainer.from_grouped(st.art["grouped"], st.art["probe"])
    st.art["container"] = c
    plan = st.art["plan"]
    if plan.feed_gain == 1.0:
        fed = c
    else:
        fed = PtychoDataContainer.from_grouped(st.art["grouped"], st.art["probe"],
                                               feed_gain=plan.feed_gain)
    st.art["fed"] = fed
    res = calculate_intensity_scale(c, st.config.nphotons)
    fed_res = calculate_intensity_scale(fed, st.config.nphotons)
    out = {}
    out.update(_image_stats("X", c._X_np, diffraction=True,
                            previous=st.art["grouped"].diffraction))
    if c._Y_I_np is not None:
        out.update(_image_stats("Y_I", c._Y_I_np, previous=np.abs(st.art["grouped"].Y)))
        out.update(prefixed("Y_phi", array_stats(c._Y_phi_np)))
    out.update(prefixed("coords_nominal", array_stats(c._coords_nominal_np, image_axes=(1, 2))))
    out["feed_gain"] = c.feed_gain
    out["intensity_scale"] = res.value
    out["intensity_scale_source"] = res.source
    out["fed_intensity_scale"] = fed_res.value
    out["fed_intensity_scale_source"] = fed_res.source
    out["tensor_cache_size"] = len(c._tensor_cache) + len(fed._tensor_cache)
    return out


def stage_network_input(st: StageState) -> dict[str, Any]:
    """What the network sees after its input scaler: external_scale*X_fed / s_cf (= g*X_raw).

    Builds the profile's fed container (X_fed = feed_gain*X_raw) and the training arrays
    (ptycho.train.training_arrays); the recorded input is profile-independent.
    """
    from ptycho.train import training_arrays

    plan, fed = st.art["plan"], st.art["fed"]
    inputs, labels = training_arrays(fed, plan)
    st.art["inputs"], st.art["labels"] = inputs, labels
    net = inputs["diffraction"] / np.float32(plan.input_scaler)
    st.art["network_input"] = net
    out = array_stats(net)
    out.update(position_stats(net, diffraction=True))
    out["corr_prev"] = correlation(net, st.art["container"]._X_np)
    out["target_energy"] = (st.N / 2) ** 2
    return out


def stage_labels(st: StageState) -> dict[str, Any]:
    """Training labels: amplitude labels X_fed (legacy X_norm, current X_raw: ratio g), count
    labels (external_scale*X_fed)^2 (equal in both profiles), scales, reachability inputs.

    Fault 'label_scale_mismatch': counts are scaled by s_cf when the profile uses s, and by s
    when it uses s_cf, while the output scaler keeps the profile's scale.
    """
    plan, cfg = st.art["plan"], st.config
    fed, labels = st.art["fed"], st.art["labels"]
    label_scale = plan.external_scale
    counts = labels["counts"]
    if st.fault("label_scale_mismatch"):
        label_scale = (plan.dataset.value if math.isclose(plan.external_scale, plan.closed_form)
                       else plan.closed_form)
        amp = apply_gain(fed._X_np, label_scale)
        counts = np.square(amp)
        st.art["labels"] = {"amplitude": amp, "counts": counts}
    out = {}
    out.update(_image_stats("amplitude", fed._X_np, diffraction=True,
                            previous=st.art["network_input"]))
    out.update(_image_stats("counts", counts, diffraction=True,
                            previous=np.square(st.art["labels"]["amplitude"])))
    n_patterns = counts.shape[0] * counts.shape[3]
    out["mean_counts_per_pattern"] = sum_float64(counts) / n_patterns
    out["feed_gain"] = plan.feed_gain
    out["scale"] = label_scale
    out["input_scale"] = plan.input_scaler
    out["output_scale"] = plan.output_scaler
    out["predicted_input_gain"] = plan.network_input_gain
    e_in = st.recorder.values["network_input.mean_sum_xy_sq"]
    e_raw = st.recorder.values["container.X.mean_sum_xy_sq"]
    out["observed_input_gain"] = math.sqrt(e_in / e_raw) if e_raw > 0 else math.nan
    ratio = plan.amplitude_ratio
    out["predicted_amplitude_ratio"] = ratio
    truth = st.art["container"]._Y_I_np
    ceiling = _ceiling_or_none(cfg)
    if truth is not None:
        out["implied_amplitude_max"] = ratio * float(np.max(truth))
        out["implied_amplitude_mean"] = ratio * support_mean(truth, st.N)
        out["fraction_above_ceiling"] = (0.0 if ceiling is None else
                                         float(np.mean(ratio * truth > ceiling)))
        q = st.N // 4
        core = truth[:, q:st.N - q, q:st.N - q, :]
        target = core * np.float32(ratio)
        if ceiling is not None:
            np.minimum(target, np.float32(ceiling), out=target)
        out["saturated_amplitude_ratio"] = float(np.mean(target, dtype=np.float64)
                                                 / np.mean(core, dtype=np.float64))
    out["activation_ceiling"] = ceiling
    out["activation"] = cfg.model.amp_activation
    out["data_feed"] = plan.data_feed
    out["scale_source"] = plan.scale_source
    out.update(_label_agreement(st, counts))
    return out


def _label_agreement(st: StageState, counts: np.ndarray) -> dict[str, Any]:
    """The count labels of the first groups vs the simulator's noise-free expectation at the
    group members' scan positions (parity.consistency.label_agreement)."""
    plan, raw, grouped = st.art["plan"], st.art["raw"], st.art["grouped"]
    n = _probe_groups(st)
    x, y = consistency.truth_positions(raw, grouped.nn_indices[:n])
    mu = consistency.expected_label_counts(st.art["object"], st.art["probe"], st.art["mask"],
                                           x, y, plan.label_scale)
    st.art["expected_counts"] = mu
    photons_per_count = (float(raw.metadata["s_sim"]) / plan.label_scale) ** 2
    return prefixed("truth_agreement", consistency.label_agreement(counts[:n], mu,
                                                                   photons_per_count))


def _trainable_tags(model) -> list[str]:
    """Which of input_scaler / output_scaler / probe have weights in trainable_weights."""
    from ptycho.model import INPUT_SCALER, OUTPUT_SCALER, PROBE_LAYER

    tags = set()
    for w in model.trainable_weights:
        path = getattr(w, "path", w.name)
        for layer, tag in ((INPUT_SCALER, "input_scaler"), (OUTPUT_SCALER, "output_scaler"),
                           (PROBE_LAYER, "probe")):
            if path.startswith(layer + "/"):
                tags.add(tag)
    return sorted(tags)


def _expected_trainable(config: TrainingConfig) -> list[str]:
    tags = []
    if config.model.intensity_scale_trainable:
        tags += ["input_scaler", "output_scaler"]
    if config.model.probe_trainable:
        tags.append("probe")
    return sorted(tags)


def stage_forward(st: StageState) -> dict[str, Any]:
    """Untrained seeded model (ptycho.model.build_model) on the training inputs.

    Diagnostics: model input/output scale weights vs the external scales, input mean, output
    mean, amplification ratio, ground-truth mean, output/truth ratio, predicted counts.
    """
    from ptycho.model import REASSEMBLY_LAYER, count_parameters, model_scales

    plan, cfg, N = st.art["plan"], st.config, st.N
    model, d2o, diag = st.models.get(cfg, st.art["probe"], plan, st.art["planned_max_offset"])
    st.art["model"], st.art["d2o"] = model, d2o
    inputs = st.art["inputs"]
    B = inputs["diffraction"].shape[0]
    counts = np.empty(inputs["diffraction"].shape, np.float32)
    patches = np.empty(inputs["diffraction"].shape, np.complex64)
    for start in range(0, B, FORWARD_BATCH):
        part = {k: v[start:start + FORWARD_BATCH] for k, v in inputs.items()}
        res = diag(part, training=False)
        counts[start:start + FORWARD_BATCH] = np.asarray(res["counts"])
        patches[start:start + FORWARD_BATCH] = np.asarray(res["object"])
    st.art["forward_patches"], st.art["forward_counts"] = patches, counts
    s_in, s_out = model_scales(model)
    amp = np.abs(patches)
    input_mean = float(np.mean(st.art["network_input"], dtype=np.float64))
    output_mean = support_mean(amp, N)
    truth = st.art["container"]._Y_I_np
    capacity = consistency.canvas_capacity(
        model, N // 4 + canvas_padding(st.art["grouped"].max_offset) + 2)
    out = {"input_scale_weight": s_in, "output_scale_weight": s_out,
           "external_input_scale": plan.input_scaler,
           "external_output_scale": plan.output_scaler,
           "canvas": capacity["canvas"],
           "canvas_capacity": capacity["capacity"],
           "canvas_probe_offsets": capacity["probe_offsets"],
           "canvas_pad_attribute": int(model.get_layer(REASSEMBLY_LAYER).pad),
           "n_params": count_parameters(model)["total"],
           "input_shape": list(inputs["diffraction"].shape),
           "output_shape": list(counts.shape),
           "input_mean": input_mean, "output_mean": output_mean,
           "amplification_ratio": output_mean / input_mean if input_mean else math.nan}
    if truth is not None:
        truth_mean = support_mean(truth, N)
        out["truth_mean"] = truth_mean
        out["output_truth_ratio"] = output_mean / truth_mean if truth_mean else math.nan
    out.update(_image_stats("object_amplitude", amp))
    out.update(_image_stats("counts", counts, diffraction=True, previous=st.art["labels"]["counts"]))
    label_mean = st.recorder.values["labels.counts.mean"]
    out["counts_vs_labels"] = (float(np.mean(counts, dtype=np.float64)) / label_mean
                               if label_mean else math.nan)
    out["trainable_special"] = _trainable_tags(model)
    out["expected_trainable"] = _expected_trainable(cfg)
    out.update(_forward_probes(st, model, diag))
    return out


def _forward_probes(st: StageState, model, diag) -> dict[str, Any]:
    """Consistency probes of the built model (parity.consistency): its physics head on the
    ground-truth patches vs the simulator's expected labels, the reassembly round trip, batch
    independence, and the measured ranges of its activations."""
    grouped, plan, cfg = st.art["grouped"], st.art["plan"], st.config
    n = _probe_groups(st)
    out: dict[str, Any] = {}
    if grouped.Y is not None:
        out.update(prefixed("consistency", consistency.forward_consistency(
            model, grouped.Y[:n], st.art["expected_counts"], plan.amplitude_ratio)))
        xt, yt = consistency.truth_positions(st.art["raw"], grouped.nn_indices[:n])
        out.update(prefixed("reassembly", consistency.reassembly_roundtrip(
            model, st.art["object"], xt, yt, grouped.coords_relative[:n])))
    inputs = {k: v[:n] for k, v in st.art["inputs"].items()}
    Y = grouped.Y[:n] if grouped.Y is not None else None
    out.update(prefixed("batch", consistency.batch_independence(model, diag, inputs, Y)))
    out.update(prefixed("activation", consistency.activation_range(model)))
    out["activation.configured_ceiling"] = _ceiling_or_none(cfg)
    out.update(prefixed("phase", consistency.phase_range(model)))
    return out


# ---------------------------------------------------------------------------- training
def _train_probes(st: StageState) -> dict[str, Any]:
    """One-batch probes of the training path on the forward stage's model (weights restored):
    compiled loss vs its composition, gradient reach, one optimizer step, and the rows
    ptycho.train.train feeds the optimizer (parity.consistency)."""
    model, plan, cfg = st.art["model"], st.art["plan"], st.config
    out = prefixed("probe", consistency.loss_and_gradient(model, cfg, st.art["inputs"],
                                                          st.art["labels"]))
    out.update(prefixed("feed", consistency.training_feed(
        model, st.art["fed"], plan, cfg, st.art["probe"], st.art["planned_max_offset"])))
    return out


def _faulty_model(st: StageState):
    """The training model with the injected training fault applied (parity.faults
    TRAINING_FAULTS), or None without one (ptycho.train.train then builds its own)."""
    if not st.fault("blind_encoder"):
        return None
    from ptycho.model import build_model

    plan, cfg = st.art["plan"], st.config
    model, _ = build_model(cfg.model, cfg, probe=st.art["probe"], input_scale=plan.input_scaler,
                           output_scale=plan.output_scaler,
                           max_offset=st.art["planned_max_offset"], seed=cfg.seed)
    for layer in model.layers:
        if layer.name.startswith("enc") and layer.name.endswith(("conv0", "conv1")):
            layer.kernel.assign(np.zeros(layer.kernel.shape, np.float32))
            layer.trainable = False
    return model


def loss_floor(st: StageState) -> float:
    """The training loss's floor on the training split (nll_weight x the NLL at lam = k, the
    amplitude MAE's floor is 0): ptycho.losses.nll_floor on the rows train() fits."""
    from ptycho.losses import nll_floor
    from ptycho.train import split_indices, training_arrays

    cfg = st.config
    if cfg.nll_weight == 0:
        return 0.0
    _, labels = training_arrays(st.art["fed"], st.art["plan"])
    idx, _ = split_indices(labels["counts"].shape[0], cfg.validation_split, cfg.seed)
    return cfg.nll_weight * nll_floor(labels["counts"][idx], cfg.nll_form)


def stage_train(st: StageState) -> dict[str, Any]:
    """Without training (the tiny gate): the one-batch probes only (`mode` 'probe'). With
    training: the probes, then ptycho.train.train on the fed container (seeded); loss history,
    the loss floor (loss_excess_ratio = (last - floor) / (first - floor), the share of the
    first epoch's misfit left at the end) and final scales (`mode` 'fit')."""
    from ptycho.train import train

    out: dict[str, Any] = {"mode": "fit" if st.spec.train else "probe"}
    out.update(_train_probes(st))
    if not st.spec.train:
        return out
    cfg = st.config
    if st.fault("lr_typo"):
        cfg = dataclasses.replace(cfg, learning_rate=cfg.learning_rate * 1e-4)
    if st.fault("single_epoch"):
        cfg = dataclasses.replace(cfg, nepochs=1)
    res = train(st.art["fed"], st.art["plan"], cfg, probe=st.art["probe"],
                max_offset=st.art["planned_max_offset"], model=_faulty_model(st))
    st.art["trained"] = res
    loss = res.history.get("loss", [])
    floor = loss_floor(st)
    first, last = (loss[0], loss[-1]) if loss else (math.nan, math.nan)
    out.update({"epochs": len(loss), "n_train": res.n_train, "n_val": res.n_val,
                "loss_first": first, "loss_last": last, "loss_floor": floor,
                "loss_excess_ratio": (last - floor) / (first - floor) if first != floor else math.nan,
                "input_scale_weight": res.scales["input_scale"],
                "output_scale_weight": res.scales["output_scale"],
                "n_params": res.parameters["total"]})
    st.art["epoch_seconds"] = list(res.epoch_seconds)  # wall times: not telemetry
    if "val_loss" in res.history:
        out["val_loss_last"] = res.history["val_loss"][-1]
    return out


def _infer_container(st: StageState):
    """(fed container, grouped) to reconstruct: the held-out object or the test half of the
    scan when the tier splits, else the training groups. The test data are fed in the units of
    the TRAINING plan (the network learned the map from the training feed to |O|)."""
    from ptycho.container import PtychoDataContainer
    from ptycho.grouping import group

    if "raw_test" in st.art:
        raw_test = st.art["raw_test"]
    elif st.art["split"] is None:
        return st.art["fed"], st.art["grouped"]
    else:
        raw_test = st.art["raw"].subset(st.art["split"][1])
    cfg = st.config
    grouped = group(raw_test, gridsize=cfg.model.gridsize, n_groups=cfg.n_groups,
                    neighbor_count=cfg.neighbor_count, strategy=cfg.grouping_strategy,
                    seed=cfg.seed)
    return (PtychoDataContainer.from_grouped(grouped, st.art["probe"],
                                             feed_gain=st.art["plan"].feed_gain), grouped)


def stage_infer(st: StageState) -> dict[str, Any]:
    """ptycho.inference.reconstruct with the trained model: object patches vs truth. Without
    training (the tiny gate, `mode` 'probe'): nothing here; the inference path of the untrained
    model is judged by its specification (parity.specs.measure)."""
    from ptycho.inference import reconstruct

    if "trained" not in st.art:
        return {"mode": "probe"}
    fed, grouped = _infer_container(st)
    icfg = InferenceConfig(model=st.config.model, batch_size=FORWARD_BATCH, seed=st.config.seed)
    start = time.perf_counter()
    patches = reconstruct(st.art["trained"].diffraction_to_obj, fed, st.art["plan"], icfg)
    st.recorder.artifacts["pinn_seconds"] = time.perf_counter() - start  # not telemetry
    st.recorder.artifacts["pinn_patterns"] = int(patches.shape[0] * patches.shape[-1])
    st.art["patches"], st.art["infer_grouped"], st.art["icfg"] = patches, grouped, icfg
    N = st.N
    amp = np.abs(patches)
    out = {"n_groups": int(patches.shape[0])}
    out.update(prefixed("amplitude", array_stats(amp)))
    out["amplitude_mean"] = support_mean(amp, N)
    if grouped.Y is not None:
        truth_mean = support_mean(np.abs(grouped.Y), N)
        out["truth_mean"] = truth_mean
        out["amplitude_ratio"] = out["amplitude_mean"] / truth_mean if truth_mean else math.nan
    out["predicted_amplitude_ratio"] = st.art["plan"].amplitude_ratio
    out["verifies_prediction"] = bool(st.sizes.verify_training)
    return out


def _truth_roundtrip(st: StageState) -> dict[str, Any]:
    """Ground-truth patches of the training groups stitched back (parity.consistency); the
    evaluation values are kept for the evaluate stage."""
    grouped = st.art["grouped"]
    if grouped.Y is None:
        return {}
    crop = InferenceConfig(model=st.config.model, seed=st.config.seed).crop
    stitch, evaluation = consistency.stitch_roundtrip(st.art["object"], st.art["raw"], grouped, crop)
    st.art["truth_evaluation"] = evaluation
    return prefixed("truth_roundtrip", stitch)


def stage_stitch(st: StageState) -> dict[str, Any]:
    """The ground-truth round trip (always), and with training: ptycho.stitching.stitch_patches
    of the reconstruction (central crop) into object coordinates; the ground truth is stitched
    the same way."""
    from ptycho.stitching import global_positions, stitch_patches

    out = _truth_roundtrip(st)
    if "patches" not in st.art:
        return out
    grouped, icfg = st.art["infer_grouped"], st.art["icfg"]
    x, y = global_positions(grouped.coords_offsets, grouped.coords_relative)
    size = st.sizes.object_size
    res = stitch_patches(st.art["patches"], x, y, crop=icfg.crop, origin=(0.0, 0.0),
                         shape=(size, size))
    st.art["stitched"], st.art["stitch_xy"] = res, (x, y)
    if grouped.Y is not None:
        st.art["stitched_truth"] = stitch_patches(grouped.Y, x, y, crop=icfg.crop,
                                                  origin=(0.0, 0.0), shape=(size, size))
    covered = res.covered()
    out.update({"shape": list(res.image.shape), "crop": icfg.crop,
                "covered_fraction": float(np.mean(covered))})
    out.update(prefixed("amplitude", array_stats(np.abs(res.image[covered]))))
    return out


def stage_evaluate(st: StageState) -> dict[str, Any]:
    """ptycho.evaluation.evaluate_images against the stitched truth and the constant-amplitude
    baseline; amplitude ratio vs the prediction made before training."""
    from ptycho.evaluation import baseline_patches, constant_amplitude_baseline, evaluate_images
    from ptycho.stitching import stitch_patches

    out: dict[str, Any] = prefixed("truth", st.art.get("truth_evaluation", {}))
    if "stitched" not in st.art:
        return out
    res = st.art["stitched"]
    if "stitched_truth" not in st.art:
        out["ground_truth"] = False
        return out
    grouped, icfg = st.art["infer_grouped"], st.art["icfg"]
    x, y = st.art["stitch_xy"]
    size = st.sizes.object_size
    amps = constant_amplitude_baseline(grouped.diffraction, st.art["probe"], st.art["mask"])
    base = stitch_patches(baseline_patches(amps, st.N), x, y, crop=icfg.crop,
                          origin=(0.0, 0.0), shape=(size, size))
    rep = evaluate_images(res.image, st.art["stitched_truth"].image, base.image, xcoords=x,
                          ycoords=y, covered=res.covered())
    out["ground_truth"] = True
    out["verifies_learning"] = bool(st.sizes.verify_training and st.sizes.verify_learning)
    for group_name in ("amplitude", "phase"):
        for metric, pair in getattr(rep, group_name).items():
            for who, v in pair.items():
                out[f"{group_name}.{metric}.{who}"] = v
    covered = res.covered()
    rec = float(np.mean(np.abs(res.image[covered])))
    tru = float(np.mean(np.abs(st.art["stitched_truth"].image[covered])))
    out["amplitude_ratio"] = rec / tru if tru else math.nan
    ratio = st.art["plan"].amplitude_ratio
    out["predicted_amplitude_ratio"] = ratio
    out.update(prefixed("saturation", _saturation(st, res.image, st.art["stitched_truth"].image,
                                                  covered, ratio)))
    out.update(_beside_the_engine(st, rep, base.image, x, y, covered))
    return out


def _beside_the_engine(st: StageState, rep, baseline, x, y, covered) -> dict[str, Any]:
    """Split 'object': ePIE (parity.oracle.held_out_run) on the held-out data the PINN
    inferred, evaluated against the same stitched truth, baseline and covered pixels
    (`oracle.*`); the images and wall times go to the recorder's artifacts (the report's
    PINN / ePIE / baseline figure)."""
    from ptycho.evaluation import evaluate_images

    if "raw_test" not in st.art:
        return {}
    raw = st.art["raw_test"]
    run = oracle.held_out_run(raw, st.art["mask"], seed=st.config.seed, cache=st.models)
    truth = st.art["stitched_truth"].image
    erep = evaluate_images(run.object, truth, baseline, xcoords=x, ycoords=y, covered=covered)
    st.recorder.artifacts.update({
        "epie_seconds": run.seconds, "epie_patterns": run.patterns,
        "epie_iterations": run.iterations,
        "images": {"truth": truth, "PINN": st.art["stitched"].image, "ePIE": run.object,
                   "baseline": baseline, "covered": covered},
        "pinn_report": rep, "epie_report": erep})
    return prefixed("oracle", oracle.held_out_values(erep, run))


def _saturation(st: StageState, recon, truth, covered, ratio: float) -> dict[str, Any]:
    """Saturation on the evaluated (covered) pixels: the fraction predicted before training
    (implied amplitude ratio * |O_true| at or above 99% of the activation ceiling) and observed
    (the reconstruction there), and the LS scalar (recon ~ c * truth) over the pixels predicted
    unsaturated ('where unsaturated': all of them for an unbounded activation)."""
    from ptycho.evaluation import ls_scalar, saturation_fraction

    ceiling = _ceiling_or_none(st.config)
    a, t = np.abs(recon), np.abs(truth)
    if ceiling is None:
        out = {"ceiling": None, "predicted_fraction": 0.0, "observed_fraction": 0.0}
        unsaturated = covered
    else:
        out = {"ceiling": ceiling,
               "predicted_fraction": saturation_fraction(ratio * t, ceiling, where=covered),
               "observed_fraction": saturation_fraction(a, ceiling, where=covered)}
        unsaturated = covered & (ratio * t < (1.0 - SATURATION_MARGIN) * ceiling)
    n = int(np.count_nonzero(unsaturated))
    out["unsaturated_pixels"] = n
    out["unsaturated_ls_scalar"] = ls_scalar(a[unsaturated], t[unsaturated]) if n else None
    return out


#: stage name -> function, in docs/design.md §8 order
STAGE_FUNCTIONS: dict[str, Callable[[StageState], dict[str, Any]]] = {
    "object": stage_object,
    "probe": stage_probe,
    "scan": stage_scan,
    "simulate": stage_simulate,
    "group": stage_group,
    "normalize": stage_normalize,
    "scale": stage_scale,
    "container": stage_container,
    "network_input": stage_network_input,
    "labels": stage_labels,
    "forward": stage_forward,
    "train": stage_train,
    "infer": stage_infer,
    "stitch": stage_stitch,
    "evaluate": stage_evaluate,
}
assert tuple(STAGE_FUNCTIONS) == STAGES


if tuple(STAGE_FUNCTIONS) != STAGES:  # the table must list every stage, in order
    raise ImportError(f"STAGE_FUNCTIONS {tuple(STAGE_FUNCTIONS)} != STAGES {STAGES}")
