"""Dataset doctor: contract errors name the key; scale diagnostics without ground truth."""
import json
import math

import numpy as np
import pytest

from parity.commands import main
from parity.doctor import inspect_dataset, pattern_health
from ptycho.config import ModelConfig
from ptycho.probe import make_probe
from ptycho.raw_data import RawData
from ptycho.simulate import simulate_scan_dataset
from ptycho.objects import lines_object


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A 24-pattern simulated dataset (N=64, ideal probe, 1e6 photons), without objectGuess."""
    probe = make_probe(ModelConfig(N=64, probe_scale=4.0), "ideal")
    raw = simulate_scan_dataset(lines_object(128, seed=2), probe, nphotons=1e6, seed=2,
                                n_points=24)
    raw = RawData.from_arrays(raw.xcoords, raw.ycoords, raw.diff3d, raw.probeGuess,
                              metadata={"nphotons": 1e6})
    path = tmp_path_factory.mktemp("doctor") / "data.npz"
    raw.to_npz(path)
    return path, raw


def _write_bad(tmp_path, raw, **changes):
    arrays = {"xcoords": raw.xcoords, "ycoords": raw.ycoords, "diff3d": raw.diff3d,
              "probeGuess": raw.probeGuess}
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


def test_scale_diagnostics(dataset, tmp_path, tol):
    path, raw = dataset
    rep = inspect_dataset(path, gridsize=2, out_dir=tmp_path)
    assert rep["contract"] == {"ok": True} and rep["nphotons_source"] == "metadata"
    s = rep["scale"]
    E = float(np.mean(np.sum(raw.diff3d.astype(np.float64) ** 2, axis=(1, 2))))
    rtol = tol("parity.inspect.identity")
    assert s["E"] == pytest.approx(E, rel=rtol)
    assert s["g"] == pytest.approx(math.sqrt(32 ** 2 / E), rel=rtol)
    assert s["s_cf"] == pytest.approx(math.sqrt(1e6) / 32, rel=rtol)
    assert s["s"] == pytest.approx(math.sqrt(1e6 / E), rel=rtol)
    assert s["s_over_s_cf"] == pytest.approx(s["g"], rel=rtol)
    assert s["implied_rms_amplitude_legacy"] == pytest.approx(
        s["g"] * s["implied_rms_amplitude_current"], rel=rtol)
    assert set(s["reachability"]) == {"current/sigmoid", "current/softplus",
                                      "legacy/sigmoid", "legacy/softplus"}
    assert s["reachability"]["current/softplus"] == "reachable"
    cv = rep["canvas"]
    for strategy in ("current", "legacy"):
        assert cv[strategy]["canvas"] >= 64 + 2 * math.ceil(cv[strategy]["max_abs_coords_relative"])
    for png in rep["pngs"].values():
        assert png.endswith(".png") and (tmp_path / png.split("/")[-1]).is_file()
    assert rep["health"]["nan_patterns"] == 0 and rep["health"]["zero_patterns"] == 0


def test_nphotons_option_overrides_metadata(dataset, tmp_path):
    path, _ = dataset
    rep = inspect_dataset(path, nphotons=1e9, out_dir=tmp_path)
    assert rep["nphotons_source"] == "--nphotons" and rep["scale"]["nphotons"] == 1e9


def test_cli_text_and_json(dataset, tmp_path, capsys):
    path, _ = dataset
    assert main(["inspect", str(path), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "data contract: ok" in out and "s/s_cf" in out and "canvas" in out
    assert main(["inspect", str(path), "--json", "--out", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["contract"]["ok"] is True


def test_nan_and_negative_patterns_are_counted_and_fail_the_contract(dataset, tmp_path, capsys):
    _, raw = dataset
    d = raw.diff3d.copy()
    d[0, 3, 3] = np.nan
    d[1, 5, 5] = -1.0
    d[2] = 0.0
    path = _write_bad(tmp_path, raw, diff3d=d)
    assert main(["inspect", str(path), "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "with NaN: 1" in captured.out and "with negative values: 1" in captured.out
    assert "all-zero: 1" in captured.out
    assert "diff3d" in captured.err
    h = pattern_health(d)
    assert (h["nan_patterns"], h["negative_patterns"], h["zero_patterns"]) == (1, 1, 1)


def test_missing_key_names_it(dataset, tmp_path, capsys):
    _, raw = dataset
    path = _write_bad(tmp_path, raw, probeGuess=None)
    assert main(["inspect", str(path), "--out", str(tmp_path)]) == 2
    assert "probeGuess" in capsys.readouterr().err


def test_unreadable_file_is_an_input_error(tmp_path, capsys):
    bogus = tmp_path / "x.npz"
    bogus.write_text("not a zip")
    assert main(["inspect", str(bogus)]) == 2
    assert main(["inspect", str(tmp_path / "missing.npz")]) == 2
