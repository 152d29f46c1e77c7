"""The model stages (docs/design.md §4, §7): labels (the profile's data feed and scale enter
here) and forward (the untrained seeded model on the training inputs, with its consistency
diagnostics)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ptycho.canvas import canvas_padding, support_mean
from ptycho.config import TrainingConfig
from ptycho.scaling import apply_gain, sum_float64

from .. import consistency
from ..array_digest import array_digest
from ..telemetry import prefixed
from .common import ceiling_or_none, diagnostic_groups, image_stats
from .state import StageState

#: groups per model call in the forward stage
FORWARD_BATCH = 64


def stage_labels(st: StageState) -> dict[str, Any]:
    """Training labels: amplitude labels X_fed (legacy X_norm, current X_raw: ratio g), count
    labels (external_scale*X_fed)^2 (equal in both profiles), scales, reachability inputs.

    Fault 'label_scale_mismatch': counts are scaled by s_cf when the profile uses s, and by s
    when it uses s_cf, while the output scaler keeps the profile's scale.
    """
    plan, cfg = st.art.plan, st.config
    fed, labels = st.art.fed, st.art.labels
    label_scale = plan.external_scale
    counts = labels["counts"]
    if st.fault("label_scale_mismatch"):
        label_scale = (plan.dataset.value if math.isclose(plan.external_scale, plan.closed_form)
                       else plan.closed_form)
        amp = apply_gain(fed.X_np, label_scale)
        counts = np.square(amp)
        st.art.labels = {"amplitude": amp, "counts": counts}
    out = {}
    out.update(image_stats("amplitude", fed.X_np, diffraction=True,
                            previous=st.art.network_input))
    out.update(image_stats("counts", counts, diffraction=True,
                            previous=np.square(st.art.labels["amplitude"])))
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
    truth = st.art.container.Y_I_np
    ceiling = ceiling_or_none(cfg)
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
    plan, raw, grouped = st.art.plan, st.art.raw, st.art.grouped
    n = diagnostic_groups(st)
    x, y = consistency.truth_positions(raw, grouped.nn_indices[:n])
    mu = consistency.expected_label_counts(st.art.object, st.art.probe, st.art.mask,
                                           x, y, plan.label_scale)
    st.art.expected_counts = mu
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

    plan, cfg, N = st.art.plan, st.config, st.N
    model, d2o, diag = st.models.get(cfg, st.art.probe, plan, st.art.planned_max_offset)
    st.art.model, st.art.d2o = model, d2o
    inputs = st.art.inputs
    patches, counts = _model_pass(st, model, diag, inputs)
    st.art.forward_patches, st.art.forward_counts = patches, counts
    s_in, s_out = model_scales(model)
    amp = np.abs(patches)
    input_mean = float(np.mean(st.art.network_input, dtype=np.float64))
    output_mean = support_mean(amp, N)
    truth = st.art.container.Y_I_np
    capacity = consistency.canvas_capacity(
        model, N // 4 + canvas_padding(st.art.grouped.max_offset) + 2)
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
    out.update(image_stats("object_amplitude", amp))
    out.update(image_stats("counts", counts, diffraction=True, previous=st.art.labels["counts"]))
    label_mean = st.recorder.values["labels.counts.mean"]
    out["counts_vs_labels"] = (float(np.mean(counts, dtype=np.float64)) / label_mean
                               if label_mean else math.nan)
    out["trainable_special"] = _trainable_tags(model)
    out["expected_trainable"] = _expected_trainable(cfg)
    # the diagnostics are a function of the model and the values recorded so far: the second
    # path of a replay takes them from the first when everything up to here is identical
    key = st.digest("forward", out)
    if key not in st.shared:
        st.shared[key] = _forward_diagnostics(st, model, diag)
    out.update(st.shared[key])
    return out


def _model_pass(st: StageState, model, diag, inputs: dict[str, np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray]:
    """The model on every group of `inputs` in FORWARD_BATCH batches: (object patches
    (B, N, N, C) complex64, predicted counts (B, N, N, C) float32).

    The pass is a function of the model's weights and the inputs (TensorFlow's ops are
    deterministic here): the second path of a replay takes the first path's arrays when the
    weights, the input bytes and every value recorded so far are identical. A model left
    changed by the first path (e.g. a diagnostic that does not restore its weights) has other
    weights, so the pass runs again and the path comparison sees the difference.
    """
    key = st.digest("forward.pass", {"inputs": array_digest(inputs[k] for k in sorted(inputs)),
                                     "weights": array_digest(model.get_weights())})
    if key in st.shared:
        return tuple(a.copy() for a in st.shared[key])
    B = inputs["diffraction"].shape[0]
    counts = np.empty(inputs["diffraction"].shape, np.float32)
    patches = np.empty(inputs["diffraction"].shape, np.complex64)
    for start in range(0, B, FORWARD_BATCH):
        part = {k: v[start:start + FORWARD_BATCH] for k, v in inputs.items()}
        res = diag(part, training=False)
        counts[start:start + FORWARD_BATCH] = np.asarray(res["counts"])
        patches[start:start + FORWARD_BATCH] = np.asarray(res["object"])
    st.shared[key] = (patches, counts)
    return patches, counts


def _forward_diagnostics(st: StageState, model, diag) -> dict[str, Any]:
    """Consistency diagnostics of the built model (parity.consistency): its physics head on the
    ground-truth patches vs the simulator's expected labels, the reassembly round trip, batch
    independence, and the measured ranges of its activations."""
    grouped, plan, cfg = st.art.grouped, st.art.plan, st.config
    n = diagnostic_groups(st)
    out: dict[str, Any] = {}
    if grouped.Y is not None:
        out.update(prefixed("consistency", consistency.forward_consistency(
            model, grouped.Y[:n], st.art.expected_counts, plan.amplitude_ratio)))
        xt, yt = consistency.truth_positions(st.art.raw, grouped.nn_indices[:n])
        out.update(prefixed("reassembly", consistency.reassembly_roundtrip(
            model, st.art.object, xt, yt, grouped.coords_relative[:n])))
    inputs = {k: v[:n] for k, v in st.art.inputs.items()}
    Y = grouped.Y[:n] if grouped.Y is not None else None
    out.update(prefixed("batch", consistency.batch_independence(model, diag, inputs, Y)))
    out.update(prefixed("activation", consistency.activation_range(model)))
    out["activation.configured_ceiling"] = ceiling_or_none(cfg)
    out.update(prefixed("phase", consistency.phase_range(model)))
    return out

