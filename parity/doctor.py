"""Dataset doctor (`python -m parity inspect FILE [--nphotons X] [--gridsize 2]`).

For a user's own dataset (experimental ones included; no ground truth needed): validate the
data contract (docs/design.md §6) with a clear error naming the key (the HDF5 path for CXI files), and
print the scale diagnostics: E, g, s, s_cf and s/s_cf (= g), the implied object amplitude vs
each activation's ceiling, the canvas a grouping needs, NaN / Inf / negative / all-zero pattern
counts; PNGs of the mean diffraction pattern and of the scan.

Formats, recognized by content (`ptycho.formats`): NPZ, CXI / NeXus HDF5 (or HDF5 with the
contract's keys), zarr. Out of core: the diffraction stack is never loaded; one streamed pass
gives the health counts and the mean pattern, a second one E (`mean_pattern_energy`), and the
canvas estimate groups positions only, so the extra memory stays bounded (a few blocks of
`ptycho.raw_data.CHECK_BLOCK_BYTES`, plus O(M) for the positions) whatever the file size.

Units: the implied amplitude assumes the contract's convention diff3d = sqrt(counts)/s_sim, so
E[sum X^2] = E[sum |P*O|^2] and rms|O| = sqrt(E / sum|P|^2) with the file's probe. A CXI file
holds intensities in counts, so its amplitudes are sqrt(counts): E is the mean total intensity
per frame, and without --nphotons (or metadata) nphotons defaults to that measured E (s = 1).
"""
from __future__ import annotations

import datetime as _dt
import math
import pathlib
from typing import Any

import numpy as np

from ptycho import atomic
from ptycho.canvas import canvas_padding
from ptycho.errors import DataContractError


#: groups drawn for the canvas estimate (bounded work for large datasets)
_CANVAS_GROUPS = 512
#: legacy seeds grouped per step for the legacy canvas (about 400 bytes each: ~12 MiB)
_LEGACY_SEED_BLOCK = 32768
#: at most this many scan positions are drawn in the scan PNG (every k-th one)
_SCATTER_POINTS = 20000


def pattern_health(diff3d) -> dict[str, int]:
    """Counts over a (M, N, N) array (ndarray, memmap or FrameArray), streamed in bounded
    blocks: patterns with NaN, with Inf, with a negative value, all-zero patterns, and the
    NaN / Inf / negative element totals."""
    from ptycho.raw_data import scan_diffraction

    h = scan_diffraction(diff3d).to_dict()
    h.pop("nonzero")
    return h


def _health_and_mean(diff3d):
    from ptycho.raw_data import scan_diffraction

    h = scan_diffraction(diff3d, mean=True)
    counts = h.to_dict()
    counts.pop("nonzero")
    return h, counts


def energy_input(diff3d, dask_rows: int | None = None):
    """What E is computed on: the (M, N, N) frames themselves, or, with `dask_rows`, a
    dask.array over them in blocks of that many frames (computed on the active dask scheduler,
    e.g. a dask.distributed client; ptycho.scaling gives the same bits for any chunking)."""
    if dask_rows is None:
        return diff3d
    import dask.array as da

    return da.from_array(diff3d, chunks=(int(dask_rows), *diff3d.shape[1:]), asarray=True,
                         lock=False)


def scale_diagnostics(raw, nphotons: float | None, *, nphotons_from_energy: bool = False,
                      dask_rows: int | None = None) -> dict[str, Any]:
    """E, g, s, s_cf, s/s_cf and implied amplitudes of a validated RawData.

    nphotons_from_energy: when `nphotons` is None, use the measured E (data in sqrt(counts)
    units, e.g. a CXI file: E is then the mean total counts per frame and s = 1).
    dask_rows: compute E on the active dask scheduler, in blocks of that many frames.
    """
    from ptycho.probe import probe_mask
    from ptycho.scaling import (closed_form_scale, energy_is_usable, gain_from_energy,
                                mean_pattern_energy, scale_from_energy)

    N = raw.N
    E = mean_pattern_energy(energy_input(raw.diff3d, dask_rows))
    if nphotons is None and nphotons_from_energy and energy_is_usable(E):
        nphotons = E
    out: dict[str, Any] = {"N": N, "M": raw.M, "E": E, "target_energy": (N / 2) ** 2}
    out["g"] = gain_from_energy(E, N) if energy_is_usable(E) else math.nan
    probe = np.asarray(raw.probeGuess).astype(np.complex128)
    probe_energy = float(np.sum(np.abs(probe) ** 2))
    mean_abs_masked = float(np.mean(np.abs(probe * probe_mask(N))))
    out["probe_sum_sq"] = probe_energy
    out["probe_mean_abs_masked"] = mean_abs_masked
    out["probe_equivalent_scale"] = 1.0 / mean_abs_masked if mean_abs_masked > 0 else math.inf
    out["nphotons"] = nphotons
    if nphotons is not None:
        s_cf = closed_form_scale(nphotons, N)
        res = scale_from_energy(E, nphotons, N)
        out.update(s_cf=s_cf, s=res.value, s_source=res.source, s_reason=res.reason,
                   s_over_s_cf=res.value / s_cf)
    rms = math.sqrt(E / probe_energy) if probe_energy > 0 and energy_is_usable(E) else math.nan
    out["implied_rms_amplitude_current"] = rms
    out["implied_rms_amplitude_legacy"] = out["g"] * rms
    ceilings = {"sigmoid": 1.0, "softplus": math.inf,
                "scaled_sigmoid": "set amp_ceiling from the data (>= implied max)"}
    verdicts = {}
    for profile, target in (("current", rms), ("legacy", out["g"] * rms)):
        for act, ceil in ceilings.items():
            if isinstance(ceil, str):
                continue
            verdicts[f"{profile}/{act}"] = ("reachable" if target <= ceil else
                                            f"rms target {target:.3g} above ceiling {ceil:g}: saturates")
    out["ceilings"] = ceilings
    out["reachability"] = verdicts
    return out


class _PositionsOnly:
    """A RawData stand-in for grouping positions only: diff3d is a zero-size broadcast view of
    shape (M, 1, 1), so `group` gathers no diffraction (no memory, no reads of the file)."""

    objectGuess = None

    def __init__(self, raw):
        self.xcoords = np.asarray(raw.xcoords, dtype=np.float64)
        self.ycoords = np.asarray(raw.ycoords, dtype=np.float64)
        self.diff3d = np.broadcast_to(np.zeros((1, 1, 1), np.float32), (raw.M, 1, 1))


def legacy_max_offset(x, y, *, gridsize: int, neighbor_count: int, seed: int,
                      block: int = _LEGACY_SEED_BLOCK) -> float:
    """max |coords_relative| of `ptycho.grouping.group(..., strategy='legacy')` on positions
    (x, y), computed over blocks of `block` seeds so its memory does not grow with M.

    The legacy strategy groups every point (seeds 0..M-1 in order) and draws each group's
    members with one Generator stream; drawing block after block consumes that stream in the
    same order, and the members are ordered with the same `order_members`, so the result is
    bit-identical to the grouped one (tests pin it).
    """
    from ptycho.grouping import draw_members, neighbor_candidates, order_members

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    C = gridsize * gridsize
    if C == 1:
        return 0.0
    points = np.column_stack([x, y])
    rng = np.random.default_rng(seed)
    best = 0.0
    for lo in range(0, x.shape[0], max(1, int(block))):
        seeds = np.arange(lo, min(x.shape[0], lo + block), dtype=np.int64)
        candidates = neighbor_candidates(points, seeds, neighbor_count, include_seed=True)
        members = order_members(draw_members(rng, candidates, C), x, y, gridsize)
        for coord in (x, y):
            c = coord[members]  # (S, C), in group() order
            rel = -(c - c.mean(axis=1, keepdims=True))
            best = max(best, float(np.max(np.abs(rel))))
    return best


def canvas_diagnostics(raw, gridsize: int) -> dict[str, Any]:
    """Largest |coords_relative| and the canvas N + 2*pad a grouping with `gridsize` needs,
    for the current (K=4, at most 512 groups) and legacy (K=7, every point) strategies
    (seed 1). Only the positions are grouped (the diffraction is not read), the legacy one
    block by block (`legacy_max_offset`)."""
    from ptycho.grouping import group

    out: dict[str, Any] = {"gridsize": gridsize}
    C = gridsize * gridsize
    for strategy, K in (("current", 4), ("legacy", 7)):
        if raw.M < C + (1 if strategy == "current" else 0) or (C > 1 and raw.M < K + 1):
            out[strategy] = {"error": f"{raw.M} patterns are too few for gridsize {gridsize}"}
            continue
        pool = K if strategy == "current" else K + 1
        if C > 1 and pool < C:
            out[strategy] = {"error": f"K={K} gives {pool} candidates per group, fewer than "
                                      f"C = gridsize**2 = {C}"}
            continue
        if strategy == "current":
            grouped = group(_PositionsOnly(raw), gridsize=gridsize,
                            n_groups=min(raw.M, _CANVAS_GROUPS), neighbor_count=K,
                            strategy=strategy, seed=1)
            rel = np.asarray(grouped.coords_relative)
            max_abs = float(np.max(np.abs(rel))) if rel.size else 0.0
            groups = int(rel.shape[0])
        else:
            max_abs = legacy_max_offset(raw.xcoords, raw.ycoords, gridsize=gridsize,
                                        neighbor_count=K, seed=1)
            groups = raw.M
        out[strategy] = {"K": K, "groups": groups, "max_abs_coords_relative": max_abs,
                         "canvas": raw.N + 2 * canvas_padding(max_abs)}
    return out


def _pngs(raw, out_dir: pathlib.Path, mean: np.ndarray) -> dict[str, str]:
    """PNGs of `mean` (the (N, N) mean diffraction amplitude) and of the scan positions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    atomic.make_dirs(out_dir)
    paths = {"mean_pattern": out_dir / "mean_pattern.png", "scan": out_dir / "scan.png"}
    fig, ax = plt.subplots(figsize=(4.5, 4))
    im = ax.imshow(np.log10(mean + 1e-12 * max(1.0, float(mean.max()))), cmap="magma")
    fig.colorbar(im, ax=ax, label="log10 mean amplitude")
    ax.set_title(f"mean diffraction amplitude ({raw.M} patterns)", fontsize=9)
    fig.tight_layout()
    with atomic.replacing(paths["mean_pattern"], suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    every = max(1, -(-raw.M // _SCATTER_POINTS))
    ax.scatter(np.asarray(raw.xcoords)[::every], np.asarray(raw.ycoords)[::every], s=4)
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.set_xlabel("x (column, px)")
    ax.set_ylabel("y (row, px)")
    ax.set_title("scan positions" + (f" (1 in {every} of {raw.M} shown)" if every > 1 else ""),
                 fontsize=9)
    fig.tight_layout()
    with atomic.replacing(paths["scan"], suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return {k: str(v) for k, v in paths.items()}


def _npz_keys(path: pathlib.Path) -> list[str]:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return sorted(n[:-4] if n.endswith(".npy") else n for n in zf.namelist())


def inspect_dataset(path, *, nphotons: float | None = None, gridsize: int = 2,
                    out_dir=None, dask_rows: int | None = None, **open_options) -> dict[str, Any]:
    """Diagnostics of one dataset (NPZ, CXI/NeXus HDF5, zarr; recognized by content) as a
    JSON-safe dict with 'contract' = {'ok': True} or the key and problem of the violation.

    open_options go to the CXI reader (`ptycho.cxi.read_cxi`: entry, translation_sign,
    clip_negative, probe). dask_rows: compute E on the active dask scheduler (see
    `scale_diagnostics`). Raises FileNotFoundError / DataContractError('path') when the file
    is not a readable dataset of a known format.
    """
    from ptycho.formats import detect_format, open_dataset
    from ptycho.raw_data import check_diffraction_health

    path = pathlib.Path(path)
    fmt = detect_format(path)
    report: dict[str, Any] = {"file": str(path), "format": fmt}
    if fmt == "npz":
        report["keys"] = _npz_keys(path)
    try:
        raw = open_dataset(path, check_values=False, **open_options)
    except DataContractError as exc:
        if exc.key == "path":
            raise
        report["contract"] = {"ok": False, "key": exc.key, "problem": exc.problem}
        return report
    try:
        source = raw.metadata.get("source")
        if isinstance(source, dict):
            report["source"] = source
            report["probe_source"] = raw.metadata.get("probe_source")
        health, report["health"] = _health_and_mean(raw.diff3d)
        data_key = source["paths"]["data"] if isinstance(source, dict) else "diff3d"
        try:
            check_diffraction_health(health, key=data_key)
        except DataContractError as exc:
            report["contract"] = {"ok": False, "key": exc.key, "problem": exc.problem}
            return report
        report["contract"] = {"ok": True}
        from_energy = False
        if nphotons is not None:
            report["nphotons_source"] = "--nphotons"
        elif isinstance(raw.metadata.get("nphotons"), (int, float)):
            nphotons = float(raw.metadata["nphotons"])
            report["nphotons_source"] = "metadata"
        elif raw.metadata.get("amplitude_units") == "sqrt_counts":
            from_energy = True
            report["nphotons_source"] = ("measured: E (amplitudes are sqrt(counts), so "
                                         "nphotons = E and s = 1; give --nphotons to rescale)")
        else:
            report["nphotons_source"] = "unknown (give --nphotons for s and s_cf)"
        report["scale"] = scale_diagnostics(raw, nphotons, nphotons_from_energy=from_energy,
                                             dask_rows=dask_rows)
        report["canvas"] = canvas_diagnostics(raw, gridsize)
        if out_dir is None:
            stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            out_dir = pathlib.Path("reports") / f"inspect-{stamp}"
        report["pngs"] = _pngs(raw, pathlib.Path(out_dir), health.mean_pattern)
        return report
    finally:
        raw.close()


def format_report(report: dict[str, Any]) -> str:
    """Readable text of `inspect_dataset` output."""
    lines = [f"# dataset doctor: {report['file']}", "", f"format: {report.get('format')}"]
    src = report.get("source")
    if src:
        lines.append(f"CXI entry {src['entry']}: frames {src['paths']['data']} (amplitude = "
                     f"{src['amplitude']}), translations {src['paths']['translation']}")
        lines.append(f"  E_photon = {src['energy_J']:.6g} J, lambda = {src['wavelength_m']:.6g} m, "
                     f"z = {src['distance_m']:.6g} m, detector pixel = {src['pixel_m']:.6g} m -> "
                     f"object pixel dx = lambda*z/(N*pixel) = {src['object_pixel_m']:.6g} m; "
                     f"x, y = {src['translation_sign']:+d} * translation[:, 0:2] / dx")
        lines.append(f"  probe: {report.get('probe_source')}; masked detector pixels: "
                     f"{src['masked_pixels']}")
    h = report.get("health")
    if h:
        lines.append(f"patterns: {h['patterns']}; with NaN: {h['nan_patterns']}; with Inf: "
                     f"{h['inf_patterns']}; with negative values: {h['negative_patterns']}; "
                     f"all-zero: {h['zero_patterns']}")
    c = report["contract"]
    if not c["ok"]:
        lines.append(f"data contract: FAIL at key '{c['key']}': {c['problem']}")
        return "\n".join(lines) + "\n"
    lines.append("data contract: ok")
    s = report["scale"]
    lines += ["", "## Scale (docs/design.md §4)", "",
              f"- N = {s['N']}, M = {s['M']} patterns",
              f"- E = mean sum_xy X^2 = {s['E']:.6g} (target after normalization (N/2)^2 = "
              f"{s['target_energy']:g})",
              f"- g = sqrt((N/2)^2/E) = {s['g']:.6g}",
              f"- nphotons = {s['nphotons']} ({report['nphotons_source']})"]
    if "s" in s:
        lines += [f"- s_cf = sqrt(nphotons)/(N/2) = {s['s_cf']:.6g}",
                  f"- s = sqrt(nphotons/E) = {s['s']:.6g} (source {s['s_source']})",
                  f"- s/s_cf = {s['s_over_s_cf']:.6g} (= g)"]
    lines += [f"- probe: sum|P|^2 = {s['probe_sum_sq']:.6g}, mean|P*M| = "
              f"{s['probe_mean_abs_masked']:.6g} (i.e. probe_scale {s['probe_equivalent_scale']:.4g})",
              f"- implied rms object amplitude: current {s['implied_rms_amplitude_current']:.4g}, "
              f"legacy (x g) {s['implied_rms_amplitude_legacy']:.4g}"]
    for k, v in s["reachability"].items():
        lines.append(f"  - {k}: {v}")
    lines.append(f"  - scaled_sigmoid: {s['ceilings']['scaled_sigmoid']}")
    cv = report["canvas"]
    lines += ["", f"## Canvas for gridsize {cv['gridsize']}", ""]
    for strategy in ("current", "legacy"):
        v = cv[strategy]
        if "error" in v:
            lines.append(f"- {strategy}: {v['error']}")
        else:
            lines.append(f"- {strategy} grouping (K={v['K']}, {v['groups']} groups): max "
                         f"|coords_relative| = {v['max_abs_coords_relative']:.3f} px -> canvas "
                         f"{v['canvas']} px")
    lines += ["", "PNGs: " + ", ".join(report["pngs"].values())]
    return "\n".join(lines) + "\n"
