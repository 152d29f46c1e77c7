"""Reducers on dask arrays (issue 11 item 3): the same bits as the in-memory path for any
chunking, on the threaded scheduler and on a dask.distributed LocalCluster on loopback."""
import math

import numpy as np
import pytest

from parity.records import first_difference
from parity.telemetry import array_stats
from ptycho import reducers, scaling

da = pytest.importorskip("dask.array", reason="dask is not installed: the 'distributed' extra "
                         "(pip install -e '.[distributed]') runs these tests")
DISTRIBUTED_REASON = ("dask.distributed is not installed: the 'distributed' extra "
                      "(pip install -e '.[distributed]')")
N = 64


@pytest.fixture(scope="module")
def X():
    """(37, 64, 64, 3) float32 amplitudes: 454656 values, no multiple of a chunk or a row."""
    rng = np.random.default_rng(11)
    x = (rng.random((37, N, N, 3)) * 30).astype(np.float32)
    x[5, 1:3] *= 1e3
    return x


#: odd chunkings: along the patterns only, split patterns, split everything, one block
CHUNKINGS = [(7, N, N, 3), (5, 33, N, 2), (3, 17, 40, 1), (37, N, N, 3), (36, N, N, 3)]


def _both_methods(monkeypatch, method):
    if method == "fused":  # the size threshold moved below this array: auto -> fused
        monkeypatch.setattr(reducers, "FUSED_MIN_ELEMENTS", 1)


@pytest.mark.parametrize("method", ["blas", "fused"])
@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_dask_energy_and_scales_are_bit_identical(monkeypatch, X, chunks, method):
    _both_methods(monkeypatch, method)
    d = da.from_array(X, chunks=chunks)
    E = scaling.mean_pattern_energy(X)
    assert scaling.mean_pattern_energy(d) == E
    assert scaling.normalization_gain(d, N) == scaling.normalization_gain(X, N)
    assert scaling.dataset_scale(d, 1e9, N) == scaling.dataset_scale(X, 1e9, N)
    # channels first, a dask-side transpose: same values in another C order -> same as numpy's
    dt = d.transpose(0, 3, 1, 2)
    assert scaling.mean_pattern_energy(dt, channel_axis=1) == scaling.mean_pattern_energy(
        np.transpose(X, (0, 3, 1, 2)), channel_axis=1)


@pytest.mark.parametrize("method", ["blas", "fused"])
@pytest.mark.parametrize("chunks", CHUNKINGS[:3])
def test_dask_array_stats_are_bit_identical(monkeypatch, X, chunks, method):
    _both_methods(monkeypatch, method)
    x = X.copy()
    x[2, 3, 4, 0], x[30, 0, 0, 2] = np.nan, -np.inf
    ref = array_stats(x)
    assert first_difference(ref, array_stats(da.from_array(x, chunks=chunks))) is None
    c = (x[..., 0] + 1j * x[..., 1]).astype(np.complex64)
    assert first_difference(array_stats(c), array_stats(da.from_array(c, chunks=chunks[:3]))) is None


def test_dask_checks_like_numpy(X):
    from ptycho.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        scaling.dataset_scale(da.from_array(X, chunks=(8, N, N, 3)), 1e9, 32)
    assert err.value.field == "N"
    with pytest.raises(ConfigError) as err:
        scaling.mean_pattern_energy(da.zeros((2, N, N), dtype=np.complex64))
    assert err.value.field == "X"


def test_zarr_backed_dask_array(tmp_path, X):
    zarr = pytest.importorskip("zarr", reason="zarr is not installed: the 'distributed' extra "
                               "(pip install -e '.[distributed]')")
    z = zarr.open_array(str(tmp_path / "x.zarr"), mode="w", shape=X.shape, chunks=(6, N, N, 3),
                        dtype=X.dtype)
    z[:] = X
    d = da.from_zarr(str(tmp_path / "x.zarr"))
    assert scaling.mean_pattern_energy(d) == scaling.mean_pattern_energy(X)
    assert first_difference(array_stats(X), array_stats(d)) is None


def test_exact_reference(X, tol):
    d = da.from_array(X, chunks=(5, 33, N, 2))
    ref = math.fsum((X.astype(np.float64).ravel() ** 2).tolist()) / (37 * 3)
    assert scaling.mean_pattern_energy(d) == pytest.approx(ref, rel=tol("scaling.fsum"))


@pytest.fixture(scope="module")
def threads_client():
    distributed = pytest.importorskip("distributed", reason=DISTRIBUTED_REASON)
    # tcp on loopback (the in-process default, inproc://, takes no host); the scheduler's
    # HTTP routes on a free loopback port (dashboard_address=None would still take :8787)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.mark.parametrize("method", ["blas", "fused"])
def test_local_cluster_in_process_gives_the_same_bits(threads_client, monkeypatch, X, method):
    import distributed

    _both_methods(monkeypatch, method)
    d = da.from_array(X, chunks=(5, 33, N, 2))
    with distributed.get_task_stream(threads_client) as stream:
        energy = scaling.mean_pattern_energy(d)
        stats = array_stats(d)
    assert energy == scaling.mean_pattern_energy(X)
    assert first_difference(array_stats(X), stats) is None
    _ran_on_workers(stream, threads_client)


def _ran_on_workers(stream, client):
    """The blocks were reduced as tasks on the client's workers (dask's task stream).
    Breaker: a reducer that calls np.asarray(d) on the caller, or computes on the local
    threaded scheduler, leaves no task on the cluster."""
    workers = set(client.scheduler_info()["workers"])
    ran = [t for t in stream.data if t.get("worker") in workers]
    assert ran, stream.data


def test_local_cluster_of_processes_gives_the_same_bits(X):
    """Two worker processes on loopback: partials computed in other interpreters (and numba
    compiled there) combine to the same bits."""
    distributed = pytest.importorskip("distributed", reason=DISTRIBUTED_REASON)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster:
        with distributed.Client(cluster) as client:
            d = da.from_array(X, chunks=(7, N, N, 3))
            with distributed.get_task_stream(client) as stream:
                energy = scaling.mean_pattern_energy(d)
            assert energy == scaling.mean_pattern_energy(X)
            _ran_on_workers(stream, client)
            assert scaling.mean_pattern_energy(d, method="fused") == scaling.mean_pattern_energy(
                X, method="fused")
            assert first_difference(array_stats(X, method="fused"),
                                    array_stats(d, method="fused")) is None
