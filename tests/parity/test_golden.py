"""Golden JSON I/O, ledger comparison, update table, the syrupy extension and the golden CLI."""
import json
import math
import subprocess
import sys
import textwrap

import pytest

from parity import golden, jsonsafe
from parity.golden import GoldenError

pytest_plugins = ["pytester"]

ROOT = golden.ROOT


def make_record(scenario="gs1_ideal", profile="current", tier="tiny", **overrides):
    """A small telemetry record in stage order, covering every value kind."""
    values = {
        "object.shape": [392, 392],
        "object.dtype": "complex64",
        "object.mean": 2.7125,
        "probe.mean_abs_masked": 0.1,
        "scan.n_images": 64,
        "simulate.nan": 0,
        "simulate.s_sim": 1234.5678,
        "group.coords_relative_sum": 0.0,
        "scale.g": 0.2631,
        "scale.s": 260.0,
        "scale.s_cf": 988.2117,
        "scale.source": "dataset",
        "scale.used_fallback": False,
        "labels.mean": 12.5,
        "labels.max": math.inf,
        "forward.out_mean": math.nan,
        "forward.out_phase_mean": 3e-9,
    }
    values.update(overrides)
    return {"schema": golden.TELEMETRY_SCHEMA,
            "meta": {"scenario": scenario, "profile": profile, "tier": tier, "seed": 7},
            "values": values}


# --------------------------------------------------------------------------- jsonsafe


def test_nan_inf_round_trip_through_file(tmp_path):
    obj = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": {"d": None, "e": True, "f": "x"}}
    path = jsonsafe.write_json(tmp_path / "x.json", obj)
    text = path.read_text()
    assert '{"__float__": "nan"}' in text.replace("\n", "").replace("  ", "")
    assert "NaN" not in text and "Infinity" not in text
    back = jsonsafe.read_json(path)
    assert math.isnan(back["a"]) and back["b"][:2] == [math.inf, -math.inf]
    assert back["b"][2] == 1.5 and back["c"] == obj["c"]
    assert list(back) == ["a", "b", "c"]


def test_jsonsafe_rejects_bare_nan_and_unknown_types(tmp_path):
    bad = tmp_path / "bare.json"
    bad.write_text('{"x": NaN}')
    with pytest.raises(jsonsafe.JsonSafeError, match="bare NaN"):
        jsonsafe.read_json(bad)
    with pytest.raises(jsonsafe.JsonSafeError, match=r"\$\.k"):
        jsonsafe.encode({"k": object()})
    with pytest.raises(jsonsafe.JsonSafeError, match="complex"):
        jsonsafe.encode({"k": 1j})


def test_jsonsafe_coerces_numpy():
    np = pytest.importorskip("numpy")
    out = jsonsafe.encode({"a": np.float32(0.5), "b": np.int64(3), "c": np.bool_(True), "d": np.zeros((2, 1))})
    assert out == {"a": 0.5, "b": 3, "c": True, "d": [[0.0], [0.0]]}
    assert type(out["b"]) is int and type(out["c"]) is bool


# --------------------------------------------------------------------------- files


def test_golden_round_trip_keeps_values_order_and_provenance(tmp_path):
    rec = make_record()
    path = golden.write_golden(golden.golden_path(tmp_path, rec), rec, golden.provenance("unit test"))
    assert path.name == "gs1_ideal__current__tiny.json"
    loaded = golden.load_golden(path)
    assert list(loaded) == ["schema", "scenario", "profile", "tier", "provenance", "values"]
    assert list(loaded["values"]) == list(rec["values"])
    assert math.isnan(loaded["values"]["forward.out_mean"]) and loaded["values"]["labels.max"] == math.inf
    prov = loaded["provenance"]
    assert prov["command"] == "unit test"
    assert set(prov) >= {"git_commit", "packages", "date_utc"} and "numpy" in prov["packages"]
    assert not golden.failures(golden.compare_golden(loaded, rec))
    assert path.read_text().startswith('{\n  "schema": "parity-golden/1"')  # readable, indent 2


def test_missing_golden_raises_naming_file(tmp_path):
    with pytest.raises(GoldenError, match="nope.json.*missing"):
        golden.load_golden(tmp_path / "nope.json")


@pytest.mark.parametrize("content, problem", [
    ('{"schema": "parity-golden/1", "scenario": "gs1', "corrupt"),  # truncated
    ("this is not json", "corrupt"),
    ("", "corrupt"),
    ('["a list"]', "corrupt"),
    ('{"schema": "syrupy-amber/1", "values": {}}', "foreign schema"),
    ('{"schema": "parity-golden/1", "scenario": "a", "profile": "b", "tier": "c", "values": {}}', "provenance"),
])
def test_corrupt_or_foreign_golden_raises_golden_error_naming_file(tmp_path, content, problem):
    path = tmp_path / "gs1_ideal__current__tiny.json"
    path.write_text(content)
    with pytest.raises(GoldenError, match=problem) as info:
        golden.load_golden(path)
    assert info.value.source == str(path) and str(path) in str(info.value)


def test_non_utf8_golden_raises_golden_error(tmp_path):
    path = tmp_path / "bin.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(GoldenError, match="bin.json"):
        golden.load_golden(path)


def test_foreign_record_schema_rejected():
    with pytest.raises(GoldenError, match="foreign schema"):
        golden.coerce_record({"schema": "other/1", "values": {}})
    with pytest.raises(GoldenError, match="scenario"):
        golden.coerce_record(make_record(scenario="a/b"))


# --------------------------------------------------------------------------- comparison


def _rule(key):
    return golden.load_ledger().rule_for(key)


def test_value_inside_tolerance_passes_outside_fails(tol):
    rule = _rule("scale.s")
    assert rule.rtol > 0
    exp = make_record()["values"]
    inside = dict(exp, **{"scale.s": exp["scale.s"] * (1 + 0.5 * rule.rtol)})
    outside = dict(exp, **{"scale.s": exp["scale.s"] * (1 + 10 * rule.rtol)})
    assert not golden.failures(golden.compare(exp, inside))
    bad = golden.failures(golden.compare(exp, outside))
    assert [r.key for r in bad] == ["scale.s"]
    assert bad[0].verdict == "changed" and bad[0].tol_class == rule.tol_class
    assert bad[0].rel_change == pytest.approx(10 * rule.rtol, rel=tol("golden.rel_change"))


def test_forward_keys_use_tensorflow_rule_and_atol_near_zero():
    rule = _rule("forward.out_phase_mean")
    assert rule.tol_class == "tensorflow" and rule.atol > 0
    exp = make_record()["values"]
    near = dict(exp, **{"forward.out_phase_mean": exp["forward.out_phase_mean"] + 0.5 * rule.atol})
    assert not golden.failures(golden.compare(exp, near))


@pytest.mark.parametrize("key, new", [
    ("scan.n_images", 65),          # integers exact
    ("object.shape", [392, 391]),   # shapes exact
    ("object.shape", [392, 392, 1]),
    ("scale.source", "closed_form"),
    ("scale.used_fallback", True),
    ("forward.out_mean", 1.0),      # NaN -> number
    ("labels.max", 1e300),          # inf -> number
    ("simulate.nan", 0.5),          # int -> float beyond tolerance
    ("labels.mean", None),
])
def test_exact_kinds_fail_on_any_change(key, new):
    exp = make_record()["values"]
    bad = golden.failures(golden.compare(exp, dict(exp, **{key: new})))
    assert [r.key for r in bad] == [key]


def test_nan_and_inf_equal_to_themselves():
    exp = make_record()["values"]
    assert not golden.failures(golden.compare(exp, dict(exp)))


def test_missing_and_extra_keys_fail():
    exp = make_record()["values"]
    act = {k: v for k, v in exp.items() if k != "scale.g"}
    act["scale.new_key"] = 1.0
    bad = {r.key: r.verdict for r in golden.failures(golden.compare(exp, act))}
    assert bad == {"scale.g": "missing", "scale.new_key": "extra"}
    table = golden.results_table(golden.failures(golden.compare(exp, act)))
    assert "| `scale.g` | 0.2631 | (absent) |" in table and "| `scale.new_key` | (absent) | 1 |" in table


def test_provenance_not_compared(tmp_path):
    rec = make_record()
    a = golden.make_golden(rec, {"command": "x", "git_commit": "aaa", "date_utc": "2000-01-01T00:00:00Z"})
    b = golden.make_golden(rec, {"command": "y", "git_commit": "bbb", "date_utc": "2099-01-01T00:00:00Z"})
    assert not golden.failures(golden.compare_golden(a, b))
    assert golden.failures(golden.compare_golden(a, make_record(profile="legacy")))  # header is compared


def test_compare_rejects_float_key_without_rule(tmp_path):
    ledger = tmp_path / "t.toml"
    ledger.write_text('[classes]\nnumpy = 1e-6\n[golden]\n"scan.*" = { rtol = 1e-6, class = "numpy" }\n')
    with pytest.raises(golden.LedgerError, match="labels.mean"):
        golden.compare({"labels.mean": 1.0}, {"labels.mean": 1.0}, golden.load_ledger(ledger))


# --------------------------------------------------------------------------- update


def test_update_goldens_table_and_no_churn(tmp_path):
    rec = make_record()
    first = golden.update_goldens([rec], tmp_path, command="test")
    assert [u.status for u in first] == ["new"]
    path = first[0].path
    before = path.read_text()

    rule = _rule("scale.s")
    within = make_record(**{"scale.s": 260.0 * (1 + 0.1 * rule.rtol)})
    second = golden.update_goldens([within], tmp_path, command="test")
    assert second[0].status == "unchanged" and path.read_text() == before
    assert [r.key for r in second[0].changes] == ["scale.s"]

    moved = make_record(**{"scale.s": 520.0, "scan.n_images": 128})
    third = golden.update_goldens([moved], tmp_path, command="test")
    assert third[0].status == "updated"
    assert golden.load_golden(path)["values"]["scale.s"] == 520.0
    table = golden.update_table(third)
    assert "| gs1_ideal__current__tiny.json | `scale.s` | 260 | 520 | 1 |" in table
    assert "`scan.n_images` | 64 | 128 | 1 |" in table

    path.write_text("{truncated")
    fourth = golden.update_goldens([moved], tmp_path, command="test")
    assert fourth[0].status == "replaced-corrupt" and golden.load_golden(path)["values"]["scale.s"] == 520.0


# --------------------------------------------------------------------------- syrupy extension


INNER_TEST = """
    import pathlib
    from parity import jsonsafe
    from parity.golden import assert_golden

    HERE = pathlib.Path(__file__).parent

    def test_record_matches_golden(snapshot):
        assert_golden(snapshot, jsonsafe.read_json(HERE / "record.json"), directory=HERE / "golden")
"""


@pytest.fixture
def inner(pytester):
    """A throw-away pytest project asserting record.json against golden/ via syrupy."""
    pytester.makepyfile(test_inner=textwrap.dedent(INNER_TEST))
    (pytester.path / "golden").mkdir()
    (pytester.path / "golden" / "unrelated__legacy__tiny.json").write_text("{}")

    def run(record, *args):
        jsonsafe.write_json(pytester.path / "record.json", record)
        return pytester.runpytest("-p", "no:cacheprovider", "-q", *args)

    run.golden = pytester.path / "golden" / "gs1_ideal__current__tiny.json"
    return run


def test_syrupy_missing_golden_fails_then_update_writes_it(inner):
    rec = make_record()
    inner(rec).assert_outcomes(failed=1)
    assert not inner.golden.exists()
    inner(rec, "--snapshot-update").assert_outcomes(passed=1)
    stored = golden.load_golden(inner.golden)
    assert stored["values"]["scale.s"] == 260.0 and "pytest" in stored["provenance"]["command"]
    assert (inner.golden.parent / "unrelated__legacy__tiny.json").exists()  # never deleted as "unused"
    inner(rec).assert_outcomes(passed=1)


def test_syrupy_compares_with_ledger_tolerances(inner):
    rec = make_record()
    inner(rec, "--snapshot-update").assert_outcomes(passed=1)
    written = inner.golden.read_text()
    rtol = _rule("scale.s").rtol
    inner(make_record(**{"scale.s": 260.0 * (1 + 0.5 * rtol)})).assert_outcomes(passed=1)
    result = inner(make_record(**{"scale.s": 260.0 * (1 + 10 * rtol)}))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*outside tolerance*", "*scale.s*changed*"])
    assert inner.golden.read_text() == written  # a failure never rewrites


def test_syrupy_corrupt_golden_fails_naming_file_and_update_regenerates(inner):
    rec = make_record()
    inner.golden.write_text('{"schema": "parity-golden/1", "values": {')
    result = inner(rec)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*GoldenError*gs1_ideal__current__tiny.json*corrupt*"])
    inner(rec, "--snapshot-update").assert_outcomes(passed=1)
    assert golden.load_golden(inner.golden)["values"]["scale.g"] == 0.2631


def test_syrupy_foreign_schema_fails_naming_file(inner):
    inner.golden.write_text(json.dumps({"schema": "other/2", "values": {}}))
    result = inner(make_record())
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*GoldenError*gs1_ideal__current__tiny.json*foreign schema*"])


# --------------------------------------------------------------------------- CLI


def _cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "parity", "golden", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_golden_cli_update_show_diff_exit_codes(tmp_path):
    rec_path = jsonsafe.write_json(tmp_path / "rec.json", make_record())
    gdir = tmp_path / "golden"
    diff_missing = _cli("diff", rec_path, "--dir", gdir)
    assert diff_missing.returncode == 1 and "missing" in diff_missing.stdout
    up = _cli("update", rec_path, "--dir", gdir)
    assert up.returncode == 0, up.stderr
    assert "gs1_ideal__current__tiny.json | new" in up.stdout
    show = _cli("show", "gs1_ideal__current__tiny", "--dir", gdir)
    assert show.returncode == 0 and "`scale.g` | 0.2631" in show.stdout and "git_commit" in show.stdout
    assert _cli("diff", rec_path, "--dir", gdir).returncode == 0
    jsonsafe.write_json(rec_path, make_record(**{"scale.g": 0.3}))
    changed = _cli("diff", rec_path, "--dir", gdir)
    assert changed.returncode == 1 and "scale.g" in changed.stdout
    (gdir / "gs1_ideal__current__tiny.json").write_text("{oops")
    corrupt = _cli("diff", rec_path, "--dir", gdir)
    assert corrupt.returncode == 2 and "gs1_ideal__current__tiny.json" in corrupt.stderr
