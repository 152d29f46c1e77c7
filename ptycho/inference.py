"""Batched reconstruction of object patches with the `diffraction_to_obj` model.

The model input is external_scale * X_fed (B, N, N, C) float32, exactly as in training; the
output is complex64 object patches (B, N, N, C), each centred at its own scan position. For
the current profile the amplitude is in units of |O_true|; for legacy it is g * |O_true|.
"""
from __future__ import annotations

import numpy as np

from .config import InferenceConfig
from .errors import ConfigError
from .validation import require_int
from .train import scaled_diffraction


def predict_patches(diffraction_to_obj, diffraction, *, batch_size: int = 64) -> np.ndarray:
    """Object patches (B, N, N, C) complex64 from scaled diffraction (B, N, N, C) float32.

    Runs the model on consecutive batches of `batch_size` groups (inference mode).
    """
    x = np.asarray(diffraction, dtype=np.float32)
    if x.ndim != 4:
        raise ConfigError("diffraction", f"must be (B, N, N, C), got shape {x.shape}")
    batch_size = require_int("batch_size", batch_size, minimum=1)
    expected = tuple(diffraction_to_obj.inputs[0].shape[1:])
    if x.shape[1:] != expected:
        raise ConfigError("diffraction", f"patch shape {x.shape[1:]} != model input {expected}")
    out = np.empty(x.shape, dtype=np.complex64)
    for start in range(0, x.shape[0], int(batch_size)):
        stop = start + int(batch_size)
        out[start:stop] = np.asarray(diffraction_to_obj(x[start:stop], training=False))
    return out


def reconstruct(diffraction_to_obj, container, plan, config: InferenceConfig | None = None):
    """Object patches (B, N, N, C) complex64 of every group in `container`.

    The input is `external_scale * X_fed` of the container (ptycho.train.scaled_diffraction).
    """
    batch_size = 64 if config is None else config.batch_size
    return predict_patches(diffraction_to_obj, scaled_diffraction(container, plan),
                           batch_size=batch_size)
