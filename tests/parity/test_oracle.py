"""engine_agrees (parity/oracle.py): PtyLab's ePIE reconstructs what our simulator makes, and
fails, naming stage simulate, on five convention errors of our simulator or data path that our
own checks could share (each a realistic edit, made here by replacing the simulator's
collaborator the way the edit would): positions transposed, y mirrored, probe conjugated, DC in
the corner (no fftshift), amplitude stored as intensity.

Every case runs the gate's own oracle (gs1_custom at the tiny tier: lines object of seed 1,
experimental probe, 1e9 photons, the tiny `OracleSize`), about 3 s each.
"""
import copy

import numpy as np
import pytest

pytest.importorskip("PtyLab", reason="PtyLab is not installed: the oracle tests need the "
                                     "'oracle' extra (python -m pip install -e '.[oracle]'; "
                                     "the 'test' extra includes it)")

import ptycho.simulate as simulate  # noqa: E402
from parity import oracle  # noqa: E402
from parity.checks import FAIL, PASS, CheckContext, evaluate  # noqa: E402
from parity.checks.data import check_engine_agrees  # noqa: E402
from parity.model_cache import ModelCache  # noqa: E402
from parity.profiles import CURRENT  # noqa: E402
from parity.scenarios import get_scenario, resolve_config, tier_size  # noqa: E402
from parity.tolerances import load_ledger  # noqa: E402
from ptycho.objects import lines_object  # noqa: E402
from ptycho.physics import IMAGE_AXES  # noqa: E402
from ptycho.probe import make_probe  # noqa: E402
from tests.conftest import LEDGER_PATH  # noqa: E402

LEDGER = load_ledger(LEDGER_PATH)
CTX = CheckContext(CURRENT, LEDGER)
SCENARIO = "gs1_custom"


@pytest.fixture(scope="module")
def setup():
    """(object, probe, mask, nphotons, seed, size) of the gate's oracle run."""
    config = resolve_config(SCENARIO, "current", "tiny")
    obj = lines_object(tier_size("tiny", 1).object_size, seed=config.seed)
    probe = make_probe(config.model, source=get_scenario(SCENARIO).probe)
    size = oracle.oracle_size(SCENARIO, "tiny")
    return obj, probe, None, config.nphotons, config.seed, size


def _values(setup, cache=None):
    obj, probe, mask, nphotons, seed, size = setup
    _, agreement = oracle.simulate_oracle(obj, probe, mask, nphotons=nphotons, seed=seed,
                                          size=size, cache=cache)
    return {oracle.PREFIX + k: v for k, v in agreement.values().items()}


@pytest.fixture(scope="module")
def clean(setup):
    return _values(setup)


# ------------------------------------------------------------------ the five breakers
def _transposed(original):
    def extract_patches(obj, xcoords, ycoords, N, **kw):      # x and y swapped
        return original(obj, ycoords, xcoords, N, **kw)
    return "extract_patches", extract_patches


def _mirrored(original):
    def extract_patches(obj, xcoords, ycoords, N, **kw):      # rows counted from the bottom
        return original(obj, xcoords, np.shape(obj)[0] - np.asarray(ycoords), N, **kw)
    return "extract_patches", extract_patches


def _conjugated(original):
    def illuminate_np(obj, probe, mask=None):                  # conj(P) * O
        return original(obj, np.conj(probe), mask)
    return "illuminate_np", illuminate_np


def _dc_corner(original):
    def diffract_np(psi):                                      # no fftshift: DC at (0, 0)
        return np.fft.ifftshift(original(psi), axes=IMAGE_AXES)
    return "diffract_np", diffract_np


def _intensity(original):
    def simulate_dataset(*args, **kwargs):                     # stores k / s^2, not sqrt(k) / s
        raw = original(*args, **kwargs)
        raw.diff3d = np.square(np.asarray(raw.diff3d))
        return raw
    return "simulate_dataset", simulate_dataset


BREAKERS = {"positions_transposed": ("extract_patches", _transposed),
            "y_mirrored": ("extract_patches", _mirrored),
            "probe_conjugated": ("illuminate_np", _conjugated),
            "dc_in_the_corner": ("diffract_np", _dc_corner),
            "amplitude_stored_as_intensity": ("simulate_dataset", _intensity)}


def test_clean_simulator_agrees_with_the_engine(clean):
    check = check_engine_agrees(clean, CTX)
    assert check.verdict == PASS and check.stage == "simulate", check
    assert check.value["r"] >= check.bound["r"]
    assert clean[oracle.PREFIX + "points"] == oracle.ORACLE_SIZES["tiny"].points


@pytest.mark.parametrize("name", sorted(BREAKERS))
def test_breaker_fails_engine_agrees_at_simulate(setup, clean, monkeypatch, name):
    attr, make = BREAKERS[name]
    replaced, edited = make(getattr(simulate, attr))
    monkeypatch.setattr(simulate, replaced, edited)
    broken = _values(setup)
    check = check_engine_agrees(broken, CTX)
    assert check.verdict == FAIL and check.stage == "simulate", (name, check)
    # the bound comes from the ledger, not from the value
    assert check.bound == check_engine_agrees(clean, CTX).bound
    print(f"{name}: {check.value}")


def test_each_figure_alone_fails_the_check(clean):
    """r, the error ratio and the units are each held (a value-side edit of one record)."""
    a = oracle.PREFIX + "amplitude."
    for key, bad in ((a + "pearson.model", 0.9), (a + "rel_rmse_scaled.model",
                                                   clean[a + "rel_rmse_scaled.baseline"] * 0.5),
                     (a + "ls_scalar.model", 1.2), (a + "pearson.model", None)):
        broken = dict(clean, **{key: bad})
        assert check_engine_agrees(broken, CTX).verdict == FAIL, key


def test_records_without_oracle_values_do_not_carry_the_check(clean):
    record = {"meta": {"profile": "current"}, "values": {"simulate.mean_exit_energy": 1.0}}
    assert check_engine_agrees(record["values"], CTX) is None
    assert oracle.oracle_size("gs2_ideal", "tiny") is None
    assert oracle.oracle_size(SCENARIO, "trained") is None
    assert oracle.oracle_size(SCENARIO, "tiny") is not None


def test_replays_share_one_reconstruction_through_the_cache(setup, clean):
    cache = ModelCache()
    built = []
    assert cache.memo("k", lambda: built.append(1) or "v") == "v"
    assert cache.memo("k", lambda: built.append(2) or "w") == "v" and built == [1]
    first = _values(setup, cache)
    second = _values(setup, cache)        # same simulated data: the run is not repeated
    assert first == second == clean
    assert len(cache._memo) == 2
    cache.clear()
    assert len(cache._memo) == 0


def test_evaluate_reports_engine_agrees_for_an_oracle_record(clean):
    values = copy.deepcopy(clean)
    checks = {c.name: c for c in evaluate({"meta": {"profile": "current"}, "values": values},
                                          LEDGER, CURRENT)}
    assert checks["engine_agrees"].verdict == PASS
