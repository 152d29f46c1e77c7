"""Golden snapshots: every scenario x profile at the tiny tier, through the syrupy extension.

`pytest --snapshot-update tests/parity/test_golden_snapshots.py` (or
`python -m parity golden update`) regenerates golden/<scenario>__<profile>__tiny.json; a missing
golden fails. Values compare with the [golden] tolerances of golden/tolerances.toml. The
`golden` fixture comes from the package's pytest plugin (parity.testing).
"""
import pytest

from parity.replay import replay_all
from parity.scenarios import all_replays

PAIRS = all_replays()


@pytest.fixture(scope="module")
def records(ledger):
    return {(r["meta"]["scenario"], r["meta"]["profile"]): r for r in replay_all(ledger, tier="tiny")}


@pytest.mark.parametrize("scenario, profile", PAIRS, ids=[f"{s}-{p}" for s, p in PAIRS])
def test_tiny_golden(golden, records, scenario, profile):
    golden(records[(scenario, profile)])
