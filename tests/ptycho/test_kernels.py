"""`ptycho.kernels`: the fused lane order, numba and numpy giving the same bits, and the fused
reducers (method "fused") of ptycho.scaling / parity.telemetry against exact references."""
import importlib.util
import math

import numpy as np
import pytest

from parity.records import first_difference
from parity.telemetry import array_stats
from ptycho import kernels, reducers, scaling

L = kernels.LANES
ROW = reducers.ROW_ELEMENTS
needs_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                                 reason="numba is not installed")


@pytest.fixture
def numpy_only(monkeypatch):
    """Run the fused reducers on the numpy implementation (as without numba)."""
    monkeypatch.setattr(kernels, "USE_NUMBA", False)


def _values(rng, n, dtype):
    """Values with signs, zeros (both signs) and ~12 decades of magnitude."""
    x = rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 6, n)
    x[::97] = 0.0
    x[5::101] = -0.0
    return x.astype(dtype)


def _fsum_energy(X, patterns):
    return math.fsum((np.asarray(X, dtype=np.float64).ravel() ** 2).tolist()) / patterns


# ------------------------------------------------------------------------- the order itself
def test_numpy_order_is_the_documented_lane_order():
    """lane_sums == a plain loop: value j to lane j % LANES from 0.0, lanes folded in halves."""
    rng = np.random.default_rng(1)
    a = _values(rng, 3 * 256 + 77, np.float64)
    row = 256
    for square in (True, False):
        expected = []
        for start in range(0, a.size, row):
            lanes = [0.0] * L
            for j, v in enumerate(a[start:start + row]):
                lanes[j % L] += v * v if square else v
            h = L // 2
            while h >= 1:
                lanes = [lanes[i] + lanes[i + h] for i in range(h)]
                h //= 2
            expected.append(lanes[0])
        got = kernels.lane_sums(a, row, square)
        assert got.tolist() == expected


def test_fold_lanes_and_padding_are_exact():
    a = np.arange(1, 2 * L + 5, dtype=np.float64)
    # a short last row: zeros after its values change nothing
    assert kernels.lane_sums(a, 2 * L, square=False).tolist() == [
        float(sum(range(1, 2 * L + 1))), float(sum(range(2 * L + 1, 2 * L + 5)))]
    # a row length that is no multiple of LANES is padded per row
    assert kernels.lane_sums(np.ones(3 * 7), 7, square=True).tolist() == [7.0, 7.0, 7.0]


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_and_numpy_kernels_give_the_same_bits(dtype):
    rng = np.random.default_rng(2)
    chunk, rows = 4 * ROW, 4
    x = _values(rng, 6 * chunk, dtype)
    x3 = x.reshape(-1, ROW // L, L)
    buf = np.empty(chunk)
    out_nb, out_np = np.empty(x3.shape[0]), np.empty(x3.shape[0])
    kernels.sumsq_rows(x3, out_nb)
    kernels._np_sumsq_rows(x3, out_np, buf)
    assert kernels.numba_kernels(), "numba kernels did not compile"
    np.testing.assert_array_equal(out_nb, out_np)
    x4 = x.reshape(-1, rows, ROW // L, L)
    res = [tuple(np.empty(s) for s in ((6, rows), (6, rows), 6, 6)) for _ in range(2)]
    kernels.stats_chunks(x4, *res[0], buf)
    kernels._np_stats_chunks(x4, *res[1], buf)
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)
    # and the uncompiled source of the numba kernel is the same order again (small input)
    small = np.empty(2)
    kernels.lane_sumsq_rows(x3[:2], small)
    np.testing.assert_array_equal(small, out_np[:2])


# ------------------------------------------------------------------------- fused reducers
@pytest.mark.parametrize("impl", ["numba", "numpy"])
def test_fused_energy_is_exact_and_cut_independent(request, impl, tol):
    if impl == "numpy":
        request.getfixturevalue("numpy_only")
    elif importlib.util.find_spec("numba") is None:
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(3)
    X = (rng.random((41, 64, 64, 3), dtype=np.float32) * 100) ** 2
    ref = _fsum_energy(X, 41 * 3)
    E = scaling.mean_pattern_energy(X, method="fused")
    assert E == pytest.approx(ref, rel=tol("scaling.fsum"))
    for threads in (1, 2, 3):
        for chunk in (ROW, 3 * ROW + 5, scaling.CHUNK_ELEMENTS, 10**7):
            assert scaling.mean_pattern_energy(X, method="fused", threads=threads,
                                               chunk_elements=chunk) == E, (threads, chunk)
    cuts = [0, 1, 2, 7, 20, 33, 41]
    pieces = [X[a:b] for a, b in zip(cuts, cuts[1:])]
    assert scaling.mean_pattern_energy(iter(pieces), method="fused") == E
    assert scaling.mean_pattern_energy(np.asfortranarray(X), method="fused") == E
    assert scaling.mean_pattern_energy(X.astype(np.float64), method="fused") == E
    assert scaling.mean_pattern_energy(X.astype(">f4"), method="fused") == E


@needs_numba
def test_fused_energy_numba_equals_numpy_fallback(monkeypatch):
    X = np.random.default_rng(4).random((77, 64, 64, 2), dtype=np.float32) * 7
    fast = scaling.mean_pattern_energy(X, method="fused")
    monkeypatch.setattr(kernels, "USE_NUMBA", False)
    assert scaling.mean_pattern_energy(X, method="fused") == fast


def _awkward(rng):
    x = (rng.random((90, 64, 64, 2)) * 5).astype(np.float32)
    x[3, 7, 1, 0], x[40, 0, 0, 1], x[77, 10, 3, 0] = np.nan, np.inf, -np.inf
    x[60] = 1e4 + rng.random((64, 64, 2)).astype(np.float32)  # low-spread chunks: two-pass M2
    return x


@needs_numba
def test_fused_array_stats_numba_equals_numpy_fallback(monkeypatch, tol):
    x = _awkward(np.random.default_rng(5))
    fast = array_stats(x, method="fused")
    assert fast["nan"] == 1 and fast["inf"] == 2
    for threads in (1, 3):
        assert first_difference(fast, array_stats(x, method="fused", threads=threads)) is None
    monkeypatch.setattr(kernels, "USE_NUMBA", False)
    assert first_difference(fast, array_stats(x, method="fused")) is None
    blas = array_stats(x, method="blas")
    for k in ("min", "max", "mean", "std", "sum_sq", "mean_sum_xy_sq"):
        assert fast[k] == pytest.approx(blas[k], rel=tol("parity.telemetry.stats")), k
    assert (fast["nan"], fast["inf"], fast["shape"]) == (blas["nan"], blas["inf"], blas["shape"])


def test_fused_array_stats_match_an_exact_reference(numpy_only, tol):
    x = (np.random.default_rng(6).random((9, 128, 128)) * 3).astype(np.float32)
    st = array_stats(x, method="fused")
    a = x.astype(np.float64).ravel()
    sum_sq = math.fsum((a * a).tolist())
    assert st["sum_sq"] == pytest.approx(sum_sq, rel=tol("scaling.fsum"))
    assert st["mean"] == pytest.approx(math.fsum(a.tolist()) / a.size, rel=tol("scaling.fsum"))
    assert st["mean_sum_xy_sq"] == scaling.mean_pattern_energy(x, method="fused")
    assert (st["min"], st["max"]) == (float(x.min()), float(x.max()))
    assert first_difference(st, array_stats(x[:, ::-1][:, ::-1], method="fused")) is None


def test_auto_switches_by_size_only(monkeypatch):
    """'auto' is 'blas' below FUSED_MIN_ELEMENTS values and 'fused' from there, for arrays and
    for iterables alike (an iterable keeps both partials until the threshold is passed)."""
    X = np.random.default_rng(7).random((20, 64, 64), dtype=np.float32)
    blas = scaling.mean_pattern_energy(X, method="blas")
    fused = scaling.mean_pattern_energy(X, method="fused")
    assert blas != fused  # two different (both exact-partial) orders on this data
    chunks = [X[:3], X[3:11], X[11:]]
    monkeypatch.setattr(reducers, "FUSED_MIN_ELEMENTS", X.size + 1)
    assert scaling.mean_pattern_energy(X) == scaling.mean_pattern_energy(iter(chunks)) == blas
    assert array_stats(X)["sum_sq"] == array_stats(X, method="blas")["sum_sq"]
    monkeypatch.setattr(reducers, "FUSED_MIN_ELEMENTS", X.size)
    assert scaling.mean_pattern_energy(X) == scaling.mean_pattern_energy(iter(chunks)) == fused
    assert array_stats(X)["sum_sq"] == array_stats(X, method="fused")["sum_sq"]
    monkeypatch.setattr(reducers, "FUSED_MIN_ELEMENTS", 5 * 64 * 64)  # passed inside chunk 2
    assert scaling.mean_pattern_energy(iter(chunks)) == fused


def test_bad_method_is_a_config_error():
    from ptycho.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        scaling.mean_pattern_energy(np.ones((1, 16, 16)), method="fast")
    assert err.value.field == "method"
