"""The mutation table (tests/mutations/mutations.toml) and its runner (scripts/mutations.py).

Fast: the table is valid against the tree (each `old` string occurs exactly once), holds at
least 20 realistic bugs across every stage of the pipeline, and a no-op control. Slow: the
runner on a small subset (two bugs and the no-op) in temporary copies of the tree, with the
check restricted to one replay: the bugs are caught at their stage, the no-op is not.
"""
from __future__ import annotations

import importlib.util
import pathlib
import shutil
import subprocess
import sys

import pytest

from parity.records import STAGES

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "mutations.py"


@pytest.fixture(scope="module")
def mutations():
    spec = importlib.util.spec_from_file_location("mutations_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_table_is_valid_and_covers_every_stage(mutations):
    table = mutations.load_table(mutations.TABLE, root=ROOT)
    real = [m for m in table if not m.get("noop")]
    assert len(real) >= 20
    assert {m["stage"] for m in real} >= set(STAGES)
    assert [m["id"] for m in table if m.get("noop")], "needs a no-op control"


def test_trained_table_is_valid_and_targets_the_trained_stages(mutations):
    table = mutations.load_table(mutations.TABLE.with_name("trained_mutations.toml"), root=ROOT)
    real = [m for m in table if not m.get("noop")]
    assert len(real) >= 3 and {m["stage"] for m in real} <= {"train", "evaluate"}
    assert [m["id"] for m in table if m.get("noop")], "needs a no-op control"


def test_table_errors_name_the_mutation(mutations, tmp_path):
    (tmp_path / "f.py").write_text("x = 1\nx = 1\n")
    bad = tmp_path / "t.toml"
    bad.write_text('[[mutation]]\nid = "twice"\nstage = "scale"\nfile = "f.py"\n'
                   'old = "x = 1"\nnew = "x = 2"\nwhat = "ambiguous"\n')
    with pytest.raises(mutations.TableError, match="twice.*occurs 2 times"):
        mutations.load_table(bad, root=tmp_path)


def test_first_failing_stage_reads_checks_goldens_and_errors(mutations):
    report = {"replays": [
        {"checks": [{"verdict": "fail", "stage": "forward"}], "golden": "ok"},
        {"checks": [], "golden": "changed",
         "golden_detail": ["golden/x.json: labels.k outside tolerance", "run ...",
                           "labels.k: golden 1 vs now 2"]},
        {"checks": [], "golden": "ok", "error": "stage train: ValueError: boom"}]}
    assert mutations.first_failing_stage(report) == "labels"
    assert mutations.first_failing_stage({"replays": [report["replays"][2]]}) == "train"
    assert mutations.first_failing_stage({"replays": []}) is None


@pytest.mark.slow
def test_runner_catches_two_bugs_and_not_the_noop(mutations, tmp_path):
    if shutil.which("git") is None or subprocess.run(
            ["git", "rev-parse", "--git-dir"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("the mutation runner copies a git checkout; this is not one")
    base = tmp_path / "base"
    mutations.make_base(base, "worktree")
    table = {m["id"]: m for m in mutations.load_table(mutations.TABLE, root=base)}
    args = ["--scenario", "gs2_ideal", "--profile", "current"]
    results = {i: mutations.run_mutation(table[i], base, check_args=args, with_tests=False,
                                         timeout=600)
               for i in ("noop_comment", "phase_without_pi", "extraction_sign")}
    noop = results["noop_comment"]
    assert not noop["caught_by_check"], noop["check"]
    for i in ("phase_without_pi", "extraction_sign"):
        assert results[i]["caught_by_check"] and results[i]["check"]["stage"] == "forward", results[i]
    assert (ROOT / table["phase_without_pi"]["file"]).read_text().count(
        table["phase_without_pi"]["old"]) == 1        # the working tree is untouched
