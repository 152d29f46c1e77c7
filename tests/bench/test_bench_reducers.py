"""Whole-dataset reducers vs the memory roofline (issue 5, docs/design.md §9).

Data: float32 amplitude stacks (B, 64, 64, 4) of 64 MiB, 256 MiB and 1 GiB, in memory and as
a read-only np.memmap of a file under tmp_path (its pages are in the page cache: the file was
just written and is read once before timing). Benchmarked, each next to a float32
single-pass `np.sum` over the same bytes (the roofline, timed interleaved with it round by
round, see conftest.BenchRun.measure):
- `ptycho.scaling.mean_pattern_energy` (ours), with its peak extra memory;
- the naive `np.mean(np.sum(X.astype(np.float64)**2, axis=(1, 2)))`, which carries the
  ">= 10x faster than naive" goal, paired with ours by `python -m parity bench-report`;
- a TensorFlow reduction on a materialized tensor (in memory only);
- `parity.telemetry.array_stats`, the other statistic the telemetry computes over datasets.
From reducers.FUSED_MIN_ELEMENTS values (every timed size) both reducers run the fused numba
kernels of ptycho.kernels; the first call of a process imports numba and loads the compiled
kernels from its cache, which the warm-up round absorbs.
Goals (reported, not asserted): time / roofline <= 1.3 at 256 MiB and 1 GiB; extra memory
<= 64 MiB at 1 GiB; ours >= 10x faster than naive. Every body also checks its value against
another implementation (ledger `bench.*`).
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

from parity.bench_report import goal
from parity.telemetry import array_stats
from ptycho import kernels, reducers, scaling

from .conftest import sizes
from .roofline import GiB, MiB, environment_info, tf_environment, tf_sync, xla_enabled

#: pytest-benchmark group: one table per concern in the report
#: (reducers: energy reducers (ours, naive, TF, telemetry) vs the np.sum roofline)
pytestmark = pytest.mark.benchmark(group="reducers")

N, C = 64, 4
PATTERN_BYTES = N * N * C * 4
#: (label, bytes); the smoke size spans several reducer chunks
REDUCER_SIZES = sizes(("smoke", 8 * PATTERN_BYTES),
                      **{"64MiB": ("64MiB", 64 * MiB), "256MiB": ("256MiB", 256 * MiB),
                         "1GiB": ("1GiB", GiB)})
#: timed rounds per size for the fast implementations (ours, roofline, TF) and the slow ones
ROUNDS = {"64MiB": 7, "256MiB": 5, "1GiB": 3}
SLOW_ROUNDS = {"64MiB": 3, "256MiB": 2, "1GiB": 1}
ROOFLINE = "np.sum float32"
TIME_GOAL_SIZES = ("256MiB", "1GiB")
MEMORY_GOAL_SIZES = ("1GiB",)


def time_goal(label):
    return goal("<=", 1.3, text="≤ 1.3") if label in TIME_GOAL_SIZES else None


def memory_goal(label):
    return goal("<=", 64, on="ours", text="≤ 64 MiB") if label in MEMORY_GOAL_SIZES else None


def make_patterns(nbytes: int, seed: int = 0) -> np.ndarray:
    """(B, N, N, C) float32 amplitudes in [0, 10), B = nbytes // PATTERN_BYTES.

    A seeded block of up to 256 groups is tiled (values do not change the timing)."""
    B = nbytes // PATTERN_BYTES
    block = np.random.default_rng(seed).random((min(B, 256), N, N, C), dtype=np.float32) * 10
    X = np.empty((B, N, N, C), dtype=np.float32)
    for start in range(0, B, len(block)):
        X[start:start + len(block)] = block[:B - start]
    return X


@pytest.fixture(scope="module", params=REDUCER_SIZES)
def reducer_size(request):
    """(label, bytes) of the current size; module scope groups the tests by size."""
    return request.param


@pytest.fixture(scope="module")
def reducer_array(reducer_size):
    return make_patterns(reducer_size[1])


@pytest.fixture(scope="module")
def reducer_memmap(reducer_array, tmp_path_factory):
    """Read-only memmap of a file holding reducer_array (page cache warm); file removed after."""
    path = tmp_path_factory.mktemp("reducer") / "X.f32"
    reducer_array.tofile(path)
    X = np.memmap(path, dtype=np.float32, mode="r", shape=reducer_array.shape)
    np.sum(X)  # fault the pages in once, so no implementation pays for the first touch
    yield X
    X._mmap.close()
    del X
    os.remove(path)


@pytest.fixture(params=["memory", "memmap"])
def reducer_data(request, reducer_size, reducer_array):
    """(label, storage, X) with X the in-memory array or its memmap."""
    storage = request.param
    X = reducer_array if storage == "memory" else request.getfixturevalue("reducer_memmap")
    return reducer_size[0], storage, X


def _describe(bench, *, label, storage, X, case, impl, **more):
    bench.describe(
        kind="reducer", case=case, impl=impl, size=label, storage=storage,
        dtype=str(X.dtype), shape=list(X.shape), bytes=int(X.nbytes),
        page_cache="warm" if storage == "memmap" else None,
        **environment_info(reducer_threads=scaling.DEFAULT_THREADS),
    )
    bench.describe(**more)


def _rows(bench, *, name, label, timing, roof, mem, goals: bool):
    """Time and memory rows; the issue's goals apply to our reducers only (goals=True).

    extra_info also gets ratio_min (fastest round over fastest round), which is less sensitive
    than the median ratio to other processes on a shared machine."""
    bench.describe(ratio=timing.median / roof.median, ratio_min=timing.min / roof.min,
                   peak_extra_mib=mem["extra_bytes"] / MiB)
    bench.row(f"{name} {label}: time", unit="s", ours=timing.median, roofline=roof.median,
              reference=ROOFLINE, goal=time_goal(label) if goals else None)
    bench.row(f"{name} {label}: peak extra memory", unit="MiB", ours=mem["extra_bytes"] / MiB,
              goal=memory_goal(label) if goals else None)


def naive_energy(X) -> float:
    """The naive reducer: a float64 copy of the whole array, squared, summed per pattern."""
    return float(np.mean(np.sum(X.astype(np.float64) ** 2, axis=(1, 2))))


def test_mean_pattern_energy(bench, reducer_data, tol):
    label, storage, X = reducer_data
    rounds = bench.rounds(ROUNDS.get(label, 1))
    energy, timing, refs = bench.measure(lambda: scaling.mean_pattern_energy(X), rounds=rounds,
                                         warmup=1, references={ROOFLINE: lambda: np.sum(X)})
    roof = refs[ROOFLINE]
    again, mem = bench.memory(lambda: scaling.mean_pattern_energy(X))
    name = f"mean_pattern_energy {storage}"
    _describe(bench, label=label, storage=storage, X=X, case=name + f" {label}", impl="ours",
              value=energy, method=reducers.choose_method(X.size),
              numba=kernels.numba_available())
    _rows(bench, name=name, label=label, timing=timing, roof=roof, mem=mem, goals=True)
    bench.finish()
    assert again == energy  # deterministic: chunking and threads do not change the result
    if not bench.timed:  # exact float64 reference, affordable at the smoke size
        exact = float(np.mean(np.sum(np.asarray(X, dtype=np.float64) ** 2, axis=(1, 2))))
        assert energy == pytest.approx(exact, rel=tol("bench.reducer_exact"))


def test_naive_reducer(bench, reducer_data, tol):
    label, storage, X = reducer_data
    rounds = bench.rounds(SLOW_ROUNDS.get(label, 1))
    energy, timing, refs = bench.measure(lambda: naive_energy(X), rounds=rounds,
                                         references={ROOFLINE: lambda: np.sum(X)}, repeat=3)
    roof = refs[ROOFLINE]
    _, mem = bench.memory(lambda: naive_energy(X))
    name = f"mean_pattern_energy {storage}"
    _describe(bench, label=label, storage=storage, X=X, case=name + f" {label}", impl="naive",
              reference_name="naive float64 np.mean(np.sum(X**2))",
              speedup_goal=goal("<=", 0.1, text="≤ 0.1 (≥ 10× faster)") if bench.timed else None)
    _rows(bench, name=f"naive float64 {storage}", label=label, timing=timing, roof=roof, mem=mem,
          goals=False)
    bench.finish()
    ours = scaling.mean_pattern_energy(X)
    assert energy == pytest.approx(ours, rel=tol("bench.reducer_vs_naive"))


@pytest.fixture(scope="module")
def reducer_tensor(reducer_array, tf_module):
    """reducer_array materialized as a TF tensor on TF's default device (copied once)."""
    return tf_module.identity(tf_module.constant(reducer_array))


def test_tf_reducer(bench, reducer_size, reducer_array, reducer_tensor, tf_module, tol):
    tf = tf_module
    label, X, x = reducer_size[0], reducer_array, reducer_tensor
    reduce = tf.function(lambda t: tf.reduce_mean(tf.reduce_sum(tf.square(t), axis=[1, 2])),
                         jit_compile=xla_enabled())
    sync = tf_sync(tf)

    def run():
        out = reduce(x)
        sync()
        return out

    rounds = bench.rounds(ROUNDS.get(label, 1))
    out, timing, refs = bench.measure(run, rounds=rounds, warmup=1,
                                      references={ROOFLINE: lambda: np.sum(X)})
    roof = refs[ROOFLINE]
    _, mem = bench.memory(run)
    name = "tf.reduce_sum(square) float32 tensor"
    info = tf_environment(tf)
    info["threads"]["reducer_threads"] = scaling.DEFAULT_THREADS
    bench.describe(kind="reducer", case=f"tf reducer {label}", impl="tf", size=label,
                   storage="tf tensor", dtype=str(X.dtype), shape=list(X.shape),
                   bytes=int(X.nbytes), accumulation="float32", value=float(out), **info)
    _rows(bench, name=name, label=label, timing=timing, roof=roof, mem=mem, goals=False)
    bench.finish()
    assert float(out) == pytest.approx(scaling.mean_pattern_energy(X), rel=tol("bench.tf_reducer"))


def test_telemetry_array_stats(bench, reducer_data, tol):
    label, storage, X = reducer_data
    rounds = bench.rounds(ROUNDS.get(label, 1))
    # warm-up round: the first fused call of a process imports numba and loads its kernels
    stats, timing, refs = bench.measure(lambda: array_stats(X), rounds=rounds, warmup=1,
                                        references={ROOFLINE: lambda: np.sum(X)})
    roof = refs[ROOFLINE]
    _, mem = bench.memory(lambda: array_stats(X))
    name = f"telemetry.array_stats {storage}"
    _describe(bench, label=label, storage=storage, X=X, case=name + f" {label}", impl="ours",
              statistics=list(stats), method=reducers.choose_method(X.size),
              numba=kernels.numba_available())
    _rows(bench, name=name, label=label, timing=timing, roof=roof, mem=mem, goals=True)
    bench.finish()
    energy = scaling.mean_pattern_energy(X)
    assert stats["mean_sum_xy_sq"] == pytest.approx(energy, rel=tol("bench.reducer_vs_naive"))
    if not bench.timed:  # exact float64 references, affordable at the smoke size
        a = np.asarray(X, dtype=np.float64).ravel()
        assert stats["sum_sq"] == pytest.approx(math.fsum((a * a).tolist()),
                                                rel=tol("bench.reducer_exact"))
        assert stats["mean"] == pytest.approx(math.fsum(a.tolist()) / a.size,
                                              rel=tol("bench.reducer_exact"))
