"""`ptycho.reducers`: striped thread runner and bounded contiguous blocks."""
import threading

import numpy as np
import pytest

from ptycho import reducers, scaling


def _striped_sums(data: np.ndarray, threads: int, min_chunks: int = 1) -> np.ndarray:
    """Per-chunk float64 sums of squares of the rows of `data`, via run_striped."""
    out = np.full(data.shape[0], np.nan)

    def kernel(lo, hi):
        for k in range(lo, hi):
            out[k] = np.dot(data[k], data[k])

    reducers.run_striped(data.shape[0], kernel, threads, min_chunks)
    return out


@pytest.mark.parametrize("n_chunks", [1, 7, 64, 101])
def test_run_striped_result_does_not_depend_on_thread_count(n_chunks):
    data = np.random.default_rng(11).standard_normal((n_chunks, 257))
    ref = _striped_sums(data, threads=1)
    assert np.isfinite(ref).all()
    for threads in (2, 3, 4, 8):
        np.testing.assert_array_equal(_striped_sums(data, threads), ref)


@pytest.mark.parametrize("n_chunks,threads", [(0, 4), (5, 1), (40, 3), (41, 4)])
def test_run_striped_visits_every_chunk_once_in_contiguous_stripes(n_chunks, threads):
    visits = np.zeros(n_chunks, dtype=np.int64)
    calls: list[tuple[int, int, threading.Thread]] = []
    lock = threading.Lock()

    def kernel(lo, hi):
        with lock:
            calls.append((int(lo), int(hi), threading.current_thread()))
        visits[lo:hi] += 1

    reducers.run_striped(n_chunks, kernel, threads, min_chunks_per_thread=1)
    np.testing.assert_array_equal(visits, np.ones(n_chunks, dtype=np.int64))
    stripes = sorted(c[:2] for c in calls)
    expected_threads = max(1, min(threads, n_chunks))
    assert len(stripes) == expected_threads
    assert stripes[0][0] == 0 and stripes[-1][1] == n_chunks
    assert all(a[1] == b[0] for a, b in zip(stripes, stripes[1:]))
    assert len({id(c[2]) for c in calls}) == expected_threads  # objects kept alive in calls
    first = next(c for c in calls if c[0] == 0)
    assert first[2] is threading.current_thread()  # the caller runs the first stripe


def test_run_striped_starts_a_thread_only_for_enough_chunks():
    calls = []
    reducers.run_striped(15, lambda lo, hi: calls.append((lo, hi)), threads=4,
                         min_chunks_per_thread=8)
    assert calls == [(0, 15)]  # 15 // 8 = 1 stripe
    calls.clear()
    reducers.run_striped(16, lambda lo, hi: calls.append((int(lo), int(hi))), threads=4,
                         min_chunks_per_thread=8)
    assert sorted(calls) == [(0, 8), (8, 16)]


@pytest.mark.parametrize("failing_chunk", [0, 5, 39])
def test_run_striped_reraises_a_worker_exception(failing_chunk):
    def kernel(lo, hi):
        if lo <= failing_chunk < hi:
            raise ZeroDivisionError(f"chunk {failing_chunk}")

    with pytest.raises(ZeroDivisionError, match=f"chunk {failing_chunk}"):
        reducers.run_striped(40, kernel, threads=4, min_chunks_per_thread=1)


def _layouts():
    rng = np.random.default_rng(5)
    base = rng.standard_normal((6, 10, 12)).astype(np.float32)
    return {
        "c_contiguous": base,
        "f_contiguous": np.asfortranarray(base),
        "sliced": base[:, ::2, 1:],
        "transposed": base.transpose(1, 0, 2)[:, :, ::3],
        "strided_1d": rng.standard_normal(1001)[::3],
        "complex_sliced": (base + 1j * base[::-1]).astype(np.complex64)[::2],
        "int_sliced": np.arange(6 * 7 * 8, dtype=np.int16).reshape(6, 7, 8)[:, 1:, ::2],
    }


def test_chunk_geometry_rounds_to_whole_rows():
    row = reducers.ROW_ELEMENTS
    assert reducers.chunk_geometry(1) == (1, 1)
    assert reducers.chunk_geometry(0) == (1, 1)
    assert reducers.chunk_geometry(1000) == (1000, 1000)
    assert reducers.chunk_geometry(row + 1) == (row, row)
    assert reducers.chunk_geometry(3 * row + 5) == (3 * row, row)


def test_scaling_reexports_the_shared_constants():
    for name in ("CHUNK_ELEMENTS", "ROW_ELEMENTS", "DEFAULT_THREADS", "MIN_CHUNKS_PER_THREAD",
                 "BLOCK_BYTES"):
        assert getattr(scaling, name) == getattr(reducers, name), name
    assert reducers.DEFAULT_THREADS >= 1


@pytest.mark.parametrize("name", list(_layouts()))
@pytest.mark.parametrize("block_bytes", [1, 40, 480, 1 << 20])
def test_c_order_pieces_follow_c_order_for_every_layout(name, block_bytes):
    x = _layouts()[name]
    pieces = list(reducers.c_order_pieces(x, block_bytes))
    assert all(p.ndim == 1 and p.flags.c_contiguous and p.dtype == x.dtype for p in pieces)
    np.testing.assert_array_equal(np.concatenate(pieces), x.ravel(order="C"))
    if x.flags.c_contiguous:
        assert len(pieces) == 1 and np.shares_memory(pieces[0], x)


@pytest.mark.parametrize("grid", [1, 5, 64])
@pytest.mark.parametrize("cuts", [[0, 200], [0, 3, 4, 70, 71, 130, 200], [0, 64, 128, 200],
                                  [0, 1, 2, 3, 199, 200]])
def test_grid_aligner_segments_start_on_the_grid(grid, cuts):
    data = np.arange(200, dtype=np.float32)
    aligner = reducers.GridAligner(grid)
    got, offset = [], 0
    pieces = [data[a:b] for a, b in zip(cuts, cuts[1:])]
    for i, piece in enumerate(pieces):
        for seg in aligner.feed(piece, last=i == len(pieces) - 1):
            assert offset % grid == 0 and seg.flags.c_contiguous
            got.append(seg.copy())  # a segment may be the reused carry buffer
            offset += seg.size
    got += [s.copy() for s in aligner.finish()]
    assert all(s.size % grid == 0 for s in got[:-1])
    np.testing.assert_array_equal(np.concatenate(got), data)
    assert aligner.size == 200


def test_grid_aligner_widens_mixed_dtypes_exactly():
    aligner = reducers.GridAligner(8)
    segs = [s.copy() for s in aligner.feed(np.arange(3, dtype=np.int16))]
    segs += [s.copy() for s in aligner.feed(np.full(9, 0.1, dtype=np.float32))]
    segs += [s.copy() for s in aligner.finish()]
    assert segs[0].dtype == np.float64
    np.testing.assert_array_equal(np.concatenate(segs).astype(np.float64),
                                  np.r_[np.arange(3), np.full(9, np.float32(0.1))])


def test_choose_method_by_size(monkeypatch):
    monkeypatch.setattr(reducers, "FUSED_MIN_ELEMENTS", 100)
    assert reducers.choose_method(99) == "blas" and reducers.choose_method(100) == "fused"
    assert reducers.choose_method(10**9, "blas") == "blas"
    assert reducers.choose_method(0, "fused") == "fused"
    assert reducers.choose_method(0, None) == "blas"
