"""Golden files: where they live, their names, and reading and writing them.

A golden is ``<golden dir>/<scenario>__<profile>__<tier>.json`` (schema, header, provenance,
values; see `parity.golden`); the golden directory of a checkout is found from the current
directory upward (`find_golden_dir`), like pytest's rootdir, and holds the tolerance ledger.
`orphan_goldens` lists the files no expected stem names.
"""
from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable, Mapping
from typing import Any

from .. import jsonsafe
from ..errors import ParityError
from ..records import GOLDEN_SCHEMA, HEADER_KEYS, coerce_record, header_of
from ..tolerances import LEDGER_NAME, Ledger, load_ledger
from .provenance import provenance

GOLDEN_DIR_NAME = "golden"
#: the golden files of a directory: <scenario>__<profile>__<tier>.json
GOLDEN_GLOB = "*__*__*.json"


class GoldenError(ParityError):
    """A golden file is missing, corrupt or of a foreign schema, or no golden directory was
    found. `source` names the file or directory (as str), `problem` says what is wrong.
    """

    name_attr, prefix, str_name = "source", "golden ", True


def find_golden_dir(start: str | os.PathLike) -> pathlib.Path | None:
    """The first ``golden/`` holding a ``tolerances.toml`` in `start` or a folder above it."""
    here = pathlib.Path(start).resolve()
    for folder in (here, *here.parents):
        candidate = folder / GOLDEN_DIR_NAME
        if (candidate / LEDGER_NAME).is_file():
            return candidate
    return None


def ledger_of(golden_dir: str | os.PathLike) -> Ledger:
    """The tolerance ledger of a golden directory (``<dir>/tolerances.toml``)."""
    return load_ledger(pathlib.Path(golden_dir) / LEDGER_NAME)


def golden_stem(record: Mapping[str, Any]) -> str:
    """``<scenario>__<profile>__<tier>`` of a telemetry record (the golden file stem)."""
    h = header_of(coerce_record(record))
    return f"{h['scenario']}__{h['profile']}__{h['tier']}"


def golden_path(directory: str | os.PathLike, record: Mapping[str, Any]) -> pathlib.Path:
    """Path of the golden file of `record` in `directory`."""
    return pathlib.Path(directory) / f"{golden_stem(record)}.json"



def make_golden(record: Any, prov: Mapping[str, Any]) -> dict[str, Any]:
    """The golden dict of a telemetry record, with provenance `prov`."""
    rec = coerce_record(record)
    return {"schema": GOLDEN_SCHEMA, **header_of(rec), "provenance": dict(prov), "values": rec["values"]}


def parse_golden(text: str, source: str | os.PathLike) -> dict[str, Any]:
    """Parse golden JSON text. Raises GoldenError naming `source` if it is corrupt (not JSON,
    truncated) or of a foreign schema."""
    try:
        data = jsonsafe.loads(text, where=str(source))
    except jsonsafe.JsonSafeError as exc:
        raise GoldenError(source, f"corrupt: {exc.problem}") from exc
    if not isinstance(data, dict):
        raise GoldenError(source, f"corrupt: top level is {type(data).__name__}, not an object")
    if data.get("schema") != GOLDEN_SCHEMA:
        raise GoldenError(source, f"foreign schema {data.get('schema')!r} (expected {GOLDEN_SCHEMA!r})")
    for key in (*HEADER_KEYS, "provenance", "values"):
        if key not in data:
            raise GoldenError(source, f"corrupt: missing {key!r}")
    if not isinstance(data["values"], dict) or not isinstance(data["provenance"], dict):
        raise GoldenError(source, "corrupt: 'values' and 'provenance' must be objects")
    return data


def load_golden(path: str | os.PathLike) -> dict[str, Any]:
    """Read a golden file. Raises GoldenError naming the file when missing, corrupt or foreign."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise GoldenError(path, "missing (generate it with `pytest --snapshot-update` or "
                                "`python -m parity golden update`)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldenError(path, f"unreadable: {exc}") from exc
    return parse_golden(text, path)


def write_golden(path: str | os.PathLike, record: Any, prov: Mapping[str, Any] | None = None) -> pathlib.Path:
    """Write the golden of `record` to `path` atomically (indent 2, stage order kept)."""
    prov = prov if prov is not None else provenance(repo=pathlib.Path(path).parent)
    return jsonsafe.write_json(path, make_golden(record, prov))


def golden_files(directory: str | os.PathLike) -> list[pathlib.Path]:
    """The golden files of a directory: every ``*__*__*.json`` in it, sorted by name."""
    return sorted(p for p in pathlib.Path(directory).glob(GOLDEN_GLOB) if p.is_file())


def orphan_goldens(directory: str | os.PathLike, expected_stems: Iterable[str]) -> list[pathlib.Path]:
    """Golden files of `directory` whose stem is none of `expected_stems` (the
    ``<scenario>__<profile>__<tier>`` the registry writes): goldens nothing compares any more."""
    expected = set(expected_stems)
    return [p for p in golden_files(directory) if p.stem not in expected]
