"""Group-canvas geometry, numpy only: padding for relative offsets, the object support window.

The physics head reassembles the C patches of a group on a canvas N + 2*pad wide, with
pad = `canvas_padding(max |coords_relative|)`; the decoder's object is valid on the central
`support` x `support` square of each N x N patch (`support_window`, N/2 by default). Kept free
of Keras so numpy-only code (parity's stages, the dataset doctor) can use it without TensorFlow.
"""
from __future__ import annotations

import math

import numpy as np


def canvas_padding(max_offset: float) -> int:
    """Pixels of padding per side of the group canvas for offsets up to `max_offset` pixels.

    ceil(max_offset) + 1: the +1 keeps the far bilinear neighbour of the largest shift inside.
    """
    if not math.isfinite(float(max_offset)) or max_offset < 0:
        raise ValueError(f"max_offset must be finite and >= 0, got {max_offset!r}")
    return int(math.ceil(float(max_offset))) + 1


def support_window(N: int, support: int) -> np.ndarray:
    """(N, N) float32 window: 1 on the central `support` x `support` square, 0 elsewhere."""
    start = (N - support) // 2
    w = np.zeros((N, N), np.float32)
    w[start:start + support, start:start + support] = 1.0
    return w


def support_mean(patches: np.ndarray, N: int) -> float:
    """Mean of (B, N, N, C) real values (e.g. amplitudes) over the central N/2 x N/2 square of
    each patch (the decoder's object support), in float64."""
    q = N // 4
    return float(np.mean(patches[:, q:N - q, q:N - q, :], dtype=np.float64))
