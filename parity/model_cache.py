"""The model cache of a replay run: seeded models built once per (ModelConfig, seed, canvas).

Building a Keras model costs seconds; replays of the same scenario under several profiles need
the same architecture with different probe and scale weights. `ModelCache.get` builds a model
through `ptycho.model.build_model` on first use and, on later uses, assigns the weights that
differ between replays (probe, the two scale weights) the values `build_model` would
initialize them to, so a cached model equals a fresh build bit for bit. The replay layer owns
the cache and passes it to the stages; nothing here is global.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ptycho.canvas import canvas_padding
from ptycho.config import TrainingConfig


class ModelCache:
    """(model, diffraction_to_obj, diagnostics) per (ModelConfig, seed, canvas padding)."""

    def __init__(self) -> None:
        self._models: dict[tuple, tuple[Any, Any, Any]] = {}
        self._memo: dict[Any, Any] = {}

    def __len__(self) -> int:
        return len(self._models)

    def clear(self) -> None:
        """Forget every model (tests that rebuild from scratch use it)."""
        self._models.clear()
        self._memo.clear()

    def memo(self, key, build):
        """What `build()` returned the first time it was asked for under `key` (other costly
        products of a replay that several replays share, e.g. the oracle's reconstruction of
        the same simulated data; `key` must determine the result)."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def get(self, config: TrainingConfig, probe: np.ndarray, plan, max_offset: float):
        """(model, diffraction_to_obj, diagnostics) for this config, seeded.

        model/diffraction_to_obj come from ptycho.model.build_model; `diagnostics` is a view
        of the same layers with both the object patches and the counts as outputs (one pass).
        probe: (N, N) complex normalized probe; plan: the ptycho.scaling.ScalePlan whose input
        and output scalers the scale weights take; max_offset: largest |coords_relative| (px).
        """
        from ptycho.model import INPUT_SCALER, OBJECT_LAYER, OUTPUT_SCALER, PROBE_LAYER, build_model
        from ptycho.tfload import keras, seed_everything, tf

        tf().config.experimental.enable_op_determinism()
        key = (config.model, int(config.seed), canvas_padding(max_offset))
        P = np.asarray(probe).astype(np.complex64)
        if key not in self._models:
            seed_everything(config.seed)
            model, d2o = build_model(config.model, config, probe=P, input_scale=plan.input_scaler,
                                     output_scale=plan.output_scaler, max_offset=max_offset,
                                     seed=config.seed)
            diag = keras().Model(model.inputs, {"object": model.get_layer(OBJECT_LAYER).output,
                                                "counts": model.get_layer("counts").output},
                                 name="forward_diagnostics")
            self._models[key] = (model, d2o, diag)
            return self._models[key]
        model, d2o, diag = self._models[key]
        model.get_layer(INPUT_SCALER).log_scale.assign(np.float32(math.log(plan.input_scaler)))
        model.get_layer(OUTPUT_SCALER).log_scale.assign(np.float32(math.log(plan.output_scaler)))
        layer = model.get_layer(PROBE_LAYER)
        layer.probe_real.assign(np.real(P).astype(np.float32))
        layer.probe_imag.assign(np.imag(P).astype(np.float32))
        return model, d2o, diag
