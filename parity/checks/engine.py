"""The engine: every applicable registered check of a record, or of a pair of records.

Checks read only the flat telemetry values (plus the profile and the ledger, in a
`CheckContext`), so a record loaded from JSON can be re-checked: `evaluate(record, ledger)`.
Order: the catalogue in `CATALOGUE` order (registration order within a module), then sorted by
stage, stable within a stage.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..profiles import Profile, get_profile
from ..records import stage_of
from ..tolerances import Ledger
# the catalogue: importing a module registers its checks (absolute imports: `from . import`
# would read as an import of this package in tests/test_layering.py)
# isort: off  (the import order is the registration order)
import parity.checks.bridge as bridge
import parity.checks.data as data
import parity.checks.labels as labels
import parity.checks.model as model
import parity.checks.training as training
import parity.checks.results as results
import parity.checks.specs as specs
import parity.checks.finiteness as finiteness
import parity.checks.trained as trained
import parity.checks.pairs as pairs
# isort: on
from .kit import CHECK_STAGES, Check, CheckContext
from .registry import PAIR_PROFILES, REGISTRY

#: the catalogue modules in registration order: the report's order within a stage (the
#: record-wide check after the stage checks, the trained checks after those)
CATALOGUE = (bridge, data, labels, model, training, results, specs, finiteness, trained, pairs)


def evaluate(record: Mapping[str, Any], ledger: Ledger, profile: Profile | None = None) -> list[Check]:
    """Every applicable check of a telemetry record, in stage order, with bounds from `ledger`.

    profile: defaults to the record's meta['profile']. A 'stage' check runs when its stage was
    recorded, a 'record' check always, a 'trained' check when the train stage fitted and its
    condition holds; a missing key or an unusable value is a failure naming it.
    """
    values = record["values"]
    ctx = CheckContext(profile or get_profile(record["meta"]["profile"]), ledger)
    recorded = {stage_of(k) for k in values}
    out: list[Check] = []
    for entry in REGISTRY.values():
        if entry.kind not in ("stage", "record", "trained"):
            continue
        if entry.kind == "stage" and entry.stage not in recorded:
            continue
        found = entry.run(values, ctx)
        if found is not None:
            out.append(found)
    return sort_checks(out)


def evaluate_pair(first: Mapping[str, Any], second: Mapping[str, Any], ledger: Ledger) -> list[Check]:
    """The pair checks of one scenario's records under PAIR_PROFILES (legacy, current), in
    registration order; the context's profile is the first's."""
    ctx = CheckContext(get_profile(PAIR_PROFILES[0]), ledger)
    out = []
    for entry in REGISTRY.values():
        if entry.kind == "pair":
            found = entry.run(first["values"], second["values"], ctx)
            if found is not None:
                out.append(found)
    return out


def sort_checks(checks: list[Check]) -> list[Check]:
    """Checks ordered by stage (config first), stable within a stage."""
    return sorted(checks, key=lambda c: CHECK_STAGES.index(c.stage) if c.stage in CHECK_STAGES
                  else len(CHECK_STAGES))


def first_failure(checks: list[Check]) -> Check | None:
    """The earliest failing check in stage order, or None."""
    for c in sort_checks(checks):
        if c.failed:
            return c
    return None
