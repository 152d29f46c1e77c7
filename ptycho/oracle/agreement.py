"""The oracle's reconstruction evaluated like the PINN's, beside the constant baseline.

`engine_agreement(raw, truth)` hands `raw` to PtyLab (`to_ptylab`), runs ePIE (`run_epie`) and
compares the object it returns with the truth through `ptycho.evaluation.evaluate_images`, the
function the PINN's stitched reconstruction goes through: the scanned region of the positions,
the pixels that stitching the central `crop` of every pattern covers, the same sub-pixel
registration and global-phase / plane removal, and the same constant-amplitude baseline
(`constant_amplitude_baseline`, stitched with the same crop).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .epie import EpieResult, EpieSettings, run_epie
from .ptylab_data import Geometry, to_ptylab

__all__ = ["Agreement", "oracle_scan", "reconstruct", "engine_agreement", "evaluate_object",
           "AMPLITUDE_METRICS"]

#: amplitude figures of the EvaluationReport carried into `Agreement.values`
AMPLITUDE_METRICS = ("pearson", "rel_rmse_scaled", "ls_scalar", "ssim")


def oracle_scan(object_shape, n_points: int, *, buffer: float, seed: int):
    """A random scan (`ptycho.simulate.random_scan`, same seed stream) rounded to whole pixels,
    the positions PtyLab can place exactly: (xcoords, ycoords) float64 integers."""
    from ..simulate import random_scan

    x, y = random_scan(object_shape, n_points, buffer=buffer, seed=seed)
    return np.round(x), np.round(y)


@dataclass
class Agreement:
    """report: the EvaluationReport (model = the ePIE object); run: the EpieResult."""

    report: object
    run: EpieResult

    def values(self) -> dict:
        """Flat JSON-safe figures: points, iterations, PtyLab's last detector error,
        amplitude.<metric>.{model, baseline} for AMPLITUDE_METRICS, phase.pearson.model,
        registration_shift (largest |component|, px; None when not measured)."""
        out = {"points": int(self.run.patterns), "iterations": int(self.run.iterations),
               "final_error": _finite(self.run.error[-1]) if self.run.error.size else None}
        for metric in AMPLITUDE_METRICS:
            for who in ("model", "baseline"):
                out[f"amplitude.{metric}.{who}"] = self.report.amplitude[metric][who]
        shift = self.report.registration_shift
        out["registration_shift"] = None if shift is None else float(max(map(abs, shift)))
        return out


def _finite(v):
    v = float(v)
    return v if math.isfinite(v) else None


def reconstruct(raw, *, mask=None, settings: EpieSettings | None = None,
                geometry: Geometry | None = None, scale: float | None = None,
                object_shape=None) -> EpieResult:
    """ePIE's reconstruction of `raw` (whole-pixel positions, with its probe): `to_ptylab`
    then `run_epie`; the EpieResult's object is in `raw`'s object frame (object_shape, default
    objectGuess's shape). OracleUnavailableError without PtyLab."""
    if object_shape is None and raw.objectGuess is not None:
        object_shape = np.shape(raw.objectGuess)
    data = to_ptylab(raw, mask=mask, geometry=geometry, scale=scale, object_shape=object_shape)
    return run_epie(data, settings)


def engine_agreement(raw, *, truth=None, mask=None, settings: EpieSettings | None = None,
                     crop: int | None = None, geometry: Geometry | None = None,
                     scale: float | None = None) -> Agreement:
    """ePIE's reconstruction of `raw` (whole-pixel positions, with its probe) against `truth`
    ((H, W) complex, default raw.objectGuess) and the constant baseline.

    mask: the probe mask when it multiplied the exit wave; crop: the stitched central crop
    (default N/2, the PINN's default `InferenceConfig.crop`); settings, geometry, scale: see
    `run_epie` and `to_ptylab`. OracleUnavailableError without PtyLab.
    """
    truth = _truth(raw, truth)
    data = to_ptylab(raw, mask=mask, geometry=geometry, scale=scale, object_shape=truth.shape)
    run = run_epie(data, settings)
    return Agreement(report=evaluate_object(raw, run.object, truth=truth, mask=mask,
                                            crop=crop), run=run)


def _truth(raw, truth):
    truth = raw.objectGuess if truth is None else truth
    if truth is None:
        raise ConfigError("truth", "needed (the dataset has no objectGuess)")
    truth = np.asarray(truth)
    if truth.ndim != 2:
        raise ConfigError("truth", f"must be (H, W), got shape {truth.shape}")
    return truth


def evaluate_object(raw, obj, *, truth=None, mask=None, crop: int | None = None):
    """The EvaluationReport of an object `obj` ((H, W) in `raw`'s object frame, e.g. an
    engine's reconstruction) against `truth` (default raw.objectGuess) and the constant
    baseline of `raw`, on the pixels stitching the central `crop` (default N/2) of every
    pattern covers (see the module docstring)."""
    from ..evaluation import baseline_patches, constant_amplitude_baseline, evaluate_images
    from ..stitching import stitch_patches

    truth = _truth(raw, truth)
    N = int(np.shape(raw.diff3d)[-1])
    crop = N // 2 if crop is None else crop
    x = np.asarray(raw.xcoords, dtype=np.float64)
    y = np.asarray(raw.ycoords, dtype=np.float64)
    amps = constant_amplitude_baseline(np.asarray(raw.diff3d), raw.probeGuess, mask)
    base = stitch_patches(baseline_patches(amps, N), x, y, crop=crop, origin=(0.0, 0.0),
                          shape=truth.shape)
    return evaluate_images(obj, truth, base.image, xcoords=x, ycoords=y,
                           covered=base.covered())
