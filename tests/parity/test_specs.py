"""Stage specifications (parity.specs) on their own: each measured value is within its ledger
bound on the product's clean output and beyond it on a realistic bug (an edited copy of the
product function, or the product patched the way the bug would do it). The references are the
specification's; nothing here compares the product with itself."""
import math

import numpy as np
import pytest

from parity.specs import evaluation, grouping, objects, probe, scan, scaling, simulate, stitching
from parity.specs.sampling import rel_max
from tests.conftest import ledger_tolerance

SIZE, SEED, N = 128, 1, 64


def tol(name):
    return ledger_tolerance(f"parity.invariants.{name}")


# ---------------------------------------------------------------------------- object
@pytest.fixture(scope="module")
def obj():
    from ptycho.objects import lines_object

    return lines_object(SIZE, seed=SEED)


def test_lines_object_meets_its_recipe_and_range(obj):
    m = objects.lines_spec(obj, size=SIZE, seed=SEED)
    assert m["shape_ok"] and m["complex64"]
    assert m["reference_error"] <= tol("spec_object_recipe")
    assert 0.0 <= m["amplitude_min"] and m["amplitude_max"] <= objects.AMPLITUDE_CEILING
    assert m["phase_max_abs"] == 0.0


def test_swapped_blur_weights_break_the_recipe(monkeypatch):
    """Breaker: the blur weights in the wrong order (5*g1 + 2*g5 + g10)."""
    from ptycho import objects as product

    monkeypatch.setattr(product, "LINES_FILTER", ((1.0, 5.0), (5.0, 2.0), (10.0, 1.0)))
    m = objects.lines_spec(product.lines_object(SIZE, seed=SEED), size=SIZE, seed=SEED)
    assert m["reference_error"] > 100 * tol("spec_object_recipe")


@pytest.mark.parametrize("bug", ["transposed", "top_left_crop", "normalized_by_default"])
def test_object_geometry_bugs_break_the_recipe(bug):
    """Breakers: an object transposed (rows/columns swapped), cropped from the canvas corner
    instead of its centre, or scaled to max 1 although un-normalized is the default."""
    from ptycho.objects import lines_object

    if bug == "transposed":
        o = lines_object(SIZE, seed=SEED).T
    elif bug == "top_left_crop":
        o = lines_object(2 * SIZE, seed=SEED)[:SIZE, :SIZE]
    else:
        o = lines_object(SIZE, seed=SEED, normalize="max")
    assert objects.lines_spec(o, size=SIZE, seed=SEED)["reference_error"] > 1e-3


def test_a_default_phase_breaks_the_range(obj):
    """Breaker: the coupled phase switched on by default."""
    from ptycho.objects import lines_object

    m = objects.lines_spec(lines_object(SIZE, seed=SEED, phase="coupled"), size=SIZE, seed=SEED)
    assert m["phase_max_abs"] > tol("spec_object_range")


def test_lines_options_change_only_what_they_document():
    from ptycho.objects import lines_object

    m = objects.lines_option_spec(lines_object, seed=SEED)
    assert max(m.values()) <= tol("spec_object_options")


def test_normalize_by_mean_breaks_the_options():
    """Breaker: normalize='max' divides by the mean (a 'normalized' object of mean 1)."""
    from ptycho.objects import lines_object

    def buggy(size, *, seed, nlines=400, normalize=None, phase=None):
        o = lines_object(size, seed=seed, nlines=nlines, phase=phase)
        return (o / np.abs(o).mean()).astype(np.complex64) if normalize == "max" else o

    m = objects.lines_option_spec(buggy, seed=SEED)
    assert m["normalize_max_error"] > 0.1


# ---------------------------------------------------------------------------- probe
def _probe_measure(P, source="ideal", probe_scale=10.0, **kw):
    from ptycho.probe import experimental_probe_path, normalize_probe, probe_mask

    raw = (probe.ideal_reference(N, 0.7) if source == "ideal"
           else np.load(experimental_probe_path())["probeGuess"])
    kw.setdefault("mask", probe_mask(N))
    kw.setdefault("normalize", normalize_probe)
    return probe.probe_spec(P, raw=raw, probe_scale=probe_scale, ideal=source == "ideal", **kw)


@pytest.mark.parametrize("source, scale", [("ideal", 10.0), ("experimental", 4.0)])
def test_probe_meets_its_recipe(source, scale):
    from ptycho.config import ModelConfig
    from ptycho.probe import make_probe

    P = make_probe(ModelConfig(N=N, probe_scale=scale), source=source)
    m = _probe_measure(P, source, scale)
    assert m["reference_error"] <= tol("spec_probe_recipe")
    assert m["normalization_error"] <= tol("spec_probe_scale")
    assert m["scale_option_error"] <= tol("spec_probe_scale")
    assert m["mask_pixel_errors"] == 0 and m["mask_pixels_reference"] == 812
    if source == "ideal":
        assert max(m["centre_offset"], m["symmetry_error"]) <= tol("spec_probe_geometry")
    else:
        assert m["centre_offset"] is None


def test_window_std_with_pi_not_pi_squared_breaks_the_recipe(monkeypatch):
    """Breaker: the Gaussian window's std written N / (scale * pi) (a dropped square)."""
    from ptycho import probe as product

    real = product.gaussian
    monkeypatch.setattr(product, "gaussian", lambda n, std, sym: real(n, std=std * math.pi, sym=sym))
    P = product.normalize_probe(product.ideal_probe(N, 0.7), 10.0)
    assert _probe_measure(P)["reference_error"] > 0.1


def test_mask_centred_at_n_over_2_breaks_the_mask(monkeypatch):
    """Breaker: the mask's centre at N/2 instead of (N-1)/2 (off by half a pixel). The ideal
    probe is ~0 at the mask's edge, so its normalization hardly moves (3e-10); the
    experimental probe's does."""
    from ptycho import probe as product

    def mask(N):
        rows, cols = np.indices((N, N), dtype=np.float64)
        return (np.hypot(rows - N / 2, cols - N / 2) < N // 4).astype(np.float32)

    monkeypatch.setattr(product, "probe_mask", mask)
    P = product.normalize_probe(product.ideal_probe(N, 0.7), 10.0)
    assert _probe_measure(P, mask=mask(N))["mask_pixel_errors"] > 0
    P = product.normalize_probe(product.load_probe(product.experimental_probe_path()), 4.0)
    m = _probe_measure(P, "experimental", 4.0, mask=mask(N))
    assert m["normalization_error"] > tol("spec_probe_scale")
    assert m["reference_error"] > tol("spec_probe_recipe")


def test_shifted_probe_breaks_the_geometry():
    """Breaker: the probe rolled by one pixel (an fftshift/ifftshift mix-up on odd content)."""
    from ptycho.probe import ideal_probe, normalize_probe

    P = np.roll(normalize_probe(ideal_probe(N, 0.7), 10.0), 1, axis=0)
    m = _probe_measure(P)
    assert m["centre_offset"] > 0.5 and m["reference_error"] > 0.1


def test_probe_scale_ignored_breaks_the_scale_option():
    """Breaker: normalize_probe ignores probe_scale (divides by the masked mean only)."""
    from ptycho.probe import ideal_probe, normalize_probe, probe_mask

    def buggy(P, probe_scale):
        P = np.asarray(P, np.complex128)
        return (P / np.mean(np.abs(P * probe_mask(P.shape[0])))).astype(np.complex64)

    P = normalize_probe(ideal_probe(N, 0.7), 10.0)
    assert _probe_measure(P, normalize=buggy)["scale_option_error"] > 1.0


# ---------------------------------------------------------------------------- scan
def test_random_scan_meets_its_specification():
    from ptycho.simulate import random_scan

    x, y = random_scan((SIZE, SIZE), 16, buffer=N / 2, seed=SEED)
    m = scan.random_scan_spec(x, y, size=SIZE, n_points=16, buffer=N / 2, seed=SEED)
    assert m["count_error"] == 0 and m["bounds_violation"] == 0.0
    assert m["reference_error"] <= tol("spec_scan_stream")
    assert max(m["ks_x"], m["ks_y"]) <= scan.ks_bound(16, tol("spec_scan_uniformity_alpha"))


def test_buffer_forgotten_as_offset_breaks_the_bounds():
    """Breaker: x = (W - 2b) u (the buffer shrinks the range but is not added)."""
    from ptycho.simulate import SCAN_STREAM, rng_for

    u = rng_for(SEED, SCAN_STREAM).uniform(size=(16, 2))
    x, y = (SIZE - N) * u[:, 0], N / 2 + (SIZE - N) * u[:, 1]
    m = scan.random_scan_spec(x, y, size=SIZE, n_points=16, buffer=N / 2, seed=SEED)
    assert m["bounds_violation"] > 0.0


def test_one_uniform_for_both_axes_breaks_the_stream():
    """Breaker: y drawn from the same column of uniforms as x (a diagonal scan)."""
    from ptycho.simulate import SCAN_STREAM, rng_for

    u = rng_for(SEED, SCAN_STREAM).uniform(size=(16, 2))
    x = N / 2 + (SIZE - N) * u[:, 0]
    m = scan.random_scan_spec(x, x.copy(), size=SIZE, n_points=16, buffer=N / 2, seed=SEED)
    assert m["reference_error"] > 1.0


def test_squared_uniforms_break_uniformity():
    """Breaker: positions b + (W - 2b) u^2 (crowded at the low edge); n = 400 so the KS
    bound (0.098 at alpha 1e-4) resolves it."""
    u = np.random.default_rng(3).uniform(size=(400, 2))
    x, y = N / 2 + (SIZE - N) * u[:, 0] ** 2, N / 2 + (SIZE - N) * u[:, 1]
    m = scan.random_scan_spec(x, y, size=SIZE, n_points=400, buffer=N / 2, seed=3)
    assert m["ks_x"] > scan.ks_bound(400, tol("spec_scan_uniformity_alpha"))
    assert m["ks_y"] <= scan.ks_bound(400, tol("spec_scan_uniformity_alpha"))


def test_raster_option_and_a_column_major_breaker():
    from ptycho.simulate import raster_scan

    assert scan.raster_spec(raster_scan, size=SIZE, buffer=N / 2)["raster_error"] <= tol("spec_scan_raster")

    def column_major(shape, offset, *, buffer):
        x, y = raster_scan(shape, offset, buffer=buffer)
        return y, x                                   # x outer, y inner

    assert scan.raster_spec(column_major, size=SIZE, buffer=N / 2)["raster_error"] > 1.0


# ---------------------------------------------------------------------------- simulate
def _simulated(mask_on=True, nphotons=1e9, experimental=False):
    from ptycho.objects import lines_object
    from ptycho.probe import (experimental_probe_path, ideal_probe, load_probe, normalize_probe,
                              probe_mask)
    from ptycho.simulate import random_scan, simulate_dataset

    o = lines_object(SIZE, seed=SEED)
    P = (normalize_probe(load_probe(experimental_probe_path()), 4.0) if experimental
         else normalize_probe(ideal_probe(N, 0.7), 10.0))
    m = probe_mask(N) if mask_on else None
    x, y = random_scan((SIZE, SIZE), 16, buffer=N / 2, seed=SEED)
    raw = simulate_dataset(o, P, x, y, nphotons=nphotons, seed=SEED, mask=m)
    return raw, dict(obj=o, probe=P, x=x, y=y, mask=m, nphotons=nphotons,
                     s_sim=raw.metadata["s_sim"], mean_exit_energy=raw.metadata["mean_exit_energy"])


def _simulate_ok(m):
    return (m["s_sim_error"] <= tol("spec_simulate_scale")
            and m["exit_energy_error"] <= tol("spec_simulate_scale")
            and m["integer_error"] <= tol("spec_simulate_integer")
            and m["poisson_z2_excess"] <= tol("spec_simulate_poisson")
            and m["pattern_z_max"] <= simulate.SIGMAS and abs(m["dose_z"]) <= simulate.SIGMAS)


@pytest.mark.parametrize("nphotons", [1e9, 1e4])
def test_simulation_meets_its_specification(nphotons):
    raw, kw = _simulated(nphotons=nphotons)
    m = simulate.simulate_spec(np.asarray(raw.diff3d), **kw)
    assert m["shape_ok"] and _simulate_ok(m), m


def test_missing_fftshift_breaks_poisson_agreement(monkeypatch):
    """Breaker: the far field without fftshift (DC in the corner)."""
    from ptycho import simulate as product

    monkeypatch.setattr(product, "diffract_np",
                        lambda psi: np.abs(np.fft.fft2(psi, axes=(-2, -1))) / psi.shape[-1])
    raw, kw = _simulated()
    m = simulate.simulate_spec(np.asarray(raw.diff3d), **kw)
    assert m["poisson_z2_excess"] > 100 * tol("spec_simulate_poisson")


def test_mask_not_applied_breaks_poisson_agreement():
    """Breaker: the simulator ignores the probe mask it was given (the experimental probe
    illuminates beyond the mask; the ideal one is ~0 there, where the bug is harmless)."""
    raw, _ = _simulated(mask_on=False, experimental=True)
    _, kw = _simulated(mask_on=True, experimental=True)
    kw.update(s_sim=raw.metadata["s_sim"], mean_exit_energy=raw.metadata["mean_exit_energy"])
    assert not _simulate_ok(simulate.simulate_spec(np.asarray(raw.diff3d), **kw))


def test_gaussian_noise_breaks_integer_counts():
    """Breaker: Gaussian noise of the Poisson variance instead of Poisson draws."""
    raw, kw = _simulated(nphotons=1e4)
    s = kw["s_sim"]
    mu = (s * np.asarray(raw.diff3d, np.float64)) ** 2
    noisy = np.sqrt(np.maximum(mu + np.random.default_rng(0).normal(size=mu.shape) * 0.3, 0)) / s
    m = simulate.simulate_spec(noisy.astype(np.float32), **kw)
    assert m["integer_error"] > tol("spec_simulate_integer")


def test_s_sim_from_the_first_pattern_breaks_the_scale(monkeypatch):
    """Breaker: s_sim from the first pattern's exit energy instead of the mean over patterns."""
    from ptycho import simulate as product

    real = product.mean_exit_energy
    monkeypatch.setattr(product, "mean_exit_energy",
                        lambda *a, **k: float(product.exit_energies(*a, **k)[0]))
    raw, kw = _simulated()
    monkeypatch.setattr(product, "mean_exit_energy", real)
    m = simulate.simulate_spec(np.asarray(raw.diff3d), **kw)
    assert m["s_sim_error"] > tol("spec_simulate_scale")


# ---------------------------------------------------------------------------- group
@pytest.fixture(scope="module")
def raw_data():
    return _simulated()[0]


def _grouped(raw, strategy="current", gridsize=2):
    from ptycho.grouping import group

    K = 4 if strategy == "current" else 7
    return group(raw, gridsize=gridsize, n_groups=8, neighbor_count=K, strategy=strategy,
                 seed=SEED), K


def _group_measure(raw, g, strategy, K, gridsize=2):
    return grouping.group_spec(g, x=raw.xcoords, y=raw.ycoords, diff3d=np.asarray(raw.diff3d),
                               obj=raw.objectGuess, strategy=strategy, K=K, gridsize=gridsize,
                               n_groups=8)


@pytest.mark.parametrize("strategy", ["current", "legacy"])
@pytest.mark.parametrize("gridsize", [1, 2])
def test_grouping_meets_its_specification(raw_data, strategy, gridsize):
    g, K = _grouped(raw_data, strategy, gridsize)
    m = _group_measure(raw_data, g, strategy, K, gridsize)
    assert m["membership_violations"] == m["seed_violations"] == m["order_violations"] == 0
    assert m["diffraction_mismatches"] == 0
    assert m["coords_error"] <= tol("spec_group_coordinates")
    assert m["truth_error"] <= tol("spec_group_truth")


def _edit(g, **fields):
    import dataclasses

    return dataclasses.replace(g, **fields)


def test_far_member_breaks_membership(raw_data):
    """Breaker: neighbours drawn from all points (the K-nearest restriction lost)."""
    g, K = _grouped(raw_data)
    x, y = np.asarray(raw_data.xcoords), np.asarray(raw_data.ycoords)
    nn = g.nn_indices.copy()
    s = int(g.seed_indices[0])
    far = int(np.argmax(np.hypot(x - x[s], y - y[s])))
    nn[0, 0] = far if far not in nn[0] else nn[0, 0]
    m = _group_measure(raw_data, _edit(g, nn_indices=nn), "current", K)
    assert m["membership_violations"] >= 1


def test_seed_included_breaks_the_current_strategy(raw_data):
    """Breaker: the current strategy draws from the K+1 nearest INCLUDING the seed (legacy's
    rule)."""
    from ptycho import grouping as product

    real = product.neighbor_candidates
    g0, _ = _grouped(raw_data)
    import unittest.mock as mock

    with mock.patch.object(product, "neighbor_candidates",
                           lambda p, s, K, include_seed: real(p, s, K - 1, include_seed=True)):
        g, K = _grouped(raw_data)
    m = _group_measure(raw_data, g, "current", K)
    assert m["membership_violations"] >= 1 and not np.array_equal(g.nn_indices, g0.nn_indices)


def test_flipped_coords_relative_breaks_the_coordinates(raw_data):
    """Breaker: coords_relative = +(coords - centroid) (the sign convention lost)."""
    g, K = _grouped(raw_data)
    m = _group_measure(raw_data, _edit(g, coords_relative=-g.coords_relative), "current", K)
    assert m["coords_error"] > 1.0


def test_reversed_channels_break_the_order(raw_data):
    """Breaker: channels in reverse geometric order (bottom-right first), coordinates kept
    consistent with it."""
    g, K = _grouped(raw_data)
    rev = _edit(g, nn_indices=g.nn_indices[:, ::-1].copy(),
                coords_relative=g.coords_relative[..., ::-1].copy(),
                diffraction=g.diffraction[..., ::-1].copy(), Y=g.Y[..., ::-1].copy())
    m = _group_measure(raw_data, rev, "current", K)
    assert m["order_violations"] == m["groups"] and m["coords_error"] <= tol("spec_group_coordinates")


def test_mirrored_truth_breaks_the_truth_patches(raw_data):
    """Breaker: ground-truth patches cut at positions mirrored about the group centre."""
    from ptycho.grouping import ground_truth_patches

    g, K = _grouped(raw_data)
    x, y = np.asarray(raw_data.xcoords), np.asarray(raw_data.ycoords)
    cx = x[g.nn_indices].mean(axis=1, keepdims=True)
    cy = y[g.nn_indices].mean(axis=1, keepdims=True)
    Y = np.stack([ground_truth_patches(raw_data.objectGuess, (2 * cx - x[g.nn_indices])[:, c],
                                       (2 * cy - y[g.nn_indices])[:, c],
                                       np.arange(g.B)[:, None], N)[..., 0] for c in range(4)], -1)
    m = _group_measure(raw_data, _edit(g, Y=Y), "current", K)
    assert m["truth_error"] > 1e-2


def test_seed_pattern_in_every_channel_breaks_the_gather(raw_data):
    """Breaker: every channel gathers the seed's pattern."""
    g, K = _grouped(raw_data)
    D = np.asarray(raw_data.diff3d)
    bad = np.stack([D[g.seed_indices]] * 4, axis=-1)
    m = _group_measure(raw_data, _edit(g, diffraction=bad), "current", K)
    assert m["diffraction_mismatches"] >= g.B


# ---------------------------------------------------------------------------- scaling
def _plan(X, data_feed="raw", scale_source="dataset"):
    from ptycho.config import ModelConfig, TrainingConfig
    from ptycho.scaling import plan_scales

    cfg = TrainingConfig(model=ModelConfig(N=N, gridsize=2), nphotons=1e9, data_feed=data_feed,
                         scale_source=scale_source)
    return plan_scales(X, cfg)


@pytest.fixture(scope="module")
def X_raw(raw_data):
    return _grouped(raw_data)[0].diffraction


@pytest.mark.parametrize("feed, source", [("raw", "dataset"), ("normalized", "closed_form")])
def test_scaling_stages_meet_their_references(X_raw, feed, source):
    from ptycho.scaling import apply_gain, mean_pattern_energy, normalization_gain

    bound = tol("spec_scaling_reference")
    E, g = mean_pattern_energy(X_raw), normalization_gain(X_raw, N)
    m = scaling.normalize_spec(X_raw, N=N, energy=E, gain=g, X_norm=apply_gain(X_raw, g))
    assert max(m.values()) <= bound
    plan = _plan(X_raw, feed, source)
    m = scaling.scale_spec(plan, X_raw, nphotons=1e9, N=N, data_feed=feed, scale_source=source)
    assert m["source_ok"] and max(v for k, v in m.items() if k != "source_ok") <= bound
    ref = scaling.reference_plan(X_raw, nphotons=1e9, N=N, data_feed=feed, scale_source=source)
    assert ref["output_scaler"] * ref["feed_gain"] == pytest.approx(ref["s"], rel=bound)


def test_energy_summed_over_channels_breaks_normalize(X_raw):
    """Breaker: E as a mean over groups of the sum over channels (C times too large)."""
    E = float(np.sum(X_raw.astype(np.float64) ** 2)) / X_raw.shape[0]
    g = math.sqrt((N / 2) ** 2 / E)
    m = scaling.normalize_spec(X_raw, N=N, energy=E, gain=g, X_norm=g * X_raw)
    assert m["energy_error"] > 1.0 and m["gain_error"] > 0.4


def test_scale_planned_on_normalized_data_breaks_scale(X_raw):
    """Breaker: the dataset scale computed on X_norm (then s = s_cf)."""
    from ptycho.scaling import apply_gain, normalization_gain

    Xn = apply_gain(X_raw, normalization_gain(X_raw, N))
    m = scaling.scale_spec(_plan(Xn), X_raw, nphotons=1e9, N=N, data_feed="raw",
                           scale_source="dataset")
    assert m["s_error"] > 0.1 and m["plan_error"] > 0.1


def test_fed_gain_applied_twice_breaks_the_container(raw_data):
    """Breaker: the fed container multiplies by the feed gain twice (g^2 X_raw)."""
    from ptycho.container import PtychoDataContainer
    from ptycho.probe import ideal_probe

    g, _ = _grouped(raw_data)
    gain = math.sqrt((N / 2) ** 2 / scaling.energy_reference(g.diffraction))
    P = ideal_probe(N)
    raw_c = PtychoDataContainer.from_grouped(g, P)
    ok = PtychoDataContainer.from_grouped(g, P, feed_gain=gain)
    bad = PtychoDataContainer.from_grouped(g, P, feed_gain=gain * gain)
    assert max(v for v in scaling.container_spec(raw_c, ok, g, feed_gain=gain).values()) \
        <= tol("spec_scaling_reference")
    assert scaling.container_spec(raw_c, bad, g, feed_gain=gain)["fed_x_error"] > 0.1


def test_labels_with_the_closed_form_scale_break_labels(X_raw):
    """Breaker: current-profile labels scaled by s_cf (the closed-form scale used silently)."""
    from ptycho.scaling import closed_form_scale

    s_cf = closed_form_scale(1e9, N)
    amp = (s_cf * X_raw.astype(np.float64)).astype(np.float32)
    labels = {"amplitude": amp, "counts": amp.astype(np.float64) ** 2}
    m = scaling.labels_spec(labels, X_raw, nphotons=1e9, data_feed="raw", scale_source="dataset")
    assert m["counts_error"] > 0.1 and m["dose_error"] > 0.1
    s = math.sqrt(1e9 / scaling.energy_reference(X_raw))
    good = {"amplitude": s * X_raw, "counts": (s * X_raw.astype(np.float64)) ** 2}
    m = scaling.labels_spec(good, X_raw, nphotons=1e9, data_feed="raw", scale_source="dataset")
    assert max(v for k, v in m.items() if k != "label_scale") <= tol("spec_scaling_reference")


def test_network_input_of_the_wrong_gain_breaks_it(X_raw):
    """Breaker: the network input divided by s instead of s_cf (input = s_cf X_raw... = X_raw)."""
    g = math.sqrt((N / 2) ** 2 / scaling.energy_reference(X_raw))
    assert scaling.network_input_spec(g * X_raw, X_raw)["input_error"] <= tol("spec_scaling_reference")
    assert scaling.network_input_spec(X_raw, X_raw)["input_error"] > 0.1


# ---------------------------------------------------------------------------- stitch
def _stitch_case(raw_data):
    from ptycho.config import InferenceConfig, ModelConfig
    from ptycho.stitching import global_positions

    g, _ = _grouped(raw_data)
    gx, gy = global_positions(g.coords_offsets, g.coords_relative)
    crop = InferenceConfig(model=ModelConfig(N=N, gridsize=2)).crop
    return g, gx, gy, crop


def test_stitching_matches_the_brute_force(raw_data):
    from ptycho.stitching import stitch_patches

    g, gx, gy, crop = _stitch_case(raw_data)
    res = stitch_patches(g.Y, gx, gy, crop=crop, origin=(0.0, 0.0), shape=(SIZE, SIZE))
    m = stitching.stitch_spec(res, g.Y, gx=gx, gy=gy, raw_x=raw_data.xcoords,
                              raw_y=raw_data.ycoords, nn_indices=g.nn_indices, crop=crop,
                              shape=(SIZE, SIZE))
    assert max(m["position_error"], m["image_error"], m["weight_error"]) <= tol("spec_stitch_reference")


def test_swapped_bilinear_weights_break_the_stitch(raw_data, monkeypatch):
    """Breaker: the splat's bilinear weights swapped (fr <-> 1 - fr): content lands a
    fraction of a pixel off."""
    from ptycho import stitching as product

    real = product._splat

    def swapped(canvas, block, top, left):
        r0, c0 = math.floor(top), math.floor(left)
        real(canvas, block, r0 + 1 - (top - r0), c0 + 1 - (left - c0))

    monkeypatch.setattr(product, "_splat", swapped)
    g, gx, gy, crop = _stitch_case(raw_data)
    res = product.stitch_patches(g.Y, gx, gy, crop=crop, origin=(0.0, 0.0), shape=(SIZE, SIZE))
    m = stitching.stitch_spec(res, g.Y, gx=gx, gy=gy, raw_x=raw_data.xcoords,
                              raw_y=raw_data.ycoords, nn_indices=g.nn_indices, crop=crop,
                              shape=(SIZE, SIZE))
    assert m["image_error"] > 1e-3


def test_global_positions_with_the_wrong_sign_break_the_positions(raw_data):
    """Breaker: coords = centroid + coords_relative."""
    g, gx, gy, crop = _stitch_case(raw_data)
    from ptycho.stitching import stitch_patches

    bx = (g.coords_offsets + g.coords_relative)[:, 0, 0, :].reshape(-1)
    by = (g.coords_offsets + g.coords_relative)[:, 0, 1, :].reshape(-1)
    res = stitch_patches(g.Y, bx, by, crop=crop, origin=(0.0, 0.0), shape=(SIZE, SIZE))
    m = stitching.stitch_spec(res, g.Y, gx=bx, gy=by, raw_x=raw_data.xcoords,
                              raw_y=raw_data.ycoords, nn_indices=g.nn_indices, crop=crop,
                              shape=(SIZE, SIZE))
    assert m["position_error"] > 1.0 and m["image_error"] > 1e-3


# ---------------------------------------------------------------------------- evaluate
def _pair():
    rng = np.random.default_rng(4)
    truth = 1.0 + rng.random(900)
    return 0.8 * truth + 0.1 * rng.random(900), truth


def test_product_metrics_match_the_definitions():
    from ptycho.evaluation import amplitude_metrics

    recon, truth = _pair()
    m = evaluation.metrics_spec(amplitude_metrics(recon.reshape(30, 30), truth.reshape(30, 30)),
                                recon, truth)
    assert m["metric_error"] <= tol("spec_evaluate_reference")


@pytest.mark.parametrize("bug", ["pearson_uncentred", "rmse_without_root", "psnr_peak_of_recon"])
def test_metric_bugs_break_the_reference(bug, monkeypatch):
    """Breakers: Pearson without removing the means (a cosine similarity), RMSE without its
    square root, PSNR with the reconstruction's range instead of the truth's."""
    from ptycho.evaluation import metrics, report

    if bug == "pearson_uncentred":
        monkeypatch.setattr(report, "pearson", lambda a, b: float(
            np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b))))
    elif bug == "rmse_without_root":
        monkeypatch.setattr(report, "rmse", lambda a, b: float(np.mean((np.asarray(a) - b) ** 2)))
    else:
        monkeypatch.setattr(metrics, "data_range", lambda t: float(np.ptp(_pair()[0])))
    recon, truth = _pair()
    m = evaluation.metrics_spec(report.amplitude_metrics(recon.reshape(30, 30),
                                                          truth.reshape(30, 30)), recon, truth)
    assert m["metric_error"] > 1e-3


def test_rel_max_of_identical_and_different_arrays(tol):
    a = np.arange(4.0)
    assert rel_max(a, a) == 0.0 and rel_max(a + 1, a) == pytest.approx(1 / 3, rel=tol("arithmetic.float64"))
    assert rel_max(np.zeros(2), np.zeros(3)) == math.inf
