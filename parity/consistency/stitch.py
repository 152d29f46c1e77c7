"""Ground-truth patches stitched back into the object by the product, and evaluations of the
result with known answers (`stitch_roundtrip`)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .arrays import truth_positions

#: stitch_roundtrip: phase given to the object for the evaluation probes, rad per unit |O|
PHASE_PER_AMPLITUDE = 0.5
#: the scaled copy of stitch_roundtrip: amplitude factor and global phase offset (rad)
COPY_SCALE, COPY_PHASE = 2.0, 2.9


def stitch_roundtrip(obj, raw, grouped, crop: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ground-truth patches stitched back into the object, and evaluations of the result.

    The object is given a phase (PHASE_PER_AMPLITUDE * (|O| - mean|O|), so phase metrics have
    structure); patches are cut by ptycho.simulate.extract_patches at the group members' raw
    scan positions rounded to whole pixels, and stitched by ptycho.stitching.stitch_patches at
    the product's global positions (ptycho.stitching.global_positions) moved by the same
    rounding, so a correct pipeline reproduces the object exactly on the covered pixels.
    Returns (stitch values, evaluate values): the stitch's max relative error and covered
    fraction; evaluate_images of the stitch against the object (perfect scores) and of
    COPY_SCALE * exp(i COPY_PHASE) * stitch (ls_scalar COPY_SCALE, amplitude MAE
    (COPY_SCALE - 1) * mean|O| over the evaluated pixels, perfect phase metrics).
    """
    from ptycho.evaluation import evaluate_images, scan_region
    from ptycho.simulate import extract_patches
    from ptycho.stitching import global_positions, stitch_patches

    amp = np.abs(np.asarray(obj, np.complex128))
    field = amp * np.exp(1j * PHASE_PER_AMPLITUDE * (amp - amp.mean()))
    xt, yt = truth_positions(raw, grouped.nn_indices)
    xr, yr = np.round(xt), np.round(yt)
    B, C = xt.shape
    N = grouped.N
    patches = extract_patches(field, xr.ravel(), yr.ravel(), N)      # flat b*C + c
    gx, gy = global_positions(grouped.coords_offsets, grouped.coords_relative)
    px, py = gx + (xr - xt).ravel(), gy + (yr - yt).ravel()
    res = stitch_patches(patches, px, py, crop=int(crop), origin=(0.0, 0.0), shape=field.shape)
    covered = res.covered()
    scale = float(np.max(amp[covered])) if covered.any() else 1.0
    err = float(np.max(np.abs(res.image[covered] - field[covered]))) / scale if covered.any() else math.inf
    stitch = {"max_rel_error": err, "covered_fraction": float(np.mean(covered)),
              "patches": int(B * C)}
    const = np.full(field.shape, float(np.mean(amp[covered])) if covered.any() else 1.0)
    out: dict[str, Any] = {}
    copy = COPY_SCALE * np.exp(1j * COPY_PHASE) * res.image
    for tag, recon in (("identity", res.image), ("scaled_copy", copy)):
        rep = evaluate_images(recon, field, const, xcoords=px, ycoords=py, covered=covered)
        for name in ("ls_scalar", "mae", "pearson"):
            out[f"{tag}.amplitude_{name}"] = rep.amplitude[name]["model"]
        for name in ("mae", "rmse", "pearson", "global_phase"):
            out[f"{tag}.phase_{name}"] = rep.phase[name]["model"]
        shift = rep.registration_shift
        out[f"{tag}.registration_shift"] = (max(abs(shift[0]), abs(shift[1]))
                                            if shift is not None else None)
    rows, cols = scan_region(px, py, field.shape)
    out["truth_amplitude_mean"] = float(np.mean(amp[rows, cols][covered[rows, cols]]))
    out["copy_scale"], out["copy_phase"] = COPY_SCALE, COPY_PHASE
    return stitch, out

