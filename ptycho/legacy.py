"""The legacy flat configuration dict and its bridge to the dataclasses.

Legacy code read a module-global dict (`cfg`) with keys such as 'N', 'gridsize', 'probe.mask'.
Here `cfg` still exists for code written in that style, but nothing in ptycho reads it
implicitly: `update_legacy_dict(cfg, config)` writes a dataclass config into it,
`config_from_legacy(cfg)` reads it back, and `stale_keys(cfg, config)` lists every key whose
value disagrees with the dataclass (the 'stale global config' bug).
"""
from __future__ import annotations

from .config import InferenceConfig, ModelConfig, TrainingConfig
from .errors import ConfigError, StaleConfigError

#: legacy key -> dotted path into TrainingConfig ("model.<f>" for ModelConfig fields)
LEGACY_KEYS: dict[str, str] = {
    "N": "model.N",
    "gridsize": "model.gridsize",
    "offset": "model.offset",
    "n_filters_scale": "model.n_filters_scale",
    "base_filters": "model.base_filters",
    "amp_activation": "model.amp_activation",
    "amp_ceiling": "model.amp_ceiling",
    "probe_scale": "model.probe_scale",
    "default_probe_scale": "model.default_probe_scale",
    "probe.mask": "model.probe_mask",
    "probe.trainable": "model.probe_trainable",
    "intensity_scale.trainable": "model.intensity_scale_trainable",
    "object.support": "model.object_support",
    "nphotons": "nphotons",
    "n_groups": "n_groups",
    "K": "neighbor_count",
    "grouping": "grouping_strategy",
    "data_feed": "data_feed",
    "intensity_scale.source": "scale_source",
    "batch_size": "batch_size",
    "nepochs": "nepochs",
    "learning_rate": "learning_rate",
    "nll_weight": "nll_weight",
    "mae_weight": "mae_weight",
    "nll_form": "nll_form",
    "validation_split": "validation_split",
    "seed": "seed",
}

#: the legacy code base's historical defaults (they differ from the dataclass defaults)
DEFAULTS: dict = {
    "N": 64,
    "gridsize": 2,
    "offset": 4,
    "n_filters_scale": 2,
    "base_filters": 32,
    "amp_activation": "sigmoid",
    "amp_ceiling": None,
    "probe_scale": 4.0,
    "default_probe_scale": 0.7,
    "probe.mask": True,
    "probe.trainable": False,
    "intensity_scale.trainable": False,
    "object.support": "half",
    "nphotons": 1e9,
    "n_groups": 512,
    "K": 7,
    "grouping": "legacy",
    "data_feed": "normalized",
    "intensity_scale.source": "closed_form",
    "batch_size": 16,
    "nepochs": 60,
    "learning_rate": 1e-3,
    "nll_weight": 1.0,
    "mae_weight": 0.0,
    "nll_form": "full",
    "validation_split": 0.05,
    "seed": 1,
}

#: the module-global legacy dict (for code written against the old style; never read here)
cfg: dict = dict(DEFAULTS)


def _get(config: TrainingConfig, path: str):
    obj = config
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _as_training(config) -> TrainingConfig:
    if isinstance(config, TrainingConfig):
        return config
    if isinstance(config, ModelConfig):
        return TrainingConfig(model=config)
    if isinstance(config, InferenceConfig):
        return TrainingConfig(model=config.model, seed=config.seed)
    raise ConfigError("config", f"expected a ptycho.config dataclass, got {type(config).__name__}")


def _keys_for(config) -> list[str]:
    """Legacy keys that the given dataclass type determines."""
    if isinstance(config, TrainingConfig):
        return list(LEGACY_KEYS)
    keys = [k for k, p in LEGACY_KEYS.items() if p.startswith("model.")]
    if isinstance(config, InferenceConfig):
        keys.append("seed")
    return keys


def update_legacy_dict(cfg: dict, config) -> dict:
    """Write every field of `config` (Training/Model/InferenceConfig) into `cfg`; return it."""
    full = _as_training(config)
    for key in _keys_for(config):
        cfg[key] = _get(full, LEGACY_KEYS[key])
    return cfg


def config_from_legacy(cfg: dict) -> TrainingConfig:
    """Build a validated TrainingConfig from a legacy dict (missing keys take DEFAULTS)."""
    unknown = sorted(set(cfg) - set(LEGACY_KEYS))
    if unknown:
        raise ConfigError(unknown[0], f"unknown legacy key (known: {sorted(LEGACY_KEYS)})")
    merged = {**DEFAULTS, **cfg}
    model_kwargs, train_kwargs = {}, {}
    for key, path in LEGACY_KEYS.items():
        if path.startswith("model."):
            model_kwargs[path.split(".", 1)[1]] = merged[key]
        else:
            train_kwargs[path] = merged[key]
    return TrainingConfig(model=ModelConfig(**model_kwargs), **train_kwargs)


def _same(a, b) -> bool:
    """Equality that does not confuse True with 1 (bool flags vs ints)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def stale_keys(cfg: dict, config) -> dict[str, tuple]:
    """Every legacy key whose value disagrees with `config`: {key: (legacy, dataclass)}.

    Keys missing from `cfg` count as stale (legacy code would fall back to a default).
    """
    full = _as_training(config)
    out = {}
    for key in _keys_for(config):
        want = _get(full, LEGACY_KEYS[key])
        if key not in cfg:
            out[key] = ("<missing>", want)
        elif not _same(cfg[key], want):
            out[key] = (cfg[key], want)
    return out


def require_fresh(cfg: dict, config) -> None:
    """Raise StaleConfigError naming every stale key; return None when `cfg` matches."""
    stale = stale_keys(cfg, config)
    if stale:
        raise StaleConfigError(stale)
