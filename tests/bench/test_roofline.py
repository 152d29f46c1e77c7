"""Unit tests of the benchmark bookkeeping (FLOP counts, timing protocol, peak memory, params).

These run in the default suite; nothing here asserts a duration.
"""
from __future__ import annotations

import numpy as np
import pytest

from .conftest import BENCH, SMOKE, sizes
from .roofline import (MiB, PeakMemory, conv2d_flops, fft2_flops, keras_model_flops,
                       keras_training_flops, reassembly_flops, timing_of,
                       versions)


def test_sizes_marks_only_timed_params():
    params = sizes((1,), **{"big": (2,), "bigger": (3,)})
    assert [p.id for p in params] == [SMOKE, "big", "bigger"]
    assert params[0].marks == ()
    assert all(p.marks == (BENCH,) for p in params[1:])


def test_conv_and_fft_flops_formulas(tol):
    assert conv2d_flops(8, 8, 3, 3, 3, 4) == 2 * 8 * 8 * 9 * 3 * 4
    assert fft2_flops(64, 64) == pytest.approx(5 * 4096 * 12, rel=tol("bench.flops"))


def test_keras_model_flops_counts_conv_and_dense(tf_module, tol):
    from ptycho.tfload import keras

    k = keras()
    inp = k.Input((8, 8, 3))
    x = k.layers.Conv2D(4, 3, padding="same", name="c")(inp)
    x = k.layers.MaxPooling2D(2)(x)
    out = k.layers.Dense(5, name="d")(x)
    flops = keras_model_flops(k.Model(inp, out))
    assert flops["conv"] == 2 * 8 * 8 * 9 * 3 * 4
    assert flops["dense"] == 2 * 4 * 5 * 4 * 4
    assert flops["total"] == pytest.approx(flops["conv"] + flops["dense"], rel=tol("bench.flops"))
    assert set(flops["layers"]) == {"c", "d"}


def test_ptycho_model_flops_match_hand_count(tf_module, tol):
    """N=64, nfs=2, gridsize 1: encoder 32->64->128 (two 3x3 convs per stage at 64, 32, 16 px),
    two decoders 16 px (128), 32 px (64), last conv to 1 channel; one 64x64 FFT in the head."""
    from ptycho.config import ModelConfig, TrainingConfig
    from ptycho.model import build_model
    from ptycho.probe import make_probe

    mc = ModelConfig(N=64, gridsize=1, n_filters_scale=2)
    model, d2o = build_model(mc, TrainingConfig(model=mc), probe=make_probe(mc),
                             input_scale=1.0, output_scale=1.0, seed=1)
    enc = (conv2d_flops(64, 64, 3, 3, 1, 64) + conv2d_flops(64, 64, 3, 3, 64, 64)
           + conv2d_flops(32, 32, 3, 3, 64, 128) + conv2d_flops(32, 32, 3, 3, 128, 128)
           + conv2d_flops(16, 16, 3, 3, 128, 256) + conv2d_flops(16, 16, 3, 3, 256, 256))
    dec = (conv2d_flops(16, 16, 3, 3, 256, 128) + conv2d_flops(16, 16, 3, 3, 128, 128)
           + conv2d_flops(32, 32, 3, 3, 128, 64) + conv2d_flops(32, 32, 3, 3, 64, 64)
           + conv2d_flops(32, 32, 3, 3, 64, 1))
    assert keras_model_flops(d2o)["conv"] == enc + 2 * dec
    assert keras_model_flops(d2o)["fft"] == 0
    train = keras_model_flops(model)
    assert train["fft"] == pytest.approx(fft2_flops(64, 64), rel=tol("bench.flops"))
    assert train["total"] == pytest.approx(enc + 2 * dec + fft2_flops(64, 64), rel=tol("bench.flops"))


def test_training_flops_hand_count_gs2(tf_module, tol):
    """N=16, nfs=1, gridsize 2 (C=4), pad 3: one encoder stage 32 filters, no decoder stage,
    last convs to 4 channels; backward = weight grads of every conv + input grads of every conv
    but the first (fixed input scale) + the adjoint FFTs + the adjoint reassembly."""
    from ptycho.config import ModelConfig, TrainingConfig
    from ptycho.model import build_model
    from ptycho.probe import make_probe

    mc = ModelConfig(N=16, gridsize=2, n_filters_scale=1)
    model, _ = build_model(mc, TrainingConfig(model=mc), probe=make_probe(mc), input_scale=1.0,
                           output_scale=1.0, max_offset=2.0, seed=1)
    first = conv2d_flops(16, 16, 3, 3, 4, 32)
    convs = first + conv2d_flops(16, 16, 3, 3, 32, 32) + 2 * conv2d_flops(8, 8, 3, 3, 32, 4)
    fft = 4 * fft2_flops(16, 16)
    M = 16 + 2 * 3
    rea = 8 * 4 * (3 * M * M + 2 * 16 * 16)
    assert reassembly_flops(16, 4, 3) == rea and reassembly_flops(16, 1, 3) == 0
    got = keras_training_flops(model)
    assert got["forward"] == pytest.approx(convs + fft + rea, rel=tol("bench.flops"))
    assert got["backward"] == pytest.approx(2 * convs - first + fft + rea, rel=tol("bench.flops"))
    assert got["train_step"] == pytest.approx(got["forward"] + got["backward"], rel=tol("bench.flops"))


def test_timing_of_summarizes_samples():
    assert timing_of([3.0, 1.0, 2.0]).to_dict() == {"median_s": 2.0, "min_s": 1.0, "rounds": 3}
    with pytest.raises(ValueError):
        timing_of([])


def test_peak_memory_sees_a_temporary_allocation():
    def allocate():
        a = np.ones(32 * MiB // 8)  # 32 MiB float64, freed on return
        return float(a[0])

    result, mem = PeakMemory().measure(allocate)
    assert result == 1.0
    assert mem["tracemalloc_peak_bytes"] >= 32 * MiB
    assert mem["extra_bytes"] >= 32 * MiB
    _, idle = PeakMemory().measure(lambda: None)
    assert idle["tracemalloc_peak_bytes"] < MiB


def test_versions_names_the_stack():
    v = versions()
    assert {"python", "numpy"} <= set(v)


def test_every_benchmark_module_has_its_own_group():
    """One pytest-benchmark group per concern: the report is one table per group."""
    from . import test_bench_model, test_bench_physics, test_bench_reducers

    groups = {m.__name__.rsplit(".", 1)[-1]: m.pytestmark.kwargs["group"]
              for m in (test_bench_reducers, test_bench_physics, test_bench_model)}
    assert groups == {"test_bench_reducers": "reducers", "test_bench_physics": "physics",
                      "test_bench_model": "model"}
    assert all(m.pytestmark.name == "benchmark"
               for m in (test_bench_reducers, test_bench_physics, test_bench_model))
