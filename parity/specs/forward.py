"""Specification of the `forward` stage's object: the model's complex object is its amplitude
decoder's output times exp(+i phi), phi its phase decoder's output (docs/design.md §7), on the model's
own intermediate tensors for a few groups (float64 reference)."""
from __future__ import annotations

import numpy as np

#: groups run through the model for the composition check
GROUPS = 2


def object_composition_spec(amplitude, phase, obj) -> dict:
    """amplitude, phase: the object layer's float32 inputs (B, N, N, C); obj: its complex64
    output. composition_error: max |obj - amplitude exp(i phase)| / max amplitude (a conjugated
    or swapped composition gives about 2 |sin(phase)| or more)."""
    a = np.asarray(amplitude, np.float64)
    ref = a * np.exp(1j * np.asarray(phase, np.float64))
    scale = float(np.max(np.abs(a))) or 1.0
    return {"composition_error": float(np.max(np.abs(np.asarray(obj, np.complex128) - ref))) / scale,
            "phase_range": float(np.ptp(np.asarray(phase, np.float64)))}
