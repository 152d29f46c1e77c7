#!/usr/bin/env python
"""Physics-target measurements of issue 3: train the PINN per case and report every figure
next to the constant-amplitude baseline.

Cases (`--cases`, default all):
  current_gs1_ideal, current_gs2_ideal      current profile, ideal probe, probe_scale 4
  legacy_ps4_gs1                             legacy profile, probe_scale 4: ratio vs predicted g
  legacy_ps10_gs1                            legacy profile, probe_scale 10: saturation
  current_gs1_experimental, legacy_gs1_experimental   the measured KB probe
Each case simulates a lines object (train) and a second lines object (test, another seed),
both scanned at random positions with Poisson noise, trains on the first, and evaluates the
stitched amplitude over the scanned region of both (train = in-sample, test = held-out).
Inference on the test object uses the TRAINING scale plan (the network learned the map from
g_train * X_raw to |O|, so the test data must be fed in the same units).

Output: <out>/<case>.json (config, plan, predictions, history, per-epoch test curve, metrics
as (model, baseline)), <out>/<case>_{train,test}.png, and <out>/summary.json. Run it
niced on a shared machine, e.g.
  nice -n 10 python scripts/train_targets.py --epochs 30 --out target_results
"""
from __future__ import annotations

import argparse
import math
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ptycho.config import ModelConfig, TrainingConfig  # noqa: E402
from ptycho.container import PtychoDataContainer  # noqa: E402
from ptycho.evaluation import (  # noqa: E402
    evaluate_patches,
    ls_scalar,
    pearson,
    relative_rmse,
    saturation_fraction,
    scan_region,
)
from ptycho.grouping import group  # noqa: E402
from ptycho.inference import reconstruct  # noqa: E402
from ptycho.model import count_parameters, model_scales, save_model  # noqa: E402
from ptycho.objects import lines_object  # noqa: E402
from ptycho.probe import make_probe  # noqa: E402
from ptycho.simulate import simulate_scan_dataset  # noqa: E402
from ptycho.stitching import global_positions, stitch_patches  # noqa: E402
from ptycho.train import prepare_data, train, write_json_atomic  # noqa: E402

CASES = {
    "current_gs1_ideal": {"profile": "current", "gridsize": 1, "probe": "ideal", "probe_scale": 4.0},
    "current_gs2_ideal": {"profile": "current", "gridsize": 2, "probe": "ideal", "probe_scale": 4.0},
    "legacy_ps4_gs1": {"profile": "legacy", "gridsize": 1, "probe": "ideal", "probe_scale": 4.0},
    "legacy_ps10_gs1": {"profile": "legacy", "gridsize": 1, "probe": "ideal", "probe_scale": 10.0},
    "current_gs1_experimental": {"profile": "current", "gridsize": 1, "probe": "experimental",
                                 "probe_scale": 4.0},
    "legacy_gs1_experimental": {"profile": "legacy", "gridsize": 1, "probe": "experimental",
                                "probe_scale": 4.0},
}

#: illuminated pixels for the saturation figures: |P| above this fraction of max|P|
ILLUMINATED = 0.1
#: stitching crop: the smallest even central square holding this fraction of sum|P|^2 (<= N/2)
CROP_ENERGY = 0.99


def stitch_crop(probe, N: int) -> int:
    """Smallest even M <= N/2 whose central M x M holds CROP_ENERGY of the probe intensity
    (ideal probe at N=64: 24; the experimental probe: 32). Pixels outside it are barely
    illuminated, so the network's values there are unconstrained by the data."""
    e = np.abs(probe) ** 2
    total = e.sum()
    for M in range(2, N // 2 + 1, 2):
        s = (N - M) // 2
        if e[s:s + M, s:s + M].sum() >= CROP_ENERGY * total:
            return M
    return N // 2


def make_config(case: dict, args) -> TrainingConfig:
    """TrainingConfig of a case: the DESIGN §4 profile columns (probe mask off in both, so the
    legacy and current cases see the same simulated data)."""
    legacy = case["profile"] == "legacy"
    C = case["gridsize"] ** 2
    n_groups = args.n_points if C == 1 else max(1, int(args.n_points * args.gs2_group_factor))
    mc = ModelConfig(N=args.N, gridsize=case["gridsize"], n_filters_scale=args.nfs,
                     amp_activation="sigmoid" if legacy else "softplus",
                     probe_scale=case["probe_scale"], probe_mask=False)
    return TrainingConfig(
        model=mc, nphotons=args.nphotons, n_groups=n_groups,
        neighbor_count=7 if legacy else 4,
        grouping_strategy="legacy" if legacy else "current",
        data_feed="normalized" if legacy else "raw",
        scale_source="closed_form" if legacy else "dataset",
        nll_form="full" if legacy else "mean",
        batch_size=args.batch_size, nepochs=args.epochs, learning_rate=args.lr,
        validation_split=args.validation_split, seed=args.seed)


def simulate(config: TrainingConfig, probe, object_seed: int, args):
    obj = lines_object(args.object_size, seed=object_seed)
    return simulate_scan_dataset(obj, probe, nphotons=config.nphotons, seed=object_seed,
                                 scan="random", n_points=args.n_points)


def container_for(raw, config, plan):
    """Group a dataset with `config` and store it in the units of the TRAINING plan."""
    grouped = group(raw, gridsize=config.model.gridsize, n_groups=config.n_groups,
                    neighbor_count=config.neighbor_count, strategy=config.grouping_strategy,
                    seed=config.seed)
    return grouped, PtychoDataContainer.from_grouped(grouped, raw.probeGuess,
                                                     feed_gain=plan.feed_gain)


def predicted_saturation(grouped, probe, ratio: float, ceiling: float) -> float:
    """Fraction of illuminated ground-truth pixels whose implied amplitude ratio*|O| exceeds
    the activation ceiling (before training)."""
    if not math.isfinite(ceiling):
        return 0.0
    illum = np.abs(probe) > ILLUMINATED * np.abs(probe).max()
    amp = np.abs(grouped.Y)                                   # (B, N, N, C)
    sel = np.broadcast_to(illum[None, :, :, None], amp.shape)
    return float(np.mean(ratio * amp[sel] > ceiling))


def observed_saturation(patches, probe, ceiling: float) -> float:
    illum = np.abs(probe) > ILLUMINATED * np.abs(probe).max()
    amp = np.abs(patches)
    return saturation_fraction(amp, ceiling, where=np.broadcast_to(illum[None, :, :, None], amp.shape))


def quick_stitched(d2o, container, plan, grouped, crop, truth):
    """(ls, pearson, rel_rmse) of the stitched amplitude on the covered scanned region."""
    patches = reconstruct(d2o, container, plan)
    x, y = global_positions(grouped.coords_offsets, grouped.coords_relative)
    res = stitch_patches(patches, x, y, crop=crop, origin=(0, 0), shape=truth.shape)
    rows, cols = scan_region(x, y, truth.shape)
    cov = res.covered()[rows, cols]
    a, t = np.abs(res.image[rows, cols])[cov], np.abs(truth[rows, cols])[cov]
    return ls_scalar(a, t), pearson(a, t), relative_rmse(a, t)


def run_case(name: str, case: dict, args, out: pathlib.Path) -> dict:
    from ptycho.tfload import keras as load_keras

    keras = load_keras()
    config = make_config(case, args)
    source = "ideal" if case["probe"] == "ideal" else "experimental"
    probe = make_probe(config.model, source)
    crop = stitch_crop(probe, args.N) if args.crop is None else args.crop
    raw = simulate(config, probe, args.seed, args)
    raw_test = simulate(config, probe, args.seed + 100, args)
    grouped, container, plan = prepare_data(raw, config)
    grouped_test, container_test = container_for(raw_test, config, plan)
    ceiling = config.model.activation_ceiling
    prediction = {
        "amplitude_ratio": plan.amplitude_ratio,
        "g": plan.gain,
        "saturated_fraction_train": predicted_saturation(grouped, probe, plan.amplitude_ratio, ceiling),
        "saturated_fraction_test": predicted_saturation(grouped_test, probe, plan.amplitude_ratio,
                                                        ceiling),
        "activation_ceiling": None if not math.isfinite(ceiling) else ceiling,
        "stitch_crop": crop,
    }
    print(f"[{name}] B={len(container)} plan g={plan.gain:.4f} s={plan.dataset.value:.2f} "
          f"ratio={plan.amplitude_ratio:.4f} predicted saturation "
          f"{prediction['saturated_fraction_train']:.3f}", flush=True)

    curve = []

    class TestCurve(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if (epoch + 1) % args.eval_every and epoch + 1 != args.epochs:
                return
            d2o = keras.Model(self.model.inputs[0], self.model.get_layer("object").output)
            ls, r, rr = quick_stitched(d2o, container_test, plan, grouped_test, crop,
                                       raw_test.objectGuess)
            curve.append({"epoch": epoch + 1, "ls_scalar": ls, "pearson": r, "rel_rmse": rr,
                          "loss": float(logs.get("loss", math.nan)),
                          "val_loss": float(logs.get("val_loss", math.nan))})
            print(f"[{name}] epoch {epoch + 1}: test ls={ls:.3f} r={r:.3f} rel_rmse={rr:.3f} "
                  f"loss={logs.get('loss'):.6g}", flush=True)

    if args.reevaluate:
        import json

        from ptycho.model import load_model

        previous = json.loads((out / f"{name}.json").read_text())
        for key, now in (("N", args.N), ("nfs", args.nfs), ("n_points", args.n_points),
                         ("n_groups", config.n_groups), ("object_size", args.object_size),
                         ("seed", args.seed)):
            if previous["config"][key] != now:
                raise SystemExit(f"--reevaluate {name}: {key}={now} differs from the trained "
                                 f"run's {previous['config'][key]}; pass the same options")
        model, d2o = load_model(out / f"{name}.keras")
        history, curve[:] = previous["history"], previous["test_curve"]
        train_seconds, seconds_per_epoch = previous["train_seconds"], previous["seconds_per_epoch"]
        epochs = previous["config"]["epochs"]
    else:
        t0 = time.perf_counter()
        result = train(container, plan, config, verbose=args.verbose, callbacks=[TestCurve()],
                       history_path=out / f"{name}_history.json")
        train_seconds = time.perf_counter() - t0
        model, d2o, history = result.model, result.diffraction_to_obj, result.history
        seconds_per_epoch = float(np.mean(result.epoch_seconds)) if result.epoch_seconds else None
        epochs = args.epochs
        save_model(model, out / f"{name}.keras")

    metrics = {}
    for split, g, cont, rawd in (("train", grouped, container, raw),
                                 ("test", grouped_test, container_test, raw_test)):
        patches = reconstruct(d2o, cont, plan)
        X_raw = cont._X_np.astype(np.float64) / cont.feed_gain
        report, _ = evaluate_patches(
            patches, X_raw=X_raw, coords_offsets=g.coords_offsets,
            coords_relative=g.coords_relative, probe=probe, truth_object=rawd.objectGuess,
            crop=crop, true_patches=g.Y, png_path=out / f"{name}_{split}.png",
            title=f"{name} ({split})")
        entry = report.to_dict()
        entry["amplitude_ratio_measured"] = report.amplitude["ls_scalar"]["model"]
        entry["ratio_over_predicted"] = (report.amplitude["ls_scalar"]["model"]
                                         / plan.amplitude_ratio)
        entry["saturated_fraction_observed"] = observed_saturation(patches, probe, ceiling) \
            if math.isfinite(ceiling) else 0.0
        entry["frc"] = {m: {t: v for t, v in entry["frc"][m].items() if t in ("0.5", "1/7")}
                        for m in entry["frc"]}
        metrics[split] = entry

    s_in, s_out = model_scales(model)
    record = {
        "case": name, "spec": case,
        "config": {"N": args.N, "nfs": args.nfs, "n_points": args.n_points,
                   "n_groups": config.n_groups, "object_size": args.object_size,
                   "epochs": epochs, "batch_size": args.batch_size, "lr": args.lr,
                   "nphotons": args.nphotons, "seed": args.seed},
        "plan": plan.to_dict(), "prediction": prediction,
        "parameters": count_parameters(model),
        "scales_after": {"input": s_in, "output": s_out},
        "train_seconds": train_seconds,
        "seconds_per_epoch": seconds_per_epoch,
        "history": history, "test_curve": curve, "metrics": metrics,
    }
    write_json_atomic(out / f"{name}.json", record)
    return record


def summary_line(rec: dict) -> str:
    m = rec["metrics"]["test"]["amplitude"]
    mt = rec["metrics"]["train"]["amplitude"]

    def pair(d, k):
        a, b = d[k]["model"], d[k]["baseline"]
        fa = "nan" if a is None else f"{a:.3f}"
        fb = "nan" if b is None else f"{b:.3f}"
        return f"{fa}/{fb}"

    return (f"{rec['case']:26s} ratio pred {rec['prediction']['amplitude_ratio']:.4f} | "
            f"test LS {pair(m, 'ls_scalar')} r {pair(m, 'pearson')} relRMSE "
            f"{pair(m, 'rel_rmse')} SSIM {pair(m, 'ssim')} | train LS {pair(mt, 'ls_scalar')} "
            f"r {pair(mt, 'pearson')} relRMSE {pair(mt, 'rel_rmse')} | "
            f"sat pred {rec['prediction']['saturated_fraction_test']:.3f} obs "
            f"{rec['metrics']['test']['saturated_fraction_observed']:.3f} | "
            f"twin {rec['metrics']['test']['extra'].get('twin_fraction')} | "
            f"{rec['seconds_per_epoch']:.1f} s/epoch, {rec['parameters']['trainable']} params")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--N", type=int, default=64)
    p.add_argument("--nfs", type=int, default=1, help="n_filters_scale")
    p.add_argument("--n-points", type=int, default=512)
    p.add_argument("--gs2-group-factor", type=float, default=1.0,
                   help="gs2 groups = factor * n_points")
    p.add_argument("--object-size", type=int, default=392)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--validation-split", type=float, default=0.05)
    p.add_argument("--nphotons", type=float, default=1e9)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--eval-every", type=int, default=5)
    p.add_argument("--crop", type=int, default=None,
                   help="stitching crop M (default: from the probe, see stitch_crop)")
    p.add_argument("--verbose", type=int, default=0)
    p.add_argument("--out", default="target_results")
    p.add_argument("--reevaluate", action="store_true",
                   help="load <out>/<case>.keras and recompute the metrics (no training)")
    args = p.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = {}
    for name in args.cases:
        records[name] = run_case(name, CASES[name], args, out)
        print(summary_line(records[name]), flush=True)
    summary_path = out / "summary.json"
    previous = {}
    if summary_path.exists():
        import json

        previous = json.loads(summary_path.read_text())
    previous.update({k: {"prediction": r["prediction"], "metrics": r["metrics"],
                         "seconds_per_epoch": r["seconds_per_epoch"],
                         "parameters": r["parameters"], "config": r["config"],
                         "test_curve": r["test_curve"]} for k, r in records.items()})
    write_json_atomic(summary_path, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
