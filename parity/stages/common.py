"""Helpers shared by the stage modules: image statistics, the diagnostic group count, the
held-out seed, the activation ceiling."""
from __future__ import annotations

import math
from typing import Any

from ptycho.config import TrainingConfig

from .. import consistency
from ..positions import correlation, position_stats
from ..scenarios import HELD_OUT_SEED_OFFSET
from ..telemetry import array_stats, prefixed
from .state import StageState


def image_stats(prefix: str, x, *, diffraction: bool = False, previous=None,
                 image_axes=None) -> dict[str, Any]:
    """array_stats + position_stats of an image array under `prefix`, and `corr_prev`: its
    correlation with `previous` (the same quantity at the previous stage, same shape)."""
    out = prefixed(prefix, array_stats(x, image_axes=image_axes))
    out.update(prefixed(prefix, position_stats(x, image_axes=image_axes, diffraction=diffraction)))
    if previous is not None:
        out[f"{prefix}.corr_prev"] = correlation(x, previous)
    return out


def diagnostic_groups(st: StageState) -> int:
    """Groups the consistency diagnostics use: the first DIAGNOSTIC_GROUPS (one model batch)."""
    return min(st.art.grouped.B, consistency.DIAGNOSTIC_GROUPS)


def held_out_seed(st: StageState) -> int:
    """Seed of the held-out object and its scan (split 'object')."""
    return int(st.config.seed) + HELD_OUT_SEED_OFFSET


def ceiling_or_none(config: TrainingConfig) -> float | None:
    """Activation ceiling of the model config; None when unbounded (JSON has no inf)."""
    c = config.model.activation_ceiling
    return None if math.isinf(c) else float(c)

