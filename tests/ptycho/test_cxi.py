"""ptycho.cxi: CXI / NeXus files as lazy RawData; every missing or inconsistent field names its
HDF5 path."""
import json
import math

import h5py
import numpy as np
import pytest

from ptycho.cxi import (PLANCK, SPEED_OF_LIGHT, object_pixel_size, read_cxi,
                        wavelength_from_energy, write_cxi)
from ptycho.errors import DataContractError
from ptycho.frames import FrameArray
from ptycho.probe import ideal_probe
from ptycho.formats import open_dataset
from ptycho.raw_data import RawData
from ptycho.scaling import mean_pattern_energy

M, N = 12, 32
EV = 1.602176634e-19
GEOMETRY = dict(energy_J=8000 * EV, distance_m=2.0, pixel_m=75e-6)
DATA = "/entry_1/data_1/data"
DET = "/entry_1/instrument_1/detector_1"
SRC = "/entry_1/instrument_1/source_1"
TRANSLATION = "/entry_1/sample_1/geometry_1/translation"


@pytest.fixture(scope="module")
def raw():
    rng = np.random.default_rng(3)
    probe = (rng.standard_normal((N, N)) + 1j * rng.standard_normal((N, N))).astype(np.complex64)
    return RawData.from_arrays(rng.uniform(10, 90, M), rng.uniform(10, 90, M),
                               rng.uniform(0, 2, (M, N, N)).astype(np.float32), probe,
                               metadata={"nphotons": 1e5})


@pytest.fixture
def cxi(tmp_path, raw):
    return write_cxi(tmp_path / "scan.cxi", raw, scale=7.5, **GEOMETRY)


def _edit(path, fn):
    with h5py.File(path, "a") as f:
        fn(f)
    return path


def _error(path, **kw):
    with pytest.raises(DataContractError) as info:
        read_cxi(path, **kw)
    return info.value


# ------------------------------------------------------------------ physics of the geometry
def test_wavelength_and_object_pixel(tol):
    assert PLANCK == 6.62607015e-34 and SPEED_OF_LIGHT == 299792458.0
    assert wavelength_from_energy(8000 * EV) == pytest.approx(1.549802e-10,
                                                              rel=tol("formats.seven_digits"))
    dx = object_pixel_size(8000 * EV, 2.0, 75e-6, 64)
    assert dx == pytest.approx(1.549802e-10 * 2.0 / (64 * 75e-6),
                               rel=tol("formats.seven_digits"))


# ------------------------------------------------------------------ round trip
def test_round_trip_positions_amplitudes_probe(cxi, raw, tol):
    back = read_cxi(cxi)
    assert isinstance(back.diff3d, FrameArray) and back.diff3d.dtype == np.float32
    np.testing.assert_allclose(back.xcoords, raw.xcoords, rtol=0, atol=tol("formats.positions_px"))
    np.testing.assert_allclose(back.ycoords, raw.ycoords, rtol=0, atol=tol("formats.positions_px"))
    np.testing.assert_allclose(np.asarray(back.diff3d), 7.5 * raw.diff3d,
                               rtol=tol("formats.amplitude"), atol=tol("formats.amplitude_floor"))
    np.testing.assert_allclose(back.probeGuess, 7.5 * raw.probeGuess, rtol=tol("formats.probe"))
    assert back.metadata["nphotons"] == 1e5 and back.metadata["cxi_scale"] == 7.5
    assert back.metadata["amplitude_units"] == "sqrt_counts"
    src = back.metadata["source"]
    assert src["paths"]["data"] == DATA and src["paths"]["translation"] == TRANSLATION
    assert src["object_pixel_m"] == pytest.approx(object_pixel_size(N=N, **GEOMETRY),
                                                rel=tol("formats.positions"))
    back.close()


def test_energy_is_mean_total_intensity(cxi, raw, tol):
    with h5py.File(cxi, "r") as f:
        intensity = f[DATA][()].astype(np.float64)
        T = f[TRANSLATION][()]
    assert T.shape == (M, 3)
    total = float(np.mean(intensity.sum(axis=(1, 2))))
    E = mean_pattern_energy(read_cxi(cxi).diff3d)
    assert E == pytest.approx(total, rel=tol("formats.energy"))
    assert E == pytest.approx(7.5 ** 2 * mean_pattern_energy(raw.diff3d), rel=tol("formats.energy"))


def test_recognized_by_content(tmp_path, cxi):
    renamed = tmp_path / "scan.dat"
    cxi.rename(renamed)
    back = open_dataset(renamed)
    assert back.metadata["source"]["format"] == "cxi" and back.M == M


def test_translation_sign_and_pynx_layout(cxi, raw, tol):
    flipped = read_cxi(cxi, translation_sign=-1)
    np.testing.assert_allclose(flipped.xcoords, -raw.xcoords, rtol=tol("formats.positions"))
    flipped.close()  # the reader keeps the file open (read-only) until then

    def transpose(f):
        T = f[TRANSLATION][()]
        del f["entry_1/sample_1/geometry_1/translation"]
        f["entry_1/sample_1/geometry_1/translation"] = T.T  # PyNX writes (3, M)
    back = read_cxi(_edit(cxi, transpose))
    np.testing.assert_allclose(back.ycoords, raw.ycoords, rtol=tol("formats.positions"))


def test_translation_from_data_1_when_geometry_missing(cxi, raw, tol):
    def move(f):
        T = f[TRANSLATION][()]
        del f["entry_1/data_1/translation"]
        del f["entry_1/sample_1/geometry_1/translation"]
        f["entry_1/data_1/translation"] = T
    back = read_cxi(_edit(cxi, move))
    assert back.metadata["source"]["paths"]["translation"] == "/entry_1/data_1/translation"
    np.testing.assert_allclose(back.xcoords, raw.xcoords, rtol=tol("formats.positions"))


def test_wavelength_only(cxi, raw, tol):
    back = read_cxi(_edit(cxi, lambda f: f.__delitem__("entry_1/instrument_1/source_1/energy")))
    np.testing.assert_allclose(back.xcoords, raw.xcoords, rtol=tol("formats.positions"))


def test_mask_zeroes_invalid_pixels(tmp_path, raw, tol):
    mask = np.zeros((N, N), np.uint32)
    mask[3, 4] = 1
    mask[N // 2, :] = 0x2
    path = write_cxi(tmp_path / "m.cxi", raw, scale=1.0, mask=mask, **GEOMETRY)
    back = read_cxi(path)
    amp = np.asarray(back.diff3d)
    assert np.all(amp[:, 3, 4] == 0) and np.all(amp[:, N // 2, :] == 0)
    np.testing.assert_allclose(amp[:, 0, 0], raw.diff3d[:, 0, 0], rtol=tol("formats.amplitude"))
    assert back.metadata["source"]["masked_pixels"] == N + 1


def test_missing_probe_falls_back_to_ideal(cxi):
    back = read_cxi(_edit(cxi, lambda f: f.__delitem__(
        "entry_1/instrument_1/source_1/illumination")))
    np.testing.assert_array_equal(back.probeGuess, ideal_probe(N).astype(np.complex64))
    assert back.metadata["probe_source"].startswith("ideal_probe")


def test_probe_modes_take_the_first(cxi, raw, tol):
    def modes(f):
        P = f["entry_1/instrument_1/source_1/illumination"][()]
        del f["entry_1/instrument_1/source_1/illumination"]
        f["entry_1/instrument_1/source_1/illumination"] = np.stack([P, 0 * P])
    np.testing.assert_allclose(read_cxi(_edit(cxi, modes)).probeGuess, 7.5 * raw.probeGuess,
                               rtol=tol("formats.probe"))


def test_integer_counts(tmp_path, raw):
    path = tmp_path / "int.cxi"
    write_cxi(path, raw, scale=30.0, **GEOMETRY)

    def to_int(f):
        counts = np.rint(f[DATA][()]).astype(np.uint32)
        del f["entry_1/instrument_1/detector_1/data"]
        f["entry_1/instrument_1/detector_1/data"] = counts
    back = read_cxi(_edit(path, to_int))
    with h5py.File(path, "r") as f:
        want = np.sqrt(f[DATA][()].astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(back.diff3d), want)


# ------------------------------------------------------------------ errors name the HDF5 path
@pytest.mark.parametrize("field", [
    "entry_1/instrument_1/detector_1/distance",
    "entry_1/instrument_1/detector_1/x_pixel_size",
])
def test_missing_required_scalar(cxi, field):
    err = _error(_edit(cxi, lambda f: f.__delitem__(field)))
    assert err.key == "/" + field and "missing" in err.problem


def test_missing_energy_and_wavelength(cxi):
    def drop(f):
        del f["entry_1/instrument_1/source_1/energy"]
        del f["entry_1/instrument_1/source_1/wavelength"]
    assert _error(_edit(cxi, drop)).key == SRC + "/energy"


def test_missing_data(cxi):
    def drop(f):
        del f["entry_1/data_1/data"]
        del f["entry_1/instrument_1/detector_1/data"]
    assert _error(_edit(cxi, drop)).key == DATA


def test_missing_translation(cxi):
    def drop(f):
        del f["entry_1/data_1/translation"]
        del f["entry_1/sample_1/geometry_1/translation"]
    assert _error(_edit(cxi, drop)).key == TRANSLATION


def test_translation_count_mismatch(cxi):
    def short(f):
        T = f[TRANSLATION][()]
        del f["entry_1/sample_1/geometry_1/translation"]
        f["entry_1/sample_1/geometry_1/translation"] = T[:-1]
    err = _error(_edit(cxi, short))
    assert err.key == TRANSLATION and f"{M - 1} translations for {M} frames" in err.problem


def test_non_finite_translation(cxi):
    def bad(f):
        f[TRANSLATION][0, 0] = np.nan
    assert _error(_edit(cxi, bad)).key == TRANSLATION


def test_non_square_pixels(cxi):
    def bad(f):
        f[DET + "/y_pixel_size"][()] = 80e-6
    err = _error(_edit(cxi, bad))
    assert err.key == DET + "/y_pixel_size" and "non-square" in err.problem


def test_wavelength_disagrees_with_energy(cxi):
    def bad(f):
        f[SRC + "/wavelength"][()] = 2e-10
    assert _error(_edit(cxi, bad)).key == SRC + "/wavelength"


@pytest.mark.parametrize("value", [0.0, -1.0, np.nan])
def test_non_positive_distance(cxi, value):
    def bad(f):
        f[DET + "/distance"][()] = value
    assert _error(_edit(cxi, bad)).key == DET + "/distance"


def test_frames_shape_errors(tmp_path, raw):
    for shape, word in (((M, N, N // 2), "square"), ((M, 24, 24), "power of two"),
                        ((M, N * N), "(M, N, N)")):
        path = write_cxi(tmp_path / "s.cxi", raw, scale=1.0, **GEOMETRY)

        def reshape(f, shape=shape):
            del f["entry_1/instrument_1/detector_1/data"]
            f["entry_1/instrument_1/detector_1/data"] = np.ones(shape, np.float32)
        err = _error(_edit(path, reshape))
        assert err.key == DATA and word in err.problem, (shape, err)


@pytest.mark.parametrize("value,word", [(np.nan, "NaN"), (np.inf, "Inf"), (-4.0, "negative")])
def test_bad_intensities_name_the_data_path(cxi, value, word):
    def bad(f):
        f[DATA][2, 1, 1] = value
    path = _edit(cxi, bad)
    err = _error(path)
    assert err.key == DATA and word in err.problem
    if value < 0:
        clipped = read_cxi(path, clip_negative=True)
        assert clipped.diff3d[2][1, 1] == 0.0


def test_probe_shape_mismatch(cxi):
    def bad(f):
        del f["entry_1/instrument_1/source_1/illumination"]
        f["entry_1/instrument_1/source_1/illumination"] = np.ones((N + 2, N + 2), np.complex64)
    assert _error(_edit(cxi, bad)).key == SRC + "/illumination"


def test_mask_errors(cxi):
    def everything(f):
        f[DET + "/mask"] = np.ones((N, N), np.uint8)
    assert _error(_edit(cxi, everything)).key == DET + "/mask"


def test_metadata_must_be_json(cxi):
    def bad(f):
        del f["entry_1/ptycho_parity/metadata"]
        f["entry_1/ptycho_parity/metadata"] = "{not json"
    assert _error(_edit(cxi, bad)).key == "/entry_1/ptycho_parity/metadata"


def test_metadata_that_is_not_utf8_is_a_typed_error(cxi):
    """Found by the fuzzed-reader property test: bytes that do not decode (a damaged
    attribute) raised UnicodeDecodeError from the reader."""
    def bad(f):
        del f["entry_1/ptycho_parity/metadata"]
        f["entry_1/ptycho_parity/metadata"] = np.bytes_(b'{"a": "\xa2"}')
    err = _error(_edit(cxi, bad))
    assert err.key == "/entry_1/ptycho_parity/metadata" and "UTF-8" in str(err)


def test_not_cxi_hdf5(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["something"] = 1
    with pytest.raises(DataContractError) as info:
        open_dataset(tmp_path / "x.h5")
    assert info.value.key == DATA


def test_nexus_entry_found_by_class(tmp_path, raw):
    path = write_cxi(tmp_path / "n.nxs", raw, scale=1.0, **GEOMETRY)

    def rename(f):
        f.move("entry_1", "scan")
        for link, target in (("data_1/data", "instrument_1/detector_1/data"),
                             ("data_1/translation", "sample_1/geometry_1/translation")):
            del f["scan/" + link]
            f["scan/" + link] = h5py.SoftLink("/scan/" + target)
    back = open_dataset(_edit(path, rename))
    assert back.metadata["source"]["entry"] == "/scan" and back.M == M


def test_write_is_atomic(tmp_path, raw, monkeypatch):
    target = tmp_path / "a.cxi"
    write_cxi(target, raw, scale=1.0, **GEOMETRY)
    before = target.read_bytes()
    bad = raw.__class__(**{**raw.__dict__, "metadata": {"x": math.nan}})
    with pytest.raises(ValueError):
        write_cxi(target, bad, scale=1.0, **GEOMETRY)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.cxi"]
    assert json.loads(h5py.File(target, "r")["entry_1/ptycho_parity/metadata"][()])["cxi_scale"] == 1.0
