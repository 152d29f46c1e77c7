"""Forward model (docs/design.md §3): illumination and far-field diffraction.

Numpy reference (float64) and TensorFlow ops (complex64 -> float32):
1. Psi = P * O (times the mask M when given);
2. F = FFT2(Psi), unnormalized forward FFT over the last two axes, no input ifftshift;
3. I = |F|^2 / N^2, amplitude A = sqrt(fftshift(I)) shifted on both image axes.
Consequences: sum A^2 = sum |Psi|^2 (Parseval), DC at pixel (N/2, N/2), a uniform unit field
gives A[N/2, N/2] = N. TensorFlow is imported lazily through ptycho.tfload.

TensorFlow speed (issue 11 item 5), with the same bits as the plain op graph
fftshift(abs(fft2d(P * O)) / N): TF's CPU FFT kernel is single-threaded per op and every
full-batch intermediate is a fresh large allocation, so the batch is cut into parts of about
PART_PATTERNS patterns transformed concurrently, and |F| (as the float64 sqrt of the exact
squares, which is what the complex abs computes), the 1/N and the shift are one fused XLA pass
over the parts. `forward_tf` also folds the shift and the 1/N into the probe
(`shifted_probe`: a (-1)^(i+j) checkerboard moves the spectrum by N/2 exactly, 1/N is a power
of two), leaving product, FFT and modulus.
"""
from __future__ import annotations

import os

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
#: usable cores. TF's CPU FFT kernel runs one thread per op, so a batch of exit waves is cut
#: on its leading axis into parts that run concurrently on the inter-op thread pool
CORES = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1))
#: patterns per part aimed at for a batch of known size (more parts than cores also overlap
#: one part's product and modulus with another's FFT, and keep the buffers small)
PART_PATTERNS = 128
#: at most this many parts, and none with fewer than MIN_PATTERNS_PER_PART patterns
MAX_PARTS = 16
MIN_PATTERNS_PER_PART = 16
#: batches of fewer patterns, or of a size unknown when traced (a Keras model's batch), run the
#: plain op graph instead (same bits; no XLA compilation for small or many-shaped inputs)
FAST_MIN_PATTERNS = 128

_TAIL = None  # the XLA-compiled amplitude tail, built on first use


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


def _complex_abs(F):
    """|F| of complex64 F as float32, bitwise equal to tf.abs (ComplexAbs: hypotf, i.e. the
    float64 sqrt of the exact float64 squares rounded once): an XLA-fusable formula."""
    tf = _tf()
    re = tf.cast(tf.math.real(F), tf.float64)
    im = tf.cast(tf.math.imag(F), tf.float64)
    return tf.cast(tf.sqrt(re * re + im * im), tf.float32)


def _tail_functions():
    """(amplitude, amplitude_shifted) XLA functions of a list of FFT parts: the parts' |F|
    concatenated on axis 0, and for the shifted one divided by sqrt(N_rows*N_cols) and
    fftshifted on the last two axes; each in one fused pass."""
    global _TAIL
    if _TAIL is None:
        tf = _tf()

        def amplitude(parts):
            return tf.concat([_complex_abs(F) for F in parts], axis=0)

        def amplitude_shifted(parts, denom):
            A = amplitude(parts) / denom
            # fftshift as static slices (XLA lowers a roll to slower dynamic slices)
            rows, cols = A.shape[-2], A.shape[-1]
            r, c = rows - rows // 2, cols - cols // 2  # roll by (rows//2, cols//2)
            A = tf.concat([A[..., r:, :], A[..., :r, :]], axis=-2)
            return tf.concat([A[..., c:], A[..., :c]], axis=-1)

        _TAIL = (tf.function(amplitude, jit_compile=True),
                 tf.function(amplitude_shifted, jit_compile=True))
    return _TAIL


def _split(x, parts: int):
    """x split on axis 0 into `parts` near-equal pieces (dynamic batch size allowed)."""
    tf = _tf()
    b = tf.shape(x, out_type=tf.int64)[0]
    bounds = [b * i // parts for i in range(parts + 1)]
    return tf.split(x, [bounds[i + 1] - bounds[i] for i in range(parts)], axis=0)


def _n_parts(x) -> int:
    """Parts for a (B, N, N) batch: about B / PART_PATTERNS (at least CORES) when B is known,
    CORES when it is not (a Keras batch); never parts of fewer than MIN_PATTERNS_PER_PART."""
    b = x.shape[0]
    if b is None:
        return CORES
    b = int(b)
    return max(1, min(MAX_PARTS, b // MIN_PATTERNS_PER_PART,
                      max(CORES, -(-b // PART_PATTERNS))))


def _amplitude(psi_parts, *, shift: bool):
    """|FFT2(part)| of each exit-wave part (complex64 (b_i, N, N)), concatenated, optionally
    divided by sqrt(N*N) and fftshifted; the gradient is TensorFlow's own for
    roll(ComplexAbs(F) / sqrt(N*N)), so forward and gradient equal the plain-op graph bitwise."""
    tf = _tf()
    amplitude, amplitude_shifted = _tail_functions()
    F_parts = [tf.signal.fft2d(p) for p in psi_parts]
    n_rows, n_cols = tf.shape(psi_parts[0])[-2], tf.shape(psi_parts[0])[-1]
    denom = tf.sqrt(tf.cast(tf.shape(psi_parts[0])[-2] * tf.shape(psi_parts[0])[-1],
                            tf.float32))

    @tf.custom_gradient
    def tail(*F):
        out = amplitude_shifted(list(F), denom) if shift else amplitude(list(F))

        def grad(g):
            if shift:
                g = tf.roll(g, shift=[-(n_rows // 2), -(n_cols // 2)], axis=[-2, -1])
                g = tf.realdiv(g, denom)
            sizes = [tf.shape(f)[0] for f in F]
            grads = []
            for f, gi in zip(F, tf.split(g, sizes, axis=0)):
                a = amplitude([f])  # bitwise tf.abs(f)
                grads.append(tf.math.divide_no_nan(tf.complex(gi, tf.zeros_like(gi)) * f,
                                                   tf.complex(a, tf.zeros_like(a))))
            return grads

        return out, grad

    return tail(*F_parts)


def _as_batch(psi):
    """(..., N, N) -> ((B, N, N), leading shape) with B the product of the leading axes."""
    tf = _tf()
    shape = tf.shape(psi)
    return tf.reshape(psi, tf.concat([[-1], shape[-2:]], axis=0)), shape


def _plain_diffract(psi):
    """fftshift(|FFT2(psi)| / sqrt(N*N)) as plain TF ops (the reference graph)."""
    tf = _tf()
    n_rows = tf.cast(tf.shape(psi)[-2], tf.float32)
    n_cols = tf.cast(tf.shape(psi)[-1], tf.float32)
    amplitude = tf.abs(tf.signal.fft2d(psi)) / tf.sqrt(n_rows * n_cols)
    return tf.signal.fftshift(amplitude, axes=IMAGE_AXES)


def _fast_batch(x) -> bool:
    """True when x's pattern count is known at trace time and at least FAST_MIN_PATTERNS."""
    if x.shape.rank is None or x.shape.rank < 3:
        return False
    lead = x.shape[:-2]
    return lead.is_fully_defined() and lead.num_elements() >= FAST_MIN_PATTERNS


def _flat_batch(x):
    """(..., N, N) -> ((B, N, N) with static B, original shape tensor)."""
    flat, shape = _as_batch(x)
    flat.set_shape([x.shape[:-2].num_elements(), x.shape[-2], x.shape[-1]])
    return flat, shape


def diffract_tf(psi):
    """Far-field amplitude: (..., N, N) complex64 tensor -> (..., N, N) float32 tensor.

    Same convention as `diffract_np`. |F|/N is computed with a complex abs (equal to
    sqrt(|F|^2 / N^2), with a finite gradient at F = 0). For a batch of at least
    FAST_MIN_PATTERNS patterns known at trace time the batch is transformed in concurrent
    parts (see _n_parts) and |F|, the 1/N and the shift are one fused XLA pass; forward and
    gradient are bitwise those of the plain graph (_plain_diffract), which smaller batches
    and the Keras model (batch unknown when traced) run.
    """
    tf = _tf()
    psi = _as_complex64(psi)
    if not _fast_batch(psi):
        return _plain_diffract(psi)
    flat, shape = _flat_batch(psi)
    A = _amplitude(_split(flat, _n_parts(flat)), shift=True)
    return tf.reshape(A, shape)


def diffract_tf_channels_last(psi):
    """Far-field amplitude of a channels-last batch.

    (B, N, N, C) complex64 tensor -> (B, N, N, C) float32 tensor; each channel is one pattern.
    """
    tf = _tf()
    psi = _as_complex64(psi)
    channels_first = tf.transpose(psi, perm=[0, 3, 1, 2])
    return tf.transpose(diffract_tf(channels_first), perm=[0, 2, 3, 1])


def shifted_probe(probe, mask=None) -> np.ndarray:
    """The probe with the forward model's constant factors folded in, complex64 (N, N):
    probe * mask * (-1)**(i+j) / N (N = sqrt(rows*cols)). The checkerboard moves the
    spectrum by (rows/2, cols/2) (the fftshift, for even sizes) and 1/N scales it; both are
    exact in float32 (sign flips and a power of two), so |FFT2(obj * shifted_probe)| is
    diffract(obj * probe * mask) without a shift or a division pass."""
    P = np.asarray(probe).astype(np.complex64)
    rows, cols = P.shape[-2:]
    if rows % 2 or cols % 2:
        raise ValueError(f"shifted_probe needs even image sizes, got {(rows, cols)}")
    sign = np.where(np.add.outer(np.arange(rows), np.arange(cols)) % 2, -1.0, 1.0)
    factor = sign / np.sqrt(float(rows * cols))
    if mask is not None:
        factor = factor * np.asarray(mask, dtype=np.float64)
    return (P * factor.astype(np.float32)).astype(np.complex64)


def forward_tf(obj_patches, probe, mask=None):
    """Diffraction amplitude of object patches (..., N, N) complex64 -> float32 (TensorFlow).

    For a batch of at least FAST_MIN_PATTERNS patterns known at trace time and even image
    sizes: |FFT2(obj * shifted_probe(probe, mask))| on concurrent parts of the batch
    (_n_parts), the modulus one fused XLA pass; no fftshift and no 1/N pass, no full-batch
    exit wave. Equal to diffract_tf(illuminate_tf(obj, probe, mask)) up to the FFT's rounding
    of a modulated input (bitwise on TensorFlow's CPU FFT for every size tested; <= 1e-6
    relative in any case). Otherwise exactly diffract_tf(illuminate_tf(obj, probe, mask)).
    `probe` may be a numpy array (folded once here) or a tensor (folded in TensorFlow).
    """
    tf = _tf()
    obj = _as_complex64(obj_patches)
    if not _fast_batch(obj) or obj.shape[-2] % 2 or obj.shape[-1] % 2:
        return _plain_diffract(illuminate_tf(obj, probe, mask))
    if isinstance(probe, np.ndarray) and (mask is None or isinstance(mask, np.ndarray)):
        P = tf.constant(shifted_probe(probe, mask))
    else:
        rows, cols = obj.shape[-2], obj.shape[-1]
        sign = np.where(np.add.outer(np.arange(rows), np.arange(cols)) % 2, -1.0, 1.0)
        factor = tf.constant((sign / np.sqrt(float(rows * cols))).astype(np.float32))
        if mask is not None:
            factor = factor * tf.cast(mask, tf.float32)
        P = _as_complex64(probe) * tf.complex(factor, tf.zeros_like(factor))
    flat, shape = _flat_batch(obj)
    parts = [o * P for o in _split(flat, _n_parts(flat))]
    return tf.reshape(_amplitude(parts, shift=False), shape)
