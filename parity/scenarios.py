"""Scenario registry (data) and size tiers; resolution of a replay's configuration.

Scenarios (issue 4): N=64, lines object (un-normalized, DESIGN §3), random scan.
- gs1_ideal, gs2_ideal: ideal probe, probe_scale 10, probe mask on;
- gs1_custom, gs2_custom: the experimental probe (`ptycho.probe.experimental_probe_path()`),
  probe_scale 4, mask off;
- dose sweep: gs1_ideal at nphotons 1e4, 1e5, 1e6 and 1e9 (1e9 is gs1_ideal itself);
- gs1_custom_trainable: gs1_custom with a trainable intensity scale and probe (PtychoPINN's
  baseline trained its scale), a bounded amplitude activation whose ceiling comes from the
  scenario (scaled sigmoid, 8 > max |O| of the lines object), and a loss mixing both terms
  (0.5 NLL + 2 MAE), so the trainable-weight, gradient, loss-composition and ceiling checks
  have something to see.
Tiers: `tiny` (seconds; CI and `python -m parity check`), `reduced`, `full` (issue 4 sizes).

Precedence of settings: TrainingConfig defaults < profile < scenario < tier < overrides.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from ptycho.config import TrainingConfig
from ptycho.errors import ConfigError

from .profiles import GROUPING_KEYS, PROFILES, Profile, apply_settings, get_profile

PROBE_SOURCES = ("ideal", "experimental")
TIER_NAMES = ("tiny", "reduced", "full")
GROUPING_CHOICES = ("profile", "current", "legacy")


@dataclass(frozen=True)
class Scenario:
    """A physical experiment: geometry, probe, dose. Sizes come from the tier.

    probe: 'ideal' or 'experimental'; probe_scale: mean|P*M| = 1/probe_scale; probe_mask: the
    mask M multiplies the exit wave in simulation and model; nphotons: mean photons/pattern.
    """

    name: str
    description: str
    gridsize: int
    probe: str
    probe_scale: float
    probe_mask: bool
    nphotons: float
    N: int = 64
    object_kind: str = "lines"
    scan: str = "random"
    #: further config settings this scenario fixes (keys as in `apply_settings`)
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.probe not in PROBE_SOURCES:
            raise ConfigError("probe", f"must be one of {PROBE_SOURCES}, got {self.probe!r}")
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))

    def settings(self) -> dict[str, Any]:
        """The config settings this scenario fixes (override the profile's)."""
        return {
            "model.N": self.N,
            "model.gridsize": self.gridsize,
            "model.probe_scale": float(self.probe_scale),
            "model.probe_mask": bool(self.probe_mask),
            "nphotons": float(self.nphotons),
            **self.overrides,
        }


@dataclass(frozen=True)
class TierSize:
    """Sizes of one tier for one gridsize.

    object_size: side of the lines object (px); n_images: simulated patterns (gs2: base images);
    n_groups: groups for the current strategy (the legacy strategy groups every point);
    batch_size, nepochs (None -> the profile's), n_filters_scale: model width;
    split: 'none' or 'y' (train = lower half of the scan in y, test = upper half; n_groups per
    split). verify_training: whether `--train` runs long enough for the trained amplitude
    ratio to be held to the prediction (tiny: 2 epochs, reported only).
    """

    object_size: int
    n_images: int
    n_groups: int
    batch_size: int
    nepochs: int | None
    n_filters_scale: int
    split: str = "none"
    verify_training: bool = True

    def settings(self) -> dict[str, Any]:
        out = {"n_groups": self.n_groups, "batch_size": self.batch_size,
               "model.n_filters_scale": self.n_filters_scale}
        if self.nepochs is not None:
            out["nepochs"] = self.nepochs
        return out


#: (tier, gridsize) -> sizes. tiny keeps `python -m parity check` within 60 s on 2 cores.
TIERS: Mapping[tuple[str, int], TierSize] = MappingProxyType({
    ("tiny", 1): TierSize(object_size=128, n_images=16, n_groups=8, batch_size=4, nepochs=2,
                          n_filters_scale=1, verify_training=False),
    ("tiny", 2): TierSize(object_size=128, n_images=16, n_groups=8, batch_size=4, nepochs=2,
                          n_filters_scale=1, verify_training=False),
    ("reduced", 1): TierSize(object_size=392, n_images=512, n_groups=256, batch_size=8,
                             nepochs=None, n_filters_scale=2),
    ("reduced", 2): TierSize(object_size=392, n_images=256, n_groups=128, batch_size=4,
                             nepochs=None, n_filters_scale=2),
    ("full", 1): TierSize(object_size=392, n_images=2000, n_groups=1000, batch_size=16,
                          nepochs=None, n_filters_scale=2, split="y"),
    ("full", 2): TierSize(object_size=392, n_images=8000, n_groups=1000, batch_size=16,
                          nepochs=None, n_filters_scale=2, split="y"),
})

_IDEAL = dict(probe="ideal", probe_scale=10.0, probe_mask=True)
_CUSTOM = dict(probe="experimental", probe_scale=4.0, probe_mask=False)

SCENARIOS: Mapping[str, Scenario] = MappingProxyType({s.name: s for s in (
    Scenario("gs1_ideal", "gridsize 1, ideal probe (scale 10, mask on), 1e9 photons",
             gridsize=1, nphotons=1e9, **_IDEAL),
    Scenario("gs2_ideal", "gridsize 2, ideal probe (scale 10, mask on), 1e9 photons",
             gridsize=2, nphotons=1e9, **_IDEAL),
    Scenario("gs1_custom", "gridsize 1, experimental probe (scale 4, mask off), 1e9 photons",
             gridsize=1, nphotons=1e9, **_CUSTOM),
    Scenario("gs2_custom", "gridsize 2, experimental probe (scale 4, mask off), 1e9 photons",
             gridsize=2, nphotons=1e9, **_CUSTOM),
    Scenario("gs1_ideal_1e4", "dose sweep: gs1_ideal at 1e4 photons", gridsize=1,
             nphotons=1e4, **_IDEAL),
    Scenario("gs1_ideal_1e5", "dose sweep: gs1_ideal at 1e5 photons", gridsize=1,
             nphotons=1e5, **_IDEAL),
    Scenario("gs1_ideal_1e6", "dose sweep: gs1_ideal at 1e6 photons", gridsize=1,
             nphotons=1e6, **_IDEAL),
    Scenario("gs1_custom_trainable", "gs1_custom with trainable intensity scale and probe, "
             "scaled-sigmoid amplitude (ceiling 8), loss 0.5 NLL + 2 MAE",
             gridsize=1, nphotons=1e9, **_CUSTOM,
             overrides={"model.intensity_scale_trainable": True, "model.probe_trainable": True,
                        "model.amp_activation": "scaled_sigmoid", "model.amp_ceiling": 8.0,
                        "nll_weight": 0.5, "mae_weight": 2.0}),
)})

#: named groups of scenarios; the dose sweep's 1e9 member is gs1_ideal itself
SWEEPS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "dose": ("gs1_ideal_1e4", "gs1_ideal_1e5", "gs1_ideal_1e6", "gs1_ideal"),
})


def get_scenario(name: str) -> Scenario:
    """The scenario called `name`; ConfigError('scenario', ...) lists the known names."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ConfigError("scenario", f"unknown scenario {name!r} (known: {sorted(SCENARIOS)})") from None


def tier_size(tier: str, gridsize: int) -> TierSize:
    """Sizes of `tier` for `gridsize`; ConfigError('tier', ...) when unknown."""
    if tier not in TIER_NAMES:
        raise ConfigError("tier", f"unknown tier {tier!r} (known: {list(TIER_NAMES)})")
    try:
        return TIERS[(tier, gridsize)]
    except KeyError:
        raise ConfigError("gridsize", f"tier {tier!r} has no sizes for gridsize {gridsize}") from None


def grouping_settings(grouping: str, profile: Profile) -> dict[str, Any]:
    """Grouping settings for `--grouping`: 'profile' -> the profile's own (no override);
    'current'/'legacy' -> that profile's strategy and K, so the grouping axis is held fixed."""
    if grouping not in GROUPING_CHOICES:
        raise ConfigError("grouping", f"must be one of {GROUPING_CHOICES}, got {grouping!r}")
    source = profile if grouping == "profile" else PROFILES[grouping]
    return {k: source.settings[k] for k in GROUPING_KEYS}


def resolve_config(scenario: Scenario | str, profile: Profile | str, tier: str = "tiny", *,
                   grouping: str = "profile", seed: int = 1,
                   overrides: Mapping[str, Any] | None = None) -> TrainingConfig:
    """The TrainingConfig of a replay: defaults < profile < scenario < tier < grouping < seed
    < overrides."""
    scenario = get_scenario(scenario) if isinstance(scenario, str) else scenario
    profile = get_profile(profile) if isinstance(profile, str) else profile
    config = profile.config()
    config = apply_settings(config, scenario.settings())
    config = apply_settings(config, tier_size(tier, scenario.gridsize).settings())
    config = apply_settings(config, grouping_settings(grouping, profile))
    config = apply_settings(config, {"seed": seed})
    if overrides:
        config = apply_settings(config, overrides)
    return config


def all_replays(scenarios=None, profiles=None) -> list[tuple[str, str]]:
    """[(scenario, profile)] in registry order (every scenario x every profile by default)."""
    names = list(SCENARIOS) if scenarios is None else list(scenarios)
    profs = list(PROFILES) if profiles is None else list(profiles)
    for n in names:
        get_scenario(n)
    for p in profs:
        get_profile(p)
    return [(n, p) for n in names for p in profs]
