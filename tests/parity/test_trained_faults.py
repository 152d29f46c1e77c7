"""The trained tier's training faults (parity.faults TRAINING_FAULTS), each breaking learning
while every scale stays right: the gridsize-2 feed faults (GRIDSIZE2_FAULTS) on gs2_custom,
the others on the tier's strongest case gs1_custom (tests.parity.test_trained; current
profile, held-out object): every check before `train` passes and a trained check fails at
the stage the fault table names. A module of its own so that pytest-xdist can run it beside
the clean replays' module (each trains for minutes)."""
import pytest

from parity.checks import first_failure, registered
from parity.faults import GRIDSIZE2_FAULTS, TRAINING_FAULTS
from parity.records import CORE_STAGES
from tests.parity.test_trained import trained_replay

pytestmark = [pytest.mark.slow, pytest.mark.trained]


@pytest.mark.parametrize("fault", sorted(TRAINING_FAULTS))
def test_training_fault_fails_a_trained_check_with_every_scale_right(fault, ledger):
    out = trained_replay(ledger, (fault,),
                         scenario="gs2_custom" if fault in GRIDSIZE2_FAULTS else "gs1_custom")
    early = [c for c in out.checks if c.failed and c.stage in CORE_STAGES]
    assert early == [], f"{fault}: a scale/consistency check failed, {early}"
    first = first_failure(out.checks)
    assert first is not None, f"{fault} went unnoticed"
    assert first.stage == TRAINING_FAULTS[fault][0] and first.name in registered("trained"), first
