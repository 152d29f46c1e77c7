"""ptycho.oracle.ptylab_data: a RawData in PtyLab's terms, and its typed errors (no PtyLab needed
here; tests/ptycho/test_oracle_epie.py runs PtyLab itself)."""
import dataclasses
import sys

import numpy as np
import pytest

from ptycho.errors import ConfigError, DataContractError
from ptycho.oracle import Geometry, OracleUnavailableError, require_ptylab, to_ptylab
from ptycho.probe import ideal_probe, normalize_probe, probe_mask
from ptycho.simulate import simulate_dataset

N = 32


@pytest.fixture(scope="module")
def raw():
    """16 whole-pixel patterns of a 48 x 56 random complex object, ideal probe, mask on."""
    rng = np.random.default_rng(0)
    obj = (1 + rng.random((48, 56))) * np.exp(1j * rng.random((48, 56)))
    x = rng.integers(16, 40, 16).astype(np.float64)    # columns, N/2 <= x <= W - N/2
    y = rng.integers(16, 32, 16).astype(np.float64)    # rows, N/2 <= y <= H - N/2
    P = normalize_probe(ideal_probe(N), 10.0)
    return simulate_dataset(obj, P, x, y, nphotons=1e6, seed=3, mask=probe_mask(N))


def test_counts_probe_positions_and_frame(raw, tol):
    mask = probe_mask(N)
    d = to_ptylab(raw, mask=mask)
    s = raw.metadata["s_sim"]
    assert d.scale == s and d.object_shape == (48, 56) and d.M == 16 and d.N == N
    counts = np.square(s * np.asarray(raw.diff3d, np.float64))
    np.testing.assert_allclose(d.ptychogram, counts, rtol=tol("formats.counts"))
    # counts are integers (Poisson draws) up to float32 storage of diff3d
    np.testing.assert_allclose(d.ptychogram, np.round(counts), rtol=tol("simulate.integer_counts"),
                               atol=0)
    np.testing.assert_array_equal(d.probe, (s * raw.probeGuess.astype(np.complex128) * mask)
                                  .astype(np.complex64))
    # PtyLab's top-left of each patch on its canvas = our patch's top-left (y - N/2, x - N/2)
    # moved by the canvas origin; the canvas holds every patch and the object frame
    top = d.top_left()
    np.testing.assert_array_equal(top[:, 0], raw.ycoords - N // 2 - d.origin[0])
    np.testing.assert_array_equal(top[:, 1], raw.xcoords - N // 2 - d.origin[1])
    assert top.min() >= 0 and top.max() + N <= d.No and d.No % 2 == 0
    assert d.No >= max(48 - d.origin[0], 56 - d.origin[1])
    canvas = np.zeros((d.No, d.No), np.complex128)
    canvas[-d.origin[0]:-d.origin[0] + 48, -d.origin[1]:-d.origin[1] + 56] = raw.objectGuess
    np.testing.assert_array_equal(d.to_object_frame(canvas), raw.objectGuess)
    # encoder in metres about the canvas centre, object pixel dxo = wavelength z / (N dxd)
    g = Geometry()
    assert d.dxo == pytest.approx(g.wavelength_m * g.distance_m / (N * g.pixel_m),
                                  rel=tol("arithmetic.float64_ulp"))
    np.testing.assert_allclose(d.encoder, (top - d.No // 2 + N // 2) * d.dxo,
                               rtol=tol("formats.positions"))


def test_patches_beyond_the_object_widen_the_canvas(raw):
    near = dataclasses.replace(raw, xcoords=np.where(np.arange(16) == 0, 2.0, raw.xcoords),
                               ycoords=np.where(np.arange(16) == 1, 50.0, raw.ycoords))
    d = to_ptylab(near)
    assert d.origin == (0, 2 - N // 2)
    top = d.top_left()
    assert top.min() >= 0 and top.max() + N <= d.No
    assert d.to_object_frame(np.zeros((d.No, d.No))).shape == (48, 56)


def test_scale_defaults_and_override(raw, tol):
    assert to_ptylab(raw, scale=2.0).scale == 2.0
    bare = dataclasses.replace(raw, metadata={})
    assert to_ptylab(bare).scale == 1.0                      # diff3d already sqrt(counts)
    dosed = dataclasses.replace(raw, metadata={"nphotons": 1e6})
    E = float(np.mean(np.sum(np.square(np.asarray(raw.diff3d, np.float64)), axis=(1, 2))))
    assert to_ptylab(dosed).scale == pytest.approx(np.sqrt(1e6 / E), rel=tol("scaling.invariance"))
    with pytest.raises(ConfigError) as err:
        to_ptylab(raw, scale=-1.0)
    assert err.value.field == "scale"


@pytest.mark.parametrize("key", ["xcoords", "ycoords"])
def test_positions_must_be_whole_pixels(raw, key):
    bad = dataclasses.replace(raw, **{key: getattr(raw, key) + np.where(np.arange(16) == 5, 0.5, 0)})
    with pytest.raises(DataContractError) as err:
        to_ptylab(bad)
    assert err.value.key == key and "index 5" in str(err.value) and "whole" in str(err.value)


def test_probe_of_the_wrong_size(raw):
    bad = dataclasses.replace(raw, probeGuess=np.ones((N // 2, N // 2), np.complex64))
    with pytest.raises(DataContractError) as err:
        to_ptylab(bad)
    assert err.value.key == "probeGuess" and f"({N}, {N})" in str(err.value)
    with pytest.raises(ConfigError) as err:
        to_ptylab(raw, mask=np.ones((N, N + 2)))
    assert err.value.field == "mask"


@pytest.mark.parametrize("value, problem", [(np.nan, "NaN"), (np.inf, "Inf"), (-1.0, "negative")])
def test_bad_counts_name_diff3d(raw, value, problem):
    diff = np.array(raw.diff3d, copy=True)
    diff[3, 4, 5] = value
    with pytest.raises(DataContractError) as err:
        to_ptylab(dataclasses.replace(raw, diff3d=diff))
    assert err.value.key == "diff3d" and problem in str(err.value)


def test_geometry_names_the_bad_field():
    with pytest.raises(ConfigError) as err:
        Geometry(distance_m=0.0)
    assert err.value.field == "distance_m"
    with pytest.raises(ConfigError) as err:
        Geometry(wavelength_m=float("nan"))
    assert err.value.field == "wavelength_m"


def test_missing_ptylab_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "PtyLab", None)        # import PtyLab -> ImportError
    with pytest.raises(OracleUnavailableError, match=r"'oracle' extra") as err:
        require_ptylab()
    assert isinstance(err.value, ImportError)
