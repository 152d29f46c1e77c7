"""Roofline references and bookkeeping for the benchmarks (docs/design.md §9).

- `Timing`, `timing_of`: median/min/rounds of per-call seconds (the references are timed with
  perf_counter inside pytest-benchmark's untimed setup, see conftest.BenchRun.measure; every
  timed callable does its own device synchronization).
- `PeakMemory`: peak extra memory of one call: tracemalloc (numpy/Python allocations) plus
  resident memory sampled by a thread with psutil (total RSS and anonymous RSS = RSS minus
  file-backed/shared pages, so the pages of a memmap's file are not counted as "extra").
- `environment_info`, `tf_environment`: device, versions, threads for `extra_info`.
- `conv2d_flops`, `dense_flops`, `fft2_flops`, `keras_model_flops`: analytic FLOP counts from
  layer shapes (2 per multiply-add; complex FFT 5 n log2 n with n = H*W); elementwise ops
  (bias, activations, pooling, padding, the probe product) are not counted, so the achieved
  GFLOP/s derived from them is a slight underestimate.
- `tf_matmul_reference`, `tf_sync`: the float32 matmul roofline on the device TF uses.
"""
from __future__ import annotations

import gc
import importlib.metadata
import math
import os
import platform
import statistics
import threading
import tracemalloc
from dataclasses import dataclass

import numpy as np

MiB = 1 << 20
GiB = 1 << 30

#: packages whose versions every benchmark records (read from metadata, nothing is imported)
VERSIONED = ("numpy", "scipy", "tensorflow", "keras", "pytest-benchmark", "psutil")
#: set to 1 to compile the TF benchmarks with XLA (tf.function(jit_compile=True))
XLA_ENV = "PTYCHO_BENCH_XLA"


# ----------------------------------------------------------------------------- timing
@dataclass(frozen=True)
class Timing:
    """Seconds per call over `rounds` calls (after discarded warm-up calls)."""

    median: float
    min: float
    rounds: int

    def to_dict(self) -> dict:
        return {"median_s": self.median, "min_s": self.min, "rounds": self.rounds}


def timing_of(samples) -> Timing:
    """Timing from a non-empty sequence of per-call seconds."""
    samples = [float(s) for s in samples]
    if not samples:
        raise ValueError("timing_of needs at least one sample")
    return Timing(statistics.median(samples), min(samples), len(samples))


# ----------------------------------------------------------------------------- memory
def _rss_pair(proc) -> tuple[int, int]:
    """(RSS, anonymous RSS) in bytes; anonymous = rss - shared (file-backed + shmem) on Linux."""
    mi = proc.memory_info()
    shared = getattr(mi, "shared", 0)
    return int(mi.rss), int(mi.rss - shared)


class PeakMemory:
    """Peak extra memory of one call, relative to the process state just before it.

    `measure(fn)` returns (fn's result, dict): tracemalloc_peak_bytes (numpy and Python
    allocations traced during the call), rss_peak_delta_bytes and anon_rss_peak_delta_bytes
    (sampled every `interval` seconds and once at the end; a spike shorter than the interval
    can be missed, tracemalloc cannot miss numpy allocations), and extra_bytes = the larger of
    tracemalloc and anonymous RSS: the number compared with memory goals.
    """

    def __init__(self, interval: float = 1e-3):
        self.interval = float(interval)

    def measure(self, fn):
        import psutil

        proc = psutil.Process()
        gc.collect()
        base_rss, base_anon = _rss_pair(proc)
        peak = {"rss": base_rss, "anon": base_anon}
        stop = threading.Event()

        def sample():
            while not stop.wait(self.interval):
                rss, anon = _rss_pair(proc)
                peak["rss"] = max(peak["rss"], rss)
                peak["anon"] = max(peak["anon"], anon)

        sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
        was_tracing = tracemalloc.is_tracing()
        if not was_tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        base_traced = tracemalloc.get_traced_memory()[0]
        sampler.start()
        try:
            result = fn()
        finally:
            traced_peak = tracemalloc.get_traced_memory()[1] - base_traced
            if not was_tracing:
                tracemalloc.stop()
            stop.set()
            sampler.join()
        rss, anon = _rss_pair(proc)
        peak["rss"] = max(peak["rss"], rss)
        peak["anon"] = max(peak["anon"], anon)
        info = {
            "tracemalloc_peak_bytes": int(max(traced_peak, 0)),
            "rss_peak_delta_bytes": int(peak["rss"] - base_rss),
            "anon_rss_peak_delta_bytes": int(peak["anon"] - base_anon),
            "sample_interval_s": self.interval,
        }
        info["extra_bytes"] = max(info["tracemalloc_peak_bytes"], info["anon_rss_peak_delta_bytes"], 0)
        return result, info


# ----------------------------------------------------------------------------- environment
def versions() -> dict:
    """{package: version} for VERSIONED plus python (absent packages are left out)."""
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def cpu_name() -> str:
    """CPU model name (from /proc/cpuinfo on Linux, else platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """Cores this process may run on (sched affinity where available)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def environment_info(**threads) -> dict:
    """Base extra_info for a CPU benchmark: device, versions, threads (plus the given ones)."""
    return {
        "device": f"CPU: {cpu_name()}",
        "versions": versions(),
        "threads": {"cpu_count": os.cpu_count(), "usable_cores": usable_cores(), **threads},
    }


def xla_enabled() -> bool:
    """Whether the TF benchmarks compile with XLA (environment PTYCHO_BENCH_XLA=1)."""
    return os.environ.get(XLA_ENV, "0").strip() in ("1", "true", "yes")


def tf_environment(tf) -> dict:
    """extra_info for a TensorFlow benchmark: the device TF computes on, XLA, threads, versions."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        device = f"GPU: {details.get('device_name', gpus[0].name)}"
    else:
        device = f"CPU: {cpu_name()}"
    info = environment_info(
        tf_intra_op=tf.config.threading.get_intra_op_parallelism_threads(),
        tf_inter_op=tf.config.threading.get_inter_op_parallelism_threads(),
    )
    info.update(
        device=device,
        gpu=bool(gpus),
        xla_jit_compile=xla_enabled(),
        xla_auto_jit=bool(tf.config.optimizer.get_jit()),
        tf_enable_onednn_opts=os.environ.get("TF_ENABLE_ONEDNN_OPTS", ""),
    )
    return info


def tf_sync(tf):
    """A callable that waits for all queued device work (GPU); a no-op on CPU, where TF
    executes eager ops and tf.function calls synchronously."""
    if tf.config.list_physical_devices("GPU"):
        return tf.test.experimental.sync_devices
    return lambda: None


# ----------------------------------------------------------------------------- FLOPs
def conv2d_flops(out_h: int, out_w: int, k_h: int, k_w: int, c_in: int, c_out: int) -> int:
    """2*H*W*k_h*k_w*C_in*C_out: multiply-adds of a dense 2-D convolution, per sample."""
    return 2 * out_h * out_w * k_h * k_w * c_in * c_out


def dense_flops(n_in: int, n_out: int, positions: int = 1) -> int:
    """2*n_in*n_out per position (a Dense layer applied over `positions` leading positions)."""
    return 2 * n_in * n_out * positions


def fft2_flops(n_rows: int, n_cols: int) -> float:
    """5 n log2 n with n = n_rows*n_cols: the conventional count of one complex 2-D FFT."""
    n = n_rows * n_cols
    return 5.0 * n * math.log2(n)


def keras_model_flops(model) -> dict:
    """Analytic FLOPs per sample of a functional Keras model from its layer shapes.

    Conv2D: conv2d_flops from the kernel (k_h, k_w, C_in/groups, C_out) and the output (H, W);
    Dense: dense_flops; a layer whose class is named 'Diffraction' (ptycho.layers): one
    complex N x N FFT per channel. Returns {'conv', 'dense', 'fft', 'total'} per sample and
    {'layers': {name: flops}}.
    """
    conv = dense = fft = 0.0
    per_layer = {}
    for layer in model.layers:
        kind = type(layer).__name__
        flops = 0.0
        if kind in ("Conv2D",):
            k_h, k_w, c_in, c_out = (int(d) for d in layer.kernel.shape)
            _, h, w, _ = layer.output.shape
            flops = conv2d_flops(int(h), int(w), k_h, k_w, c_in, c_out)
            conv += flops
        elif kind == "Dense":
            n_in, n_out = (int(d) for d in layer.kernel.shape)
            positions = int(np.prod([int(d) for d in layer.output.shape[1:-1]] or [1]))
            flops = dense_flops(n_in, n_out, positions)
            dense += flops
        elif kind == "Diffraction":
            _, h, w, c = layer.output.shape
            flops = int(c) * fft2_flops(int(h), int(w))
            fft += flops
        if flops:
            per_layer[layer.name] = flops
    return {"conv": conv, "dense": dense, "fft": fft, "total": conv + dense + fft,
            "layers": per_layer}


#: FLOPs of one bilinear sample (4 multiply-adds over the 4 neighbours)
BILINEAR_FLOPS = 8


def reassembly_flops(N: int, C: int, pad: int) -> float:
    """Per group: the interpolation work of ptycho.layers.reassemble_extract, counted from its
    shapes (implementation-independent): 3 planes (real, imag, support weight) of C patches placed
    on the (N + 2 pad)^2 canvas, then 2 planes cut back out at N x N for each of the C patches,
    BILINEAR_FLOPS per output sample. 0 for C == 1 (a window product)."""
    if C == 1:
        return 0.0
    M = N + 2 * pad
    return float(BILINEAR_FLOPS * C * (3 * M * M + 2 * N * N))


def keras_training_flops(model) -> dict:
    """Analytic FLOPs of one training step per sample of the ptycho training model.

    Forward: `keras_model_flops` plus the group reassembly (`reassembly_flops`). Backward, from
    the same shapes: every conv computes its weight gradient (its forward FLOPs again) and its
    input gradient (again) except a conv fed by the network input with nothing trainable before
    it (the first encoder conv, unless the input scale weight trains); the FFT and the
    reassembly each run once more as their adjoints. Returns {'forward', 'backward',
    'train_step'} per sample (the validation pass costs 'forward' per sample).
    """
    fwd = keras_model_flops(model)
    heads = [layer for layer in model.layers if type(layer).__name__ == "GroupReassembly"]
    rea = 0.0
    for layer in heads:
        _, N, _, C = layer.output.shape
        rea += reassembly_flops(int(N), int(C), int(layer.pad))
    first_input_grad = 0.0
    scaler = [layer for layer in model.layers if type(layer).__name__ == "ScaleWeight"
              and layer.name == "input_scaler"]
    input_trains = bool(scaler and scaler[0].trainable_weights)
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    if convs and not input_trains:
        first_input_grad = fwd["layers"][convs[0].name]
    forward = fwd["total"] + rea
    backward = 2.0 * fwd["conv"] + 2.0 * fwd["dense"] - first_input_grad + fwd["fft"] + rea
    return {"forward": forward, "backward": backward, "train_step": forward + backward,
            "reassembly": rea}


def tf_matmul_reference(tf, n: int, *, seed: int = 0):
    """(fn, flops): fn() runs one float32 (n x n) @ (n x n) matmul on TF's device and syncs.

    flops = 2 n^3. Inputs are created once (seeded); call fn once untimed to trace it.
    """
    gen = tf.random.Generator.from_seed(seed)
    a = gen.normal((n, n), dtype=tf.float32)
    b = gen.normal((n, n), dtype=tf.float32)
    matmul = tf.function(lambda x, y: tf.linalg.matmul(x, y), jit_compile=xla_enabled())
    sync = tf_sync(tf)

    def fn():
        out = matmul(a, b)
        sync()
        return out

    return fn, 2.0 * n**3
