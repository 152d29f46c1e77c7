"""The Keras-3 PINN: encoder/decoder to object patches, then the differentiable physics head.

`build_model` returns `(model, diffraction_to_obj)`:
- `model` (training): inputs `diffraction` (B, N, N, C) float32 = external_scale * X_fed and
  `coords_relative` (B, 1, 2, C); outputs `{"amplitude": s_out * |F(P * O)|/N,
  "counts": amplitude**2}` (B, N, N, C) float32 (docs/design.md §4: labels are counts
  (external_scale * X_fed)**2 and amplitudes external_scale * X_fed).
- `diffraction_to_obj` (inference): input `diffraction` -> complex64 object patches
  (B, N, N, C), each centred at its own scan position, zero outside the central N/2 square.

Network (docs/design.md §7): the input is divided by the input-scaler weight; encoder stages of two
3x3 ReLU convs + 2x2 max-pool down to 8x8 (filters n_filters_scale * base_filters * 2**k,
k = 0..S-1, S = log2(N/8): nfs*[32, 64, 128] at N=64 and base 32); two decoders (amplitude,
phase) of upsample + two 3x3 ReLU convs up to N/2 (filters reversed, without the deepest), a
last 3x3 conv to C channels, the activation (amplitude per `amp_activation`, phase pi*tanh) and zero padding by
N/4 to N. Physics head: complex combine, per-group reassembly on a canvas padded by
`canvas_padding(max_offset)` pixels, extraction at +coords_relative, probe (weight) and optional
mask, diffraction (ptycho.physics), output-scaler weight, square.

Scale weights are log-parametrized (`ScaleWeight.log_scale`); their values are read with
`model_scales(model)`. Every kernel initializer gets an explicit seed derived from `seed`.
"""
from __future__ import annotations

import math

import numpy as np

from . import atomic
from .config import ModelConfig, TrainingConfig
from .errors import ConfigError
from .canvas import canvas_padding
from .tfload import keras as _keras
from .validation import require_finite, require_positive, require_same_shape

INPUT_SCALER = "input_scaler"
OUTPUT_SCALER = "output_scaler"
PROBE_LAYER = "probe_illumination"
OBJECT_LAYER = "object"
REASSEMBLY_LAYER = "group_reassembly"


def encoder_filters(N: int, n_filters_scale: int, base_filters: int = 32) -> list[int]:
    """Filters per encoder stage: nfs*base*2**k for k in range(log2(N/8)) (N=64, base 32:
    nfs*[32, 64, 128])."""
    stages = int(round(math.log2(N // 8)))
    return [n_filters_scale * base_filters * 2**k for k in range(stages)]


def decoder_filters(N: int, n_filters_scale: int, base_filters: int = 32) -> list[int]:
    """Filters per decoder stage (8 -> N/2): the encoder's reversed, deepest dropped."""
    return list(reversed(encoder_filters(N, n_filters_scale, base_filters)[:-1]))


def _check_scale(name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(name, f"must be a number, got {value!r}") from None
    return require_positive(name, value)


def _check_probe(probe, N: int) -> np.ndarray:
    probe = np.asarray(probe)
    require_same_shape("probe", probe, (N, N), error=ConfigError)
    require_finite("probe", probe, error=ConfigError)
    return probe.astype(np.complex64)


def build_model(model_config: ModelConfig, training_config: TrainingConfig | None = None, *,
                probe, input_scale: float, output_scale: float, max_offset: float = 0.0,
                seed: int | None = None):
    """Build the training model and the `diffraction_to_obj` inference model.

    probe: (N, N) complex, the normalized probe (initial value of the probe weight).
    input_scale / output_scale: initial values of the two scale weights (s_cf / s current,
    s_cf / s_cf legacy). max_offset: largest |coords_relative| component (pixels) the canvas
    must hold. seed: initializer seed (default training_config.seed, else 1).
    Returns (model, diffraction_to_obj).
    """
    keras = _keras()
    from . import layers as L  # imports TensorFlow: only when a model is built

    if not isinstance(model_config, ModelConfig):
        raise ConfigError("model_config", f"must be a ModelConfig, got {type(model_config).__name__}")
    if training_config is not None and training_config.model != model_config:
        raise ConfigError("training_config.model", "differs from model_config")
    N, C = model_config.N, model_config.channels
    width = (model_config.n_filters_scale, model_config.base_filters)
    probe = _check_probe(probe, N)
    input_scale = _check_scale("input_scale", input_scale)
    output_scale = _check_scale("output_scale", output_scale)
    try:
        pad = canvas_padding(max_offset)
    except ValueError as exc:
        raise ConfigError("max_offset", str(exc)) from None
    if seed is None:
        seed = training_config.seed if training_config is not None else 1
    seeds = iter(range(int(seed) * 1000, int(seed) * 1000 + 1000))
    trainable_scale = model_config.intensity_scale_trainable

    def conv(filters, name, activation="relu"):
        return keras.layers.Conv2D(
            filters, 3, padding="same", activation=activation, name=name,
            kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)))

    diffraction = keras.Input((N, N, C), name="diffraction", dtype="float32")
    coords = keras.Input((1, 2, C), name="coords_relative", dtype="float32")
    x = L.ScaleWeight(input_scale, mode="divide", scale_trainable=trainable_scale,
                      name=INPUT_SCALER)(diffraction)
    for k, f in enumerate(encoder_filters(N, *width)):
        x = conv(f, f"enc{k}_conv0")(x)
        x = conv(f, f"enc{k}_conv1")(x)
        x = keras.layers.MaxPooling2D(2, name=f"enc{k}_pool")(x)
    encoded = x

    def decoder(tag):
        """Object logits (B, N, N, C) of one decoder: the central N/2 (zero-padded) for
        object_support 'half', the central N/2 plus a border branch for 'full'."""
        y = encoded
        for k, f in enumerate(decoder_filters(N, *width)):
            y = keras.layers.UpSampling2D(2, name=f"{tag}_dec{k}_up")(y)
            y = conv(f, f"{tag}_dec{k}_conv0")(y)
            y = conv(f, f"{tag}_dec{k}_conv1")(y)
        centre = conv(C, f"{tag}_last", activation=None)(y)
        if model_config.object_support == "half":
            return centre
        up = keras.layers.UpSampling2D(2, name=f"{tag}_border_up")(y)
        border = conv(C, f"{tag}_border", activation=None)(up)
        return L.BorderFill(N=N, name=f"{tag}_full")(centre, border)

    full = model_config.object_support == "full"
    amp = L.AmplitudeActivation(model_config.amp_activation, model_config.amp_ceiling,
                                name="amp_activation")(decoder("amp"))
    phase = L.PhaseActivation(name="phase_activation")(decoder("phase"))
    if not full:
        amp = keras.layers.ZeroPadding2D(N // 4, name="amp_padded")(amp)
        phase = keras.layers.ZeroPadding2D(N // 4, name="phase_padded")(phase)
    obj = L.CombineComplex(name=OBJECT_LAYER)(amp, phase)

    patches = L.GroupReassembly(pad=pad, support=N if full else N // 2,
                                name=REASSEMBLY_LAYER)(obj, coords)
    psi = L.ProbeIllumination(N=N, use_mask=model_config.probe_mask,
                              probe_trainable=model_config.probe_trainable, probe=probe,
                              name=PROBE_LAYER)(patches)
    amplitude = L.Diffraction(name="diffraction_amplitude")(psi)
    amplitude = L.ScaleWeight(output_scale, mode="multiply", scale_trainable=trainable_scale,
                              name=OUTPUT_SCALER)(amplitude)
    counts = L.Square(name="counts")(amplitude)
    amplitude = keras.layers.Identity(name="amplitude")(amplitude)

    model = keras.Model([diffraction, coords], {"amplitude": amplitude, "counts": counts},
                        name="ptycho_pinn")
    return model, diffraction_to_obj(model)


def diffraction_to_obj(model):
    """The inference sub-model of a training model: diffraction -> complex64 object patches."""
    keras = _keras()
    return keras.Model(model.inputs[0], model.get_layer(OBJECT_LAYER).output,
                       name="diffraction_to_obj")


def physics_head(model, obj, coords_relative):
    """Apply the physics head of a built training model to given object patches.

    obj: (B, N, N, C) complex object patches; coords_relative: (B, 1, 2, C).
    Returns (amplitude, counts) float32 tensors (B, N, N, C): output_scale * |F(P*O)|/N and
    its square, through the model's own reassembly, probe, diffraction and scale layers.
    """
    from .tfload import tf as _tf

    tf = _tf()
    obj = tf.cast(tf.convert_to_tensor(obj), tf.complex64)
    coords = tf.cast(tf.convert_to_tensor(coords_relative), tf.float32)
    patches = model.get_layer(REASSEMBLY_LAYER)(obj, coords)
    psi = model.get_layer(PROBE_LAYER)(patches)
    amplitude = model.get_layer(OUTPUT_SCALER)(model.get_layer("diffraction_amplitude")(psi))
    return amplitude, model.get_layer("counts")(amplitude)


def model_scales(model) -> tuple[float, float]:
    """(input_scale, output_scale) current values of the two scale weights."""
    return tuple(float(np.exp(model.get_layer(name).log_scale.numpy()))
                 for name in (INPUT_SCALER, OUTPUT_SCALER))


def model_probe(model) -> np.ndarray:
    """Current probe weight as an (N, N) complex64 array."""
    layer = model.get_layer(PROBE_LAYER)
    return (layer.probe_real.numpy() + 1j * layer.probe_imag.numpy()).astype(np.complex64)


def count_parameters(model) -> dict:
    """{'total', 'trainable', 'non_trainable'} parameter counts (scalars count 1)."""
    trainable = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    non_trainable = int(sum(int(np.prod(w.shape)) for w in model.non_trainable_weights))
    return {"total": trainable + non_trainable, "trainable": trainable,
            "non_trainable": non_trainable}


def save_model(model, path) -> None:
    """Save a training model to a `.keras` file atomically (`ptycho.atomic.replacing`)."""
    with atomic.replacing(path, suffix=".keras") as tmp:
        model.save(str(tmp))


def load_model(path):
    """Load a `.keras` training model; returns (model, diffraction_to_obj). Not compiled."""
    keras = _keras()
    from . import layers  # noqa: F401  (registers the custom layer classes)

    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    return model, diffraction_to_obj(model)
