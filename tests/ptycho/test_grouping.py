"""Neighbour grouping, coordinate conventions and format transforms (docs/design.md §3)."""
import numpy as np
import pytest
from scipy.spatial import cKDTree

from ptycho.errors import ConfigError, DataContractError, GroupingError
from ptycho.grouping import (
    GroupedData,
    channels_to_flat,
    channels_to_grid,
    flat_to_channels,
    grid_to_channels,
    group,
    neighbor_candidates,
    order_members,
)
from ptycho.objects import grf_object
from ptycho.raw_data import RawData
from ptycho.simulate import raster_scan, random_scan

N = 16
SIZE = 96


@pytest.fixture(scope="module")
def obj():
    return grf_object(SIZE, seed=3, correlation_length=4.0)


def _raw(x, y, obj=None, seed=0):
    """RawData with random diffraction (the grouping never looks at its values)."""
    rng = np.random.default_rng(seed)
    diff = rng.random((len(x), N, N), dtype=np.float32) + 0.1
    probe = np.ones((N, N), dtype=np.complex64)
    return RawData.from_arrays(x, y, diff, probe, objectGuess=obj)


@pytest.fixture(scope="module")
def raster_raw(obj):
    """Integer raster positions (step 8 px): 81 points, object known."""
    x, y = raster_scan((SIZE, SIZE), 8, buffer=N)
    return _raw(x, y, obj)


@pytest.fixture(scope="module")
def random_raw(obj):
    x, y = random_scan((SIZE, SIZE), 60, buffer=N / 2, seed=2)
    return _raw(x, y, obj, seed=1)


def _group(raw, **kw):
    args = dict(gridsize=2, n_groups=20, neighbor_count=4, strategy="current", seed=1)
    args.update(kw)
    return group(raw, **args)


# ------------------------------------------------------------------ shapes and dtypes
@pytest.mark.parametrize("strategy, gridsize, K", [("current", 1, 4), ("current", 2, 4), ("current", 3, 9),
                                                    ("legacy", 1, 7), ("legacy", 2, 7), ("legacy", 3, 8)])
def test_shapes_and_dtypes(random_raw, strategy, gridsize, K):
    g = _group(random_raw, strategy=strategy, gridsize=gridsize, neighbor_count=K, n_groups=25)
    C = gridsize**2
    B = 25 if strategy == "current" else random_raw.M
    assert isinstance(g, GroupedData) and (g.B, g.C, g.N) == (B, C, N)
    assert g.diffraction.shape == (B, N, N, C) and g.diffraction.dtype == np.float32
    assert g.coords_offsets.shape == (B, 1, 2, 1) and g.coords_offsets.dtype == np.float64
    assert g.coords_relative.shape == (B, 1, 2, C) and g.coords_relative.dtype == np.float64
    np.testing.assert_array_equal(g.coords_nominal, g.coords_relative)
    assert g.nn_indices.shape == (B, C) and g.nn_indices.dtype == np.int64
    assert g.Y.shape == (B, N, N, C) and g.Y.dtype == np.complex64
    assert g.max_abs_coords_relative.shape == (B,)
    # members of a group are distinct points
    assert all(len(set(row)) == C for row in g.nn_indices.tolist())


def test_diffraction_channels_are_the_member_patterns(random_raw):
    g = _group(random_raw, gridsize=3, neighbor_count=9)
    for b in range(g.B):
        for c in range(g.C):
            np.testing.assert_array_equal(g.diffraction[b, :, :, c], random_raw.diff3d[g.nn_indices[b, c]])


def test_no_ground_truth_without_object(random_raw):
    raw = _raw(random_raw.xcoords, random_raw.ycoords, None)
    assert _group(raw).Y is None


# ------------------------------------------------------------------ coordinates
def test_relative_coords_sum_to_zero_and_sign(random_raw, tol):
    g = _group(random_raw, gridsize=3, neighbor_count=10)
    assert np.max(np.abs(g.coords_relative.sum(axis=3))) <= tol("grouping.centroid_sum")
    # coords_relative = -(coords - centroid); the absolute positions come back from the raw data
    absolute = np.stack([random_raw.xcoords[g.nn_indices], random_raw.ycoords[g.nn_indices]], axis=1)[:, None]
    np.testing.assert_allclose(g.coords, absolute, rtol=0, atol=tol("grouping.absolute_coords"))
    np.testing.assert_allclose(g.coords_relative, g.coords_offsets - absolute, rtol=0,
                               atol=tol("grouping.absolute_coords"))
    np.testing.assert_allclose(g.coords_offsets[:, 0, :, 0], absolute[:, 0].mean(axis=2), rtol=0,
                               atol=tol("grouping.absolute_coords"))


def test_sign_convention_on_a_square():
    """Four points at (x, y) = (10,10), (14,10), (10,14), (14,14): centroid (12, 12)."""
    x = np.array([10.0, 14.0, 10.0, 14.0])
    y = np.array([10.0, 10.0, 14.0, 14.0])
    g = group(_raw(x, y), gridsize=2, n_groups=1, neighbor_count=3, strategy="legacy", seed=0)
    assert g.B == 4
    np.testing.assert_array_equal(g.coords_offsets[0, 0, :, 0], [12.0, 12.0])
    # channel order is row-major: TL, TR, BL, BR; relative = centroid - position
    np.testing.assert_array_equal(g.nn_indices[0], [0, 1, 2, 3])
    np.testing.assert_array_equal(g.coords_relative[0, 0, 0], [2.0, -2.0, 2.0, -2.0])  # x
    np.testing.assert_array_equal(g.coords_relative[0, 0, 1], [2.0, 2.0, -2.0, -2.0])  # y
    np.testing.assert_array_equal(g.max_abs_coords_relative, [2.0] * 4)
    assert g.max_offset == 2.0


def test_max_abs_coords_relative(random_raw):
    g = _group(random_raw, gridsize=2)
    np.testing.assert_array_equal(g.max_abs_coords_relative, np.abs(g.coords_relative).max(axis=(1, 2, 3)))
    assert g.max_offset == g.max_abs_coords_relative.max() > 0
    assert _group(random_raw, gridsize=1).max_offset == 0.0


# ------------------------------------------------------------------ strategies
def test_current_excludes_the_seed_and_uses_k_nearest(random_raw):
    K = 6
    g = _group(random_raw, gridsize=2, neighbor_count=K, n_groups=40)
    pts = np.column_stack([random_raw.xcoords, random_raw.ycoords])
    dist, _ = cKDTree(pts).query(pts[g.seed_indices], k=K + 1)
    for b, seed in enumerate(g.seed_indices):
        members = g.nn_indices[b]
        assert seed not in members
        d = np.hypot(*(pts[members] - pts[seed]).T)
        assert np.all(d <= dist[b, K])  # within the K nearest (K-th neighbour at column K)
    assert len(set(g.seed_indices.tolist())) == 40 and np.all(np.diff(g.seed_indices) > 0)


def test_current_gridsize_one_is_the_seed(random_raw):
    g = _group(random_raw, gridsize=1, n_groups=30)
    np.testing.assert_array_equal(g.nn_indices[:, 0], g.seed_indices)
    np.testing.assert_array_equal(g.coords_relative, 0.0)


def test_legacy_includes_the_seed_for_every_point(random_raw):
    # K + 1 == C: the group is exactly the seed and its K nearest neighbours
    g = _group(random_raw, gridsize=2, neighbor_count=3, strategy="legacy")
    np.testing.assert_array_equal(g.seed_indices, np.arange(random_raw.M))
    for b, seed in enumerate(g.seed_indices):
        assert seed in g.nn_indices[b]
    g7 = _group(random_raw, gridsize=2, neighbor_count=7, strategy="legacy")
    assert g7.B == random_raw.M
    g1 = _group(random_raw, gridsize=1, neighbor_count=7, strategy="legacy")
    np.testing.assert_array_equal(g1.nn_indices[:, 0], np.arange(random_raw.M))


def test_neighbor_candidates_seed_handling():
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [5.0, 5.0]])
    seeds = np.arange(5)
    excl = neighbor_candidates(pts, seeds, 2, include_seed=False)
    incl = neighbor_candidates(pts, seeds, 2, include_seed=True)
    assert excl.shape == (5, 2) and incl.shape == (5, 3)
    assert not np.any(excl == seeds[:, None])
    np.testing.assert_array_equal(incl[:, 0], seeds)
    np.testing.assert_array_equal(incl[:, 1:], excl)
    np.testing.assert_array_equal(excl[0], [1, 2])  # distances 1 and 2


def test_duplicate_positions_never_put_the_seed_in_a_current_group():
    """Many points at one position: KD-tree ties must not let the seed in (or push it out, legacy)."""
    x = np.array([20.0] * 6 + [24.0, 28.0, 32.0, 36.0])
    y = np.full(10, 20.0)
    raw = _raw(x, y)
    cur = group(raw, gridsize=2, n_groups=10, neighbor_count=4, strategy="current", seed=0)
    for b, seed in enumerate(cur.seed_indices):
        assert seed not in cur.nn_indices[b]
    cand = neighbor_candidates(np.column_stack([x, y]), np.arange(10), 3, include_seed=True)
    np.testing.assert_array_equal(cand[:, 0], np.arange(10))
    assert all(len(set(row)) == 4 for row in cand.tolist())


def test_determinism_and_seed_dependence(random_raw):
    a = _group(random_raw, seed=5)
    b = _group(random_raw, seed=5)
    c = _group(random_raw, seed=6)
    for field in ("nn_indices", "seed_indices", "diffraction", "coords_relative", "coords_offsets", "Y"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.nn_indices, c.nn_indices)
    la = _group(random_raw, strategy="legacy", neighbor_count=7, seed=5)
    lb = _group(random_raw, strategy="legacy", neighbor_count=7, seed=5)
    np.testing.assert_array_equal(la.nn_indices, lb.nn_indices)


# ------------------------------------------------------------------ channel layout
def test_order_members_row_major_on_a_square():
    x = np.array([10.0, 14.0, 10.0, 14.0])
    y = np.array([10.0, 10.0, 14.0, 14.0])
    scrambled = np.array([[3, 0, 2, 1], [1, 2, 3, 0]])
    np.testing.assert_array_equal(order_members(scrambled, x, y, 2), [[0, 1, 2, 3], [0, 1, 2, 3]])


def test_channels_are_geometric_row_major(random_raw):
    """Rows of the grid are ordered in y, columns within a row in x (the documented rule)."""
    for strategy, gridsize, K in (("current", 2, 5), ("current", 3, 12), ("legacy", 3, 9)):
        g = _group(random_raw, strategy=strategy, gridsize=gridsize, neighbor_count=K)
        gx = g.coords[:, 0, 0].reshape(g.B, gridsize, gridsize)
        gy = g.coords[:, 0, 1].reshape(g.B, gridsize, gridsize)
        assert np.all(gy[:, :-1, :].max(axis=2) <= gy[:, 1:, :].min(axis=2))
        assert np.all(np.diff(gx, axis=2) >= 0)


def test_raster_cell_channel_mapping(raster_raw):
    """On a raster, a legacy group of the seed and its 3 nearest right/down neighbours forms a
    square cell: channel c = (c // 2, c % 2) = TL, TR, BL, BR."""
    g = _group(raster_raw, strategy="legacy", gridsize=2, neighbor_count=3)
    square = 0
    for b in range(g.B):
        xs, ys = g.coords[b, 0, 0], g.coords[b, 0, 1]
        if len(set(xs)) == 2 and len(set(ys)) == 2:  # the group is a 2x2 cell
            square += 1
            assert xs[0] == xs[2] < xs[1] == xs[3]
            assert ys[0] == ys[1] < ys[2] == ys[3]
    assert square > 0


# ------------------------------------------------------------------ ground truth patches
def _crop(obj, x, y):
    """Independent oracle for integer positions: slice the zero-padded object."""
    padded = np.pad(np.asarray(obj), N)
    r, c = int(y) - N // 2 + N, int(x) - N // 2 + N
    return padded[r:r + N, c:c + N]


@pytest.mark.parametrize("strategy, K", [("current", 4), ("legacy", 7)])
def test_ground_truth_is_centred_at_each_own_position(raster_raw, obj, strategy, K):
    g = _group(raster_raw, strategy=strategy, gridsize=2, neighbor_count=K)
    mirrored_differs = 0
    for b in range(g.B):
        for c in range(g.C):
            i = g.nn_indices[b, c]
            x, y = raster_raw.xcoords[i], raster_raw.ycoords[i]
            np.testing.assert_array_equal(g.Y[b, :, :, c], _crop(obj, x, y))
            # the mirrored-about-the-centroid position (the C > 1 bug) gives a different patch
            mx, my = 2 * g.coords_offsets[b, 0, 0, 0] - x, 2 * g.coords_offsets[b, 0, 1, 0] - y
            if (mx, my) != (x, y) and float(mx).is_integer() and float(my).is_integer():
                mirrored_differs += not np.array_equal(g.Y[b, :, :, c], _crop(obj, mx, my))
    assert mirrored_differs > 0


def test_ground_truth_sub_pixel_uses_extract_patches(random_raw, obj):
    from ptycho.simulate import extract_patches

    g = _group(random_raw, gridsize=2)
    idx = g.nn_indices.ravel()
    ref = extract_patches(obj, random_raw.xcoords[idx], random_raw.ycoords[idx], N).astype(np.complex64)
    np.testing.assert_array_equal(channels_to_flat(g.Y)[..., 0], ref)


# ------------------------------------------------------------------ format transforms
def test_flat_channel_grid_transforms():
    B, C, g = 3, 4, 2
    arr = np.arange(B * N * N * C, dtype=np.float32).reshape(B, N, N, C)
    flat = channels_to_flat(arr)
    assert flat.shape == (B * C, N, N, 1)
    for b in range(B):
        for c in range(C):
            np.testing.assert_array_equal(flat[b * C + c, :, :, 0], arr[b, :, :, c])
    np.testing.assert_array_equal(flat_to_channels(flat, C), arr)
    grid = channels_to_grid(arr, g)
    assert grid.shape == (B, g, g, N, N)
    np.testing.assert_array_equal(grid[1, 1, 0], arr[1, :, :, 2])  # cell (1, 0) is channel 2
    np.testing.assert_array_equal(grid_to_channels(grid), arr)
    coords = np.arange(B * 2 * C, dtype=np.float64).reshape(B, 1, 2, C)
    np.testing.assert_array_equal(flat_to_channels(channels_to_flat(coords), C), coords)


@pytest.mark.parametrize("call, field", [
    (lambda: channels_to_flat(np.zeros((2, N, N))), "arr"),
    (lambda: flat_to_channels(np.zeros((6, N, N, 1)), 4), "C"),
    (lambda: flat_to_channels(np.zeros((8, N, N, 2)), 4), "arr"),
    (lambda: flat_to_channels(np.zeros((8, N, N, 1)), 0), "C"),
    (lambda: channels_to_grid(np.zeros((2, N, N, 4)), 3), "arr"),
    (lambda: grid_to_channels(np.zeros((2, 2, 3, N, N))), "arr"),
])
def test_transform_errors(call, field):
    with pytest.raises(ConfigError) as err:
        call()
    assert err.value.field == field


# ------------------------------------------------------------------ bad input
def test_fewer_points_than_c(obj):
    raw = _raw(np.array([20.0, 30.0, 40.0]), np.array([20.0, 20.0, 20.0]))
    for strategy in ("current", "legacy"):
        with pytest.raises(GroupingError) as err:
            group(raw, gridsize=2, n_groups=1, neighbor_count=4, strategy=strategy, seed=0)
        assert err.value.field == "gridsize"
        assert "M=3" in str(err.value)


def test_fewer_points_than_k_plus_one():
    raw = _raw(np.arange(5.0) * 4 + 20, np.full(5, 20.0))
    with pytest.raises(GroupingError) as err:
        group(raw, gridsize=2, n_groups=2, neighbor_count=5, strategy="current", seed=0)
    assert err.value.field == "neighbor_count"
    with pytest.raises(GroupingError) as err:
        group(raw, gridsize=2, n_groups=2, neighbor_count=7, strategy="legacy", seed=0)
    assert err.value.field == "neighbor_count"


def test_too_few_candidates_for_c(random_raw):
    with pytest.raises(GroupingError) as err:
        _group(random_raw, gridsize=2, neighbor_count=3, strategy="current")  # K=3 < C=4
    assert err.value.field == "neighbor_count"
    _group(random_raw, gridsize=2, neighbor_count=3, strategy="legacy")  # K+1 = 4 candidates is enough


def test_more_groups_than_points(random_raw):
    with pytest.raises(GroupingError) as err:
        _group(random_raw, n_groups=random_raw.M + 1)
    assert err.value.field == "n_groups"


@pytest.mark.parametrize("kw, field", [
    ({"gridsize": 0}, "gridsize"), ({"gridsize": 2.0}, "gridsize"), ({"gridsize": True}, "gridsize"),
    ({"n_groups": 0}, "n_groups"), ({"n_groups": "10"}, "n_groups"),
    ({"neighbor_count": 0}, "neighbor_count"), ({"strategy": "random"}, "strategy"),
    ({"seed": -1}, "seed"), ({"seed": None}, "seed"),
])
def test_bad_arguments(random_raw, kw, field):
    with pytest.raises(ConfigError) as err:
        _group(random_raw, **kw)
    assert err.value.field == field


def test_bad_positions():
    class Raw:
        def __init__(self, x, y, d):
            self.xcoords, self.ycoords, self.diff3d = x, y, d

    d = np.ones((4, N, N), dtype=np.float32)
    good = np.arange(4.0) * 4 + 20
    for raw, key in [
        (Raw(np.array([20.0, np.nan, 28.0, 32.0]), good, d), "xcoords"),
        (Raw(good, np.array([20.0, 24.0, np.inf, 32.0]), d), "ycoords"),
        (Raw(good, good[:3], d), "ycoords"),
        (Raw(good, good, d[:3]), "diff3d"),
        (Raw(good[:, None], good, d), "xcoords"),
        (Raw(None, good, d), "xcoords"),
    ]:
        with pytest.raises(DataContractError) as err:
            group(raw, gridsize=1, n_groups=2, neighbor_count=2, strategy="current", seed=0)
        assert err.value.key == key
