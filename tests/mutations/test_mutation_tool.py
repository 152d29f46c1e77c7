"""scripts/mutation_tool.py (cosmic-ray over the product modules): its configuration, the
seeded selection, the equivalent-mutant filter, the verdicts of the per-mutant gate and the
score table. Needs neither cosmic-ray nor TensorFlow: the gate runs on tiny trees made here."""
from __future__ import annotations

import json
import pathlib
import re
import textwrap

import pytest

from tests.conftest import script_module

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tool():
    with script_module("scripts/mutation_tool.py", "mutation_tool_script") as module:
        yield module


def _imports(test_file: pathlib.Path, unit: str) -> bool:
    name = unit.removeprefix("ptycho/").removesuffix(".py")
    text = test_file.read_text()
    return bool(re.search(rf"ptycho\.{name}\b|from ptycho import[^\n]*\b{name}\b", text))


def test_config_maps_every_unit_to_existing_tests_that_import_it(tool):
    cfg = tool.load_config()
    units = cfg["cosmic-ray"]["module-path"]
    assert {"ptycho/physics.py", "ptycho/simulate.py", "ptycho/grouping.py",
            "ptycho/scaling.py", "ptycho/container.py", "ptycho/stitching.py",
            "ptycho/evaluation", "ptycho/losses.py", "ptycho/train.py",
            "ptycho/inference.py"} <= set(units)
    via = cfg["mutation"].get("via", {})
    for unit in units:
        assert (ROOT / unit).exists(), unit
        tests = cfg["mutation"]["tests"][unit]
        reached = via.get(unit, unit)     # the module the tests import
        if reached != unit:
            name = pathlib.Path(unit).stem
            assert re.search(rf"from \.{name} import|from \. import[^\n]*\b{name}\b",
                             (ROOT / reached).read_text()), f"{reached} does not import {unit}"
        stem = pathlib.Path(reached).stem
        own = (f"tests/ptycho/{stem}" if (ROOT / reached).is_dir()
               else f"tests/ptycho/test_{stem}.py")
        assert own in tests, f"{unit}: its own tests are not mapped"
        for t in tests:
            assert (ROOT / t).exists(), t
            files = sorted((ROOT / t).glob("test_*.py")) if (ROOT / t).is_dir() else [ROOT / t]
            assert files and all(_imports(f, reached) for f in files), \
                f"{t} does not import {reached}"
    # the modules split out of scaling.py (on main after the first measured run) stay units
    for name in ("scaling", "energy", "chunked"):
        assert f"ptycho/{name}.py" in units, name
    for pattern in cfg["cosmic-ray"]["excluded-modules"]:
        assert list(ROOT.glob(pattern)), f"excluded-modules {pattern} matches nothing"
    assert cfg["mutation"]["check_args"], "the check step names its scenarios"


def test_a_package_unit_scores_its_files_together(tool):
    units = ["ptycho/physics.py", "ptycho/evaluation"]
    assert tool.unit_of("ptycho/evaluation/frc.py", units) == "ptycho/evaluation"
    assert tool.unit_of("ptycho/physics.py", units) == "ptycho/physics.py"
    assert tool.import_name("ptycho/evaluation") == "ptycho.evaluation"
    assert tool.import_name("ptycho/physics.py") == "ptycho.physics"
    with pytest.raises(tool.ConfigError, match="ptycho/evaluationx.py"):
        tool.unit_of("ptycho/evaluationx.py", units)


def test_config_errors_name_the_key(tool, tmp_path):
    bad = tmp_path / "cr.toml"
    bad.write_text('[cosmic-ray]\nmodule-path = ["ptycho/losses.py"]\n'
                   'test-command = "{python} {root}/x --module {module}"\n'
                   '[mutation.tests]\n"ptycho/physics.py" = ["tests/ptycho/test_physics.py"]\n')
    with pytest.raises(tool.ConfigError, match="mutation.tests has no entry"):
        tool.load_config(bad)
    bad.write_text('[cosmic-ray]\nmodule-path = ["ptycho/losses.py"]\ntest-command = "pytest"\n')
    with pytest.raises(tool.ConfigError, match="test-command must contain"):
        tool.load_config(bad)


def test_excluded_operators_are_arithmetic_to_bitwise_only(tool):
    pats = tool.excluded_operator_patterns(tool.load_config())
    skip = lambda name: any(p.search(name) for p in pats)  # noqa: E731
    assert skip("core/ReplaceBinaryOperator_Mul_BitXor")
    assert skip("core/ReplaceBinaryOperator_Add_LShift")
    assert not skip("core/ReplaceBinaryOperator_Mul_Div")
    assert not skip("core/ReplaceBinaryOperator_BitOr_BitAnd")   # masks keep theirs
    assert not skip("core/NumberReplacer")


def test_annotation_mutants_are_found_and_code_is_not(tool):
    src = textwrap.dedent("""\
        from __future__ import annotations
        def f(a: int | None, b=1) -> float | None:
            c: list[int] | None = None
            return a | b
        """)
    spans = tool.annotation_spans(src)
    line2 = src.splitlines()[1]
    assert tool.in_spans((2, line2.index("|")), spans)                 # a: int | None
    assert tool.in_spans((2, line2.rindex("|")), spans)                # -> float | None
    assert tool.in_spans((3, src.splitlines()[2].index("|")), spans)   # c: list[int] | None
    assert not tool.in_spans((4, src.splitlines()[3].index("|")), spans)   # a | b (code)
    assert not tool.in_spans((2, line2.index("1")), spans)             # a default value


def test_keyword_only_markers_are_found_and_products_are_not(tool):
    src = textwrap.dedent("""\
        def f(a, b=2 * 3, *, c=4 * 5, d):
            return a * b
        def g(*, e):
            return lambda x, *, y=1: x * y
        def h(a, *rest, k):
            return a * k
        """)
    spans = tool.signature_marker_spans(src)
    lines = src.splitlines()
    star = lambda row, nth: [i for i, ch in enumerate(lines[row - 1]) if ch == "*"][nth]  # noqa: E731
    assert tool.in_spans((1, star(1, 1)), spans)          # f(a, b=..., *, ...)
    assert not tool.in_spans((1, star(1, 0)), spans)      # 2 * 3 (a default before it)
    assert not tool.in_spans((1, star(1, 2)), spans)      # 4 * 5 (a default after it)
    assert not tool.in_spans((2, star(2, 0)), spans)      # a * b (code)
    assert tool.in_spans((3, star(3, 0)), spans)          # g(*, e)
    assert tool.in_spans((4, star(4, 0)), spans)          # lambda x, *, y
    assert not tool.in_spans((4, star(4, 1)), spans)      # x * y
    assert not tool.in_spans((5, star(5, 0)), spans)      # *rest is not a marker
    assert not tool.in_spans((6, star(6, 0)), spans)


def _cands(n=40):
    return [{"key": f"ptycho/{'ab'[i % 2]}.py:op:{i}", "module": f"ptycho/{'ab'[i % 2]}.py"}
            for i in range(n)]


def test_selection_is_seeded_stratified_and_interleaved(tool):
    c = _cands()
    one = [x["key"] for x in tool.select(c, seed=7, per_module=5)]
    assert one == [x["key"] for x in tool.select(list(reversed(c)), seed=7, per_module=5)]
    assert one != [x["key"] for x in tool.select(c, seed=8, per_module=5)]
    assert len(one) == 10
    assert [k.split(":")[0] for k in one] == ["ptycho/a.py", "ptycho/b.py"] * 5
    with pytest.raises(ValueError):
        tool.select(c, seed=1)


def test_shards_partition_the_mutants(tool):
    c = _cands(200)
    shards = [{x["key"] for x in tool.select(c, seed=3, shard=(i, 7))} for i in range(7)]
    assert sum(len(s) for s in shards) == 200
    assert set().union(*shards) == {x["key"] for x in c}
    assert all(len(s) > 0 for s in shards)
    assert tool.parse_shard("3/7") == (3, 7)
    for bad in ("7/7", "1/0", "a/b"):
        with pytest.raises(Exception):
            tool.parse_shard(bad)


def test_outcomes_timeouts_and_crashes_are_not_kills(tool):
    res = {"verdict": "killed", "by": "tests", "detail": "t::x", "steps": {"tests": 3.0}}
    assert tool.outcome_of("normal", "noise\n" + tool.MARKER + json.dumps(res) + "\n") == res
    assert tool.outcome_of("normal", "timeout")["verdict"] == "timeout"
    assert tool.outcome_of("exception", "Traceback ...")["verdict"] == "crash"
    rows = [
        {"module": "m", "verdict": "killed", "by": "tests"},
        {"module": "m", "verdict": "killed", "by": "golden-only"},
        {"module": "m", "verdict": "survived", "by": None},
        {"module": "m", "verdict": "timeout", "by": None},
        {"module": "m", "verdict": "crash", "by": None},
        {"module": "n", "verdict": "crash", "by": None},
    ]
    table = {r["module"]: r for r in tool.score_table(rows, ["m", "n"])}
    assert table["m"]["score"] == pytest.approx(2 / 3, abs=1e-3)
    assert table["m"]["score_half"] == pytest.approx(1.5 / 3, abs=1e-3)
    assert (table["m"]["timeout"], table["m"]["crash"], table["m"]["sampled"]) == (1, 1, 5)
    assert table["n"]["score"] is None
    assert table["total"]["sampled"] == 6 and table["total"]["crash"] == 2


def test_check_kills_are_told_apart(tool):
    named = {"replays": [{"scenario": "s", "profile": "p", "golden": "changed",
                          "golden_detail": ["f", "hint", "scale.s: golden 1 vs now 2"],
                          "checks": [{"stage": "scale", "name": "s_sum", "verdict": "fail"}]}]}
    assert tool.check_kill_kind(named)[0] == "check"
    error = {"replays": [{"scenario": "s", "profile": "p", "golden": "skipped",
                          "error": "group: ValueError", "checks": []}]}
    assert tool.check_kill_kind(error)[0] == "check-error"
    golden = {"replays": [{"scenario": "s", "profile": "p", "golden": "changed",
                           "golden_detail": ["f", "hint", "scale.s: golden 1 vs now 2"],
                           "checks": [{"stage": "scale", "name": "s_sum", "verdict": "pass"}]}]}
    kind, detail = tool.check_kill_kind(golden)
    assert kind == "golden-only" and "scale.s" in detail


def _tree(tmp_path, module_src: str, test_src: str) -> pathlib.Path:
    root = tmp_path / "tree"
    (root / "ptycho").mkdir(parents=True)
    (root / "ptycho" / "__init__.py").write_text("")
    (root / "ptycho" / "tiny.py").write_text(module_src)
    (root / "tests").mkdir()
    (root / "tests" / "test_tiny.py").write_text(test_src)
    return root


def _cfg():
    return {"mutation": {"markers": "not slow", "import_timeout_s": 60,
                         "tests": {"ptycho/tiny.py": ["tests/test_tiny.py"]}}}


def test_gate_reports_an_import_failure_as_a_crash(tool, tmp_path):
    root = _tree(tmp_path, "X = 1 / 0\n", "def test_x():\n    pass\n")
    res = tool.run_gate(root, ["ptycho/tiny.py"], _cfg(), tests_timeout=60, check_timeout=60)
    assert res["verdict"] == "crash" and "ZeroDivisionError" in res["detail"]


def test_gate_reports_a_failing_test_as_a_kill_by_tests(tool, tmp_path):
    root = _tree(tmp_path, "def f():\n    return 2\n",
                 "from ptycho.tiny import f\n\ndef test_f():\n    assert f() == 3\n")
    res = tool.run_gate(root, ["ptycho/tiny.py"], _cfg(), tests_timeout=60, check_timeout=60)
    assert (res["verdict"], res["by"]) == ("killed", "tests")
    assert "test_f" in res["detail"]


def test_gate_reports_a_hanging_test_as_a_timeout(tool, tmp_path):
    root = _tree(tmp_path, "def f():\n    return 2\n",
                 "import time\n\ndef test_f():\n    time.sleep(600)\n")
    res = tool.run_gate(root, ["ptycho/tiny.py"], _cfg(), tests_timeout=6, check_timeout=60)
    assert (res["verdict"], res["detail"]) == ("timeout", "tests")
