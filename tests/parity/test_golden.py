"""Golden JSON I/O, ledger comparison and the update table."""
import math

import pytest

from parity import golden, jsonsafe, tolerances
from parity.golden import GoldenError
from tests.conftest import LEDGER_PATH
from tests.parity.test_records import make_record

LEDGER = tolerances.load_ledger(LEDGER_PATH)


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
    assert not golden.failures(golden.compare_golden(loaded, rec, LEDGER))
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


# --------------------------------------------------------------------------- comparison


def _rule(key):
    return LEDGER.rule_for(key)


def test_value_inside_tolerance_passes_outside_fails(tol):
    rule = _rule("scale.s")
    assert rule.rtol > 0
    exp = make_record()["values"]
    inside = dict(exp, **{"scale.s": exp["scale.s"] * (1 + 0.5 * rule.rtol)})
    outside = dict(exp, **{"scale.s": exp["scale.s"] * (1 + 10 * rule.rtol)})
    assert not golden.failures(golden.compare(exp, inside, LEDGER))
    bad = golden.failures(golden.compare(exp, outside, LEDGER))
    assert [r.key for r in bad] == ["scale.s"]
    assert bad[0].verdict == "changed" and bad[0].tol_class == rule.tol_class
    assert bad[0].rel_change == pytest.approx(10 * rule.rtol, rel=tol("golden.rel_change"))


def test_forward_keys_use_tensorflow_rule_and_atol_near_zero():
    rule = _rule("forward.out_phase_mean")
    assert rule.tol_class == "tensorflow" and rule.atol > 0
    exp = make_record()["values"]
    near = dict(exp, **{"forward.out_phase_mean": exp["forward.out_phase_mean"] + 0.5 * rule.atol})
    assert not golden.failures(golden.compare(exp, near, LEDGER))


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
    bad = golden.failures(golden.compare(exp, dict(exp, **{key: new}), LEDGER))
    assert [r.key for r in bad] == [key]


def test_nan_and_inf_equal_to_themselves():
    exp = make_record()["values"]
    assert not golden.failures(golden.compare(exp, dict(exp), LEDGER))


def test_missing_and_extra_keys_fail():
    exp = make_record()["values"]
    act = {k: v for k, v in exp.items() if k != "scale.g"}
    act["scale.new_key"] = 1.0
    bad = {r.key: r.verdict for r in golden.failures(golden.compare(exp, act, LEDGER))}
    assert bad == {"scale.g": "missing", "scale.new_key": "extra"}
    table = golden.results_table(golden.failures(golden.compare(exp, act, LEDGER)))
    assert "| `scale.g` | 0.2631 | (absent) |" in table and "| `scale.new_key` | (absent) | 1 |" in table


def test_provenance_not_compared(tmp_path):
    rec = make_record()
    a = golden.make_golden(rec, {"command": "x", "git_commit": "aaa", "date_utc": "2000-01-01T00:00:00Z"})
    b = golden.make_golden(rec, {"command": "y", "git_commit": "bbb", "date_utc": "2099-01-01T00:00:00Z"})
    assert not golden.failures(golden.compare_golden(a, b, LEDGER))
    assert golden.failures(golden.compare_golden(a, make_record(profile="legacy"), LEDGER))  # header is compared


def test_provenance_stores_no_path_of_the_writing_machine(tmp_path):
    """Breaker: provenance keeping the command line as typed (the goldens once stored
    '/tmp/spec-after/telemetry/...' paths of the machine that wrote them)."""
    repo = tmp_path / "checkout"
    (repo / "golden").mkdir(parents=True)
    elsewhere = tmp_path / "run" / "telemetry" / "gs1_ideal__legacy__tiny.json"
    inside = repo / "reports" / "r1" / "telemetry" / "x.json"
    command = (f"python -m parity golden update {elsewhere} {inside} "
               f"--golden-dir={repo / 'golden'} --tier tiny")
    prov = golden.provenance(command, repo=repo / "golden")
    assert prov["command"] == ("python -m parity golden update "
                               "telemetry/gs1_ideal__legacy__tiny.json "
                               "reports/r1/telemetry/x.json --golden-dir=golden --tier tiny")
    assert str(tmp_path) not in prov["command"]
    assert golden.portable_command("a 'unbalanced", repo=repo) == "a 'unbalanced"


def test_compare_rejects_float_key_without_rule(tmp_path):
    ledger = tmp_path / "t.toml"
    ledger.write_text('[classes]\nnumpy = 1e-6\n[golden]\n"scan.*" = { rtol = 1e-6, class = "numpy" }\n')
    with pytest.raises(tolerances.LedgerError, match="labels.mean"):
        golden.compare({"labels.mean": 1.0}, {"labels.mean": 1.0}, tolerances.load_ledger(ledger))


# --------------------------------------------------------------------------- update


def test_update_goldens_table_and_no_churn(tmp_path):
    rec = make_record()
    first = golden.update_goldens([rec], tmp_path, ledger=LEDGER, command="test")
    assert [u.status for u in first] == ["new"]
    path = first[0].path
    before = path.read_text()

    rule = _rule("scale.s")
    within = make_record(**{"scale.s": 260.0 * (1 + 0.1 * rule.rtol)})
    second = golden.update_goldens([within], tmp_path, ledger=LEDGER, command="test")
    assert second[0].status == "unchanged" and path.read_text() == before
    assert [r.key for r in second[0].changes] == ["scale.s"]

    moved = make_record(**{"scale.s": 520.0, "scan.n_images": 128})
    third = golden.update_goldens([moved], tmp_path, ledger=LEDGER, command="test")
    assert third[0].status == "updated"
    assert golden.load_golden(path)["values"]["scale.s"] == 520.0
    table = golden.update_table(third)
    assert "| gs1_ideal__current__tiny.json | `scale.s` | 260 | 520 | 1 |" in table
    assert "`scan.n_images` | 64 | 128 | 1 |" in table

    path.write_text("{truncated")
    fourth = golden.update_goldens([moved], tmp_path, ledger=LEDGER, command="test")
    assert fourth[0].status == "replaced-corrupt" and golden.load_golden(path)["values"]["scale.s"] == 520.0


def _moved_within(rec, factor=0.1):
    """`rec` with every nonzero finite float moved by `factor` x its rule's rtol (within)."""
    values = dict(rec["values"])
    for key, v in values.items():
        if isinstance(v, float) and math.isfinite(v) and v != 0.0:
            values[key] = v * (1 + factor * _rule(key).rtol)
    return {**rec, "values": values}


def _changed_lines(before: str, after: str) -> list[str]:
    import difflib
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_update_keeps_values_within_tolerance_so_one_change_is_one_line(tmp_path):
    path = golden.update_goldens([make_record()], tmp_path, ledger=LEDGER, command="first")[0].path
    before = path.read_text()
    fresh = _moved_within(make_record())
    fresh["values"]["scale.s"] = 520.0  # the one value beyond tolerance
    moved_within = sum(1 for k in fresh["values"] if fresh["values"][k] != make_record()["values"][k]) - 1
    assert moved_within >= 5
    up = golden.update_goldens([fresh], tmp_path, ledger=LEDGER, command="second")[0]
    assert up.status == "updated" and up.written
    stored = golden.load_golden(path)["values"]
    assert jsonsafe.dumps(stored) == jsonsafe.dumps(make_record(**{"scale.s": 520.0})["values"])
    changed = _changed_lines(before, path.read_text())
    provenance = ('"command"', '"date_utc"', '"git_commit"', '"git_dirty"')
    assert [line for line in changed if not any(k in line for k in provenance)] == \
        ['-    "scale.s": 260.0,', '+    "scale.s": 520.0,']


def test_update_adds_and_removes_keys_and_keeps_the_rest(tmp_path):
    path = golden.update_goldens([make_record()], tmp_path, ledger=LEDGER, command="t")[0].path
    fresh = _moved_within(make_record())
    del fresh["values"]["scale.g"]
    fresh["values"]["scale.new_key"] = 1.5
    up = golden.update_goldens([fresh], tmp_path, ledger=LEDGER, command="t")[0]
    stored = golden.load_golden(path)["values"]
    assert "scale.g" not in stored and stored["scale.new_key"] == 1.5
    assert stored["scale.s"] == 260.0 and stored["simulate.s_sim"] == 1234.5678  # kept, not 1e-7 moved
    assert golden.update_counts([up]) | {"max_rel": 0} == {
        "beyond": 0, "added": 1, "removed": 1, "within": 16, "max_rel": 0, "files": 1,
        "written": 1, "new": 0, "corrupt": 0}


def test_force_rewrites_every_fresh_value(tmp_path):
    path = golden.update_goldens([make_record()], tmp_path, ledger=LEDGER, command="t")[0].path
    fresh = _moved_within(make_record())
    up = golden.update_goldens([fresh], tmp_path, ledger=LEDGER, command="t", force=True)[0]
    assert up.status == "updated" and up.forced
    assert golden.load_golden(path)["values"]["scale.s"] == fresh["values"]["scale.s"] != 260.0
    assert "| in file |" in golden.update_table([up]) and "| within | new |" in golden.update_table([up])


def test_dry_run_writes_nothing(tmp_path):
    rec = make_record()
    new = golden.update_goldens([rec], tmp_path, ledger=LEDGER, command="t", dry_run=True)
    assert new[0].status == "new" and new[0].written and not new[0].path.exists()
    path = golden.update_goldens([rec], tmp_path, ledger=LEDGER, command="t")[0].path
    before = path.read_text()
    moved = golden.update_goldens([make_record(**{"scale.s": 520.0})], tmp_path, ledger=LEDGER,
                                  command="t", dry_run=True)
    assert moved[0].status == "updated" and path.read_text() == before
    table = golden.update_table(moved, dry_run=True)
    assert "updated (dry run)" in table
    assert table.splitlines()[-1].endswith("1 of 1 golden files would be written (dry run, nothing written)")


def test_update_table_sorts_beyond_first_and_ends_with_summary(tmp_path):
    a = golden.update_goldens([make_record()], tmp_path, ledger=LEDGER, command="t")[0].path
    golden.update_goldens([make_record(profile="legacy")], tmp_path, ledger=LEDGER, command="t")
    within = _moved_within(make_record(), factor=0.5)
    beyond = _moved_within(make_record(profile="legacy"), factor=0.1)
    beyond["values"]["labels.mean"] = 25.0
    ups = golden.update_goldens([within, beyond], tmp_path, ledger=LEDGER, command="t")
    assert [u.status for u in ups] == ["unchanged", "updated"]
    table = golden.update_table(ups)
    lines = table.splitlines()
    files = [line for line in lines if line.startswith("| gs1_ideal__") and line.count("|") == 7]
    assert files[0].startswith("| gs1_ideal__legacy__tiny.json | updated | 1 | 0 | 0 |")
    rows = [line for line in lines if line.count("|") == 9 and line.startswith("| gs1_ideal__")]
    assert "`labels.mean` | 12.5 | 25 |" in rows[0] and "| beyond | new |" in rows[0]
    assert all("| within | stored |" in r for r in rows[1:])
    rels = [float(r.split("|")[5]) for r in rows[1:]]
    assert rels == sorted(rels, reverse=True)
    c = golden.update_counts(ups)
    assert lines[-1] == (f"1 beyond, 0 added, 0 removed; {c['within']} within, max rel "
                         f"{c['max_rel']:.2g}; 1 of 2 golden files written")
    assert c["within"] == 2 * len(make_record()["values"]) - 1
    assert a.read_text() == golden.write_golden(tmp_path / "x" / a.name, make_record(),
                                                golden.load_golden(a)["provenance"]).read_text()


def test_orphan_goldens_are_files_no_expected_stem_names(tmp_path):
    for name in ("a__current__tiny.json", "b__legacy__tiny.json", "old__current__tiny.json",
                 "notes.json", "x__y.json"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "dir__x__y.json").mkdir()
    assert golden.golden_files(tmp_path) == [tmp_path / n for n in
                                             ("a__current__tiny.json", "b__legacy__tiny.json",
                                              "old__current__tiny.json")]
    assert golden.orphan_goldens(tmp_path, {"a__current__tiny", "b__legacy__tiny"}) == \
        [tmp_path / "old__current__tiny.json"]


def test_regeneration_hint_is_the_exact_command(tmp_path, monkeypatch):
    from tests.conftest import GOLDEN_DIR, ROOT
    monkeypatch.chdir(ROOT)
    rec = make_record()
    assert golden.regenerate_command(rec, GOLDEN_DIR) == \
        "python -m parity golden update --scenario gs1_ideal --profile current"
    assert golden.regenerate_hint(rec, GOLDEN_DIR) == (
        "regenerate on purpose: `python -m parity golden update --scenario gs1_ideal --profile current` "
        "(or `python -m pytest --snapshot-update "
        "'tests/parity/test_golden_snapshots.py::test_tiny_golden[gs1_ideal-current]'`)")
    other = tmp_path / "g"
    assert golden.regenerate_hint(make_record(tier="reduced"), other) == (
        "regenerate on purpose: `python -m parity golden update --scenario gs1_ideal --profile current "
        f"--tier reduced --golden-dir {other}`")
    assert "--snapshot-update x.py::t" in golden.regenerate_hint(rec, other, node_id="x.py::t")
