"""Specifications of the data stages between grouping and the model (docs/design.md §4):
`normalize`, `scale`, `container`, `network_input`, `labels`.

Every reference is recomputed here in float64 from the grouped raw amplitudes X_raw (B, N, N, C):
- E = (1 / (B*C)) * sum over b, c, x, y of X_raw^2 (a mean over patterns, not groups);
- g = sqrt((N/2)^2 / E), X_norm = g * X_raw; s = sqrt(nphotons / E); s_cf = sqrt(nphotons)/(N/2);
- the plan (docs/design.md §4 table): input scaler s_cf; output scaler = label scale = s (scale source
  'dataset') or s_cf ('closed_form'); feed gain g ('normalized' feed) or 1 ('raw');
- raw container: X = X_raw, Y_I = |Y|, Y_phi = angle(Y), coords_nominal = coords_relative;
  fed container X = feed_gain * X_raw;
- network input (after the model's input scaler) = g * X_raw in both profiles;
- labels: amplitude = external_scale * X_fed, counts = its square; with the dataset scale both
  profiles give amplitude = s * X_raw and counts = (s * X_raw)^2, whose mean sum per
  pattern is nphotons.
"""
from __future__ import annotations

import math

import numpy as np

from .sampling import rel_max


def energy_reference(X_raw) -> float:
    """E: mean over patterns (b and c) of sum_xy X_raw^2, float64."""
    X = np.asarray(X_raw, np.float64)
    patterns = X.shape[0] * (X.shape[3] if X.ndim == 4 else 1)
    return float(np.sum(X * X)) / patterns if patterns else math.nan


def _rel(a, b) -> float:
    a, b = float(a), float(b)
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / abs(b) if b else (0.0 if a == 0 else math.inf)


def normalize_spec(X_raw, *, N: int, energy: float, gain: float, X_norm) -> dict:
    """energy_error, gain_error (relative) and x_norm_error (max rel) vs the references."""
    E = energy_reference(X_raw)
    g = math.sqrt((N / 2) ** 2 / E)
    return {"energy_error": _rel(energy, E), "gain_error": _rel(gain, g),
            "x_norm_error": rel_max(np.asarray(X_norm, np.float64),
                                    g * np.asarray(X_raw, np.float64))}


def reference_plan(X_raw, *, nphotons: float, N: int, data_feed: str, scale_source: str) -> dict:
    """The documented scalars of a profile for X_raw: E, g, s, s_cf, feed_gain, input_scaler,
    output_scaler (= label scale of X_fed, external_scale)."""
    E = energy_reference(X_raw)
    usable = math.isfinite(E) and E > 0
    s_cf = math.sqrt(nphotons) / (N / 2)
    g = math.sqrt((N / 2) ** 2 / E) if usable else 1.0
    s = math.sqrt(nphotons / E) if usable else s_cf
    out_scale = s if scale_source == "dataset" else s_cf
    return {"E": E, "g": g, "s": s, "s_cf": s_cf, "usable": usable,
            "feed_gain": g if data_feed == "normalized" else 1.0,
            "input_scaler": s_cf, "output_scaler": out_scale}


def scale_spec(plan, X_raw, *, nphotons: float, N: int, data_feed: str, scale_source: str) -> dict:
    """The product's ScalePlan vs the reference plan: s_error, s_cf_error, energy_error,
    plan_error (worst relative error over feed gain, external scale, output and input
    scalers), source_ok (the dataset source whenever E is usable)."""
    ref = reference_plan(X_raw, nphotons=nphotons, N=N, data_feed=data_feed,
                         scale_source=scale_source)
    parts = [_rel(plan.feed_gain, ref["feed_gain"]), _rel(plan.external_scale, ref["output_scaler"]),
             _rel(plan.output_scaler, ref["output_scaler"]), _rel(plan.input_scaler, ref["input_scaler"])]
    return {"s_error": _rel(plan.dataset.value, ref["s"]),
            "s_cf_error": _rel(plan.closed_form, ref["s_cf"]),
            "energy_error": _rel(plan.dataset.energy, ref["E"]) if ref["usable"] else 0.0,
            "plan_error": max(parts),
            "source_ok": plan.dataset.source == ("dataset" if ref["usable"] else "closed_form")}


def container_spec(raw_container, fed_container, grouped, *, feed_gain: float) -> dict:
    """x_error (raw container X vs X_raw), fed_x_error (vs feed_gain * X_raw), truth_error
    (Y_I vs |Y|, Y_phi vs angle(Y) wrapped; None without Y), coords_error (px)."""
    X = np.asarray(grouped.diffraction, np.float64)
    out = {"x_error": rel_max(np.asarray(raw_container.X_np, np.float64), X),
           "fed_x_error": rel_max(np.asarray(fed_container.X_np, np.float64), feed_gain * X),
           "coords_error": max(float(np.max(np.abs(np.asarray(c.coords_nominal_np, np.float64)
                                                    - np.asarray(grouped.coords_relative))))
                               for c in (raw_container, fed_container)),
           "truth_error": None}
    if grouped.Y is not None:
        Y = np.asarray(grouped.Y, np.complex128)
        amp = rel_max(np.asarray(raw_container.Y_I_np, np.float64), np.abs(Y))
        dphi = np.angle(np.exp(1j * (np.asarray(raw_container.Y_phi_np, np.float64) - np.angle(Y))))
        out["truth_error"] = max(amp, float(np.max(np.abs(dphi))) if dphi.size else 0.0)
    return out


def network_input_spec(network_input, X_raw) -> dict:
    """input_error: max|input - g * X_raw| / max(g * X_raw), g from the reference E."""
    E = energy_reference(X_raw)
    g = math.sqrt((np.asarray(X_raw).shape[1] / 2) ** 2 / E)
    return {"input_error": rel_max(np.asarray(network_input, np.float64),
                                   g * np.asarray(X_raw, np.float64))}


def labels_spec(labels, X_raw, *, nphotons: float, data_feed: str, scale_source: str) -> dict:
    """amplitude_error / counts_error: the labels vs L * X_raw and (L * X_raw)^2, with the
    reference label scale L = output scaler * feed gain of the reference plan (s in both
    built-in profiles: s * 1 current, s_cf * g = s legacy); dose_error: |mean over patterns
    of sum counts / (L^2 E) - 1| (= nphotons when L = s)."""
    X = np.asarray(X_raw, np.float64)
    ref = reference_plan(X, nphotons=nphotons, N=X.shape[1], data_feed=data_feed,
                         scale_source=scale_source)
    L = ref["output_scaler"] * ref["feed_gain"]
    amp = np.asarray(labels["amplitude"], np.float64)
    counts = np.asarray(labels["counts"], np.float64)
    patterns = counts.shape[0] * counts.shape[3]
    return {"label_scale": L,
            "amplitude_error": rel_max(amp, L * X),
            "counts_error": rel_max(counts, (L * X) ** 2),
            "dose_error": _rel(float(np.sum(counts)) / patterns, L * L * ref["E"])}
