"""The result stages: infer (the trained model on the held-out or training data), stitch
(patches into object coordinates), evaluate (metrics against the stitched truth and the
constant-amplitude baseline, ePIE beside the PINN on held-out data)."""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from ptycho.canvas import support_mean
from ptycho.config import InferenceConfig

from .. import consistency, oracle
from ..telemetry import array_stats, prefixed
from .common import ceiling_or_none
from .model import FORWARD_BATCH
from .state import StageState

#: a pixel counts as saturated at or above (1 - this) x the activation ceiling, in the
#: prediction (implied amplitude) and in the reconstruction alike. 10 %: a sigmoid's slope is
#: 0.09 of its ceiling per logit unit at 90 % of it but 0.0099 at 99 % (0.36 and 0.04 of
#: its slope at the centre), so a model trained for tens of epochs brings the
#: pixels whose data ask for more than its ceiling to 90 % of it, not to 99 % (measured, trained
#: tier at 99 %: gs2_custom/legacy 0.6 % of the pixels observed vs 10.7 % predicted, 20 epochs,
#: while every learning check passed), and the units (unsaturated_ls_scalar) are read where
#: the activation still follows its target
SATURATION_MARGIN = 0.1


def infer_container(st: StageState):
    """(fed container, grouped) to reconstruct: the held-out object or the test half of the
    scan when the tier splits, else the training groups. The test data are fed in the units of
    the TRAINING plan (the network learned the map from the training feed to |O|)."""
    from ptycho.container import PtychoDataContainer
    from ptycho.grouping import group

    if st.art.has("raw_test"):
        raw_test = st.art.raw_test
    elif st.art.split is None:
        return st.art.fed, st.art.grouped
    else:
        raw_test = st.art.raw.subset(st.art.split[1])
    cfg = st.config
    grouped = group(raw_test, gridsize=cfg.model.gridsize, n_groups=cfg.n_groups,
                    neighbor_count=cfg.neighbor_count, strategy=cfg.grouping_strategy,
                    seed=cfg.seed)
    return (PtychoDataContainer.from_grouped(grouped, st.art.probe,
                                             feed_gain=st.art.plan.feed_gain), grouped)


def stage_infer(st: StageState) -> dict[str, Any]:
    """ptycho.inference.reconstruct with the trained model: object patches vs truth. Without
    training (the tiny gate, `mode` 'probe'): nothing here; the inference path of the untrained
    model is judged by its specification (parity.specs.measure)."""
    from ptycho.inference import reconstruct

    if not st.art.has("trained"):
        return {"mode": "probe"}
    fed, grouped = infer_container(st)
    icfg = InferenceConfig(model=st.config.model, batch_size=FORWARD_BATCH, seed=st.config.seed)
    start = time.perf_counter()
    patches = reconstruct(st.art.trained.diffraction_to_obj, fed, st.art.plan, icfg)
    st.recorder.artifacts["pinn_seconds"] = time.perf_counter() - start  # not telemetry
    st.recorder.artifacts["pinn_patterns"] = int(patches.shape[0] * patches.shape[-1])
    st.art.patches, st.art.infer_grouped, st.art.icfg = patches, grouped, icfg
    N = st.N
    amp = np.abs(patches)
    out = {"n_groups": int(patches.shape[0])}
    out.update(prefixed("amplitude", array_stats(amp)))
    out["amplitude_mean"] = support_mean(amp, N)
    if grouped.Y is not None:
        truth_mean = support_mean(np.abs(grouped.Y), N)
        out["truth_mean"] = truth_mean
        out["amplitude_ratio"] = out["amplitude_mean"] / truth_mean if truth_mean else math.nan
    out["predicted_amplitude_ratio"] = st.art.plan.amplitude_ratio
    out["verifies_prediction"] = bool(st.sizes.verify_training)
    return out


def _truth_roundtrip(st: StageState) -> dict[str, Any]:
    """Ground-truth patches of the training groups stitched back (parity.consistency); the
    evaluation values are kept for the evaluate stage."""
    grouped = st.art.grouped
    if grouped.Y is None:
        return {}
    crop = InferenceConfig(model=st.config.model, seed=st.config.seed).crop
    stitch, evaluation = consistency.stitch_roundtrip(st.art.object, st.art.raw, grouped, crop)
    st.art.truth_evaluation = evaluation
    return prefixed("truth_roundtrip", stitch)


def stage_stitch(st: StageState) -> dict[str, Any]:
    """The ground-truth round trip (always), and with training: ptycho.stitching.stitch_patches
    of the reconstruction (central crop) into object coordinates; the ground truth is stitched
    the same way."""
    from ptycho.stitching import global_positions, stitch_patches

    out = _truth_roundtrip(st)
    if not st.art.has("patches"):
        return out
    grouped, icfg = st.art.infer_grouped, st.art.icfg
    x, y = global_positions(grouped.coords_offsets, grouped.coords_relative)
    size = st.sizes.object_size
    res = stitch_patches(st.art.patches, x, y, crop=icfg.crop, origin=(0.0, 0.0),
                         shape=(size, size))
    st.art.stitched, st.art.stitch_xy = res, (x, y)
    if grouped.Y is not None:
        st.art.stitched_truth = stitch_patches(grouped.Y, x, y, crop=icfg.crop,
                                                  origin=(0.0, 0.0), shape=(size, size))
    covered = res.covered()
    out.update({"shape": list(res.image.shape), "crop": icfg.crop,
                "covered_fraction": float(np.mean(covered))})
    out.update(prefixed("amplitude", array_stats(np.abs(res.image[covered]))))
    return out


def stage_evaluate(st: StageState) -> dict[str, Any]:
    """ptycho.evaluation.evaluate_images against the stitched truth and the constant-amplitude
    baseline; amplitude ratio vs the prediction made before training."""
    from ptycho.evaluation import baseline_patches, constant_amplitude_baseline, evaluate_images
    from ptycho.stitching import stitch_patches

    roundtrip = st.art.truth_evaluation if st.art.has("truth_evaluation") else {}
    out: dict[str, Any] = prefixed("truth", roundtrip)
    if not st.art.has("stitched"):
        return out
    res = st.art.stitched
    if not st.art.has("stitched_truth"):
        out["ground_truth"] = False
        return out
    grouped, icfg = st.art.infer_grouped, st.art.icfg
    x, y = st.art.stitch_xy
    size = st.sizes.object_size
    amps = constant_amplitude_baseline(grouped.diffraction, st.art.probe, st.art.mask)
    base = stitch_patches(baseline_patches(amps, st.N), x, y, crop=icfg.crop,
                          origin=(0.0, 0.0), shape=(size, size))
    rep = evaluate_images(res.image, st.art.stitched_truth.image, base.image, xcoords=x,
                          ycoords=y, covered=res.covered())
    out["ground_truth"] = True
    out["verifies_learning"] = bool(st.sizes.verify_training and st.sizes.verify_learning)
    out["verifies_legacy_ratio"] = bool(out["verifies_learning"] and st.sizes.verify_legacy_ratio)
    for group_name in ("amplitude", "phase"):
        for metric, pair in getattr(rep, group_name).items():
            for who, v in pair.items():
                out[f"{group_name}.{metric}.{who}"] = v
    covered = res.covered()
    rec = float(np.mean(np.abs(res.image[covered])))
    tru = float(np.mean(np.abs(st.art.stitched_truth.image[covered])))
    out["amplitude_ratio"] = rec / tru if tru else math.nan
    ratio = st.art.plan.amplitude_ratio
    out["predicted_amplitude_ratio"] = ratio
    out.update(prefixed("saturation", _saturation(st, res.image, st.art.stitched_truth.image,
                                                  covered, ratio)))
    out.update(beside_the_engine(st, rep, base.image, x, y, covered))
    return out


def beside_the_engine(st: StageState, rep, baseline, x, y, covered) -> dict[str, Any]:
    """Split 'object': ePIE (parity.oracle.held_out_run) on the held-out data the PINN
    inferred, evaluated against the same stitched truth, baseline and covered pixels
    (`oracle.*`); the images and wall times go to the recorder's artifacts (the report's
    PINN / ePIE / baseline figure)."""
    from ptycho.evaluation import evaluate_images

    if not st.art.has("raw_test"):
        return {}
    raw = st.art.raw_test
    run = oracle.held_out_run(raw, st.art.mask, seed=st.config.seed, cache=st.models)
    truth = st.art.stitched_truth.image
    erep = evaluate_images(run.object, truth, baseline, xcoords=x, ycoords=y, covered=covered)
    st.recorder.artifacts.update({
        "epie_seconds": run.seconds, "epie_patterns": run.patterns,
        "epie_iterations": run.iterations,
        "images": {"truth": truth, "PINN": st.art.stitched.image, "ePIE": run.object,
                   "baseline": baseline, "covered": covered},
        "pinn_report": rep, "epie_report": erep})
    return prefixed("oracle", oracle.held_out_values(erep, run))


def _saturation(st: StageState, recon, truth, covered, ratio: float) -> dict[str, Any]:
    """Saturation on the evaluated (covered) pixels: the fraction predicted before training
    (implied amplitude ratio * |O_true| at or above 1 - SATURATION_MARGIN of the activation
    ceiling) and observed
    (the reconstruction there), and the LS scalar (recon ~ c * truth) over the pixels predicted
    unsaturated ('where unsaturated': all of them for an unbounded activation)."""
    from ptycho.evaluation import ls_scalar, saturation_fraction

    ceiling = ceiling_or_none(st.config)
    a, t = np.abs(recon), np.abs(truth)
    if ceiling is None:
        out = {"ceiling": None, "predicted_fraction": 0.0, "observed_fraction": 0.0}
        unsaturated = covered
    else:
        out = {"ceiling": ceiling,
               "predicted_fraction": saturation_fraction(ratio * t, ceiling, where=covered,
                                                         tolerance=SATURATION_MARGIN),
               "observed_fraction": saturation_fraction(a, ceiling, where=covered,
                                                        tolerance=SATURATION_MARGIN)}
        unsaturated = covered & (ratio * t < (1.0 - SATURATION_MARGIN) * ceiling)
    n = int(np.count_nonzero(unsaturated))
    out["unsaturated_pixels"] = n
    out["unsaturated_ls_scalar"] = ls_scalar(a[unsaturated], t[unsaturated]) if n else None
    return out

