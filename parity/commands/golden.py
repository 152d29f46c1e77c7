"""`golden update|show|diff`: regenerate, print or check the golden telemetry files."""
from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Any

from ..golden import (compare_golden, failures, fmt_value, golden_path, ledger_of, load_golden,
                      results_table, update_goldens, update_table)
from ..records import coerce_record, read_record
from ..replay import StageError, replay_all
from .common import EXIT_FAIL, EXIT_OK, faults_from_env, golden_dir


class ReplayFailed(RuntimeError):
    """The replay behind `golden update|diff` did not run through; no golden is written."""


def _records_from_args(args: argparse.Namespace, directory: pathlib.Path) -> list[dict[str, Any]]:
    """Records from the given files, or from a fresh replay of the scenarios."""
    if args.records:
        return [read_record(p) for p in args.records]
    try:
        records = replay_all(ledger_of(directory), tier=args.tier, scenarios=args.scenario or None,
                             profiles=args.profile or None, progress=True, faults=faults_from_env())
    except (StageError, RuntimeError) as exc:
        raise ReplayFailed(str(exc)) from exc
    return [coerce_record(r) for r in records]


def _resolve_golden(arg: str, directory: pathlib.Path) -> pathlib.Path:
    p = pathlib.Path(arg)
    if p.suffix == ".json" or p.exists():
        return p
    return directory / f"{arg}.json"


def _cmd_update(args: argparse.Namespace) -> int:
    directory = golden_dir(args)
    records = _records_from_args(args, directory)
    updates = update_goldens(records, directory, ledger=ledger_of(directory), force=args.force)
    print(update_table(updates))
    return EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    golden = load_golden(_resolve_golden(args.name, golden_dir(args)))
    print(f"# {golden['scenario']} / {golden['profile']} / {golden['tier']}\n")
    for k, v in golden["provenance"].items():
        print(f"- {k}: {v}")
    print("\n| key | value |\n|---|---|")
    for k, v in golden["values"].items():
        print(f"| `{k}` | {fmt_value(v)} |")
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    directory = golden_dir(args)
    ledger = ledger_of(directory)
    records = _records_from_args(args, directory)
    status = EXIT_OK
    for rec in records:
        path = golden_path(directory, rec)
        if not path.exists():
            print(f"FAIL {path.name}: missing golden")
            status = EXIT_FAIL
            continue
        golden = load_golden(path)  # corrupt/foreign: GoldenError -> exit 2
        bad = failures(compare_golden(golden, rec, ledger))
        print(f"{'FAIL' if bad else 'ok  '} {path.name}: {len(bad)} value(s) outside tolerance")
        if bad:
            print(results_table(bad))
            status = EXIT_FAIL
    return status


def _replay_guard(func):
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except ReplayFailed as exc:
            print(f"error: replay failed, no golden written: {exc}", file=sys.stderr)
            return EXIT_FAIL
    return run


def register_golden(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``golden update|show|diff``. Exit 0 ok, 1 a golden differs/missing, 2 input error."""
    p = subparsers.add_parser("golden", help="golden telemetry files: update, show, diff",
                              description="Regenerate, show or check the golden telemetry JSON under golden/.")
    sub = p.add_subparsers(dest="golden_command", required=True)

    def directory(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--golden-dir", "--dir", dest="golden_dir", type=pathlib.Path,
                        help="golden directory with tolerances.toml (default: $PARITY_GOLDEN_DIR, else "
                             "the first golden/ from the current directory upward)")

    def sources(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("records", nargs="*", type=pathlib.Path,
                        help="telemetry record JSON files (default: replay the scenarios)")
        sp.add_argument("--tier", default="tiny", help="scenario size tier to replay (default tiny)")
        sp.add_argument("--scenario", action="append", help="replay only this scenario (repeatable)")
        sp.add_argument("--profile", action="append", help="replay only this profile (repeatable)")
        directory(sp)

    up = sub.add_parser("update", help="replay and (re)write goldens; print old -> new of every change")
    sources(up)
    up.add_argument("--force", action="store_true", help="rewrite even goldens that match within tolerance")
    up.set_defaults(func=_replay_guard(_cmd_update))
    sh = sub.add_parser("show", help="print one golden (provenance and values)")
    sh.add_argument("name", help="golden file path or stem <scenario>__<profile>__<tier>")
    directory(sh)
    sh.set_defaults(func=_cmd_show)
    df = sub.add_parser("diff", help="compare records (or a fresh replay) with their goldens; exit 1 on a difference")
    sources(df)
    df.set_defaults(func=_replay_guard(_cmd_diff))
    return p
