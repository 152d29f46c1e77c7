"""The state the stages share (docs/design.md §8): the replay spec, the resolved scenario,
profile, config and tier sizes, the recorder, the model cache and the artifacts of earlier
stages."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ptycho.config import TrainingConfig

from ..model_cache import ModelCache
from ..profiles import Profile
from ..scenarios import Scenario, TierSize
from ..telemetry import Recorder


@dataclass
class StageState:
    """Everything the stages share: the spec (`parity.replay.ReplaySpec`: scenario, profile,
    tier, seed, grouping, train, faults), the resolved scenario, profile, config and sizes, the
    recorder, the model cache and the artifacts of earlier stages."""

    spec: Any
    scenario: Scenario
    profile: Profile
    config: TrainingConfig
    sizes: TierSize
    recorder: Recorder
    models: ModelCache
    art: dict[str, Any] = field(default_factory=dict)

    @property
    def N(self) -> int:
        return self.config.model.N

    def fault(self, name: str) -> bool:
        """True when test fault `name` (parity.faults) is injected into this replay."""
        return name in self.spec.faults
