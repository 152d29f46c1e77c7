"""The tables of checks and bounds in README.md and docs/design.md are generated from the check
registry and the tolerance ledger (parity.doc_tables, `python -m parity docs`): the committed
files equal what the generator writes, and a drift of either side is caught."""
import copy
import pathlib
import shutil
import tomllib

import pytest

from parity.commands import main
from parity.doc_tables import (DOC_FILES, TABLES, begin_marker, bounds_read, end_marker, fill,
                               marked_tables, render_all, render_table, stale_files)
from parity.golden import golden_files, load_golden
from parity.tolerances import parse_ledger
from tests.conftest import GOLDEN_DIR, LEDGER_PATH

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def raw_ledger():
    with open(LEDGER_PATH, "rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def goldens():
    return [load_golden(p) for p in golden_files(GOLDEN_DIR)]


@pytest.fixture(scope="module")
def tables(raw_ledger, goldens):
    return render_all(parse_ledger(raw_ledger), goldens)


def test_committed_docs_equal_the_generated_tables(tables):
    assert stale_files(ROOT, tables) == [], "run `python -m parity docs` and commit the result"
    # every table is marked somewhere, and the README carries the trained tier's
    marked = [name for rel in DOC_FILES for name in marked_tables((ROOT / rel).read_text())]
    assert set(marked) == set(TABLES)
    assert "trained-checks" in marked_tables((ROOT / "README.md").read_text())


def test_a_changed_ledger_bound_makes_the_docs_stale(raw_ledger, goldens, tables):
    # the drift the README once had: the ledger's legacy_ratio moves, the README does not
    raw = copy.deepcopy(raw_ledger)
    raw["tests"]["parity"]["invariants"]["legacy_ratio"]["rtol"] = 0.06
    moved = render_all(parse_ledger(raw), goldens)
    assert "`legacy_ratio` rtol 0.06 (trained)" in moved["trained-checks"]
    assert "`legacy_ratio` rtol 0.05 (trained)" in tables["trained-checks"]
    assert ROOT / "README.md" in stale_files(ROOT, moved)


def test_a_hand_edited_row_is_stale(tables, tmp_path):
    for rel in DOC_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    readme = tmp_path / "README.md"
    text = readme.read_text()
    edited = text.replace("`loss_excess_ratio` rtol 0.25", "`loss_excess_ratio` rtol 0.5")
    assert edited != text
    readme.write_text(edited)
    assert stale_files(tmp_path, tables) == [readme]


def test_bounds_are_measured_from_what_each_check_reads(raw_ledger, goldens):
    read = bounds_read(goldens, parse_ledger(raw_ledger))
    # read in the decorated functions (trained), through a helper (oracle) and by pairs
    assert read["learns_structure"] == ["learns_structure_rmse_factor", "learns_structure_r_margin"]
    assert read["engine_agrees"] == ["engine_agrees_one_minus_r", "engine_agrees_error_factor",
                                     "engine_agrees_units"]
    assert read["legacy_ratio"] == ["legacy_ratio"]
    assert read["finiteness"] == [] and read["legacy_dict_path"] == []
    # on no record, a check reads nothing: the row says so rather than guessing
    assert bounds_read([], parse_ledger(raw_ledger))["learns_structure"] == []
    assert "| `learns_structure` | evaluate | trained |" in render_table(
        "trained-checks", parse_ledger(raw_ledger), [])


def test_fill_replaces_only_between_markers_and_names_an_unknown_table():
    text = (f"intro\n{begin_marker('trained-checks')}\nold\n{end_marker('trained-checks')}\n"
            "outro\n")
    assert fill(text, {"trained-checks": "new\n"}) == (
        f"intro\n{begin_marker('trained-checks')}\nnew\n{end_marker('trained-checks')}\noutro\n")
    with pytest.raises(KeyError, match="nonesuch"):
        fill(f"{begin_marker('nonesuch')}\n{end_marker('nonesuch')}", {"trained-checks": ""})


def test_docs_command_check_exit_codes(tmp_path):
    assert main(["docs", "--check"]) == 0
    shutil.copytree(GOLDEN_DIR, tmp_path / "golden")
    for rel in DOC_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    design = tmp_path / "docs" / "design.md"
    design.write_text(design.read_text().replace("`counts` rtol 1e-05", "`counts` rtol 1e-03"))
    assert main(["docs", "--check", "--golden-dir", str(tmp_path / "golden")]) == 1
    assert main(["docs", "--golden-dir", str(tmp_path / "golden")]) == 0
    assert main(["docs", "--check", "--golden-dir", str(tmp_path / "golden")]) == 0
    assert design.read_text() == (ROOT / "docs" / "design.md").read_text()
