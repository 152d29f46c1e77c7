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
from .artifacts import Artifacts


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
    #: what earlier stages handed on (typed fields; reading one not yet produced names its stage)
    art: Artifacts = field(default_factory=Artifacts)

    @property
    def N(self) -> int:
        return self.config.model.N

    def fault(self, name: str) -> bool:
        """True when test fault `name` (parity.faults) is injected into this replay."""
        return name in self.spec.faults
