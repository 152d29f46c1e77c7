"""Intensity scale, normalization gain, streamed pattern energy and the profile ScalePlan (docs/design.md §4)."""
import dataclasses
import json
import math
import tracemalloc

import numpy as np
import pytest

from ptycho import scaling
from ptycho.config import ModelConfig, TrainingConfig, replace
from ptycho.errors import ConfigError
from ptycho.legacy import DEFAULTS, config_from_legacy
from ptycho.scaling import (
    ENERGY_FLOOR,
    ScalePlan,
    ScaleResult,
    closed_form_scale,
    dataset_scale,
    mean_pattern_energy,
    normalization_gain,
    plan_scales,
    scale_from_energy,
)

N = 32


def _digits(value: float, reference: str) -> bool:
    """True when `value` truncated to the decimals printed in `reference` equals it exactly."""
    decimals = len(reference.split(".")[1]) if "." in reference else 0
    return math.trunc(value * 10**decimals) == int(reference.replace(".", ""))


def _fsum_energy(X, n_patterns):
    return math.fsum((np.asarray(X, dtype=np.float64) ** 2).ravel().tolist()) / n_patterns


@pytest.fixture(scope="module")
def X():
    """(6, 32, 32, 4) float32 amplitudes spanning several decades."""
    rng = np.random.default_rng(7)
    return (10.0 ** rng.uniform(-3, 2, size=(6, N, N, 4))).astype(np.float32)


# ------------------------------------------------------------------ docs/design.md §11 closed forms
@pytest.mark.parametrize(
    "nphotons, n, reference",
    [(1e9, 64, "988.2117"), (1e6, 64, "31.25"), (1e5, 64, "9.882"), (1e4, 64, "3.125"), (1e9, 128, "494.1")],
)
def test_closed_form_reference_numbers(nphotons, n, reference):
    s_cf = closed_form_scale(nphotons, n)
    assert s_cf == math.sqrt(nphotons) / (n / 2)
    assert _digits(s_cf, reference), (s_cf, reference)


def test_closed_form_accepts_numpy_scalars():
    assert closed_form_scale(np.float64(1e6), np.int64(64)) == 31.25


@pytest.mark.parametrize("nphotons", [0, -1.0, float("nan"), float("inf"), True, "1e9", None])
def test_nphotons_must_be_positive(nphotons, X):
    for call in (lambda: closed_form_scale(nphotons, 64), lambda: dataset_scale(X, nphotons, N),
                 lambda: scale_from_energy(1.0, nphotons, N)):
        with pytest.raises(ConfigError) as err:
            call()
        assert err.value.field == "nphotons"


@pytest.mark.parametrize("n", [48, 8, 0, -64, 64.0, True, None])
def test_n_must_be_power_of_two(n, X):
    for call in (lambda: closed_form_scale(1e9, n), lambda: normalization_gain(X, n),
                 lambda: dataset_scale(X, 1e9, n)):
        with pytest.raises(ConfigError) as err:
            call()
        assert err.value.field == "N"


# ------------------------------------------------------------------ mean pattern energy
def test_energy_is_mean_over_b_and_c(X, tol):
    B, _, _, C = X.shape
    assert mean_pattern_energy(X) == pytest.approx(_fsum_energy(X, B * C), rel=tol("scaling.fsum"))
    flat = np.transpose(X, (0, 3, 1, 2)).reshape(B * C, N, N)
    assert mean_pattern_energy(flat) == pytest.approx(mean_pattern_energy(X), rel=tol("scaling.invariance"))


def test_channel_axis(X, tol):
    channels_first = np.ascontiguousarray(np.transpose(X, (0, 3, 1, 2)))
    assert mean_pattern_energy(channels_first, channel_axis=1) == pytest.approx(
        mean_pattern_energy(X), rel=tol("scaling.invariance"))
    # a negative axis names the same axis (-k is axis 4 - k of a 4-D array); axis 0 (the batch)
    # is refused however it is spelled (mutation testing: the allowed set `-2` -> `~2` = -3
    # survived)
    for axis in (1, 2, 3):
        assert mean_pattern_energy(channels_first, channel_axis=axis - 4) == mean_pattern_energy(
            channels_first, channel_axis=axis)
    for batch_axis in (0, -4):
        with pytest.raises(ConfigError) as err:
            mean_pattern_energy(X, channel_axis=batch_axis)
        assert err.value.field == "channel_axis"


def test_per_group_energy_is_c_times_per_pattern(X, tol):
    """Summing over channels per group (the 'per group' bug) is C times larger; s off by sqrt(C)."""
    B, _, _, C = X.shape
    per_group = mean_pattern_energy(X.reshape(B, N, N * C))  # one 'pattern' per group
    assert per_group == pytest.approx(C * mean_pattern_energy(X), rel=tol("scaling.per_group"))
    s = dataset_scale(X, 1e9, N).value
    s_group = scale_from_energy(per_group, 1e9, N).value
    assert s / s_group == pytest.approx(math.sqrt(C), rel=tol("scaling.identity"))


def test_non_contiguous_views(X, tol):
    ref = mean_pattern_energy(X)
    rel = tol("scaling.invariance")
    assert mean_pattern_energy(X[::-1]) == pytest.approx(ref, rel=rel)
    assert mean_pattern_energy(np.asfortranarray(X)) == pytest.approx(ref, rel=rel)
    strided = X[:, ::2, ::2, :]
    assert not strided.flags.c_contiguous
    assert mean_pattern_energy(strided) == pytest.approx(_fsum_energy(strided, 24), rel=tol("scaling.fsum"))
    # a transposed view (channels moved first) read with the matching channel_axis
    assert mean_pattern_energy(np.transpose(X, (0, 3, 1, 2)), channel_axis=1) == pytest.approx(ref, rel=rel)


def test_other_real_dtypes(X, tol):
    assert mean_pattern_energy(X.astype(np.float64)) == pytest.approx(mean_pattern_energy(X), rel=tol("scaling.invariance"))
    counts = np.arange(2 * N * N, dtype=np.int64).reshape(2, N, N) % 97
    assert mean_pattern_energy(counts) == pytest.approx(_fsum_energy(counts, 2), rel=tol("scaling.fsum"))
    big_endian = X.astype(">f4")
    assert mean_pattern_energy(big_endian) == pytest.approx(mean_pattern_energy(X), rel=tol("scaling.invariance"))


def test_chunk_sizes_threads_and_tails(tol):
    """Multi-chunk, threaded and tail paths agree (chunk and row remainders included)."""
    rng = np.random.default_rng(3)
    X = rng.random((41, N, N, 1), dtype=np.float32) * 100
    ref = _fsum_energy(X, 41)
    for chunk in (1, 7, 1000, 8192, 8193, 20000, scaling.CHUNK_ELEMENTS, 10**7):
        for threads in (1, 2, 3):
            got = mean_pattern_energy(X, chunk_elements=chunk, threads=threads)
            assert got == pytest.approx(ref, rel=tol("scaling.fsum")), (chunk, threads)


def test_threads_do_not_change_the_result():
    """Each chunk's partials are fixed before fsum, so thread stripes give identical floats."""
    X = np.random.default_rng(4).random((64, 64, 64, 4), dtype=np.float32)  # 4 MiB, 16 chunks
    assert X.size // scaling.CHUNK_ELEMENTS >= 2 * scaling.MIN_CHUNKS_PER_THREAD
    assert mean_pattern_energy(X, threads=1) == mean_pattern_energy(X, threads=2) == mean_pattern_energy(X, threads=4)


def test_memmap_input(tmp_path, X, tol):
    path = tmp_path / "x.dat"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    del mm
    ro = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)
    assert mean_pattern_energy(ro) == pytest.approx(mean_pattern_energy(X), rel=tol("scaling.invariance"))
    assert dataset_scale(ro, 1e6, N).value == pytest.approx(dataset_scale(X, 1e6, N).value, rel=tol("scaling.invariance"))


def test_iterable_input(X, tol):
    ref = mean_pattern_energy(X)
    rel = tol("scaling.invariance")
    assert mean_pattern_energy(X[i:i + 4] for i in range(0, 6, 4)) == pytest.approx(ref, rel=rel)
    assert mean_pattern_energy([X[:1], X[1:]]) == pytest.approx(ref, rel=rel)
    # (b, N, N) chunks: one pattern per item
    flat = np.transpose(X, (0, 3, 1, 2)).reshape(-1, N, N)
    assert mean_pattern_energy(iter([flat[:5], flat[5:17], flat[17:]])) == pytest.approx(ref, rel=rel)


def test_array_like_input_is_sliced(X, tol):
    """A non-ndarray object with shape/__getitem__ (h5py/zarr style) is read in blocks."""

    class Lazy:
        def __init__(self, a):
            self.shape, self.dtype, self._a, self.reads = a.shape, a.dtype, a, []

        def __getitem__(self, item):
            self.reads.append(item)
            return self._a[item]

    lazy = Lazy(X)
    assert mean_pattern_energy(lazy) == pytest.approx(mean_pattern_energy(X), rel=tol("scaling.invariance"))
    assert lazy.reads and all(isinstance(r, slice) for r in lazy.reads)


def test_streaming_never_copies_the_whole_array():
    """Peak extra memory is a few chunk buffers, far below even a float32 copy (16 MiB here)."""
    X = np.ones((1024, 64, 64, 1), dtype=np.float32)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        mean_pattern_energy(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < X.nbytes / 4, peak
    threads = scaling.DEFAULT_THREADS
    assert peak < (threads + 2) * scaling.CHUNK_ELEMENTS * 8, (peak, threads)


def test_apply_gain_makes_no_float64_copy():
    """apply_gain's contract: each product in float64, chunked, so beyond its float32 output no
    float64 copy of X exists at any time (mutation testing found the chunk size unchecked:
    `elements + row` instead of `elements // row` processes X in one float64 piece)."""
    X = np.ones((1024, 64, 64, 1), dtype=np.float32)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = scaling.apply_gain(X, 1.5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.dtype == np.float32 and float(out[0, 0, 0, 0]) == 1.5
    assert peak - out.nbytes < X.size * np.dtype(np.float64).itemsize, peak


@pytest.mark.parametrize(
    "bad, field",
    [
        (np.zeros((2, N, N), dtype=np.complex64), "X"),
        (np.zeros((2, N), dtype=np.float32), "X"),
        (np.zeros((0, N, N, 1), dtype=np.float32), "X"),
        (np.zeros((2, N, N), dtype=bool), "X"),
        ([], "X"),
        (None, "X"),
        ("abc", "X"),
        ([np.ones((1, N, N)), np.ones((1, 16, 16))], "X[1]"),
        ([np.ones((1, N, N)), np.ones((1, N, N), dtype=np.complex128)], "X[1]"),
    ],
)
def test_bad_energy_input(bad, field):
    with pytest.raises(ConfigError) as err:
        mean_pattern_energy(bad)
    assert err.value.field == field


@pytest.mark.parametrize("kw, field", [({"chunk_elements": 0}, "chunk_elements"), ({"threads": 0}, "threads"),
                                       ({"chunk_elements": 2.5}, "chunk_elements")])
def test_bad_reducer_settings(X, kw, field):
    with pytest.raises(ConfigError) as err:
        mean_pattern_energy(X, **kw)
    assert err.value.field == field


def test_nan_and_inf_propagate():
    X = np.ones((2, N, N), dtype=np.float32)
    X[1, 3, 4] = np.nan
    assert math.isnan(mean_pattern_energy(X))
    X[1, 3, 4] = np.inf
    assert math.isinf(mean_pattern_energy(X))


# ------------------------------------------------------------------ gain and dataset scale
def test_dataset_scale_checks_pattern_size(X):
    with pytest.raises(ConfigError) as err:
        dataset_scale(X, 1e9, 64)
    assert err.value.field == "N"


def test_gain_normalizes_energy_to_half_n_squared(X, tol):
    g = normalization_gain(X, N)
    assert mean_pattern_energy(X.astype(np.float64) * g) == pytest.approx((N / 2) ** 2, rel=tol("scaling.identity"))


def test_gain_of_zero_data_is_an_error():
    with pytest.raises(ConfigError) as err:
        normalization_gain(np.zeros((2, N, N), dtype=np.float32), N)
    assert err.value.field == "X"


def test_dataset_scale_and_identity(X, tol):
    res = dataset_scale(X, 1e9, N)
    assert isinstance(res, ScaleResult) and res.source == "dataset"
    assert res.energy == mean_pattern_energy(X)
    assert res.value == math.sqrt(1e9 / res.energy)
    assert res.value == pytest.approx(normalization_gain(X, N) * closed_form_scale(1e9, N), rel=tol("scaling.identity"))
    assert json.loads(json.dumps(res.to_dict(), allow_nan=False))["source"] == "dataset"


def test_scale_is_computed_on_raw_not_normalized_data(X, tol):
    """The 'scale on already-normalized data' bug: normalized X gives s_cf instead of s."""
    g = normalization_gain(X, N)
    s_raw = dataset_scale(X, 1e9, N).value
    s_norm = dataset_scale(X.astype(np.float64) * g, 1e9, N).value
    assert s_norm == pytest.approx(closed_form_scale(1e9, N), rel=tol("scaling.identity"))
    assert s_raw / s_norm == pytest.approx(g, rel=tol("scaling.identity"))


@pytest.mark.parametrize(
    "energy, source, words",
    [
        (None, "closed_form", "unavailable"),
        (0.0, "closed_form", "<="),
        (ENERGY_FLOOR, "closed_form", "<="),
        (float("nan"), "closed_form", "non-finite"),
        (float("inf"), "closed_form", "non-finite"),
        (-1.0, "closed_form", "<="),
        (math.nextafter(ENERGY_FLOOR, math.inf), "dataset", "sqrt(nphotons / E)"),
        (1.0, "dataset", "sqrt(nphotons / E)"),
    ],
)
def test_fallback_rule_at_the_boundary(energy, source, words):
    res = scale_from_energy(energy, 1e6, N)
    assert res.source == source
    assert words in res.reason
    if source == "closed_form":
        assert res.value == closed_form_scale(1e6, N)
    else:
        assert res.value == math.sqrt(1e6 / energy)


@pytest.mark.parametrize("fill, words", [(0.0, "<="), (np.nan, "non-finite"), (np.inf, "non-finite")])
def test_dataset_scale_falls_back_with_reason(fill, words):
    X = np.full((3, N, N, 1), fill, dtype=np.float32)
    res = dataset_scale(X, 1e6, N)
    assert (res.source, res.value) == ("closed_form", closed_form_scale(1e6, N))
    assert words in res.reason
    json.dumps(res.to_dict(), allow_nan=False)
    assert dataset_scale(None, 1e6, N).source == "closed_form"


# ------------------------------------------------------------------ ScalePlan (docs/design.md §4 table)
@pytest.fixture(scope="module")
def current_config():
    return TrainingConfig(model=ModelConfig(N=N, gridsize=2))


@pytest.fixture(scope="module")
def legacy_config():
    return replace(config_from_legacy(DEFAULTS), **{"model.N": N})


def test_plan_current_profile(X, current_config, tol):
    plan = plan_scales(X, current_config)
    s = dataset_scale(X, current_config.nphotons, N).value
    s_cf = closed_form_scale(current_config.nphotons, N)
    g = normalization_gain(X, N)
    assert (plan.data_feed, plan.scale_source, plan.feed_gain) == ("raw", "dataset", 1.0)
    assert plan.external_scale == plan.output_scaler == s
    assert plan.input_scaler == plan.closed_form == s_cf
    rel = tol("scaling.identity")
    assert plan.gain == pytest.approx(g, rel=rel)
    assert plan.network_input_gain == pytest.approx(g, rel=rel)
    assert plan.amplitude_ratio == 1.0
    assert plan.expected_label_counts == pytest.approx(current_config.nphotons, rel=rel)


def test_plan_legacy_profile(X, legacy_config, tol):
    assert (legacy_config.data_feed, legacy_config.scale_source) == ("normalized", "closed_form")
    plan = plan_scales(X, legacy_config)
    g = normalization_gain(X, N)
    s_cf = closed_form_scale(legacy_config.nphotons, N)
    rel = tol("scaling.identity")
    assert plan.feed_gain == pytest.approx(g, rel=rel)
    assert plan.external_scale == plan.output_scaler == plan.input_scaler == s_cf
    assert plan.network_input_gain == pytest.approx(g, rel=rel)
    assert plan.amplitude_ratio == pytest.approx(g, rel=rel)  # the predicted amplitude bias
    # labels (s_cf * X_norm)^2 still carry nphotons per pattern on average
    assert plan.expected_label_counts == pytest.approx(legacy_config.nphotons, rel=rel)
    # the dataset scale is still reported (on raw data) for attribution
    assert plan.dataset.value == pytest.approx(g * s_cf, rel=rel)


def test_both_profiles_feed_the_same_network_input(X, current_config, legacy_config, tol):
    cur = plan_scales(X, current_config)
    leg = plan_scales(X, legacy_config)
    assert cur.network_input_gain == pytest.approx(leg.network_input_gain, rel=tol("scaling.identity"))
    assert leg.amplitude_ratio / cur.amplitude_ratio == pytest.approx(cur.gain, rel=tol("scaling.identity"))


def test_plan_exposes_closed_form_instead_of_dataset_bug(X, current_config, tol):
    """raw feed + closed-form scale: labels miss nphotons by g**2 and the input gain is 1, not g."""
    plan = plan_scales(X, replace(current_config, scale_source="closed_form"))
    g = plan.gain
    assert plan.expected_label_counts == pytest.approx(current_config.nphotons / g**2, rel=tol("scaling.identity"))
    assert plan.network_input_gain == 1.0


def test_plan_to_dict_is_json_safe_and_frozen(X, current_config):
    plan = plan_scales(X, current_config)
    d = json.loads(json.dumps(plan.to_dict(), allow_nan=False))
    assert d["amplitude_ratio"] == 1.0 and d["dataset"]["source"] == "dataset"
    for key in ("energy", "gain", "closed_form", "feed_gain", "external_scale", "output_scaler",
                "input_scaler", "network_input_gain", "label_scale", "expected_label_counts"):
        assert isinstance(d[key], float), key
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.gain = 2.0  # type: ignore[misc]
    assert isinstance(plan, ScalePlan)


def test_plan_with_unusable_energy(current_config, legacy_config):
    zeros = np.zeros((2, N, N, 4), dtype=np.float32)
    plan = plan_scales(zeros, legacy_config)
    assert plan.gain == 1.0 and plan.dataset.source == "closed_form"
    nan_plan = plan_scales(np.full((2, N, N, 4), np.nan, dtype=np.float32), current_config)
    d = json.loads(json.dumps(nan_plan.to_dict(), allow_nan=False))
    assert d["energy"] is None and d["external_scale"] == closed_form_scale(current_config.nphotons, N)
    assert plan_scales(None, current_config).dataset.source == "closed_form"


def test_plan_checks_n_against_the_data(X):
    with pytest.raises(ConfigError) as err:
        plan_scales(X, TrainingConfig(model=ModelConfig(N=64)))
    assert err.value.field == "model.N"
    with pytest.raises(ConfigError) as err:
        plan_scales(X, ModelConfig(N=N))
    assert err.value.field == "config"
