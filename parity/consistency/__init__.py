"""Consistency measurements: the product's own parts checked against each other, without training.

Each measurement calls the product (ptycho) on inputs whose answer is known from another part
of the product, and returns JSON-safe values; the stages record them and `parity.checks`
holds them to bounds from the ledger. One module per family (all names re-exported here):
`forward` (labels and the physics head), `network` (the built layers: reassembly, canvas,
batch independence, activations), `training` (loss, gradient, step, training feed), `stitch`
(ground-truth stitch and its evaluation); `arrays` holds what they share.

Nothing here reimplements a product computation: the simulator's patches and far field come
from `ptycho.simulate` / `ptycho.physics`, the model's from its own built layers (looked up by
name in the built training model), the losses from `ptycho.losses`, the training feed from
`ptycho.train.train` itself.

- `forward_consistency`: the model's physics head after the decoders (probe -> diffraction ->
  output scaler -> square) applied to the ground-truth patches Y, scaled by the amplitude ratio
  r the labels imply (1 current, g legacy), against the simulator's noise-free expectation of
  the count labels at the same scan positions (the labels are Poisson draws of it:
  `label_agreement`).
- `reassembly_roundtrip`: the model's reassembly layer on ground-truth patches at the group
  geometry rounded to whole pixels (bilinear translation is then exact), windowed to the
  decoder support: every patch comes back unchanged on its own support, and where neighbours
  cover it, as the object.
- `canvas_capacity`: the largest group offset the built reassembly layer carries without loss,
  measured with constant patches, so the canvas is what the layer builds, not an attribute.
- `batch_independence`, `activation_range`, `phase_range`: the built model and its activation
  layers on probe inputs.
- `loss_and_gradient`: compiled loss vs its composition from ptycho.losses; one gradient and
  one optimizer step on one batch (the model's weights are restored afterwards).
- `training_feed`: what `ptycho.train.train` hands the optimizer, captured row by row inside
  Keras' fit, on the shuffled and the unshuffled path (the step itself is skipped).
- `stitch_roundtrip`: ground-truth patches cut at whole-pixel positions and stitched by
  `ptycho.stitching` at the product's global positions reproduce the object; evaluations of
  that stitch and of a scaled, phase-offset copy (`ptycho.evaluation.evaluate_images`).
"""
from .arrays import DIAGNOSTIC_GROUPS, channels_last, rel_to_max, truth_positions
from .forward import (MIN_EXPECTED_COUNTS, expected_label_counts, forward_consistency,
                      head_after_reassembly, label_agreement)
from .network import (MIN_BATCH_PATTERNS, NETWORK_BATCH, RAMP_LIMIT, activation_range,
                      batch_independence, canvas_capacity, phase_range, reassembly_roundtrip)
from .stitch import COPY_PHASE, COPY_SCALE, PHASE_PER_AMPLITUDE, stitch_roundtrip
from .training import loss_and_gradient, training_feed

__all__ = [
    "COPY_PHASE", "COPY_SCALE", "MIN_BATCH_PATTERNS", "MIN_EXPECTED_COUNTS", "NETWORK_BATCH",
    "PHASE_PER_AMPLITUDE", "DIAGNOSTIC_GROUPS", "RAMP_LIMIT", "activation_range", "batch_independence",
    "canvas_capacity", "channels_last", "expected_label_counts", "forward_consistency",
    "head_after_reassembly", "label_agreement", "loss_and_gradient", "phase_range",
    "reassembly_roundtrip", "rel_to_max", "stitch_roundtrip", "training_feed", "truth_positions",
]
