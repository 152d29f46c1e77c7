"""The state the stages share (docs/design.md §8): the replay resolved once
(parity.replay_spec.ResolvedReplay: spec, scenario, profile, tier sizes, config), the
recorder, the model cache, the artifacts of earlier stages and the values the two paths of a
replay share."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ptycho.config import TrainingConfig

from ..model_cache import ModelCache
from ..profiles import Profile
from ..replay_spec import ReplaySpec, ResolvedReplay
from ..scenarios import Scenario, TierSize
from ..telemetry import Recorder
from .artifacts import Artifacts


@dataclass
class StageState:
    """Everything the stages share: the resolved replay (read through `spec`, `scenario`,
    `profile`, `config`, `sizes`; nothing is looked up again), the recorder, the model cache
    and the artifacts of earlier stages."""

    replay: ResolvedReplay
    recorder: Recorder
    models: ModelCache
    #: what earlier stages handed on (typed fields; reading one not yet produced names its stage)
    art: Artifacts = field(default_factory=Artifacts)
    #: values shared by the two paths of one replay, keyed by `digest` (parity.replay.run_replay
    #: passes one dict to both): a path whose inputs differ misses it and computes afresh
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> ReplaySpec:
        """What was asked for (scenario, profile, tier, seed, grouping, train, faults)."""
        return self.replay.spec

    @property
    def scenario(self) -> Scenario:
        return self.replay.scenario

    @property
    def profile(self) -> Profile:
        return self.replay.profile

    @property
    def config(self) -> TrainingConfig:
        """The config of this path (dataclass, or the legacy-dict read-back)."""
        return self.replay.config

    @property
    def sizes(self) -> TierSize:
        return self.replay.sizes

    @property
    def N(self) -> int:
        return self.config.model.N

    def digest(self, stage: str, values: dict[str, Any]) -> str:
        """A key of everything `stage`'s derived values can depend on: the config and spec,
        every value recorded so far and the stage's own `values`."""
        h = hashlib.sha256()
        h.update(repr((stage, self.config, self.spec.scenario, self.spec.profile, self.spec.tier,
                       self.spec.seed, self.spec.grouping, self.spec.faults)).encode())
        h.update(json.dumps([self.recorder.values, values], default=repr,
                            sort_keys=False).encode())
        return h.hexdigest()

    def fault(self, name: str) -> bool:
        """True when test fault `name` (parity.faults) is injected into this replay."""
        return name in self.spec.faults
