"""The trained tier on its strongest case (gs1_custom, current profile: 10 epochs, held-out
object): the clean replay passes every check and matches its trained golden; each training
fault of parity.faults, which breaks learning while every scale stays right, passes every
check before `train` and fails a trained check at the stage the fault table names."""
import pytest

from parity import golden as G
from parity.faults import TRAINING_FAULTS
from parity.checks import FAIL, first_failure, registered
from parity.records import CORE_STAGES
from parity.replay import ReplaySpec, run_replay
from tests.conftest import GOLDEN_DIR

pytestmark = pytest.mark.slow
SCENARIO, PROFILE = "gs1_custom", "current"


def _replay(ledger, faults=()):
    spec = ReplaySpec(SCENARIO, PROFILE, tier="trained", train=True, faults=faults)
    return run_replay(spec, ledger, legacy_path=False)


@pytest.fixture(scope="module")
def clean(ledger):
    return _replay(ledger)


def test_clean_trained_replay_passes_every_check(clean):
    assert clean.error is None
    names = {c.name for c in clean.checks}
    assert set(registered("trained")) - {"saturation"} <= names  # softplus: nothing saturates
    assert [c for c in clean.checks if c.verdict == FAIL] == []


def test_clean_trained_replay_matches_its_golden(clean, ledger):
    path = G.golden_path(GOLDEN_DIR, clean.record)
    assert path.name == f"{SCENARIO}__{PROFILE}__trained.json"
    bad = G.failures(G.compare_golden(G.load_golden(path), clean.record, ledger))
    assert bad == [], G.regenerate_hint(clean.record, GOLDEN_DIR)


@pytest.mark.parametrize("fault", sorted(TRAINING_FAULTS))
def test_training_fault_fails_a_trained_check_with_every_scale_right(fault, ledger):
    out = _replay(ledger, (fault,))
    early = [c for c in out.checks if c.failed and c.stage in CORE_STAGES]
    assert early == [], f"{fault}: a scale/consistency check failed, {early}"
    first = first_failure(out.checks)
    assert first is not None, f"{fault} went unnoticed"
    assert first.stage == TRAINING_FAULTS[fault][0] and first.name in registered("trained"), first
