"""Consistency probes: the product's own parts checked against each other, without training.

Each probe calls the product (ptycho) on inputs whose answer is known from another part of the
product, and returns JSON-safe measurements; the stages record them and `parity.checks`
holds them to bounds from the ledger. Nothing here reimplements a product computation: the
simulator's patches and far field come from `ptycho.simulate` / `ptycho.physics`, the model's
from its own built layers (looked up by name in the built training model), the losses from
`ptycho.losses`, the training feed from `ptycho.train.train` itself.

- `forward_consistency`: the model's physics head after the decoders (probe -> diffraction ->
  output scaler -> square) applied to the ground-truth patches Y, scaled by the amplitude ratio
  r the labels imply (1 current, g legacy), against the simulator's noise-free expectation of
  the count labels at the same scan positions (the labels are Poisson draws of it:
  `label_agreement`).
- `reassembly_roundtrip`: the model's reassembly layer on ground-truth patches at the group
  geometry rounded to whole pixels (bilinear translation is then exact), windowed to the
  decoder support: every patch comes back unchanged on its own support, and where neighbours
  cover it, as the object.
- `canvas_capacity`: the largest group offset the built reassembly layer carries without loss,
  measured with constant patches, so the canvas is what the layer builds, not an attribute.
- `batch_independence`, `activation_range`, `phase_range`: the built model and its activation
  layers on probe inputs.
- `loss_and_gradient`: compiled loss vs its composition from ptycho.losses; one gradient and
  one optimizer step on one batch (the model's weights are restored afterwards).
- `training_feed`: what `ptycho.train.train` hands the optimizer, captured row by row inside
  Keras' fit, on the shuffled and the unshuffled path (the step itself is skipped).
- `stitch_roundtrip`: ground-truth patches cut at whole-pixel positions and stitched by
  `ptycho.stitching` at the product's global positions reproduce the object; evaluations of
  that stitch and of a scaled, phase-offset copy (`ptycho.evaluation.evaluate_images`).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

#: groups used by a probe that runs the model (one batch; bounds cost on the large tiers)
PROBE_GROUPS = 64
#: batch_independence: patterns (samples x channels) of the physics-head batch (the
#: batch-merging reassembly bug starts at 64), and samples of the whole-network batch
MIN_BATCH_PATTERNS = 64
NETWORK_BATCH = 8
#: activation probes: inputs from -RAMP_LIMIT to +RAMP_LIMIT (sigmoid and tanh saturate in float32)
RAMP_LIMIT = 60.0
#: stitch_roundtrip: phase given to the object for the evaluation probes, rad per unit |O|
PHASE_PER_AMPLITUDE = 0.5
#: the scaled copy of stitch_roundtrip: amplitude factor and global phase offset (rad)
COPY_SCALE, COPY_PHASE = 2.0, 2.9
#: labels_poisson: pixels used need this many expected photons
MIN_EXPECTED_COUNTS = 1.0


def _rel_to_max(a: np.ndarray, b: np.ndarray, axes=(1, 2)) -> float:
    """max over patterns of max|a - b| / max|b| (float64); 0 for empty input."""
    a = np.asarray(a, np.float64) if not np.iscomplexobj(a) else np.asarray(a, np.complex128)
    b = np.asarray(b, np.float64) if not np.iscomplexobj(b) else np.asarray(b, np.complex128)
    if a.size == 0:
        return 0.0
    den = np.max(np.abs(b), axis=axes)
    num = np.max(np.abs(a - b), axis=axes)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num > 0, np.inf, 0.0))
    return float(np.max(rel))


def _channels(flat: np.ndarray, B: int, C: int) -> np.ndarray:
    """(B*C, N, N) flat index b*C + c -> (B, N, N, C)."""
    N = flat.shape[-1]
    return np.ascontiguousarray(flat.reshape(B, C, N, N).transpose(0, 2, 3, 1))


def truth_positions(raw, nn_indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) (B, C) float64 scan positions of the group members, from the raw data."""
    nn = np.asarray(nn_indices)
    return np.asarray(raw.xcoords, np.float64)[nn], np.asarray(raw.ycoords, np.float64)[nn]


# ---------------------------------------------------------------------------- labels, forward
def expected_label_counts(obj, probe, mask, x: np.ndarray, y: np.ndarray,
                          label_scale: float) -> np.ndarray:
    """(B, N, N, C) float64 noise-free expectation of the count labels of groups at (x, y):
    label_scale**2 * A**2 with A the simulator's far field of its own patches
    (ptycho.simulate.extract_patches, ptycho.physics.forward_np)."""
    from ptycho.physics import forward_np
    from ptycho.simulate import extract_patches

    B, C = x.shape
    N = np.asarray(probe).shape[0]
    A = forward_np(extract_patches(obj, x.ravel(), y.ravel(), N), probe, mask)
    return _channels(A, B, C) ** 2 * float(label_scale) ** 2


def label_agreement(labels_counts: np.ndarray, expected: np.ndarray, photons_per_count: float
                    ) -> dict[str, Any]:
    """The labels as Poisson draws of their expectation (both (B, N, N, C), label units).

    photons_per_count: photons per label count, (s_sim / label_scale)**2, so k = labels * it is
    the detected photon count. mean_z2 = mean over pixels expecting >= MIN_EXPECTED_COUNTS
    photons of (k - mu)**2 / mu: 1 for Poisson data in register with the simulator; a flip,
    shift or permutation of the labels makes it orders of magnitude larger. cosine: per-pattern
    cosine similarity of labels and expectation divided by its Poisson expectation
    1 / sqrt(1 + sum mu / sum mu**2), worst pattern.
    """
    k = np.asarray(labels_counts, np.float64) * photons_per_count
    mu = np.asarray(expected, np.float64) * photons_per_count
    sel = mu >= MIN_EXPECTED_COUNTS
    n = int(np.count_nonzero(sel))
    z2 = float(np.mean((k[sel] - mu[sel]) ** 2 / mu[sel])) if n else math.nan
    axes = (1, 2)
    dot = np.sum(k * mu, axis=axes)
    norms = np.sqrt(np.sum(k * k, axis=axes) * np.sum(mu * mu, axis=axes))
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = dot / norms
        cos_expected = 1.0 / np.sqrt(1.0 + np.sum(mu, axis=axes) / np.sum(mu * mu, axis=axes))
        ratio = cos / cos_expected
    return {"pixels": n, "mean_z2": z2,
            "cosine_ratio_min": float(np.nanmin(ratio)) if ratio.size else math.nan}


def head_after_reassembly(model, obj) -> np.ndarray:
    """Counts (B, N, N, C) float32 of object patches through the built model's layers after
    the reassembly: probe illumination, diffraction, output scaler, square."""
    from ptycho.model import OUTPUT_SCALER, PROBE_LAYER
    from ptycho.tfload import tf

    obj = tf().convert_to_tensor(np.asarray(obj, np.complex64))
    psi = model.get_layer(PROBE_LAYER)(obj)
    amplitude = model.get_layer(OUTPUT_SCALER)(model.get_layer("diffraction_amplitude")(psi))
    return np.asarray(model.get_layer("counts")(amplitude))


def forward_consistency(model, Y: np.ndarray, expected: np.ndarray, amplitude_ratio: float
                        ) -> dict[str, Any]:
    """max over groups and channels of max|head(r*Y) - mu| / max mu: the model's physics head
    after the decoders on the ground-truth patches scaled by the amplitude ratio r the labels
    imply, against the simulator's expected labels mu."""
    counts = head_after_reassembly(model, np.asarray(Y) * np.complex64(amplitude_ratio))
    return {"max_rel_error": _rel_to_max(counts, expected),
            "groups": int(np.asarray(Y).shape[0])}


def reassembly_roundtrip(model, obj, xt: np.ndarray, yt: np.ndarray,
                         coords_relative: np.ndarray) -> dict[str, Any]:
    """The built reassembly layer on ground-truth patches of each group's true geometry
    rounded to whole pixels, windowed to the decoder support, placed by the product's
    coords_relative rounded the same way.

    xt, yt: (B, C) true scan positions of the group members (raw data); channel c is cut at
    centroid - round(-(p_c - centroid)) (bilinear translation by whole pixels is exact).
    Returns own_support_error = max|R(Y W) - Y W| on each patch's support / max|Y W|, and
    covered_error = max|R(Y W) - Y R(W)| / max|Y W|: where the layer says neighbours cover a
    pixel, it must hold the object there, so offsets of the wrong sign or size fail.
    """
    from ptycho.canvas import support_window
    from ptycho.model import REASSEMBLY_LAYER
    from ptycho.simulate import extract_patches

    layer = model.get_layer(REASSEMBLY_LAYER)
    B, C = xt.shape
    cx, cy = xt.mean(axis=1, keepdims=True), yt.mean(axis=1, keepdims=True)
    px, py = cx - np.round(cx - xt), cy - np.round(cy - yt)     # centroid - round(rel_true)
    rel = np.round(np.asarray(coords_relative, np.float64))       # the product's offsets
    N = int(model.inputs[0].shape[1])
    patches = _channels(extract_patches(obj, px.ravel(), py.ravel(), N), B, C).astype(np.complex64)
    W = support_window(N, int(layer.support))[None, :, :, None]
    YW = patches * W
    out = np.asarray(layer(YW, rel.astype(np.float32)))
    cover = np.real(np.asarray(layer((np.ones_like(YW) * W).astype(np.complex64),
                                     rel.astype(np.float32))))
    scale = float(np.max(np.abs(YW))) or 1.0
    own = float(np.max(np.abs(out * W - YW))) / scale
    covered = float(np.max(np.abs(out - patches * cover))) / scale
    return {"own_support_error": own, "covered_error": covered,
            "max_integer_offset": float(np.max(np.abs(rel))) if rel.size else 0.0}


def canvas_capacity(model, max_probe_offset: int) -> dict[str, Any]:
    """Largest whole-pixel group offset the built reassembly layer carries without loss.

    One probe group per offset d = 0..max_probe_offset; group d's channels sit at +-d px along
    x and y (alternating), each a constant (d + 1) on the decoder support. A channel is carried
    when it comes back equal on its support (relative 1e-6). capacity: the largest d such that
    every group up to d is carried (-1 when none is). canvas: the canvas side that implies,
    2 * capacity + support (a patch whose support sits d px off the canvas centre needs
    d + support/2 px on each side; the support is read from the built layer: N/2 gives
    N + 2 * (capacity - N/4), N gives N + 2 * capacity); for C == 1 the layer never
    translates, so the capacity is the whole probe range.
    """
    from ptycho.canvas import support_window
    from ptycho.model import REASSEMBLY_LAYER

    layer = model.get_layer(REASSEMBLY_LAYER)
    N = int(model.inputs[0].shape[1])
    C = int(model.inputs[0].shape[-1])
    support = int(layer.support)
    D = int(max_probe_offset)
    W = support_window(N, support)
    d = np.arange(D + 1, dtype=np.float64)
    rel = np.zeros((D + 1, 1, 2, C))
    for c in range(C):
        axis, sign = (c // 2) % 2, (1.0 if c % 2 == 0 else -1.0)
        rel[:, 0, axis, c] = sign * d
    values = (d + 1.0)[:, None, None, None]
    patches = (values * W[None, :, :, None] * np.ones((1, 1, 1, C))).astype(np.complex64)
    out = np.asarray(layer(patches, rel.astype(np.float32)))
    err = np.max(np.abs(out - patches) * W[None, :, :, None], axis=(1, 2, 3)) / values[:, 0, 0, 0]
    ok = err <= 1e-6
    capacity = int(np.argmin(ok)) - 1 if not ok.all() else D
    canvas = 2 * capacity + support if capacity >= 0 else 0
    return {"capacity": capacity, "canvas": int(canvas), "probe_offsets": D}


def batch_independence(model, diagnostics, inputs: dict[str, np.ndarray], Y: np.ndarray | None
                       ) -> dict[str, Any]:
    """Sample 0's output when every other sample of its batch is perturbed.

    Two batches: (1) the whole model (`diagnostics`, the view with outputs {'object',
    'counts'}) on up to NETWORK_BATCH groups of `inputs`, odd samples' diffraction halved and
    flipped and their offsets moved; (2) the physics head (ptycho.model.physics_head: the
    model's reassembly, probe, diffraction, scale layers) on ground-truth patches Y windowed
    to the decoder support, tiled to >= MIN_BATCH_PATTERNS patterns (where the batch-merging
    reassembly bug starts), odd samples conjugated and their offsets moved. Returns the max
    relative change of sample 0's counts and object amplitude (network) and counts (head)."""
    from ptycho.canvas import support_window
    from ptycho.model import REASSEMBLY_LAYER, physics_head

    def perturbed(batch):
        out = {k: v.copy() for k, v in batch.items()}
        out["coords_relative"][1::2] = -out["coords_relative"][1::2] + np.float32(1.5)
        return out

    n = min(inputs["diffraction"].shape[0], NETWORK_BATCH)
    base = {k: np.ascontiguousarray(v[:n]) for k, v in inputs.items()}
    pert = perturbed(base)
    pert["diffraction"][1::2] = 0.5 * pert["diffraction"][1::2, ::-1, :, :]
    a, b = diagnostics(base, training=False), diagnostics(pert, training=False)
    out = {"network_samples": int(n),
           "counts_change": _rel_to_max(np.asarray(b["counts"])[:1], np.asarray(a["counts"])[:1],
                                        axes=(0, 1, 2, 3)),
           "object_change": _rel_to_max(np.abs(np.asarray(b["object"]))[:1],
                                        np.abs(np.asarray(a["object"]))[:1], axes=(0, 1, 2, 3))}
    if Y is not None:
        N, C = Y.shape[1], Y.shape[-1]
        B = max(2, -(-MIN_BATCH_PATTERNS // C))
        idx = np.arange(B) % Y.shape[0]
        W = support_window(N, int(model.get_layer(REASSEMBLY_LAYER).support))[None, :, :, None]
        hb = {"object": (Y[idx] * W).astype(np.complex64),
              "coords_relative": np.ascontiguousarray(inputs["coords_relative"][idx % n])}
        hp = perturbed(hb)
        hp["object"][1::2] = np.conj(hp["object"][1::2]) * np.complex64(0.5)
        ha = np.asarray(physics_head(model, hb["object"], hb["coords_relative"])[1])[:1]
        hq = np.asarray(physics_head(model, hp["object"], hp["coords_relative"])[1])[:1]
        out["head_patterns"] = int(B * C)
        out["head_counts_change"] = _rel_to_max(hq, ha, axes=(0, 1, 2, 3))
    return out


def _layer_ceiling(layer) -> float | None:
    """The amplitude ceiling a built AmplitudeActivation layer declares (None: unbounded)."""
    kind = getattr(layer, "kind", None)
    if kind == "sigmoid":
        return 1.0
    if kind == "scaled_sigmoid":
        return float(layer.ceiling)
    return None


def _ramp(layer) -> np.ndarray:
    from ptycho.tfload import tf

    x = np.linspace(-RAMP_LIMIT, RAMP_LIMIT, 241, dtype=np.float32).reshape(1, 241, 1, 1)
    return np.asarray(layer(tf().convert_to_tensor(x)), np.float64)


def activation_range(model) -> dict[str, Any]:
    """The built amplitude activation: the ceiling it declares (kind and ceiling attributes),
    and its measured output range on inputs -RAMP_LIMIT..RAMP_LIMIT."""
    layer = model.get_layer("amp_activation")
    y = _ramp(layer)
    return {"kind": getattr(layer, "kind", None), "layer_ceiling": _layer_ceiling(layer),
            "output_max": float(y.max()), "output_min": float(y.min()),
            "ramp_limit": RAMP_LIMIT}


def phase_range(model) -> dict[str, Any]:
    """The built phase activation's measured output range on inputs -RAMP_LIMIT..RAMP_LIMIT."""
    y = _ramp(model.get_layer("phase_activation"))
    return {"output_max": float(y.max()), "output_min": float(y.min())}


# ---------------------------------------------------------------------------- training probes
def _batch(inputs, labels, config, rows: int) -> tuple[dict, dict]:
    keys = [k for k, w in (("counts", config.nll_weight), ("amplitude", config.mae_weight)) if w > 0]
    x = {k: v[:rows] for k, v in inputs.items()}
    return x, {k: labels[k][:rows] for k in keys}


def loss_and_gradient(model, config, inputs: dict, labels: dict) -> dict[str, Any]:
    """On one batch (the first batch_size groups) of the built model, compiled by
    ptycho.train.compile_model: the compiled loss vs nll_weight * NLL + mae_weight * MAE from
    ptycho.losses; one gradient (names of trainable weights whose gradient is all zero or
    None); one optimizer step (the loss after it, its first-order change sum g . dw relative
    to the loss, and the largest update of a weight that started at 0 over the configured
    learning rate: 1 for Adam's first step). The model's
    weights are restored afterwards."""
    from ptycho.losses import amplitude_mae, nll_for
    from ptycho.tfload import tf as _tf
    from ptycho.train import compile_model

    tf = _tf()
    rows = min(int(config.batch_size), inputs["diffraction"].shape[0])
    x, y = _batch(inputs, labels, config, rows)
    saved = model.get_weights()
    try:
        compile_model(model, config)
        weights = list(model.trainable_weights)
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=pred, training=True)
        grads = tape.gradient(loss, weights)
        nll = float(np.mean(np.asarray(nll_for(config.nll_form)(labels["counts"][:rows],
                                                                pred["counts"]), np.float64)))
        mae = float(np.mean(np.asarray(amplitude_mae(labels["amplitude"][:rows],
                                                     pred["amplitude"]), np.float64)))
        composed = config.nll_weight * nll + config.mae_weight * mae
        zero = [getattr(w, "path", w.name) for w, g in zip(weights, grads)
                if g is None or not np.any(np.asarray(g))]
        before = [np.asarray(w) for w in weights]
        model.optimizer.apply_gradients(
            [(g if g is not None else tf.zeros_like(w), w) for g, w in zip(grads, weights)])
        after = [np.asarray(w) for w in weights]
        # first-order loss change of the step, sum g . (w_after - w_before): negative for any
        # descent direction (Adam's first step: -lr g/(|g| + eps')), whatever the curvature
        directional = math.fsum(float(np.sum(np.asarray(g, np.float64) * (a.astype(np.float64) - b)))
                                for g, a, b in zip(grads, after, before) if g is not None)
        moved = [np.abs(a.astype(np.float64))[b == 0] for a, b in zip(after, before)]
        moved = np.concatenate([m.ravel() for m in moved]) if moved else np.zeros(0)
        loss_after = float(model.compute_loss(x=x, y=y, y_pred=model(x, training=True),
                                              training=True))
        lr = float(np.asarray(model.optimizer.learning_rate))
    finally:
        model.set_weights(saved)
    loss_before = float(loss)
    return {
        "batch": rows,
        "loss_compiled": loss_before, "loss_nll": nll, "loss_mae": mae, "loss_composed": composed,
        "nll_weight": float(config.nll_weight), "mae_weight": float(config.mae_weight),
        "trainable_weights": len(weights), "zero_gradient_weights": sorted(zero),
        "gradient_norm": float(math.sqrt(math.fsum(
            float(np.sum(np.square(np.asarray(g, np.float64)))) for g in grads if g is not None))),
        "learning_rate": lr, "configured_learning_rate": float(config.learning_rate),
        "max_update_over_lr": float(moved.max()) / float(config.learning_rate) if moved.size else math.nan,
        "loss_after_step": loss_after,
        "step_relative_change": (loss_after - loss_before) / abs(loss_before) if loss_before else math.nan,
        "step_first_order_change": directional / abs(loss_before) if loss_before else math.nan,
    }


def _feed_capture():
    """A Keras callback that replaces fit's train (and test) function by one that records
    each batch `train_step` would receive and skips the step itself."""
    from ptycho.tfload import keras as _keras

    keras = _keras()

    class FeedCapture(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches: list[tuple[dict, dict]] = []

        def on_train_begin(self, logs=None):
            def record(iterator):
                data = iterator.get_next() if hasattr(iterator, "get_next") else next(iterator)
                x, y = data[0], data[1]
                self.batches.append(({k: np.asarray(v) for k, v in x.items()},
                                     {k: np.asarray(v) for k, v in y.items()}))
                return {"loss": np.float32(0.0)}

            self.model.train_function = record
            self.model.test_function = lambda iterator: {"loss": np.float32(0.0)}

    return FeedCapture()


def training_feed(model, fed, plan, config, probe, max_offset: float) -> dict[str, Any]:
    """Rows `ptycho.train.train` feeds the optimizer (one epoch, shuffled and unshuffled),
    each matched to the container group whose scaled diffraction it is (exact float32 match):
    label_error = max over rows of max|counts label - (external_scale * X_fed)**2| / max of
    it (and the amplitude label vs external_scale * X_fed when MAE is on); unmatched rows
    (inputs not equal to any group) and coords rows differing from that group's count; per
    path the rows fed and the distinct groups among them (each training group exactly once
    per epoch: equal)."""
    from ptycho.config import replace
    from ptycho.train import scaled_diffraction, train

    n = min(len(fed), PROBE_GROUPS)
    sub = fed.take(np.arange(n)) if n < len(fed) else fed
    scaled = scaled_diffraction(sub, plan)
    expected = scaled.astype(np.float64)
    coords = np.asarray(sub.coords_nominal_np, np.float32)
    lookup = {scaled[b].tobytes(): b for b in range(n)}
    cfg = replace(config, nepochs=1)
    rows = {True: 0, False: 0}
    unmatched = coords_bad = 0
    label_err, seen = 0.0, set()
    for shuffle in (True, False):
        cap = _feed_capture()
        train(sub, plan, cfg, probe=probe, max_offset=max_offset, shuffle=shuffle,
              callbacks=[cap], model=model)
        for x, y in cap.batches:
            for r in range(x["diffraction"].shape[0]):
                rows[shuffle] += 1
                b = lookup.get(np.ascontiguousarray(x["diffraction"][r]).tobytes())
                if b is None:
                    unmatched += 1
                    continue
                seen.add((shuffle, b))
                if not np.array_equal(x["coords_relative"][r], coords[b]):
                    coords_bad += 1
                want = expected[b] ** 2
                if "counts" in y:
                    label_err = max(label_err, float(np.max(np.abs(y["counts"][r] - want))
                                                     / max(float(np.max(want)), 1e-300)))
                if "amplitude" in y:
                    label_err = max(label_err, float(np.max(np.abs(y["amplitude"][r] - expected[b]))
                                                     / max(float(np.max(expected[b])), 1e-300)))
    return {"groups": n, "rows_shuffled": rows[True], "rows_unshuffled": rows[False],
            "distinct_groups_shuffled": sum(1 for s, _ in seen if s),
            "distinct_groups_unshuffled": sum(1 for s, _ in seen if not s),
            "unmatched_rows": unmatched, "coords_mismatch_rows": coords_bad,
            "label_error": label_err}


# ---------------------------------------------------------------------------- stitch, evaluate
def stitch_roundtrip(obj, raw, grouped, crop: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ground-truth patches stitched back into the object, and evaluations of the result.

    The object is given a phase (PHASE_PER_AMPLITUDE * (|O| - mean|O|), so phase metrics have
    structure); patches are cut by ptycho.simulate.extract_patches at the group members' raw
    scan positions rounded to whole pixels, and stitched by ptycho.stitching.stitch_patches at
    the product's global positions (ptycho.stitching.global_positions) moved by the same
    rounding, so a correct pipeline reproduces the object exactly on the covered pixels.
    Returns (stitch values, evaluate values): the stitch's max relative error and covered
    fraction; evaluate_images of the stitch against the object (perfect scores) and of
    COPY_SCALE * exp(i COPY_PHASE) * stitch (ls_scalar COPY_SCALE, amplitude MAE
    (COPY_SCALE - 1) * mean|O| over the evaluated pixels, perfect phase metrics).
    """
    from ptycho.evaluation import evaluate_images, scan_region
    from ptycho.simulate import extract_patches
    from ptycho.stitching import global_positions, stitch_patches

    amp = np.abs(np.asarray(obj, np.complex128))
    field = amp * np.exp(1j * PHASE_PER_AMPLITUDE * (amp - amp.mean()))
    xt, yt = truth_positions(raw, grouped.nn_indices)
    xr, yr = np.round(xt), np.round(yt)
    B, C = xt.shape
    N = grouped.N
    patches = extract_patches(field, xr.ravel(), yr.ravel(), N)      # flat b*C + c
    gx, gy = global_positions(grouped.coords_offsets, grouped.coords_relative)
    px, py = gx + (xr - xt).ravel(), gy + (yr - yt).ravel()
    res = stitch_patches(patches, px, py, crop=int(crop), origin=(0.0, 0.0), shape=field.shape)
    covered = res.covered()
    scale = float(np.max(amp[covered])) if covered.any() else 1.0
    err = float(np.max(np.abs(res.image[covered] - field[covered]))) / scale if covered.any() else math.inf
    stitch = {"max_rel_error": err, "covered_fraction": float(np.mean(covered)),
              "patches": int(B * C)}
    const = np.full(field.shape, float(np.mean(amp[covered])) if covered.any() else 1.0)
    out: dict[str, Any] = {}
    copy = COPY_SCALE * np.exp(1j * COPY_PHASE) * res.image
    for tag, recon in (("identity", res.image), ("scaled_copy", copy)):
        rep = evaluate_images(recon, field, const, xcoords=px, ycoords=py, covered=covered)
        for name in ("ls_scalar", "mae", "pearson"):
            out[f"{tag}.amplitude_{name}"] = rep.amplitude[name]["model"]
        for name in ("mae", "rmse", "pearson", "global_phase"):
            out[f"{tag}.phase_{name}"] = rep.phase[name]["model"]
        shift = rep.registration_shift
        out[f"{tag}.registration_shift"] = (max(abs(shift[0]), abs(shift[1]))
                                            if shift is not None else None)
    rows, cols = scan_region(px, py, field.shape)
    out["truth_amplitude_mean"] = float(np.mean(amp[rows, cols][covered[rows, cols]]))
    out["copy_scale"], out["copy_phase"] = COPY_SCALE, COPY_PHASE
    return stitch, out

