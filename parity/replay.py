"""A replay: a spec resolved once at the boundary, run through the stages, checked.

`ReplaySpec` (parity.replay_spec) says what to replay (scenario, profile, tier, seed, grouping
axis, training, test faults). `run_replay` resolves it once (`resolve`: scenario, profile,
sizes, config) and runs the stages on
the dataclass path and on the legacy-dict path (the ptycho.legacy bridge), then evaluates the
invariants with the given tolerance ledger, the path equality and the legacy-dict freshness.
`replay_all` gives the records behind goldens. The model cache is passed down, never global.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from ptycho.config import TrainingConfig
from ptycho.errors import StaleConfigError

from . import interrupts

from .checks import (PAIR_PROFILES, Check, check_legacy_fresh, check_legacy_path, evaluate,
                     evaluate_pair, sort_checks)
from .model_cache import ModelCache
from .progress import PLAIN_STAGE_S, on_terminal
from .progress import line as progress_line
from .records import CORE_STAGES, DIAGNOSTIC_STAGES, TRAIN_STAGES, stage_of
from .replay_spec import (GROUPINGS, LOW_CEILING, ReplaySpec, ResolvedReplay, replay_config,
                          resolve)
from .specs.measure import spec_values
from .scenarios import all_replays, tier_trains
from .stages import STAGE_FUNCTIONS, StageState
from .telemetry import Recorder
from .tolerances import Ledger

__all__ = ["DEFAULT_MODELS", "GROUPINGS", "LOW_CEILING", "ReplayOutcome", "ReplaySpec",
           "ResolvedReplay", "StageError", "legacy_path_config", "pair_checks", "pair_partner",
           "replay_all", "replay_config", "resolve", "run_replay", "run_stages"]

#: the process's default model cache (the command layer and tests may pass their own)
DEFAULT_MODELS = ModelCache()


class StageError(RuntimeError):
    """A stage raised; `stage` names it, `cause` is the original exception, `recorder` holds
    the telemetry recorded before it."""

    def __init__(self, stage: str, cause: BaseException, recorder: Recorder | None = None):
        self.stage = stage
        self.cause = cause
        self.recorder = recorder
        super().__init__(f"stage {stage}: {type(cause).__name__}: {cause}")


def _meta(spec: ReplaySpec, config: TrainingConfig, path: str) -> dict[str, Any]:
    digest = hashlib.sha256(repr(config).encode()).hexdigest()[:16]
    return {"scenario": spec.scenario, "profile": spec.profile, "tier": spec.tier,
            "seed": spec.seed, "grouping": spec.grouping, "train": spec.train, "path": path,
            "config_digest": digest, "faults": list(spec.faults)}


def run_stages(replay: ResolvedReplay, *, path: str = "dataclass",
               progress: bool = False, stages: Iterable[str] | None = None,
               models: ModelCache = DEFAULT_MODELS, shared: dict | None = None) -> Recorder:
    """Run the stages of the resolved `replay` (parity.replay_spec.resolve; its config: the
    path's); return the Recorder.

    stages: default CORE_STAGES + TRAIN_STAGES with spec.train, else CORE_STAGES +
    DIAGNOSTIC_STAGES (the training path's consistency diagnostics, no training). shared: a dict
    the two paths of one replay pass to both (StageState.shared). Raises StageError
    naming the stage that failed; the partial telemetry is on `error.recorder`.
    """
    spec = replay.spec
    names = list(stages) if stages is not None else list(CORE_STAGES) + (
        list(TRAIN_STAGES) if spec.train else list(DIAGNOSTIC_STAGES))
    rec = Recorder(_meta(spec, replay.config, path))
    st = StageState(replay, rec, models, shared=shared if shared is not None else {})
    bar, label = None, f"{spec.scenario}/{spec.profile} [{path}]"
    if progress and on_terminal():
        from tqdm import tqdm

        bar = tqdm(total=len(names), desc=label, unit="stage", leave=False)
    try:
        for name in names:
            if bar is not None:
                bar.set_postfix_str(name)
            t0 = time.perf_counter()
            try:
                values = STAGE_FUNCTIONS[name](st)
                values.update(spec_values(name, st, values))
            except Exception as exc:  # noqa: BLE001 - re-raised with the stage named
                interrupts.reraise_pending(exc)  # an interrupt that native code replaced
                raise StageError(name, exc, rec) from exc
            rec.record(name, values)
            if bar is not None:
                bar.update(1)
            elif progress and time.perf_counter() - t0 >= PLAIN_STAGE_S:
                progress_line(f"  {label} {name}: {time.perf_counter() - t0:.0f} s")
    finally:
        if bar is not None:
            bar.close()
    return rec


@dataclass
class ReplayOutcome:
    """A replay's record (dataclass path), checks, and error (None when it ran through)."""

    spec: ReplaySpec
    record: dict[str, Any] | None
    checks: list[Check]
    error: str | None = None
    legacy_record: dict[str, Any] | None = None
    #: the recorder's artifacts (wall times, images; parity.telemetry.Recorder.artifacts)
    artifacts: dict[str, Any] = field(default_factory=dict)

    def scalars(self) -> dict[str, Any]:
        """Headline scalars for reports: g, s/s_cf, implied amplitude and ceiling."""
        v = (self.record or {}).get("values", {})
        out = {}
        for name, key in (("g", "normalize.g"), ("s_over_s_cf", "scale.s_over_s_cf"),
                          ("implied_amplitude_max", "labels.implied_amplitude_max")):
            if isinstance(v.get(key), (int, float)):
                out[name] = v[key]
        if "labels.activation" in v:
            c = v.get("labels.activation_ceiling")
            out["activation_ceiling"] = math.inf if c is None else c
        return out


def legacy_path_config(config: TrainingConfig, faults: tuple[str, ...] = ()) -> TrainingConfig:
    """The legacy-dict path: write `config` into ptycho.legacy.cfg, check freshness, read back.

    Raises StaleConfigError naming every stale key ('stale_key' fault: a legacy module
    overwrites cfg['probe_scale'] after the bridge ran). The global dict is restored
    afterwards, so a replay leaves no state behind.
    """
    from ptycho import legacy

    saved = dict(legacy.cfg)
    try:
        legacy.update_legacy_dict(legacy.cfg, config)
        if "stale_key" in faults:
            legacy.cfg["probe_scale"] = float(legacy.cfg["probe_scale"]) * 2.0
        legacy.require_fresh(legacy.cfg, config)
        return legacy.config_from_legacy(legacy.cfg)
    finally:
        legacy.cfg.clear()
        legacy.cfg.update(saved)


def run_replay(spec: ReplaySpec, ledger: Ledger, *, legacy_path: bool = True, progress: bool = False,
               models: ModelCache = DEFAULT_MODELS) -> ReplayOutcome:
    """Replay `spec` on the dataclass path and (by default) the legacy-dict path; evaluate the
    invariants (bounds from `ledger`), the path equality and the legacy-dict freshness. Never
    raises for a stage failure or a stale key: they become `error` and failing checks. Config
    errors (unknown scenario/profile/tier/fault) do raise (ConfigError).
    """
    resolved = resolve(spec)
    config, profile = resolved.config, resolved.profile
    checks: list[Check] = []
    errors: list[str] = []
    legacy_config = None
    if legacy_path:
        try:
            legacy_config = legacy_path_config(config, spec.faults)
            checks.append(check_legacy_fresh(None))
        except StaleConfigError as exc:
            checks.append(check_legacy_fresh(exc))
            errors.append(f"config: {exc}")
    record = None
    shared: dict = {}
    try:
        recorder = run_stages(resolved, progress=progress, models=models, shared=shared)
    except StageError as exc:
        recorder = exc.recorder
        errors.append(str(exc))
    record, artifacts = recorder.to_dict(), recorder.artifacts
    checks.extend(evaluate(record, ledger, profile))
    legacy_record = None
    if legacy_config is not None:
        # the stages are a function of the resolved replay. With the bridge's config equal to the
        # dataclass config field for field, the second path reruns the core stages only (the data
        # path's in-process reproducibility; diagnostics and training would repeat the same
        # computation on the same inputs). With any field differing, the tiny tier reruns every
        # stage, so the check names the first stage the difference reaches; a training replay
        # compares the core stages only (training twice would double a trained tier's cost)
        compared = CORE_STAGES if spec.train or legacy_config == config else None
        try:
            legacy_record = run_stages(resolved.with_config(legacy_config), path="legacy_dict",
                                       progress=progress, stages=compared,
                                       models=models, shared=shared).to_dict()
        except StageError as exc:
            legacy_record = exc.recorder.to_dict()
        mine = record["values"] if compared is None else {
            k: v for k, v in record["values"].items() if stage_of(k) in compared}
        checks.append(check_legacy_path(mine, legacy_record["values"]))
    elif legacy_path:
        checks.append(check_legacy_path(None, None))
    return ReplayOutcome(spec, record, sort_checks(checks), "; ".join(errors) or None,
                         legacy_record, artifacts)


def pair_partner(spec: ReplaySpec) -> ReplaySpec | None:
    """The replay whose record the pair checks of `spec` need (parity.checks.pairs): the second
    profile of PAIR_PROFILES when `spec` is the first and trains (pair checks read trained
    records); None otherwise."""
    if spec.train and spec.profile == PAIR_PROFILES[0]:
        return replace(spec, profile=PAIR_PROFILES[1])
    return None


def pair_checks(outcome: ReplayOutcome, ledger: Ledger, *, progress: bool = False,
                models: ModelCache = DEFAULT_MODELS) -> list[Check]:
    """The pair checks of `outcome` on its own, as `check` gives them with the legacy replay:
    replays the partner (dataclass path; a partial record where a stage fails) and evaluates
    the pair. [] when `outcome` has no partner or no record."""
    partner = pair_partner(outcome.spec)
    if partner is None or outcome.record is None:
        return []
    try:
        other = run_stages(resolve(partner), progress=progress, models=models).to_dict()
    except StageError as exc:
        other = exc.recorder.to_dict()
    return evaluate_pair(outcome.record, other, ledger)


def replay_all(ledger: Ledger, *, tier: str = "tiny", scenarios=None, profiles=None, seed: int = 1,
               legacy_path: bool = False, progress: bool = False, faults: tuple[str, ...] = (),
               models: ModelCache = DEFAULT_MODELS) -> list[dict[str, Any]]:
    """Telemetry records (dataclass path) of scenarios x profiles, for goldens.

    Raises StageError when a replay cannot run through (a golden is never written from a
    broken pipeline).
    """
    out = []
    for scenario, profile in all_replays(scenarios, profiles, tier):
        spec = ReplaySpec(scenario=scenario, profile=profile, tier=tier, seed=seed, faults=faults,
                          train=tier_trains(tier))
        if legacy_path:
            outcome = run_replay(spec, ledger, progress=progress, models=models)
            if outcome.error:
                raise RuntimeError(f"{scenario}/{profile}: {outcome.error}")
            out.append(outcome.record)
        else:
            out.append(run_stages(resolve(spec), progress=progress, models=models).to_dict())
    return out
