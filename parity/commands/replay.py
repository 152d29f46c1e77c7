"""`replay`: one scenario under one profile, its checks and its telemetry JSON."""
from __future__ import annotations

import pathlib
import sys

from .. import jsonsafe
from ..checks import FAIL
from ..progress import PLAIN_STAGE_S
from ..replay import GROUPINGS, ReplaySpec, pair_checks, run_replay
from ..scenarios import TIER_NAMES, tier_trains
from .common import EXIT_FAIL, EXIT_OK, add_golden_dir_option, faults_from_env, ledger

GROUPING_HELP = (
    "grouping axis: 'profile' (default) uses each profile's own strategy (legacy: K=7 incl. "
    "seed, current: K=4), so legacy vs current first differs at stage 'group'; 'current' or "
    "'legacy' holds the grouping fixed for both profiles, so legacy vs current first differs "
    "at stage 'labels' (amplitude labels X_norm vs X_raw, ratio g) - the profile difference "
    "proper (docs/design.md §4).")


def _cmd_replay(args) -> int:
    spec = ReplaySpec(scenario=args.scenario, profile=args.profile, tier=args.tier,
                      seed=args.seed, grouping=args.grouping,
                      train=args.train or tier_trains(args.tier),
                      faults=faults_from_env())
    bounds = ledger(args)
    outcome = run_replay(spec, bounds, legacy_path=not args.no_legacy_path,
                         progress=not args.quiet)
    if not args.no_pair:
        outcome.checks.extend(pair_checks(outcome, bounds, progress=not args.quiet))
    if args.out:
        jsonsafe.write_json(args.out, outcome.record)
        print(f"telemetry written to {args.out}")
    failed = [c for c in outcome.checks if c.verdict == FAIL]
    for c in outcome.checks:
        print(f"{c.verdict:4s}  {c.stage:13s} {c.name:22s} {c.detail}")
    if outcome.error:
        print(f"error: {outcome.error}", file=sys.stderr)
    return EXIT_FAIL if failed or outcome.error else EXIT_OK


def add_replay_options(p, *, tier_default="tiny") -> None:
    p.add_argument("--tier", default=tier_default, choices=TIER_NAMES,
                   help=f"size tier (default {tier_default})")
    p.add_argument("--seed", type=int, default=1, help="seed of every RNG (default 1)")
    p.add_argument("--grouping", default="profile", choices=GROUPINGS, help=GROUPING_HELP)
    add_golden_dir_option(p)


def register_replay(sub) -> None:
    p = sub.add_parser("replay", help="run one scenario under one profile; write telemetry JSON",
                       description="Replay a scenario under a profile through the named stages "
                                   "(object ... forward; with --train also train, infer, stitch, "
                                   "evaluate), on both the dataclass path and the legacy-dict "
                                   "path (their telemetry must be identical), evaluate the "
                                   "invariants and print them. Exit 1 if a check fails.",
                       epilog=GROUPING_HELP)
    p.add_argument("--scenario", required=True, help="scenario name (see `list`)")
    p.add_argument("--profile", required=True, help="profile name: legacy or current")
    add_replay_options(p)
    p.add_argument("--train", action="store_true",
                   help="add train/infer/stitch/evaluate (implied by a tier that trains: trained, "
                        "reduced, full)")
    p.add_argument("--out", type=pathlib.Path, help="write the telemetry record (JSON) here")
    p.add_argument("--no-legacy-path", action="store_true",
                   help="skip the legacy-dict path (faster; the path-equality check is not run)")
    p.add_argument("--no-pair", action="store_true",
                   help="skip the pair checks (legacy_ratio): a legacy replay that trains also "
                        "replays the current profile (dataclass path) for them, as `check` does")
    p.add_argument("--quiet", action="store_true",
                   help="no progress (a bar on a terminal; elsewhere one line per stage of "
                        f"{PLAIN_STAGE_S:g} s or more, on stderr)")
    p.set_defaults(func=_cmd_replay)
