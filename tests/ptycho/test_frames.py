"""ptycho.frames: a FrameArray reads like a read-only ndarray, whatever its source."""
import pickle
import zipfile

import numpy as np
import pytest

from ptycho.frames import ArraySource, FileSource, FrameArray, StreamSource, rows_per_block

M, N = 23, 16


@pytest.fixture(scope="module")
def ref():
    return np.random.default_rng(0).uniform(-1, 3, (M, N, N)).astype(np.float32)


@pytest.fixture(params=["array", "file", "stream"])
def frames(request, ref, tmp_path_factory):
    if request.param == "array":
        return FrameArray(ArraySource(ref))
    folder = tmp_path_factory.mktemp("frames")
    raw = folder / "raw.bin"
    raw.write_bytes(b"HEAD" * 8 + ref.tobytes())
    if request.param == "file":
        return FrameArray(FileSource(raw, 32, ref.shape, ref.dtype))
    with zipfile.ZipFile(folder / "z.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("m", raw.read_bytes())
    archive = zipfile.ZipFile(folder / "z.zip")
    return FrameArray(StreamSource(lambda: archive.open("m"), 32, ref.shape, ref.dtype))


KEYS = [3, -1, np.int64(5), slice(None), slice(2, 9), slice(20, 40), slice(None, None, 3),
        slice(None, None, -2), slice(10, 2, -1), [4, 2, 2, 22, 0], np.array([[1, 2], [3, 4]]),
        (7, slice(2, 5)), (slice(1, 4), 0), ([5, 1], slice(None), 3), Ellipsis,
        (Ellipsis, 2), (0, 1, 2)]


@pytest.mark.parametrize("key", KEYS, ids=[repr(k) for k in KEYS])
def test_indexing_matches_ndarray(frames, ref, key):
    got = frames[key]
    want = ref[key]
    assert isinstance(got, np.ndarray) or np.isscalar(got)
    np.testing.assert_array_equal(got, want)


def test_boolean_mask(frames, ref):
    mask = ref[:, 0, 0] > 1
    np.testing.assert_array_equal(frames[mask], ref[mask])


def test_attributes_and_materialization(frames, ref):
    assert frames.shape == ref.shape and frames.dtype == ref.dtype and len(frames) == M
    assert frames.ndim == 3 and frames.size == ref.size and frames.nbytes == ref.nbytes
    np.testing.assert_array_equal(np.asarray(frames), ref)
    np.testing.assert_array_equal(np.asarray(frames, dtype=np.float64), ref.astype(np.float64))
    with pytest.raises(ValueError):
        np.array(frames, copy=False)


def test_blocks_cover_every_row_once_in_order(frames, ref):
    bytes_per_block = 5 * N * N * 4
    starts, rows = [], []
    for start, block in frames.blocks(bytes_per_block):
        starts.append(start)
        rows.append(block)
        assert block.shape[0] <= 5
    assert starts == list(range(0, M, 5))
    np.testing.assert_array_equal(np.concatenate(rows), ref)


def test_out_of_bounds(frames):
    with pytest.raises(IndexError):
        frames[M]
    with pytest.raises(IndexError):
        frames[[0, M]]
    with pytest.raises(IndexError):
        frames[np.array([0.5])]


def test_transform_and_cast(ref):
    fa = FrameArray(ArraySource(ref), dtype=np.float64, transform=np.abs)
    np.testing.assert_array_equal(fa[2:4], np.abs(ref[2:4]).astype(np.float64))
    assert fa[0].dtype == np.float64


def test_file_source_pickles_and_reopens(tmp_path, ref):
    (tmp_path / "a.bin").write_bytes(ref.tobytes())
    fa = FrameArray(FileSource(tmp_path / "a.bin", 0, ref.shape, ref.dtype))
    np.testing.assert_array_equal(fa[1], ref[1])
    back = pickle.loads(pickle.dumps(fa))
    np.testing.assert_array_equal(np.asarray(back), ref)
    fa.close()
    np.testing.assert_array_equal(fa[2], ref[2])  # reopens after close


def test_file_source_short_file(tmp_path, ref):
    (tmp_path / "a.bin").write_bytes(ref.tobytes()[:-10])
    fa = FrameArray(FileSource(tmp_path / "a.bin", 0, ref.shape, ref.dtype))
    with pytest.raises(EOFError):
        fa[M - 1]


def test_rows_per_block():
    assert rows_per_block((100, 64, 64), 4, 64 * 64 * 4 * 10) == 10
    assert rows_per_block((100, 64, 64), 4, 1) == 1
