"""Alignment and metrics of a reconstruction against the ground truth, next to a baseline.

Order of operations in `evaluate_images` (each step reported, none hidden):
1. Registration: the sub-pixel displacement of the reconstruction relative to the truth is
   measured with `skimage.registration.phase_cross_correlation` (amplitudes, Hann-windowed,
   iterated to remove the window bias) on the covered rectangle of the scanned region,
   reported as `registration['shift']` = (dy, dx) pixels (recon(r) ~ truth(r - shift)), and
   undone (exact integer translation, else a Fourier shift) before any metric. Pixels that the
   translation fills from outside the covered area are excluded for model AND baseline.
   `register=False` turns it off. The baseline is not registered (it is built from the scan
   positions in the truth frame and a constant image has no correlation peak).
2. Amplitude metrics are computed on the raw (registered) reconstruction: the least-squares
   scalar c = <recon, truth> / <truth, truth> (recon ~ c * truth, so 2*truth gives c = 2) is
   reported, never applied to MAE/RMSE. Amplitudes do not depend on the global phase.
3. Phase: the global phase is removed as a complex factor first, recon * exp(-i*phi0) with
   phi0 = angle(sum conj(truth) * recon) over the evaluated pixels (reported as
   `global_phase`), then both phases are unwrapped (`skimage.restoration.unwrap_phase`) and
   their mean and least-squares plane removed before the phase metrics.
FRC crossings are reported for the fixed thresholds 0.5 and 1/7 and for the 1/2-bit threshold
of van Heel & Schatz (2005), T(r) = (0.2071 + 1.9102/sqrt(n_r)) / (1.2071 + 0.9102/sqrt(n_r)),
n_r the number of Fourier pixels in ring r.
Every quality figure is reported as (model, baseline), where the baseline is the trivial
constant-amplitude reconstruction: one constant per pattern from its total intensity
(sum X^2 = sum |P O|^2 for a pattern, so c^2 * sum |P|^2 = sum X^2), stitched like the model.
Images are 2-D float arrays in object pixels; positions x = column, y = row.

Modules (one concept each): `regions` (scanned region, covered rectangle), `phase` (phase
alignment), `registration` (sub-pixel shift, translation), `metrics` (scalar figures), `frc`,
`baseline`, `patches` (patch-level figures), `report` (`evaluate_images`, `evaluate_patches`,
`EvaluationReport`) and `figure` (the comparison PNG). Every public name is re-exported here.
"""
from __future__ import annotations

from .baseline import baseline_patches, constant_amplitude_baseline
from .figure import save_comparison_png
from .frc import (FRC_THRESHOLDS, HALF_BIT, frc_crossing, frc_curve, frc_summary,
                  half_bit_threshold, ring_pixel_counts)
from .metrics import (data_range, float_pair, ls_scalar, mae, pearson, psnr, relative_rmse, rmse,
                      scaled_relative_rmse, ssim)
from .patches import patch_pearson, saturation_fraction, twin_fraction
from .phase import (align_phase, aligned_phases, global_phase, remove_global_phase,
                    remove_plane, unwrap)
from .regions import (MIN_RECTANGLE, crop_to_scan, evaluated_pixels, largest_true_rectangle,
                      rectangle_is_big, scan_region)
from .registration import (FOURIER_PAD, MAX_REGISTRATION_ITERATIONS, SUBPIXEL_MARGIN,
                           UPSAMPLE_FACTOR, measure_shift, translate, translated_mask)
from .report import (EvaluationReport, amplitude_metrics, complex_phase_metrics,
                     evaluate_images, evaluate_patches, phase_metrics)

__all__ = [
    "EvaluationReport", "FOURIER_PAD", "FRC_THRESHOLDS", "HALF_BIT", "MAX_REGISTRATION_ITERATIONS",
    "MIN_RECTANGLE", "SUBPIXEL_MARGIN", "UPSAMPLE_FACTOR", "align_phase", "aligned_phases",
    "amplitude_metrics", "baseline_patches", "complex_phase_metrics",
    "constant_amplitude_baseline", "crop_to_scan", "data_range", "evaluate_images",
    "evaluate_patches", "evaluated_pixels", "float_pair", "frc_crossing", "frc_curve",
    "frc_summary", "global_phase", "half_bit_threshold", "largest_true_rectangle", "ls_scalar",
    "mae", "measure_shift", "patch_pearson", "pearson", "phase_metrics", "psnr",
    "rectangle_is_big", "relative_rmse", "remove_global_phase", "remove_plane",
    "ring_pixel_counts", "rmse", "saturation_fraction", "save_comparison_png",
    "scaled_relative_rmse", "scan_region", "ssim", "translate", "translated_mask",
    "twin_fraction", "unwrap",
]
