"""The trained tier on its strongest case (gs1_custom, current profile: 10 epochs, held-out
object) and on gridsize 2 (gs2_custom, current profile: 20 epochs of 512 groups, every learning
check held): each clean replay passes every check and matches its trained golden. The training
faults on the same cases: tests.parity.test_trained_faults."""
import pytest

from parity import golden as G
from parity.checks import FAIL, registered
from parity.replay import ReplaySpec, run_replay
from tests.conftest import GOLDEN_DIR

pytestmark = [pytest.mark.slow, pytest.mark.trained]
PROFILE = "current"
#: the trained tier's strongest case, and its gridsize-2 case whose learning is held
SCENARIOS = ("gs1_custom", "gs2_custom")


def trained_replay(ledger, faults=(), scenario="gs1_custom"):
    """The trained-tier replay of `scenario` x PROFILE (dataclass path) with `faults`."""
    spec = ReplaySpec(scenario, PROFILE, tier="trained", train=True, faults=faults)
    return run_replay(spec, ledger, legacy_path=False)


@pytest.fixture(scope="module", params=SCENARIOS)
def clean(request, ledger):
    return trained_replay(ledger, scenario=request.param)


def test_clean_trained_replay_passes_every_check(clean):
    assert clean.error is None
    names = {c.name for c in clean.checks}
    # softplus: nothing saturates; the trained tier records no learning curve
    assert set(registered("trained")) - {"saturation", "curve_ends_at_evaluate"} <= names
    assert [c for c in clean.checks if c.verdict == FAIL] == []


def test_clean_trained_replay_matches_its_golden(clean, ledger):
    path = G.golden_path(GOLDEN_DIR, clean.record)
    assert path.name == f"{clean.record['meta']['scenario']}__{PROFILE}__trained.json"
    bad = G.failures(G.compare_golden(G.load_golden(path), clean.record, ledger))
    assert bad == [], G.regenerate_hint(clean.record, GOLDEN_DIR)

