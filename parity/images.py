"""Image-pair comparison (``python -m parity compare-images``): statistics, regions, verdict.

Two images from two implementations (e.g. legacy and current reconstructions) are compared on
the full frame and on fixed regions (centre, four edges, four corners): max/min/mean/std/sum/
L2/RMS of each, the ratios B/A of sum, max and L2, and Pearson r. Radial profiles and a residual
histogram show where they differ; `parity.attribution` explains a ratio by configuration
scalars.

The verdict passes only when BOTH ``|r| >= r_min`` and ``|sum_ratio - 1| <= sum_bound``: a pair
that correlates perfectly but is off by a scale factor (the 10^5 failure) must fail. Bounds
come from ``[tests.gap]`` in the tolerance ledger.
"""
from __future__ import annotations

import dataclasses
import math
import os
import pathlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from ptycho import atomic
from ptycho.stats import pearson

from . import jsonsafe
from .attribution import (APPROXIMATE_NOTE, CLOSE_MATCH, Attribution, aliases_text, equivalents_text,
                          scalar_candidates)
from .errors import ParityError
from .tolerances import Ledger

ROI_NAMES = ("centre", "top", "bottom", "left", "right", "top_left", "top_right", "bottom_left", "bottom_right")


class ImageInputError(ParityError):
    """An input image or scalar file cannot be used; `source` names it (as str)."""

    name_attr, str_name = "source", True


@dataclasses.dataclass(frozen=True)
class ImageStats:
    """Statistics of one real image region (float64)."""

    max: float
    min: float
    mean: float
    std: float
    sum: float
    l2: float
    rms: float


def image_stats(x: np.ndarray) -> ImageStats:
    """Max/min/mean/std/sum/L2 (sqrt of sum of squares)/RMS of a real array, in float64."""
    x = np.asarray(x, dtype=np.float64)
    sq = float(np.sum(x * x))
    return ImageStats(float(x.max()), float(x.min()), float(x.mean()), float(x.std()), float(x.sum()),
                      math.sqrt(sq), math.sqrt(sq / x.size))


def safe_ratio(b: float, a: float) -> float:
    """b / a; NaN when both are 0, +-inf when only a is 0."""
    if a == 0:
        return math.nan if b == 0 else math.copysign(math.inf, b)
    return b / a


def roi_slices(shape: tuple[int, int], frac: float = 0.25) -> dict[str, tuple[slice, slice]]:
    """Fixed regions of an (H, W) frame: centre block, the middle of each edge, each corner;
    each region is about (frac*H) x (frac*W) pixels."""
    H, W = shape
    h, w = max(1, int(H * frac)), max(1, int(W * frac))
    rc, cc = slice((H - h) // 2, (H - h) // 2 + h), slice((W - w) // 2, (W - w) // 2 + w)
    top, bottom, left, right = slice(0, h), slice(H - h, H), slice(0, w), slice(W - w, W)
    return {"centre": (rc, cc), "top": (top, cc), "bottom": (bottom, cc), "left": (rc, left),
            "right": (rc, right), "top_left": (top, left), "top_right": (top, right),
            "bottom_left": (bottom, left), "bottom_right": (bottom, right)}


def radial_profile(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of an (H, W) image in integer-radius rings about pixel (H//2, W//2) (the DC pixel of
    an fftshifted pattern). Returns (radius (R,), mean (R,)), float64."""
    H, W = img.shape
    yy, xx = np.indices((H, W))
    r = np.rint(np.hypot(yy - H // 2, xx - W // 2)).astype(np.int64).ravel()
    counts = np.bincount(r)
    sums = np.bincount(r, weights=np.asarray(img, dtype=np.float64).ravel())
    keep = counts > 0
    return np.nonzero(keep)[0].astype(np.float64), sums[keep] / counts[keep]


@dataclasses.dataclass(frozen=True)
class RegionComparison:
    """One region of the pair: stats of A and B, ratios B/A (sum, max, L2) and Pearson r."""

    name: str
    rows: tuple[int, int]
    cols: tuple[int, int]
    a: ImageStats
    b: ImageStats
    sum_ratio: float
    max_ratio: float
    l2_ratio: float
    pearson_r: float


@dataclasses.dataclass(frozen=True)
class ImageComparison:
    """Comparison of images A and B (same (H, W) shape). Ratios are B / A."""

    shape: tuple[int, int]
    regions: tuple[RegionComparison, ...]  # "full" first, then ROI_NAMES
    radius: np.ndarray
    radial_a: np.ndarray
    radial_b: np.ndarray
    residual_edges: np.ndarray  # histogram of B - A
    residual_counts: np.ndarray

    @property
    def full(self) -> RegionComparison:
        return self.regions[0]

    def region(self, name: str) -> RegionComparison:
        return next(r for r in self.regions if r.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape),
                "regions": [dataclasses.asdict(r) for r in self.regions],
                "radial_profile": {"radius": self.radius, "a": self.radial_a, "b": self.radial_b},
                "residual_histogram": {"edges": self.residual_edges, "counts": self.residual_counts}}


def _compare_region(name: str, rows: slice, cols: slice, a: np.ndarray, b: np.ndarray) -> RegionComparison:
    ra, rb = a[rows, cols], b[rows, cols]
    sa, sb = image_stats(ra), image_stats(rb)
    return RegionComparison(name, (rows.start, rows.stop), (cols.start, cols.stop), sa, sb,
                            safe_ratio(sb.sum, sa.sum), safe_ratio(sb.max, sa.max), safe_ratio(sb.l2, sa.l2),
                            pearson(ra, rb))


def compare_images(a: np.ndarray, b: np.ndarray, *, roi_frac: float = 0.25, bins: int = 64) -> ImageComparison:
    """Compare two real (H, W) images: full frame plus fixed ROIs (see `roi_slices`), radial
    profiles and a `bins`-bin histogram of the residual B - A. Ratios are B / A."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ImageInputError("images", f"need two equally shaped 2-D images, got {a.shape} and {b.shape}")
    H, W = a.shape
    regions = [_compare_region("full", slice(0, H), slice(0, W), a, b)]
    regions += [_compare_region(n, rs, cs, a, b) for n, (rs, cs) in roi_slices((H, W), roi_frac).items()]
    radius, pa = radial_profile(a)
    _, pb = radial_profile(b)
    counts, edges = np.histogram(b - a, bins=bins)
    return ImageComparison((H, W), tuple(regions), radius, pa, pb, edges, counts)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Pass only when |r| >= r_min AND |sum_ratio - 1| <= sum_bound (full frame)."""

    passed: bool
    pearson_r: float
    sum_ratio: float
    r_min: float
    sum_bound: float
    reasons: tuple[str, ...]


def verdict(cmp: ImageComparison, ledger: Ledger, *, r_min: float | None = None,
            sum_bound: float | None = None) -> Verdict:
    """Full-frame verdict; bounds default to the ledger (``tests.gap.verdict_one_minus_r``,
    ``tests.gap.verdict_sum_ratio``). Never passes on correlation alone."""
    if r_min is None:
        r_min = 1.0 - ledger.test_tolerance("gap.verdict_one_minus_r")
    if sum_bound is None:
        sum_bound = ledger.test_tolerance("gap.verdict_sum_ratio")
    r, sr = cmp.full.pearson_r, cmp.full.sum_ratio
    reasons = []
    if not math.isfinite(r):
        reasons.append("Pearson r undefined (a constant image)")
    elif abs(r) < r_min:
        reasons.append(f"|r| = {abs(r):.6g} < r_min = {r_min:.6g} (images differ in shape/geometry)")
    if not math.isfinite(sr):
        reasons.append(f"sum ratio B/A = {sr} is not finite")
    elif abs(sr - 1.0) > sum_bound:
        reasons.append(f"|sum_ratio - 1| = {abs(sr - 1.0):.6g} > {sum_bound:.6g} (scale gap: B/A = {sr:.6g})")
    return Verdict(not reasons, r, sr, r_min, sum_bound, tuple(reasons))


def _split_spec(spec: str, key: str | None) -> tuple[pathlib.Path, str | None]:
    head, sep, tail = spec.rpartition(":")
    if sep and head.lower().endswith(".npz") and tail:
        return pathlib.Path(head), tail
    return pathlib.Path(spec), key


def load_image(spec: str | os.PathLike, *, key: str | None = None, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Load a 2-D real image as float64 from ``.npy``, ``.npz`` (``file.npz:key`` or `key`;
    the only array if there is one) or raw little-endian float32 with `shape` (H, W).
    Complex data become amplitudes (abs); singleton axes are squeezed. Raises ImageInputError
    naming the file for a missing file, bad key, wrong size/rank or non-finite values."""
    path, key = _split_spec(str(spec), key)
    if not path.is_file():
        raise ImageInputError(str(path), "file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                names = list(z.files)
                if key is None:
                    if len(names) != 1:
                        raise ImageInputError(str(path), f"holds arrays {names}; choose one with --key or FILE.npz:KEY")
                    key = names[0]
                if key not in names:
                    raise ImageInputError(str(path), f"no array {key!r} (has {names})")
                arr = z[key]
        else:
            if shape is None:
                raise ImageInputError(str(path), "raw float32 input needs --shape H,W")
            arr = np.fromfile(path, dtype="<f4")
            if arr.size != math.prod(shape):
                raise ImageInputError(str(path), f"holds {arr.size} float32 values, "
                                               f"--shape {shape} needs {math.prod(shape)}")
            arr = arr.reshape(shape)
    except (ValueError, OSError) as exc:
        if isinstance(exc, ImageInputError):
            raise
        raise ImageInputError(str(path), f"cannot read: {exc}") from exc
    if arr.dtype.kind not in "fiuc":
        raise ImageInputError(str(path), f"dtype {arr.dtype} is not numeric")
    arr = np.abs(arr) if arr.dtype.kind == "c" else arr
    arr = np.squeeze(np.asarray(arr, dtype=np.float64))
    if arr.ndim != 2:
        raise ImageInputError(str(path), f"need a 2-D image, got shape {arr.shape} after squeezing")
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise ImageInputError(str(path), f"{bad} NaN/Inf values")
    return arr


def load_scalars(path: str | os.PathLike) -> dict[str, float]:
    """Named scalars from JSON: either {name: number} or a telemetry record / golden (its
    candidate scalars, see `scalar_candidates`). Raises ImageInputError naming the file."""
    try:
        data = jsonsafe.read_json(path)
    except jsonsafe.JsonSafeError as exc:
        raise ImageInputError(str(path), exc.problem) from exc
    if isinstance(data, dict) and isinstance(data.get("values"), dict):
        return scalar_candidates(data["values"])
    if not isinstance(data, dict):
        raise ImageInputError(str(path), "must be a JSON object {name: number} or a telemetry record")
    out = {}
    for k, v in data.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ImageInputError(str(path), f"scalar {k!r} is not a number: {v!r}")
        out[k] = float(v)
    return out


def _g(x: float) -> str:
    return f"{x:.6g}"


def report_markdown(cmp: ImageComparison, v: Verdict, attributions: Mapping[str, list[Attribution]],
                    names: tuple[str, str] = ("A", "B"), top: int = 10) -> str:
    """Markdown report: verdict, per-region table, attribution of the ratios."""
    a_name, b_name = names
    lines = [f"# compare-images: {a_name} vs {b_name}", "",
             f"**{'PASS' if v.passed else 'FAIL'}**: Pearson r = {_g(v.pearson_r)} (need |r| >= {_g(v.r_min)}), "
             f"sum ratio B/A = {_g(v.sum_ratio)} (need |ratio - 1| <= {_g(v.sum_bound)})"]
    lines += [f"- {r}" for r in v.reasons]
    lines += ["", f"Shape {cmp.shape[0]}x{cmp.shape[1]}. Ratios are B/A.", "",
              "| region | A sum | B sum | A max | B max | A mean | B mean | A std | B std | A RMS | B RMS "
              "| sum ratio | max ratio | L2 ratio | r |",
              "|---" * 15 + "|"]
    for r in cmp.regions:
        lines.append(f"| {r.name} | {_g(r.a.sum)} | {_g(r.b.sum)} | {_g(r.a.max)} | {_g(r.b.max)} | {_g(r.a.mean)} "
                     f"| {_g(r.b.mean)} | {_g(r.a.std)} | {_g(r.b.std)} | {_g(r.a.rms)} | {_g(r.b.rms)} "
                     f"| {_g(r.sum_ratio)} | {_g(r.max_ratio)} | {_g(r.l2_ratio)} | {_g(r.pearson_r)} |")
    full = cmp.full
    lines += ["", f"A: min {_g(full.a.min)}, L2 {_g(full.a.l2)}; B: min {_g(full.b.min)}, L2 {_g(full.b.l2)}.", ""]
    for what, matches in attributions.items():
        if not matches:
            lines.append(f"No product of the named scalars explains the {what}.")
            continue
        lines += [f"Attribution of the {what} ({len(matches)} match(es), best {min(top, len(matches))} shown):", ""]
        if matches[0].rel_error > CLOSE_MATCH:
            lines += [APPROXIMATE_NOTE.format(CLOSE_MATCH), ""]
        lines += ["| expression | value | rel. error | same value as |", "|---|---|---|---|"]
        lines += [f"| {m.expression} | {_g(m.value)} | {m.rel_error:.2g} | {equivalents_text(m)} |"
                  for m in matches[:top]]
        if aliases_text(matches[:top]):
            lines += ["", f"Equal scalars: {aliases_text(matches[:top])}."]
        lines.append("")
    return "\n".join(lines)


def write_pngs(a: np.ndarray, b: np.ndarray, cmp: ImageComparison, out_dir: str | os.PathLike,
               names: tuple[str, str] = ("A", "B")) -> list[pathlib.Path]:
    """side_by_side.png (A, B, B - A), residual_hist.png, radial_profiles.png in `out_dir`
    (matplotlib Agg, no global backend change; each file written atomically)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_dir = pathlib.Path(out_dir)
    atomic.make_dirs(out_dir)

    def save(fig: Figure, name: str) -> pathlib.Path:
        FigureCanvasAgg(fig)
        path = out_dir / name
        with atomic.replacing(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100)
        return path

    fig = Figure(figsize=(12, 4), layout="constrained")
    titles = (*names, f"{names[1]} - {names[0]}")
    m = float(np.max(np.abs(b - a))) or 1.0
    limits = ({}, {}, {"vmin": -m, "vmax": m})  # residual: diverging map centred on 0
    for ax, img, title, cmap, lim in zip(fig.subplots(1, 3), (a, b, b - a), titles,
                                         ("viridis", "viridis", "RdBu_r"), limits):
        im = ax.imshow(img, cmap=cmap, **lim)
        ax.set_title(title)
        fig.colorbar(im, ax=ax, shrink=0.8)
    paths = [save(fig, "side_by_side.png")]

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.stairs(cmp.residual_counts, cmp.residual_edges, fill=True)
    ax.set_xlabel(f"{names[1]} - {names[0]}")
    ax.set_ylabel("pixels")
    ax.set_title(f"residual histogram (sum ratio {_g(cmp.full.sum_ratio)}, r {_g(cmp.full.pearson_r)})")
    paths.append(save(fig, "residual_hist.png"))

    fig = Figure(figsize=(10, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(cmp.radius, cmp.radial_a, label=names[0])
    ax1.plot(cmp.radius, cmp.radial_b, label=names[1])
    ax1.set_xlabel("radius [px] from (H//2, W//2)")
    ax1.set_ylabel("ring mean")
    ax1.legend()
    with np.errstate(divide="ignore", invalid="ignore"):
        ax2.plot(cmp.radius, cmp.radial_b / cmp.radial_a)
    ax2.set_xlabel("radius [px]")
    ax2.set_ylabel(f"{names[1]} / {names[0]} ring mean")
    paths.append(save(fig, "radial_profiles.png"))
    return paths
