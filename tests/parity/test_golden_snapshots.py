"""Golden snapshots: every scenario x profile at the tiny tier, through the syrupy extension.

`pytest --snapshot-update tests/parity/test_golden_snapshots.py` (or
`python -m parity golden update`) regenerates golden/<scenario>__<profile>__tiny.json; a missing
golden fails. Values compare with the [golden] tolerances of golden/tolerances.toml.
"""
import pytest

from parity.golden import assert_golden
from parity.scenarios import all_replays
from parity.stages import replay_all

PAIRS = all_replays()


@pytest.fixture(scope="module")
def records():
    return {(r["meta"]["scenario"], r["meta"]["profile"]): r for r in replay_all(tier="tiny")}


@pytest.mark.parametrize("scenario, profile", PAIRS, ids=[f"{s}-{p}" for s, p in PAIRS])
def test_tiny_golden(snapshot, records, scenario, profile):
    assert_golden(snapshot, records[(scenario, profile)])
