"""The stage specifications measured inside a replay: `spec_values(stage, st)` returns the
`spec.*` telemetry of one stage (recorded as `<stage>.spec.<key>`), computed by the pure
functions of this package from the stage's artifacts (`parity.stages.artifacts.Artifacts`).

Where: the tiers in SPEC_TIERS (the tiny gate). The trained tier's goldens predate these keys;
recording them there needs `python -m parity golden update --tier trained` first.
In the tiny gate the `infer` stage (probe mode) reconstructs INFER_GROUPS groups with the
untrained model through ptycho.inference.reconstruct, and `stitch`/`evaluate` judge the
product's stitching and metrics on those patches and on the ground-truth patches.
"""
from __future__ import annotations

import weakref
from typing import Any, Callable

import numpy as np

from . import (evaluation, forward, grouping, inference, objects, probe, scaling, scan, simulate,
               stitching, training)

#: tiers whose records carry the specification values
SPEC_TIERS = ("tiny",)
PREFIX = "spec."
#: ground-truth groups stitched against the brute force (a plain Python loop per crop row)
TRUTH_GROUPS = 4
#: measured values of the last replays, keyed by stage, config, spec and a digest of every
#: value recorded so far plus the stage's own: the legacy-dict path of a replay reproduces
#: the dataclass path's telemetry, so its measurements are taken once (a path whose stage
#: output differs misses the cache and is measured afresh)
_CACHE: dict[str, tuple[dict, dict]] = {}
_CACHE_SIZE = 64
#: built model -> its object-layer view (inputs -> amplitude, phase, object)
_OBJECT_VIEWS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def clear_cache() -> None:
    """Forget cached measurements (tests that patch the product between replays)."""
    _CACHE.clear()


def _prefixed(d: dict[str, Any]) -> dict[str, Any]:
    return {PREFIX + k: v for k, v in d.items()}


def _x_raw(st) -> np.ndarray:
    return np.asarray(st.art.grouped.diffraction)


def _object(st) -> dict:
    from ptycho.objects import grf_object, lines_object

    out = objects.grf_spec(grf_object, seed=st.config.seed)
    if st.scenario.object_kind == "lines":
        out.update(objects.lines_spec(st.art.object, size=st.sizes.object_size, seed=st.config.seed))
        out.update(objects.lines_option_spec(lines_object, seed=st.config.seed))
    return out


def _probe(st) -> dict:
    from ptycho.probe import experimental_probe_path, normalize_probe, probe_mask

    m = st.config.model
    source = st.scenario.probe
    if source == "ideal":
        raw = probe.ideal_reference(m.N, m.default_probe_scale)
    else:
        path = experimental_probe_path() if source == "experimental" else source
        with np.load(path) as data:
            raw = np.asarray(data["probeGuess"])
    return probe.probe_spec(st.art.probe, raw=raw, probe_scale=m.probe_scale,
                            ideal=source == "ideal", mask=probe_mask(m.N),
                            normalize=normalize_probe)


def _scan(st) -> dict:
    from ptycho.simulate import raster_scan

    size, buffer = st.sizes.object_size, st.N / 2
    out = scan.random_scan_spec(st.art.xcoords, st.art.ycoords, size=size,
                                n_points=st.sizes.n_images, buffer=buffer, seed=st.config.seed)
    out.update(scan.raster_spec(raster_scan, size=size, buffer=buffer))
    return out


def _simulate(st) -> dict:
    raw = st.art.raw
    return simulate.simulate_spec(
        np.asarray(raw.diff3d), obj=st.art.object, probe=st.art.probe,
        x=st.art.xcoords, y=st.art.ycoords, mask=st.art.mask,
        nphotons=st.config.nphotons, s_sim=float(raw.metadata["s_sim"]),
        mean_exit_energy=float(raw.metadata["mean_exit_energy"]))


def _group(st) -> dict:
    raw = st.art.raw
    if st.art.split is not None:
        raw = raw.subset(st.art.split[0])
    cfg = st.config
    return grouping.group_spec(st.art.grouped, x=raw.xcoords, y=raw.ycoords,
                               diff3d=np.asarray(raw.diff3d), obj=raw.objectGuess,
                               strategy=cfg.grouping_strategy, K=cfg.neighbor_count,
                               gridsize=cfg.model.gridsize, n_groups=cfg.n_groups)


def _normalize(st) -> dict:
    return scaling.normalize_spec(_x_raw(st), N=st.N, energy=st.art.E, gain=st.art.g,
                                  X_norm=st.art.X_norm)


def _scale(st) -> dict:
    cfg = st.config
    return scaling.scale_spec(st.art.plan, _x_raw(st), nphotons=cfg.nphotons, N=st.N,
                              data_feed=cfg.data_feed, scale_source=cfg.scale_source)


def _container(st) -> dict:
    cfg = st.config
    ref = scaling.reference_plan(_x_raw(st), nphotons=cfg.nphotons, N=st.N,
                                 data_feed=cfg.data_feed, scale_source=cfg.scale_source)
    return scaling.container_spec(st.art.container, st.art.fed, st.art.grouped,
                                  feed_gain=ref["feed_gain"])


def _network_input(st) -> dict:
    return scaling.network_input_spec(st.art.network_input, _x_raw(st))


def _labels(st) -> dict:
    cfg = st.config
    return scaling.labels_spec(st.art.labels, _x_raw(st), nphotons=cfg.nphotons,
                               data_feed=cfg.data_feed, scale_source=cfg.scale_source)


#: profiles whose replays run the training contract: the loop is one code path for both
#: profiles and a run costs ~1.5 s of CPU (eager Keras steps), so the gate runs it once
CONTRACT_PROFILES = ("current",)


def _forward(st) -> dict:
    """The object layer's output against amplitude * exp(i phase) of its own inputs, on
    forward.GROUPS groups of the training inputs."""
    from ptycho.model import OBJECT_LAYER

    model = st.art.model
    sub = _OBJECT_VIEWS.get(model)
    if sub is None:
        from ptycho.tfload import keras

        layer = model.get_layer(OBJECT_LAYER)
        amplitude, phase = layer.input
        sub = keras().Model(model.inputs, [amplitude, phase, layer.output])
        _OBJECT_VIEWS[model] = sub
    x = {k: v[:forward.GROUPS] for k, v in st.art.inputs.items()}
    a, p, o = (np.asarray(t) for t in sub(x, training=False))
    return forward.object_composition_spec(a, p, o)


def _train(st) -> dict:
    """The training/validation split of the fed container (every replay), and the loop's
    contract where trainable scalars exist (the scale or the probe trainable), in
    CONTRACT_PROFILES: the loop is one code path for every scenario, the scalars' motion is
    only testable there, and a run costs seconds of eager Keras steps (the gate runs it on
    gs1_custom_trainable/current only)."""
    from ptycho.train import split_indices, train

    cfg = st.config
    n = len(st.art.fed)
    out = training.split_spec(*split_indices(n, cfg.validation_split, cfg.seed), n,
                              cfg.validation_split)
    m = cfg.model
    if not (m.intensity_scale_trainable or m.probe_trainable) or \
            st.spec.profile not in CONTRACT_PROFILES:
        return out
    out.update(training.train_contract(st.art.model, st.art.fed, st.art.plan, cfg,
                                       st.art.probe, st.art.planned_max_offset, train=train))
    return out


def _reference_output_scaler(st) -> float:
    cfg = st.config
    return scaling.reference_plan(_x_raw(st), nphotons=cfg.nphotons, N=st.N,
                                  data_feed=cfg.data_feed,
                                  scale_source=cfg.scale_source)["output_scaler"]


def _infer(st) -> dict:
    """Probe mode only (no trained model): the untrained model's inference path."""
    from ptycho.config import InferenceConfig
    from ptycho.inference import reconstruct

    if st.art.has("trained"):
        return {}
    n = min(inference.GROUPS, st.art.grouped.B)
    sub = st.art.fed.take(np.arange(n))
    icfg = InferenceConfig(model=st.config.model, batch_size=1, seed=st.config.seed)
    patches = reconstruct(st.art.d2o, sub, st.art.plan, icfg)
    st.art.spec_patches, st.art.spec_crop = patches, icfg.crop
    return inference.infer_spec(patches, forward_patches=st.art.forward_patches,
                                forward_counts=st.art.forward_counts, probe=st.art.probe,
                                mask=st.art.mask, output_scaler=_reference_output_scaler(st),
                                groups=n)


def _stitch(st) -> dict:
    from ptycho.config import InferenceConfig
    from ptycho.stitching import global_positions, stitch_patches

    grouped, raw = st.art.grouped, st.art.raw
    if st.art.split is not None:
        raw = raw.subset(st.art.split[0])
    size = st.sizes.object_size
    shape = (size, size)
    out: dict[str, Any] = {}
    runs = []
    if grouped.Y is not None:
        crop = InferenceConfig(model=st.config.model, seed=st.config.seed).crop
        n = min(TRUTH_GROUPS, grouped.B)
        runs.append(("truth", grouped.Y[:n], grouped, slice(0, n), crop))
    if st.art.has("spec_patches"):
        n = st.art.spec_patches.shape[0]
        runs.append(("recon", st.art.spec_patches, grouped, slice(0, n), st.art.spec_crop))
    for tag, patches, g, rows, crop in runs:
        gx, gy = global_positions(g.coords_offsets[rows], g.coords_relative[rows])
        res = stitch_patches(patches, gx, gy, crop=crop, origin=(0.0, 0.0), shape=shape)
        if tag == "recon":
            st.art.spec_stitched = res
        spec = stitching.stitch_spec(res, patches, gx=gx, gy=gy, raw_x=raw.xcoords,
                                     raw_y=raw.ycoords, nn_indices=g.nn_indices[rows], crop=crop,
                                     shape=shape)
        out.update({f"{tag}.{k}": v for k, v in spec.items()})
    return out


def _evaluate(st) -> dict:
    """The registration of a copy of the object moved by a known shift, and the amplitude
    metrics of the stitched reconstruction against their definitions."""
    from ptycho.evaluation import amplitude_metrics, measure_shift

    truth_amp = np.abs(np.asarray(st.art.object, np.complex128))
    margin = int(max(abs(v) for v in evaluation.KNOWN_SHIFT)) + 1
    out = evaluation.registration_spec(measure_shift(
        evaluation.displaced(truth_amp), truth_amp,
        evaluation.central_region(truth_amp.shape, margin)))
    if not st.art.has("spec_stitched"):
        return out
    res = st.art.spec_stitched
    covered = res.covered()
    if not covered.any():
        return out
    recon = np.abs(res.image)
    metrics = amplitude_metrics(recon, truth_amp, covered)
    out.update(evaluation.metrics_spec(metrics, recon[covered], truth_amp[covered]))
    return out


#: stage -> its specification measurement
MEASURES: dict[str, Callable[[Any], dict]] = {
    "object": _object, "probe": _probe, "scan": _scan, "simulate": _simulate,
    "group": _group, "normalize": _normalize, "scale": _scale, "container": _container,
    "network_input": _network_input, "labels": _labels, "forward": _forward, "train": _train,
    "infer": _infer,
    "stitch": _stitch, "evaluate": _evaluate,
}


def spec_values(stage: str, st, values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `spec.*` values of `stage` for the replay state `st` ({} outside SPEC_TIERS or for a
    stage without a specification measurement); `values`: what the stage itself recorded
    (part of the cache key)."""
    if st.spec.tier not in SPEC_TIERS or stage not in MEASURES:
        return {}
    key = st.digest(stage, values)
    if key in _CACHE:
        out, art = _CACHE[key]
        st.art.update(art)
        return dict(out)
    before = st.art.produced()
    out = _prefixed(MEASURES[stage](st))
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = (dict(out), {k: getattr(st.art, k) for k in st.art.produced() - before})
    return out
