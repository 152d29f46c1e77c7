"""The published JSON Schemas (parity/schemas/) describe what the harness writes, and reject
what it must not: a record another code emits can be checked before `trace-diff` reads it."""
import copy
import json

import jsonschema
import pytest

from parity import jsonsafe, records
from parity.commands import run_check
from parity.replay import ReplaySpec, resolve, run_stages
from tests.conftest import GOLDEN_DIR


def _validator(schema_id):
    schema = records.json_schema(schema_id)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _as_file(doc):
    """The document as it is written to disk (tagged NaN/Inf), read back as plain JSON."""
    return json.loads(jsonsafe.dumps(doc))


@pytest.fixture(scope="module")
def telemetry():
    spec = ReplaySpec("gs1_ideal", "current")
    return _as_file(run_stages(resolve(spec)).to_dict())


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    run_check(golden_dir=GOLDEN_DIR, scenarios=["gs1_ideal"], profiles=["legacy"], out_dir=out,
              progress=False)
    return json.loads((out / "report.json").read_text())


def test_every_published_schema_is_valid_and_versioned():
    for schema_id in records.PUBLISHED_SCHEMAS:
        schema = records.json_schema(schema_id)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["properties"]["schema"] == {"const": schema_id}
    with pytest.raises(records.RecordError, match="unknown schema"):
        records.json_schema("parity-telemetry/2")


def test_a_replay_record_validates(telemetry):
    _validator(records.TELEMETRY_SCHEMA).validate(telemetry)


def test_every_committed_golden_validates():
    v = _validator(records.GOLDEN_SCHEMA)
    files = sorted(GOLDEN_DIR.glob("*__*__*.json"))
    assert files
    for path in files:
        v.validate(json.loads(path.read_text()))


def test_a_check_report_validates(report):
    _validator(records.REPORT_SCHEMA).validate(report)
    assert report["replays"][0]["checks"]


@pytest.mark.parametrize("breaker", [
    lambda d: d["meta"].pop("seed"),                           # the meta contract
    lambda d: d.update(schema="parity-telemetry/2"),            # a foreign version
    lambda d: d["values"].update({"nowhere.x": 1.0}),           # an unknown stage
    lambda d: d["values"].update({"scale.g": {"__float__": "NaN"}}),  # a mis-tagged float
    lambda d: d["values"].update({"scale.g": {"re": 1.0, "im": 0.0}}),  # an object value
    lambda d: d["meta"].update(scenario="a__b"),                # not a file-stem name
])
def test_telemetry_schema_rejects_broken_records(telemetry, breaker):
    bad = copy.deepcopy(telemetry)
    breaker(bad)
    assert list(_validator(records.TELEMETRY_SCHEMA).iter_errors(bad))


@pytest.mark.parametrize("breaker", [
    lambda d: d.pop("provenance"),
    lambda d: d.update(extra=1),
    lambda d: d.update(tier=""),
])
def test_golden_schema_rejects_broken_goldens(breaker):
    good = json.loads(next(GOLDEN_DIR.glob("*__*__*.json")).read_text())
    breaker(good)
    assert list(_validator(records.GOLDEN_SCHEMA).iter_errors(good))


@pytest.mark.parametrize("breaker", [
    lambda d: d["replays"][0]["checks"][0].update(verdict="maybe"),
    lambda d: d["replays"][0]["checks"][0].update(stage="nowhere"),
    lambda d: d["replays"][0].update(status="unknown"),
    lambda d: d.pop("ok"),
])
def test_report_schema_rejects_broken_reports(report, breaker):
    bad = copy.deepcopy(report)
    breaker(bad)
    assert list(_validator(records.REPORT_SCHEMA).iter_errors(bad))
