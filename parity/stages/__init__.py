"""The pipeline as named stages (docs/design.md §8), one function each: thin calls into ptycho.

Stage order: object, probe, scan, simulate, group, normalize, scale, container,
network_input, labels, forward; with training also train, infer, stitch, evaluate. Every
runner (replay, check, goldens, tests, benchmarks) goes through `parity.replay.run_stages`;
there is no second implementation of a stage.

Profile-independent quantities come first: E, g, s, s_cf, the raw container and the network
input (g*X_raw in both profiles, docs/design.md §4). The profile's data feed and chosen scale enter at
`labels` (amplitude labels X_norm vs X_raw: ratio g; count labels equal) and `forward`
(activation, output scaler). Grouping is its own axis (`ReplaySpec.grouping`).

A stage reads what it needs from `StageState`: the replay spec (with its injected test faults,
see `parity.faults`), the resolved scenario, profile, config and tier sizes, the model cache,
and the artifacts of earlier stages (`StageState.art`, typed fields of
`parity.stages.artifacts.Artifacts`).

Modules by phase: `state` (StageState), `artifacts` (the typed fields one stage hands on to
the next, each naming its producer), `common` (helpers of several stages), `data` (object
... network_input), `model` (labels, forward), `training` (train), `results` (infer, stitch,
evaluate).
"""
from __future__ import annotations

from typing import Any, Callable

from ..records import STAGES
from .data import (stage_container, stage_group, stage_network_input, stage_normalize,
                   stage_object, stage_probe, stage_scale, stage_scan, stage_simulate)
from .model import FORWARD_BATCH, stage_forward, stage_labels
from .results import SATURATION_MARGIN, stage_evaluate, stage_infer, stage_stitch
from .state import StageState
from .training import loss_floor, stage_train

__all__ = ["FORWARD_BATCH", "SATURATION_MARGIN", "STAGE_FUNCTIONS", "StageState", "loss_floor"]

#: stage name -> function, in docs/design.md §8 order
STAGE_FUNCTIONS: dict[str, Callable[[StageState], dict[str, Any]]] = {
    "object": stage_object,
    "probe": stage_probe,
    "scan": stage_scan,
    "simulate": stage_simulate,
    "group": stage_group,
    "normalize": stage_normalize,
    "scale": stage_scale,
    "container": stage_container,
    "network_input": stage_network_input,
    "labels": stage_labels,
    "forward": stage_forward,
    "train": stage_train,
    "infer": stage_infer,
    "stitch": stage_stitch,
    "evaluate": stage_evaluate,
}

if tuple(STAGE_FUNCTIONS) != STAGES:  # the table must list every stage, in order
    raise ImportError(f"STAGE_FUNCTIONS {tuple(STAGE_FUNCTIONS)} != STAGES {STAGES}")
