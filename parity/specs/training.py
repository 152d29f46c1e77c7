"""Specification of the `train` stage: the training loop's contract (ptycho.train.train).

On a few groups and a few steps of the product's own loop (`train`, Keras fit, the configured
optimizer and loss), whatever the model:
- the loss goes down: the last epoch's loss is below the first's (each epoch is one step on
  the same rows, so this is the loss after STEPS - 1 updates vs before any; the Poisson NLL
  in its mean form lam - k log lam is negative, so "below" is measured as
  loss_decrease = (first - last) / |first| > 0);
- every trainable weight changes, and no non-trainable weight does;
- the scale weights (input/output scaler) move exactly when configured trainable.
The model's weights are restored afterwards.
"""
from __future__ import annotations

import numpy as np

#: optimizer steps (epochs of one batch) of the contract run
STEPS = 3
#: groups fed (one batch)
GROUPS = 2


def _eager_fit_callback():
    """Keras callback: run fit's steps eagerly (no graph tracing: a few steps cost
    milliseconds instead of a trace). The step itself is Keras' own train_step."""
    from ptycho.tfload import keras as _keras

    keras = _keras()

    class Eager(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.model.run_eagerly = True
            self.model.make_train_function(force=True)

    return Eager()


def _weight_paths(weights) -> list[str]:
    return [getattr(w, "path", w.name) for w in weights]


def train_contract(model, fed, plan, config, probe, max_offset: float, *, train,
                   scale_layers=("input_scaler", "output_scaler")) -> dict:
    """Run `train` (the product's loop) for STEPS epochs of one batch of GROUPS groups on the
    built `model`; return loss_first, loss_last, loss_ratio (last/first), unchanged_trainable
    (paths of trainable weights that did not move), changed_frozen (non-trainable weights that
    moved), scales_moved / scales_trainable (scale layers whose weights moved / are in
    trainable_weights)."""
    from ptycho.config import replace

    n = min(len(fed), GROUPS)
    sub = fed.take(np.arange(n))
    cfg = replace(config, nepochs=STEPS, batch_size=n, validation_split=0.0)
    trainable = list(model.trainable_weights)
    frozen = list(model.non_trainable_weights)
    saved = model.get_weights()
    before_t = [np.array(w.numpy()) for w in trainable]
    before_f = [np.array(w.numpy()) for w in frozen]
    try:
        res = train(sub, plan, cfg, probe=probe, max_offset=max_offset, shuffle=False,
                    callbacks=[_eager_fit_callback()], model=model)
        after_t = [np.array(w.numpy()) for w in trainable]
        after_f = [np.array(w.numpy()) for w in frozen]
    finally:
        model.set_weights(saved)
    loss = list(res.history.get("loss", []))
    unchanged = [p for p, a, b in zip(_weight_paths(trainable), after_t, before_t)
                 if np.array_equal(a, b)]
    changed_frozen = [p for p, a, b in zip(_weight_paths(frozen), after_f, before_f)
                      if not np.array_equal(a, b)]
    moved, marked = set(), set()
    # a scale layer's weights: trainable ones are "marked"; any that changed "moved"
    for weights, after, before, is_trainable in ((trainable, after_t, before_t, True),
                                                 (frozen, after_f, before_f, False)):
        for p, a, b in zip(_weight_paths(weights), after, before):
            for layer in scale_layers:
                if p.startswith(layer + "/"):
                    if is_trainable:
                        marked.add(layer)
                    if not np.array_equal(a, b):
                        moved.add(layer)
    first, last = (loss[0], loss[-1]) if loss else (float("nan"), float("nan"))
    return {"steps": len(loss), "groups": int(n), "loss_first": float(first),
            "loss_last": float(last),
            "loss_decrease": (float(first) - float(last)) / abs(float(first)) if first else float("nan"),
            "unchanged_trainable": sorted(unchanged), "trainable_count": len(trainable),
            "changed_frozen": sorted(changed_frozen),
            "scales_moved": sorted(moved), "scales_trainable": sorted(marked)}


def split_spec(train_idx, val_idx, n: int, validation_split: float) -> dict:
    """ptycho.train.split_indices(n, validation_split, seed) against its documentation: the
    training and validation groups are disjoint, together every group, and validation holds
    round(validation_split * n) groups (at most n - 1). Counts: overlap, missing groups, the
    validation size's error, and the training rows."""
    t, v = set(np.asarray(train_idx).tolist()), set(np.asarray(val_idx).tolist())
    want = min(int(round(validation_split * n)), n - 1) if n > 1 else 0
    return {"split.overlap": len(t & v), "split.missing": n - len(t | v),
            "split.validation_size_error": abs(len(v) - want), "split.train_rows": len(t),
            "split.validation_rows": len(v)}
