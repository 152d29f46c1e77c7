"""Normalization invariants and other checks, evaluated on a telemetry record (DESIGN §8).

Each check is named, belongs to a stage, and returns a `Check` with the observed value, the
bound it was held to (bounds come from `[tests.parity.invariants]` in golden/tolerances.toml),
a verdict and a one-line detail. Verdicts: 'pass', 'fail', and 'warn' (a predicted, documented
behaviour of a profile that is reported, not failed: the legacy profile's saturating amplitude
target under its 'predict' reachability policy). A check whose stage was not recorded is not
evaluated (the train-only checks without --train).

Checks read only the flat telemetry values (plus the profile and the ledger, in a
`CheckContext`), so a record loaded from JSON can be re-checked: `evaluate(record, ledger)`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

from .profiles import Profile, get_profile
from .records import STAGES, first_difference, stage_of
from .tolerances import Ledger, rel_diff

PASS, FAIL, WARN = "pass", "fail", "warn"
VERDICTS = (PASS, FAIL, WARN)
#: pseudo-stage before `object`: configuration resolution (the legacy-dict bridge)
CONFIG_STAGE = "config"
CHECK_STAGES = (CONFIG_STAGE,) + STAGES


@dataclass(frozen=True)
class Check:
    """One invariant verdict. value/bound are JSON-safe (numbers, strings, lists)."""

    name: str
    stage: str
    value: Any
    bound: Any
    verdict: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failed(self) -> bool:
        return self.verdict == FAIL


@dataclass(frozen=True)
class CheckContext:
    """What a check reads besides the telemetry values: the profile and the tolerance ledger."""

    profile: Profile
    ledger: Ledger

    def tol(self, name: str) -> float:
        """Bound `tests.parity.invariants.<name>` from the ledger."""
        return self.ledger.test_tolerance(f"parity.invariants.{name}")


def _rel_check(ctx, name, stage, value, target, tol_name, what) -> Check:
    tol = ctx.tol(tol_name)
    rd = rel_diff(value, target)
    ok = math.isfinite(float(value)) and rd <= tol  # a NaN value never passes
    return Check(name, stage, value, target,
                 PASS if ok else FAIL,
                 f"{what}: {value:.9g} vs {target:.9g} (rel diff {rd:.3g}, rtol {tol:g})")


# ------------------------------------------------------------------------------- checks
# Each takes (values, ctx) and returns a Check. `values` is the record's flat dict.

def check_probe_normalization(v, ctx: CheckContext) -> Check:
    """mean |P*M| = 1/probe_scale (DESIGN §3)."""
    return _rel_check(ctx, "probe_normalization", "probe", v["probe.mean_abs_masked"],
                      v["probe.target_mean_abs_masked"], "probe_normalization",
                      "mean|P*M| vs 1/probe_scale")


def check_simulate_energy(v, ctx: CheckContext) -> Check:
    """E[sum X_raw^2] = E[sum |Psi|^2] up to Poisson noise (DESIGN §3 step 4)."""
    return _rel_check(ctx, "simulate_energy", "simulate", v["simulate.diff3d.mean_sum_xy_sq"],
                      v["simulate.mean_exit_energy"], "simulate_energy",
                      "E[sum X_raw^2] vs E[sum |Psi|^2]")


def check_canvas_fit(v, ctx: CheckContext) -> Check:
    """The planned model canvas holds every patch of the group at its relative offset."""
    need, have = int(v["group.canvas_required"]), int(v["group.canvas_planned"])
    ok = have >= need
    return Check("canvas_fit", "group", have, need, PASS if ok else FAIL,
                 f"planned canvas {have} px vs required {need} px "
                 f"(max |coords_relative| {v['group.max_abs_coords_relative']:.3f} px)")


def check_group_centroid(v, ctx: CheckContext) -> Check:
    """coords_relative = -(coords - centroid): the channels of a group sum to zero."""
    tol = ctx.tol("group_centroid")
    scale = max(1.0, float(v["group.max_abs_coords_relative"]))
    value = float(v["group.centroid_residual"]) / scale
    return Check("group_centroid", "group", value, tol, PASS if value <= tol else FAIL,
                 f"max |sum_c coords_relative| / max(1, max|coords_relative|) = {value:.3g}")


def check_normalization_energy(v, ctx: CheckContext) -> Check:
    """E[sum X_norm^2] = (N/2)^2 with X_norm = g*X_raw (DESIGN §4)."""
    return _rel_check(ctx, "normalization_energy", "normalize", v["normalize.energy_norm"],
                      v["normalize.target_energy"], "normalization_energy",
                      "E[sum X_norm^2] vs (N/2)^2")


def check_scale_identity(v, ctx: CheckContext) -> Check:
    """s = g * s_cf: fails when s_cf is used instead of the dataset scale, or s is computed on
    normalized data (both give s = s_cf)."""
    return _rel_check(ctx, "scale_identity", "scale", v["scale.s"], v["scale.g_s_cf"],
                      "scale_identity", "dataset scale s vs g*s_cf")


def check_scale_energy(v, ctx: CheckContext) -> Check:
    """The energy behind s is E of the raw data (not of X_norm, not summed over channels)."""
    return _rel_check(ctx, "scale_energy", "scale", v["scale.energy"], v["normalize.E"],
                      "scale_energy", "energy used by the scale vs E[sum X_raw^2]")


def check_scale_source(v, ctx: CheckContext) -> Check:
    """The dataset-derived scale is used whenever E is finite and > 0 (fallback otherwise)."""
    energy = v["normalize.E"]
    usable = isinstance(energy, (int, float)) and math.isfinite(energy) and energy > 0
    expected = "dataset" if usable else "closed_form"
    got = v["scale.source"]
    return Check("scale_source", "scale", got, expected, PASS if got == expected else FAIL,
                 f"source {got!r} (reason: {v['scale.reason']}); expected {expected!r}")


def check_container_lazy(v, ctx: CheckContext) -> Check:
    """Scale statistics read numpy storage only: the container's tensor cache stays empty."""
    n = int(v["container.tensor_cache_size"])
    return Check("container_lazy", "container", n, 0, PASS if n == 0 else FAIL,
                 f"{n} cached tensor(s) after the numpy-only statistics")


def check_network_input_energy(v, ctx: CheckContext) -> Check:
    """The network sees g*X_raw in both profiles: E[sum input^2] = (N/2)^2."""
    return _rel_check(ctx, "network_input_energy", "network_input", v["network_input.mean_sum_xy_sq"],
                      v["network_input.target_energy"], "network_input_energy",
                      "E[sum input^2] vs (N/2)^2")


def check_counts(v, ctx: CheckContext) -> Check:
    """E[sum (s*X_label)^2] = nphotons: the count labels carry the dose."""
    return _rel_check(ctx, "counts", "labels", v["labels.mean_counts_per_pattern"], v["scale.nphotons"],
                      "counts", "E[sum counts label] vs nphotons")


def check_symmetry(v, ctx: CheckContext) -> Check:
    """Labels and output use the same scale (s_cf legacy, s current)."""
    return _rel_check(ctx, "symmetry", "labels", v["labels.scale"], v["labels.output_scale"],
                      "symmetry", "label scale vs output scaler")


def check_chain_product(v, ctx: CheckContext) -> Check:
    """feed gain * label scale / input scaler = observed network-input gain = g."""
    tol = ctx.tol("chain_product")
    predicted = v["labels.predicted_input_gain"]
    observed = v["labels.observed_input_gain"]
    g = v["normalize.g"]
    rd_obs, rd_g = rel_diff(predicted, observed), rel_diff(predicted, g)
    ok = math.isfinite(float(predicted)) and rd_obs <= tol and rd_g <= tol
    return Check("chain_product", "labels", predicted, g, PASS if ok else FAIL,
                 f"feed_gain*scale/input_scale = {predicted:.9g}; observed input gain "
                 f"{observed:.9g} (rel {rd_obs:.3g}); g = {g:.9g} (rel {rd_g:.3g}); rtol {tol:g}")


def check_reachability(v, ctx: CheckContext) -> Check:
    """Predicted amplitude target r*|O| (r = feed_gain*scale/output_scale: g legacy, 1 current)
    vs the activation ceiling, before training. Policy 'predict' reports (warn)."""
    implied = float(v["labels.implied_amplitude_max"])
    raw_ceiling = v["labels.activation_ceiling"]
    ceiling = math.inf if raw_ceiling is None else float(raw_ceiling)
    ratio = v["labels.predicted_amplitude_ratio"]
    frac = v["labels.fraction_above_ceiling"]
    reachable = implied <= ceiling
    if reachable:
        verdict = PASS
    else:
        verdict = WARN if ctx.profile.reachability == "predict" else FAIL
    detail = (f"predicted amplitude ratio {ratio:.6g} (g = {v['normalize.g']:.6g}); implied max "
              f"amplitude {implied:.4g} vs {v['labels.activation']} ceiling {ceiling:g}; "
              f"{100 * frac:.1f}% of object pixels above it")
    if not reachable and verdict == WARN:
        detail += " (saturation predicted for this profile)"
    return Check("reachability", "labels", implied, raw_ceiling, verdict, detail)


def check_forward_scales(v, ctx: CheckContext) -> Check:
    """The model's scale weights equal the external scales (input s_cf; output = label scale)."""
    tol = ctx.tol("forward_scales")
    rin = rel_diff(v["forward.input_scale_weight"], v["forward.external_input_scale"])
    rout = rel_diff(v["forward.output_scale_weight"], v["labels.scale"])
    worst = max(rin, rout)
    ok = (math.isfinite(float(v["forward.input_scale_weight"]))
          and math.isfinite(float(v["forward.output_scale_weight"])) and worst <= tol)
    return Check("forward_scales", "forward", worst, tol, PASS if ok else FAIL,
                 f"input weight {v['forward.input_scale_weight']:.7g} vs "
                 f"{v['forward.external_input_scale']:.7g}; output weight "
                 f"{v['forward.output_scale_weight']:.7g} vs label scale {v['labels.scale']:.7g}")


def check_forward_output_shape(v, ctx: CheckContext) -> Check:
    """Per-group output: counts shape == (B, N, N, C) of the input, for every B."""
    got, want = list(v["forward.output_shape"]), list(v["forward.input_shape"])
    return Check("forward_output_shape", "forward", got, want, PASS if got == want else FAIL,
                 f"output {got} vs input {want}")


def check_trainable_weights(v, ctx: CheckContext) -> Check:
    """Scale/probe weights are in trainable_weights exactly when configured trainable."""
    got, want = sorted(v["forward.trainable_special"]), sorted(v["forward.expected_trainable"])
    return Check("trainable_weights", "forward", got, want, PASS if got == want else FAIL,
                 f"trainable scale/probe weights {got}, configured {want}")


def check_model_canvas_fit(v, ctx: CheckContext) -> Check:
    """The built model's reassembly canvas holds the largest relative offset."""
    need, have = int(v["group.canvas_required"]), int(v["forward.canvas"])
    return Check("model_canvas_fit", "forward", have, need, PASS if have >= need else FAIL,
                 f"model canvas {have} px vs required {need} px")


def check_amplitude_ratio_trained(v, ctx: CheckContext) -> Check:
    """After training: reconstructed/true amplitude (central patch region) vs the prediction
    made at `labels` (r = 1 current, g legacy, capped by the activation ceiling). Reported as
    'warn' when the tier trains too briefly to verify it (infer.verifies_prediction false)."""
    tol = ctx.tol("amplitude_ratio_trained")
    observed, predicted = v["infer.amplitude_ratio"], v["labels.saturated_amplitude_ratio"]
    rd = rel_diff(observed, predicted)
    ok = math.isfinite(float(observed)) and rd <= tol
    verdict = PASS if ok else (FAIL if v["infer.verifies_prediction"] else WARN)
    detail = (f"trained |O|/|O_true| = {observed:.4g} vs predicted {predicted:.4g} "
              f"(r = {v['labels.predicted_amplitude_ratio']:.4g} before saturation; rel diff "
              f"{rd:.3g}, rtol {tol:g})")
    if verdict == WARN:
        detail += "; tier too short to verify"
    return Check("amplitude_ratio_trained", "infer", observed, predicted, verdict, detail)


#: name -> (stage, function); evaluated in this order when the stage was recorded
CHECKS: dict[str, tuple[str, Callable[[Mapping[str, Any], CheckContext], Check]]] = {
    "probe_normalization": ("probe", check_probe_normalization),
    "simulate_energy": ("simulate", check_simulate_energy),
    "canvas_fit": ("group", check_canvas_fit),
    "group_centroid": ("group", check_group_centroid),
    "normalization_energy": ("normalize", check_normalization_energy),
    "scale_identity": ("scale", check_scale_identity),
    "scale_energy": ("scale", check_scale_energy),
    "scale_source": ("scale", check_scale_source),
    "container_lazy": ("container", check_container_lazy),
    "network_input_energy": ("network_input", check_network_input_energy),
    "counts": ("labels", check_counts),
    "symmetry": ("labels", check_symmetry),
    "chain_product": ("labels", check_chain_product),
    "reachability": ("labels", check_reachability),
    "forward_scales": ("forward", check_forward_scales),
    "forward_output_shape": ("forward", check_forward_output_shape),
    "trainable_weights": ("forward", check_trainable_weights),
    "model_canvas_fit": ("forward", check_model_canvas_fit),
    "amplitude_ratio_trained": ("infer", check_amplitude_ratio_trained),
}


def _is_nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(_is_nonfinite(x) for x in value)
    return False


def check_finiteness(values: Mapping[str, Any]) -> Check:
    """No NaN/Inf anywhere: every '.nan'/'.inf' count is 0 and every float value is finite.
    The stage is the first stage with a non-finite entry (the last stage when clean)."""
    bad = []
    for key, value in values.items():
        if key.endswith(".nan") or key.endswith(".inf"):
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                bad.append(key)
        elif _is_nonfinite(value):
            bad.append(key)
    if bad:
        return Check("finiteness", stage_of(bad[0]), len(bad), 0, FAIL,
                     f"{len(bad)} non-finite entr{'y' if len(bad) == 1 else 'ies'}, first {bad[0]}")
    last = stage_of(next(reversed(values))) if values else CONFIG_STAGE
    return Check("finiteness", last, 0, 0, PASS, f"all {len(values)} values finite")


def check_legacy_fresh(stale_error: Exception | None) -> Check:
    """The legacy dict agrees with the dataclass config after the bridge (no stale key)."""
    if stale_error is None:
        return Check("legacy_dict_fresh", CONFIG_STAGE, [], [], PASS,
                     "update_legacy_dict -> config_from_legacy -> require_fresh: no stale key")
    stale = getattr(stale_error, "stale", {})
    keys = sorted(stale)
    return Check("legacy_dict_fresh", CONFIG_STAGE, keys, [], FAIL, f"stale legacy key(s): {stale_error}")


def check_legacy_path(dataclass_values: Mapping[str, Any] | None,
                      legacy_values: Mapping[str, Any] | None) -> Check:
    """Telemetry of the legacy-dict path equals the dataclass path's, value for value."""
    if dataclass_values is None or legacy_values is None:
        return Check("legacy_dict_path", CONFIG_STAGE, None, "identical", FAIL,
                     "the legacy-dict path did not run (see legacy_dict_fresh)")
    key = first_difference(dataclass_values, legacy_values)
    if key is None:
        last = stage_of(next(reversed(dataclass_values))) if dataclass_values else CONFIG_STAGE
        return Check("legacy_dict_path", last, len(dataclass_values), "identical", PASS,
                     f"{len(dataclass_values)} values identical on both paths")
    return Check("legacy_dict_path", stage_of(key), key, "identical", FAIL,
                 f"first difference at {key}: dataclass {dataclass_values.get(key)!r} vs "
                 f"legacy dict {legacy_values.get(key)!r}")


def evaluate(record: Mapping[str, Any], ledger: Ledger, profile: Profile | None = None) -> list[Check]:
    """Every applicable check of a telemetry record, in stage order, with bounds from `ledger`.

    profile: defaults to the record's meta['profile']. A check runs when its stage and every
    stage it reads were recorded; a missing key inside a recorded stage is a failure naming it.
    """
    values = record["values"]
    ctx = CheckContext(profile or get_profile(record["meta"]["profile"]), ledger)
    recorded = {stage_of(k) for k in values}
    out: list[Check] = []
    for name, (stage, func) in CHECKS.items():
        if stage not in recorded:
            continue
        try:
            out.append(func(values, ctx))
        except KeyError as exc:
            out.append(Check(name, stage, None, None, FAIL, f"telemetry key missing: {exc.args[0]}"))
        except (TypeError, ValueError) as exc:
            out.append(Check(name, stage, None, None, FAIL, f"cannot evaluate: {exc}"))
    out.append(check_finiteness(values))
    return sort_checks(out)


def sort_checks(checks: list[Check]) -> list[Check]:
    """Checks ordered by stage (config first), stable within a stage."""
    return sorted(checks, key=lambda c: CHECK_STAGES.index(c.stage) if c.stage in CHECK_STAGES
                  else len(CHECK_STAGES))


def first_failure(checks: list[Check]) -> Check | None:
    """The earliest failing check in stage order, or None."""
    for c in sort_checks(checks):
        if c.failed:
            return c
    return None
