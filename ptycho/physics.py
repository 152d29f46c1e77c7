"""Forward model (DESIGN §3): illumination and far-field diffraction.

Numpy reference (float64) and TensorFlow ops (complex64 -> float32):
1. Psi = P * O (times the mask M when given);
2. F = FFT2(Psi), unnormalized forward FFT over the last two axes, no input ifftshift;
3. I = |F|^2 / N^2, amplitude A = sqrt(fftshift(I)) shifted on both image axes.
Consequences: sum A^2 = sum |Psi|^2 (Parseval), DC at pixel (N/2, N/2), a uniform unit field
gives A[N/2, N/2] = N. TensorFlow is imported lazily through ptycho.tfload.
"""
from __future__ import annotations

import numpy as np

from .tfload import tf as _tf

IMAGE_AXES = (-2, -1)


# ---------------------------------------------------------------------------- numpy reference
def illuminate_np(obj, probe, mask=None) -> np.ndarray:
    """Exit wave Psi = probe * obj (* mask), complex128, broadcast over leading axes.

    obj: (..., N, N) complex; probe: (N, N) complex; mask: (N, N) real or None.
    """
    psi = np.asarray(obj, dtype=np.complex128) * np.asarray(probe, dtype=np.complex128)
    if mask is not None:
        psi = psi * np.asarray(mask, dtype=np.float64)
    return psi


def diffract_np(psi) -> np.ndarray:
    """Far-field amplitude of exit waves: (..., N, N) complex -> (..., N, N) float64.

    A = sqrt(fftshift(|FFT2(psi)|^2 / N^2)) over the last two axes; DC lands at (N/2, N/2).
    """
    psi = np.asarray(psi, dtype=np.complex128)
    n_rows, n_cols = psi.shape[-2:]
    F = np.fft.fft2(psi, axes=IMAGE_AXES)
    intensity = (F.real**2 + F.imag**2) / float(n_rows * n_cols)
    return np.sqrt(np.fft.fftshift(intensity, axes=IMAGE_AXES))


def forward_np(obj_patches, probe, mask=None) -> np.ndarray:
    """Diffraction amplitude of object patches: (..., N, N) complex -> (..., N, N) float64."""
    return diffract_np(illuminate_np(obj_patches, probe, mask))


# ---------------------------------------------------------------------------- TensorFlow
def _as_complex64(x):
    tf = _tf()
    x = tf.convert_to_tensor(x)
    if x.dtype == tf.complex64:
        return x
    if x.dtype.is_complex:
        return tf.cast(x, tf.complex64)
    return tf.complex(tf.cast(x, tf.float32), tf.zeros_like(x, dtype=tf.float32))


def illuminate_tf(obj, probe, mask=None):
    """Exit wave Psi = probe * obj (* mask) as complex64; obj (..., N, N), probe/mask (N, N).

    For channels-last tensors (B, N, N, C) pass probe and mask shaped (N, N, 1).
    """
    tf = _tf()
    psi = _as_complex64(obj) * _as_complex64(probe)
    if mask is not None:
        psi = psi * _as_complex64(tf.cast(mask, tf.float32))
    return psi


def diffract_tf(psi):
    """Far-field amplitude: (..., N, N) complex64 tensor -> (..., N, N) float32 tensor.

    Same convention as `diffract_np`. |F|/N is computed with a complex abs (equal to
    sqrt(|F|^2 / N^2), with a finite gradient at F = 0).
    """
    tf = _tf()
    psi = _as_complex64(psi)
    n_rows = tf.cast(tf.shape(psi)[-2], tf.float32)
    n_cols = tf.cast(tf.shape(psi)[-1], tf.float32)
    amplitude = tf.abs(tf.signal.fft2d(psi)) / tf.sqrt(n_rows * n_cols)
    return tf.signal.fftshift(amplitude, axes=IMAGE_AXES)


def diffract_tf_channels_last(psi):
    """Far-field amplitude of a channels-last batch.

    (B, N, N, C) complex64 tensor -> (B, N, N, C) float32 tensor; each channel is one pattern.
    """
    tf = _tf()
    psi = _as_complex64(psi)
    channels_first = tf.transpose(psi, perm=[0, 3, 1, 2])
    return tf.transpose(diffract_tf(channels_first), perm=[0, 2, 3, 1])


def forward_tf(obj_patches, probe, mask=None):
    """Diffraction amplitude of object patches (..., N, N) complex64 -> float32 (TensorFlow)."""
    return diffract_tf(illuminate_tf(obj_patches, probe, mask))
