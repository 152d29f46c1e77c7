"""The check registry (parity.checks): one decorator records a check's name, stage and kind;
the engine evaluates a record or a pair; `replay` and `check` give the same pair verdicts."""
import pkgutil

import pytest

import parity.checks as C
from parity.checks import registry
from parity.checks.kit import PASS, Result
from parity.commands.check import add_pair_checks
from parity.replay import ReplayOutcome, ReplaySpec, pair_checks, pair_partner
from parity.report import ReplayResult
from parity.tolerances import load_ledger
from tests.conftest import LEDGER_PATH
from tests.parity.test_learning import CLEAN, LEGACY

LEDGER = load_ledger(LEDGER_PATH)


@pytest.fixture
def empty_registry(monkeypatch):
    """A registry of its own, so a test check does not join the harness's catalogue."""
    monkeypatch.setattr(registry, "REGISTRY", {})
    return registry


def test_decorator_records_name_stage_and_kind_once(empty_registry):
    @empty_registry.check("simulate")
    def check_engine_agrees(v, ctx):
        """The specification."""
        return Result(v["simulate.x"], 1.0, PASS, "x vs 1")

    entry = empty_registry.REGISTRY["engine_agrees"]
    assert entry is check_engine_agrees and (entry.stage, entry.kind) == ("simulate", "stage")
    got = check_engine_agrees({"simulate.x": 1.0}, None)
    assert (got.name, got.stage, got.verdict) == ("engine_agrees", "simulate", PASS)
    assert entry.doc == "The specification."


def test_decorator_refuses_bad_registrations(empty_registry):
    def f(v, ctx):
        return None

    empty_registry.check("simulate", name="a")(f)
    with pytest.raises(ValueError, match="registered twice"):
        empty_registry.check("probe", name="a")(f)
    with pytest.raises(ValueError, match="stage 'simulated'"):
        empty_registry.check("simulated")
    with pytest.raises(ValueError, match="kind 'oracle'"):
        empty_registry.check("simulate", kind="oracle")
    with pytest.raises(ValueError, match="applies"):
        empty_registry.check("simulate", applies=lambda v: True)
    with pytest.raises(ValueError, match="stage"):
        empty_registry.check(registry.ANY_STAGE)   # only a record/path check may name it later


def test_engine_guards_a_missing_key_and_an_unusable_value(empty_registry):
    entry = empty_registry.check("simulate", name="x")(lambda v, ctx: Result(float(v["a"]), 0, PASS, ""))
    assert "telemetry key missing: a" in entry.run({}, None).detail
    assert "cannot evaluate" in entry.run({"a": "x1"}, None).detail


def test_every_catalogue_module_is_registered_in_catalogue_order():
    """A catalogue module left out of engine.CATALOGUE would never register its checks."""
    names = {m.name for m in pkgutil.iter_modules(C.__path__)} - {"kit", "registry", "engine"}
    assert names == {m.__name__.rsplit(".", 1)[1] for m in C.CATALOGUE}
    order = [m.__name__ for m in C.CATALOGUE]
    positions = [order.index(c.func.__module__) for c in C.REGISTRY.values()]
    assert positions == sorted(positions)


def test_every_stage_check_is_registered_at_a_pipeline_stage():
    for name, entry in C.registered("stage", "trained", "pair").items():
        assert entry.stage in C.CHECK_STAGES, name
        assert entry.doc, f"{name}: the docstring states its specification"


def _record(values, profile):
    return {"meta": {"profile": profile}, "values": values}


def test_replay_gives_the_pair_verdicts_check_gives(monkeypatch):
    """`replay --tier trained --profile legacy` evaluates legacy_ratio on the partner replay,
    the same engine call `check` makes on its two results. Breaker: a replay without pairs
    (the behaviour before the registry) has no legacy_ratio."""
    spec = ReplaySpec("gs1_custom", "legacy", tier="trained", train=True)
    partner = pair_partner(spec)
    assert partner.profile == "current" and partner.tier == "trained"
    assert pair_partner(ReplaySpec("gs1_custom", "current", train=True)) is None
    assert pair_partner(ReplaySpec("gs1_custom", "legacy")) is None      # nothing to pair untrained
    legacy_rec, current_rec = _record(LEGACY, "legacy"), _record(CLEAN, "current")

    class FakeRecorder:
        def to_dict(self):
            return current_rec

    import parity.replay as R
    monkeypatch.setattr(R, "run_stages", lambda replay, **kw: FakeRecorder())
    from_replay = pair_checks(ReplayOutcome(spec, legacy_rec, []), LEDGER)
    results = [ReplayResult("gs1_custom", "legacy", "trained"),
               ReplayResult("gs1_custom", "current", "trained")]
    add_pair_checks(results, [legacy_rec, current_rec], LEDGER)
    assert [c.name for c in from_replay] == ["legacy_ratio"]
    assert from_replay == results[0].checks and results[1].checks == []
