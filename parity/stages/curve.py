"""Learning curves: the held-out evaluation of the model while it trains.

In a tier whose `TierSize.curve_every` is k > 0 and which holds out an object (split 'object'),
the train stage fits with a `HeldOutCurve` callback: after every k-th epoch (and the last) it
reconstructs the held-out groups with the model's current weights (ptycho.inference.reconstruct),
stitches them, and evaluates them the way the evaluate stage does (ptycho.evaluation
.evaluate_images against the stitched truth and the stitched constant-amplitude baseline on the
covered pixels; twin fraction of the patches). Its last point, after the last epoch, is
therefore the evaluate stage's result for the same weights. The train stage records the curve as
`train.curve.*` lists; the report draws it (parity.curve_figure).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: the curve's series: telemetry key suffix -> what it is
SERIES = {
    "epoch": "epochs trained when the point was taken (1-based)",
    "amplitude_pearson": "held-out amplitude Pearson r of the stitched model",
    "baseline_pearson": "the same for the constant-amplitude baseline",
    "rmse_ratio": "amplitude RMSE of the model over the baseline's",
    "twin_fraction": "fraction of patches closer to the truth's twin than to the truth",
}


@dataclass
class HeldOutFrame:
    """What every point of a curve shares: the held-out groups fed in the training plan's units,
    their stitching positions, the stitched truth and baseline, and the inference config."""

    fed: Any
    grouped: Any
    plan: Any
    icfg: Any
    x: np.ndarray
    y: np.ndarray
    shape: tuple[int, int]
    truth: np.ndarray
    baseline: np.ndarray
    points: list[dict[str, float]] = field(default_factory=list)


def held_out_frame(fed, grouped, plan, config, *, probe, mask, size: int) -> HeldOutFrame:
    """The frame of held-out groups `grouped` (ptycho.grouping.GroupedData with ground-truth
    patches Y) fed as `fed` (a PtychoDataContainer in the training plan's units), on a
    (size, size) object canvas; probe (N, N) and mask as the model's (the baseline's)."""
    from ptycho.config import InferenceConfig
    from ptycho.evaluation import baseline_patches, constant_amplitude_baseline
    from ptycho.stitching import global_positions, stitch_patches

    from .model import FORWARD_BATCH

    icfg = InferenceConfig(model=config.model, batch_size=FORWARD_BATCH, seed=config.seed)
    x, y = global_positions(grouped.coords_offsets, grouped.coords_relative)
    kw = dict(crop=icfg.crop, origin=(0.0, 0.0), shape=(size, size))
    truth = stitch_patches(grouped.Y, x, y, **kw).image
    amps = constant_amplitude_baseline(grouped.diffraction, probe, mask)
    N = config.model.N
    baseline = stitch_patches(baseline_patches(amps, N), x, y, **kw).image
    return HeldOutFrame(fed, grouped, plan, icfg, x, y, (size, size), truth, baseline)


def curve_point(frame: HeldOutFrame, diffraction_to_obj, epoch: int) -> dict[str, float]:
    """One point: the model (its inference view) on the frame's held-out groups."""
    from ptycho.evaluation import evaluate_images, twin_fraction
    from ptycho.inference import reconstruct
    from ptycho.stats import finite_or_none
    from ptycho.stitching import stitch_patches

    patches = reconstruct(diffraction_to_obj, frame.fed, frame.plan, frame.icfg)
    res = stitch_patches(patches, frame.x, frame.y, crop=frame.icfg.crop, origin=(0.0, 0.0),
                         shape=frame.shape)
    rep = evaluate_images(res.image, frame.truth, frame.baseline, xcoords=frame.x,
                          ycoords=frame.y, covered=res.covered())
    amp = rep.amplitude
    model_rmse, base_rmse = amp["rmse"]["model"], amp["rmse"]["baseline"]
    return {"epoch": int(epoch),
            "amplitude_pearson": amp["pearson"]["model"],
            "baseline_pearson": amp["pearson"]["baseline"],
            "rmse_ratio": (model_rmse / base_rmse if model_rmse is not None and base_rmse
                           else None),
            "twin_fraction": finite_or_none(twin_fraction(np.abs(patches), np.abs(frame.grouped.Y),
                                                          crop=frame.icfg.crop))}


def curve_callback(frame: HeldOutFrame, every: int, epochs: int):
    """A Keras callback appending `curve_point` to frame.points after every `every`-th epoch
    and after the last of `epochs`."""
    from ptycho.model import diffraction_to_obj
    from ptycho.tfload import keras as _keras

    class HeldOutCurve(_keras().callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.view = None

        def on_epoch_end(self, epoch, logs=None):
            done = int(epoch) + 1
            if done % every == 0 or done == epochs:
                if self.view is None:  # the inference view shares the model's weights
                    self.view = diffraction_to_obj(self.model)
                frame.points.append(curve_point(frame, self.view, done))

    return HeldOutCurve()


def curve_values(points: list[dict[str, float]]) -> dict[str, list]:
    """`curve.<series>` telemetry: one list per series of SERIES, in epoch order."""
    return {f"curve.{name}": [p[name] for p in points] for name in SERIES}
