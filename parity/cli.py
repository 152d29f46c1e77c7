"""`python -m parity <command>`: the harness's command line.

Commands (each has --help): list, diff-profiles, replay, check, golden, trace-diff, inspect,
compare-images, bench-report. Exit codes: 0 everything holds, 1 a check or golden failed (or two records
differ), 2 usage or input error (unknown scenario, unreadable or invalid file, bad option).

Adding a command: write `register_cli(subparsers)` in its module (add a parser, set
`func(args) -> int`) and append the registrar to `COMMAND_REGISTRARS` below; commands appear
in `--help` in that order.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import pathlib
import shlex
import sys
import time
from typing import Any, Callable

from ptycho.errors import PtychoError

from . import jsonsafe

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

GROUPING_HELP = (
    "grouping axis: 'profile' (default) uses each profile's own strategy (legacy: K=7 incl. "
    "seed, current: K=4), so legacy vs current first differs at stage 'group'; 'current' or "
    "'legacy' holds the grouping fixed for both profiles, so legacy vs current first differs "
    "at stage 'labels' (amplitude labels X_norm vs X_raw, ratio g) - the profile difference "
    "proper (DESIGN §4).")


# ----------------------------------------------------------------------------- list
def _cmd_list(args) -> int:
    from .faults import FAULTS
    from .profiles import PROFILES
    from .scenarios import SCENARIOS, SWEEPS, TIERS
    from .telemetry import STAGES

    if args.json:
        doc = {
            "scenarios": {n: {"description": s.description, "gridsize": s.gridsize,
                              "probe": s.probe, "probe_scale": s.probe_scale,
                              "probe_mask": s.probe_mask, "nphotons": s.nphotons, "N": s.N}
                          for n, s in SCENARIOS.items()},
            "sweeps": {k: list(v) for k, v in SWEEPS.items()},
            "tiers": {f"{t}/gs{gs}": vars(sz) for (t, gs), sz in TIERS.items()},
            "profiles": {n: p.description for n, p in PROFILES.items()},
            "stages": list(STAGES),
            "faults": {n: {"stage": st, "what": w} for n, (st, w) in FAULTS.items()},
        }
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    print("## Scenarios\n")
    print("| name | gridsize | probe | probe_scale | mask | nphotons | description |")
    print("|---|---|---|---|---|---|---|")
    for n, s in SCENARIOS.items():
        print(f"| {n} | {s.gridsize} | {s.probe} | {s.probe_scale:g} | {s.probe_mask} | "
              f"{s.nphotons:.0e} | {s.description} |")
    print("\n## Sweeps\n")
    for k, v in SWEEPS.items():
        print(f"- {k}: {', '.join(v)}")
    print("\n## Tiers\n")
    print("| tier | gridsize | object | images | groups | batch | nepochs | n_filters_scale | split |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (t, gs), sz in TIERS.items():
        print(f"| {t} | {gs} | {sz.object_size} | {sz.n_images} | {sz.n_groups} | "
              f"{sz.batch_size} | {sz.nepochs if sz.nepochs is not None else 'profile'} | "
              f"{sz.n_filters_scale} | {sz.split} |")
    print("\n## Profiles\n")
    for n, p in PROFILES.items():
        print(f"- {n}: {p.description}")
    print("\n## Stages\n")
    print(", ".join(STAGES))
    print("\n## Test hooks (PARITY_FAULT)\n")
    for n, (st, w) in FAULTS.items():
        print(f"- {n} (fails at {st}): {w}")
    return EXIT_OK


def _register_list(sub) -> None:
    p = sub.add_parser("list", help="scenarios, sweeps, tiers, profiles, stages",
                       description="List the built-in scenarios, sweeps, size tiers, profiles, "
                                   "stages and fault-injection test hooks.")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.set_defaults(func=_cmd_list)


# ----------------------------------------------------------------------------- diff-profiles
def _cmd_diff_profiles(args) -> int:
    from .profiles import diff_markdown, diff_rows, get_profile
    from .scenarios import resolve_config

    a, b = get_profile(args.a), get_profile(args.b)
    if args.scenario:
        ca = resolve_config(args.scenario, a, args.tier)
        cb = resolve_config(args.scenario, b, args.tier)
        rows = diff_rows(a, b, config_a=ca, config_b=cb)
    else:
        rows = diff_rows(a, b)
    if args.json:
        print(jsonsafe.dumps({"a": a.name, "b": b.name, "scenario": args.scenario,
                              "tier": args.tier if args.scenario else None, "differences": rows}),
              end="")
    else:
        where = f" for scenario {args.scenario} ({args.tier})" if args.scenario else ""
        print(f"# {a.name} vs {b.name}{where}: {len(rows)} differing parameters\n")
        print(diff_markdown(rows, a.name, b.name), end="")
    return EXIT_OK


def _register_diff_profiles(sub) -> None:
    p = sub.add_parser("diff-profiles", help="every parameter that differs between two profiles",
                       description="Side-by-side table of every configuration parameter that "
                                   "differs between two profiles (default legacy vs current). "
                                   "With --scenario, compares the resolved replay configs "
                                   "(scenario and tier settings override the profile's).")
    p.add_argument("a", nargs="?", default="legacy", help="first profile (default legacy)")
    p.add_argument("b", nargs="?", default="current", help="second profile (default current)")
    p.add_argument("--scenario", help="resolve both profiles for this scenario")
    p.add_argument("--tier", default="tiny", help="size tier with --scenario (default tiny)")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.set_defaults(func=_cmd_diff_profiles)


# ----------------------------------------------------------------------------- replay
def _cmd_replay(args) -> int:
    from .invariants import FAIL
    from .stages import ReplaySpec, run_replay

    spec = ReplaySpec(scenario=args.scenario, profile=args.profile, tier=args.tier,
                      seed=args.seed, grouping=args.grouping, train=args.train)
    outcome = run_replay(spec, legacy_path=not args.no_legacy_path, progress=not args.quiet)
    if args.out:
        jsonsafe.write_json(args.out, outcome.record)
        print(f"telemetry written to {args.out}")
    failed = [c for c in outcome.checks if c.verdict == FAIL]
    for c in outcome.checks:
        print(f"{c.verdict:4s}  {c.stage:13s} {c.name:22s} {c.detail}")
    if outcome.error:
        print(f"error: {outcome.error}", file=sys.stderr)
    return EXIT_FAIL if failed or outcome.error else EXIT_OK


def _add_replay_options(p, *, tier_default="tiny") -> None:
    p.add_argument("--tier", default=tier_default, choices=("tiny", "reduced", "full"),
                   help=f"size tier (default {tier_default})")
    p.add_argument("--seed", type=int, default=1, help="seed of every RNG (default 1)")
    p.add_argument("--grouping", default="profile", choices=("profile", "current", "legacy"),
                   help=GROUPING_HELP)


def _register_replay(sub) -> None:
    p = sub.add_parser("replay", help="run one scenario under one profile; write telemetry JSON",
                       description="Replay a scenario under a profile through the named stages "
                                   "(object ... forward; with --train also train, infer, stitch, "
                                   "evaluate), on both the dataclass path and the legacy-dict "
                                   "path (their telemetry must be identical), evaluate the "
                                   "invariants and print them. Exit 1 if a check fails.",
                       epilog=GROUPING_HELP)
    p.add_argument("--scenario", required=True, help="scenario name (see `list`)")
    p.add_argument("--profile", required=True, help="profile name: legacy or current")
    _add_replay_options(p)
    p.add_argument("--train", action="store_true", help="add train/infer/stitch/evaluate")
    p.add_argument("--out", type=pathlib.Path, help="write the telemetry record (JSON) here")
    p.add_argument("--no-legacy-path", action="store_true",
                   help="skip the legacy-dict path (faster; the path-equality check is not run)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_replay)


# ----------------------------------------------------------------------------- check
def _golden_status(record: dict, golden_dir: pathlib.Path) -> tuple[str, list[str]]:
    """('ok'|'changed'|'missing'|'error', detail lines) of a record against its golden."""
    from . import golden as G

    path = G.golden_path(golden_dir, record)
    if not path.exists():
        return "missing", [f"{path.name} does not exist (run `python -m parity golden update`)"]
    try:
        bad = G.failures(G.compare_golden(G.load_golden(path), record))
    except (G.GoldenError, G.LedgerError, jsonsafe.JsonSafeError) as exc:
        return "error", [str(exc)]
    if bad:
        return "changed", [f"{r.key}: golden {G.fmt_value(r.expected)} vs now {G.fmt_value(r.actual)} "
                           f"({r.verdict}, rel {G.fmt_rel(r.rel_change)}, tol {r.tolerance})" for r in bad]
    return "ok", []


def run_check(*, tier: str = "tiny", scenarios=None, profiles=None, out_dir=None,
              golden_dir=None, use_golden: bool = True, seed: int = 1, progress: bool = True,
              command: str = "python -m parity check") -> tuple[int, list, pathlib.Path, float]:
    """Replay scenarios x profiles, evaluate invariants and goldens, write the report.

    Returns (exit code, [ReplayResult], report directory, wall seconds).
    """
    from . import golden as G
    from .report import ReplayResult, default_out_dir, write_report
    from .scenarios import all_replays
    from .stages import ReplaySpec, run_replay

    t0 = time.perf_counter()
    pairs = all_replays(scenarios, profiles)
    out = pathlib.Path(out_dir) if out_dir is not None else default_out_dir()
    gdir = pathlib.Path(golden_dir) if golden_dir is not None else G.DEFAULT_GOLDEN_DIR
    results = []
    for scenario, profile in pairs:
        t1 = time.perf_counter()
        spec = ReplaySpec(scenario=scenario, profile=profile, tier=tier, seed=seed)
        outcome = run_replay(spec, progress=progress)
        res = ReplayResult(scenario, profile, tier, checks=list(outcome.checks),
                           error=outcome.error, scalars=outcome.scalars())
        if outcome.record is not None and outcome.record.get("values"):
            tfile = out / "telemetry" / f"{scenario}__{profile}__{tier}.json"
            jsonsafe.write_json(tfile, outcome.record)
            res.telemetry_file = str(tfile.relative_to(out))
            if use_golden and outcome.error is None:
                res.golden, res.golden_detail = _golden_status(outcome.record, gdir)
        res.wall_s = time.perf_counter() - t1
        results.append(res)
    wall = time.perf_counter() - t0
    meta = {"tier": tier, "seed": seed, "command": command, "golden_dir": str(gdir),
            "goldens": use_golden,
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    write_report(out, results, meta=meta, wall_s=wall)
    code = EXIT_FAIL if any(r.failed for r in results) else EXIT_OK
    return code, results, out, wall


def _cmd_check(args) -> int:
    from .report import append_step_summary, summary_markdown

    command = "python -m parity " + " ".join(shlex.quote(a) for a in (args._argv or ["check"]))
    code, results, out, wall = run_check(
        tier=args.tier, scenarios=args.scenario, profiles=args.profile, out_dir=args.out,
        golden_dir=args.golden_dir, use_golden=not args.no_golden, seed=args.seed,
        progress=not args.quiet, command=command)
    table = summary_markdown(results, wall_s=wall)
    print(table, end="")
    print(f"report: {out / 'report.md'}")
    append_step_summary(f"## python -m parity check ({args.tier})\n\n{table}")
    return code


def _register_check(sub) -> None:
    p = sub.add_parser("check", help="the PR gate: replay every scenario x profile, check "
                                     "invariants and goldens, write a report",
                       description="Replay every scenario under both profiles (tiny tier, no "
                                   "training), evaluate the invariants and compare with the "
                                   "goldens under golden/; write report.md, report.json, PNGs "
                                   "and the telemetry into --out; print the summary table (also "
                                   "appended to $GITHUB_STEP_SUMMARY when set). Exit 0 when "
                                   "everything holds, 1 when a check or golden fails, 2 on a "
                                   "usage or input error.")
    p.add_argument("--tier", default="tiny", choices=("tiny", "reduced", "full"),
                   help="size tier (default tiny; goldens exist for tiny)")
    p.add_argument("--scenario", action="append", help="only this scenario (repeatable)")
    p.add_argument("--profile", action="append", help="only this profile (repeatable)")
    p.add_argument("--seed", type=int, default=1, help="seed (goldens are for seed 1)")
    p.add_argument("--out", type=pathlib.Path, help="report directory (default reports/<UTC stamp>/)")
    p.add_argument("--golden-dir", type=pathlib.Path, help="golden directory (default golden/)")
    p.add_argument("--no-golden", action="store_true", help="skip the golden comparison")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_check)


# ----------------------------------------------------------------------------- inspect
def _cmd_inspect(args) -> int:
    from .inspect import inspect_file

    return inspect_file(args.file, nphotons=args.nphotons, gridsize=args.gridsize,
                        out_dir=args.out, as_json=args.json)


def _register_inspect(sub) -> None:
    p = sub.add_parser("inspect", help="dataset doctor: contract + scale diagnostics of an NPZ",
                       description="Validate a dataset against the NPZ data contract and print "
                                   "its scale diagnostics (no ground truth needed): E, g, s, "
                                   "s_cf and s/s_cf, the implied object amplitude vs each "
                                   "activation's ceiling, the canvas a grouping needs, NaN / "
                                   "negative / all-zero pattern counts; PNGs of the mean "
                                   "diffraction pattern and of the scan. Exit 2 when the file "
                                   "violates the contract.")
    p.add_argument("file", type=pathlib.Path, help="dataset NPZ (xcoords, ycoords, diff3d, probeGuess)")
    p.add_argument("--nphotons", type=float, help="photons per pattern (default: metadata)")
    p.add_argument("--gridsize", type=int, default=2, help="gridsize for the canvas estimate (default 2)")
    p.add_argument("--out", type=pathlib.Path, help="directory for the PNGs (default reports/inspect-<stamp>/)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_cmd_inspect)


# ----------------------------------------------------------------------------- registry
def _register_golden(sub) -> None:
    from .golden import register_cli

    register_cli(sub)


def _register_trace(sub) -> None:
    from .trace import register_cli

    p = register_cli(sub)
    p.epilog = ("Legacy vs current: `trace-diff current.json legacy.json` reports B/A = legacy/"
                "current. With the grouping held fixed (`replay --grouping current`) the first "
                "divergence is stage 'labels' with ratio g; without, it is stage 'group'.")


def _register_gap(sub) -> None:
    from .gap import register_cli

    register_cli(sub)


def _register_bench_report(sub) -> None:
    from .bench_report import register_cli

    register_cli(sub)


#: registrars in --help order; append new commands here
COMMAND_REGISTRARS: list[Callable[[Any], None]] = [
    _register_list,
    _register_diff_profiles,
    _register_replay,
    _register_check,
    _register_golden,
    _register_trace,
    _register_inspect,
    _register_gap,
    _register_bench_report,
]


def build_parser() -> argparse.ArgumentParser:
    """The `python -m parity` parser with every registered command."""
    parser = argparse.ArgumentParser(
        prog="python -m parity",
        description="Parity harness for the ptycho PINN pipeline: replay scenarios under the "
                    "legacy and current profiles, check invariants and goldens, trace "
                    "divergences, attribute scale gaps. Exit 0 ok, 1 check/golden failed, "
                    "2 usage/input error.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMAND_REGISTRARS:
        register(sub)
    return parser


#: errors that mean "bad input" (exit 2) when a command raises them
def _input_errors() -> tuple[type[BaseException], ...]:
    from . import golden, trace
    from .telemetry import TelemetryError

    errs: list[type[BaseException]] = [PtychoError, FileNotFoundError, IsADirectoryError,
                                       jsonsafe.JsonSafeError, TelemetryError, golden.GoldenError,
                                       golden.LedgerError, trace.TraceInputError]
    return tuple(errs)


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (default sys.argv[1:]) and run the command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or usage error (2)
        return int(exc.code or 0)
    args._argv = argv
    try:
        return int(args.func(args))
    except _input_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
