"""The training path without training: the compiled loss against its composition, one gradient
and one optimizer step (`loss_and_gradient`), and the rows `ptycho.train.train` feeds the
optimizer (`training_feed`)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .arrays import DIAGNOSTIC_GROUPS

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
    each matched to a container group whose scaled diffraction it is (exact float32 match; of
    groups with equal contents, the next one not yet fed):
    label_error = max over rows of max|counts label - (external_scale * X_fed)**2| / max of
    it (and the amplitude label vs external_scale * X_fed when MAE is on); unmatched rows
    (inputs not equal to any group) and coords rows differing from that group's count; per
    path the rows fed and the distinct groups among them (each training group exactly once
    per epoch: equal)."""
    from ptycho.config import replace
    from ptycho.train import scaled_diffraction, train

    n = min(len(fed), DIAGNOSTIC_GROUPS)
    sub = fed.take(np.arange(n)) if n < len(fed) else fed
    scaled = scaled_diffraction(sub, plan)
    expected = scaled.astype(np.float64)
    coords = np.asarray(sub.coords_nominal_np, np.float32)
    # groups by content: two groups may hold the same members (gridsize > 1 draws groups with
    # replacement), so each content lists all of its groups and a fed row takes the next
    # one not yet fed; a row that finds all of them fed is a group fed twice
    lookup: dict[bytes, list[int]] = {}
    for b in range(n):
        lookup.setdefault(scaled[b].tobytes(), []).append(b)
    cfg = replace(config, nepochs=1)
    rows = {True: 0, False: 0}
    unmatched = coords_bad = 0
    label_err, seen = 0.0, set()
    for shuffle in (True, False):
        cap = _feed_capture()
        train(sub, plan, cfg, probe=probe, max_offset=max_offset, shuffle=shuffle,
              callbacks=[cap], model=model)
        unfed = {key: list(groups) for key, groups in lookup.items()}
        for x, y in cap.batches:
            for r in range(x["diffraction"].shape[0]):
                rows[shuffle] += 1
                key = np.ascontiguousarray(x["diffraction"][r]).tobytes()
                if key not in lookup:
                    unmatched += 1
                    continue
                b = unfed[key].pop(0) if unfed[key] else lookup[key][0]
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
