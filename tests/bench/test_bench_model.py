"""Model forward pass: achieved GFLOP/s vs a float32 matmul on the same device, same run.

The training model (`model([diffraction, coords_relative])`, physics head included) and the
inference model (`diffraction_to_obj`) from `ptycho.model.build_model`, n_filters_scale 2, at
N=64 gridsize 1 and 2 and N=128 gridsize 1, batch 16 and 64. Each forward runs in a
tf.function (XLA per PTYCHO_BENCH_XLA, recorded) on TF's device (GPU when visible), with a
device synchronization before the clock stops and the first (tracing) call discarded.
FLOPs are counted analytically from the layer shapes (`roofline.keras_model_flops`: convs
2*H*W*k*k*Cin*Cout, plus one complex FFT per pattern in the physics head). The roofline is a
float32 n x n matmul (2 n^3 FLOPs) on the same device, timed interleaved with the model calls. Goal (reported, not
asserted): achieved / matmul GFLOP/s >= 0.4 on CPU (reported without a goal on a GPU).
"""
from __future__ import annotations

import numpy as np
import pytest

from parity.bench_report import goal
from ptycho.config import ModelConfig, TrainingConfig
from ptycho.model import build_model, count_parameters
from ptycho.probe import make_probe
from ptycho.scaling import closed_form_scale

from .conftest import sizes
from .roofline import keras_model_flops, tf_environment, tf_matmul_reference, tf_sync, xla_enabled

#: pytest-benchmark group: one table per concern in the report
#: (model: PINN forward/training steps vs the float32 matmul roofline)
pytestmark = pytest.mark.benchmark(group="model")

#: (N, gridsize, batch, n_filters_scale); the smoke case is a tiny gridsize-2 model
MODEL_CASES = sizes(
    (16, 2, 2, 1),
    **{f"N{N}-gs{gs}-b{b}": (N, gs, b, 2) for N, gs in ((64, 1), (64, 2), (128, 1)) for b in (16, 64)},
)
#: timed rounds per (N, batch); the first call (tracing) is always discarded on top
ROUNDS = {(64, 16): 5, (64, 64): 3, (128, 16): 3, (128, 64): 2}
#: matmul side: large enough to reach the device's dense float32 throughput
MATMUL_N = {"smoke": 64, "cpu": 2048, "gpu": 8192}
#: matmul calls per model round (interleaved with the model calls)
MATMUL_REPEAT = 2
#: raster step (pixels) of the gridsize-2 groups: coords_relative = +-STEP/2 in x and y
STEP = 4.0


def coords_relative(batch: int, gridsize: int) -> np.ndarray:
    """(B, 1, 2, C) float32 = -(coords - centroid) of a gridsize x gridsize raster group."""
    C = gridsize * gridsize
    rel = np.zeros((batch, 1, 2, C), np.float32)
    for c in range(C):
        row, col = divmod(c, gridsize)
        rel[:, 0, 0, c] = -(col - (gridsize - 1) / 2) * STEP
        rel[:, 0, 1, c] = -(row - (gridsize - 1) / 2) * STEP
    return rel


@pytest.fixture(scope="module")
def model_cache():
    """{(N, gridsize, nfs): (model, diffraction_to_obj, input_scale)} built once per module."""
    return {}


def get_models(cache, N: int, gridsize: int, nfs: int):
    key = (N, gridsize, nfs)
    if key not in cache:
        mc = ModelConfig(N=N, gridsize=gridsize, n_filters_scale=nfs)
        tc = TrainingConfig(model=mc)
        s_cf = closed_form_scale(tc.nphotons, N)
        model, d2o = build_model(mc, tc, probe=make_probe(mc), input_scale=s_cf, output_scale=s_cf,
                                 max_offset=STEP / 2 * (gridsize - 1), seed=1)
        cache[key] = (model, d2o, s_cf)
    return cache[key]


@pytest.mark.parametrize("kind", ["inference", "training"])
@pytest.mark.parametrize("case", MODEL_CASES)
def test_model_forward(bench, case, kind, model_cache, tf_module):
    tf = tf_module
    N, gridsize, batch, nfs = case
    C = gridsize * gridsize
    model, d2o, s_cf = get_models(model_cache, N, gridsize, nfs)
    rng = np.random.default_rng(0)
    x = tf.constant((rng.random((batch, N, N, C), dtype=np.float32) * s_cf).astype(np.float32))
    coords = tf.constant(coords_relative(batch, gridsize))
    xla = xla_enabled()
    if kind == "inference":
        net, forward = d2o, tf.function(lambda d: d2o(d, training=False), jit_compile=xla)
        args = (x,)
    else:
        net = model
        forward = tf.function(lambda d, c: model([d, c], training=False), jit_compile=xla)
        args = (x, coords)
    sync = tf_sync(tf)

    def run():
        out = forward(*args)
        sync()
        return out

    info = tf_environment(tf)
    rounds = bench.rounds(ROUNDS.get((N, batch), 1))
    n_mm = MATMUL_N["smoke" if not bench.timed else ("gpu" if info["gpu"] else "cpu")]
    matmul, matmul_flops = tf_matmul_reference(tf, n_mm)
    mm_name = f"tf.matmul float32 {n_mm}^2"
    out, timing, refs = bench.measure(run, rounds=rounds, warmup=1, references={mm_name: matmul},
                                      repeat=MATMUL_REPEAT)
    mm = refs[mm_name]

    flops = keras_model_flops(net)
    batch_flops = flops["total"] * batch
    achieved = batch_flops / timing.median / 1e9
    peak = matmul_flops / mm.median / 1e9
    label = f"N{N}-gs{gridsize}-b{batch}"
    bench.describe(
        kind="model", case=f"model {kind} {label}", impl="ours", dtype="float32",
        shape={"diffraction": [batch, N, N, C], "coords_relative": [batch, 1, 2, C]},
        model={"N": N, "gridsize": gridsize, "n_filters_scale": nfs, "model": kind,
               "parameters": count_parameters(net)["total"]},
        flops_per_sample={k: v for k, v in flops.items() if k != "layers"},
        flops_per_batch=batch_flops, achieved_gflops=achieved, matmul_gflops=peak, matmul_n=n_mm,
        ratio=achieved / peak, ratio_min=(batch_flops / timing.min) / (matmul_flops / mm.min), **info)
    on_cpu = not info["gpu"]
    bench.row(f"model {kind} forward {label}: GFLOP/s", unit="GFLOP/s", ours=achieved,
              roofline=peak, reference=f"tf.matmul float32 {n_mm}^2, {info['device'].split(':')[0]}",
              goal=goal(">=", 0.4, text="≥ 0.4 (CPU)") if bench.timed and on_cpu else None)
    bench.finish()

    outputs = out if kind == "inference" else out["counts"]
    assert tuple(outputs.shape) == (batch, N, N, C)
    assert bool(tf.reduce_all(tf.math.is_finite(tf.abs(outputs))))
