"""ptycho.ptylab_h5: PtyLab's HDF5 layout both ways. Our writer's file round-trips through our
reader, loads in PtyLab itself (same intensities, energies and patch placement) and PtyLab's
ePIE reconstructs the object from it; a file written in PtyLab's documented layout by hand
loads in ours with the E, intensity scale and positions PtyLab sees; every bad field is named.
"""
import json

import h5py
import numpy as np
import pytest

from ptycho.errors import DataContractError
from ptycho.formats import open_dataset
from ptycho.frames import FrameArray
from ptycho.objects import lines_object
from ptycho.probe import experimental_probe_path, load_probe, normalize_probe
from ptycho.ptylab_h5 import METADATA_FIELD, object_pixel_m, read_ptylab, write_ptylab
from ptycho.raw_data import RawData
from ptycho.scaling import mean_pattern_energy, scale_from_energy
from ptycho.simulate import random_scan, simulate_dataset
from tests.conftest import ledger_tolerance

GEOMETRY = dict(wavelength_m=1.2398e-10, zo_m=2.0, dxd_m=75e-6)
M, N = 10, 32


@pytest.fixture(scope="module")
def raw():
    rng = np.random.default_rng(5)
    probe = (rng.standard_normal((N, N)) + 1j * rng.standard_normal((N, N))).astype(np.complex64)
    return RawData.from_arrays(rng.uniform(10, 90, M), rng.uniform(20, 70, M),
                               rng.uniform(0, 2, (M, N, N)).astype(np.float32), probe,
                               metadata={"nphotons": 1e5})


@pytest.fixture
def h5(tmp_path, raw):
    return write_ptylab(tmp_path / "scan.h5", raw, scale=7.5, **GEOMETRY)


def _edit(path, fn):
    with h5py.File(path, "a") as f:
        fn(f)
    return path


def _error(path):
    with pytest.raises(DataContractError) as info:
        read_ptylab(path)
    return info.value


# ------------------------------------------------------------------ our writer, our reader
def test_round_trip_positions_amplitudes_probe(h5, raw, tol):
    back = read_ptylab(h5)
    assert isinstance(back.diff3d, FrameArray) and back.diff3d.dtype == np.float32
    np.testing.assert_allclose(back.xcoords, raw.xcoords, rtol=0, atol=tol("formats.positions_px"))
    np.testing.assert_allclose(back.ycoords, raw.ycoords, rtol=0, atol=tol("formats.positions_px"))
    np.testing.assert_allclose(np.asarray(back.diff3d), 7.5 * raw.diff3d, rtol=tol("formats.amplitude"),
                               atol=tol("formats.amplitude_floor"))
    np.testing.assert_allclose(back.probeGuess, 7.5 * raw.probeGuess, rtol=tol("formats.probe"))
    assert back.metadata["nphotons"] == 1e5 and back.metadata["ptylab_scale"] == 7.5
    assert back.metadata["amplitude_units"] == "sqrt_counts"
    src = back.metadata["source"]
    assert src["format"] == "ptylab" and src["orientation"] == 0
    assert src["object_pixel_m"] == pytest.approx(1.2398e-10 * 2.0 / (N * 75e-6),
                                                rel=tol("formats.positions"))
    E = mean_pattern_energy(back.diff3d)
    assert E == pytest.approx(7.5 ** 2 * mean_pattern_energy(raw.diff3d), rel=tol("formats.energy"))
    back.close()


def test_written_fields_are_ptylabs(h5, raw, tol):
    """Intensities in counts, encoder (M, 2) in metres (row, col) about a whole-pixel centre."""
    with h5py.File(h5, "r") as f:
        assert set(f) >= {"ptychogram", "encoder", "wavelength", "zo", "dxd"}
        counts = f["ptychogram"][()]
        encoder = f["encoder"][()]
        offset = json.loads(f[METADATA_FIELD][()])["position_offset_px"]
    np.testing.assert_allclose(counts, (7.5 * raw.diff3d.astype(np.float64)) ** 2,
                               rtol=tol("formats.counts"))
    dxo = object_pixel_m(GEOMETRY["wavelength_m"], GEOMETRY["zo_m"], GEOMETRY["dxd_m"], N)
    assert encoder.shape == (M, 2)
    np.testing.assert_allclose(encoder[:, 0] / dxo + offset[0], raw.ycoords, rtol=0,
                               atol=tol("formats.positions_px"))
    np.testing.assert_allclose(encoder[:, 1] / dxo + offset[1], raw.xcoords, rtol=0,
                               atol=tol("formats.positions_px"))
    assert offset == [float(np.round(offset[0])), float(np.round(offset[1]))]


def test_recognized_by_content(tmp_path, h5):
    renamed = tmp_path / "scan.dat"
    h5.rename(renamed)
    back = open_dataset(renamed)
    assert back.metadata["source"]["format"] == "ptylab" and back.M == M
    back.close()


def test_orientation_is_applied_to_the_frames(h5, raw, tol):
    """Orientation 5 (PtyLab/ptypy): transpose the frames, then flip the columns."""
    _edit(h5, lambda f: f.create_dataset("orientation", data=5))
    back = read_ptylab(h5)
    expected = np.flip(np.transpose(7.5 * raw.diff3d, (0, 2, 1)), axis=-1)
    np.testing.assert_allclose(np.asarray(back.diff3d), expected, rtol=tol("formats.amplitude"),
                               atol=tol("formats.amplitude_floor"))
    back.close()


# ------------------------------------------------------------------ bad fields are named
@pytest.mark.parametrize("field", ["ptychogram", "encoder", "wavelength", "zo", "dxd"])
def test_missing_required_field(h5, field):
    _edit(h5, lambda f: f.__delitem__(field))
    fn = read_ptylab if field in ("ptychogram", "encoder") else open_dataset
    with pytest.raises(DataContractError) as info:
        fn(h5)
    if field in ("ptychogram", "encoder"):
        assert info.value.key == field
    else:
        assert info.value.key == field and "missing" in info.value.problem


@pytest.mark.parametrize("field, value, word", [
    ("zo", -2.0, "> 0"), ("dxd", np.nan, "> 0"), ("wavelength", [1e-10, 2e-10], "one real"),
    ("encoder", np.zeros((M, 3)), "(M, 2)"), ("encoder", np.full((M, 2), np.nan), "NaN"),
    ("orientation", 9, "0-7"), (METADATA_FIELD, "{not json", "JSON"),
    ("probe", np.ones((N, N + 2), np.complex64), "!= frames' shape"),
])
def test_bad_field_is_named(h5, field, value, word):
    def replace(f):
        if field in f:
            del f[field]
        f.create_dataset(field, data=value)
    err = _error(_edit(h5, replace))
    assert err.key == field and word in err.problem


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (-4.0, "negative")])
def test_bad_counts_name_the_ptychogram(h5, value, word):
    def poison(f):
        f["ptychogram"][3, 5, 7] = value
    err = _error(_edit(h5, poison))
    assert err.key == "ptychogram" and word.lower() in err.problem.lower()


def test_frames_must_be_a_square_stack(tmp_path, raw):
    path = write_ptylab(tmp_path / "s.h5", raw, scale=1.0, **GEOMETRY)
    _edit(path, lambda f: (f.__delitem__("ptychogram"),
                           f.create_dataset("ptychogram", data=np.ones((M, N, N + 2)))))
    err = _error(path)
    assert err.key == "ptychogram" and "square" in err.problem


def test_writer_names_bad_geometry(tmp_path, raw):
    with pytest.raises(DataContractError) as info:
        write_ptylab(tmp_path / "s.h5", raw, scale=1.0, **{**GEOMETRY, "zo_m": 0.0})
    assert info.value.key == "zo_m"


# ------------------------------------------------------------------ with PtyLab itself
@pytest.fixture(scope="module")
def simulated():
    """Lines object (96 px), the experimental probe (64 px, scale 4), 120 whole-pixel
    positions, 1e9 photons: the data, the simulation scale s_sim and the truth."""
    obj = lines_object(96, seed=2)
    probe = normalize_probe(load_probe(experimental_probe_path()), 4.0)
    x, y = random_scan(obj.shape, 120, buffer=32, seed=2)
    return simulate_dataset(obj, probe, np.round(x), np.round(y), nphotons=1e9, seed=2)


def _ptylab():
    return pytest.importorskip("PtyLab", reason="PtyLab is not installed: the interop tests "
                                                "need the 'oracle' extra (the 'test' extra "
                                                "includes it)")


def _ptylab_view(path):
    """(ExperimentalData loaded by PtyLab, patch centres (row, col) PtyLab places relative to
    its canvas centre, its Reconstruction) of a PtyLab-layout file."""
    _ptylab()
    from PtyLab import ExperimentalData, Params, Reconstruction

    from ptycho.oracle.epie import silenced

    with silenced():
        exp = ExperimentalData(path, "CPM")
        params = Params()
        params.fftshiftSwitch = False
        params.propagatorType = "Fraunhofer"
        rec = Reconstruction(exp, params)
        rec.initializeObjectProbe()
    centres = np.asarray(rec.positions) + rec.Np // 2 - rec.No // 2
    return exp, centres, rec


def test_our_file_loads_in_ptylab_and_reconstructs(tmp_path, simulated, tol):
    from ptycho.oracle.agreement import evaluate_object
    from ptycho.oracle.epie import EpieSettings, run_experiment

    s = float(simulated.metadata["s_sim"])
    path = write_ptylab(tmp_path / "ours.h5", simulated, scale=s, **GEOMETRY)
    ours = read_ptylab(path)
    exp, centres, _ = _ptylab_view(path)
    np.testing.assert_array_equal(exp.ptychogram, h5py.File(path, "r")["ptychogram"][()])
    assert float(np.mean(exp.energyAtPos)) == pytest.approx(mean_pattern_energy(ours.diff3d),
                                                            rel=tol("formats.energy"))
    offset = ours.metadata["position_offset_px"]
    np.testing.assert_array_equal(centres[:, 0] + offset[0], simulated.ycoords)
    np.testing.assert_array_equal(centres[:, 1] + offset[1], simulated.xcoords)
    # PtyLab's ePIE on the file as PtyLab loaded it, probe held at the file's
    rec, _ = run_experiment(exp, np.asarray(h5py.File(path, "r")["probe"][()]),
                            EpieSettings(iterations=15, seed=2, beta_object=0.5))
    canvas = np.asarray(rec.object)[0, 0, 0, 0]
    H, W = simulated.objectGuess.shape
    r0, c0 = rec.No // 2 - int(offset[0]), rec.No // 2 - int(offset[1])
    report = evaluate_object(simulated, canvas[r0:r0 + H, c0:c0 + W])
    r_min = 1.0 - ledger_tolerance("parity.invariants.engine_agrees_one_minus_r")
    factor = ledger_tolerance("parity.invariants.engine_agrees_error_factor")
    amp = report.amplitude
    assert amp["pearson"]["model"] >= r_min
    assert amp["rel_rmse_scaled"]["model"] <= factor * amp["rel_rmse_scaled"]["baseline"]
    ours.close()


def _theirs(tmp_path, simulated):
    """(path, counts, centre): `simulated` written by hand in PtyLab's documented layout
    (required fields only, float64 counts, encoder in metres about the pixel `centre`)."""
    s = float(simulated.metadata["s_sim"])
    counts = (s * simulated.diff3d.astype(np.float64)) ** 2
    dxo = object_pixel_m(GEOMETRY["wavelength_m"], GEOMETRY["zo_m"], GEOMETRY["dxd_m"], 64)
    centre = np.array([56.0, 40.0])
    encoder = (np.stack([simulated.ycoords, simulated.xcoords], 1) - centre) * dxo
    path = tmp_path / "theirs.h5"
    with h5py.File(path, "w") as f:
        f["ptychogram"] = counts
        f["encoder"] = encoder
        f["wavelength"] = GEOMETRY["wavelength_m"]
        f["zo"] = GEOMETRY["zo_m"]
        f["dxd"] = GEOMETRY["dxd_m"]
    return path, counts, centre


def test_ptylab_layout_loads_with_the_same_energy_scale_and_positions(tmp_path, simulated, tol):
    """Our reader on PtyLab's layout: E = the mean total counts, hence the simulation's
    intensity scale s, and the positions about the stated centre."""
    path, counts, centre = _theirs(tmp_path, simulated)
    ours = open_dataset(path)
    assert ours.metadata["probe_source"].startswith("ideal_probe")
    E = mean_pattern_energy(ours.diff3d)
    assert E == pytest.approx(float(np.mean(counts.sum(axis=(1, 2)))), rel=tol("formats.energy"))
    s = float(simulated.metadata["s_sim"])
    expected = scale_from_energy(s ** 2 * mean_pattern_energy(simulated.diff3d), 1e9, 64)
    assert scale_from_energy(E, 1e9, 64).value == pytest.approx(expected.value, rel=tol("formats.energy"))
    np.testing.assert_allclose(ours.ycoords, simulated.ycoords - centre[0], rtol=0,
                               atol=tol("formats.positions_px"))
    np.testing.assert_allclose(ours.xcoords, simulated.xcoords - centre[1], rtol=0,
                               atol=tol("formats.positions_px"))
    ours.close()


def test_ptylab_and_we_see_the_same_energy_and_positions(tmp_path, simulated, tol):
    """PtyLab's own loader on the same file: its energyAtPos averages to our E and it centres
    the patches where our positions say."""
    path, _, _ = _theirs(tmp_path, simulated)
    ours = open_dataset(path)
    exp, centres, _ = _ptylab_view(path)
    assert float(np.mean(exp.energyAtPos)) == pytest.approx(mean_pattern_energy(ours.diff3d),
                                                            rel=tol("formats.energy"))
    np.testing.assert_array_equal(centres[:, 0], np.round(ours.ycoords))
    np.testing.assert_array_equal(centres[:, 1], np.round(ours.xcoords))
    ours.close()
