"""Checks of the train stage that need no fitting (the tiny tier runs them as diagnostics of
the training path): the compiled loss, gradient flow, one optimizer step, the training feed."""
from __future__ import annotations

import math

from ..tolerances import rel_diff
from .kit import CheckContext, Result, passed, rel_check
from .registry import check


@check("train")
def check_loss_composition(v, ctx: CheckContext) -> Result:
    """The compiled training loss on one batch equals nll_weight*NLL + mae_weight*MAE computed
    independently from ptycho.losses on the same predictions."""
    return rel_check(ctx, v["train.probe.loss_compiled"], v["train.probe.loss_composed"],
                     "loss_composition",
                     f"compiled loss vs {v['train.probe.nll_weight']:g}*NLL + "
                     f"{v['train.probe.mae_weight']:g}*MAE")


@check("train")
def check_gradient_flow(v, ctx: CheckContext) -> Result:
    """One gradient on one batch reaches every trainable weight (no None/all-zero tensor)."""
    zero = list(v["train.probe.zero_gradient_weights"])
    n = int(v["train.probe.trainable_weights"])
    ok = not zero and n > 0
    return Result(len(zero), 0, passed(ok),
                  f"{len(zero)} of {n} trainable weights get no gradient"
                  + (f": {', '.join(zero[:4])}{' ...' if len(zero) > 4 else ''}" if zero else ""))


@check("train")
def check_optimizer_step(v, ctx: CheckContext) -> Result:
    """One optimizer step at the configured learning rate goes downhill: the optimizer's
    learning rate is the configured one, Adam's first update of a zero-initialized weight has
    size lr (|g|/(|g| + eps') of it), and the step's first-order loss change sum g . dw is
    negative. (The loss after a full step of size lr is reported, not held: on a random batch a
    step that size can overshoot, +0.8% and +2.1% on two gridsize-2 trained-tier seeds.)"""
    tol_lr = ctx.tol("optimizer_learning_rate")
    tol_step = ctx.tol("optimizer_step_size")
    lr, conf = v["train.probe.learning_rate"], v["train.probe.configured_learning_rate"]
    size = v["train.probe.max_update_over_lr"]
    change = v["train.probe.step_first_order_change"]
    d_lr = rel_diff(lr, conf)
    d_size = math.inf if size is None or not math.isfinite(float(size)) else abs(float(size) - 1.0)
    ok = d_lr <= tol_lr and d_size <= tol_step and change is not None and float(change) < 0.0
    return Result(change, 0.0, passed(ok),
                  f"first-order loss change of one step {float(change):+.3g} (must be < 0; full "
                  f"step {float(v['train.probe.step_relative_change']):+.3g}); learning rate "
                  f"{lr:.7g} vs configured {conf:g} (rel {d_lr:.3g}, bound {tol_lr:g}); largest "
                  f"update / lr {size:.6g} (|1 - it| bound {tol_step:g})")


@check("train")
def check_training_feed(v, ctx: CheckContext) -> Result:
    """What ptycho.train.train hands the optimizer, row by row, on the shuffled and the
    unshuffled path: every input row is one group's scaled diffraction, its offsets are that
    group's, its count label is (scale * fed diffraction)^2 of the same group, and every
    training group is fed exactly once per epoch."""
    tol = ctx.tol("training_feed")
    err = v["train.feed.label_error"]
    bad = int(v["train.feed.unmatched_rows"]) + int(v["train.feed.coords_mismatch_rows"])
    paths = [(v["train.feed.rows_shuffled"], v["train.feed.distinct_groups_shuffled"]),
             (v["train.feed.rows_unshuffled"], v["train.feed.distinct_groups_unshuffled"])]
    once = all(int(r) == int(d) and int(r) > 0 for r, d in paths)
    ok = err is not None and math.isfinite(float(err)) and float(err) <= tol and bad == 0 and once
    return Result(err, tol, passed(ok),
                  f"label vs (scale*fed diffraction)^2 of the same group: rel {float(err):.3g} "
                  f"(bound {tol:g}); {v['train.feed.unmatched_rows']} rows match no group, "
                  f"{v['train.feed.coords_mismatch_rows']} with other offsets; rows/distinct "
                  f"groups shuffled {paths[0][0]}/{paths[0][1]}, unshuffled {paths[1][0]}/{paths[1][1]}")
