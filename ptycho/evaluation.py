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
"""
from __future__ import annotations

import math
import pathlib
from dataclasses import dataclass, field

import numpy as np

from .atomic import replacing
from .errors import ConfigError

#: fixed FRC thresholds; the 1/2-bit threshold (per ring) is reported beside them as HALF_BIT
FRC_THRESHOLDS = {"0.5": 0.5, "1/7": 1.0 / 7.0}
#: name of the 1/2-bit threshold crossing in frc_summary / amplitude_metrics
HALF_BIT = "1/2bit"
#: default upsampling of the sub-pixel registration (shift resolution 1/20 px)
UPSAMPLE_FACTOR = 20
#: most refinement passes of the registration (each re-measures the residual shift)
MAX_REGISTRATION_ITERATIONS = 8
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


def _selection(shape, mask) -> np.ndarray:
    sel = np.ones(shape, bool) if mask is None else np.asarray(mask, bool)
    if sel.shape != tuple(shape):
        raise ConfigError("mask", f"shape {sel.shape} != image shape {tuple(shape)}")
    return sel


def global_phase(recon, truth, mask=None) -> float:
    """phi0 = angle(sum conj(truth) * recon) over `mask` (radians): the constant phase factor
    exp(i*phi0) that best maps truth onto recon in least squares (0.0 when the sum is 0)."""
    recon = np.asarray(recon, dtype=np.complex128)
    truth = np.asarray(truth, dtype=np.complex128)
    if recon.shape != truth.shape:
        raise ConfigError("recon", f"shape {recon.shape} != truth shape {truth.shape}")
    sel = _selection(truth.shape, mask)
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
    sel = _selection(phase.shape, mask)
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
    sel = _selection(truth.shape, mask)
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
    if phase_recon.shape != phase_true.shape:
        raise ConfigError("recon", f"shape {phase_recon.shape} != truth shape {phase_true.shape}")
    a, b, _ = aligned_phases(np.exp(1j * phase_recon), np.exp(1j * phase_true), mask)
    return a, b


# ---------------------------------------------------------------------------- registration
#: reflected padding (pixels, beyond the shift) around a canvas before a Fourier translation
FOURIER_PAD = 16
#: pixels next to missing data dropped after a sub-pixel translation (its kernel is not local)
SUBPIXEL_MARGIN = 2


def _fill_from_nearest(image, valid) -> np.ndarray:
    """`image` with every pixel outside `valid` replaced by the nearest valid pixel's value."""
    from scipy.ndimage import distance_transform_edt

    if valid is None or np.all(valid) or not np.any(valid):
        return image
    index = distance_transform_edt(~np.asarray(valid, bool), return_distances=False,
                                   return_indices=True)
    return image[tuple(index)]


def _periodic_padding(image, pad: int) -> np.ndarray:
    """`image` padded by `pad` pixels per side by reflection, the padding blended with a
    half-cosine into the image mean at the outer border: the padded canvas is continuous
    across its periodic wrap, so a Fourier shift of it does not ring into the image."""
    work = np.pad(image, pad, mode="symmetric")
    mean = image.mean()
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(pad) / pad)    # 0 at the border -> ~1
    weights = []
    for n in image.shape:
        w = np.ones(n + 2 * pad)
        w[:pad], w[n + pad:] = ramp, ramp[::-1]
        weights.append(w)
    return mean + (work - mean) * np.outer(weights[0], weights[1])


def translate(image, shift, *, valid=None) -> np.ndarray:
    """`image` (H, W) real or complex with its content moved by `shift` = (dy, dx) pixels,
    out(r) = in(r - shift).

    Integer shifts are exact (zero fill). Sub-pixel shifts multiply the spectrum by
    exp(-2 pi i k.shift): an all-pass filter, so noise is not smoothed away (a spline shift by
    half a pixel lowers the std of white noise by up to 24 % and would flatter a noisy
    reconstruction). To keep the circular FFT from ringing, pixels outside `valid` (optional
    (H, W) bool) take the nearest valid value and the canvas gets a reflected padding tapered
    to its mean (continuous across the wrap); `translated_mask` gives the pixels that stay
    trustworthy.
    """
    image = np.asarray(image)
    dy, dx = (float(v) for v in shift)
    if dy == 0.0 and dx == 0.0:
        return image.copy()
    H, W = image.shape
    if dy.is_integer() and dx.is_integer():
        out = np.zeros_like(image)
        iy, ix = int(dy), int(dx)
        if abs(iy) < H and abs(ix) < W:
            out[max(iy, 0):H + min(iy, 0), max(ix, 0):W + min(ix, 0)] = \
                image[max(-iy, 0):H + min(-iy, 0), max(-ix, 0):W + min(-ix, 0)]
        return out
    pad = int(math.ceil(max(abs(dy), abs(dx)))) + FOURIER_PAD
    work = _periodic_padding(_fill_from_nearest(image, valid), pad)
    ky = np.fft.fftfreq(work.shape[0])[:, None]
    kx = np.fft.fftfreq(work.shape[1])[None, :]
    moved = np.fft.ifft2(np.fft.fft2(work) * np.exp(-2j * np.pi * (ky * dy + kx * dx)))
    moved = moved[pad:pad + H, pad:pad + W]
    return moved if np.iscomplexobj(image) else moved.real


def translated_mask(mask, shift, *, margin: int = SUBPIXEL_MARGIN) -> np.ndarray:
    """Pixels of `translate(image, shift, valid=mask)` that come from True pixels of `mask`.

    Integer shifts: the mask moved exactly (False fill). Otherwise: pixels whose bilinear
    footprint lies in `mask`, eroded by `margin` pixels (the Fourier kernel is not local)."""
    from scipy.ndimage import binary_erosion
    from scipy.ndimage import shift as nd_shift

    mask = np.asarray(mask, bool)
    dy, dx = (float(v) for v in shift)
    if dy.is_integer() and dx.is_integer():
        return translate(mask, (dy, dx))
    moved = nd_shift(mask.astype(np.float64), (dy, dx), order=1, mode="constant", cval=0.0)
    moved = moved >= 1.0 - 1e-9
    if margin > 0:
        moved = binary_erosion(moved, iterations=int(margin), border_value=0)
    return moved


def _registration_image(field):
    """Mean-subtracted amplitude, or the complex field where the amplitude is constant."""
    amp = np.abs(field)
    img = amp if np.ptp(amp) > 0 else np.asarray(field, np.complex128)
    return img - img.mean()


def measure_shift(recon, truth, region=None, *, upsample_factor: int = UPSAMPLE_FACTOR,
                  max_iterations: int = MAX_REGISTRATION_ITERATIONS, valid=None) -> dict:
    """Displacement (dy, dx) of `recon` relative to `truth` (recon(r) ~ truth(r - shift)).

    recon, truth: (H, W) real or complex on the same canvas; region: (row slice, col slice)
    where both hold data (default all); valid: optional (H, W) bool of the recon pixels that
    hold data (see `translate`). `skimage.registration.phase_cross_correlation`
    (plain cross-correlation, `upsample_factor`) compares the Hann-windowed, mean-subtracted
    amplitudes on `region` (the complex fields when the truth amplitude is constant there);
    the fixed window biases one measurement towards 0, so the reconstruction is translated by
    the estimate and the residual re-measured until it is within one grid step
    1/upsample_factor (converged) or `max_iterations` passes are spent (not converged: no
    stable correlation peak). Returns {'shift': [dy, dx], 'iterations': k,
    'on': 'amplitude' | 'complex', 'converged': bool, 'peak_correlation': r}, r the normalized
    correlation of the windowed images at the last measured shift (1 for a perfect match;
    an unrelated image can still converge on a spurious peak, with r of order 0.1: judge the
    shift by r). Identical images give exactly [0.0, 0.0].
    """
    from skimage.registration import phase_cross_correlation

    recon = np.asarray(recon)
    truth = np.asarray(truth)
    if recon.shape != truth.shape or recon.ndim != 2:
        raise ConfigError("recon", f"shape {recon.shape} != truth shape {truth.shape} (2-D)")
    rows, cols = region if region is not None else (slice(None), slice(None))
    ref = truth[rows, cols]
    if min(ref.shape) < 2:
        raise ConfigError("region", f"too small to register: {ref.shape}")
    hann = np.outer(np.hanning(ref.shape[0]), np.hanning(ref.shape[1]))
    on = "amplitude" if np.ptp(np.abs(ref)) > 0 else "complex"
    ref = _registration_image(ref) * hann
    if not np.any(ref):
        return {"shift": [0.0, 0.0], "iterations": 0, "on": on, "converged": True,
                "peak_correlation": None}
    total = np.zeros(2)
    current = recon
    iterations = 0
    converged = False
    peak = math.nan
    up = int(upsample_factor)
    grid = 1.0 / up
    for iterations in range(1, int(max_iterations) + 1):
        mov = current[rows, cols]
        mov = (np.abs(mov) if on == "amplitude" else mov.astype(np.complex128))
        mov = (mov - mov.mean()) * hann
        if not np.any(mov):
            break
        step, error, _ = phase_cross_correlation(ref, mov, upsample_factor=up,
                                                 normalization=None)
        peak = math.sqrt(max(0.0, 1.0 - float(error) ** 2))
        total = np.round((total + step) * up) / up   # step registers moving onto reference
        if np.max(np.abs(step)) <= grid * (1 + 1e-9):
            converged = True            # residual within one grid step (0 for a perfect match)
            break
        current = translate(recon, total, valid=valid)
    shift = -total + 0.0                # recon content is displaced by -total (+0.0: no -0.0)
    return {"shift": [float(shift[0]), float(shift[1])], "iterations": iterations, "on": on,
            "converged": converged, "peak_correlation": _finite_or_none(peak)}


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


def scaled_relative_rmse(recon, truth) -> float:
    """relative_rmse of recon / c against truth, c = ls_scalar(recon, truth): the structure
    error left once the best single scale is divided out (nan when c is 0 or undefined)."""
    c = ls_scalar(recon, truth)
    if not math.isfinite(c) or c == 0:
        return math.nan
    recon, truth = _pair(recon, truth)
    return relative_rmse(recon / c, truth)


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
def _rings(shape) -> tuple[np.ndarray, int, float]:
    """(ring index per Fourier pixel of fft2 layout, number of rings, ring width cycles/px)."""
    fy = np.fft.fftfreq(int(shape[0]))[:, None]
    fx = np.fft.fftfreq(int(shape[1]))[None, :]
    radius = np.sqrt(fy**2 + fx**2)
    n_rings = min(shape) // 2
    width = 0.5 / n_rings
    return np.floor(radius / width).astype(np.int64), n_rings, width


def ring_pixel_counts(shape) -> np.ndarray:
    """(n_rings,) number n_r of Fourier pixels in each FRC ring of an image of `shape`
    (the rings of `frc_curve`; e.g. 1, 8, 16, ... for 64 x 64)."""
    ring, n_rings, _ = _rings(shape)
    keep = ring < n_rings
    return np.bincount(ring[keep], minlength=n_rings)


def half_bit_threshold(n_pixels) -> np.ndarray:
    """1/2-bit FRC threshold (van Heel & Schatz 2005) for rings of n_r pixels:
    (0.2071 + 1.9102/sqrt(n_r)) / (1.2071 + 0.9102/sqrt(n_r)); nan for an empty ring."""
    n = np.asarray(n_pixels, dtype=np.float64)
    out = np.full(n.shape, np.nan)
    ok = n > 0
    root = np.sqrt(n[ok])
    out[ok] = (0.2071 + 1.9102 / root) / (1.2071 + 0.9102 / root)
    return out


def frc_curve(image_a, image_b, *, window: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Fourier ring correlation of two (H, W) real images.

    Rings of width 1/min(H, W) cycles/pixel from 0 to 0.5. With `window` both images are
    mean-subtracted and multiplied by a 2-D Hann window first. Returns (freq, frc): ring
    centre frequencies in cycles/pixel and the correlation per ring (nan for an empty ring).
    `ring_pixel_counts(shape)` gives the pixels per ring.
    """
    a, b = _pair(image_a, image_b)
    if a.ndim != 2:
        raise ConfigError("image_a", f"must be 2-D, got shape {a.shape}")
    if window:
        hann = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
        a = (a - a.mean()) * hann
        b = (b - b.mean()) * hann
    fa, fb = np.fft.fft2(a), np.fft.fft2(b)
    ring, n_rings, width = _rings(a.shape)
    keep = ring < n_rings
    cross = np.bincount(ring[keep], (fa * np.conj(fb)).real[keep], minlength=n_rings)
    pa = np.bincount(ring[keep], (np.abs(fa) ** 2)[keep], minlength=n_rings)
    pb = np.bincount(ring[keep], (np.abs(fb) ** 2)[keep], minlength=n_rings)
    denom = np.sqrt(pa * pb)
    frc = np.full(n_rings, np.nan)
    np.divide(cross, denom, out=frc, where=denom > 0)
    freq = (np.arange(n_rings) + 0.5) * width
    return freq, frc


def frc_crossing(freq, frc, threshold) -> float | None:
    """First frequency (cycles/pixel, linearly interpolated) where the FRC falls below
    `threshold`, ignoring the DC ring; None when it never does. `threshold` is a number or
    one value per ring (e.g. `half_bit_threshold`); the interpolation is then on frc - threshold."""
    freq = np.asarray(freq, dtype=np.float64)
    frc = np.asarray(frc, dtype=np.float64)
    thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), frc.shape)
    diff = frc - thr
    for i in range(1, len(frc)):
        if np.isfinite(diff[i]) and diff[i] < 0:
            prev = diff[i - 1]
            if i == 1 or not np.isfinite(prev) or prev == diff[i]:
                return float(freq[i])
            t = prev / (prev - diff[i])
            return float(freq[i - 1] + t * (freq[i] - freq[i - 1]))
    return None


def frc_summary(image_a, image_b) -> dict:
    """{'freq': [...], 'frc': [...], 'ring_pixels': [...], 'threshold_1/2bit': [...],
    '0.5': crossing, '1/7': crossing, '1/2bit': crossing} (JSON-safe)."""
    freq, frc = frc_curve(image_a, image_b)
    counts = ring_pixel_counts(np.shape(image_a))
    half = half_bit_threshold(counts)
    out = {"freq": freq.tolist(), "frc": [None if not np.isfinite(v) else float(v) for v in frc],
           "ring_pixels": [int(n) for n in counts],
           f"threshold_{HALF_BIT}": [None if not np.isfinite(v) else float(v) for v in half]}
    for name, thr in FRC_THRESHOLDS.items():
        out[name] = frc_crossing(freq, frc, thr)
    out[HALF_BIT] = frc_crossing(freq, frc, half)
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
    """The central crop x crop window of (K, N, N) patches: rows and columns (N - crop)//2
    onwards, the same window `ptycho.stitching.stitch_patches` stitches."""
    N = patches.shape[-1]
    if isinstance(crop, bool) or not isinstance(crop, (int, np.integer)) or not 1 <= crop <= N:
        raise ConfigError("crop", f"must be an int in [1, N={N}], got {crop!r}")
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
    """All amplitude figures of one reconstruction: ls_scalar (reported, not applied), mae,
    rmse, rel_rmse, pearson, psnr on the pixels in `mask` (default all); ssim and the FRC
    crossings (frc_0.5, frc_1/7, frc_1/2bit) need a full rectangle, so they use the largest
    all-covered rectangle of `mask` (`largest_true_rectangle`; None when it is smaller than
    16 x 16). Floats; None for nan."""
    recon, truth = _pair(recon, truth)
    sel = _selection(recon.shape, mask)
    r_in, t_in = recon[sel], truth[sel]
    rows, cols = largest_true_rectangle(sel)
    big = (rows.stop - rows.start) >= MIN_RECTANGLE and (cols.stop - cols.start) >= MIN_RECTANGLE
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
    return {k: _finite_or_none(v) for k, v in values.items()}


def complex_phase_metrics(recon, truth, mask=None) -> dict:
    """mae, rmse, pearson (radians) of the phases of two complex (H, W) fields aligned by
    `aligned_phases` (global phase factor removed, unwrapped, mean and plane removed, all on
    `mask`), on the pixels in `mask` (default all); global_phase: the removed phi0."""
    truth = np.asarray(truth)
    sel = _selection(truth.shape, mask)
    a, b, phi0 = aligned_phases(recon, truth, sel)
    a, b = a[sel], b[sel]
    return {k: _finite_or_none(v) for k, v in
            {"mae": mae(a, b), "rmse": rmse(a, b), "pearson": pearson(a, b),
             "global_phase": phi0}.items()}


def phase_metrics(recon_phase, true_phase, mask=None) -> dict:
    """`complex_phase_metrics` of unit-amplitude fields exp(i*phase): the global offset is the
    circular mean of the phase difference. Phases in radians, (H, W)."""
    recon_phase = np.asarray(recon_phase, dtype=np.float64)
    true_phase = np.asarray(true_phase, dtype=np.float64)
    if recon_phase.shape != true_phase.shape:
        raise ConfigError("recon", f"shape {recon_phase.shape} != truth shape {true_phase.shape}")
    return complex_phase_metrics(np.exp(1j * recon_phase), np.exp(1j * true_phase), mask)


def _finite_or_none(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


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


def _rectangle_is_big(rows: slice, cols: slice) -> bool:
    return (rows.stop - rows.start) >= MIN_RECTANGLE and (cols.stop - cols.start) >= MIN_RECTANGLE


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
    if not (recon.shape == truth.shape == baseline.shape):
        raise ConfigError("recon", f"shapes differ: recon {recon.shape}, truth {truth.shape}, "
                                   f"baseline {baseline.shape}")
    rows, cols = scan_region(xcoords, ycoords, truth.shape, origin)
    cov_full = None if covered is None else np.asarray(covered, bool)
    if cov_full is not None and cov_full.shape != truth.shape:
        raise ConfigError("covered", f"shape {cov_full.shape} != image shape {truth.shape}")
    registration = {"enabled": bool(register), "shift": None, "applied": False,
                    "upsample_factor": int(upsample_factor)}
    valid_full = cov_full
    if register:
        keep0 = np.ones(truth.shape, bool)[rows, cols] if cov_full is None else cov_full[rows, cols]
        rr0, cc0 = largest_true_rectangle(keep0)
        if _rectangle_is_big(rr0, cc0):
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
    from .stitching import global_positions, stitch_patches

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
    the phase alignment (`aligned_phases`: global phase, unwrap, plane). Written atomically
    (`ptycho.atomic.replacing`); returns path.
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
    ph_recon, ph_truth, _ = aligned_phases(recon, truth, keep)
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
    try:
        with replacing(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=80, format="png")
    finally:
        plt.close(fig)
    return path
