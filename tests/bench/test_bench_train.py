"""Training throughput: samples/s and achieved GFLOP/s of `ptycho.train.train` per epoch, as a
ratio of a float32 matmul timed in the same run (issue 18).

The product path itself: `ptycho.train.train` on a simulated lines dataset of the trained tier's
shape (N=64, n_filters_scale 1, batch 16, 5% validation), gridsize 1 and 2, ideal probe. The
epoch wall times are TrainResult.epoch_seconds; the first epoch (tracing, compilation) is
dropped. The matmul reference runs in a Keras callback at the end of every epoch, after the
epoch timer has stopped, so each epoch and its reference see the same machine load seconds
apart. FLOPs per epoch are counted from the model's shapes (`roofline.keras_training_flops`:
n_train training steps + n_val validation forwards per sample), not guessed. Rows: seconds per
epoch, and achieved GFLOP/s vs the matmul's (ratio), at the trained tier's width
(`TIER_BASE_FILTERS`) and at the width it had before (`PREVIOUS_BASE_FILTERS`), trained on the
same data right after; then the epoch time at the tier's width over the previous one (goal
<= 0.5: twice as fast, issue 18). Timings are never asserted.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytest

from parity.bench_report import goal
from parity.scenarios import TIERS
from ptycho.config import replace

from ..ptycho._pipeline import small_setup
from .conftest import sizes
from .roofline import keras_training_flops, tf_environment, tf_matmul_reference, timing_of

pytestmark = pytest.mark.benchmark(group="train")

#: (N, gridsize, groups, epochs); the smoke case is a tiny gridsize-2 run of 2 epochs
TRAIN_CASES = sizes((16, 2, 16, 2),
                    **{f"N64-gs{gs}-g{g}": (64, gs, g, 4) for gs, g in ((1, 256), (2, 128))})
MATMUL_N = {"smoke": 64, "cpu": 1024, "gpu": 8192}
#: the trained tier's network width (parity.scenarios.TIERS) and the one it replaced
TIER_BASE_FILTERS = TIERS[("trained", 1)].base_filters
PREVIOUS_BASE_FILTERS = 32


@dataclass
class EpochRun:
    """One training run of the benchmark: the TrainResult, epoch and matmul timings (first
    epoch dropped) and the matmul seconds of every epoch, FLOPs per sample (train_step,
    forward) and per epoch, achieved and matmul GFLOP/s."""

    result: object
    epoch_s: object
    mm: object
    mm_seconds: list
    flops: dict
    epoch_flops: float
    achieved: float
    peak: float


def _epochs(bench, tf, container, plan, config, n_mm: int, *, benchmarked: bool) -> EpochRun:
    """Train `config` on `container` with the matmul reference after every epoch: the result,
    the epoch and matmul timings (first epoch dropped), FLOPs and achieved GFLOP/s.
    benchmarked: through `bench.measure` (pytest-benchmark's one timed call per test)."""
    from ptycho.tfload import keras as _keras
    from ptycho.train import train

    keras = _keras()
    matmul, matmul_flops = tf_matmul_reference(tf, n_mm)
    matmul()  # trace
    mm_seconds: list[float] = []

    class MatmulAfterEpoch(keras.callbacks.Callback):
        """The roofline reference, timed right after each epoch's timer stops."""

        def on_epoch_end(self, epoch, logs=None):
            t0 = time.perf_counter()
            matmul()
            mm_seconds.append(time.perf_counter() - t0)

    def run():
        return train(container, plan, config, callbacks=[MatmulAfterEpoch()])

    result = bench.measure(run, rounds=1)[0] if benchmarked else run()
    epoch_s = timing_of(result.epoch_seconds[1:] or result.epoch_seconds)
    mm = timing_of(mm_seconds[1:] or mm_seconds)
    flops = keras_training_flops(result.model)
    epoch_flops = result.n_train * flops["train_step"] + result.n_val * flops["forward"]
    return EpochRun(result, epoch_s, mm, mm_seconds, flops, epoch_flops,
                    achieved=epoch_flops / epoch_s.median / 1e9,
                    peak=matmul_flops / mm.median / 1e9)


@pytest.mark.parametrize("case", TRAIN_CASES)
def test_train_epoch_throughput(bench, tf_module, case):
    tf = tf_module
    N, gridsize, groups, epochs = case
    _, _, container, plan, config = small_setup(
        N=N, gridsize=gridsize, n_points=groups, n_groups=groups, object_size=4 * N,
        batch_size=16 if N == 64 else 4, nepochs=epochs, validation_split=0.05,
        **{"model.base_filters": TIER_BASE_FILTERS})
    info = tf_environment(tf)
    n_mm = MATMUL_N["smoke" if not bench.timed else ("gpu" if info["gpu"] else "cpu")]
    previous = replace(config, **{"model.base_filters": PREVIOUS_BASE_FILTERS})
    runs = {w: _epochs(bench, tf, container, plan, c, n_mm, benchmarked=w == TIER_BASE_FILTERS)
            for w, c in ((TIER_BASE_FILTERS, config), (PREVIOUS_BASE_FILTERS, previous))}
    now, before = runs[TIER_BASE_FILTERS], runs[PREVIOUS_BASE_FILTERS]
    result = now.result
    label = f"N{N}-gs{gridsize}-g{groups}-b{config.batch_size}"
    bench.describe(
        kind="train", case=f"train epoch {label}", impl="ours", dtype="float32",
        shape={"diffraction": [result.n_train, N, N, gridsize ** 2]},
        model={"N": N, "gridsize": gridsize, "n_filters_scale": config.model.n_filters_scale,
               "base_filters": TIER_BASE_FILTERS, "parameters": result.parameters["total"]},
        epochs=len(result.epoch_seconds), matmul_n=n_mm,
        widths={str(w): {"epoch_timing": r.epoch_s.to_dict(),
                         "matmul_timing": r.mm.to_dict(), "flops_per_sample": r.flops,
                         "flops_per_epoch": r.epoch_flops,
                         "parameters": r.result.parameters["total"],
                         "samples_per_s": r.result.n_train / r.epoch_s.median,
                         "achieved_gflops": r.achieved, "matmul_gflops": r.peak,
                         "ratio": r.achieved / r.peak} for w, r in runs.items()},
        **info)
    for w, r in runs.items():
        tag = f"{label} base {w}"
        bench.row(f"train epoch {tag}: s", unit="s", ours=r.epoch_s.median)
        bench.row(f"train epoch {tag}: samples/s", unit="patterns/s",
                  ours=r.result.n_train / r.epoch_s.median)
        bench.row(f"train epoch {tag}: GFLOP/s", unit="GFLOP/s", ours=r.achieved,
                  roofline=r.peak,
                  reference=f"tf.matmul float32 {n_mm}^2, {info['device'].split(':')[0]}",
                  goal=goal(">=", 0.4, text="≥ 0.4 (CPU)") if bench.timed and not info["gpu"]
                  else None)
    bench.row(f"train epoch {label}: base {TIER_BASE_FILTERS} vs base {PREVIOUS_BASE_FILTERS}",
              unit="s", ours=now.epoch_s.median, roofline=before.epoch_s.median,
              reference=f"the same epochs at base_filters {PREVIOUS_BASE_FILTERS}",
              goal=goal("<=", 0.5, text="≤ 0.5 (2× faster)") if bench.timed else None)
    bench.finish()

    for r in runs.values():
        assert len(r.result.epoch_seconds) == epochs and len(r.mm_seconds) == epochs
        assert np.isfinite(r.result.history["loss"]).all()
    assert now.epoch_flops > 0 and result.n_train + result.n_val == len(container)
    # the narrower model does less work per sample: conv FLOPs scale with filters^2
    assert now.flops["train_step"] < before.flops["train_step"]
