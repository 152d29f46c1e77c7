"""The tolerance ledger enforces its class ceilings (docs/design.md §8): no tolerance loosened quietly."""
import tomllib

import pytest

from parity import tolerances
from parity.tolerances import LedgerError
from tests.conftest import LEDGER_PATH, ledger_tolerance

# docs/design.md §8: exact (integers, shapes, strings), numpy deterministic rtol <= 1e-6, TensorFlow
# rtol <= 1e-5; the looser statistical/trained classes as documented in the ledger header.
DOCUMENTED_CEILINGS = {"exact": 0.0, "numpy": 1e-6, "tensorflow": 1e-5, "poisson": 0.05, "trained": 0.25,
                   "learning": 1.0}


@pytest.fixture(scope="module")
def raw_ledger():
    with open(LEDGER_PATH, "rb") as fh:
        return tomllib.load(fh)


def test_class_ceilings_are_the_documented_ones(raw_ledger):
    """Pinned: changing a ceiling or adding a class is a deliberate edit of this test too."""
    assert raw_ledger["classes"] == DOCUMENTED_CEILINGS


def test_every_entry_has_a_class_and_respects_its_ceiling(raw_ledger):
    entries = list(tolerances.iter_ledger_entries(raw_ledger))
    assert any(n.startswith("golden.") for n, _ in entries) and any(n.startswith("tests.") for n, _ in entries)
    for name, entry in entries:
        assert isinstance(entry, dict) and "class" in entry, f"{name} has no class"
        ceiling = raw_ledger["classes"][entry["class"]]
        values = {k: entry[k] for k in ("rtol", "atol", "value") if k in entry}
        assert values, f"{name} has no rtol/atol/value"
        for k, v in values.items():
            assert 0 <= v <= ceiling, f"{name}: {k}={v} exceeds the {entry['class']} ceiling {ceiling}"
    assert tolerances.ledger_problems(raw_ledger) == []
    tolerances.load_ledger(LEDGER_PATH)  # validates


def test_golden_rules_end_with_a_catch_all(raw_ledger):
    rules = tolerances.load_ledger(LEDGER_PATH).rules
    assert rules[-1].pattern == "*", "the last [golden] rule must be the catch-all '*'"
    assert rules[-1].tol_class == "numpy"


def test_test_entries_read_back_as_written(raw_ledger):
    """Ledger.test_tolerance (and conftest's ledger_tolerance, which tests use) returns the
    number written in the TOML entry, whichever of rtol/atol/value it is (the TOML text,
    parsed by tomllib, is the independent side). Breaker: a reader that takes `rtol` only
    returns 0 for every atol entry."""
    ledger = tolerances.load_ledger(LEDGER_PATH)
    n = 0
    for name, entry in tolerances.iter_ledger_entries(raw_ledger):
        if name.startswith("tests."):
            short = name.removeprefix("tests.")
            (written,) = [entry[k] for k in ("rtol", "atol", "value") if k in entry]
            assert ledger.test_tolerance(short) == written, name
            assert ledger_tolerance(short) == written, name
            n += 1
    assert n > 0 and any("atol" in e for name, e in tolerances.iter_ledger_entries(raw_ledger)
                         if name.startswith("tests."))


def _write(tmp_path, body):
    path = tmp_path / "tolerances.toml"
    path.write_text("[classes]\nexact = 0.0\nnumpy = 1e-6\ntensorflow = 1e-5\n" + body)
    return path


def test_over_ceiling_entry_is_rejected(tmp_path):
    path = _write(tmp_path, "[tests.area]\nloose = { rtol = 1e-5, class = \"numpy\" }\n")
    with pytest.raises(LedgerError, match=r"tests\.area\.loose: rtol=1e-05 exceeds the ceiling 1e-06"):
        tolerances.load_ledger(path)


def test_over_ceiling_golden_rule_is_rejected(tmp_path):
    path = _write(tmp_path, "[golden]\n\"forward.*\" = { rtol = 1e-4, class = \"tensorflow\" }\n")
    with pytest.raises(LedgerError, match=r"forward\.\*.*exceeds the ceiling 1e-05"):
        tolerances.load_ledger(path)


@pytest.mark.parametrize("body, problem", [
    ("[tests.a]\nx = { rtol = 1e-7 }\n", "has no class"),
    ("[tests.a]\nx = { rtol = 1e-7, class = \"numpyy\" }\n", "unknown class"),
    ("[tests.a]\nx = { class = \"numpy\" }\n", "no rtol/atol/value"),
    ("[tests.a]\nx = { rtol = 1e-7, atol = 1e-9, class = \"numpy\" }\n", "exactly one"),
    ("[tests.a]\nx = 1e-7\n", "must be a table"),
    ("[tests.a]\nx = { rtol = -1e-7, class = \"numpy\" }\n", ">= 0"),
    ("[tests.a]\nx = { rtol = 0.0, tol = 1, class = \"exact\" }\n", "unknown fields"),
    ("[golden]\n\"*\" = { value = 1e-7, class = \"numpy\" }\n", "not value"),
    ("[golden]\n\"*\" = { rtol = 1e-7 }\n", "has no class"),
    ("[tests.a]\nx = { atol = 1e-12, class = \"exact\" }\n", "exceeds the ceiling 0"),
])
def test_invalid_entries_are_rejected(tmp_path, body, problem):
    with pytest.raises(LedgerError, match=problem):
        tolerances.load_ledger(_write(tmp_path, body))


def test_first_matching_golden_rule_wins(tmp_path):
    path = _write(tmp_path, "[golden]\n\"scan.x\" = { rtol = 0.0, class = \"exact\" }\n"
                            "\"scan.*\" = { rtol = 1e-6, class = \"numpy\" }\n"
                            "\"*\" = { rtol = 1e-5, class = \"tensorflow\" }\n")
    ledger = tolerances.load_ledger(path)
    assert ledger.rule_for("scan.x").tol_class == "exact"
    assert ledger.rule_for("scan.y").tol_class == "numpy"
    assert ledger.rule_for("forward.y").tol_class == "tensorflow"


def test_invalid_toml_is_a_ledger_error(tmp_path):
    with pytest.raises(LedgerError, match="not valid TOML"):
        tolerances.load_ledger(_write(tmp_path, "[golden\n"))
