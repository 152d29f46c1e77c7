"""Specification of the `infer` stage (ptycho.inference docstring, docs/design.md §3 and §7), run in
the tiny gate on a few groups of the untrained model:

- reconstruct returns (B, N, N, C) complex64, finite, for the groups asked;
- the reconstruction of a group is the training model's object for the same input
  external_scale * X_fed (recomputed here in float64), whatever the batch size;
- units: the patch amplitude is the object the physics head diffracts, so for C == 1 the
  model's predicted counts equal (s_out * |FFT2(P * M * patch)| / N)^2 (fftshifted), with s_out
  the documented output scaler (independent numpy head; the C > 1 head reassembles the group
  first and is not re-derived here: None).
"""
from __future__ import annotations

import numpy as np

from .sampling import far_field, rel_max

#: groups reconstructed by the tiny gate's inference probe (one model call each: eager
#: Keras calls cost ~0.1 s of CPU, the gate's budget is a fraction of a second per check)
GROUPS = 1


def infer_spec(patches, *, forward_patches, forward_counts, probe, mask, output_scaler: float,
               groups: int) -> dict:
    """patches: reconstruct()'s output for the first `groups` groups (batch size 1);
    forward_patches / forward_counts: the training model's object and counts for all groups
    (forward stage, batches of up to 64); probe (N, N) and mask (or None) as used by the
    model; output_scaler: the reference output scaler."""
    P = np.asarray(patches)
    n = int(groups)
    ref = np.asarray(forward_patches)[:n]
    out = {"groups": n,
           "shape_ok": P.shape == ref.shape and P.dtype == np.complex64,
           "nonfinite": int(np.count_nonzero(~np.isfinite(P))),
           "forward_agreement": rel_max(P, ref) if P.shape == ref.shape else float("inf"),
           "head_error": None}
    if P.ndim == 4 and P.shape[-1] == 1 and P.shape == ref.shape:
        psi = P[..., 0].astype(np.complex128) * np.asarray(probe, np.complex128)
        if mask is not None:
            psi = psi * np.asarray(mask, np.float64)
        want = (float(output_scaler) * far_field(psi)) ** 2
        got = np.asarray(forward_counts, np.float64)[:n, ..., 0]
        out["head_error"] = rel_max(got, want)
    return out
