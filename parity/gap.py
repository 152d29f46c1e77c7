"""Image-pair comparison and scale-gap attribution (``python -m parity compare-images``).

Two images from two implementations (e.g. legacy and current reconstructions) are compared on
the full frame and on fixed regions (centre, four edges, four corners): max/min/mean/std/sum/
L2/RMS of each, the ratios B/A of sum, max and L2, and Pearson r. Radial profiles and a residual
histogram show where they differ. An observed ratio is attributed to products and ratios of up
to three named configuration scalars raised to +-1, +-2, +-1/2 (every match within a relative
tolerance, 2% by default, is listed).

The verdict passes only when BOTH ``|r| >= r_min`` and ``|sum_ratio - 1| <= sum_bound``: a pair
that correlates perfectly but is off by a scale factor (the 10^5 failure) must fail. Bounds
default to ``[tests.gap]`` in ``golden/tolerances.toml``.
"""
from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import itertools
import math
import os
import pathlib
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from parity import jsonsafe
from ptycho.errors import NamedProblemError

EXPONENTS: tuple[float, ...] = (1.0, -1.0, 2.0, -2.0, 0.5, -0.5)
# A sub-product of scalars within this of 1 is an identity among them (e.g. s / (g * s_cf));
# matches containing one are redundant restatements of a simpler match and are dropped.
IDENTITY_RTOL = 1e-6
# Matches looser than this are flagged as approximate in reports (coincidences are likely when
# many scalars are combined three at a time).
CLOSE_MATCH = 1e-4
# Attribution errors are compared at this resolution; within it, simpler products rank first.
ERROR_RESOLUTION = 1e-4
MAX_SCALARS = 60
ROI_NAMES = ("centre", "top", "bottom", "left", "right", "top_left", "top_right", "bottom_left", "bottom_right")
# Telemetry keys whose last segment matches one of these globs are candidate scalars for attribution.
SCALAR_KEY_PATTERNS = ("g", "s", "s_cf", "s_sim", "*scale*", "*gain*", "nphotons", "N", "gridsize", "C",
                       "E", "energy", "*_norm", "norm", "*ceiling*")


class GapInputError(NamedProblemError, ValueError):
    """An input image or scalar file cannot be used; `source` names it (as str)."""

    name_attr, str_name = "source", True


# --------------------------------------------------------------------------- statistics


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


def pearson_r(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally shaped arrays (float64); NaN if either is constant."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    da, db = a - a.mean(), b - b.mean()
    den = math.sqrt(float(np.dot(da, da)) * float(np.dot(db, db)))
    return float(np.dot(da, db)) / den if den > 0 else math.nan


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
                            pearson_r(ra, rb))


def compare_images(a: np.ndarray, b: np.ndarray, *, roi_frac: float = 0.25, bins: int = 64) -> ImageComparison:
    """Compare two real (H, W) images: full frame plus fixed ROIs (see `roi_slices`), radial
    profiles and a `bins`-bin histogram of the residual B - A. Ratios are B / A."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise GapInputError("images", f"need two equally shaped 2-D images, got {a.shape} and {b.shape}")
    H, W = a.shape
    regions = [_compare_region("full", slice(0, H), slice(0, W), a, b)]
    regions += [_compare_region(n, rs, cs, a, b) for n, (rs, cs) in roi_slices((H, W), roi_frac).items()]
    radius, pa = radial_profile(a)
    _, pb = radial_profile(b)
    counts, edges = np.histogram(b - a, bins=bins)
    return ImageComparison((H, W), tuple(regions), radius, pa, pb, edges, counts)


# --------------------------------------------------------------------------- attribution


@dataclasses.dataclass(frozen=True)
class Attribution:
    """A product of named scalars that matches an observed ratio."""

    expression: str
    value: float
    rel_error: float
    terms: tuple[tuple[str, float], ...]
    complexity: tuple[int, int]
    equivalents: tuple[str, ...] = ()  # other expressions with the same value (scalar identities)
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name, other names with the same value)


def _fmt_exp(name: str, e: float) -> str:
    e = abs(e)
    return name if e == 1 else f"{name}^2" if e == 2 else f"{name}^(1/2)"


def format_terms(terms: tuple[tuple[str, float], ...]) -> str:
    """'a * b / c^2' style text of ((name, exponent), ...)."""
    if not terms:
        return "1"
    num = [_fmt_exp(n, e) for n, e in terms if e > 0]
    den = [_fmt_exp(n, e) for n, e in terms if e < 0]
    text = " * ".join(num) if num else "1"
    if den:
        text += " / " + (den[0] if len(den) == 1 else "(" + " * ".join(den) + ")")
    return text


def _dedupe_scalars(scalars: Mapping[str, float]) -> list[tuple[str, float, tuple[str, ...]]]:
    """Finite, non-zero scalars != 1 as (name, value, aliases): scalars with equal values are
    merged under the first name, the others become its aliases."""
    out: list[tuple[list[str], float]] = []
    for name, v in scalars.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        v = float(v)
        if not math.isfinite(v) or v == 0 or abs(v - 1.0) <= 1e-12:
            continue
        for names, w in out:
            if abs(v - w) <= 1e-12 * abs(w):
                names.append(name)
                break
        else:
            out.append(([name], v))
    if len(out) > MAX_SCALARS:
        raise GapInputError("scalars", f"{len(out)} distinct scalars; attribution takes at most {MAX_SCALARS}")
    return [(names[0], v, tuple(names[1:])) for names, v in out]


def _has_identity(factors: list[float]) -> bool:
    """True if a non-empty subset of `factors` multiplies to 1 within IDENTITY_RTOL."""
    for n in range(1, len(factors) + 1):
        for sub in itertools.combinations(factors, n):
            if abs(math.prod(sub) - 1.0) <= IDENTITY_RTOL:
                return True
    return False


def attribute_ratio(ratio: float, scalars: Mapping[str, float], *, rel_tol: float | None = None,
                    max_terms: int = 3, exponents: tuple[float, ...] = EXPONENTS,
                    error_resolution: float = ERROR_RESOLUTION) -> list[Attribution]:
    """Every product of 1..`max_terms` distinct named scalars, each raised to one of
    `exponents`, within `rel_tol` (default: ledger ``tests.gap.attribution``, 2%) of `ratio`.

    Sorted by relative error (at `error_resolution`), then simplest first (fewer terms, then
    exponents +-1 before +-2 before +-1/2), then by the order of `scalars` (list the canonical
    ones first). A ratio within `rel_tol` of 1 also lists "1".
    Scalars equal to each other are merged under the first name (the others are listed in
    `aliases`); 0, 1 and non-finite ones are ignored;
    products that contain an identity among the scalars (a sub-product equal to 1, e.g.
    s / (g * s_cf) when s = g * s_cf) are left out as restatements, and matches with the same
    value (within IDENTITY_RTOL) are folded into the simplest one's `equivalents`.
    """
    if rel_tol is None:
        rel_tol = ledger_bound("gap.attribution")
    ratio = float(ratio)
    if not math.isfinite(ratio) or ratio == 0:
        return []
    found: list[Attribution] = []
    if abs(1.0 - ratio) <= rel_tol * abs(ratio):
        found.append(Attribution("1", 1.0, abs(1.0 - ratio) / abs(ratio), (), (0, 0)))
    named = _dedupe_scalars(scalars)
    if not named:
        return found
    vals = np.array([v for _, v, _ in named])
    alias_of = {name: aliases for name, _, aliases in named if aliases}
    exps = np.array(exponents, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        table = np.where((vals[:, None] < 0) & (exps[None, :] % 1 != 0), np.nan,
                         np.sign(vals)[:, None] ** np.where(exps % 1 == 0, exps, 0)[None, :]
                         * np.abs(vals)[:, None] ** exps[None, :])
    penalty = {1.0: 0, 2.0: 1, 0.5: 2}
    for k in range(1, min(max_terms, len(named)) + 1):
        combos = np.array(list(itertools.combinations(range(len(named)), k)), dtype=np.int64)
        prod = np.ones((len(combos),) + (len(exps),) * k)
        for j in range(k):
            shape = [len(combos)] + [1] * k
            shape[j + 1] = len(exps)
            prod = prod * table[combos[:, j]].reshape(shape)
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.abs(prod - ratio) / abs(ratio)
        for idx in zip(*np.nonzero(err <= rel_tol)):
            c, eidx = combos[idx[0]], idx[1:]
            terms = tuple((named[c[j]][0], float(exps[eidx[j]])) for j in range(k))
            factors = [float(table[c[j], eidx[j]]) for j in range(k)]
            if _has_identity(factors):
                continue
            cx = (k, sum(penalty[abs(e)] for _, e in terms))
            aliases = tuple((n, alias_of[n]) for n, _ in terms if n in alias_of)
            found.append(Attribution(format_terms(terms), float(prod[idx]), float(err[idx]), terms, cx,
                                     aliases=aliases))
    rank = {name: i for i, (name, _, _) in enumerate(named)}
    found.sort(key=lambda m: (round(m.rel_error / error_resolution), m.complexity,
                              sorted(rank.get(n, -1) for n, _ in m.terms), m.expression))
    return _group_equivalents(found)


def _group_equivalents(matches: list[Attribution]) -> list[Attribution]:
    """Fold matches whose values agree within IDENTITY_RTOL into the first (simplest) one."""
    groups: list[tuple[Attribution, list[str]]] = []
    for m in matches:
        for rep, eq in groups:
            if abs(m.value - rep.value) <= IDENTITY_RTOL * abs(rep.value):
                eq.append(m.expression)
                break
        else:
            groups.append((m, []))
    return [dataclasses.replace(rep, equivalents=tuple(eq)) for rep, eq in groups]


def scalar_candidates(values: Mapping[str, Any], patterns: tuple[str, ...] = SCALAR_KEY_PATTERNS) -> dict[str, float]:
    """Numeric scalars of a telemetry ``values`` dict whose last key segment matches one of
    `patterns` (g, s, s_cf, *scale*, nphotons, ...), keyed by their full telemetry key."""
    out = {}
    for key, v in values.items():
        leaf = key.rsplit(".", 1)[-1]
        numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
        if numeric and any(fnmatch.fnmatchcase(leaf, p) for p in patterns):
            out[key] = float(v)
    return out


# --------------------------------------------------------------------------- verdict


def ledger_bound(name: str) -> float:
    """Value of ``[tests.<name>]`` in the tolerance ledger (e.g. 'gap.verdict_sum_ratio')."""
    from parity.golden import load_ledger

    return load_ledger().test_tolerance(name)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Pass only when |r| >= r_min AND |sum_ratio - 1| <= sum_bound (full frame)."""

    passed: bool
    pearson_r: float
    sum_ratio: float
    r_min: float
    sum_bound: float
    reasons: tuple[str, ...]


def verdict(cmp: ImageComparison, *, r_min: float | None = None, sum_bound: float | None = None) -> Verdict:
    """Full-frame verdict; bounds default to the ledger (``tests.gap.verdict_one_minus_r``,
    ``tests.gap.verdict_sum_ratio``). Never passes on correlation alone."""
    if r_min is None:
        r_min = 1.0 - ledger_bound("gap.verdict_one_minus_r")
    if sum_bound is None:
        sum_bound = ledger_bound("gap.verdict_sum_ratio")
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


# --------------------------------------------------------------------------- input


def _split_spec(spec: str, key: str | None) -> tuple[pathlib.Path, str | None]:
    head, sep, tail = spec.rpartition(":")
    if sep and head.lower().endswith(".npz") and tail:
        return pathlib.Path(head), tail
    return pathlib.Path(spec), key


def load_image(spec: str | os.PathLike, *, key: str | None = None, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Load a 2-D real image as float64 from ``.npy``, ``.npz`` (``file.npz:key`` or `key`;
    the only array if there is one) or raw little-endian float32 with `shape` (H, W).
    Complex data become amplitudes (abs); singleton axes are squeezed. Raises GapInputError
    naming the file for a missing file, bad key, wrong size/rank or non-finite values."""
    path, key = _split_spec(str(spec), key)
    if not path.is_file():
        raise GapInputError(str(path), "file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                names = list(z.files)
                if key is None:
                    if len(names) != 1:
                        raise GapInputError(str(path), f"holds arrays {names}; choose one with --key or FILE.npz:KEY")
                    key = names[0]
                if key not in names:
                    raise GapInputError(str(path), f"no array {key!r} (has {names})")
                arr = z[key]
        else:
            if shape is None:
                raise GapInputError(str(path), "raw float32 input needs --shape H,W")
            arr = np.fromfile(path, dtype="<f4")
            if arr.size != math.prod(shape):
                raise GapInputError(str(path), f"holds {arr.size} float32 values, "
                                               f"--shape {shape} needs {math.prod(shape)}")
            arr = arr.reshape(shape)
    except (ValueError, OSError) as exc:
        if isinstance(exc, GapInputError):
            raise
        raise GapInputError(str(path), f"cannot read: {exc}") from exc
    if arr.dtype.kind not in "fiuc":
        raise GapInputError(str(path), f"dtype {arr.dtype} is not numeric")
    arr = np.abs(arr) if arr.dtype.kind == "c" else arr
    arr = np.squeeze(np.asarray(arr, dtype=np.float64))
    if arr.ndim != 2:
        raise GapInputError(str(path), f"need a 2-D image, got shape {arr.shape} after squeezing")
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise GapInputError(str(path), f"{bad} NaN/Inf values")
    return arr


def load_scalars(path: str | os.PathLike) -> dict[str, float]:
    """Named scalars from JSON: either {name: number} or a telemetry record / golden (its
    candidate scalars, see `scalar_candidates`). Raises GapInputError naming the file."""
    try:
        data = jsonsafe.read_json(path)
    except jsonsafe.JsonSafeError as exc:
        raise GapInputError(str(path), exc.problem) from exc
    if isinstance(data, dict) and isinstance(data.get("values"), dict):
        return scalar_candidates(data["values"])
    if not isinstance(data, dict):
        raise GapInputError(str(path), "must be a JSON object {name: number} or a telemetry record")
    out = {}
    for k, v in data.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise GapInputError(str(path), f"scalar {k!r} is not a number: {v!r}")
        out[k] = float(v)
    return out


def parse_shape(text: str) -> tuple[int, int]:
    """'H,W' -> (H, W) positive ints (argparse type)."""
    try:
        dims = tuple(int(t) for t in text.replace("x", ",").split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--shape must be H,W, got {text!r}") from exc
    if len(dims) != 2 or min(dims) <= 0:
        raise argparse.ArgumentTypeError(f"--shape must be two positive integers H,W, got {text!r}")
    return dims  # type: ignore[return-value]


# --------------------------------------------------------------------------- output


def _g(x: float) -> str:
    return f"{x:.6g}"


APPROXIMATE_NOTE = ("No product matches within {:g}: the matches below are approximate and, with many "
                    "scalars, may be coincidental.")


def aliases_text(matches: list[Attribution]) -> str:
    """'a = b = c; d = e' for every aliased scalar used in `matches` ('' if none)."""
    seen: dict[str, tuple[str, ...]] = {}
    for m in matches:
        seen.update(m.aliases)
    return "; ".join(" = ".join((n, *al)) for n, al in seen.items())


def _equivalents_text(m: Attribution, show: int = 3) -> str:
    more = len(m.equivalents) - show
    return ", ".join(m.equivalents[:show]) + (f" (+{more} more)" if more > 0 else "")


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
        lines += [f"| {m.expression} | {_g(m.value)} | {m.rel_error:.2g} | {_equivalents_text(m)} |"
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
    out_dir.mkdir(parents=True, exist_ok=True)

    def save(fig: Figure, name: str) -> pathlib.Path:
        FigureCanvasAgg(fig)
        path = out_dir / name
        tmp = out_dir / f".{name}.tmp.png"
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, path)
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


# --------------------------------------------------------------------------- CLI


def _cmd_compare_images(args: argparse.Namespace) -> int:
    try:
        a = load_image(args.a, key=args.key, shape=args.shape)
        b = load_image(args.b, key=args.key_b or args.key, shape=args.shape)
        scalars = load_scalars(args.scalars) if args.scalars else {}
        cmp = compare_images(a, b)
    except GapInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    v = verdict(cmp, r_min=args.r_min, sum_bound=args.sum_bound)
    attributions = {"sum ratio": attribute_ratio(cmp.full.sum_ratio, scalars) if scalars else []}
    if scalars and abs(safe_ratio(cmp.full.l2_ratio, cmp.full.sum_ratio) - 1) > ledger_bound("gap.attribution"):
        attributions["L2 ratio"] = attribute_ratio(cmp.full.l2_ratio, scalars)
    names = (pathlib.Path(str(args.a)).name, pathlib.Path(str(args.b)).name)
    text = report_markdown(cmp, v, attributions, names, top=args.top)
    payload = {"verdict": dataclasses.asdict(v), "comparison": cmp.to_dict(), "scalars": scalars,
               "attributions": {k: [dataclasses.asdict(m) for m in ms] for k, ms in attributions.items()}}
    if args.out:
        out = pathlib.Path(args.out)
        jsonsafe.write_text_atomic(out / "report.md", text + "\n")
        jsonsafe.write_json(out / "comparison.json", payload)
        write_pngs(a, b, cmp, out, names)
    print(jsonsafe.dumps(payload) if args.json else text)
    return 0 if v.passed else 1


def register_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``compare-images A B [--scalars S.json] [--out DIR] [--shape H,W] [--key K]``;
    sets ``func(args) -> exit code``: 0 pass, 1 fail, 2 usage/input error."""
    p = subparsers.add_parser(
        "compare-images", help="compare two images; attribute a scale gap to configuration scalars",
        description="Compare two images (npy, npz[:key], raw float32 with --shape). PASS needs both "
                    "|Pearson r| >= r_min and |sum ratio - 1| <= bound. Exit 0 pass, 1 fail, 2 input error.")
    p.add_argument("a", help="image A (.npy, .npz, FILE.npz:KEY, or raw float32 with --shape)")
    p.add_argument("b", help="image B (same forms)")
    p.add_argument("--scalars", type=pathlib.Path, help="JSON {name: value} or a telemetry record, for attribution")
    p.add_argument("--out", type=pathlib.Path, help="write report.md, comparison.json and PNGs here")
    p.add_argument("--shape", type=parse_shape, help="H,W of raw float32 inputs")
    p.add_argument("--key", help="npz key (both images unless --key-b)")
    p.add_argument("--key-b", help="npz key of image B")
    p.add_argument("--r-min", type=float, help="override the ledger's minimum |r|")
    p.add_argument("--sum-bound", type=float, help="override the ledger's bound on |sum ratio - 1|")
    p.add_argument("--top", type=int, default=10, help="attribution matches shown (all are in --json/--out)")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.set_defaults(func=_cmd_compare_images)
    return p

