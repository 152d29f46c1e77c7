"""The built model's layers on inputs with a known answer: the reassembly layer's round trip and
the largest offset it carries (`reassembly_roundtrip`, `canvas_capacity`), batch independence,
and the measured range of the amplitude and phase activations."""
from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import channels_last, rel_to_max

#: batch_independence: patterns (samples x channels) of the physics-head batch (the
#: batch-merging reassembly bug starts at 64), and samples of the whole-network batch
MIN_BATCH_PATTERNS = 64
NETWORK_BATCH = 8
#: activation probes: inputs from -RAMP_LIMIT to +RAMP_LIMIT (sigmoid and tanh saturate in float32)
RAMP_LIMIT = 60.0


def reassembly_roundtrip(model, obj, xt: np.ndarray, yt: np.ndarray,
                         coords_relative: np.ndarray) -> dict[str, Any]:
    """The built reassembly layer on ground-truth patches of each group's true geometry
    rounded to whole pixels, windowed to the decoder support, placed by the product's
    coords_relative rounded the same way.

    xt, yt: (B, C) true scan positions of the group members (raw data); channel c is cut at
    centroid - round(-(p_c - centroid)) (bilinear translation by whole pixels is exact).
    Returns own_support_error = max|R(Y W) - Y W| on each patch's support / max|Y W|, and
    covered_error = max|R(Y W) - Y R(W)| / max|Y W|: where the layer says neighbours cover a
    pixel, it must hold the object there, so offsets of the wrong sign or size fail.
    """
    from ptycho.canvas import support_window
    from ptycho.model import REASSEMBLY_LAYER
    from ptycho.simulate import extract_patches

    layer = model.get_layer(REASSEMBLY_LAYER)
    B, C = xt.shape
    cx, cy = xt.mean(axis=1, keepdims=True), yt.mean(axis=1, keepdims=True)
    px, py = cx - np.round(cx - xt), cy - np.round(cy - yt)     # centroid - round(rel_true)
    rel = np.round(np.asarray(coords_relative, np.float64))       # the product's offsets
    N = int(model.inputs[0].shape[1])
    patches = channels_last(extract_patches(obj, px.ravel(), py.ravel(), N), B, C).astype(np.complex64)
    W = support_window(N, int(layer.support))[None, :, :, None]
    YW = patches * W
    out = np.asarray(layer(YW, rel.astype(np.float32)))
    cover = np.real(np.asarray(layer((np.ones_like(YW) * W).astype(np.complex64),
                                     rel.astype(np.float32))))
    scale = float(np.max(np.abs(YW))) or 1.0
    own = float(np.max(np.abs(out * W - YW))) / scale
    covered = float(np.max(np.abs(out - patches * cover))) / scale
    return {"own_support_error": own, "covered_error": covered,
            "max_integer_offset": float(np.max(np.abs(rel))) if rel.size else 0.0}


def canvas_capacity(model, max_probe_offset: int) -> dict[str, Any]:
    """Largest whole-pixel group offset the built reassembly layer carries without loss.

    One probe group per offset d = 0..max_probe_offset; group d's channels sit at +-d px along
    x and y (alternating), each a constant (d + 1) on the decoder support. A channel is carried
    when it comes back equal on its support (relative 1e-6). capacity: the largest d such that
    every group up to d is carried (-1 when none is). canvas: the canvas side that implies,
    2 * capacity + support (a patch whose support sits d px off the canvas centre needs
    d + support/2 px on each side; the support is read from the built layer: N/2 gives
    N + 2 * (capacity - N/4), N gives N + 2 * capacity); for C == 1 the layer never
    translates, so the capacity is the whole probe range.
    """
    from ptycho.canvas import support_window
    from ptycho.model import REASSEMBLY_LAYER

    layer = model.get_layer(REASSEMBLY_LAYER)
    N = int(model.inputs[0].shape[1])
    C = int(model.inputs[0].shape[-1])
    support = int(layer.support)
    D = int(max_probe_offset)
    W = support_window(N, support)
    d = np.arange(D + 1, dtype=np.float64)
    rel = np.zeros((D + 1, 1, 2, C))
    for c in range(C):
        axis, sign = (c // 2) % 2, (1.0 if c % 2 == 0 else -1.0)
        rel[:, 0, axis, c] = sign * d
    values = (d + 1.0)[:, None, None, None]
    patches = (values * W[None, :, :, None] * np.ones((1, 1, 1, C))).astype(np.complex64)
    out = np.asarray(layer(patches, rel.astype(np.float32)))
    err = np.max(np.abs(out - patches) * W[None, :, :, None], axis=(1, 2, 3)) / values[:, 0, 0, 0]
    ok = err <= 1e-6
    capacity = int(np.argmin(ok)) - 1 if not ok.all() else D
    canvas = 2 * capacity + support if capacity >= 0 else 0
    return {"capacity": capacity, "canvas": int(canvas), "probe_offsets": D}


def batch_independence(model, diagnostics, inputs: dict[str, np.ndarray], Y: np.ndarray | None
                       ) -> dict[str, Any]:
    """Sample 0's output when every other sample of its batch is perturbed.

    Two batches: (1) the whole model (`diagnostics`, the view with outputs {'object',
    'counts'}) on up to NETWORK_BATCH groups of `inputs`, odd samples' diffraction halved and
    flipped and their offsets moved; (2) the physics head (ptycho.model.physics_head: the
    model's reassembly, probe, diffraction, scale layers) on ground-truth patches Y windowed
    to the decoder support, tiled to >= MIN_BATCH_PATTERNS patterns (where the batch-merging
    reassembly bug starts), odd samples conjugated and their offsets moved. Returns the max
    relative change of sample 0's counts and object amplitude (network) and counts (head)."""
    from ptycho.canvas import support_window
    from ptycho.model import REASSEMBLY_LAYER, physics_head

    def perturbed(batch):
        out = {k: v.copy() for k, v in batch.items()}
        out["coords_relative"][1::2] = -out["coords_relative"][1::2] + np.float32(1.5)
        return out

    n = min(inputs["diffraction"].shape[0], NETWORK_BATCH)
    base = {k: np.ascontiguousarray(v[:n]) for k, v in inputs.items()}
    pert = perturbed(base)
    pert["diffraction"][1::2] = 0.5 * pert["diffraction"][1::2, ::-1, :, :]
    a, b = diagnostics(base, training=False), diagnostics(pert, training=False)
    out = {"network_samples": int(n),
           "counts_change": rel_to_max(np.asarray(b["counts"])[:1], np.asarray(a["counts"])[:1],
                                        axes=(0, 1, 2, 3)),
           "object_change": rel_to_max(np.abs(np.asarray(b["object"]))[:1],
                                        np.abs(np.asarray(a["object"]))[:1], axes=(0, 1, 2, 3))}
    if Y is not None:
        N, C = Y.shape[1], Y.shape[-1]
        B = max(2, -(-MIN_BATCH_PATTERNS // C))
        idx = np.arange(B) % Y.shape[0]
        W = support_window(N, int(model.get_layer(REASSEMBLY_LAYER).support))[None, :, :, None]
        hb = {"object": (Y[idx] * W).astype(np.complex64),
              "coords_relative": np.ascontiguousarray(inputs["coords_relative"][idx % n])}
        hp = perturbed(hb)
        hp["object"][1::2] = np.conj(hp["object"][1::2]) * np.complex64(0.5)
        ha = np.asarray(physics_head(model, hb["object"], hb["coords_relative"])[1])[:1]
        hq = np.asarray(physics_head(model, hp["object"], hp["coords_relative"])[1])[:1]
        out["head_patterns"] = int(B * C)
        out["head_counts_change"] = rel_to_max(hq, ha, axes=(0, 1, 2, 3))
    return out


def _layer_ceiling(layer) -> float | None:
    """The amplitude ceiling a built AmplitudeActivation layer declares (None: unbounded)."""
    kind = getattr(layer, "kind", None)
    if kind == "sigmoid":
        return 1.0
    if kind == "scaled_sigmoid":
        return float(layer.ceiling)
    return None


def _ramp(layer) -> np.ndarray:
    from ptycho.tfload import tf

    x = np.linspace(-RAMP_LIMIT, RAMP_LIMIT, 241, dtype=np.float32).reshape(1, 241, 1, 1)
    return np.asarray(layer(tf().convert_to_tensor(x)), np.float64)


def activation_range(model) -> dict[str, Any]:
    """The built amplitude activation: the ceiling it declares (kind and ceiling attributes),
    and its measured output range on inputs -RAMP_LIMIT..RAMP_LIMIT."""
    layer = model.get_layer("amp_activation")
    y = _ramp(layer)
    return {"kind": getattr(layer, "kind", None), "layer_ceiling": _layer_ceiling(layer),
            "output_max": float(y.max()), "output_min": float(y.min()),
            "ramp_limit": RAMP_LIMIT}


def phase_range(model) -> dict[str, Any]:
    """The built phase activation's measured output range on inputs -RAMP_LIMIT..RAMP_LIMIT."""
    y = _ramp(model.get_layer("phase_activation"))
    return {"output_max": float(y.max()), "output_min": float(y.min())}
