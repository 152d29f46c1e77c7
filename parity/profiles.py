"""The legacy and current configuration profiles, as data, and their differences.

A profile is a set of `ptycho.config` settings (keys as accepted by `ptycho.config.replace`:
TrainingConfig fields, "model.<field>" for ModelConfig fields) applied on top of the dataclass
defaults. Precedence when a replay resolves its configuration (parity.scenarios):
defaults < profile < scenario < tier < explicit overrides (e.g. `--grouping`).

docs/design.md §4: legacy feeds X_norm and scales labels/output with s_cf (one scalar), groups with the
legacy strategy (K=7, seed included), uses the full Poisson NLL and a sigmoid amplitude; current
feeds X_raw, uses the dataset-derived s, the current grouping (K=4), the mean NLL and softplus.
`legacy` reproduces `ptycho.legacy.DEFAULTS`; `current` is `TrainingConfig()` (tests pin both).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from ptycho.config import ModelConfig, TrainingConfig, replace
from ptycho.errors import ConfigError

#: reachability policies: 'require' fails when the amplitude target exceeds the activation
#: ceiling; 'predict' reports it (warn) because the profile reproduces a known legacy behaviour.
REACHABILITY_POLICIES = ("require", "predict")

#: the settings that define the grouping axis (held fixed by `--grouping current|legacy`)
GROUPING_KEYS = ("grouping_strategy", "neighbor_count")


@dataclass(frozen=True)
class Profile:
    """A named configuration profile.

    settings: read-only {config key: value}; reachability: one of REACHABILITY_POLICIES;
    notes: {config key: one-line reason} shown by `diff-profiles`.
    """

    name: str
    description: str
    settings: Mapping[str, Any]
    reachability: str
    notes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.reachability not in REACHABILITY_POLICIES:
            raise ConfigError("reachability", f"must be one of {REACHABILITY_POLICIES}, "
                                              f"got {self.reachability!r}")
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))
        object.__setattr__(self, "notes", MappingProxyType(dict(self.notes)))

    def config(self, base: TrainingConfig | None = None) -> TrainingConfig:
        """The validated TrainingConfig: `base` (default TrainingConfig()) with the settings."""
        return apply_settings(base if base is not None else TrainingConfig(), self.settings)


LEGACY = Profile(
    name="legacy",
    description="dose_experiments / sim_lines style: X_norm fed, closed-form scale s_cf on "
                "labels and output, legacy grouping, full Poisson NLL, sigmoid amplitude",
    settings={
        "data_feed": "normalized",
        "scale_source": "closed_form",
        "grouping_strategy": "legacy",
        "neighbor_count": 7,
        "nll_form": "full",
        "nepochs": 60,
        "batch_size": 16,
        "model.gridsize": 2,
        "model.amp_activation": "sigmoid",
        "model.probe_scale": 4.0,
        "model.probe_mask": True,
        "model.probe_trainable": False,
        "model.intensity_scale_trainable": False,
    },
    reachability="predict",
    notes={
        "data_feed": "X_norm = g*X_raw is fed and scaled: amplitude labels carry g",
        "scale_source": "s_cf = sqrt(nphotons)/(N/2), one scalar for input and output",
        "grouping_strategy": "K+1 nearest including the seed, every point is a seed",
        "neighbor_count": "K = 7",
        "nll_form": "full Poisson -log p summed per sample",
        "model.amp_activation": "ceiling 1: g*|O| above 1 saturates (predicted, reported)",
        "model.probe_mask": "legacy default; scenarios set it explicitly",
        "model.gridsize": "legacy default; scenarios set it explicitly",
        "nepochs": "legacy default",
    },
)

CURRENT = Profile(
    name="current",
    description="X_raw fed, dataset-derived scale s on labels and output (input scaler s_cf), "
                "current grouping, mean NLL, softplus amplitude",
    settings={
        "data_feed": "raw",
        "scale_source": "dataset",
        "grouping_strategy": "current",
        "neighbor_count": 4,
        "nll_form": "mean",
        "nepochs": 50,
        "batch_size": 16,
        "model.gridsize": 1,
        "model.amp_activation": "softplus",
        "model.probe_scale": 4.0,
        "model.probe_mask": False,
        "model.probe_trainable": False,
        "model.intensity_scale_trainable": False,
    },
    reachability="require",
    notes={
        "data_feed": "X_raw is fed; network input s*X_raw/s_cf = g*X_raw as in legacy",
        "scale_source": "s = sqrt(nphotons/E) on raw data = g*s_cf",
        "grouping_strategy": "K nearest excluding the seed, n_groups seeds",
        "neighbor_count": "K = 4",
        "nll_form": "lambda - k log lambda, mean per element",
        "model.amp_activation": "unbounded: the target |O| is reachable",
    },
)

PROFILES: Mapping[str, Profile] = MappingProxyType({p.name: p for p in (LEGACY, CURRENT)})


def get_profile(name: str) -> Profile:
    """The profile called `name`; ConfigError('profile', ...) lists the known names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError("profile", f"unknown profile {name!r} (known: {sorted(PROFILES)})") from None


def apply_settings(config: TrainingConfig, settings: Mapping[str, Any]) -> TrainingConfig:
    """`config` with `settings` applied (validated); unknown keys raise ConfigError naming them."""
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    top_fields = {f.name for f in dataclasses.fields(TrainingConfig)} - {"model"}
    for key in settings:
        if key.startswith("model."):
            if key.split(".", 1)[1] not in model_fields:
                raise ConfigError(key, "unknown ModelConfig field")
        elif key not in top_fields:
            raise ConfigError(key, "unknown TrainingConfig field")
    return replace(config, **dict(settings)) if settings else config


def flatten_config(config: TrainingConfig) -> dict[str, Any]:
    """Ordered {key: value} of every field, ModelConfig fields first as 'model.<field>'."""
    out = {f"model.{f.name}": getattr(config.model, f.name) for f in dataclasses.fields(ModelConfig)}
    for f in dataclasses.fields(TrainingConfig):
        if f.name != "model":
            out[f.name] = getattr(config, f.name)
    return out


def _differs(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is not type(b) or a != b
    return a != b


def diff_configs(a: TrainingConfig, b: TrainingConfig) -> list[tuple[str, Any, Any]]:
    """[(key, a_value, b_value)] for every field whose values differ, in field order."""
    fa, fb = flatten_config(a), flatten_config(b)
    return [(k, fa[k], fb[k]) for k in fa if _differs(fa[k], fb[k])]


def diff_rows(a: Profile, b: Profile, *, config_a: TrainingConfig | None = None,
              config_b: TrainingConfig | None = None) -> list[dict[str, Any]]:
    """Rows {key, <a.name>, <b.name>, note} of every differing parameter.

    Compares the profiles' own configs unless resolved configs (e.g. for a scenario) are given.
    """
    ca = config_a if config_a is not None else a.config()
    cb = config_b if config_b is not None else b.config()
    rows = []
    for key, va, vb in diff_configs(ca, cb):
        note = a.notes.get(key) or b.notes.get(key) or ""
        rows.append({"key": key, a.name: va, b.name: vb, "note": note})
    if a.reachability != b.reachability:
        rows.append({"key": "(reachability policy)", a.name: a.reachability,
                     b.name: b.reachability,
                     "note": "'predict' reports a saturating target, 'require' fails on it"})
    return rows


def diff_markdown(rows: list[dict[str, Any]], a: str, b: str) -> str:
    """Markdown table | parameter | a | b | note | of `diff_rows` output."""
    def cell(text) -> str:
        return str(text).replace("|", "\\|")

    lines = [f"| parameter | {a} | {b} | note |", "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| `{row['key']}` | {cell(repr(row[a]))} | {cell(repr(row[b]))} | "
                     f"{cell(row['note'])} |")
    return "\n".join(lines) + "\n"
