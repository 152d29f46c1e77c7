"""The trained tier on its strongest case (gs1_custom, current profile: 10 epochs, held-out
object): the clean replay passes every check and matches its trained golden. The training
faults on the same case: tests.parity.test_trained_faults."""
import pytest

from parity import golden as G
from parity.checks import FAIL, registered
from parity.replay import ReplaySpec, run_replay
from tests.conftest import GOLDEN_DIR

pytestmark = [pytest.mark.slow, pytest.mark.trained]
SCENARIO, PROFILE = "gs1_custom", "current"


def trained_replay(ledger, faults=()):
    """The trained-tier replay of SCENARIO x PROFILE (dataclass path) with `faults`."""
    spec = ReplaySpec(SCENARIO, PROFILE, tier="trained", train=True, faults=faults)
    return run_replay(spec, ledger, legacy_path=False)


@pytest.fixture(scope="module")
def clean(ledger):
    return trained_replay(ledger)


def test_clean_trained_replay_passes_every_check(clean):
    assert clean.error is None
    names = {c.name for c in clean.checks}
    # softplus: nothing saturates; the trained tier records no learning curve
    assert set(registered("trained")) - {"saturation", "curve_ends_at_evaluate"} <= names
    assert [c for c in clean.checks if c.verdict == FAIL] == []


def test_clean_trained_replay_matches_its_golden(clean, ledger):
    path = G.golden_path(GOLDEN_DIR, clean.record)
    assert path.name == f"{SCENARIO}__{PROFILE}__trained.json"
    bad = G.failures(G.compare_golden(G.load_golden(path), clean.record, ledger))
    assert bad == [], G.regenerate_hint(clean.record, GOLDEN_DIR)

