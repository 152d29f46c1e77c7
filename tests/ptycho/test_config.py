"""Configuration dataclasses: frozen, validated, every error names its field (docs/design.md §5)."""
import dataclasses
import math

import pytest

from ptycho.config import (
    InferenceConfig,
    ModelConfig,
    TrainingConfig,
    is_supported_n,
    replace,
)
from ptycho.errors import ConfigError


@pytest.mark.parametrize("n, ok", [(16, True), (32, True), (64, True), (128, True), (8, False), (48, False),
                                   (0, False), (-64, False), (64.0, False), (True, False), ("64", False)])
def test_is_supported_n(n, ok):
    assert is_supported_n(n) is ok


@pytest.mark.parametrize("kwargs, field", [
    ({"N": 48}, "N"), ({"N": 8}, "N"), ({"N": 64.0}, "N"), ({"N": True}, "N"),
    ({"gridsize": 0}, "gridsize"), ({"gridsize": 2.0}, "gridsize"), ({"gridsize": True}, "gridsize"),
    ({"offset": 0}, "offset"),
    ({"n_filters_scale": 0}, "n_filters_scale"),
    ({"base_filters": 0}, "base_filters"), ({"base_filters": 16.0}, "base_filters"),
    ({"amp_activation": "relu"}, "amp_activation"),
    ({"amp_activation": "scaled_sigmoid"}, "amp_ceiling"),
    ({"amp_activation": "scaled_sigmoid", "amp_ceiling": 0.0}, "amp_ceiling"),
    ({"amp_ceiling": -1.0}, "amp_ceiling"),
    ({"probe_scale": 0}, "probe_scale"), ({"probe_scale": float("nan")}, "probe_scale"),
    ({"probe_scale": "4"}, "probe_scale"),
    ({"default_probe_scale": -0.7}, "default_probe_scale"),
    ({"default_probe_scale": float("inf")}, "default_probe_scale"),
    ({"probe_mask": 1}, "probe_mask"), ({"probe_trainable": "yes"}, "probe_trainable"),
    ({"intensity_scale_trainable": 0}, "intensity_scale_trainable"),
])
def test_model_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as err:
        ModelConfig(**kwargs)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}:")


@pytest.mark.parametrize("kwargs, field", [
    ({"model": {"N": 64}}, "model"),
    ({"nphotons": 0}, "nphotons"), ({"nphotons": -1e9}, "nphotons"), ({"nphotons": float("inf")}, "nphotons"),
    ({"nphotons": float("nan")}, "nphotons"), ({"nphotons": True}, "nphotons"), ({"nphotons": "1e9"}, "nphotons"),
    ({"n_groups": 0}, "n_groups"), ({"n_groups": 1.5}, "n_groups"),
    ({"neighbor_count": 0}, "neighbor_count"),
    ({"grouping_strategy": "random"}, "grouping_strategy"),
    ({"data_feed": "scaled"}, "data_feed"),
    ({"scale_source": "guess"}, "scale_source"),
    ({"batch_size": 0}, "batch_size"),
    ({"nepochs": -1}, "nepochs"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"nll_weight": -1.0}, "nll_weight"), ({"mae_weight": -0.5}, "mae_weight"),
    ({"nll_weight": 0.0, "mae_weight": 0.0}, "nll_weight"),
    ({"nll_form": "gaussian"}, "nll_form"),
    ({"validation_split": 1.0}, "validation_split"), ({"validation_split": -0.1}, "validation_split"),
    ({"seed": -1}, "seed"), ({"seed": 1.0}, "seed"), ({"seed": False}, "seed"),
])
def test_training_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as err:
        TrainingConfig(**kwargs)
    assert err.value.field == field


@pytest.mark.parametrize("kwargs, field", [
    ({"model": None}, "model"), ({"batch_size": 0}, "batch_size"),
    ({"stitch_crop": 0}, "stitch_crop"), ({"stitch_crop": 65}, "stitch_crop"),
    ({"stitch_crop": 16.0}, "stitch_crop"), ({"seed": -3}, "seed"),
])
def test_inference_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as err:
        InferenceConfig(**kwargs)
    assert err.value.field == field


def test_defaults_are_valid_and_frozen():
    m, t, i = ModelConfig(), TrainingConfig(), InferenceConfig()
    assert (m.N, m.gridsize, t.nphotons, t.grouping_strategy, t.data_feed, t.scale_source) == (
        64, 1, 1e9, "current", "raw", "dataset")
    for cfg, name in ((m, "N"), (t, "nphotons"), (i, "batch_size")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(cfg, name, 1)


def test_derived_properties():
    assert ModelConfig(gridsize=3).channels == 9
    assert ModelConfig(amp_activation="sigmoid").activation_ceiling == 1.0
    assert ModelConfig(amp_activation="softplus").activation_ceiling == math.inf
    assert ModelConfig(amp_activation="scaled_sigmoid", amp_ceiling=2.5).activation_ceiling == 2.5
    assert InferenceConfig().crop == 32
    assert InferenceConfig(stitch_crop=20).crop == 20


def test_replace_nested_and_revalidates():
    t = TrainingConfig()
    t2 = replace(t, **{"model.N": 32, "model.gridsize": 2, "nphotons": 1e6})
    assert (t2.model.N, t2.model.gridsize, t2.nphotons) == (32, 2, 1e6)
    assert (t.model.N, t.nphotons) == (64, 1e9)  # original untouched
    with pytest.raises(ConfigError) as err:
        replace(t, **{"model.N": 40})
    assert err.value.field == "N"
    with pytest.raises(ConfigError) as err:
        replace(t, nphotons=-5)
    assert err.value.field == "nphotons"
    inf = replace(InferenceConfig(), **{"model.N": 128})
    assert inf.crop == 64


def test_configs_compare_by_value():
    assert TrainingConfig(nphotons=1e6) == TrainingConfig(nphotons=1e6)
    assert hash(ModelConfig(N=32)) == hash(ModelConfig(N=32))
    assert TrainingConfig(seed=1) != TrainingConfig(seed=2)
