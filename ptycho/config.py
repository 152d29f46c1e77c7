"""Configuration dataclasses: the single source of truth for every ptycho function.

Frozen and validated on construction; an invalid value raises `ConfigError` naming the field.
Units: `nphotons` is the mean photon count per diffraction pattern; lengths are pixels.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from .errors import ConfigError
from .validation import (is_power_of_two, require_choice, require_int, require_positive,
                         require_power_of_two)

OBJECT_SUPPORTS = ("half", "full")
AMP_ACTIVATIONS = ("sigmoid", "softplus", "scaled_sigmoid")
GROUPING_STRATEGIES = ("current", "legacy")
NLL_FORMS = ("mean", "full")
SCALE_SOURCES = ("dataset", "closed_form")
DATA_FEEDS = ("raw", "normalized")


def is_supported_n(N) -> bool:
    """True when N is an int power of two >= 16 (the sizes the pipeline supports)."""
    return is_power_of_two(N, minimum=16)


def _check_int(name, value, minimum):
    require_int(name, value, minimum=minimum, numpy_ints=False)


def _check_positive(name, value, allow_zero=False):
    require_positive(name, value, allow_zero=allow_zero, numpy_numbers=False)


def _check_choice(name, value, choices):
    require_choice(name, value, choices)


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise ConfigError(name, f"must be a bool, got {type(value).__name__} {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Geometry, probe and network settings.

    N: patch size (power of two >= 16). gridsize: patches per group side, C = gridsize**2.
    offset: raster-scan step in pixels. n_filters_scale, base_filters: network width (the
    first encoder stage has n_filters_scale * base_filters filters; ptycho.model.encoder_filters). probe_scale: the probe is normalized to
    mean|P*M| = 1/probe_scale. default_probe_scale: width parameter of the ideal probe.
    amp_activation: 'sigmoid' (ceiling 1), 'softplus' (unbounded) or 'scaled_sigmoid'
    (ceiling `amp_ceiling`, set from the data). object_support: 'half' (the decoders output the
    central N/2 x N/2, zero-padded to N: the object outside it is 0) or 'full' (a border branch
    fills the rest of the N x N patch, so probe tails beyond N/2 see an object; see
    ptycho.model.build_model).
    """

    N: int = 64
    gridsize: int = 1
    offset: int = 4
    n_filters_scale: int = 2
    base_filters: int = 32
    amp_activation: str = "softplus"
    amp_ceiling: float | None = None
    probe_scale: float = 4.0
    default_probe_scale: float = 0.7
    probe_mask: bool = False
    probe_trainable: bool = False
    intensity_scale_trainable: bool = False
    object_support: str = "half"

    def __post_init__(self):
        require_power_of_two("N", self.N, minimum=16)
        _check_choice("object_support", self.object_support, OBJECT_SUPPORTS)
        _check_int("gridsize", self.gridsize, 1)
        _check_int("offset", self.offset, 1)
        _check_int("n_filters_scale", self.n_filters_scale, 1)
        _check_int("base_filters", self.base_filters, 1)
        _check_choice("amp_activation", self.amp_activation, AMP_ACTIVATIONS)
        if self.amp_activation == "scaled_sigmoid":
            if self.amp_ceiling is None:
                raise ConfigError("amp_ceiling", "required when amp_activation='scaled_sigmoid'")
            _check_positive("amp_ceiling", self.amp_ceiling)
        elif self.amp_ceiling is not None:
            _check_positive("amp_ceiling", self.amp_ceiling)
        _check_positive("probe_scale", self.probe_scale)
        _check_positive("default_probe_scale", self.default_probe_scale)
        for name in ("probe_mask", "probe_trainable", "intensity_scale_trainable"):
            _check_bool(name, getattr(self, name))

    @property
    def channels(self) -> int:
        """C = gridsize**2, channels per group."""
        return self.gridsize * self.gridsize

    @property
    def activation_ceiling(self) -> float:
        """Largest amplitude the activation can output (inf for softplus)."""
        if self.amp_activation == "sigmoid":
            return 1.0
        if self.amp_activation == "scaled_sigmoid":
            return float(self.amp_ceiling)
        return math.inf


@dataclass(frozen=True)
class TrainingConfig:
    """Data, scaling and optimisation settings; `model` holds the ModelConfig.

    data_feed: 'raw' (X_raw, current) or 'normalized' (X_norm = g*X_raw, legacy).
    scale_source: 'dataset' (s = sqrt(nphotons/E) on raw data) or 'closed_form' (s_cf).
    nll_form: 'mean' (lambda - k log lambda, mean per element) or 'full' (-log p, sum/sample).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    nphotons: float = 1e9
    n_groups: int = 512
    neighbor_count: int = 4
    grouping_strategy: str = "current"
    data_feed: str = "raw"
    scale_source: str = "dataset"
    batch_size: int = 16
    nepochs: int = 50
    learning_rate: float = 1e-3
    nll_weight: float = 1.0
    mae_weight: float = 0.0
    nll_form: str = "mean"
    validation_split: float = 0.05
    seed: int = 1

    def __post_init__(self):
        if not isinstance(self.model, ModelConfig):
            raise ConfigError("model", f"must be a ModelConfig, got {type(self.model).__name__}")
        _check_positive("nphotons", self.nphotons)
        _check_int("n_groups", self.n_groups, 1)
        _check_int("neighbor_count", self.neighbor_count, 1)
        _check_choice("grouping_strategy", self.grouping_strategy, GROUPING_STRATEGIES)
        _check_choice("data_feed", self.data_feed, DATA_FEEDS)
        _check_choice("scale_source", self.scale_source, SCALE_SOURCES)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("nepochs", self.nepochs, 0)
        _check_positive("learning_rate", self.learning_rate)
        _check_positive("nll_weight", self.nll_weight, allow_zero=True)
        _check_positive("mae_weight", self.mae_weight, allow_zero=True)
        if self.nll_weight == 0 and self.mae_weight == 0:
            raise ConfigError("nll_weight", "nll_weight and mae_weight cannot both be 0")
        _check_choice("nll_form", self.nll_form, NLL_FORMS)
        _check_positive("validation_split", self.validation_split, allow_zero=True)
        if self.validation_split >= 1:
            raise ConfigError("validation_split", f"must be < 1, got {self.validation_split}")
        _check_int("seed", self.seed, 0)


@dataclass(frozen=True)
class InferenceConfig:
    """Batched prediction and stitching settings.

    stitch_crop: side M of the central M x M region of each patch used in stitching
    (None -> N // 2).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    batch_size: int = 64
    stitch_crop: int | None = None
    seed: int = 1

    def __post_init__(self):
        if not isinstance(self.model, ModelConfig):
            raise ConfigError("model", f"must be a ModelConfig, got {type(self.model).__name__}")
        _check_int("batch_size", self.batch_size, 1)
        if self.stitch_crop is not None:
            _check_int("stitch_crop", self.stitch_crop, 1)
            if self.stitch_crop > self.model.N:
                raise ConfigError("stitch_crop", f"must be <= N={self.model.N}, got {self.stitch_crop}")
        _check_int("seed", self.seed, 0)

    @property
    def crop(self) -> int:
        """Effective stitch crop M in pixels."""
        return self.stitch_crop if self.stitch_crop is not None else self.model.N // 2


def replace(config, **changes):
    """`dataclasses.replace` that also accepts 'model.<field>' keys for nested ModelConfig."""
    model_changes = {k.split(".", 1)[1]: v for k, v in changes.items() if k.startswith("model.")}
    top = {k: v for k, v in changes.items() if not k.startswith("model.")}
    if model_changes:
        top["model"] = dataclasses.replace(top.get("model", config.model), **model_changes)
    return dataclasses.replace(config, **top)
