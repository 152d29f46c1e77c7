"""Dataset doctor (`python -m parity inspect FILE.npz [--nphotons X] [--gridsize 2]`).

For a user's own dataset (experimental ones included; no ground truth needed): validate the NPZ
data contract (DESIGN §6) with a clear error naming the key, and print the scale diagnostics:
E, g, s, s_cf and s/s_cf (= g), the implied object amplitude vs each activation's ceiling,
the canvas a grouping needs, NaN / negative / all-zero pattern counts; PNGs of the mean
diffraction pattern and of the scan.

Units: the implied amplitude assumes the contract's convention diff3d = sqrt(counts)/s_sim, so
E[sum X^2] = E[sum |P*O|^2] and rms|O| = sqrt(E / sum|P|^2) with the file's probe.
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


#: patterns scanned per step when counting NaN/negative/zero patterns
_PATTERN_CHUNK = 512
#: groups drawn for the canvas estimate (bounded work for large datasets)
_CANVAS_GROUPS = 512


def pattern_health(diff3d: np.ndarray) -> dict[str, int]:
    """Counts over a (M, N, N) array, chunked: patterns with NaN, with Inf, with a negative
    value, all-zero patterns, and NaN/negative element totals."""
    out = {"patterns": int(diff3d.shape[0]), "nan_patterns": 0, "inf_patterns": 0,
           "negative_patterns": 0, "zero_patterns": 0, "nan_values": 0, "negative_values": 0}
    flat_axes = tuple(range(1, diff3d.ndim))
    for start in range(0, diff3d.shape[0], _PATTERN_CHUNK):
        c = np.asarray(diff3d[start:start + _PATTERN_CHUNK])
        nan = np.isnan(c)
        out["nan_values"] += int(nan.sum())
        out["nan_patterns"] += int(nan.any(axis=flat_axes).sum())
        out["inf_patterns"] += int(np.isinf(c).any(axis=flat_axes).sum())
        neg = c < 0
        out["negative_values"] += int(neg.sum())
        out["negative_patterns"] += int(neg.any(axis=flat_axes).sum())
        out["zero_patterns"] += int((c == 0).all(axis=flat_axes).sum())
    return out


def scale_diagnostics(raw, nphotons: float | None) -> dict[str, Any]:
    """E, g, s, s_cf, s/s_cf and implied amplitudes of a validated RawData."""
    from ptycho.probe import probe_mask
    from ptycho.scaling import (closed_form_scale, energy_is_usable, gain_from_energy,
                                mean_pattern_energy, scale_from_energy)

    N = raw.N
    E = mean_pattern_energy(raw.diff3d)
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


def canvas_diagnostics(raw, gridsize: int) -> dict[str, Any]:
    """Largest |coords_relative| and the canvas N + 2*pad a grouping with `gridsize` needs,
    for the current (K=4) and legacy (K=7) strategies (seed 1, at most 512 groups)."""
    from ptycho.grouping import group

    out: dict[str, Any] = {"gridsize": gridsize}
    C = gridsize * gridsize
    for strategy, K in (("current", 4), ("legacy", 7)):
        if raw.M < C + (1 if strategy == "current" else 0):
            out[strategy] = {"error": f"{raw.M} patterns are too few for gridsize {gridsize}"}
            continue
        grouped = group(raw, gridsize=gridsize, n_groups=min(raw.M, _CANVAS_GROUPS),
                        neighbor_count=K, strategy=strategy, seed=1)
        rel = np.asarray(grouped.coords_relative)
        max_abs = float(np.max(np.abs(rel))) if rel.size else 0.0
        out[strategy] = {"K": K, "groups": int(rel.shape[0]), "max_abs_coords_relative": max_abs,
                         "canvas": raw.N + 2 * canvas_padding(max_abs)}
    return out


def _pngs(raw, out_dir: pathlib.Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    mean = np.zeros(raw.diff3d.shape[1:], dtype=np.float64)
    for start in range(0, raw.M, _PATTERN_CHUNK):
        mean += np.sum(raw.diff3d[start:start + _PATTERN_CHUNK], axis=0, dtype=np.float64)
    mean /= raw.M
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
    ax.scatter(raw.xcoords, raw.ycoords, s=4)
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.set_xlabel("x (column, px)")
    ax.set_ylabel("y (row, px)")
    ax.set_title("scan positions", fontsize=9)
    fig.tight_layout()
    with atomic.replacing(paths["scan"], suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return {k: str(v) for k, v in paths.items()}


def inspect_dataset(path, *, nphotons: float | None = None, gridsize: int = 2,
                    out_dir=None) -> dict[str, Any]:
    """Diagnostics of one NPZ as a JSON-safe dict with 'contract' = 'ok' or the error.

    Raises FileNotFoundError / DataContractError('path') when the file is not a readable NPZ.
    """
    from ptycho.raw_data import RawData, read_npz

    data = read_npz(path)
    report: dict[str, Any] = {"file": str(path), "keys": sorted(data)}
    diff = data.get("diff3d")
    if isinstance(diff, np.ndarray) and diff.ndim == 3 and diff.dtype.kind == "f":
        report["health"] = pattern_health(diff)
    try:
        raw = RawData.from_npz(path)
    except DataContractError as exc:
        report["contract"] = {"ok": False, "key": exc.key, "problem": exc.problem}
        return report
    report["contract"] = {"ok": True}
    if nphotons is None and isinstance(raw.metadata.get("nphotons"), (int, float)):
        nphotons = float(raw.metadata["nphotons"])
        report["nphotons_source"] = "metadata"
    elif nphotons is not None:
        report["nphotons_source"] = "--nphotons"
    else:
        report["nphotons_source"] = "unknown (give --nphotons for s and s_cf)"
    report["scale"] = scale_diagnostics(raw, nphotons)
    report["canvas"] = canvas_diagnostics(raw, gridsize)
    if out_dir is None:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out_dir = pathlib.Path("reports") / f"inspect-{stamp}"
    report["pngs"] = _pngs(raw, pathlib.Path(out_dir))
    return report


def format_report(report: dict[str, Any]) -> str:
    """Readable text of `inspect_dataset` output."""
    lines = [f"# dataset doctor: {report['file']}", ""]
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
    lines += ["", "## Scale (DESIGN §4)", "",
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
