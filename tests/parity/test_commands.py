"""`python -m parity`: every command has --help, exit codes 0/1/2, the check end to end."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from parity import faults
from parity.commands import COMMAND_REGISTRARS, build_parser, main, run_check
from parity.commands.common import GOLDEN_DIR_ENV
from parity.faults import FAULTS
from parity import jsonsafe
from tests.conftest import GOLDEN_DIR, LEDGER_PATH
from tests.parity.test_quiet import absl_lines
from tests.parity.test_records import make_record

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMMANDS = ("list", "diff-profiles", "replay", "check", "golden", "trace-diff", "inspect",
            "compare-images", "bench-report", "docs")


def _run(args, env_extra=None, timeout=600, cwd=ROOT):
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop(faults.ENV, None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    env.pop(GOLDEN_DIR_ENV, None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "parity", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_every_command_is_registered():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert tuple(sub.choices) == COMMANDS
    assert len(COMMAND_REGISTRARS) == len(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command, capsys):
    assert main([command, "--help"]) == 0
    assert "usage: python -m parity " + command in capsys.readouterr().out


def test_top_level_help_and_usage_errors(capsys):
    assert main(["--help"]) == 0
    assert main([]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["replay", "--scenario", "gs1_ideal"]) == 2      # missing --profile
    assert main(["check", "--tier", "enormous"]) == 2


def test_grouping_axis_is_documented_in_help(capsys):
    main(["replay", "--help"])
    out = capsys.readouterr().out
    assert "--grouping" in out and "labels" in out and "group" in out


def test_list_markdown_and_json(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "gs2_custom" in out and "dose" in out and "closed_form_scale" in out
    assert main(["list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sweeps"]["dose"][-1] == "gs1_ideal" and len(doc["scenarios"]) == 8


def test_diff_profiles(capsys):
    assert main(["diff-profiles"]) == 0
    out = capsys.readouterr().out
    assert "| `data_feed` | 'normalized' | 'raw' |" in out
    assert main(["diff-profiles", "--json", "--scenario", "gs2_ideal"]) == 0
    doc = json.loads(capsys.readouterr().out)
    keys = {r["key"] for r in doc["differences"]}
    assert "scale_source" in keys and "model.gridsize" not in keys


def test_unknown_names_are_input_errors(capsys):
    assert main(["diff-profiles", "legacy", "nightly"]) == 2
    assert "profile" in capsys.readouterr().err
    assert main(["replay", "--scenario", "gs9", "--profile", "current"]) == 2
    assert main(["trace-diff", "missing_a.json", "missing_b.json"]) == 2


def test_replay_writes_telemetry_and_trace_diff_compares(tmp_path, capsys):
    a, b = tmp_path / "cur.json", tmp_path / "leg.json"
    assert main(["replay", "--scenario", "gs2_ideal", "--profile", "current", "--grouping",
                 "current", "--quiet", "--out", str(a)]) == 0
    assert main(["replay", "--scenario", "gs2_ideal", "--profile", "legacy", "--grouping",
                 "current", "--quiet", "--out", str(b)]) == 0
    capsys.readouterr()
    assert main(["trace-diff", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "First divergence: stage `labels`" in out
    assert main(["trace-diff", str(a), str(a)]) == 0


def test_check_writes_report_and_step_summary(tmp_path, monkeypatch, capsys):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = tmp_path / "report"
    code = main(["check", "--scenario", "gs1_ideal", "--profile", "current", "--no-golden",
                 "--quiet", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| gs1_ideal | current | ok |" in printed
    for name in ("report.md", "report.json", "invariants.png", "scales.png",
                 "telemetry/gs1_ideal__current__tiny.json"):
        assert (out / name).is_file(), name
    doc = json.loads((out / "report.json").read_text())
    assert doc["ok"] is True and doc["replays"][0]["checks"]
    assert "| gs1_ideal | current | ok |" in summary.read_text()


def test_check_missing_golden_fails(tmp_path, capsys):
    empty = tmp_path / "nogoldens"
    empty.mkdir()
    shutil.copy(LEDGER_PATH, empty / LEDGER_PATH.name)  # a ledger, but no golden files
    code = main(["check", "--scenario", "gs1_ideal", "--profile", "current", "--quiet",
                 "--golden-dir", str(empty), "--out", str(tmp_path / "r")])
    assert code == 1
    assert "golden missing" in capsys.readouterr().out


def test_a_golden_dir_without_ledger_is_an_input_error(tmp_path, capsys):
    code = main(["check", "--scenario", "gs1_ideal", "--profile", "current", "--quiet",
                 "--golden-dir", str(tmp_path), "--out", str(tmp_path / "r")])
    assert code == 2
    assert "--golden-dir" in capsys.readouterr().err


def test_golden_dir_is_found_upward_or_named(tmp_path, monkeypatch, capsys):
    """From a folder with no golden/ above it the command exits 2 naming --golden-dir; the
    variable PARITY_GOLDEN_DIR and --golden-dir both point it at the checkout's goldens."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(GOLDEN_DIR_ENV, raising=False)
    args = ["check", "--scenario", "gs1_ideal", "--profile", "current", "--quiet",
            "--out", str(tmp_path / "r")]
    assert main(args) == 2
    assert "--golden-dir" in capsys.readouterr().err
    assert main([*args, "--golden-dir", str(GOLDEN_DIR)]) == 0
    monkeypatch.setenv(GOLDEN_DIR_ENV, str(GOLDEN_DIR))
    assert main(args) == 0
    nested = tmp_path / "checkout" / "a" / "b"
    nested.mkdir(parents=True)
    shutil.copytree(GOLDEN_DIR, tmp_path / "checkout" / "golden")
    monkeypatch.delenv(GOLDEN_DIR_ENV)
    monkeypatch.chdir(nested)
    assert main(args) == 0


@pytest.mark.parametrize("fault", ["stale_key", "small_canvas"])
def test_check_fails_under_a_fault(fault, tmp_path):
    """Every fault's stage is pinned in test_invariants; here the check's verdict and report."""
    code, results, _, _ = run_check(golden_dir=GOLDEN_DIR, scenarios=["gs2_ideal"],
                                    profiles=["current"], out_dir=tmp_path, use_golden=False,
                                    progress=False, faults=(fault,))
    assert code == 1
    assert results[0].failed and FAULTS[fault][0] in results[0].first_problem()


def test_check_exits_1_with_a_fault_in_a_subprocess(tmp_path):
    proc = _run(["check", "--scenario", "gs2_ideal", "--profile", "current", "--quiet",
                 "--out", str(tmp_path)],
                env_extra={faults.ENV: "scale_on_normalized"})
    assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
    assert "FAIL" in proc.stdout and "scale" in proc.stdout


@pytest.mark.slow
def test_check_passes_end_to_end_on_the_clean_tree(tmp_path):
    """The README's main job: every scenario x profile, invariants and goldens."""
    proc = _run(["check", "--quiet", "--out", str(tmp_path)])
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "**16/16 replays ok**" in proc.stdout
    assert (tmp_path / "report.md").is_file()
    # quiet by default: no TensorFlow C++ log line (CUDA probing, tf.data) on a CPU-only machine;
    # --quiet: no progress line either, so nothing at all
    assert absl_lines(proc.stderr) == [] and proc.stderr == "", proc.stderr


# --------------------------------------------------------------------------- golden


def _golden_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "parity", "golden", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_golden_cli_update_show_diff_exit_codes(tmp_path):
    rec_path = jsonsafe.write_json(tmp_path / "rec.json", make_record())
    gdir = tmp_path / "golden"
    gdir.mkdir()
    shutil.copy(LEDGER_PATH, gdir / LEDGER_PATH.name)
    diff_missing = _golden_cli("diff", rec_path, "--dir", gdir)
    assert diff_missing.returncode == 1 and "missing" in diff_missing.stdout
    up = _golden_cli("update", rec_path, "--dir", gdir)
    assert up.returncode == 0, up.stderr
    assert "gs1_ideal__current__tiny.json | new" in up.stdout
    show = _golden_cli("show", "gs1_ideal__current__tiny", "--dir", gdir)
    assert show.returncode == 0 and "`scale.g` | 0.2631" in show.stdout and "git_commit" in show.stdout
    assert _golden_cli("diff", rec_path, "--dir", gdir).returncode == 0
    jsonsafe.write_json(rec_path, make_record(**{"scale.g": 0.3}))
    changed = _golden_cli("diff", rec_path, "--dir", gdir)
    assert changed.returncode == 1 and "scale.g" in changed.stdout
    (gdir / "gs1_ideal__current__tiny.json").write_text("{oops")
    corrupt = _golden_cli("diff", rec_path, "--dir", gdir)
    assert corrupt.returncode == 2 and "gs1_ideal__current__tiny.json" in corrupt.stderr


def _golden_dir_with_ledger(tmp_path):
    gdir = tmp_path / "golden"
    gdir.mkdir()
    shutil.copy(LEDGER_PATH, gdir / LEDGER_PATH.name)
    return gdir


def test_golden_update_dry_run_review_table_and_summary(tmp_path, capsys):
    rec_path = jsonsafe.write_json(tmp_path / "rec.json", make_record())
    gdir = _golden_dir_with_ledger(tmp_path)
    assert main(["golden", "update", str(rec_path), "--golden-dir", str(gdir), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "| gs1_ideal__current__tiny.json | new (dry run) |" in out and not list(gdir.glob("*.json"))
    assert main(["golden", "update", str(rec_path), "--golden-dir", str(gdir)]) == 0
    golden_file = gdir / "gs1_ideal__current__tiny.json"
    before = golden_file.read_text()
    jsonsafe.write_json(rec_path, make_record(**{"scale.s": 520.0}))
    capsys.readouterr()
    assert main(["golden", "update", str(rec_path), "--golden-dir", str(gdir), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert golden_file.read_text() == before
    assert out[-1].startswith("1 beyond, 0 added, 0 removed; 16 within, max rel 0; 1 of 1 golden files "
                              "would be written")
    assert main(["golden", "update", str(rec_path), "--golden-dir", str(gdir)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("1 of 1 golden files written")
    assert '"scale.s": 520.0' in golden_file.read_text()


def test_golden_diff_names_the_file_and_the_regeneration_command(tmp_path, capsys):
    rec_path = jsonsafe.write_json(tmp_path / "rec.json", make_record())
    gdir = _golden_dir_with_ledger(tmp_path)
    cmd = (f"python -m parity golden update --scenario gs1_ideal --profile current "
           f"--golden-dir {gdir}")
    assert main(["golden", "diff", str(rec_path), "--golden-dir", str(gdir)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL {gdir / 'gs1_ideal__current__tiny.json'}: missing golden" in out and cmd in out
    main(["golden", "update", str(rec_path), "--golden-dir", str(gdir)])
    jsonsafe.write_json(rec_path, make_record(**{"scale.g": 0.3}))
    capsys.readouterr()
    assert main(["golden", "diff", str(rec_path), "--golden-dir", str(gdir)]) == 1
    out = capsys.readouterr().out
    assert "gs1_ideal__current__tiny.json: 1 value(s) outside tolerance" in out and f"`{cmd}`" in out
    (gdir / "gs1_ideal__current__tiny.json").write_text("{oops")
    assert main(["golden", "diff", str(rec_path), "--golden-dir", str(gdir)]) == 2
    err = capsys.readouterr().err
    assert "gs1_ideal__current__tiny.json: corrupt" in err and cmd in err


def test_golden_prune_lists_then_removes_only_orphans(tmp_path, capsys, monkeypatch):
    gdir = _golden_dir_with_ledger(tmp_path)
    keep = jsonsafe.write_json(gdir / "gs1_ideal__current__tiny.json", {"any": 1})
    keep_reduced = jsonsafe.write_json(gdir / "gs2_custom__legacy__reduced.json", {"any": 1})
    orphan = jsonsafe.write_json(gdir / "gs3_retired__current__tiny.json", {"any": 1})
    other = jsonsafe.write_json(gdir / "notes.json", {"any": 1})
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    for flags in (["--dry-run"], []):
        assert main(["golden", "prune", "--golden-dir", str(gdir), *flags]) == 1
        out = capsys.readouterr().out
        assert f"- {orphan}" in out and "nothing removed" in out and orphan.exists()
    assert main(["golden", "prune", "--golden-dir", str(gdir), "--dry-run", "--yes"]) == 2
    capsys.readouterr()
    assert main(["golden", "prune", "--golden-dir", str(gdir), "--yes"]) == 0
    assert "removed 1 file(s)" in capsys.readouterr().out
    assert not orphan.exists() and keep.exists() and keep_reduced.exists() and other.exists()
    assert main(["golden", "prune", "--golden-dir", str(gdir)]) == 0
    assert "no orphan goldens" in capsys.readouterr().out


def test_check_fails_on_an_orphan_golden_naming_it(tmp_path, capsys):
    gdir = tmp_path / "golden"
    shutil.copytree(GOLDEN_DIR, gdir)
    orphan = gdir / "gs3_retired__current__tiny.json"
    shutil.copy(gdir / "gs1_ideal__current__tiny.json", orphan)
    out = tmp_path / "r"
    code = main(["check", "--scenario", "gs1_ideal", "--profile", "current", "--quiet",
                 "--golden-dir", str(gdir), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 1
    assert "| gs1_ideal | current | ok |" in printed and "| gs3_retired | current | FAIL |" in printed
    assert (f"- orphan golden {orphan}: no scenario x profile x tier of the registry writes it; "
            f"remove it with `python -m parity golden prune --golden-dir {gdir} --yes`") in printed
    doc = json.loads((out / "report.json").read_text())
    assert doc["ok"] is False and doc["meta"]["orphan_goldens"] == [str(orphan)]
    assert str(orphan) in (out / "report.md").read_text()
    assert main(["check", "--scenario", "gs1_ideal", "--profile", "current", "--quiet", "--no-golden",
                 "--golden-dir", str(gdir), "--out", str(out)]) == 0


def test_check_golden_failure_names_file_and_command(tmp_path, capsys):
    gdir = tmp_path / "golden"
    shutil.copytree(GOLDEN_DIR, gdir)
    path = gdir / "gs1_ideal__current__tiny.json"
    doc = jsonsafe.read_json(path)
    doc["values"]["scale.s"] *= 2
    jsonsafe.write_json(path, doc)
    code = main(["check", "--scenario", "gs1_ideal", "--profile", "current", "--quiet",
                 "--golden-dir", str(gdir), "--out", str(tmp_path / "r")])
    printed = capsys.readouterr().out
    assert code == 1
    assert (f"- {path}: scale.s outside tolerance; regenerate on purpose: `python -m parity golden "
            f"update --scenario gs1_ideal --profile current --golden-dir {gdir}`") in printed
    replay = json.loads((tmp_path / "r" / "report.json").read_text())["replays"][0]
    assert replay["golden"] == "changed" and str(path) in replay["golden_detail"][0]



def test_check_reports_progress_as_plain_lines_when_stderr_is_not_a_terminal(tmp_path):
    """A CI log (stderr a pipe) gets one line per finished replay (`--quiet`: none, asserted
    by test_check_passes_end_to_end_on_the_clean_tree)."""
    proc = _run(["check", "--scenario", "gs1_ideal", "--profile", "current", "--no-golden",
                 "--out", str(tmp_path)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and re.fullmatch(r"\[1/1\] gs1_ideal/current: ok \(\d+\.\d s\)",
                                            lines[0]), proc.stderr
