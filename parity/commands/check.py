"""`check`: the PR gate. Replay every scenario x profile, check invariants and goldens, report."""
from __future__ import annotations

import argparse
import datetime as _dt
import pathlib
import shlex
import time

from .. import golden as G
from .. import jsonsafe
from ..checks import PAIR_PROFILES, evaluate_pair
from ..curve_figure import curve_of
from ..local_jobs import auto_jobs, run_local, task_groups
from ..model_cache import ModelCache
from ..progress import PLAIN_STAGE_S
from ..progress import line as progress_line
from ..replay import DEFAULT_MODELS, ReplaySpec, run_replay
from ..report import (ReplayResult, comparison_markdown, comparison_of, default_out_dir,
                      load_plotting, summary_markdown, write_report)
from ..scenarios import TIER_NAMES, all_replays, tier_trains
from ..tolerances import Ledger, LedgerError
from .common import (EXIT_FAIL, EXIT_OK, add_cluster_options, add_golden_dir_option,
                     append_step_summary, faults_from_env, golden_dir)
from .golden import orphan_line, orphans_of


def golden_status(record: dict, directory: pathlib.Path, ledger: Ledger) -> tuple[str, list[str]]:
    """('ok'|'changed'|'missing'|'error', detail lines) of a record against its golden. A
    failure's first line names the golden file, its second the regeneration command."""
    path = G.golden_path(directory, record)
    shown, hint = G.display_path(path), G.regenerate_hint(record, directory)
    if not path.exists():
        return "missing", [f"{shown} does not exist", hint]
    try:
        bad = G.failures(G.compare_golden(G.load_golden(path), record, ledger))
    except (G.GoldenError, LedgerError, jsonsafe.JsonSafeError) as exc:
        return "error", [str(exc), hint]
    if bad:
        keys = ", ".join(r.key for r in bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        return "changed", [f"{shown}: {keys} outside tolerance", hint,
                           *(f"{r.key}: golden {G.fmt_value(r.expected)} vs now {G.fmt_value(r.actual)} "
                             f"({r.verdict}, rel {G.fmt_rel(r.rel_change)}, tol {r.tolerance})" for r in bad)]
    return "ok", []


def orphan_results(directory: pathlib.Path, orphans: list[pathlib.Path]) -> list[ReplayResult]:
    """One failed result per orphan golden of `directory` (golden 'orphan', the error naming
    the file and `golden prune`): a golden no scenario x profile x tier writes fails the check."""
    out = []
    for path in orphans:
        scenario, profile, tier = (path.stem.split("__", 2) + ["", ""])[:3]
        line = orphan_line(path, directory)
        out.append(ReplayResult(scenario, profile, tier, golden="orphan", golden_detail=[line],
                                error=line))
    return out


def add_pair_checks(results: list[ReplayResult], records: list, ledger: Ledger) -> None:
    """The pair checks of a scenario's legacy and current replays (parity.checks.pairs:
    legacy_ratio), appended to the legacy replay's result when both have a record."""
    first, second = PAIR_PROFILES
    by_key = {(r.scenario, r.profile): (r, rec) for r, rec in zip(results, records)}
    for (scenario, profile), (res, rec) in by_key.items():
        other = by_key.get((scenario, second))
        if profile != first or other is None or rec is None or other[1] is None:
            continue
        res.checks.extend(evaluate_pair(rec, other[1], ledger))


def run_check(*, golden_dir: pathlib.Path, tier: str = "tiny", scenarios=None, profiles=None,
              out_dir=None, use_golden: bool = True, seed: int = 1, progress: bool = True,
              faults: tuple[str, ...] = (), command: str = "python -m parity check",
              models: ModelCache = DEFAULT_MODELS, workers: int | None = None,
              scheduler: str | None = None, jobs: int = 1) -> tuple[int, list, pathlib.Path, float]:
    """Replay scenarios x profiles, evaluate invariants (ledger of `golden_dir`) and goldens,
    write the report. Returns (exit code, [ReplayResult], report directory, wall seconds).
    workers / scheduler: run the replays on a dask cluster (parity.distributed: a LocalCluster
    of that many processes on 127.0.0.1 / the scheduler at that address); the telemetry,
    verdicts and report are the serial run's (wall times aside). jobs > 1 (without a cluster):
    the replays on that many spawned local processes (parity.local_jobs.task_groups: a scenario
    per task, a replay per task in a tier that trains; same telemetry, verdicts and report)."""
    t0 = time.perf_counter()
    ledger = G.ledger_of(golden_dir)
    pairs = all_replays(scenarios, profiles, tier)
    out = pathlib.Path(out_dir) if out_dir is not None else default_out_dir()
    specs = [ReplaySpec(scenario=s, profile=p, tier=tier, seed=seed, faults=faults,
                        train=tier_trains(tier)) for s, p in pairs]
    remote = None
    if workers or scheduler:
        from .. import distributed

        with distributed.cluster_client(workers, scheduler) as client:
            remote = distributed.run_replays(client, specs, ledger)
    local = None
    if remote is None and jobs > 1:
        local = run_local(specs, ledger, jobs, on_done=progress_line if progress else None,
                          progress=progress)
        if progress:
            progress_line(f"{len(specs)} replays as {local.tasks} tasks on {local.workers} worker "
                          f"processes: a line as each task ends, then the results in order")
    if local is not None:
        load_plotting()  # this process waits for the workers: load the report's library now
    results, records = [], []
    for i, (scenario, profile) in enumerate(pairs):
        # the replay's own seconds (where it ran), plus this process's work on its outcome
        start = time.perf_counter()
        if remote is not None:
            outcome, replay_s = remote[i]
        elif local is not None:
            outcome, replay_s = next(local)
        else:
            outcome = run_replay(specs[i], ledger, progress=progress, models=models)
            replay_s = time.perf_counter() - start
        t1 = time.perf_counter()
        res = ReplayResult(scenario, profile, tier, checks=list(outcome.checks),
                           error=outcome.error, scalars=outcome.scalars(),
                           comparison=comparison_of((outcome.record or {}).get("values", {}),
                                                    outcome.artifacts),
                           images=outcome.artifacts.get("images"),
                           curve=curve_of((outcome.record or {}).get("values", {})))
        if outcome.record is not None and outcome.record.get("values"):
            tfile = out / "telemetry" / f"{scenario}__{profile}__{tier}.json"
            jsonsafe.write_json(tfile, outcome.record)
            res.telemetry_file = str(tfile.relative_to(out))
            if use_golden and outcome.error is None:
                res.golden, res.golden_detail = golden_status(outcome.record, golden_dir, ledger)
        res.wall_s = replay_s + (time.perf_counter() - t1)
        results.append(res)
        if progress:
            progress_line(f"[{i + 1}/{len(pairs)}] {scenario}/{profile}: {res.status} "
                          f"({res.wall_s:.1f} s)")
        records.append(outcome.record)
    if local is not None:
        for _ in local:  # every outcome was taken: the workers now exit beside the report
            pass
    add_pair_checks(results, records, ledger)
    orphans = orphans_of(golden_dir) if use_golden else []
    results.extend(orphan_results(golden_dir, orphans))
    wall = time.perf_counter() - t0
    meta = {"tier": tier, "seed": seed, "command": command, "golden_dir": str(golden_dir),
            "goldens": use_golden,
            "orphan_goldens": [G.display_path(p) for p in orphans],
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    write_report(out, results, meta=meta, wall_s=wall)
    if local is not None:
        local.wait_exit()
    code = EXIT_FAIL if any(r.failed for r in results) else EXIT_OK
    return code, results, out, wall


def _cmd_check(args) -> int:
    command = "python -m parity " + " ".join(shlex.quote(a) for a in (args._argv or ["check"]))
    code, results, out, wall = run_check(
        golden_dir=golden_dir(args), tier=args.tier, scenarios=args.scenario,
        profiles=args.profile, out_dir=args.out, use_golden=not args.no_golden, seed=args.seed,
        progress=not args.quiet, faults=faults_from_env(), command=command,
        workers=args.workers, scheduler=args.scheduler, jobs=_jobs(args))
    table = summary_markdown(results, wall_s=wall) + golden_failures_markdown(results)
    comparison = comparison_markdown(results)
    if comparison:
        table += "\nPINN vs ePIE vs constant baseline (held-out data):\n\n" + comparison
    print(table, end="")
    print(f"report: {out / 'report.md'}")
    append_step_summary(f"## python -m parity check ({args.tier})\n\n{table}")
    return code


def _jobs(args) -> int:
    """--jobs, else parity.local_jobs.auto_jobs for the selected replays (1 with a cluster)."""
    if args.workers or args.scheduler:
        return 1
    if args.jobs is not None:
        return args.jobs
    specs = [ReplaySpec(scenario=s, profile=p, tier=args.tier)
             for s, p in all_replays(args.scenario, args.profile, args.tier)]
    return auto_jobs(len(task_groups(specs)))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def golden_failures_markdown(results) -> str:
    """The golden failures of a check, one item each naming the file and the way to fix it
    ("" when there is none)."""
    bad = [r for r in results if r.golden in ("changed", "missing", "error", "orphan")]
    if not bad:
        return ""
    items = ["- " + "; ".join(r.golden_detail[:2]) for r in bad]
    return "\ngolden failures:\n\n" + "\n".join(items) + "\n\n"


def register_check(sub) -> None:
    p = sub.add_parser("check", help="the PR gate: replay every scenario x profile, check "
                                     "invariants and goldens, write a report",
                       description="Replay every scenario under both profiles (tiny tier, no "
                                   "training), evaluate the invariants and compare with the "
                                   "goldens under golden/; write report.md, report.json, PNGs "
                                   "and the telemetry into --out; print the summary table (also "
                                   "appended to $GITHUB_STEP_SUMMARY when set). Exit 0 when "
                                   "everything holds, 1 when a check or golden fails, 2 on a "
                                   "usage or input error.")
    p.add_argument("--tier", default="tiny", choices=TIER_NAMES,
                   help="size tier (default tiny, no training; 'trained' trains the main "
                        "scenarios on a held-out object, <= 10 min on 2 cores; goldens exist "
                        "for tiny and trained)")
    p.add_argument("--scenario", action="append", help="only this scenario (repeatable)")
    p.add_argument("--profile", action="append", help="only this profile (repeatable)")
    p.add_argument("--seed", type=int, default=1, help="seed (goldens are for seed 1)")
    p.add_argument("--out", type=pathlib.Path, help="report directory (default reports/<UTC stamp>/)")
    add_golden_dir_option(p)
    p.add_argument("--no-golden", action="store_true", help="skip the golden comparison")
    p.add_argument("--quiet", action="store_true",
                   help="no progress (a bar per replay on a terminal; elsewhere one line per "
                        f"replay and per stage of {PLAIN_STAGE_S:g} s or more, on stderr)")
    p.add_argument("--jobs", type=_positive_int, metavar="N",
                   help="replay on N local worker processes, a scenario each (same results; "
                        "default: one per core up to the number of scenarios, 1 for tiers that "
                        "train, where two trainings contend for the cores; 1 runs in this "
                        "process); ignored with --workers/--scheduler")
    add_cluster_options(p, "run the replays",
                        "e.g. tcp://127.0.0.1:8786; workers need this project installed")
    p.set_defaults(func=_cmd_check)
