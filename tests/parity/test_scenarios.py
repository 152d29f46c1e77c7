"""Scenario registry, tier sizes (issue 4) and the precedence of resolved replay configs."""
import pathlib

import pytest

from parity.scenarios import (SCENARIO_TIERS, SCENARIOS, SWEEPS, TIERS, all_replays, get_scenario,
                              grouping_settings, resolve_config, tier_scenarios, tier_size)
from parity.profiles import LEGACY
from ptycho.errors import ConfigError
from ptycho.probe import experimental_probe_path


@pytest.mark.parametrize("name, gridsize, probe, probe_scale, mask", [
    ("gs1_ideal", 1, "ideal", 10.0, True),
    ("gs2_ideal", 2, "ideal", 10.0, True),
    ("gs1_custom", 1, "experimental", 4.0, False),
    ("gs2_custom", 2, "experimental", 4.0, False),
])
def test_base_scenarios(name, gridsize, probe, probe_scale, mask):
    s = get_scenario(name)
    assert (s.gridsize, s.probe, s.probe_scale, s.probe_mask) == (gridsize, probe, probe_scale, mask)
    assert (s.N, s.object_kind, s.scan, s.nphotons) == (64, "lines", "random", 1e9)


def test_experimental_probe_is_bundled():
    assert experimental_probe_path().is_file()


def test_dose_sweep_is_gs1_ideal_at_four_doses():
    doses = sorted(get_scenario(n).nphotons for n in SWEEPS["dose"])
    assert doses == [1e4, 1e5, 1e6, 1e9]
    base = get_scenario("gs1_ideal")
    for n in SWEEPS["dose"]:
        s = get_scenario(n)
        assert (s.gridsize, s.probe, s.probe_scale, s.probe_mask) == (
            base.gridsize, base.probe, base.probe_scale, base.probe_mask)


@pytest.mark.parametrize("tier, gridsize, images, groups, batch, split", [
    ("trained", 1, 512, 512, 16, "object"),
    ("trained", 2, 512, 256, 16, "object"),
    ("reduced", 1, 512, 512, 16, "object"),   # issue 12: N=64, >= 512 patterns, held-out object
    ("reduced", 2, 512, 512, 16, "object"),
    ("full", 1, 2000, 1000, 16, "y"),
    ("full", 2, 8000, 1000, 16, "y"),
])
def test_issue_tier_sizes(tier, gridsize, images, groups, batch, split):
    t = tier_size(tier, gridsize)
    assert (t.n_images, t.n_groups, t.batch_size, t.split) == (images, groups, batch, split)


def test_profile_overrides_apply_to_their_profile_only():
    cur = resolve_config("gs2_ideal", "current", "trained")
    leg = resolve_config("gs2_ideal", "legacy", "trained")
    assert (cur.model.amp_activation, cur.model.amp_ceiling) == ("scaled_sigmoid", 8.0)
    assert (leg.model.amp_activation, leg.model.activation_ceiling) == ("sigmoid", 1.0)
    assert resolve_config("gs1_ideal_1e4", "current").model.amp_activation == "softplus"
    assert resolve_config("gs1_custom", "legacy").model.object_support == "full"
    assert resolve_config("gs1_ideal", "current").model.object_support == "half"


def test_trained_tier_runs_the_main_scenarios_and_trains():
    from parity.scenarios import all_replays, tier_scenarios, tier_trains

    assert tier_scenarios("trained") == ("gs1_custom", "gs2_custom", "gs2_ideal")
    assert len(all_replays(tier="trained")) == 6 and tier_trains("trained")
    assert not tier_trains("tiny") and tier_scenarios("tiny") == tuple(SCENARIOS)


def test_tiny_tier_is_small_and_does_not_claim_verification():
    for gs in (1, 2):
        t = TIERS[("tiny", gs)]
        assert t.n_images <= 32 and t.object_size <= 128 and t.n_filters_scale == 1
        assert not t.verify_training


def test_precedence_scenario_over_profile_and_tier_over_both():
    cfg = resolve_config("gs1_custom", "legacy", "reduced")
    assert cfg.model.probe_mask is False            # scenario beats legacy's mask default
    assert cfg.model.gridsize == 1                  # scenario beats legacy's gridsize 2
    assert cfg.model.probe_scale == 4.0
    assert cfg.batch_size == 16                     # tier beats profile
    assert cfg.data_feed == "normalized"            # profile setting the others leave alone
    assert cfg.nepochs == 30                        # tier beats profile (60)
    assert resolve_config("gs1_custom", "legacy", "full").nepochs == 60  # full keeps the profile's
    assert resolve_config("gs2_ideal", "current", "tiny").nepochs == 2


def test_grouping_axis_can_be_held():
    held = resolve_config("gs2_ideal", "legacy", grouping="current")
    assert (held.grouping_strategy, held.neighbor_count) == ("current", 4)
    assert held.data_feed == "normalized"
    own = resolve_config("gs2_ideal", "legacy", grouping="profile")
    assert (own.grouping_strategy, own.neighbor_count) == ("legacy", 7)
    assert grouping_settings("profile", LEGACY) == {"grouping_strategy": "legacy", "neighbor_count": 7}


def test_seed_and_overrides():
    cfg = resolve_config("gs1_ideal", "current", seed=7, overrides={"learning_rate": 1e-4})
    assert cfg.seed == 7 and cfg.learning_rate == 1e-4


@pytest.mark.parametrize("call, field", [
    (lambda: get_scenario("gs3_ideal"), "scenario"),
    (lambda: tier_size("huge", 1), "tier"),
    (lambda: resolve_config("gs1_ideal", "current", grouping="random"), "grouping"),
    (lambda: resolve_config("gs1_ideal", "nightly"), "profile"),
])
def test_unknown_names_raise_config_error_naming_the_field(call, field):
    with pytest.raises(ConfigError) as err:
        call()
    assert err.value.field == field


def test_all_replays_is_every_scenario_times_both_profiles():
    pairs = all_replays()
    assert len(pairs) == 2 * len(SCENARIOS) == 16
    assert pairs[0] == ("gs1_ideal", "legacy") and pairs[1] == ("gs1_ideal", "current")
    assert all_replays(["gs2_ideal"], ["current"]) == [("gs2_ideal", "current")]


def test_readme_states_the_reduced_tiers_curve_interval():
    """The README's description of the reduced tier's learning curve says the code's interval."""
    k = TIERS[("reduced", 1)].curve_every
    assert [TIERS[("reduced", g)].curve_every for g in (1, 2)] == [k, k] and k > 0
    words = {1: "after every epoch", 2: "after every 2nd epoch", 3: "after every 3rd epoch"}
    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert words.get(k, f"after every {k}th epoch") in " ".join(readme.split())


def test_scenario_sizes_name_a_scenario_of_their_tier_and_replace_its_gridsize_default():
    for (tier, name), sizes in SCENARIO_TIERS.items():
        assert name in tier_scenarios(tier), (tier, name)
        gridsize = get_scenario(name).gridsize
        assert tier_size(tier, gridsize, name) is sizes
        assert tier_size(tier, gridsize) is TIERS[(tier, gridsize)] is not sizes
        assert resolve_config(name, "current", tier).n_groups == sizes.n_groups


def test_readme_states_the_trained_tiers_sizes_and_what_it_holds():
    """The README says, per trained scenario, the groups and epochs the code trains and whether
    its learning is held."""
    path = pathlib.Path(__file__).resolve().parents[2] / "README.md"
    readme = " ".join(path.read_text().split())
    for name in tier_scenarios("trained"):
        sz = tier_size("trained", get_scenario(name).gridsize, name)
        held = "held" if sz.verify_learning else "reported"
        want = f"{name}: {sz.n_groups} groups x {sz.nepochs} epochs, learning {held}"
        assert want in readme, want
