"""JSON-safe values: tagged NaN/Inf, numpy coercion, atomic JSON files."""
import math

import pytest

from parity import jsonsafe


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
