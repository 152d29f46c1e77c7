"""Neighbour groups of scan positions and the coordinate conventions of a group (docs/design.md §3).

A group is C = gridsize**2 scan positions. Strategies:
- 'current': cKDTree on (x, y); `n_groups` seed points drawn without replacement with a seeded
  numpy Generator (then sorted ascending); each group is C of the K nearest neighbours of its
  seed, EXCLUDING the seed, drawn without replacement. C == 1: the group is the seed itself.
- 'legacy': every point (in index order) is a seed; each group is C drawn without replacement
  from the K+1 nearest neighbours INCLUDING the seed. C == 1: the group is the seed itself.
Ties in distance (duplicate positions) are broken by cKDTree order; the seed is then removed
(current) or forced in (legacy) explicitly, so it never depends on a tie.

Channel layout (row-major, geometric): channel c is grid cell (c // gridsize, c % gridsize).
The C members of a group are ordered by: stable sort by (y, then x); the sorted list is cut
into `gridsize` rows of `gridsize` members (row 0 = smallest y); each row is stably sorted by
(x, then y). For a raster cell this is (top-left, top-right, ..., bottom-right).

Coordinates (pixels of the unpadded object; x = column, y = row):
coords (B, 1, 2, C) with [:, 0, 0, c] = x, [:, 0, 1, c] = y; coords_offsets (B, 1, 2, 1) = the
group centroid; coords_relative (B, 1, 2, C) = -(coords - centroid) (so sum_c = 0), and
coords_nominal = coords_relative. Formats: channel (B, N, N, C) <-> flat (B*C, N, N, 1) with
flat index b*C + c.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, DataContractError, GroupingError
from .validation import (require_choice, require_finite, require_int, require_rank,
                         require_same_shape)

STRATEGIES = ("current", "legacy")


# --------------------------------------------------------------------------- format transforms


def channels_to_flat(arr: np.ndarray) -> np.ndarray:
    """(B, h, w, C) -> (B*C, h, w, 1); flat index b*C + c. Works for patches and coords."""
    arr = np.asarray(arr)
    if arr.ndim != 4:
        raise ConfigError("arr", f"must be (B, h, w, C), got shape {arr.shape}")
    B, h, w, C = arr.shape
    return np.ascontiguousarray(np.transpose(arr, (0, 3, 1, 2))).reshape(B * C, h, w, 1)


def flat_to_channels(arr: np.ndarray, C: int) -> np.ndarray:
    """(B*C, h, w, 1) -> (B, h, w, C); inverse of channels_to_flat."""
    arr = np.asarray(arr)
    C = require_int("C", C, minimum=1)
    if arr.ndim != 4 or arr.shape[-1] != 1:
        raise ConfigError("arr", f"must be (B*C, h, w, 1), got shape {arr.shape}")
    if arr.shape[0] % C:
        raise ConfigError("C", f"{arr.shape[0]} flat items are not a multiple of C={C}")
    B = arr.shape[0] // C
    stacked = arr[..., 0].reshape(B, C, *arr.shape[1:3])
    return np.ascontiguousarray(np.transpose(stacked, (0, 2, 3, 1)))


def channels_to_grid(arr: np.ndarray, gridsize: int) -> np.ndarray:
    """(B, N, N, C) -> (B, gridsize, gridsize, N, N): grid[b, r, q] = channel r*gridsize + q."""
    arr = np.asarray(arr)
    g = require_int("gridsize", gridsize, minimum=1)
    if arr.ndim != 4 or arr.shape[-1] != g * g:
        raise ConfigError("arr", f"must be (B, N, N, {g * g}), got shape {arr.shape}")
    B, h, w, _ = arr.shape
    return np.ascontiguousarray(np.transpose(arr, (0, 3, 1, 2))).reshape(B, g, g, h, w)


def grid_to_channels(arr: np.ndarray) -> np.ndarray:
    """(B, g, g, N, N) -> (B, N, N, g*g); inverse of channels_to_grid."""
    arr = np.asarray(arr)
    if arr.ndim != 5 or arr.shape[1] != arr.shape[2]:
        raise ConfigError("arr", f"must be (B, g, g, N, N), got shape {arr.shape}")
    B, g, _, h, w = arr.shape
    return np.ascontiguousarray(np.transpose(arr.reshape(B, g * g, h, w), (0, 2, 3, 1)))


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class GroupedData:
    """Grouped diffraction data (B groups of C = gridsize**2 patterns).

    diffraction (B, N, N, C) float32 amplitude; coords_offsets (B, 1, 2, 1) float64 centroid
    (x, y); coords_relative (B, 1, 2, C) float64 = -(coords - centroid); coords_nominal (same);
    nn_indices (B, C) int64 indices into the raw arrays, channel order; seed_indices (B,) int64;
    Y (B, N, N, C) complex64 ground-truth patches (each centred at its own scan position) or
    None; max_abs_coords_relative (B,) float64 = max over c and x/y of |coords_relative| (px).
    """

    diffraction: np.ndarray
    coords_offsets: np.ndarray
    coords_relative: np.ndarray
    coords_nominal: np.ndarray
    nn_indices: np.ndarray
    seed_indices: np.ndarray
    Y: np.ndarray | None
    max_abs_coords_relative: np.ndarray
    gridsize: int
    neighbor_count: int
    strategy: str
    seed: int

    @property
    def B(self) -> int:
        """Number of groups."""
        return int(self.nn_indices.shape[0])

    @property
    def C(self) -> int:
        """Channels per group (gridsize**2)."""
        return self.gridsize * self.gridsize

    @property
    def N(self) -> int:
        """Pattern side in pixels."""
        return int(self.diffraction.shape[1])

    @property
    def coords(self) -> np.ndarray:
        """(B, 1, 2, C) float64 absolute scan positions = coords_offsets - coords_relative."""
        return self.coords_offsets - self.coords_relative

    @property
    def max_offset(self) -> float:
        """Largest |coords_relative| component over all groups (px); sizes the model canvas."""
        return float(self.max_abs_coords_relative.max()) if self.B else 0.0


# --------------------------------------------------------------------------- validation


def _positions(raw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, diff3d) of a RawData-like object, checked for consistent lengths and finiteness."""
    for key in ("xcoords", "ycoords", "diff3d"):
        if getattr(raw, key, None) is None:
            raise DataContractError(key, "is missing")
    x = np.asarray(raw.xcoords, dtype=np.float64)
    y = np.asarray(raw.ycoords, dtype=np.float64)
    diff3d = raw.diff3d
    require_rank("xcoords", x, 1)
    require_same_shape("ycoords", y, x, of="xcoords")
    if np.ndim(diff3d) != 3 or diff3d.shape[0] != x.shape[0]:
        raise DataContractError("diff3d",
                                f"must be (M={x.shape[0]}, N, N), got shape {np.shape(diff3d)}")
    require_finite("xcoords", x)
    require_finite("ycoords", y)
    return x, y, diff3d


# --------------------------------------------------------------------------- neighbours


def neighbor_candidates(points: np.ndarray, seeds: np.ndarray, K: int, *,
                        include_seed: bool) -> np.ndarray:
    """Candidate members per seed from a cKDTree on `points` (M, 2) = (x, y).

    include_seed=False: (S, K) the K nearest neighbours excluding the seed itself.
    include_seed=True: (S, K+1) the seed (column 0) followed by its K nearest other points.
    Needs M >= K + 1.
    """
    from scipy.spatial import cKDTree

    seeds = np.asarray(seeds, dtype=np.int64)
    _, idx = cKDTree(points).query(points[seeds], k=K + 1)
    idx = np.asarray(idx, dtype=np.int64).reshape(len(seeds), K + 1)
    # move the seed (if the tree returned it) to the end, keep the others in distance order;
    # if duplicates pushed the seed out of the K+1, the farthest neighbour is dropped instead
    is_seed = idx == seeds[:, None]
    order = np.argsort(is_seed, axis=1, kind="stable")
    others = np.take_along_axis(idx, order, axis=1)[:, :K]
    if include_seed:
        return np.concatenate([seeds[:, None], others], axis=1)
    return others


def draw_members(rng: np.random.Generator, candidates: np.ndarray, C: int) -> np.ndarray:
    """(S, C) members drawn without replacement from each row of `candidates` (S, n)."""
    keys = rng.random(candidates.shape)
    pick = np.argsort(keys, axis=1, kind="stable")[:, :C]
    return np.take_along_axis(candidates, pick, axis=1)


def order_members(members: np.ndarray, x: np.ndarray, y: np.ndarray, gridsize: int) -> np.ndarray:
    """Reorder each row of `members` (S, C) row-major by position (see module docstring)."""
    S, C = members.shape
    g = gridsize
    mx, my = x[members], y[members]
    by_y = _lexsort_rows(my, mx)
    members = np.take_along_axis(members, by_y, axis=1)
    mx = np.take_along_axis(mx, by_y, axis=1).reshape(S, g, g)
    my = np.take_along_axis(my, by_y, axis=1).reshape(S, g, g)
    rows = members.reshape(S, g, g)
    by_x = _lexsort_rows(mx.reshape(S * g, g), my.reshape(S * g, g)).reshape(S, g, g)
    return np.take_along_axis(rows, by_x, axis=2).reshape(S, C)


def _lexsort_rows(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Per-row stable argsort by (primary, then secondary) for 2-D arrays."""
    first = np.argsort(secondary, axis=1, kind="stable")
    p = np.take_along_axis(primary, first, axis=1)
    second = np.argsort(p, axis=1, kind="stable")
    return np.take_along_axis(first, second, axis=1)


def _group_indices(x, y, *, gridsize, n_groups, K, strategy, seed):
    """(nn_indices (B, C), seed_indices (B,)) for the chosen strategy."""
    M = x.shape[0]
    C = gridsize * gridsize
    rng = np.random.default_rng(seed)
    if strategy == "current":
        if n_groups > M:
            raise GroupingError("n_groups",
                                f"{n_groups} groups need as many seed points, dataset has M={M}")
        seeds = np.sort(rng.choice(M, size=n_groups, replace=False)).astype(np.int64)
    else:
        seeds = np.arange(M, dtype=np.int64)
    if C == 1:
        return seeds[:, None].copy(), seeds
    points = np.column_stack([x, y])
    candidates = neighbor_candidates(points, seeds, K, include_seed=(strategy == "legacy"))
    members = draw_members(rng, candidates, C)
    return order_members(members, x, y, gridsize), seeds


def _check_sizes(M: int, C: int, K: int, strategy: str) -> None:
    if M < C:
        raise GroupingError("gridsize", f"C = gridsize**2 = {C} patterns per group but the "
                                        f"dataset has M={M} points")
    if C == 1:
        return
    pool = K if strategy == "current" else K + 1
    if pool < C:
        raise GroupingError(
            "neighbor_count",
            f"K={K} gives {pool} candidates per group ({strategy} strategy) "
            f"but C={C} must be drawn",
        )
    if M < K + 1:
        raise GroupingError("neighbor_count",
                            f"K={K} neighbours need M >= K+1 = {K + 1} points, dataset has M={M}")


# --------------------------------------------------------------------------- entry point


def group(raw, *, gridsize: int, n_groups: int, neighbor_count: int, strategy: str,
          seed: int) -> GroupedData:
    """Group the patterns of `raw` (RawData or any object with xcoords, ycoords, diff3d and
    optionally objectGuess) into B groups of C = gridsize**2.

    current: B = n_groups; legacy: B = M (n_groups is validated but not used).
    Y is extracted with ptycho.simulate.extract_patches when raw.objectGuess is present.
    Errors: ConfigError for a bad gridsize / n_groups / neighbor_count / strategy / seed;
    GroupingError (naming the field) when the dataset has too few points.
    """
    gridsize = require_int("gridsize", gridsize, minimum=1)
    n_groups = require_int("n_groups", n_groups, minimum=1)
    K = require_int("neighbor_count", neighbor_count, minimum=1)
    require_choice("strategy", strategy, STRATEGIES)
    seed = require_int("seed", seed, minimum=0)
    x, y, diff3d = _positions(raw)
    M = x.shape[0]
    C = gridsize * gridsize
    _check_sizes(M, C, K, strategy)

    nn, seeds = _group_indices(x, y, gridsize=gridsize, n_groups=n_groups, K=K,
                               strategy=strategy, seed=seed)

    coords = np.stack([x[nn], y[nn]], axis=1)[:, None, :, :]  # (B, 1, 2, C)
    centroid = coords.mean(axis=3, keepdims=True)
    relative = -(coords - centroid)
    max_rel = np.abs(relative).max(axis=(1, 2, 3)) if nn.shape[0] else np.zeros(0)

    diffraction = _gather_channels(np.asarray(diff3d), nn).astype(np.float32, copy=False)
    Y = None
    obj = getattr(raw, "objectGuess", None)
    if obj is not None:
        Y = ground_truth_patches(obj, x, y, nn, diffraction.shape[1])

    return GroupedData(
        diffraction=diffraction,
        coords_offsets=centroid,
        coords_relative=relative,
        coords_nominal=relative.copy(),
        nn_indices=nn,
        seed_indices=seeds,
        Y=Y,
        max_abs_coords_relative=max_rel,
        gridsize=gridsize,
        neighbor_count=K,
        strategy=strategy,
        seed=seed,
    )


def _gather_channels(stack: np.ndarray, nn: np.ndarray) -> np.ndarray:
    """(M, N, N) stack and (B, C) indices -> (B, N, N, C) with [b, :, :, c] = stack[nn[b, c]]."""
    B, C = nn.shape
    out = np.empty((B, stack.shape[1], stack.shape[2], C), dtype=stack.dtype)
    for c in range(C):
        out[..., c] = stack[nn[:, c]]
    return out


def ground_truth_patches(obj, x: np.ndarray, y: np.ndarray, nn: np.ndarray, N: int) -> np.ndarray:
    """(B, N, N, C) complex64: channel c of group b is the object patch at its own scan
    position (x[nn[b, c]], y[nn[b, c]]) (never mirrored about the group centre)."""
    from .simulate import extract_patches

    used = np.unique(nn)
    patches = extract_patches(obj, x[used], y[used], N).astype(np.complex64)
    lookup = np.searchsorted(used, nn)
    return _gather_channels(patches, lookup)
