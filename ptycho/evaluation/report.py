"""The evaluation report: amplitude and phase metric sets, and `evaluate_images` /
`evaluate_patches`, which register, crop to the scanned region and score model and baseline
on the same pixels (the order of operations is in the package docstring)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..stats import finite_or_none
from ..validation import require_same_shape
from .baseline import baseline_patches, constant_amplitude_baseline
from .figure import save_comparison_png
from .frc import FRC_THRESHOLDS, HALF_BIT, frc_summary
from .metrics import (float_pair, ls_scalar, mae, pearson, psnr, relative_rmse, rmse,
                      scaled_relative_rmse, ssim)
from .patches import patch_pearson, twin_fraction
from .phase import aligned_phases
from .regions import (MIN_RECTANGLE, evaluated_pixels, largest_true_rectangle,
                      rectangle_is_big, scan_region)
from .registration import UPSAMPLE_FACTOR, measure_shift, translate, translated_mask


def amplitude_metrics(recon, truth, mask=None) -> dict:
    """All amplitude figures of one reconstruction: ls_scalar (reported, not applied), mae,
    rmse, rel_rmse, pearson, psnr on the pixels in `mask` (default all); ssim and the FRC
    crossings (frc_0.5, frc_1/7, frc_1/2bit) need a full rectangle, so they use the largest
    all-covered rectangle of `mask` (`largest_true_rectangle`; None when it is smaller than
    16 x 16). Floats; None for nan."""
    recon, truth = float_pair(recon, truth)
    sel = evaluated_pixels(recon.shape, mask)
    r_in, t_in = recon[sel], truth[sel]
    rows, cols = largest_true_rectangle(sel)
    big = rectangle_is_big(rows, cols)
    frc = (frc_summary(recon[rows, cols], truth[rows, cols]) if big
           else {name: None for name in (*FRC_THRESHOLDS, HALF_BIT)})
    values = {
        "ls_scalar": ls_scalar(r_in, t_in),
        "mae": mae(r_in, t_in),
        "rmse": rmse(r_in, t_in),
        "rel_rmse": relative_rmse(r_in, t_in),
        "rel_rmse_scaled": scaled_relative_rmse(r_in, t_in),
        "pearson": pearson(r_in, t_in),
        "ssim": ssim(recon[rows, cols], truth[rows, cols]) if big else math.nan,
        "psnr": psnr(r_in, t_in),
        "frc_0.5": frc["0.5"],
        "frc_1/7": frc["1/7"],
        f"frc_{HALF_BIT}": frc[HALF_BIT],
    }
    return {k: finite_or_none(v) for k, v in values.items()}


def complex_phase_metrics(recon, truth, mask=None) -> dict:
    """mae, rmse, pearson (radians) of the phases of two complex (H, W) fields aligned by
    `aligned_phases` (global phase factor removed, unwrapped, mean and plane removed, all on
    `mask`), on the pixels in `mask` (default all); global_phase: the removed phi0."""
    truth = np.asarray(truth)
    sel = evaluated_pixels(truth.shape, mask)
    a, b, phi0 = aligned_phases(recon, truth, sel)
    a, b = a[sel], b[sel]
    return {k: finite_or_none(v) for k, v in
            {"mae": mae(a, b), "rmse": rmse(a, b), "pearson": pearson(a, b),
             "global_phase": phi0}.items()}


def phase_metrics(recon_phase, true_phase, mask=None) -> dict:
    """`complex_phase_metrics` of unit-amplitude fields exp(i*phase): the global offset is the
    circular mean of the phase difference. Phases in radians, (H, W)."""
    recon_phase = np.asarray(recon_phase, dtype=np.float64)
    true_phase = np.asarray(true_phase, dtype=np.float64)
    require_same_shape("recon", recon_phase, true_phase, of="truth", error=ConfigError)
    return complex_phase_metrics(np.exp(1j * recon_phase), np.exp(1j * true_phase), mask)


@dataclass
class EvaluationReport:
    """amplitude / phase: {metric: {'model': v, 'baseline': v}}; frc: curves per image;
    region: the scanned-region box in canvas pixels; extra: additional figures;
    registration: {'enabled', 'shift': [dy, dx] px of the model relative to the truth (None
    when disabled or not measurable), 'applied' (False also when the measurement did not
    converge), 'converged', 'iterations', 'on', 'upsample_factor', 'evaluated_fraction', and
    'peak_correlation', 'reason' when it was not measured or not applied}."""

    amplitude: dict
    phase: dict
    frc: dict
    region: dict
    extra: dict = field(default_factory=dict)
    registration: dict = field(default_factory=dict)

    @property
    def registration_shift(self) -> tuple[float, float] | None:
        """(dy, dx) pixels the model was displaced by relative to the truth (undone before the
        metrics), or None when registration was off or not possible."""
        shift = self.registration.get("shift")
        return None if shift is None else (float(shift[0]), float(shift[1]))

    def to_dict(self) -> dict:
        """JSON-safe dictionary."""
        return {"amplitude": self.amplitude, "phase": self.phase, "frc": self.frc,
                "region": self.region, "extra": self.extra, "registration": self.registration}


def evaluate_images(recon, truth, baseline, *, xcoords, ycoords, origin=(0.0, 0.0),
                    covered=None, register: bool = True,
                    upsample_factor: int = UPSAMPLE_FACTOR) -> EvaluationReport:
    """Compare stitched images on the scanned region.

    recon, truth: (H, W) complex (same canvas); baseline: (H, W) real or complex (its
    amplitude is used; its phase is taken as 0 when real). xcoords/ycoords: scan positions
    (object pixels); origin: object coordinate of canvas pixel (0, 0); covered: optional
    (H, W) bool of pixels the stitching filled: metrics then use only the covered pixels of
    the scanned region (SSIM and FRC the largest covered rectangle, see amplitude_metrics),
    and the covered fraction and that rectangle are reported.
    register: measure the model's sub-pixel displacement against the truth on the covered
    rectangle of the scanned region (`measure_shift`, `upsample_factor`), report it in
    `report.registration` and undo it (`translate`) before every metric; pixels the
    translation fills from outside the covered area are dropped for model and baseline
    alike (registration['evaluated_fraction']: the fraction of the scanned region the
    metrics use). The baseline itself is not translated.
    """
    recon = np.asarray(recon)
    truth = np.asarray(truth)
    baseline = np.asarray(baseline)
    require_same_shape("recon", recon, truth, of="truth", error=ConfigError)
    require_same_shape("baseline", baseline, truth, of="truth", error=ConfigError)
    rows, cols = scan_region(xcoords, ycoords, truth.shape, origin)
    cov_full = None if covered is None else np.asarray(covered, bool)
    if cov_full is not None:
        require_same_shape("covered", cov_full, truth, of="image", error=ConfigError)
    registration = {"enabled": bool(register), "shift": None, "applied": False,
                    "upsample_factor": int(upsample_factor)}
    valid_full = cov_full
    if register:
        keep0 = np.ones(truth.shape, bool)[rows, cols] if cov_full is None else cov_full[rows, cols]
        rr0, cc0 = largest_true_rectangle(keep0)
        if rectangle_is_big(rr0, cc0):
            box = (slice(rows.start + rr0.start, rows.start + rr0.stop),
                   slice(cols.start + cc0.start, cols.start + cc0.stop))
            found = measure_shift(recon, truth, box, upsample_factor=upsample_factor,
                                  valid=cov_full)
            registration.update(found)
            dy, dx = found["shift"]
            if not found["converged"]:
                registration["reason"] = (f"no stable correlation peak after "
                                          f"{found['iterations']} passes: shift not applied")
            elif dy != 0.0 or dx != 0.0:
                undo = (-dy, -dx)
                recon = translate(recon, undo, valid=cov_full)
                base_mask = np.ones(truth.shape, bool) if cov_full is None else cov_full
                valid_full = base_mask & translated_mask(base_mask, undo)
                registration["applied"] = True
        else:
            registration["reason"] = (f"covered rectangle of the scanned region smaller than "
                                      f"{MIN_RECTANGLE} x {MIN_RECTANGLE}")
    r, t, b = recon[rows, cols], truth[rows, cols], baseline[rows, cols]
    sel = None if valid_full is None else valid_full[rows, cols]
    if sel is not None and not sel.any():
        raise ConfigError("covered", "no evaluated pixel left in the scanned region")
    amp_model = amplitude_metrics(np.abs(r), np.abs(t), sel)
    amp_base = amplitude_metrics(np.abs(b), np.abs(t), sel)
    ph_model = complex_phase_metrics(r, t, sel)
    ph_base = complex_phase_metrics(b.astype(np.complex128), t, sel)
    region = {"rows": [rows.start, rows.stop], "cols": [cols.start, cols.stop]}
    keep = np.ones(t.shape, bool) if sel is None else sel
    rr, cc = largest_true_rectangle(keep)
    region["rectangle"] = {"rows": [rows.start + rr.start, rows.start + rr.stop],
                           "cols": [cols.start + cc.start, cols.start + cc.stop]}
    if covered is not None:
        region["covered_fraction"] = float(np.mean(cov_full[rows, cols]))
    registration["evaluated_fraction"] = float(np.mean(keep))
    return EvaluationReport(
        amplitude={k: {"model": amp_model[k], "baseline": amp_base[k]} for k in amp_model},
        phase={k: {"model": ph_model[k], "baseline": ph_base[k]} for k in ph_model},
        frc={"model": frc_summary(np.abs(r[rr, cc]), np.abs(t[rr, cc])),
             "baseline": frc_summary(np.abs(b[rr, cc]), np.abs(t[rr, cc]))},
        region=region,
        registration=registration,
    )


def evaluate_patches(recon_patches, *, X_raw, coords_offsets, coords_relative, probe,
                     truth_object, crop: int, mask=None, true_patches=None,
                     png_path=None, title: str | None = None, register: bool = True,
                     upsample_factor: int = UPSAMPLE_FACTOR) -> tuple[EvaluationReport, dict]:
    """Stitch model and baseline patches into the object frame and compare with the truth.

    recon_patches: (B, N, N, C) complex model patches; X_raw: (B, N, N, C) raw diffraction
    (for the baseline); coords_offsets (B, 1, 2, 1) and coords_relative (B, 1, 2, C) in object
    pixels; probe (N, N) and optional mask as used by the model; truth_object (H, W) complex;
    crop: stitched central crop M. true_patches: optional (B, N, N, C) ground-truth patches,
    adding patch-level figures to `report.extra` (mean within-patch Pearson r of the model
    and the twin fraction). png_path: optional side-by-side PNG of the stitched model.
    register, upsample_factor: as in `evaluate_images` (the PNG shows the unregistered model).
    Returns (report, images) with images = {'model', 'baseline', 'truth', 'weight'} (H, W).
    """
    from ..stitching import global_positions, stitch_patches

    truth = np.asarray(truth_object)
    x, y = global_positions(coords_offsets, coords_relative)
    model = stitch_patches(recon_patches, x, y, crop=crop, origin=(0.0, 0.0), shape=truth.shape)
    amps = constant_amplitude_baseline(X_raw, probe, mask)
    N = np.asarray(recon_patches).shape[1]
    base = stitch_patches(baseline_patches(amps, N), x, y, crop=crop, origin=(0.0, 0.0),
                          shape=truth.shape)
    report = evaluate_images(model.image, truth, base.image, xcoords=x, ycoords=y,
                             covered=model.covered(), register=register,
                             upsample_factor=upsample_factor)
    if true_patches is not None:
        rec_amp = np.abs(np.asarray(recon_patches))
        true_amp = np.abs(np.asarray(true_patches))
        r = patch_pearson(rec_amp, true_amp, crop=crop)
        report.extra["patch_pearson_mean"] = finite_or_none(np.nanmean(r)) if np.isfinite(r).any() else None
        report.extra["twin_fraction"] = finite_or_none(twin_fraction(rec_amp, true_amp, crop=crop))
    report.extra["baseline_amplitude_mean"] = float(np.mean(amps))
    if png_path is not None:
        rows, cols = scan_region(x, y, truth.shape)
        save_comparison_png(png_path, truth[rows, cols], model.image[rows, cols], title=title,
                            covered=model.covered()[rows, cols])
    return report, {"model": model.image, "baseline": base.image, "truth": truth,
                    "weight": model.weight}
