"""Keras-3 layers of the PINN physics head and its scale/probe weights.

Importing this module imports TensorFlow and Keras (through `ptycho.tfload`); numpy-only code
takes the canvas geometry from `ptycho.canvas` instead. The layer classes are registered for
`.keras` (de)serialization under the package name "ptycho" (registered names "ptycho>ClassName").

Conventions (docs/design.md §3, §7): patches are channels-last `(B, N, N, C)`; coordinates
`coords_relative` are `(B, 1, 2, C)` with `[:, 0, 0, c]` = x (column) and `[:, 0, 1, c]` = y
(row) in pixels; translating by `t` means `out(x) = in(x - t)` with bilinear interpolation and
zero fill outside the input (exactly the zero-padded bilinear of `ptycho.simulate`).

Scale weights are log-parametrized: a `ScaleWeight` layer stores `log_scale` (float32 scalar)
and uses `exp(log_scale)`, so a trainable scale stays positive and its steps are relative.
"""
from __future__ import annotations

import math

import numpy as np

from . import tfload
from .errors import ConfigError
from .canvas import canvas_padding, support_window  # noqa: F401  (re-exported for old callers)
from .physics import diffract_tf_channels_last, illuminate_tf
from .probe import probe_mask
from .validation import require_same_shape

tf = tfload.tf()
keras = tfload.keras()

PACKAGE = "ptycho"
_register = keras.saving.register_keras_serializable(package=PACKAGE)


def translate(images, shifts, output_size: int | None = None, offset: float = 0.0):
    """Bilinear translation with zero fill of a batch of images.

    images: (K, H, W, F) float32; shifts: (K, 2) float32 `[tx, ty]` (column, row) in pixels.
    Returns (K, S, S, F) with S = output_size (default H, square images assumed when given):
    `out[k, i, j] = in[k, i + offset - ty, j + offset - tx]`, i.e. the input translated by
    `+t` and then cropped starting `offset` pixels in (a negative offset pads).
    """
    shifts = tf.cast(shifts, tf.float32)
    K = tf.shape(images)[0]
    one = tf.ones((K,), tf.float32)
    zero = tf.zeros((K,), tf.float32)
    off = tf.fill((K,), tf.cast(offset, tf.float32))
    transforms = tf.stack(
        [one, zero, off - shifts[:, 0], zero, one, off - shifts[:, 1], zero, zero], axis=1
    )
    if output_size is None:
        out_shape = tf.shape(images)[1:3]
    else:
        out_shape = tf.constant([output_size, output_size], tf.int32)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=out_shape,
        fill_value=tf.constant(0.0, tf.float32),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def reassemble_extract(obj, coords_relative, *, pad: int, support: int, eps: float = 1e-6):
    """Per-group reassembly of C patches into one canvas, then extraction at +coords_relative.

    obj: (B, N, N, C) complex64 object patches, each centred at its own scan position, valid on
    the central `support` square. coords_relative: (B, 1, 2, C) = -(coords - centroid).
    Each patch is placed on a (N + 2 pad)^2 canvas centred at its group's centroid (translated
    by -coords_relative), the placed patches are summed and divided by the summed support
    windows (overlap normalization; pixels covered by no patch stay 0), and channel c is cut
    back out at +coords_relative and trimmed to N x N. Groups never mix: the canvas has a batch
    axis. C == 1 returns obj times the support window (its own group, no shift).
    Returns (B, N, N, C) complex64.
    """
    obj = tf.convert_to_tensor(obj)
    N = int(obj.shape[1])
    C = int(obj.shape[-1])
    window = tf.constant(support_window(N, support))[None, :, :, None]
    if C == 1:
        return obj * tf.cast(window, obj.dtype)
    B = tf.shape(obj)[0]
    M = N + 2 * pad
    # flat (B*C, N, N, 3): real, imag, support weight; flat index b*C + c
    flat = tf.reshape(tf.transpose(obj, [0, 3, 1, 2]), (-1, N, N))
    weight = tf.broadcast_to(window[..., 0], tf.shape(flat))
    stacked = tf.stack([tf.math.real(flat), tf.math.imag(flat), weight], axis=-1)
    rel = tf.cast(coords_relative, tf.float32)[:, 0, :, :]          # (B, 2, C)
    rel_flat = tf.reshape(tf.transpose(rel, [0, 2, 1]), (-1, 2))    # (B*C, 2) [x, y]
    placed = translate(stacked, -rel_flat, output_size=M, offset=-float(pad))
    placed = tf.reduce_sum(tf.reshape(placed, (B, C, M, M, 3)), axis=1)  # (B, M, M, 3)
    denom = tf.maximum(placed[..., 2], eps)
    canvas = tf.stack([placed[..., 0] / denom, placed[..., 1] / denom], axis=-1)
    canvas_flat = tf.reshape(tf.repeat(canvas[:, None], C, axis=1), (-1, M, M, 2))
    cut = translate(canvas_flat, rel_flat, output_size=N, offset=float(pad))  # (B*C, N, N, 2)
    patches = tf.complex(cut[..., 0], cut[..., 1])
    return tf.transpose(tf.reshape(patches, (B, C, N, N)), [0, 2, 3, 1])


@_register
class ScaleWeight(keras.layers.Layer):
    """Multiplies ('multiply') or divides ('divide') its input by exp(log_scale).

    `log_scale` is a float32 scalar `add_weight`, trainable exactly when `scale_trainable`.
    """

    def __init__(self, initial_scale=1.0, mode="multiply", scale_trainable=False, **kw):
        super().__init__(**kw)
        if mode not in ("multiply", "divide"):
            raise ValueError(f"mode must be 'multiply' or 'divide', got {mode!r}")
        initial_scale = float(initial_scale)
        if not math.isfinite(initial_scale) or initial_scale <= 0:
            raise ValueError(f"initial_scale must be finite and > 0, got {initial_scale!r}")
        self.initial_scale = initial_scale
        self.mode = mode
        self.scale_trainable = bool(scale_trainable)
        self.log_scale = self.add_weight(
            name="log_scale",
            shape=(),
            initializer=keras.initializers.Constant(math.log(initial_scale)),
            trainable=self.scale_trainable,
            dtype="float32",
        )

    def call(self, x):
        s = tf.exp(self.log_scale)
        return x / s if self.mode == "divide" else x * s

    def get_config(self):
        cfg = super().get_config()
        cfg.update(initial_scale=self.initial_scale, mode=self.mode,
                   scale_trainable=self.scale_trainable)
        return cfg


@_register
class AmplitudeActivation(keras.layers.Layer):
    """sigmoid (ceiling 1), softplus (unbounded) or ceiling*sigmoid ('scaled_sigmoid')."""

    def __init__(self, kind="softplus", ceiling=None, **kw):
        super().__init__(**kw)
        if kind not in ("sigmoid", "softplus", "scaled_sigmoid"):
            raise ValueError(f"unknown amplitude activation {kind!r}")
        if kind == "scaled_sigmoid" and (ceiling is None or not float(ceiling) > 0):
            raise ValueError("scaled_sigmoid needs a ceiling > 0")
        self.kind = kind
        self.ceiling = None if ceiling is None else float(ceiling)

    def call(self, x):
        if self.kind == "sigmoid":
            return tf.sigmoid(x)
        if self.kind == "scaled_sigmoid":
            return self.ceiling * tf.sigmoid(x)
        return tf.nn.softplus(x)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(kind=self.kind, ceiling=self.ceiling)
        return cfg


@_register
class PhaseActivation(keras.layers.Layer):
    """pi * tanh(x): phase in radians, in (-pi, pi)."""

    def call(self, x):
        return math.pi * tf.tanh(x)


@_register
class CombineComplex(keras.layers.Layer):
    """(amplitude, phase) float32 (B, N, N, C) -> complex64 amplitude * exp(i phase)."""

    def __init__(self, **kw):
        kw.setdefault("autocast", False)
        super().__init__(**kw)

    def call(self, amplitude, phase):
        amplitude = tf.cast(amplitude, tf.float32)
        phase = tf.cast(phase, tf.float32)
        return tf.complex(amplitude * tf.cos(phase), amplitude * tf.sin(phase))

    def compute_output_spec(self, amplitude, phase):
        return keras.KerasTensor(amplitude.shape, dtype="complex64")

    def get_config(self):
        return super().get_config()


@_register
class BorderFill(keras.layers.Layer):
    """Full-support object logits: (centre (B, N/2, N/2, C), border (B, N, N, C)) float32 ->
    (B, N, N, C): the centre decoder's values on the central N/2 x N/2 square, the border
    branch's values on the rest of the patch (object_support 'full')."""

    def __init__(self, N=64, **kw):
        super().__init__(**kw)
        self.N = int(N)

    def call(self, centre, border):
        q = self.N // 4
        outside = tf.constant(1.0 - support_window(self.N, self.N // 2))[None, :, :, None]
        padded = tf.pad(centre, [[0, 0], [q, q], [q, q], [0, 0]])
        return padded + border * outside

    def compute_output_spec(self, centre, border):
        return keras.KerasTensor(border.shape, dtype=border.dtype)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(N=self.N)
        return cfg


@_register
class GroupReassembly(keras.layers.Layer):
    """`reassemble_extract` as a layer: (obj complex64, coords_relative) -> complex64.

    pad: canvas padding per side in pixels (from `canvas_padding(max_offset)`); support:
    side of the valid central square of each patch (N/2 for the decoder's output).
    """

    def __init__(self, pad=1, support=32, **kw):
        kw.setdefault("autocast", False)
        super().__init__(**kw)
        self.pad = int(pad)
        self.support = int(support)

    def call(self, obj, coords_relative):
        return reassemble_extract(obj, coords_relative, pad=self.pad, support=self.support)

    def compute_output_spec(self, obj, coords_relative):
        return keras.KerasTensor(obj.shape, dtype="complex64")

    def get_config(self):
        cfg = super().get_config()
        cfg.update(pad=self.pad, support=self.support)
        return cfg


@_register
class ProbeIllumination(keras.layers.Layer):
    """Exit wave P * O (* M): the probe is two float32 (N, N) `add_weight` weights.

    `probe_real`/`probe_imag` are trainable exactly when `probe_trainable`; the initial
    probe is given as an array at construction (restored from the weights on load). The
    mask, when `use_mask`, is `ptycho.probe.probe_mask(N)`, a constant.
    """

    def __init__(self, N=64, use_mask=False, probe_trainable=False, probe=None, **kw):
        kw.setdefault("autocast", False)
        super().__init__(**kw)
        self.N = int(N)
        self.use_mask = bool(use_mask)
        self.probe_trainable = bool(probe_trainable)
        init = np.zeros((self.N, self.N), np.complex64) if probe is None else np.asarray(probe)
        require_same_shape("probe", init, (self.N, self.N), error=ConfigError)
        self.probe_real = self.add_weight(
            name="probe_real", shape=(self.N, self.N), dtype="float32",
            initializer=keras.initializers.Constant(np.real(init).astype(np.float32)),
            trainable=self.probe_trainable)
        self.probe_imag = self.add_weight(
            name="probe_imag", shape=(self.N, self.N), dtype="float32",
            initializer=keras.initializers.Constant(np.imag(init).astype(np.float32)),
            trainable=self.probe_trainable)

    def probe(self):
        """The current probe as a complex64 (N, N) tensor."""
        return tf.complex(self.probe_real, self.probe_imag)

    def call(self, obj):
        mask = probe_mask(self.N)[:, :, None] if self.use_mask else None
        return illuminate_tf(obj, self.probe()[:, :, None], mask)

    def compute_output_spec(self, obj):
        return keras.KerasTensor(obj.shape, dtype="complex64")

    def get_config(self):
        cfg = super().get_config()
        cfg.update(N=self.N, use_mask=self.use_mask, probe_trainable=self.probe_trainable)
        return cfg


@_register
class Diffraction(keras.layers.Layer):
    """Far-field amplitude (B, N, N, C) complex64 -> float32, `ptycho.physics` conventions."""

    def __init__(self, **kw):
        kw.setdefault("autocast", False)
        super().__init__(**kw)

    def call(self, psi):
        return diffract_tf_channels_last(psi)

    def compute_output_spec(self, psi):
        return keras.KerasTensor(psi.shape, dtype="float32")

    def get_config(self):
        return super().get_config()


@_register
class Square(keras.layers.Layer):
    """x**2: scaled amplitude -> expected counts."""

    def call(self, x):
        return tf.square(x)
