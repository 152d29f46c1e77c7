"""Phase alignment of a reconstruction to the truth: global phase factor, unwrapping (with the
2*pi offsets of disconnected parts reconciled) and mean + least-squares plane removal.
Phases in radians, images (H, W)."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..validation import require_same_shape
from .regions import evaluated_pixels


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


def global_phase(recon, truth, mask=None) -> float:
    """phi0 = angle(sum conj(truth) * recon) over `mask` (radians): the constant phase factor
    exp(i*phi0) that best maps truth onto recon in least squares (0.0 when the sum is 0)."""
    recon = np.asarray(recon, dtype=np.complex128)
    truth = np.asarray(truth, dtype=np.complex128)
    require_same_shape("recon", recon, truth, of="truth", error=ConfigError)
    sel = evaluated_pixels(truth.shape, mask)
    total = np.sum(np.conj(truth[sel]) * recon[sel])
    return float(np.angle(total)) if total != 0 else 0.0


def remove_global_phase(recon, truth, mask=None) -> tuple[np.ndarray, float]:
    """(recon * exp(-i*phi0), phi0) with phi0 = `global_phase(recon, truth, mask)`."""
    phi0 = global_phase(recon, truth, mask)
    recon = np.asarray(recon, dtype=np.complex128)
    return (recon * np.exp(-1j * phi0) if phi0 != 0.0 else recon.copy()), phi0


def unwrap(phase, mask=None) -> np.ndarray:
    """`skimage.restoration.unwrap_phase` of a wrapped (H, W) phase on the pixels of `mask`.

    Pixels outside `mask` keep their input value. unwrap_phase fixes each connected part of
    the mask only up to its own multiple of 2*pi; `aligned_phases` reconciles those offsets.
    """
    from skimage.restoration import unwrap_phase

    phase = np.asarray(phase, dtype=np.float64)
    if phase.ndim != 2:
        raise ConfigError("phase", f"must be 2-D, got shape {phase.shape}")
    sel = evaluated_pixels(phase.shape, mask)
    if not sel.any():
        return phase.copy()
    wrapped = np.angle(np.exp(1j * phase))
    if sel.all():
        out = unwrap_phase(wrapped)
    else:
        out = np.asarray(unwrap_phase(np.ma.masked_array(wrapped, mask=~sel)).data)
    return np.where(sel, out, phase)


def aligned_phases(recon, truth, mask=None) -> tuple[np.ndarray, np.ndarray, float]:
    """(phase_recon, phase_truth, phi0) of two complex (H, W) fields, ready for metrics.

    1. recon is multiplied by exp(-i*phi0), phi0 = angle(sum conj(truth)*recon) on `mask`;
    2. both phases are unwrapped on `mask`; on every connected part of the mask the
       reconstruction's unwrapped phase is moved by the multiple of 2*pi that brings its mean
       closest to the truth's (unwrapping fixes each part only up to 2*pi*k);
    3. both have their mean and least-squares plane (fit on `mask`) removed.
    """
    from scipy.ndimage import label

    truth = np.asarray(truth, dtype=np.complex128)
    sel = evaluated_pixels(truth.shape, mask)
    aligned, phi0 = remove_global_phase(recon, truth, sel)
    ph_r = unwrap(np.angle(aligned), sel)
    ph_t = unwrap(np.angle(truth), sel)
    parts, n_parts = label(sel)
    for k in range(1, n_parts + 1):
        part = parts == k
        turns = np.round(np.mean(ph_r[part] - ph_t[part]) / (2 * np.pi))
        if turns:
            ph_r[part] -= 2 * np.pi * turns
    return remove_plane(ph_r, sel), remove_plane(ph_t, sel), phi0


def align_phase(phase_recon, phase_true, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """Both phases (radians) aligned as in `aligned_phases` with unit amplitudes: the global
    phase offset (circular mean of the difference) removed, unwrapped, mean and plane removed."""
    phase_recon = np.asarray(phase_recon, dtype=np.float64)
    phase_true = np.asarray(phase_true, dtype=np.float64)
    require_same_shape("recon", phase_recon, phase_true, of="truth", error=ConfigError)
    a, b, _ = aligned_phases(np.exp(1j * phase_recon), np.exp(1j * phase_true), mask)
    return a, b
