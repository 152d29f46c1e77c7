"""Labels and the forward model: the count labels as Poisson draws of the simulator's noise-free
expectation (`label_agreement`), and the model's physics head after the decoders against that
expectation (`forward_consistency`)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .arrays import channels_last, rel_to_max

#: labels_poisson: pixels used need this many expected photons
MIN_EXPECTED_COUNTS = 1.0


def expected_label_counts(obj, probe, mask, x: np.ndarray, y: np.ndarray,
                          label_scale: float) -> np.ndarray:
    """(B, N, N, C) float64 noise-free expectation of the count labels of groups at (x, y):
    label_scale**2 * A**2 with A the simulator's far field of its own patches
    (ptycho.simulate.extract_patches, ptycho.physics.forward_np)."""
    from ptycho.physics import forward_np
    from ptycho.simulate import extract_patches

    B, C = x.shape
    N = np.asarray(probe).shape[0]
    A = forward_np(extract_patches(obj, x.ravel(), y.ravel(), N), probe, mask)
    return channels_last(A, B, C) ** 2 * float(label_scale) ** 2


def label_agreement(labels_counts: np.ndarray, expected: np.ndarray, photons_per_count: float
                    ) -> dict[str, Any]:
    """The labels as Poisson draws of their expectation (both (B, N, N, C), label units).

    photons_per_count: photons per label count, (s_sim / label_scale)**2, so k = labels * it is
    the detected photon count. mean_z2 = mean over pixels expecting >= MIN_EXPECTED_COUNTS
    photons of (k - mu)**2 / mu: 1 for Poisson data in register with the simulator; a flip,
    shift or permutation of the labels makes it orders of magnitude larger. cosine: per-pattern
    cosine similarity of labels and expectation divided by its Poisson expectation
    1 / sqrt(1 + sum mu / sum mu**2), worst pattern.
    """
    k = np.asarray(labels_counts, np.float64) * photons_per_count
    mu = np.asarray(expected, np.float64) * photons_per_count
    sel = mu >= MIN_EXPECTED_COUNTS
    n = int(np.count_nonzero(sel))
    z2 = float(np.mean((k[sel] - mu[sel]) ** 2 / mu[sel])) if n else math.nan
    axes = (1, 2)
    dot = np.sum(k * mu, axis=axes)
    norms = np.sqrt(np.sum(k * k, axis=axes) * np.sum(mu * mu, axis=axes))
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = dot / norms
        cos_expected = 1.0 / np.sqrt(1.0 + np.sum(mu, axis=axes) / np.sum(mu * mu, axis=axes))
        ratio = cos / cos_expected
    return {"pixels": n, "mean_z2": z2,
            "cosine_ratio_min": float(np.nanmin(ratio)) if ratio.size else math.nan}


def head_after_reassembly(model, obj) -> np.ndarray:
    """Counts (B, N, N, C) float32 of object patches through the built model's layers after
    the reassembly: probe illumination, diffraction, output scaler, square."""
    from ptycho.model import OUTPUT_SCALER, PROBE_LAYER
    from ptycho.tfload import tf

    obj = tf().convert_to_tensor(np.asarray(obj, np.complex64))
    psi = model.get_layer(PROBE_LAYER)(obj)
    amplitude = model.get_layer(OUTPUT_SCALER)(model.get_layer("diffraction_amplitude")(psi))
    return np.asarray(model.get_layer("counts")(amplitude))


def forward_consistency(model, Y: np.ndarray, expected: np.ndarray, amplitude_ratio: float
                        ) -> dict[str, Any]:
    """max over groups and channels of max|head(r*Y) - mu| / max mu: the model's physics head
    after the decoders on the ground-truth patches scaled by the amplitude ratio r the labels
    imply, against the simulator's expected labels mu."""
    counts = head_after_reassembly(model, np.asarray(Y) * np.complex64(amplitude_ratio))
    return {"max_rel_error": rel_to_max(counts, expected),
            "groups": int(np.asarray(Y).shape[0])}
