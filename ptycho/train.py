"""Training of the PINN on a PtychoDataContainer with a ScalePlan (docs/design.md §4, §7).

Data (all float32, (B, N, N, C)): the container stores X_fed = feed_gain * X_raw; the model
input and the amplitude labels are external_scale * X_fed, the count labels their square.
Optimizer: Adam at `learning_rate`, halved when the monitored loss (validation when there is a
validation split, else training) stops improving for PLATEAU_PATIENCE epochs, down to
learning_rate * MIN_LR_FACTOR. Everything is seeded from TrainingConfig.seed (Python, NumPy,
TensorFlow/Keras, kernel initializers, the validation split and the shuffle). A NaN guard
raises NonFiniteLossError(epoch, step, value) at the first non-finite batch loss (step is the
0-based batch index; step -1 denotes the end-of-epoch validation loss).
"""
from __future__ import annotations

import json
import math
import pathlib
import time
from dataclasses import dataclass, field

import numpy as np

from . import atomic
from .config import TrainingConfig
from .errors import ConfigError, NonFiniteLossError
from .losses import amplitude_mae, keras_losses, nll_for
from .model import build_model, count_parameters, diffraction_to_obj, model_scales
from .stats import finite_or_none
from .tfload import keras as _keras
from .tfload import seed_everything
from .tfload import tf as _tf

PLATEAU_FACTOR = 0.5
PLATEAU_PATIENCE = 3
MIN_LR_FACTOR = 1e-2


@dataclass
class TrainResult:
    """Outcome of `train`.

    model / diffraction_to_obj: the trained Keras models. history: {metric: [per-epoch
    values]} (loss, counts_loss, val_* when validating, lr). epoch_seconds: wall time of each
    epoch. total_seconds: wall time of fit. parameters: count_parameters(model).
    n_train / n_val: groups used for training / validation.
    """

    model: object
    diffraction_to_obj: object
    history: dict
    epoch_seconds: list
    total_seconds: float
    parameters: dict
    n_train: int
    n_val: int
    plan: object
    config: TrainingConfig
    scales: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-safe summary (history, timing, parameter counts, final scale weights)."""
        return {
            "history": _json_safe(self.history),
            "epoch_seconds": [float(t) for t in self.epoch_seconds],
            "total_seconds": float(self.total_seconds),
            "parameters": dict(self.parameters),
            "n_train": int(self.n_train),
            "n_val": int(self.n_val),
            "scales": _json_safe(self.scales),
            "plan": self.plan.to_dict() if hasattr(self.plan, "to_dict") else None,
        }


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return finite_or_none(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    return obj


def write_json_atomic(path, payload) -> pathlib.Path:
    """Write `payload` as indented JSON to `path` atomically (`ptycho.atomic.write_text`)."""
    text = json.dumps(_json_safe(payload), indent=2, sort_keys=False) + "\n"
    return atomic.write_text(path, text)


# ---------------------------------------------------------------------------- data
def check_plan(container, plan, config: TrainingConfig) -> None:
    """Raise ConfigError when the container, plan and config disagree (N, C, feed, gain)."""
    X = container.X_np
    if not isinstance(X, np.ndarray) or X.ndim != 4:
        raise ConfigError("container.X_np", f"must be a (B, N, N, C) array, got {type(X).__name__}")
    N, C = config.model.N, config.model.channels
    if X.shape[1:] != (N, N, C):
        raise ConfigError("container.X_np", f"shape {X.shape} does not match N={N}, C={C}")
    if int(plan.N) != N:
        raise ConfigError("plan.N", f"is {plan.N}, config.model.N is {N}")
    if plan.data_feed != config.data_feed:
        raise ConfigError("plan.data_feed", f"is {plan.data_feed!r}, config says {config.data_feed!r}")
    stored_gain = getattr(container, "feed_gain", None)
    if stored_gain is not None and not math.isclose(float(stored_gain), float(plan.feed_gain),
                                                    rel_tol=1e-6):
        raise ConfigError("plan.feed_gain", f"is {plan.feed_gain!r} but the container stores "
                                            f"X_fed with feed_gain={stored_gain!r}")


def scaled_diffraction(container, plan) -> np.ndarray:
    """(B, N, N, C) float32 external_scale * X_fed: the model input and the amplitude labels."""
    X = np.asarray(container.X_np)
    return (X.astype(np.float64) * float(plan.external_scale)).astype(np.float32)


def coords_input(container) -> np.ndarray:
    """(B, 1, 2, C) float32 coords_relative of the container (`coords_nominal_np`)."""
    return np.asarray(container.coords_nominal_np, dtype=np.float32)


def training_arrays(container, plan) -> tuple[dict, dict]:
    """(inputs, labels) dicts for the training model.

    inputs: diffraction (B, N, N, C) float32, coords_relative (B, 1, 2, C) float32;
    labels: amplitude = external_scale * X_fed, counts = amplitude**2 (float32).
    """
    amp = scaled_diffraction(container, plan)
    counts = (amp.astype(np.float64) ** 2).astype(np.float32)
    return ({"diffraction": amp, "coords_relative": coords_input(container)},
            {"amplitude": amp, "counts": counts})


def max_relative_offset(container) -> float:
    """Largest |coords_relative| component of the container (pixels): sizes the canvas."""
    rel = np.asarray(container.coords_nominal_np, dtype=np.float64)
    return float(np.max(np.abs(rel))) if rel.size else 0.0


def split_indices(n: int, validation_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, val) index split; val has round(split * n) groups, train keeps >= 1."""
    n_val = int(round(validation_split * n))
    n_val = min(n_val, n - 1) if n > 1 else 0
    order = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(7,))).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _take(d: dict, idx: np.ndarray) -> dict:
    return {k: v[idx] for k, v in d.items()}


def prepare_data(raw, config: TrainingConfig, *, probe=None):
    """RawData -> (grouped, container, plan) for `config` (grouping, ScalePlan, container).

    Groups with config's gridsize / n_groups / neighbor_count / strategy / seed; the plan is
    computed on the grouped RAW diffraction (E is a mean over b and c); the container stores
    X_fed = plan.feed_gain * X_raw. probe: (N, N) normalized probe (default raw.probeGuess).
    """
    from .container import PtychoDataContainer
    from .grouping import group
    from .scaling import plan_scales

    grouped = group(raw, gridsize=config.model.gridsize, n_groups=config.n_groups,
                    neighbor_count=config.neighbor_count, strategy=config.grouping_strategy,
                    seed=config.seed)
    plan = plan_scales(grouped.diffraction, config)
    probe = raw.probeGuess if probe is None else probe
    container = PtychoDataContainer.from_grouped(grouped, probe, feed_gain=plan.feed_gain)
    return grouped, container, plan


# ---------------------------------------------------------------------------- callbacks
def _callbacks(keras, has_val: bool):
    class NonFiniteGuard(keras.callbacks.Callback):
        """Raise NonFiniteLossError at the first non-finite batch (or validation) loss."""

        def __init__(self):
            super().__init__()
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = int(epoch)

        def on_train_batch_end(self, batch, logs=None):
            value = float(np.asarray((logs or {}).get("loss", 0.0)))
            if not math.isfinite(value):
                raise NonFiniteLossError(self.epoch, int(batch), value)

        def on_epoch_end(self, epoch, logs=None):
            if has_val and "val_loss" in (logs or {}):
                value = float(np.asarray(logs["val_loss"]))
                if not math.isfinite(value):
                    raise NonFiniteLossError(int(epoch), -1, value)

    class EpochTimer(keras.callbacks.Callback):
        """Wall time per epoch and the learning rate in force."""

        def __init__(self):
            super().__init__()
            self.seconds, self.lr = [], []
            self._t0 = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._t0)
            self.lr.append(float(np.asarray(self.model.optimizer.learning_rate)))

    return NonFiniteGuard(), EpochTimer()


def compile_model(model, config: TrainingConfig) -> None:
    """Compile with Adam(learning_rate) and the configured NLL (+ optional amplitude MAE)."""
    keras = _keras()
    keras_losses()
    loss, weights = {}, {}
    if config.nll_weight > 0:
        loss["counts"] = nll_for(config.nll_form)
        weights["counts"] = float(config.nll_weight)
    if config.mae_weight > 0:
        loss["amplitude"] = amplitude_mae
        weights["amplitude"] = float(config.mae_weight)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
                  loss=loss, loss_weights=weights)


# ---------------------------------------------------------------------------- train
def train(container, plan, config: TrainingConfig, *, probe=None, max_offset=None,
          verbose: int = 0, history_path=None, shuffle: bool = True,
          deterministic: bool = True, callbacks=(), model=None) -> TrainResult:
    """Build, compile and fit the PINN; return a TrainResult.

    container: PtychoDataContainer (numpy `X_np` = X_fed, `coords_nominal_np`, `probe_np`).
    plan: ScalePlan of the raw data for `config` (ptycho.scaling.plan_scales).
    probe: (N, N) complex initial probe (default the container's). max_offset: canvas
    offset bound in pixels (default the container's largest |coords_relative|).
    verbose: Keras progress bar (0 off, 1 bar, 2 one line per epoch). history_path: where to
    write the history JSON (atomically). deterministic: enable TF op determinism.
    callbacks: extra Keras callbacks (e.g. periodic evaluation), run after the NaN guard.
    model: an already built training model (from `build_model` for this config, probe and
    canvas, e.g. a cached one) to compile and fit in place instead of building a fresh one.
    Raises NonFiniteLossError at the first non-finite loss.
    """
    if not isinstance(config, TrainingConfig):
        raise ConfigError("config", f"must be a TrainingConfig, got {type(config).__name__}")
    check_plan(container, plan, config)
    keras = _keras()
    tf = _tf()
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    seed_everything(config.seed)

    probe = np.asarray(container.probe_np if probe is None else probe)
    max_offset = max_relative_offset(container) if max_offset is None else float(max_offset)
    if model is None:
        model, d2o = build_model(config.model, config, probe=probe,
                                 input_scale=plan.input_scaler, output_scale=plan.output_scaler,
                                 max_offset=max_offset, seed=config.seed)
    else:
        d2o = diffraction_to_obj(model)
    compile_model(model, config)

    inputs, labels = training_arrays(container, plan)
    B = inputs["diffraction"].shape[0]
    train_idx, val_idx = split_indices(B, config.validation_split, config.seed)
    x_train, y_train = _take(inputs, train_idx), _take(labels, train_idx)
    validation = (_take(inputs, val_idx), _take(labels, val_idx)) if len(val_idx) else None
    y_keys = {k for k, w in (("counts", config.nll_weight), ("amplitude", config.mae_weight))
              if w > 0}
    y_train = {k: v for k, v in y_train.items() if k in y_keys}
    if validation is not None:
        validation = (validation[0], {k: v for k, v in validation[1].items() if k in y_keys})

    guard, timer = _callbacks(keras, validation is not None)
    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss" if validation is not None else "loss", factor=PLATEAU_FACTOR,
        patience=PLATEAU_PATIENCE, min_lr=config.learning_rate * MIN_LR_FACTOR, verbose=0)
    t0 = time.perf_counter()
    fit = model.fit(x_train, y_train, batch_size=config.batch_size, epochs=config.nepochs,
                    validation_data=validation, shuffle=shuffle, verbose=verbose,
                    callbacks=[guard, timer, plateau, *callbacks])
    total = time.perf_counter() - t0

    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    history["lr"] = list(timer.lr)
    s_in, s_out = model_scales(model)
    result = TrainResult(
        model=model, diffraction_to_obj=d2o, history=history, epoch_seconds=list(timer.seconds),
        total_seconds=total, parameters=count_parameters(model), n_train=len(train_idx),
        n_val=len(val_idx), plan=plan, config=config,
        scales={"input_scale": s_in, "output_scale": s_out},
    )
    if history_path is not None:
        write_json_atomic(history_path, result.summary())
    return result
