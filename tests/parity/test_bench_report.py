"""`parity.bench_report`: row schema, pairing of speedup rows, Markdown table, CLI exit codes."""
from __future__ import annotations

import json

import pytest

from parity import bench_report as br
from parity.commands import main
from parity.commands.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE


def _bench(name, median, **info):
    """A pytest-benchmark JSON entry with the fields bench-report reads."""
    base = {"kind": "reducer", "case": name, "impl": "ours", "device": "CPU: test",
            "dtype": "float32", "shape": [4, 64, 64, 4], "threads": {"cpu_count": 2},
            "versions": {"numpy": "2"}, "rows": []}
    base.update(info)
    return {"name": name, "fullname": f"tests/bench/x.py::{name}", "group": None,
            "stats": {"median": median, "min": median, "max": median, "rounds": 3},
            "extra_info": base}


def _file(tmp_path, benchmarks, name="bench.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"machine_info": {"cpu": {"brand_raw": "Test CPU"}},
                                "commit_info": {"id": "0123456789abcdef", "dirty": False},
                                "datetime": "2026-01-01T00:00:00", "benchmarks": benchmarks}))
    return path


def _sample(tmp_path):
    time_goal = br.goal("<=", 1.3, text="≤ 1.3")
    ours = _bench("energy 1GiB", 0.2, rows=[
        br.make_row("energy 1GiB: time", unit="s", ours=0.2, roofline=0.1, reference="np.sum",
                    goal=time_goal),
        br.make_row("energy 1GiB: peak extra memory", unit="MiB", ours=3.0,
                    goal=br.goal("<=", 64, on="ours", text="≤ 64 MiB")),
    ])
    naive = _bench("energy 1GiB", 4.0, impl="naive", reference_name="naive f64",
                   speedup_goal=br.goal("<=", 0.1, text="≤ 0.1"),
                   rows=[br.make_row("naive 1GiB: time", unit="s", ours=4.0, roofline=0.1)])
    model = _bench("model", 1.0, kind="model", rows=[
        br.make_row("model: GFLOP/s", unit="GFLOP/s", ours=30.0, roofline=60.0,
                    goal=br.goal(">=", 0.4))])
    return _file(tmp_path, [model, naive, ours])


def test_make_row_ratio_and_goals(tol):
    row = br.make_row("m", unit="s", ours=0.26, roofline=0.2, goal=br.goal("<=", 1.3))
    assert row["ratio"] == pytest.approx(1.3, rel=tol("arithmetic.float64")) and row["met"] is True
    assert br.make_row("m", unit="s", ours=0.3, roofline=0.2, goal=br.goal("<=", 1.3))["met"] is False
    mem = br.make_row("m", unit="MiB", ours=65.0, goal=br.goal("<=", 64, on="ours"))
    assert mem["ratio"] is None and mem["met"] is False
    missing = br.make_row("m", unit="s", ours=None, roofline=0.2, goal=br.goal("<=", 1.3))
    assert missing["ratio"] is None and missing["met"] is None
    assert br.make_row("m", unit="s", ours=1.0, roofline=0.0)["ratio"] is None


@pytest.mark.parametrize("bad", [dict(op="<", value=1), dict(op="<=", value=float("nan")),
                                 dict(op="<=", value=1, on="roofline")])
def test_goal_rejects_malformed(bad):
    with pytest.raises(br.BenchReportError):
        br.goal(**bad)


def test_check_extra_info_names_the_problem():
    with pytest.raises(br.BenchReportError, match="missing keys"):
        br.check_extra_info({"rows": []})
    info = _bench("x", 1.0)["extra_info"]
    info["rows"] = [{"metric": "m"}]
    with pytest.raises(br.BenchReportError, match=r"rows\[0\]"):
        br.check_extra_info(info)
    info = _bench("x", 1.0)["extra_info"]
    info["value"] = float("nan")
    with pytest.raises(br.BenchReportError, match="JSON-safe"):
        br.check_extra_info(info)


def test_collect_rows_pairs_speedup_after_ours(tmp_path, tol):
    rows = br.collect_rows(br.load_benchmarks(_sample(tmp_path)))
    metrics = [r["metric"] for r in rows]
    assert metrics == ["model: GFLOP/s", "naive 1GiB: time", "energy 1GiB: time",
                       "energy 1GiB: peak extra memory", "energy 1GiB: time vs naive"]
    speed = rows[-1]
    assert speed["ours"] == 0.2 and speed["roofline"] == 4.0
    assert speed["ratio"] == pytest.approx(0.05, rel=tol("arithmetic.float64")) and speed["met"] is True
    assert [r["met"] for r in rows[:4]] == [True, None, False, True]


def test_speedup_row_without_ours_comes_last(tmp_path):
    naive = _bench("lonely", 4.0, impl="naive", speedup_goal=br.goal("<=", 0.1))
    rows = br.collect_rows(br.load_benchmarks(_file(tmp_path, [naive])))
    assert len(rows) == 1 and rows[0]["ours"] is None and rows[0]["met"] is None
    assert "no 'ours' benchmark" in rows[0]["reference"]


def test_markdown_table(tmp_path):
    text = br.render_markdown(br.load_benchmarks(_sample(tmp_path)))
    assert "| metric | ours | roofline | ratio | goal | met? |" in text
    assert "| energy 1GiB: time | 200 ms | 100 ms (np.sum) | 2 | ≤ 1.3 | **NO** |" in text
    assert "| model: GFLOP/s | 30 GFLOP/s | 60 GFLOP/s | 0.5 | ratio >= 0.4 | yes |" in text
    assert "- CPU: Test CPU" in text and "- commit: 0123456789ab" in text
    assert "Goals met: 3, missed: 1" in text


def _run(argv):
    """`python -m parity bench-report ARGV` through the command layer; its exit code."""
    return main(["bench-report", *argv])


def test_cli_exit_codes(tmp_path, capsys):
    path = _sample(tmp_path)
    assert _run([str(path)]) == EXIT_OK
    assert "| energy 1GiB: time vs naive |" in capsys.readouterr().out
    assert _run([str(path), "--strict"]) == EXIT_FAIL
    capsys.readouterr()
    assert _run([str(path), "--json"]) == EXIT_OK
    assert len(json.loads(capsys.readouterr().out)["rows"]) == 5
    good = _file(tmp_path, [_bench("ok", 1.0, rows=[br.make_row("t", unit="s", ours=1, roofline=1,
                                                                goal=br.goal("<=", 1.3))])], "ok.json")
    assert _run([str(good), "--strict"]) == EXIT_OK


@pytest.mark.parametrize("content, match", [(None, "cannot read"), ("{not json", "not JSON"),
                                            ('{"x": 1}', "no 'benchmarks'"),
                                            ('{"benchmarks": [{"name": "b"}]}', "stats.median")])
def test_cli_bad_input_exits_2(tmp_path, capsys, content, match):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    assert _run([str(path)]) == EXIT_USAGE
    assert match in capsys.readouterr().err


# ----------------------------------------------------------------------------- two runs
def _two_runs(tmp_path, *, new_time_ratio=2.4, new_gflops_ratio=0.8):
    """BASE and NEW: one time row regressed (2.0 -> 2.4, +20%), one GFLOP/s row improved
    (0.5 -> 0.8), a MiB row without ratio, one metric only in BASE, one only in NEW. Absolute
    numbers differ wildly (another machine); only the ratios are compared."""
    def run(name, scale, time_ratio, gflops_ratio, extra_metric):
        rows = [br.make_row("energy: time", unit="s", ours=time_ratio * 0.1 * scale, roofline=0.1 * scale,
                            goal=br.goal("<=", 3.0)),
                br.make_row("energy: peak extra memory", unit="MiB", ours=3.0),
                br.make_row("model: GFLOP/s", unit="GFLOP/s", ours=gflops_ratio * 60 / scale,
                            roofline=60 / scale),
                br.make_row(extra_metric, unit="s", ours=1.0 * scale, roofline=1.0 * scale)]
        return _file(tmp_path, [_bench("energy", 0.2, rows=rows)], name)
    base = run("base.json", 1.0, 2.0, 0.5, "old: time")
    new = run("new.json", 7.0, new_time_ratio, new_gflops_ratio, "fresh: time")
    return base, new


def test_compare_runs_directions_and_verdicts(tmp_path, tol):
    base, new = _two_runs(tmp_path)
    got = br.compare_runs(br.collect_rows(br.load_benchmarks(base)), br.collect_rows(br.load_benchmarks(new)))
    by = {c["metric"]: c for c in got}
    assert got[0]["metric"] == "energy: time"  # regressions first
    assert by["energy: time"]["verdict"] == "regressed" and by["energy: time"]["worse"] == pytest.approx(
        0.2, rel=tol("arithmetic.float64"))
    assert by["model: GFLOP/s"]["verdict"] == "improved" and by["model: GFLOP/s"]["better"] == "higher"
    assert by["model: GFLOP/s"]["worse"] == pytest.approx(-0.6, rel=tol("arithmetic.float64"))
    assert by["energy: peak extra memory"]["verdict"] == "no ratio"
    assert by["fresh: time"]["verdict"] == "new" and by["old: time"]["verdict"] == "removed"
    assert got[-1]["metric"] == "old: time"


@pytest.mark.parametrize("unit, base, new, verdict", [
    ("s", 1.0, 1.14, "same"), ("s", 1.0, 1.16, "regressed"), ("s", 1.0, 0.8, "improved"),
    ("MiB", 1.0, 1.2, "regressed"), ("GFLOP/s", 1.0, 0.86, "same"), ("GFLOP/s", 1.0, 0.84, "regressed"),
    ("GFLOP/s", 1.0, 1.3, "improved")])
def test_threshold_and_direction_per_unit(unit, base, new, verdict):
    rows = [br.make_row("m", unit=unit, ours=base, roofline=1.0)], [br.make_row("m", unit=unit, ours=new, roofline=1.0)]
    assert br.compare_runs(*rows, threshold=0.15)[0]["verdict"] == verdict
    assert br.compare_runs(*rows, threshold=1.0)[0]["verdict"] == "same"


def test_cli_two_runs_gate_on_ratio_regression(tmp_path, capsys):
    base, new = _two_runs(tmp_path)
    assert _run([str(base), str(new)]) == EXIT_FAIL
    out = capsys.readouterr().out
    assert "| metric | better | base ratio | new ratio | change | verdict |" in out
    lines = out.splitlines()
    first = lines.index("|---|---|---|---|---|---|") + 1
    assert lines[first] == "| energy: time | lower | 2 | 2.4 | +20.0% | **REGRESSED** |"
    assert "| model: GFLOP/s | higher | 0.5 | 0.8 | +60.0% | improved |" in out
    assert "| fresh: time | lower | — | 1 | — | new |" in out and "| old: time | lower | 1 | — | — | removed |" in out
    assert lines[-1] == ("1 regressed, 1 improved, 0 same (within 15%), 1 new, 1 removed, "
                         "1 without ratio.")
    assert _run([str(base), str(new), "--threshold", "0.25"]) == EXIT_OK
    capsys.readouterr()
    assert _run([str(base), str(new), "--threshold", "0.25", "--json"]) == EXIT_OK
    doc = json.loads(capsys.readouterr().out)
    assert doc["threshold"] == 0.25 and {c["verdict"] for c in doc["comparisons"]} == \
        {"same", "improved", "new", "removed", "no ratio"}
    ok_base, ok_new = _two_runs(tmp_path, new_time_ratio=2.1)
    assert _run([str(ok_base), str(ok_new)]) == EXIT_OK


def test_cli_two_runs_strict_and_bad_threshold(tmp_path, capsys):
    base, new = _two_runs(tmp_path, new_time_ratio=3.3)  # regressed, and misses the <= 3 goal
    assert _run([str(base), str(new), "--threshold", "1", "--strict"]) == EXIT_FAIL
    assert _run([str(base), str(new), "--threshold", "1"]) == EXIT_OK
    for bad in ("-0.1", "nan", "fifteen"):
        assert _run([str(base), str(new), "--threshold", bad]) == EXIT_USAGE
    assert "--threshold" in capsys.readouterr().err
    assert _run([str(base), str(tmp_path / "missing.json")]) == EXIT_USAGE
