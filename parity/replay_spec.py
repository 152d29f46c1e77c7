"""What to replay (`ReplaySpec`) and that spec resolved once (`ResolvedReplay`).

A leaf below the stages: it names the scenario, profile and tier, and `resolve` looks them up
once (scenario, profile, tier sizes, the dataclass-path config); the stages read the resolved
object and never look anything up again.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ptycho.config import TrainingConfig

from .faults import validate_faults
from .profiles import Profile, apply_settings, get_profile
from .scenarios import Scenario, TierSize, get_scenario, resolve_config, tier_size

#: amplitude ceiling used by the `low_ceiling` fault (below every scenario's target)
LOW_CEILING = 0.1
#: grouping axes: each profile's own strategy, or one strategy held for both
GROUPINGS = ("profile", "current", "legacy")


@dataclass(frozen=True)
class ReplaySpec:
    """What to replay. grouping: 'profile' | 'current' | 'legacy' (see `python -m parity replay
    --help`); faults: test-fault names of parity.faults injected into this replay."""

    scenario: str
    profile: str
    tier: str = "tiny"
    seed: int = 1
    grouping: str = "profile"
    train: bool = False
    faults: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "faults", validate_faults(self.faults))


@dataclass(frozen=True)
class ResolvedReplay:
    """A ReplaySpec with its scenario, profile, tier sizes and config looked up: what the
    stages read. `config` is the dataclass path's; the legacy-dict path replaces it
    (`with_config`)."""

    spec: ReplaySpec
    scenario: Scenario
    profile: Profile
    sizes: TierSize
    config: TrainingConfig

    def with_config(self, config: TrainingConfig) -> "ResolvedReplay":
        """The same replay run with another config (the legacy-dict path's read-back)."""
        return replace(self, config=config)


def resolve(spec: ReplaySpec) -> ResolvedReplay:
    """Look up `spec` once: scenario, profile, tier sizes and the dataclass-path config (plus
    the 'low_ceiling' fault, when injected). Raises ConfigError naming an unknown scenario,
    profile, tier or grouping."""
    scenario = get_scenario(spec.scenario)
    profile = get_profile(spec.profile)
    sizes = tier_size(spec.tier, scenario.gridsize, scenario.name)
    config = resolve_config(scenario, profile, sizes, grouping=spec.grouping, seed=spec.seed)
    if "low_ceiling" in spec.faults:
        config = apply_settings(config, {"model.amp_activation": "scaled_sigmoid",
                                         "model.amp_ceiling": LOW_CEILING})
    return ResolvedReplay(spec, scenario, profile, sizes, config)


def replay_config(spec: ReplaySpec) -> TrainingConfig:
    """The dataclass-path config of a replay (`resolve(spec).config`)."""
    return resolve(spec).config
