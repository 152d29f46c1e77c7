"""The train stage: the training path's one-batch consistency diagnostics, and with training
ptycho.train.train on the fed container (seeded), its loss history and loss floor."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .. import consistency
from ..telemetry import prefixed
from .curve import curve_callback, curve_values, held_out_frame
from .state import StageState


def _train_diagnostics(st: StageState) -> dict[str, Any]:
    """One-batch diagnostics of the training path on the forward stage's model (weights restored):
    compiled loss vs its composition, gradient reach, one optimizer step, and the rows
    ptycho.train.train feeds the optimizer (parity.consistency)."""
    model, plan, cfg = st.art.model, st.art.plan, st.config
    out = prefixed("probe", consistency.loss_and_gradient(model, cfg, st.art.inputs,
                                                          st.art.labels))
    out.update(prefixed("feed", consistency.training_feed(
        model, st.art.fed, plan, cfg, st.art.probe, st.art.planned_max_offset)))
    return out


def _faulty_model(st: StageState):
    """The training model with the injected training fault applied (parity.faults
    TRAINING_FAULTS), or None without one (ptycho.train.train then builds its own)."""
    if not st.fault("blind_encoder"):
        return None
    from ptycho.model import build_model

    plan, cfg = st.art.plan, st.config
    model, _ = build_model(cfg.model, cfg, probe=st.art.probe, input_scale=plan.input_scaler,
                           output_scale=plan.output_scaler,
                           max_offset=st.art.planned_max_offset, seed=cfg.seed)
    for layer in model.layers:
        if layer.name.startswith("enc") and layer.name.endswith(("conv0", "conv1")):
            layer.kernel.assign(np.zeros(layer.kernel.shape, np.float32))
            layer.trainable = False
    return model


def feed_with_faults(fed, faults: tuple[str, ...]):
    """The fed container `fed` as ptycho.train.train fits it under the injected feed faults
    (parity.faults GRIDSIZE2_FAULTS): itself without one, else a copy whose relative offsets
    are zero ('coords_dropped') and / or whose patterns are rolled by one along the channel
    axis against the offsets ('channels_rolled'). Both leave every intensity, hence every
    scale, as it is."""
    drop, roll = "coords_dropped" in faults, "channels_rolled" in faults
    if not (drop or roll):
        return fed
    from ptycho.container import PtychoDataContainer

    coords = np.zeros_like(fed.coords_nominal_np) if drop else fed.coords_nominal_np
    X = np.roll(fed.X_np, 1, axis=-1) if roll else fed.X_np
    return PtychoDataContainer(X, fed.Y_I_np, fed.Y_phi_np, coords, fed.probe_np,
                               coords_offsets=fed.coords_offsets_np, nn_indices=fed.nn_indices_np,
                               feed_gain=fed.feed_gain)


def loss_floor(st: StageState) -> float:
    """The training loss's floor on the training split (nll_weight x the NLL at lam = k, the
    amplitude MAE's floor is 0): ptycho.losses.nll_floor on the rows train() fits."""
    from ptycho.losses import nll_floor
    from ptycho.train import split_indices, training_arrays

    cfg = st.config
    if cfg.nll_weight == 0:
        return 0.0
    _, labels = training_arrays(st.art.fed, st.art.plan)
    idx, _ = split_indices(labels["counts"].shape[0], cfg.validation_split, cfg.seed)
    return cfg.nll_weight * nll_floor(labels["counts"][idx], cfg.nll_form)


def stage_train(st: StageState) -> dict[str, Any]:
    """Without training (the tiny gate): the one-batch diagnostics only (`mode` 'probe'). With
    training: the diagnostics, then ptycho.train.train on the fed container (seeded); loss history,
    the loss floor (loss_excess_ratio = (last - floor) / (first - floor), the share of the
    first epoch's misfit left at the end) and final scales (`mode` 'fit')."""
    from ptycho.train import train

    out: dict[str, Any] = {"mode": "fit" if st.spec.train else "probe"}
    out.update(_train_diagnostics(st))
    if not st.spec.train:
        return out
    cfg = st.config
    if st.fault("lr_typo"):
        cfg = dataclasses.replace(cfg, learning_rate=cfg.learning_rate * 1e-4)
    if st.fault("single_epoch"):
        cfg = dataclasses.replace(cfg, nepochs=1)
    frame = None
    if st.sizes.curve_every and st.art.has("raw_test"):
        from .results import infer_container

        fed, grouped = infer_container(st)
        frame = held_out_frame(fed, grouped, st.art.plan, cfg, probe=st.art.probe,
                                     mask=st.art.mask, size=st.sizes.object_size)
    res = train(feed_with_faults(st.art.fed, st.spec.faults), st.art.plan, cfg,
                probe=st.art.probe,
                max_offset=st.art.planned_max_offset, model=_faulty_model(st),
                callbacks=[curve_callback(frame, st.sizes.curve_every, cfg.nepochs)]
                if frame is not None else [])
    st.art.trained = res
    loss = res.history.get("loss", [])
    floor = loss_floor(st)
    first, last = (loss[0], loss[-1]) if loss else (math.nan, math.nan)
    out.update({"epochs": len(loss), "n_train": res.n_train, "n_val": res.n_val,
                "loss_first": first, "loss_last": last, "loss_floor": floor,
                "loss_excess_ratio": (last - floor) / (first - floor) if first != floor else math.nan,
                "input_scale_weight": res.scales["input_scale"],
                "output_scale_weight": res.scales["output_scale"],
                "n_params": res.parameters["total"]})
    st.art.epoch_seconds = list(res.epoch_seconds)  # wall times: not telemetry
    if "val_loss" in res.history:
        out["val_loss_last"] = res.history["val_loss"][-1]
    if frame is not None:
        out.update(curve_values(frame.points))
    return out

