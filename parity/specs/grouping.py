"""Specification of the `group` stage (docs/design.md §3 "Grouping", ptycho.grouping docstring).

Whatever the implementation, for C = gridsize^2 members per group:
- members are distinct indices into the raw data; 'current': n_groups distinct seeds, sorted
  ascending, each group C of the K nearest neighbours of its seed EXCLUDING the seed; 'legacy':
  every point a seed (in index order), C of the K+1 nearest INCLUDING the seed; C == 1: the
  group is the seed itself (ties in distance are allowed either way);
- channel order is row-major geometric: sort by (y, x), cut into gridsize rows, each row sorted
  by (x, y);
- coords_offsets = the members' centroid, coords_relative = -(coords - centroid) (px);
- diffraction[b, :, :, c] = diff3d[nn[b, c]] exactly; Y[b, :, :, c] = the object patch at the
  member's own scan position (bilinear, not mirrored).
"""
from __future__ import annotations

import math

import numpy as np

from .sampling import sample_patches

#: distance slack (px) for ties when testing nearest-neighbour membership
TIE_SLACK = 1e-9


def documented_order(members, x, y, gridsize: int) -> list[int]:
    """Members of one group in the documented channel order (plain sorts)."""
    pts = sorted(members, key=lambda m: (y[m], x[m]))
    rows = [pts[r * gridsize:(r + 1) * gridsize] for r in range(gridsize)]
    return [m for row in rows for m in sorted(row, key=lambda m: (x[m], y[m]))]


def group_spec(grouped, *, x, y, diff3d, obj, strategy: str, K: int, gridsize: int,
               n_groups: int) -> dict:
    """Measured values of a GroupedData against the grouping specification.

    membership_violations: groups with a repeated, out-of-range or not-nearest member (or the
    seed where it must be excluded); seed_violations: seeds not as documented (count, order,
    distinctness); order_violations: groups not in the documented channel order;
    coords_error: max |coords_offsets - centroid|, |coords_relative - -(p - centroid)| (px);
    diffraction_mismatches: channels not equal to the raw pattern they index;
    truth_error: max |Y - patch at the member's position| / max|O| (None without Y).
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    nn = np.asarray(grouped.nn_indices)
    seeds = np.asarray(grouped.seed_indices)
    M = x.size
    C = gridsize * gridsize
    B = nn.shape[0]
    bad_members = 0
    bad_order = 0
    coords_err = 0.0
    for b in range(B):
        members = [int(m) for m in nn[b]]
        s = int(seeds[b]) if b < seeds.size else -1
        ok = len(members) == C and len(set(members)) == C and all(0 <= m < M for m in members)
        if ok and C == 1:
            ok = members == [s]
        elif ok:
            d = np.hypot(x - x[s], y - y[s])
            others = np.delete(d, s)
            kth = np.sort(others)[K - 1] if others.size >= K else math.inf
            if strategy == "current":
                ok = s not in members and all(d[m] <= kth + TIE_SLACK for m in members)
            else:
                ok = all(m == s or d[m] <= kth + TIE_SLACK for m in members)
        if not ok:
            bad_members += 1
            continue
        if members != documented_order(members, x, y, gridsize):
            bad_order += 1
        px, py = x[members], y[members]
        cx, cy = sum(px.tolist()) / C, sum(py.tolist()) / C
        off = np.asarray(grouped.coords_offsets[b], np.float64)
        rel = np.asarray(grouped.coords_relative[b], np.float64)
        coords_err = max(coords_err, abs(off[0, 0, 0] - cx), abs(off[0, 1, 0] - cy),
                         float(np.max(np.abs(rel[0, 0, :] + (px - cx)))),
                         float(np.max(np.abs(rel[0, 1, :] + (py - cy)))))
    if strategy == "current":
        want_seeds = (seeds.size == n_groups and np.unique(seeds).size == seeds.size
                      and bool(np.all(np.diff(seeds) > 0)) and bool(np.all((seeds >= 0) & (seeds < M))))
    else:
        want_seeds = np.array_equal(seeds, np.arange(M))
    D = np.asarray(diff3d)
    G = np.asarray(grouped.diffraction)
    mismatched = 0
    for b in range(B):
        for c in range(nn.shape[1]):
            m = int(nn[b, c])
            if not (0 <= m < M) or not np.array_equal(G[b, :, :, c], D[m]):
                mismatched += 1
    out = {
        "groups": int(B),
        "membership_violations": bad_members,
        "seed_violations": 0 if want_seeds else 1,
        "order_violations": bad_order,
        "coords_error": coords_err,
        "diffraction_mismatches": mismatched,
        "truth_error": None,
    }
    if grouped.Y is not None and obj is not None and bad_members == 0:
        N = G.shape[1]
        ref = sample_patches(obj, x[nn].ravel(), y[nn].ravel(), N)      # flat b*C + c
        Y = np.transpose(np.asarray(grouped.Y), (0, 3, 1, 2)).reshape(B * nn.shape[1], N, N)
        out["truth_error"] = float(np.max(np.abs(Y - ref))) / float(np.max(np.abs(obj)))
    return out
