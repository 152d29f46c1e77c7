"""Alignment and metrics of a reconstruction against the ground truth, next to a baseline.

Amplitude metrics are computed on the raw reconstruction: the least-squares scalar
c = <recon, truth> / <truth, truth> (recon ~ c * truth) is reported, never applied.
Phase is compared after removing the mean and the least-squares plane from both phases.
Every quality figure is reported as (model, baseline), where the baseline is the trivial
constant-amplitude reconstruction: one constant per pattern from its total intensity
(sum X^2 = sum |P O|^2 for a pattern, so c^2 * sum |P|^2 = sum X^2), stitched like the model.
Images are 2-D float arrays in object pixels; positions x = column, y = row.
"""
from __future__ import annotations

import math
import os
import pathlib
import tempfile
from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigError

FRC_THRESHOLDS = {"0.5": 0.5, "1/7": 1.0 / 7.0}
#: smallest side (pixels) of the covered rectangle on which SSIM and FRC are computed
MIN_RECTANGLE = 16


# ---------------------------------------------------------------------------- regions
def scan_region(xcoords, ycoords, shape, origin=(0.0, 0.0)) -> tuple[slice, slice]:
    """(row slice, col slice) of the bounding box of the scan positions on a canvas.

    Positions are object pixels; `origin` is the object coordinate of canvas pixel (0, 0).
    The box runs from ceil(min) to floor(max) inclusive, clipped to `shape`.
    """
    x = np.asarray(xcoords, dtype=np.float64) - float(origin[1])
    y = np.asarray(ycoords, dtype=np.float64) - float(origin[0])
    if x.size == 0:
        raise ConfigError("xcoords", "no scan positions")
    r0 = max(int(math.ceil(y.min())), 0)
    r1 = min(int(math.floor(y.max())) + 1, int(shape[0]))
    c0 = max(int(math.ceil(x.min())), 0)
    c1 = min(int(math.floor(x.max())) + 1, int(shape[1]))
    if r1 <= r0 or c1 <= c0:
        raise ConfigError("xcoords", f"scan region is empty on a canvas of shape {tuple(shape)}")
    return slice(r0, r1), slice(c0, c1)


def crop_to_scan(image, xcoords, ycoords, origin=(0.0, 0.0)) -> np.ndarray:
    """`image` cropped to the bounding box of the scan positions (see `scan_region`)."""
    image = np.asarray(image)
    rows, cols = scan_region(xcoords, ycoords, image.shape, origin)
    return image[rows, cols]


def largest_true_rectangle(mask) -> tuple[slice, slice]:
    """(row slice, col slice) of the largest axis-aligned all-True rectangle of a 2-D mask
    (by area; the first found on ties). Empty slices when the mask has no True pixel."""
    mask = np.asarray(mask, bool)
    H, W = mask.shape
    heights = np.zeros(W + 1, dtype=np.int64)         # trailing 0 flushes the stack
    best = (0, 0, 0, 0, 0)                            # area, r0, r1, c0, c1
    for r in range(H):
        heights[:W] = np.where(mask[r], heights[:W] + 1, 0)
        stack: list[int] = []                         # columns with increasing heights
        for c in range(W + 1):
            while stack and heights[stack[-1]] >= heights[c]:
                h = int(heights[stack.pop()])
                left = stack[-1] + 1 if stack else 0
                if h * (c - left) > best[0]:
                    best = (h * (c - left), r - h + 1, r + 1, left, c)
            stack.append(c)
    _, r0, r1, c0, c1 = best
    return slice(r0, r1), slice(c0, c1)


# ---------------------------------------------------------------------------- alignment
def remove_plane(image, mask=None) -> np.ndarray:
    """`image` (H, W) minus its least-squares plane a + b*row + c*col (fit on `mask`)."""
    image = np.asarray(image, dtype=np.float64)
    rows, cols = np.indices(image.shape, dtype=np.float64)
    sel = np.ones(image.shape, bool) if mask is None else np.asarray(mask, bool)
    if sel.sum() < 3:
        raise ConfigError("mask", "needs at least 3 pixels to fit a plane")
    design = np.stack([np.ones(sel.sum()), rows[sel], cols[sel]], axis=1)
    coef, *_ = np.linalg.lstsq(design, image[sel], rcond=None)
    return image - (coef[0] + coef[1] * rows + coef[2] * cols)


def align_phase(phase_recon, phase_true, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """Both phases (radians) with their mean and least-squares plane removed."""
    return remove_plane(phase_recon, mask), remove_plane(phase_true, mask)


# ---------------------------------------------------------------------------- scalar metrics
def _pair(recon, truth):
    recon = np.asarray(recon, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if recon.shape != truth.shape:
        raise ConfigError("recon", f"shape {recon.shape} != truth shape {truth.shape}")
    return recon, truth


def ls_scalar(recon, truth) -> float:
    """Least-squares c with recon ~ c * truth: <recon, truth> / <truth, truth>."""
    recon, truth = _pair(recon, truth)
    denom = float(np.sum(truth * truth))
    return float(np.sum(recon * truth) / denom) if denom > 0 else math.nan


def mae(recon, truth) -> float:
    """Mean absolute error."""
    recon, truth = _pair(recon, truth)
    return float(np.mean(np.abs(recon - truth)))


def rmse(recon, truth) -> float:
    """Root mean squared error."""
    recon, truth = _pair(recon, truth)
    return float(np.sqrt(np.mean((recon - truth) ** 2)))


def relative_rmse(recon, truth) -> float:
    """RMSE divided by the root mean square of the truth."""
    recon, truth = _pair(recon, truth)
    denom = float(np.sqrt(np.mean(truth * truth)))
    return rmse(recon, truth) / denom if denom > 0 else math.nan


def pearson(recon, truth) -> float:
    """Pearson correlation coefficient (nan when either image is constant)."""
    recon, truth = _pair(recon, truth)
    if np.ptp(recon) == 0 or np.ptp(truth) == 0:
        return math.nan
    a = recon - recon.mean()
    b = truth - truth.mean()
    denom = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    return float(np.sum(a * b) / denom) if denom > 0 else math.nan


def data_range(truth) -> float:
    """max - min of the truth (the data range used by SSIM and PSNR)."""
    truth = np.asarray(truth, dtype=np.float64)
    return float(truth.max() - truth.min())


def ssim(recon, truth) -> float:
    """scikit-image SSIM with data_range = range of the truth (nan if the truth is constant)."""
    from skimage.metrics import structural_similarity

    recon, truth = _pair(recon, truth)
    rng = data_range(truth)
    if rng <= 0 or min(truth.shape) < 7:
        return math.nan
    return float(structural_similarity(truth, recon, data_range=rng))


def psnr(recon, truth) -> float:
    """scikit-image PSNR (dB) with data_range = range of the truth."""
    from skimage.metrics import peak_signal_noise_ratio

    recon, truth = _pair(recon, truth)
    rng = data_range(truth)
    if rng <= 0:
        return math.nan
    if np.array_equal(recon, truth):
        return math.inf
    return float(peak_signal_noise_ratio(truth, recon, data_range=rng))


# ---------------------------------------------------------------------------- FRC
def frc_curve(image_a, image_b, *, window: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Fourier ring correlation of two (H, W) real images.

    Rings of width 1/min(H, W) cycles/pixel from 0 to 0.5. With `window` both images are
    mean-subtracted and multiplied by a 2-D Hann window first. Returns (freq, frc): ring
    centre frequencies in cycles/pixel and the correlation per ring (nan for an empty ring).
    """
    a, b = _pair(image_a, image_b)
    if a.ndim != 2:
        raise ConfigError("image_a", f"must be 2-D, got shape {a.shape}")
    if window:
        hann = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
        a = (a - a.mean()) * hann
        b = (b - b.mean()) * hann
    fa, fb = np.fft.fft2(a), np.fft.fft2(b)
    fy = np.fft.fftfreq(a.shape[0])[:, None]
    fx = np.fft.fftfreq(a.shape[1])[None, :]
    radius = np.sqrt(fy**2 + fx**2)
    n_rings = min(a.shape) // 2
    width = 0.5 / n_rings
    ring = np.floor(radius / width).astype(np.int64)
    keep = ring < n_rings
    cross = np.bincount(ring[keep], (fa * np.conj(fb)).real[keep], minlength=n_rings)
    pa = np.bincount(ring[keep], (np.abs(fa) ** 2)[keep], minlength=n_rings)
    pb = np.bincount(ring[keep], (np.abs(fb) ** 2)[keep], minlength=n_rings)
    denom = np.sqrt(pa * pb)
    frc = np.full(n_rings, np.nan)
    np.divide(cross, denom, out=frc, where=denom > 0)
    freq = (np.arange(n_rings) + 0.5) * width
    return freq, frc


def frc_crossing(freq, frc, threshold: float) -> float | None:
    """First frequency (cycles/pixel, linearly interpolated) where the FRC falls below
    `threshold`, ignoring the DC ring; None when it never does."""
    freq = np.asarray(freq, dtype=np.float64)
    frc = np.asarray(frc, dtype=np.float64)
    for i in range(1, len(frc)):
        if np.isfinite(frc[i]) and frc[i] < threshold:
            prev = frc[i - 1]
            if i == 1 or not np.isfinite(prev) or prev == frc[i]:
                return float(freq[i])
            t = (prev - threshold) / (prev - frc[i])
            return float(freq[i - 1] + t * (freq[i] - freq[i - 1]))
    return None


def frc_summary(image_a, image_b) -> dict:
    """{'freq': [...], 'frc': [...], '0.5': crossing, '1/7': crossing} (JSON-safe)."""
    freq, frc = frc_curve(image_a, image_b)
    out = {"freq": freq.tolist(), "frc": [None if not np.isfinite(v) else float(v) for v in frc]}
    for name, thr in FRC_THRESHOLDS.items():
        out[name] = frc_crossing(freq, frc, thr)
    return out


# ---------------------------------------------------------------------------- baseline
def constant_amplitude_baseline(X_raw, probe, mask=None) -> np.ndarray:
    """(K,) constant object amplitude per pattern: c = sqrt(sum X^2 / sum |P (M)|^2).

    X_raw: (K, N, N) or (B, N, N, C) raw diffraction amplitudes (flattened b*C + c), in the
    units where sum X_raw^2 = sum |P O|^2; probe (N, N) complex; mask (N, N) or None.
    """
    from .stitching import flatten_patches

    X = flatten_patches(np.asarray(X_raw, dtype=np.float64))
    illum = np.abs(np.asarray(probe, dtype=np.complex128)) ** 2
    if mask is not None:
        illum = illum * np.asarray(mask, dtype=np.float64) ** 2
    total = float(illum.sum())
    if not total > 0:
        raise ConfigError("probe", "has no intensity")
    return np.sqrt(np.sum(X * X, axis=(1, 2)) / total)


def baseline_patches(amplitudes, N: int) -> np.ndarray:
    """(K, N, N) float64 patches, each constant at its baseline amplitude."""
    a = np.asarray(amplitudes, dtype=np.float64).reshape(-1)
    return np.broadcast_to(a[:, None, None], (a.size, N, N)).copy()


# ---------------------------------------------------------------------------- patch-level
def _crop(patches, crop):
    N = patches.shape[-1]
    s = (N - crop) // 2
    return patches[:, s:s + crop, s:s + crop]


def patch_pearson(recon_patches, true_patches, *, crop: int) -> np.ndarray:
    """(K,) Pearson r within the central crop of each patch (real images, e.g. amplitudes)."""
    from .stitching import flatten_patches

    a = _crop(flatten_patches(np.asarray(recon_patches, np.float64)), crop)
    b = _crop(flatten_patches(np.asarray(true_patches, np.float64)), crop)
    varying = (np.ptp(a, axis=(1, 2)) > 0) & (np.ptp(b, axis=(1, 2)) > 0)
    a = a - a.mean(axis=(1, 2), keepdims=True)
    b = b - b.mean(axis=(1, 2), keepdims=True)
    denom = np.sqrt(np.sum(a * a, axis=(1, 2)) * np.sum(b * b, axis=(1, 2)))
    out = np.full(a.shape[0], np.nan)
    np.divide(np.sum(a * b, axis=(1, 2)), denom, out=out, where=varying & (denom > 0))
    return out


def twin_fraction(recon_patches, true_patches, *, crop: int) -> float:
    """Fraction of patches whose amplitude correlates better with the twin (the truth rotated
    by 180 degrees about the patch centre, |O(-r)|) than with the truth itself."""
    from .stitching import flatten_patches

    truth = flatten_patches(np.asarray(true_patches, np.float64))
    N = truth.shape[-1]
    # rotate about pixel (N/2, N/2): index i -> N - i (mod N)
    twin = np.roll(truth[:, ::-1, ::-1], shift=(1, 1), axis=(1, 2))
    direct = patch_pearson(recon_patches, truth, crop=crop)
    flipped = patch_pearson(recon_patches, twin, crop=crop)
    ok = np.isfinite(direct) & np.isfinite(flipped)
    return float(np.mean(flipped[ok] > direct[ok])) if ok.any() else math.nan


def saturation_fraction(amplitude, ceiling: float, *, tolerance: float = 0.01,
                        where=None) -> float:
    """Fraction of pixels (in `where`) at or above (1 - tolerance) * ceiling."""
    a = np.asarray(amplitude, dtype=np.float64)
    sel = np.ones(a.shape, bool) if where is None else np.asarray(where, bool)
    if not sel.any() or not math.isfinite(ceiling):
        return 0.0
    return float(np.mean(a[sel] >= (1.0 - tolerance) * ceiling))


# ---------------------------------------------------------------------------- report
def amplitude_metrics(recon, truth, mask=None) -> dict:
    """All amplitude figures of one reconstruction: ls_scalar, mae, rmse, rel_rmse, pearson,
    psnr on the pixels in `mask` (default all); ssim and the FRC crossings (frc_0.5, frc_1/7)
    need a full rectangle, so they use the largest all-covered rectangle of `mask`
    (`largest_true_rectangle`; None when it is smaller than 16 x 16). Floats; None for nan."""
    recon, truth = _pair(recon, truth)
    sel = np.ones(recon.shape, bool) if mask is None else np.asarray(mask, bool)
    r_in, t_in = recon[sel], truth[sel]
    rows, cols = largest_true_rectangle(sel)
    big = (rows.stop - rows.start) >= MIN_RECTANGLE and (cols.stop - cols.start) >= MIN_RECTANGLE
    frc = frc_summary(recon[rows, cols], truth[rows, cols]) if big else {"0.5": None, "1/7": None}
    values = {
        "ls_scalar": ls_scalar(r_in, t_in),
        "mae": mae(r_in, t_in),
        "rmse": rmse(r_in, t_in),
        "rel_rmse": relative_rmse(r_in, t_in),
        "pearson": pearson(r_in, t_in),
        "ssim": ssim(recon[rows, cols], truth[rows, cols]) if big else math.nan,
        "psnr": psnr(r_in, t_in),
        "frc_0.5": frc["0.5"],
        "frc_1/7": frc["1/7"],
    }
    return {k: _finite_or_none(v) for k, v in values.items()}


def phase_metrics(recon_phase, true_phase, mask=None) -> dict:
    """mae, rmse, pearson of the phases (radians) after removing the mean and the plane fit
    on `mask` from both; computed on the pixels in `mask` (default all)."""
    sel = np.ones(np.shape(recon_phase), bool) if mask is None else np.asarray(mask, bool)
    a, b = align_phase(recon_phase, true_phase, sel)
    a, b = a[sel], b[sel]
    return {k: _finite_or_none(v) for k, v in
            {"mae": mae(a, b), "rmse": rmse(a, b), "pearson": pearson(a, b)}.items()}


def _finite_or_none(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass
class EvaluationReport:
    """amplitude / phase: {metric: {'model': v, 'baseline': v}}; frc: curves per image;
    region: the scanned-region box in canvas pixels; extra: additional figures."""

    amplitude: dict
    phase: dict
    frc: dict
    region: dict
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-safe dictionary."""
        return {"amplitude": self.amplitude, "phase": self.phase, "frc": self.frc,
                "region": self.region, "extra": self.extra}


def evaluate_images(recon, truth, baseline, *, xcoords, ycoords, origin=(0.0, 0.0),
                    covered=None) -> EvaluationReport:
    """Compare stitched images on the scanned region.

    recon, truth: (H, W) complex (same canvas); baseline: (H, W) real or complex (its
    amplitude is used; its phase is taken as 0 when real). xcoords/ycoords: scan positions
    (object pixels); origin: object coordinate of canvas pixel (0, 0); covered: optional
    (H, W) bool of pixels the stitching filled: metrics then use only the covered pixels of
    the scanned region (SSIM and FRC the largest covered rectangle, see amplitude_metrics),
    and the covered fraction and that rectangle are reported.
    """
    recon = np.asarray(recon)
    truth = np.asarray(truth)
    baseline = np.asarray(baseline)
    if not (recon.shape == truth.shape == baseline.shape):
        raise ConfigError("recon", f"shapes differ: recon {recon.shape}, truth {truth.shape}, "
                                   f"baseline {baseline.shape}")
    rows, cols = scan_region(xcoords, ycoords, truth.shape, origin)
    r, t, b = recon[rows, cols], truth[rows, cols], baseline[rows, cols]
    sel = None if covered is None else np.asarray(covered, bool)[rows, cols]
    amp_model = amplitude_metrics(np.abs(r), np.abs(t), sel)
    amp_base = amplitude_metrics(np.abs(b), np.abs(t), sel)
    ph_model = phase_metrics(np.angle(r), np.angle(t), sel)
    ph_base = phase_metrics(np.angle(b) if np.iscomplexobj(b) else np.zeros(b.shape),
                            np.angle(t), sel)
    region = {"rows": [rows.start, rows.stop], "cols": [cols.start, cols.stop]}
    keep = np.ones(t.shape, bool) if sel is None else sel
    rr, cc = largest_true_rectangle(keep)
    region["rectangle"] = {"rows": [rows.start + rr.start, rows.start + rr.stop],
                           "cols": [cols.start + cc.start, cols.start + cc.stop]}
    if covered is not None:
        region["covered_fraction"] = float(np.mean(sel))
    return EvaluationReport(
        amplitude={k: {"model": amp_model[k], "baseline": amp_base[k]} for k in amp_model},
        phase={k: {"model": ph_model[k], "baseline": ph_base[k]} for k in ph_model},
        frc={"model": frc_summary(np.abs(r[rr, cc]), np.abs(t[rr, cc])),
             "baseline": frc_summary(np.abs(b[rr, cc]), np.abs(t[rr, cc]))},
        region=region,
    )


def evaluate_patches(recon_patches, *, X_raw, coords_offsets, coords_relative, probe,
                     truth_object, crop: int, mask=None, true_patches=None,
                     png_path=None, title: str | None = None) -> tuple[EvaluationReport, dict]:
    """Stitch model and baseline patches into the object frame and compare with the truth.

    recon_patches: (B, N, N, C) complex model patches; X_raw: (B, N, N, C) raw diffraction
    (for the baseline); coords_offsets (B, 1, 2, 1) and coords_relative (B, 1, 2, C) in object
    pixels; probe (N, N) and optional mask as used by the model; truth_object (H, W) complex;
    crop: stitched central crop M. true_patches: optional (B, N, N, C) ground-truth patches,
    adding patch-level figures to `report.extra` (mean within-patch Pearson r of the model
    and the twin fraction). png_path: optional side-by-side PNG of the stitched model.
    Returns (report, images) with images = {'model', 'baseline', 'truth', 'weight'} (H, W).
    """
    from .stitching import global_positions, stitch_patches

    truth = np.asarray(truth_object)
    x, y = global_positions(coords_offsets, coords_relative)
    model = stitch_patches(recon_patches, x, y, crop=crop, origin=(0.0, 0.0), shape=truth.shape)
    amps = constant_amplitude_baseline(X_raw, probe, mask)
    N = np.asarray(recon_patches).shape[1]
    base = stitch_patches(baseline_patches(amps, N), x, y, crop=crop, origin=(0.0, 0.0),
                          shape=truth.shape)
    report = evaluate_images(model.image, truth, base.image, xcoords=x, ycoords=y,
                             covered=model.covered())
    if true_patches is not None:
        rec_amp = np.abs(np.asarray(recon_patches))
        true_amp = np.abs(np.asarray(true_patches))
        r = patch_pearson(rec_amp, true_amp, crop=crop)
        report.extra["patch_pearson_mean"] = _finite_or_none(np.nanmean(r)) if np.isfinite(r).any() else None
        report.extra["twin_fraction"] = _finite_or_none(twin_fraction(rec_amp, true_amp, crop=crop))
    report.extra["baseline_amplitude_mean"] = float(np.mean(amps))
    if png_path is not None:
        rows, cols = scan_region(x, y, truth.shape)
        save_comparison_png(png_path, truth[rows, cols], model.image[rows, cols], title=title,
                            covered=model.covered()[rows, cols])
    return report, {"model": model.image, "baseline": base.image, "truth": truth,
                    "weight": model.weight}


# ---------------------------------------------------------------------------- figure
def save_comparison_png(path, truth, recon, *, title: str | None = None,
                        covered=None) -> pathlib.Path:
    """Side-by-side PNG: rows amplitude and phase; columns truth, reconstruction, difference.

    truth, recon: (H, W) complex; covered: optional (H, W) bool, pixels outside it are left
    blank in the reconstruction and difference panels and excluded from the colour ranges and
    the phase-plane fit. Written atomically (temp file + os.replace); returns path.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    truth = np.asarray(truth)
    recon = np.asarray(recon)
    if truth.shape != recon.shape:
        raise ConfigError("recon", f"shape {recon.shape} != truth shape {truth.shape}")
    path = pathlib.Path(path)
    keep = np.ones(truth.shape, bool) if covered is None else np.asarray(covered, bool)
    if keep.shape != truth.shape or not keep.any():
        raise ConfigError("covered", f"must be a non-empty bool mask of shape {truth.shape}")
    ph_recon, ph_truth = align_phase(np.angle(recon), np.angle(truth), keep)
    rows = [("amplitude", np.abs(truth), np.abs(recon)), ("phase (aligned)", ph_truth, ph_recon)]
    fig, axes = plt.subplots(2, 3, figsize=(11, 7), squeeze=False)
    for i, (name, t, r) in enumerate(rows):
        lo = float(min(t[keep].min(), r[keep].min()))
        hi = float(max(t[keep].max(), r[keep].max()))
        d = float(np.abs(r - t)[keep].max()) or 1.0
        r = np.ma.masked_array(r, mask=~keep)
        for j, (label, img, kw) in enumerate((
                ("truth", t, {"vmin": lo, "vmax": hi}),
                ("reconstruction", r, {"vmin": lo, "vmax": hi}),
                ("difference (recon - truth)", r - t, {"cmap": "RdBu_r", "vmin": -d, "vmax": d}))):
            ax = axes[i, j]
            im = ax.imshow(img, **kw)
            ax.set_title(f"{name}: {label}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=80)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
