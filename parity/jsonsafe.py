"""JSON-safe values: explicit NaN/Inf encoding, numpy coercion, atomic JSON files.

Plain JSON has no NaN or Inf. Non-finite floats are written as ``{"__float__": "nan"}``,
``{"__float__": "inf"}`` or ``{"__float__": "-inf"}`` and decoded back to floats on read, so a
golden or telemetry file round-trips exactly. numpy scalars become Python numbers, numpy arrays
and tuples become lists. Dict insertion order is kept (telemetry is ordered by stage).
"""
from __future__ import annotations

import json
import math
import os
import pathlib
from typing import Any

import numpy as np

from ptycho import atomic

from .errors import ParityError

FLOAT_TAG = "__float__"
_ENCODED = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class JsonSafeError(ParityError):
    """A value cannot be made JSON-safe, or a file cannot be read as JSON.

    `where` names the offending key path (e.g. ``values.scale.g``) or file.
    """

    name_attr = "where"


def _encode_float(x: float) -> Any:
    if math.isnan(x):
        return {FLOAT_TAG: "nan"}
    if math.isinf(x):
        return {FLOAT_TAG: "inf" if x > 0 else "-inf"}
    return x


def encode(obj: Any, _path: str = "$") -> Any:
    """Return a JSON-safe copy of `obj` (dicts, lists, str, int, float, bool, None).

    Non-finite floats become tagged dicts; numpy scalars/arrays become Python numbers/lists;
    tuples become lists. Raises JsonSafeError naming the key path for anything else.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _encode_float(float(obj))
    if isinstance(obj, np.ndarray):
        return encode(obj.tolist(), _path)
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise JsonSafeError(f"{_path}.{k!r}", f"dict key must be str, got {type(k).__name__}")
            if k == FLOAT_TAG:
                raise JsonSafeError(_path, f"the key {FLOAT_TAG!r} is reserved for float encoding")
            out[k] = encode(v, f"{_path}.{k}")
        return out
    if isinstance(obj, (list, tuple)):
        return [encode(v, f"{_path}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (complex, np.complexfloating)):
        raise JsonSafeError(_path, "complex values are not JSON-safe; record real statistics")
    raise JsonSafeError(_path, f"type {type(obj).__name__} is not JSON-safe")


def decode(obj: Any) -> Any:
    """Inverse of `encode`: turn ``{"__float__": ...}`` tags back into float NaN/Inf."""
    if isinstance(obj, dict):
        if len(obj) == 1 and FLOAT_TAG in obj:
            tag = obj[FLOAT_TAG]
            if tag not in _ENCODED:
                raise JsonSafeError(FLOAT_TAG, f"unknown float tag {tag!r}")
            return _ENCODED[tag]
        return {k: decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    return obj


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """Encode `obj` and serialize it; key order is kept, bare NaN/Inf can never be written."""
    return json.dumps(encode(obj), indent=indent, sort_keys=False, allow_nan=False) + "\n"


def loads(text: str, *, where: str = "<string>") -> Any:
    """Parse JSON text and decode the float tags. Raises JsonSafeError naming `where`."""
    try:
        raw = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise JsonSafeError(where, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from exc
    except ValueError as exc:
        raise JsonSafeError(where, str(exc)) from exc
    return decode(raw)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"bare {name} is not allowed; non-finite floats must be tagged with {FLOAT_TAG!r}")


def read_json(path: str | os.PathLike) -> Any:
    """Read and decode a JSON file. Raises JsonSafeError naming the file (missing, not UTF-8,
    not JSON, truncated)."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise JsonSafeError(str(path), "file not found") from exc
    except UnicodeDecodeError as exc:
        raise JsonSafeError(str(path), f"not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise JsonSafeError(str(path), f"cannot read ({exc.strerror})") from exc
    if not text.strip():
        raise JsonSafeError(str(path), "empty file")
    return loads(text, where=str(path))


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> pathlib.Path:
    """Encode `obj` and write it to `path` atomically (indent 2, key order kept)."""
    return atomic.write_text(path, dumps(obj, indent=indent))
