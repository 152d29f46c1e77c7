"""Specification of the `simulate` stage (docs/design.md §3 steps 1-4, ptycho.simulate docstring).

For exit waves Psi = P * O_patch (* M) at the scan positions (patches bilinear, zero outside):
- s_sim = sqrt(nphotons / E_p[sum |Psi|^2]) and the recorded mean exit energy is that mean;
- counts k = (s_sim * X_raw)^2 are integers (Poisson draws);
- k ~ Poisson(mu), mu = s_sim^2 * A^2 with A = sqrt(fftshift(|FFT2 Psi|^2 / N^2)) (DC at
  (N/2, N/2)): pixelwise mean (k - mu)^2 / mu = 1 (with its sampling error), per pattern the
  total counts are within a few sigma of s_sim^2 * sum |Psi|^2 (Parseval + Poisson), and the
  dataset total within a few sigma of M * nphotons.
"""
from __future__ import annotations

import math

import numpy as np

from .sampling import far_field, sample_patches

#: z-scores allowed for a Poisson statistic (two-sided, per statistic)
SIGMAS = 6.0
#: pixels used for the pixelwise Poisson statistic expect at least this many photons
MIN_EXPECTED = 1.0
#: counts below this are tested for integrality (float32 X_raw keeps k to ~1e-7 relative)
INTEGER_COUNTS_BELOW = 1.0e5


def exit_waves(obj, probe, x, y, mask=None) -> np.ndarray:
    """(M, N, N) complex128 Psi = P * patch (* M), patches from the independent sampler."""
    P = np.asarray(probe, np.complex128)
    psi = sample_patches(obj, x, y, P.shape[0]) * P
    if mask is not None:
        psi = psi * np.asarray(mask, np.float64)
    return psi


def simulate_spec(diff3d, *, obj, probe, x, y, mask, nphotons: float, s_sim: float,
                  mean_exit_energy: float) -> dict:
    """Measured values of the simulated amplitudes `diff3d` (M, N, N) against the spec.

    s_sim_error / exit_energy_error: relative, vs the independent exit waves;
    integer_error: max |k - round(k)| / max(1, k) over pixels with k < INTEGER_COUNTS_BELOW;
    poisson_z2_excess: |mean (k - mu)^2/mu - 1| minus SIGMAS sampling sigmas sqrt((2 +
    mean 1/mu)/n) (<= 0 for Poisson data in register; the check adds the ledger's atol);
    pattern_z_max: max over patterns |sum k - sum mu| / sqrt(sum mu);
    dose_z: (sum k - M nphotons) / sqrt(M nphotons).
    """
    X = np.asarray(diff3d, np.float64)
    psi = exit_waves(obj, probe, x, y, mask)
    energies = np.sum(np.abs(psi) ** 2, axis=(1, 2))
    E = float(np.mean(energies))
    s_ref = math.sqrt(nphotons / E) if E > 0 else math.nan
    mu = s_ref ** 2 * far_field(psi) ** 2
    k = (float(s_sim) * X) ** 2
    small = k < INTEGER_COUNTS_BELOW
    integer_error = (float(np.max(np.abs(k[small] - np.round(k[small])) / np.maximum(1.0, k[small])))
                     if small.any() else 0.0)
    sel = mu >= MIN_EXPECTED
    n = int(np.count_nonzero(sel))
    if n and X.shape == mu.shape:
        z2 = (k[sel] - mu[sel]) ** 2 / mu[sel]
        sigma = math.sqrt((2.0 + float(np.mean(1.0 / mu[sel]))) / n)
        z2_excess = abs(float(np.mean(z2)) - 1.0) - SIGMAS * sigma
    else:
        z2_excess = math.inf
    if X.shape == mu.shape:
        tot_k, tot_mu = k.sum(axis=(1, 2)), mu.sum(axis=(1, 2))
        pattern_z = float(np.max(np.abs(tot_k - tot_mu) / np.sqrt(tot_mu)))
        M = X.shape[0]
        dose_z = float((tot_k.sum() - M * nphotons) / math.sqrt(M * nphotons))
    else:
        pattern_z = dose_z = math.inf
    return {
        "shape_ok": X.shape == mu.shape and np.asarray(diff3d).dtype == np.float32,
        "s_sim_error": abs(float(s_sim) / s_ref - 1.0),
        "exit_energy_error": abs(float(mean_exit_energy) / E - 1.0),
        "integer_error": integer_error,
        "poisson_pixels": n,
        "poisson_z2_excess": z2_excess,
        "pattern_z_max": pattern_z,
        "dose_z": dose_z,
        "sigmas": SIGMAS,
    }
