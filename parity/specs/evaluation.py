"""Specification of the `evaluate` stage: the amplitude metrics of ptycho.evaluation against
brute-force references on the same pixels (definitions, float64):

- Pearson r: np.corrcoef; RMSE: sqrt(mean (a - b)^2); MAE: mean |a - b|; relative RMSE: RMSE /
  sqrt(mean b^2); LS scalar: argmin_c sum (a - c b)^2 = sum a b / sum b^2; PSNR:
  10 log10(range(b)^2 / MSE) with range(b) = max b - min b.
"""
from __future__ import annotations

import math

import numpy as np


def reference_metrics(recon, truth) -> dict:
    """The brute-force amplitude metrics of recon vs truth (1-D float64 pixel arrays)."""
    a = np.asarray(recon, np.float64).ravel()
    b = np.asarray(truth, np.float64).ravel()
    mse = float(np.mean((a - b) ** 2))
    rng = float(b.max() - b.min())
    return {"pearson": float(np.corrcoef(a, b)[0, 1]),
            "rmse": math.sqrt(mse),
            "mae": float(np.mean(np.abs(a - b))),
            "rel_rmse": math.sqrt(mse) / math.sqrt(float(np.mean(b * b))),
            "ls_scalar": float(np.dot(a, b) / np.dot(b, b)),
            "psnr": 10.0 * math.log10(rng * rng / mse) if mse > 0 and rng > 0 else None}


def metrics_spec(metrics: dict, recon, truth) -> dict:
    """metrics: the product's amplitude_metrics on the pixels given here (recon, truth: the
    selected pixels as 1-D arrays). metric_error:
    the worst relative difference over the metrics both define (a metric the product leaves
    None where the reference is finite counts as inf); per-metric differences alongside."""
    ref = reference_metrics(recon, truth)
    out, worst = {}, 0.0
    for name, want in ref.items():
        got = metrics.get(name)
        if want is None:
            d = 0.0 if got is None else math.inf
        elif got is None or not math.isfinite(float(got)):
            d = math.inf
        else:
            d = abs(float(got) - want) / max(abs(want), 1e-300)
        out[f"{name}_error"] = d
        worst = max(worst, d)
    out["metric_error"] = worst
    out["pixels"] = int(np.asarray(truth).size)
    return out


#: the known displacement (rows, cols) in pixels the registration specification applies
KNOWN_SHIFT = (3.0, -2.0)


def displaced(truth, shift=KNOWN_SHIFT) -> np.ndarray:
    """truth (H, W) moved by whole pixels, out(r) = truth(r - shift) (np.roll: the wrapped
    border must lie outside the region the registration compares)."""
    return np.roll(np.asarray(truth), (int(shift[0]), int(shift[1])), axis=(0, 1))


def central_region(shape, margin: int) -> tuple[slice, slice]:
    """The central half of an (H, W) canvas, kept `margin` pixels inside its border."""
    H, W = shape
    return (slice(max(H // 4, margin), min(H - H // 4, H - margin)),
            slice(max(W // 4, margin), min(W - W // 4, W - margin)))


def registration_spec(measured: dict, shift=KNOWN_SHIFT) -> dict:
    """measured: ptycho.evaluation.measure_shift of `displaced(truth, shift)` against truth,
    whose documented convention (recon(r) ~ truth(r - shift)) makes the answer `shift`.
    shift_error: max over the axes of |measured - shift| in pixels; converged as reported."""
    got = [float(s) for s in measured["shift"]]
    return {"registration.shift_error": max(abs(g - s) for g, s in zip(got, shift)),
            "registration.converged": bool(measured["converged"])}
