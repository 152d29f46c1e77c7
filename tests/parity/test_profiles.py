"""Profiles are data: legacy reproduces ptycho.legacy.DEFAULTS, current is TrainingConfig()."""
import dataclasses

import pytest

from parity.profiles import (CURRENT, LEGACY, PROFILES, Profile, apply_settings, diff_configs,
                             diff_markdown, diff_rows, flatten_config, get_profile)
from parity.scenarios import resolve_config
from ptycho.config import TrainingConfig
from ptycho.errors import ConfigError
from ptycho.legacy import DEFAULTS, config_from_legacy

#: the docs/design.md §4 table: parameters on which legacy and current must differ
DOCUMENTED_DIFFERENCES = {
    "data_feed": ("normalized", "raw"),
    "scale_source": ("closed_form", "dataset"),
    "grouping_strategy": ("legacy", "current"),
    "neighbor_count": (7, 4),
    "nll_form": ("full", "mean"),
    "model.amp_activation": ("sigmoid", "softplus"),
}


def test_legacy_profile_is_the_legacy_code_defaults():
    assert LEGACY.config() == config_from_legacy(dict(DEFAULTS))


def test_current_profile_is_the_dataclass_defaults():
    assert CURRENT.config() == TrainingConfig()


def test_profiles_registry_and_lookup():
    assert set(PROFILES) == {"legacy", "current"}
    assert get_profile("legacy") is LEGACY
    with pytest.raises(ConfigError) as err:
        get_profile("nightly")
    assert err.value.field == "profile" and "nightly" in str(err.value)


def test_diff_lists_every_design_difference_and_only_differences():
    rows = diff_rows(LEGACY, CURRENT)
    by_key = {r["key"]: (r["legacy"], r["current"]) for r in rows}
    for key, pair in DOCUMENTED_DIFFERENCES.items():
        assert by_key[key] == pair
    flat_l, flat_c = flatten_config(LEGACY.config()), flatten_config(CURRENT.config())
    for key, (a, b) in by_key.items():
        if key.startswith("("):
            continue
        assert flat_l[key] == a and flat_c[key] == b and a != b
    differing = {k for k in flat_l if flat_l[k] != flat_c[k]}
    assert differing == {k for k in by_key if not k.startswith("(")}
    assert by_key["(reachability policy)"] == ("predict", "require")


def test_diff_for_a_scenario_drops_the_settings_the_scenario_fixes():
    ca = resolve_config("gs2_ideal", "legacy")
    cb = resolve_config("gs2_ideal", "current")
    keys = {r["key"] for r in diff_rows(LEGACY, CURRENT, config_a=ca, config_b=cb)}
    assert "model.gridsize" not in keys and "model.probe_mask" not in keys
    assert set(DOCUMENTED_DIFFERENCES) <= keys


def test_diff_markdown_has_one_row_per_difference():
    rows = diff_rows(LEGACY, CURRENT)
    text = diff_markdown(rows, "legacy", "current")
    lines = text.strip().splitlines()
    assert lines[0] == "| parameter | legacy | current | note |"
    assert len(lines) == 2 + len(rows)
    assert "| `data_feed` | 'normalized' | 'raw' |" in text


def test_diff_configs_distinguishes_bool_from_int():
    a = TrainingConfig()
    assert diff_configs(a, a) == []
    b = dataclasses.replace(a, seed=2)
    assert diff_configs(a, b) == [("seed", 1, 2)]


def test_apply_settings_rejects_unknown_keys():
    with pytest.raises(ConfigError) as err:
        apply_settings(TrainingConfig(), {"model.no_such_field": 1})
    assert err.value.field == "model.no_such_field"
    with pytest.raises(ConfigError) as err:
        apply_settings(TrainingConfig(), {"learning_rat": 1e-3})
    assert err.value.field == "learning_rat"


def test_apply_settings_validates_values():
    with pytest.raises(ConfigError) as err:
        apply_settings(TrainingConfig(), {"data_feed": "whitened"})
    assert err.value.field == "data_feed"


def test_profile_is_immutable_data():
    with pytest.raises(TypeError):
        LEGACY.settings["data_feed"] = "raw"
    with pytest.raises(dataclasses.FrozenInstanceError):
        LEGACY.name = "x"
    with pytest.raises(ConfigError) as err:
        Profile("p", "d", {}, reachability="maybe")
    assert err.value.field == "reachability"
