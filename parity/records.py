"""The telemetry record contract: schema, stages, validation, and exact first difference.

A telemetry record (written by `parity.telemetry.Recorder`)::

    {"schema": "parity-telemetry/1",
     "meta": {"scenario": str, "profile": str, "tier": str, "seed": int, ...},
     "values": {"<stage>.<key>": JSON value, ...}}   # stage order, then key order

A golden file (`parity.golden`) carries the same header fields at its top level and the same
``values``. `coerce_record` accepts both and is the one validation of that contract; the JSON
Schema files in ``parity/schemas/`` describe the same contract for other codes.
"""
from __future__ import annotations

import importlib.resources
import json
import math
import os
from collections.abc import Mapping
from typing import Any

from . import jsonsafe
from .errors import ParityError

TELEMETRY_SCHEMA = "parity-telemetry/1"
GOLDEN_SCHEMA = "parity-golden/1"
REPORT_SCHEMA = "parity-report/1"
RECORD_SCHEMAS = (TELEMETRY_SCHEMA, GOLDEN_SCHEMA)
#: every published document schema (JSON Schema files shipped in parity/schemas/)
PUBLISHED_SCHEMAS = (TELEMETRY_SCHEMA, GOLDEN_SCHEMA, REPORT_SCHEMA)
#: the fields naming a record: scenario, profile and tier (the golden file stem)
HEADER_KEYS = ("scenario", "profile", "tier")

#: pipeline stages in docs/design.md §8 order; the last four run fully only with training
CORE_STAGES = ("object", "probe", "scan", "simulate", "group", "normalize", "scale",
               "container", "network_input", "labels", "forward")
TRAIN_STAGES = ("train", "infer", "stitch", "evaluate")
STAGES = CORE_STAGES + TRAIN_STAGES
#: training stages that also run without training, as consistency diagnostics only (one batch
#: through the training path; the untrained model's inference path on a few groups; the
#: ground-truth stitch and its evaluation): the tiny gate runs CORE_STAGES + DIAGNOSTIC_STAGES
#: (their telemetry keeps its names: `train.mode` 'probe', `train.probe.*`)
DIAGNOSTIC_STAGES = ("train", "infer", "stitch", "evaluate")


class RecordError(ParityError):
    """A telemetry record (or golden dict) breaks the contract; `where` names the file, stage
    or key."""

    name_attr, str_name = "where", True


def stage_of(key: str) -> str:
    """The stage a value key belongs to ('scale.g' -> 'scale')."""
    return key.split(".", 1)[0]


def stage_values(record: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """{key without the stage prefix: value} of one stage of a record."""
    prefix = stage + "."
    return {k[len(prefix):]: v for k, v in record["values"].items() if k.startswith(prefix)}


def coerce_record(record: Any, source: str | os.PathLike = "<record>") -> dict[str, Any]:
    """Validate a telemetry record or a golden dict and return it as a plain dict.

    Accepts a mapping, or an object with ``to_dict()``. Checks the schema, the header names
    (non-empty, no '/', '\\\\' or '__': they form file names) and the ``values`` mapping.
    Raises RecordError naming `source`.
    """
    if not isinstance(record, Mapping) and hasattr(record, "to_dict"):
        record = record.to_dict()
    if not isinstance(record, Mapping):
        raise RecordError(source, f"a telemetry record must be a mapping, got {type(record).__name__}")
    schema = record.get("schema")
    if schema == TELEMETRY_SCHEMA:
        meta = record.get("meta")
        if not isinstance(meta, Mapping):
            raise RecordError(source, "telemetry record has no 'meta' mapping")
        header = {k: meta.get(k) for k in HEADER_KEYS}
    elif schema == GOLDEN_SCHEMA:
        header = {k: record.get(k) for k in HEADER_KEYS}
    else:
        raise RecordError(source, f"foreign schema {schema!r} (expected one of {RECORD_SCHEMAS})")
    for k, v in header.items():
        if not isinstance(v, str) or not v or "/" in v or "\\" in v or "__" in v:
            raise RecordError(source, f"{k} must be a non-empty name without '/', '\\' or '__', got {v!r}")
    values = record.get("values")
    if not isinstance(values, Mapping):
        raise RecordError(source, "no 'values' mapping")
    return {**dict(record), "values": dict(values)}


def header_of(record: Mapping[str, Any]) -> dict[str, str]:
    """{"scenario", "profile", "tier"} of a telemetry record or a golden dict."""
    src = record["meta"] if record.get("schema") == TELEMETRY_SCHEMA else record
    return {k: src[k] for k in HEADER_KEYS}


def read_record(path: str | os.PathLike) -> dict[str, Any]:
    """Read a telemetry record or golden JSON file and validate it (`coerce_record`).
    Raises RecordError naming the file (missing, not JSON, foreign schema, no values)."""
    try:
        data = jsonsafe.read_json(path)
    except jsonsafe.JsonSafeError as exc:
        raise RecordError(path, exc.problem) from exc
    return coerce_record(data, path)


def check_stage_order(record: Any, where: str = "record") -> dict[str, Any]:
    """Validate a telemetry record and that its keys belong to known stages, in stage order."""
    if not isinstance(record, dict):
        raise RecordError(where, f"must be a JSON object, got {type(record).__name__}")
    if record.get("schema") != TELEMETRY_SCHEMA:
        raise RecordError(where, f"schema must be {TELEMETRY_SCHEMA!r}, got {record.get('schema')!r}")
    meta, values = record.get("meta"), record.get("values")
    if not isinstance(meta, dict) or not isinstance(values, dict):
        raise RecordError(where, "needs 'meta' and 'values' objects")
    last = -1
    for key in values:
        stage = stage_of(key)
        if stage not in STAGES:
            raise RecordError(f"{where}: {key}", "unknown stage")
        idx = STAGES.index(stage)
        if idx < last:
            raise RecordError(f"{where}: {key}", "out of stage order")
        last = idx
    return record


def same_value(a: Any, b: Any) -> bool:
    """Exact equality of two telemetry values: same types, NaN equal to NaN, lists element by
    element (so a NaN inside a list read back from JSON equals the original)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def first_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """First key (in a's order, then b's extras) whose values differ exactly (`same_value`);
    None when the two value dicts are identical."""
    for key in list(a) + [k for k in b if k not in a]:
        if key not in a or key not in b or not same_value(a[key], b[key]):
            return key
    return None


def json_schema(schema: str) -> dict[str, Any]:
    """The JSON Schema document of a published schema id ('parity-telemetry/1',
    'parity-golden/1', 'parity-report/1'), shipped as ``parity/schemas/<name>-<version>.schema.json``."""
    if schema not in PUBLISHED_SCHEMAS:
        raise RecordError("schema", f"unknown schema {schema!r} (published: {PUBLISHED_SCHEMAS})")
    name = schema.replace("/", "-") + ".schema.json"
    return json.loads(importlib.resources.files("parity").joinpath("schemas", name).read_text("utf-8"))
