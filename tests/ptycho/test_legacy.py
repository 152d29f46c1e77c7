"""The legacy flat dict bridge: round trip, stale-key detection, no implicit reads (docs/design.md §5)."""
import numpy as np
import pytest

from ptycho import legacy
from ptycho.config import InferenceConfig, ModelConfig, TrainingConfig, replace
from ptycho.errors import ConfigError, StaleConfigError
from ptycho.legacy import (
    DEFAULTS,
    LEGACY_KEYS,
    config_from_legacy,
    require_fresh,
    stale_keys,
    update_legacy_dict,
)

CONFIGS = [
    TrainingConfig(),
    TrainingConfig(model=ModelConfig(N=32, gridsize=2, probe_mask=True, amp_activation="sigmoid",
                                     intensity_scale_trainable=True, probe_trainable=True, probe_scale=10.0),
                   nphotons=1e5, n_groups=64, neighbor_count=7, grouping_strategy="legacy",
                   data_feed="normalized", scale_source="closed_form", nll_form="full", seed=9),
    TrainingConfig(model=ModelConfig(N=128, amp_activation="scaled_sigmoid", amp_ceiling=3.0,
                                     object_support="full"),
                   mae_weight=0.5, nll_weight=0.0, validation_split=0.0, nepochs=0),
]


def test_every_dataclass_field_has_a_legacy_key():
    """A field the bridge does not carry would silently take its default on the legacy-dict
    path (breaker: ModelConfig.object_support before it got 'object.support')."""
    import dataclasses

    paths = {f"model.{f.name}" for f in dataclasses.fields(ModelConfig)}
    paths |= {f.name for f in dataclasses.fields(TrainingConfig) if f.name != "model"}
    assert paths - set(LEGACY_KEYS.values()) == set()


@pytest.mark.parametrize("config", CONFIGS)
def test_round_trip(config):
    cfg = update_legacy_dict({}, config)
    assert set(cfg) == set(LEGACY_KEYS)
    assert config_from_legacy(cfg) == config
    assert stale_keys(cfg, config) == {}
    require_fresh(cfg, config)  # no error


def test_update_returns_the_same_dict_and_overwrites():
    cfg = dict(DEFAULTS)
    out = update_legacy_dict(cfg, TrainingConfig())
    assert out is cfg
    assert cfg["grouping"] == "current" and cfg["K"] == 4 and cfg["probe.mask"] is False


def test_defaults_are_the_legacy_profile():
    c = config_from_legacy({})
    assert c == config_from_legacy(dict(DEFAULTS))
    assert (c.grouping_strategy, c.neighbor_count, c.data_feed, c.scale_source, c.nll_form) == (
        "legacy", 7, "normalized", "closed_form", "full")
    assert (c.model.gridsize, c.model.amp_activation, c.model.probe_mask) == (2, "sigmoid", True)


def test_partial_dict_takes_defaults():
    c = config_from_legacy({"N": 32, "nphotons": 1e6})
    assert (c.model.N, c.nphotons, c.neighbor_count) == (32, 1e6, DEFAULTS["K"])


def test_stale_keys_lists_every_disagreement_with_both_values():
    config = TrainingConfig()
    cfg = update_legacy_dict({}, config)
    cfg["N"] = 128
    cfg["nphotons"] = 1e6
    cfg["probe.mask"] = True
    cfg["intensity_scale.source"] = "closed_form"
    del cfg["K"]
    assert stale_keys(cfg, config) == {
        "N": (128, 64),
        "nphotons": (1e6, 1e9),
        "probe.mask": (True, False),
        "intensity_scale.source": ("closed_form", "dataset"),
        "K": ("<missing>", 4),
    }


def test_require_fresh_names_the_key():
    config = TrainingConfig()
    cfg = update_legacy_dict({}, config)
    cfg["gridsize"] = 3
    with pytest.raises(StaleConfigError) as err:
        require_fresh(cfg, config)
    assert err.value.stale == {"gridsize": (3, 1)}
    assert "gridsize" in str(err.value) and "legacy=3" in str(err.value) and "config=1" in str(err.value)


@pytest.mark.parametrize("key, value", [("probe.mask", 0), ("probe.trainable", 0),
                                        ("intensity_scale.trainable", 0), ("gridsize", True),
                                        ("seed", True)])
def test_bools_and_ints_are_not_confused(key, value):
    """False == 0 and True == 1 in Python; a legacy 0 for a bool flag (or True for an int) is stale."""
    config = TrainingConfig()
    cfg = update_legacy_dict({}, config)
    cfg[key] = value
    assert list(stale_keys(cfg, config)) == [key]


def test_numeric_equality_across_int_and_float():
    config = TrainingConfig(nphotons=1e9)
    cfg = update_legacy_dict({}, config)
    cfg["nphotons"] = 1000000000  # int vs float 1e9: the same number, not stale
    assert stale_keys(cfg, config) == {}


def test_model_and_inference_configs_own_their_keys():
    m = ModelConfig(N=32, gridsize=2)
    cfg = update_legacy_dict({}, m)
    assert set(cfg) == {k for k, p in LEGACY_KEYS.items() if p.startswith("model.")}
    assert cfg["N"] == 32 and stale_keys(cfg, m) == {}
    i = InferenceConfig(model=m, seed=4)
    cfg_i = update_legacy_dict({}, i)
    assert cfg_i["seed"] == 4 and "nphotons" not in cfg_i
    assert stale_keys(cfg_i, i) == {}
    cfg_i["seed"] = 5
    assert stale_keys(cfg_i, i) == {"seed": (5, 4)}


def test_unknown_key_and_invalid_value_name_the_field():
    with pytest.raises(ConfigError) as err:
        config_from_legacy({"N": 64, "intensity_scale": 3.0})
    assert err.value.field == "intensity_scale"
    with pytest.raises(ConfigError) as err:
        config_from_legacy({"N": 48})
    assert err.value.field == "N"
    with pytest.raises(ConfigError) as err:
        config_from_legacy({"K": 0})
    assert err.value.field == "neighbor_count"
    with pytest.raises(ConfigError) as err:
        update_legacy_dict({}, {"N": 64})
    assert err.value.field == "config"


def test_nothing_reads_the_global_dict_implicitly(monkeypatch):
    """Mutating ptycho.legacy.cfg changes no result of the dataclass-driven functions."""
    from ptycho.grouping import group
    from ptycho.raw_data import RawData
    from ptycho.scaling import plan_scales

    rng = np.random.default_rng(0)
    x, y = rng.uniform(10, 50, 30), rng.uniform(10, 50, 30)
    raw = RawData.from_arrays(x, y, rng.random((30, 16, 16), dtype=np.float32), np.ones((16, 16), np.complex64))
    config = replace(TrainingConfig(), **{"model.N": 16, "model.gridsize": 2})

    def run():
        g = group(raw, gridsize=2, n_groups=10, neighbor_count=4, strategy="current", seed=1)
        return g.nn_indices, plan_scales(g.diffraction, config).to_dict()

    before = run()
    for key in list(legacy.cfg):
        monkeypatch.setitem(legacy.cfg, key, "poisoned")
    after = run()
    np.testing.assert_array_equal(before[0], after[0])
    assert before[1] == after[1]
