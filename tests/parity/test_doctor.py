"""Dataset doctor: contract errors name the key; scale diagnostics without ground truth."""
import gc
import json
import math
import threading
import time
import tracemalloc

import h5py
import numpy as np
import pytest

from parity.commands import main
from parity.doctor import inspect_dataset, pattern_health
from ptycho.config import ModelConfig
from ptycho.cxi import write_cxi
from ptycho.frames import FrameArray
from ptycho.scaling import mean_pattern_energy
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
    # from their definitions, not from the report's own g and rms (breakers: s/s_cf reported
    # as g's inverse; the rms amplitude over the masked probe, or legacy not multiplied by g)
    g = math.sqrt(32 ** 2 / E)
    rms = math.sqrt(E / float(np.sum(np.abs(raw.probeGuess.astype(np.complex128)) ** 2)))
    assert s["s_over_s_cf"] == pytest.approx(g, rel=rtol)
    assert s["implied_rms_amplitude_current"] == pytest.approx(rms, rel=rtol)
    assert s["implied_rms_amplitude_legacy"] == pytest.approx(g * rms, rel=rtol)
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


# ------------------------------------------------------------------ CXI / NeXus and zarr
GEOMETRY = dict(energy_J=8000 * 1.602176634e-19, distance_m=2.0, pixel_m=75e-6)


@pytest.fixture(scope="module")
def cxi_of_dataset(dataset, tmp_path_factory):
    """The doctor dataset as CXI: intensities (s * X_raw)**2 with s = sqrt(nphotons / E),
    translations in metres; the file name does not say what it is."""
    _, raw = dataset
    s = math.sqrt(1e6 / mean_pattern_energy(raw.diff3d))
    path = tmp_path_factory.mktemp("cxi") / "scan.data"
    write_cxi(path, raw, scale=s, **GEOMETRY)
    return path, s


def test_cxi_reports_total_intensity_scale_and_the_npz_canvas(dataset, cxi_of_dataset, tmp_path,
                                                             tol):
    npz_path, _ = dataset
    cxi_path, _ = cxi_of_dataset
    with h5py.File(cxi_path, "r") as f:
        intensity = f["/entry_1/data_1/data"][()].astype(np.float64)
    total = float(np.mean(intensity.sum(axis=(1, 2))))
    rep = inspect_dataset(cxi_path, gridsize=2, out_dir=tmp_path)
    assert rep["format"] == "hdf5" and rep["contract"] == {"ok": True}
    sc = rep["scale"]
    assert sc["E"] == pytest.approx(total, rel=tol("formats.energy"))
    assert sc["E"] == pytest.approx(1e6, rel=tol("formats.energy"))  # = s**2 * E_npz = nphotons
    assert rep["nphotons_source"] == "metadata" and sc["nphotons"] == 1e6
    assert sc["s"] == pytest.approx(math.sqrt(1e6 / sc["E"]), rel=tol("parity.inspect.identity"))
    assert sc["s"] == pytest.approx(1.0, rel=tol("formats.energy"))
    ref = inspect_dataset(npz_path, gridsize=2, out_dir=tmp_path)
    for strategy in ("current", "legacy"):
        assert rep["canvas"][strategy]["canvas"] == ref["canvas"][strategy]["canvas"]
        assert rep["canvas"][strategy]["max_abs_coords_relative"] == pytest.approx(
            ref["canvas"][strategy]["max_abs_coords_relative"],
            rel=tol("parity.inspect.coords_relative"))
    assert rep["source"]["paths"]["data"] == "/entry_1/data_1/data"
    # the implied object amplitude does not depend on the units (the probe is scaled too)
    assert sc["implied_rms_amplitude_current"] == pytest.approx(
        ref["scale"]["implied_rms_amplitude_current"], rel=tol("parity.inspect.units"))


def test_cxi_without_nphotons_uses_measured_counts(dataset, tmp_path):
    _, raw = dataset
    bare = RawData.from_arrays(raw.xcoords, raw.ycoords, raw.diff3d, raw.probeGuess)
    path = write_cxi(tmp_path / "bare.cxi", bare, scale=3.0, **GEOMETRY)
    rep = inspect_dataset(path, out_dir=tmp_path)
    assert rep["nphotons_source"].startswith("measured")
    assert rep["scale"]["nphotons"] == rep["scale"]["E"] and rep["scale"]["s"] == 1.0


def test_cxi_cli_and_errors_name_the_hdf5_path(cxi_of_dataset, tmp_path, capsys):
    path, _ = cxi_of_dataset
    assert main(["inspect", str(path), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "format: hdf5" in out and "object pixel dx" in out and "data contract: ok" in out
    bad = tmp_path / "bad.cxi"
    bad.write_bytes(path.read_bytes())
    with h5py.File(bad, "a") as f:
        f["/entry_1/data_1/data"][0, 0, 0] = np.nan
    assert main(["inspect", str(bad), "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "with NaN: 1" in captured.out and "/entry_1/data_1/data" in captured.err
    with h5py.File(bad, "a") as f:
        del f["/entry_1/data_1/translation"]
        del f["/entry_1/sample_1/geometry_1/translation"]
    assert main(["inspect", str(bad), "--json", "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["contract"]["key"] == "/entry_1/sample_1/geometry_1/translation"


def test_zarr_store_is_inspected(dataset, tmp_path):
    zarr = pytest.importorskip("zarr", reason="zarr not installed (the 'distributed' extra)")
    npz_path, raw = dataset
    store = tmp_path / "scan.zarr"
    group = zarr.open_group(str(store), mode="w")
    for key in ("xcoords", "ycoords", "diff3d", "probeGuess"):
        value = np.asarray(getattr(raw, key))
        chunks = (5,) + value.shape[1:] if key == "diff3d" else value.shape
        if hasattr(group, "create_array"):
            group.create_array(key, data=value, chunks=chunks)
        else:
            group.array(key, value, chunks=chunks)
    group.attrs["metadata"] = json.dumps(raw.metadata)
    rep = inspect_dataset(store, out_dir=tmp_path)
    ref = inspect_dataset(npz_path, out_dir=tmp_path)
    assert rep["format"] == "zarr" and rep["contract"] == {"ok": True}
    assert rep["scale"]["E"] == ref["scale"]["E"] and rep["canvas"] == ref["canvas"]


# ------------------------------------------------------------------ bounded memory
_MIB = 1024 * 1024
_BUDGET = 64 * _MIB


class _SyntheticFrames:
    """A frame source of M patterns of N x N computed on demand (never all in memory):
    pattern i = base * (1 + (i % 13) / 13)."""

    def __init__(self, M, N):
        self.shape = (M, N, N)
        self.dtype = np.dtype(np.float32)
        rng = np.random.default_rng(9)
        self.base = rng.uniform(0.1, 2.0, (N, N)).astype(np.float32)

    def read(self, start, stop):
        f = 1 + (np.arange(start, stop, dtype=np.float32) % 13) / 13
        return self.base[None] * f[:, None, None]


def _peak_rss_during(fn):
    """(result, peak RSS increase in bytes) of fn(), RSS sampled every millisecond."""
    import psutil

    proc = psutil.Process()
    gc.collect()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.001)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        result = fn()
    finally:
        done.set()
        t.join()
    peak[0] = max(peak[0], proc.memory_info().rss)
    return result, peak[0] - base


def test_inspect_of_a_large_npz_stays_within_64_mib(tmp_path):
    """A 256 MiB diff3d (32x the 8 MiB read block): inspect's peak extra memory, by tracemalloc
    and by RSS, stays <= 64 MiB.

    A first, unmeasured run pays the one-time costs that do not depend on the file (imports,
    matplotlib's font cache, any JIT compilation of the reducers); RSS is then measured on a
    run without tracemalloc (whose own bookkeeping would count), and tracemalloc on another.
    """
    pytest.importorskip("psutil", reason="psutil (test extra) measures RSS")
    M, N = 16384, 64
    rng = np.random.default_rng(4)
    big = RawData.from_arrays(rng.uniform(0, 2000, M), rng.uniform(0, 2000, M),
                              FrameArray(_SyntheticFrames(M, N)), np.ones((N, N), np.complex64),
                              metadata={"nphotons": 1e9})
    path = tmp_path / "big.npz"
    big.to_npz(path)
    assert path.stat().st_size > 256 * _MIB

    def run():
        return inspect_dataset(path, out_dir=tmp_path / "out")

    first = run()
    rep, rss = _peak_rss_during(run)
    gc.collect()
    tracemalloc.start()
    try:
        run()
        _, traced = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rep["contract"] == {"ok": True} and rep["health"]["patterns"] == M
    assert rep["scale"]["E"] == first["scale"]["E"]
    print(f"\ninspect of {path.stat().st_size / _MIB:.0f} MiB: tracemalloc peak "
          f"{traced / _MIB:.1f} MiB, RSS growth {rss / _MIB:.1f} MiB")
    assert traced <= _BUDGET, f"tracemalloc peak {traced / _MIB:.1f} MiB"
    assert rss <= _BUDGET, f"RSS grew by {rss / _MIB:.1f} MiB"
    # and the statistics are those of the in-memory computation
    assert rep["scale"]["E"] == mean_pattern_energy(np.load(path)["diff3d"])


@pytest.mark.parametrize("M,gridsize,K,block", [(9, 2, 7, 4), (60, 2, 7, 7), (301, 3, 9, 64),
                                                (301, 2, 7, 10**6), (40, 1, 7, 8)])
def test_blocked_legacy_canvas_equals_grouping(M, gridsize, K, block):
    from parity.doctor import legacy_max_offset
    from ptycho.grouping import group

    rng = np.random.default_rng(M)
    x, y = rng.uniform(0, 300, M), rng.uniform(0, 300, M)
    pos = RawData.from_arrays(x, y, np.ones((M, 16, 16), np.float32), np.ones((16, 16), np.complex64))
    grouped = group(pos, gridsize=gridsize, n_groups=1, neighbor_count=K, strategy="legacy", seed=1)
    want = float(np.max(np.abs(grouped.coords_relative)))
    assert legacy_max_offset(x, y, gridsize=gridsize, neighbor_count=K, seed=1, block=block) == want


def test_canvas_reports_impossible_groupings(dataset, tmp_path):
    path, _ = dataset
    cv = inspect_dataset(path, gridsize=3, out_dir=tmp_path)["canvas"]
    assert "fewer than C" in cv["current"]["error"] and "fewer than C" in cv["legacy"]["error"]


def test_inspect_energy_on_a_dask_cluster_is_bit_identical(dataset, tmp_path):
    """`inspect --scheduler`: E computed by dask.distributed workers over odd blocks of the
    lazily read frames equals the in-process E bit for bit (and so do g and s)."""
    distributed = pytest.importorskip("distributed", reason="needs the distributed extra (dask.distributed)")
    path, _ = dataset
    serial = inspect_dataset(path, out_dir=tmp_path / "serial")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as cluster:
        with distributed.Client(cluster) as client:
            assert main(["inspect", str(path), "--scheduler", cluster.scheduler_address,
                         "--dask-rows", "7", "--out", str(tmp_path / "cli"), "--json"]) == 0
            with distributed.get_task_stream(client) as stream:
                spread = inspect_dataset(path, out_dir=tmp_path / "dask", dask_rows=7)
            assert len(stream.data) >= 4  # 24 frames in blocks of 7: the workers did the sums
    for key in ("E", "g", "s", "s_cf"):
        assert spread["scale"][key] == serial["scale"][key], key
