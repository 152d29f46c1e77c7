"""Physics forward (TensorFlow illuminate + diffract) vs scipy.fft.fft2 on the same batch.

(B*C = 1024, 64, 64) complex64 object patches times the normalized ideal probe, then the far
field amplitude (FFT2, |F|/N, fftshift), in one tf.function on TF's device (GPU when
visible), synchronized before the clock stops, first (tracing/compiling) call discarded:
- `ptycho.physics.forward_tf(obj, probe)` (ours, the goal row): shift and 1/N folded into the
  probe, the batch in concurrent parts, the modulus one fused XLA pass;
- `diffract_tf(illuminate_tf(obj, probe))`, the layer-by-layer path of the model (full-batch
  exit wave in between);
- TF's FFT alone on the same exit waves, to attribute the rest (product, modulus).
The roofline is `scipy.fft.fft2(psi, workers=<all usable cores>)` of the same complex64 exit
waves, timed inline. Goal (reported, not asserted): TF time / scipy time <= 1.5. Both TF
paths are also checked against the float64 scipy amplitude (ledger bench.physics_vs_scipy).
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy
import scipy.fft

from parity.bench_report import goal
from ptycho.physics import diffract_tf, forward_tf, illuminate_tf
from ptycho.probe import ideal_probe, normalize_probe

from .conftest import sizes
from .roofline import tf_environment, tf_sync, usable_cores, xla_enabled

#: pytest-benchmark group: one table per concern in the report
#: (physics: TF illuminate + diffract vs the scipy.fft.fft2 roofline)
pytestmark = pytest.mark.benchmark(group="physics")

PHYSICS_SHAPES = sizes((8, 16, 16), **{"1024x64x64": (1024, 64, 64)})
ROUNDS = 15
ROOFLINE = "scipy.fft.fft2"


def exit_wave_inputs(shape, seed: int = 0):
    """(obj (B, N, N) complex64 with |obj| in [0.5, 1), probe (N, N) complex64 normalized)."""
    B, N, _ = shape
    rng = np.random.default_rng(seed)
    amplitude = 0.5 + 0.5 * rng.random(shape)
    phase = rng.uniform(-np.pi, np.pi, shape)
    obj = (amplitude * np.exp(1j * phase)).astype(np.complex64)
    return obj, normalize_probe(ideal_probe(N), 4.0)


@pytest.mark.parametrize("shape", PHYSICS_SHAPES)
def test_physics_forward(bench, shape, tf_module, tol):
    tf = tf_module
    obj, probe = exit_wave_inputs(shape)
    psi = obj * probe  # complex64, the batch scipy transforms
    obj_t, probe_t = tf.constant(obj), tf.constant(probe)
    forward = tf.function(lambda o, p: forward_tf(o, p), jit_compile=xla_enabled())
    layered = tf.function(lambda o, p: diffract_tf(illuminate_tf(o, p)), jit_compile=xla_enabled())
    sync = tf_sync(tf)

    def run():
        out = forward(obj_t, probe_t)
        sync()
        return out

    def run_layered():
        out = layered(obj_t, probe_t)
        sync()
        return out

    fft_only = tf.function(lambda o: tf.signal.fft2d(o), jit_compile=xla_enabled())
    psi_t = tf.constant(psi)

    def run_fft():
        out = fft_only(psi_t)
        sync()
        return out

    workers = usable_cores()
    tf_fft, tf_layered = "tf.signal.fft2d alone", "diffract_tf(illuminate_tf)"
    amplitude, timing, refs = bench.measure(
        run, rounds=bench.rounds(ROUNDS), warmup=1,
        references={ROOFLINE: lambda: scipy.fft.fft2(psi, workers=workers), tf_fft: run_fft,
                    tf_layered: run_layered})
    roof, fft_timing, layered_timing = refs[ROOFLINE], refs[tf_fft], refs[tf_layered]
    label = "x".join(str(d) for d in shape)
    info = tf_environment(tf)
    info["threads"]["scipy_fft_workers"] = workers
    info["versions"]["scipy"] = scipy.__version__
    bench.describe(kind="physics", case=f"physics forward {label}", impl="ours",
                   dtype="complex64 -> float32", shape=list(shape), ratio=timing.median / roof.median,
                   ratio_min=timing.min / roof.min, **info)
    bench.row(f"physics forward (TF forward_tf) {label}: time", unit="s",
              ours=timing.median, roofline=roof.median, reference=f"{ROOFLINE}, {workers} workers",
              goal=goal("<=", 1.5, text="≤ 1.5") if bench.timed else None)
    bench.row(f"physics: diffract_tf(illuminate_tf) {label}: time", unit="s",
              ours=layered_timing.median, roofline=roof.median,
              reference=f"{ROOFLINE}, {workers} workers")
    bench.row(f"physics: tf.signal.fft2d alone {label}: time", unit="s", ours=fft_timing.median,
              roofline=roof.median, reference=f"{ROOFLINE}, {workers} workers")
    bench.finish()

    F = scipy.fft.fft2(psi.astype(np.complex128), workers=workers)
    expected = np.fft.fftshift(np.abs(F) / shape[-1], axes=(-2, -1))
    for A in (amplitude, run_layered()):
        err = np.max(np.abs(A.numpy() - expected)) / np.max(expected)
        assert err <= tol("bench.physics_vs_scipy")
