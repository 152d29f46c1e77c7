"""The PINN's headline: inference patterns/s vs one ePIE pass patterns/s, same data, same run.

One simulated dataset (lines object, the experimental probe at scale 4, N = 64, whole-pixel
random scan, 1e9 photons). The PINN side is the gridsize-1 inference model
(`diffraction_to_obj`, n_filters_scale 2, untrained: speed does not depend on the weights) on
all M patterns in batches of 64 inside a tf.function, device-synchronized, the tracing call
discarded. The reference is one pass of PtyLab 0.3.7 ePIE over the same M patterns (probe held,
CPU; `ptycho.oracle.run_epie`, its own wall time of the pass, setup excluded), timed
interleaved with the PINN rounds (the `bench` fixture's references). The row's ratio is
PINN patterns/s / ePIE patterns/s per pass; reported, never asserted.
"""
from __future__ import annotations

import numpy as np
import pytest

from ptycho.config import ModelConfig, TrainingConfig
from ptycho.model import build_model
from ptycho.objects import lines_object
from ptycho.probe import make_probe
from ptycho.simulate import simulate_dataset

from .conftest import sizes
from .roofline import tf_environment, tf_sync, timing_of, xla_enabled

pytest.importorskip("PtyLab", reason="PtyLab is not installed: the oracle bench needs the "
                                     "'oracle' extra (the 'test' extra includes it)")

pytestmark = pytest.mark.benchmark(group="oracle")

#: (object side px, patterns M, timed rounds)
CASES = sizes((96, 16, 1), **{"M512": (392, 512, 3)})
N = 64
BATCH = 64


def _dataset(size: int, M: int):
    from ptycho.oracle.agreement import oracle_scan

    mc = ModelConfig(N=N, gridsize=1, n_filters_scale=2, probe_scale=4.0)
    probe = make_probe(mc, source="experimental")
    obj = lines_object(size, seed=1)
    x, y = oracle_scan(obj.shape, M, buffer=N / 2, seed=1)
    return mc, simulate_dataset(obj, probe, x, y, nphotons=1e9, seed=1)


@pytest.mark.parametrize("case", CASES)
def test_pinn_inference_vs_one_epie_pass(bench, case, tf_module):
    from ptycho.oracle import to_ptylab
    from ptycho.oracle.epie import EpieSettings, run_epie

    tf = tf_module
    size, M, rounds = case
    mc, raw = _dataset(size, M)
    s = float(raw.metadata["s_sim"])
    tc = TrainingConfig(model=mc)
    _, d2o = build_model(mc, tc, probe=raw.probeGuess, input_scale=s, output_scale=s,
                         max_offset=0.0, seed=1)
    X = (np.asarray(raw.diff3d, np.float32) * s)[..., None]
    batches = [tf.constant(X[i:i + BATCH]) for i in range(0, M, BATCH)]
    forward = tf.function(lambda d: d2o(d, training=False), jit_compile=xla_enabled())
    sync = tf_sync(tf)

    def pinn():
        outs = [forward(b) for b in batches]
        sync()
        return outs

    data = to_ptylab(raw)
    epie_seconds: list[float] = []

    def one_pass():
        run = run_epie(data, EpieSettings(iterations=1, seed=1))
        epie_seconds.append(run.seconds)

    outs, timing, _ = bench.measure(pinn, rounds=bench.rounds(rounds), warmup=1,
                                    references={"ePIE 1 pass": one_pass})
    warm = 1 if bench.timed else 0
    epie = timing_of(epie_seconds[warm:] or epie_seconds)
    pinn_rate, epie_rate = M / timing.median, M / epie.median
    info = tf_environment(tf)
    bench.describe(kind="oracle", case=f"PINN inference vs ePIE pass M{M} N{N}", impl="ours",
                   dtype="float32", shape={"diffraction": [M, N, N, 1]},
                   patterns=M, pinn_patterns_per_s=pinn_rate, epie_patterns_per_s=epie_rate,
                   epie_pass_s=epie.to_dict(), ratio=pinn_rate / epie_rate, **info)
    bench.row(f"PINN inference vs one ePIE pass M{M} N{N}: patterns/s", unit="patterns/s",
              ours=pinn_rate, roofline=epie_rate,
              reference="PtyLab 0.3.7 ePIE, one pass, probe held, CPU numpy")
    bench.finish()
    assert sum(int(o.shape[0]) for o in outs) == M
    assert all(bool(tf.reduce_all(tf.math.is_finite(tf.abs(o)))) for o in outs)
