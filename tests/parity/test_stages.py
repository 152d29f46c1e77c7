"""The stage functions: order, profile (in)dependence, the labels ratio g, the y split."""
import numpy as np
import pytest

from parity.model_cache import ModelCache
from parity.profiles import get_profile
from parity.records import CORE_STAGES, DIAGNOSTIC_STAGES, stage_of
from parity.replay import ReplaySpec, ResolvedReplay, StageError, replay_config, resolve, run_stages
from parity.scenarios import TierSize, get_scenario
from parity.stages import STAGE_FUNCTIONS, StageState
from parity.stages.artifacts import Artifacts, MissingArtifactError
from parity.telemetry import Recorder
from parity.trace import first_divergence
from tests.conftest import ledger_tolerance

RTOL = ledger_tolerance("gap.attribution")
PROFILE_INDEPENDENT = ("object", "probe", "scan", "simulate", "group", "normalize", "scale",
                       "container")


def _record(scenario, profile, grouping="profile", **kw):
    spec = ReplaySpec(scenario, profile, grouping=grouping, **kw)
    return run_stages(resolve(spec)).to_dict()


@pytest.fixture(scope="module")
def held():
    """gs2_ideal under both profiles with the grouping held at 'current'."""
    return {p: _record("gs2_ideal", p, grouping="current") for p in ("legacy", "current")}


def test_record_has_every_core_stage_and_the_probe_stages_in_order(held):
    rec = held["current"]
    seen = []
    for key in rec["values"]:
        if stage_of(key) not in seen:
            seen.append(stage_of(key))
    assert tuple(seen) == CORE_STAGES + DIAGNOSTIC_STAGES   # no training: train/stitch/evaluate probes
    assert rec["values"]["train.mode"] == "probe"
    assert rec["meta"]["scenario"] == "gs2_ideal" and rec["meta"]["profile"] == "current"
    assert rec["meta"]["tier"] == "tiny" and rec["meta"]["seed"] == 1


def test_profile_independent_stages_agree_when_grouping_is_held(held, tol):
    a, b = held["legacy"]["values"], held["current"]["values"]
    rtol = tol("parity.stages.profile_gap")
    for key, va in a.items():
        if key.startswith("container.fed_intensity_scale") and isinstance(va, float):
            # the profile's fed container (X_fed = g*X_raw in float32 for legacy) gives s up to
            # one float32 rounding per value
            assert b[key] == pytest.approx(va, rel=rtol), key
        elif ".spec." in key:
            # a specification's measured error against its reference (round-off, e.g. of the
            # legacy profile's float32 feed g*X_raw): held to its bound by the spec_* checks
            continue
        elif stage_of(key) in PROFILE_INDEPENDENT:
            assert b[key] == va, key
    for key, va in a.items():
        if stage_of(key) == "network_input" and isinstance(va, float) and ".spec." not in key:
            assert b[key] == pytest.approx(va, rel=rtol, abs=tol("parity.stages.zero_floor")), key
    E = a["normalize.E"]
    assert a["network_input.mean_sum_xy_sq"] == pytest.approx((64 / 2) ** 2,
                                                                 rel=tol("parity.stages.input_energy"))
    assert E > 0


def test_labels_differ_by_exactly_g(held, tol):
    a, b = held["legacy"]["values"], held["current"]["values"]
    g = a["normalize.g"]
    rtol = tol("parity.stages.profile_gap")
    for stat in ("max", "mean", "std"):
        assert a[f"labels.amplitude.{stat}"] / b[f"labels.amplitude.{stat}"] == pytest.approx(g, rel=rtol)
    for stat in ("max", "mean", "mean_sum_xy_sq"):
        assert a[f"labels.counts.{stat}"] == pytest.approx(b[f"labels.counts.{stat}"], rel=rtol)
    assert a["labels.scale"] / b["labels.scale"] == pytest.approx(
        1 / g, rel=tol("parity.stages.float64_algebra"))
    assert a["labels.data_feed"] == "normalized" and b["labels.data_feed"] == "raw"


def test_trace_of_legacy_vs_current_reports_labels_and_g(held, tol):
    res = first_divergence(held["current"], held["legacy"], attribution_rtol=RTOL)
    first = res.first
    assert first.stage == "labels" and first.kind == "numeric"
    g = held["legacy"]["values"]["normalize.g"]
    assert first.ratio == pytest.approx(g, rel=tol("parity.stages.trace_ratio"))
    matches = res.attributions[res.rungs[0][0]]
    assert matches and abs(matches[0].value - g) <= tol("parity.stages.trace_ratio") * g   # best match is g itself


def test_trace_without_holding_the_grouping_reports_group():
    a = _record("gs2_ideal", "current")
    b = _record("gs2_ideal", "legacy")
    assert first_divergence(a, b, attribution_rtol=RTOL).first.stage == "group"


def test_a_stage_run_before_its_inputs_names_the_missing_artifact_and_its_producer():
    """simulate without probe and scan: the error names the first missing field and the
    stage that makes it, not a KeyError deep in the product."""
    spec = ReplaySpec("gs1_ideal", "current")
    with pytest.raises(StageError) as err:
        run_stages(resolve(spec), stages=["object", "simulate"])
    assert err.value.stage == "simulate"
    cause = err.value.cause
    assert isinstance(cause, MissingArtifactError)
    assert (cause.name, cause.producer) == ("probe", "stage 'probe'")
    assert "'probe'" in str(err.value) and "stage 'probe'" in str(err.value)


def test_artifacts_refuse_a_misspelt_field_and_tell_none_from_missing():
    art = Artifacts()
    with pytest.raises(AttributeError, match="no artifact named 'maks'"):
        art.maks = None
    assert not art.has("mask")
    art.mask = None  # no mask is a value
    assert art.has("mask") and art.mask is None and art.produced() == {"mask"}
    with pytest.raises(MissingArtifactError, match="made by stage 'scan'"):
        art.split


def test_train_test_split_along_y():
    spec = ReplaySpec("gs1_ideal", "current")
    config = replay_config(spec)
    sizes = TierSize(object_size=128, n_images=16, n_groups=4, batch_size=4, nepochs=1,
                     n_filters_scale=1, split="y")
    replay = ResolvedReplay(spec, get_scenario("gs1_ideal"), get_profile("current"), sizes, config)
    st = StageState(replay,
                    Recorder({"scenario": "gs1_ideal", "profile": "current", "tier": "x", "seed": 1}),
                    ModelCache())
    for name in ("object", "probe", "scan", "simulate", "group"):
        st.recorder.record(name, STAGE_FUNCTIONS[name](st))
    v = st.recorder.values
    assert v["scan.n_train"] + v["scan.n_test"] == 16
    y = st.art.grouped.coords[:, 0, 1, :]
    assert np.all(y < 64) and v["group.n_groups"] == config.n_groups


def test_observed_quantities_are_measured_not_copied_from_the_prediction(held):
    """labels.observed_input_gain comes from the data (the network input's energy over the raw
    container's), not from the plan it is checked against (chain_product)."""
    import math

    for v in (held["legacy"]["values"], held["current"]["values"]):
        measured = math.sqrt(v["network_input.mean_sum_xy_sq"] / v["container.X.mean_sum_xy_sq"])
        assert v["labels.observed_input_gain"] == measured
        assert v["labels.observed_input_gain"] != v["labels.predicted_input_gain"]


def _container(C, seed=0):
    from ptycho.container import PtychoDataContainer

    rng = np.random.default_rng(seed)
    X = rng.random((3, 8, 8, C), dtype=np.float32)
    coords = rng.normal(size=(3, 1, 2, C)) * (C > 1)
    return PtychoDataContainer(X, None, None, coords, np.ones((8, 8), np.complex64))


@pytest.mark.parametrize("fault", ["coords_dropped", "channels_rolled"])
def test_gridsize_2_feed_faults_keep_every_intensity_and_break_only_gridsize_2(fault):
    """The training feed faults leave every pattern's intensity (so every scale) as it is;
    at gridsize 2 they zero the offsets or pair each pattern with its neighbour's offset,
    at gridsize 1 (one pattern at offset 0) the feed equals the clean one."""
    from parity.stages.training import feed_with_faults

    fed = _container(4)
    bad = feed_with_faults(fed, (fault,))
    # the same patterns in each group (a permutation of its channels)
    assert np.array_equal(np.sort(bad.X_np, axis=-1), np.sort(fed.X_np, axis=-1))
    if fault == "coords_dropped":
        assert np.array_equal(bad.X_np, fed.X_np) and not bad.coords_nominal_np.any()
    else:
        assert np.array_equal(bad.coords_nominal_np, fed.coords_nominal_np)
        assert np.array_equal(bad.X_np[..., 1], fed.X_np[..., 0])
    assert feed_with_faults(fed, ()) is fed
    one = _container(1)
    same = feed_with_faults(one, (fault,))
    assert np.array_equal(same.X_np, one.X_np)
    assert np.array_equal(same.coords_nominal_np, one.coords_nominal_np)
