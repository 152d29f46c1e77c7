"""PtychoDataContainer: numpy storage, lazy cached tensors, scale from numpy only."""
import json
import subprocess
import sys

import numpy as np
import pytest

from ptycho.container import PtychoDataContainer
from ptycho.errors import ConfigError
from ptycho.grouping import group
from ptycho.objects import grf_object
from ptycho.raw_data import RawData
from ptycho.scaling import calculate_intensity_scale, dataset_scale, mean_pattern_energy, normalization_gain
from ptycho.simulate import random_scan

N = 16


@pytest.fixture(scope="module")
def grouped():
    rng = np.random.default_rng(0)
    x, y = random_scan((64, 64), 24, buffer=N / 2, seed=4)
    diff = (rng.random((24, N, N), dtype=np.float32) * 3).astype(np.float32)
    probe = np.ones((N, N), dtype=np.complex64)
    raw = RawData.from_arrays(x, y, diff, probe, objectGuess=grf_object(64, seed=2))
    return group(raw, gridsize=2, n_groups=10, neighbor_count=4, strategy="current", seed=3)


@pytest.fixture()
def probe():
    return (np.ones((N, N)) * (1 + 0.5j)).astype(np.complex64)


@pytest.fixture()
def container(grouped, probe):
    return PtychoDataContainer.from_grouped(grouped, probe)


def test_from_grouped_storage(container, grouped, probe):
    assert len(container) == 10 and (container.N, container.C) == (N, 4)
    assert container.X_np.dtype == np.float32 and container.X_np.shape == (10, N, N, 4)
    np.testing.assert_array_equal(container.X_np, grouped.diffraction)
    np.testing.assert_array_equal(container.Y_I_np, np.abs(grouped.Y).astype(np.float32))
    np.testing.assert_array_equal(container.Y_phi_np, np.angle(grouped.Y).astype(np.float32))
    np.testing.assert_array_equal(container.coords_nominal_np, grouped.coords_nominal)
    np.testing.assert_array_equal(container.coords_offsets_np, grouped.coords_offsets)
    np.testing.assert_array_equal(container.nn_indices_np, grouped.nn_indices)
    np.testing.assert_array_equal(container.probe_np, probe)
    assert container.has_ground_truth and container.feed_gain == 1.0
    assert container.cached_tensors == ()


def test_scale_and_statistics_never_fill_the_cache(container, grouped):
    res = calculate_intensity_scale(container, 1e9)
    assert res.source == "dataset"
    assert res.value == dataset_scale(grouped.diffraction, 1e9, N).value
    assert container.pattern_energy() == mean_pattern_energy(grouped.diffraction)
    summary = container.summary()
    json.dumps(summary, allow_nan=False)
    assert summary["tensor_cache_size"] == 0
    assert container.cached_tensors == ()


def test_scale_never_reads_tensor_properties(container):
    """Even a container whose tensor path is broken gives its scale from numpy storage."""

    class NoTensors(PtychoDataContainer):
        def _tensor(self, name):
            raise AssertionError(f"tensor {name} was requested")

    c = NoTensors(container.X_np, None, None, container.coords_nominal_np, container.probe_np)
    assert calculate_intensity_scale(c, 1e6).source == "dataset"


def test_tensor_properties_are_lazy_and_cached_once(container):
    from ptycho.tfload import tf as load_tf

    tf = load_tf()
    X = container.X
    assert container.cached_tensors == ("X",)
    assert container.X is X  # cached: the second access converts nothing
    assert X.dtype == tf.float32 and tuple(X.shape) == container.X_np.shape
    np.testing.assert_array_equal(X.numpy(), container.X_np)
    assert container.probe.dtype == tf.complex64
    assert container.coords_nominal.dtype == tf.float32
    assert container.Y_I.dtype == tf.float32 and container.Y_phi.dtype == tf.float32
    assert sorted(container.cached_tensors) == ["X", "Y_I", "Y_phi", "coords_nominal", "probe"]
    before = {name: getattr(container, name) for name in container.cached_tensors}
    calculate_intensity_scale(container, 1e9)
    assert container.cached_tensors == tuple(before)
    assert all(getattr(container, name) is tensor for name, tensor in before.items())


def test_missing_ground_truth_is_none_and_not_cached(container):
    c = PtychoDataContainer(container.X_np, None, None, container.coords_nominal_np, container.probe_np)
    assert c.Y_I is None and c.Y_phi is None and not c.has_ground_truth
    assert c.cached_tensors == ()


def test_importing_the_data_modules_does_not_import_tensorflow():
    code = ("import sys, ptycho.container, ptycho.scaling, ptycho.grouping; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_feed_gain_is_recorded_and_divided_out(grouped, probe, tol):
    g = normalization_gain(grouped.diffraction, N)
    fed = PtychoDataContainer.from_grouped(grouped, probe, feed_gain=g)
    np.testing.assert_allclose(fed.X_np, grouped.diffraction.astype(np.float64) * g, rtol=tol("scaling.float32_storage"))
    raw_scale = dataset_scale(grouped.diffraction, 1e9, N)
    got = calculate_intensity_scale(fed, 1e9)
    assert got.source == "dataset" and "feed_gain" in got.reason
    assert got.value == pytest.approx(raw_scale.value, rel=tol("scaling.float32_storage"))
    # without the recorded gain the same numbers would give s_cf (scale on normalized data)
    unrecorded = PtychoDataContainer(fed.X_np, None, None, fed.coords_nominal_np, probe)
    assert calculate_intensity_scale(unrecorded, 1e9).value == pytest.approx(
        raw_scale.value / g, rel=tol("scaling.float32_storage"))


def test_summary_states_the_contents(container, grouped):
    """summary() describes the stored arrays (mutation testing found its coordinate extent
    unchecked: `if not len(self)` returned 0.0 for every non-empty container)."""
    summary = container.summary()
    assert (summary["B"], summary["N"], summary["C"]) == (10, N, 4)
    assert summary["X_shape"] == [10, N, N, 4]
    assert summary["has_ground_truth"] is True and summary["feed_gain"] == 1.0
    extent = float(np.abs(np.asarray(grouped.coords_nominal)).max())
    assert extent > 0
    assert summary["max_abs_coords_nominal"] == extent


def test_take_subset(container):
    sub = container.take([1, 3])
    assert len(sub) == 2
    np.testing.assert_array_equal(sub.X_np, container.X_np[[1, 3]])
    np.testing.assert_array_equal(sub.Y_phi_np, container.Y_phi_np[[1, 3]])
    np.testing.assert_array_equal(sub.nn_indices_np, container.nn_indices_np[[1, 3]])
    assert sub.cached_tensors == ()


def test_zero_data_scale_falls_back(container):
    c = PtychoDataContainer(np.zeros_like(container.X_np), None, None, container.coords_nominal_np,
                            container.probe_np)
    res = calculate_intensity_scale(c, 1e9)
    assert res.source == "closed_form" and res.reason


@pytest.mark.parametrize("change, field", [
    ({"X": np.zeros((2, N, N))}, "X"),
    ({"X": np.zeros((2, N, N, 4), dtype=np.complex64)}, "X"),
    ({"Y_I": np.zeros((2, N, N, 1))}, "Y_I"),
    ({"Y_phi": np.zeros((3, N, 8, 4))}, "Y_phi"),
    ({"coords_nominal": np.zeros((3, 1, 2, 1))}, "coords_nominal"),
    ({"coords_nominal": None}, "coords_nominal"),
    ({"probe": np.ones((8, 8))}, "probe"),
    ({"probe": None}, "probe"),
    ({"coords_offsets": np.zeros((3, 1, 2, 4))}, "coords_offsets"),
    ({"nn_indices": np.zeros((3, 2))}, "nn_indices"),
    ({"feed_gain": 0.0}, "feed_gain"),
    ({"feed_gain": float("nan")}, "feed_gain"),
])
def test_bad_container_inputs(change, field):
    args = dict(X=np.ones((3, N, N, 4), np.float32), Y_I=None, Y_phi=None,
                coords_nominal=np.zeros((3, 1, 2, 4)), probe=np.ones((N, N), np.complex64))
    kwargs = {}
    for key, value in change.items():
        (args if key in args else kwargs)[key] = value
    with pytest.raises(ConfigError) as err:
        PtychoDataContainer(args["X"], args["Y_I"], args["Y_phi"], args["coords_nominal"], args["probe"], **kwargs)
    assert err.value.field == field


def test_calculate_intensity_scale_bad_inputs(container):
    with pytest.raises(ConfigError) as err:
        calculate_intensity_scale(container, 0)
    assert err.value.field == "nphotons"
