"""`golden update|show|diff|prune`: regenerate, print, check or prune the golden files.

The review flow: `golden update` rewrites only the values that moved beyond tolerance (and
added/removed keys) and prints a table sorted beyond-tolerance first that ends with a summary
line; `--dry-run` prints it without writing. `golden prune` removes orphans: golden files that no
scenario x profile x tier of the registry writes any more (`registry_stems`); `check` fails on
them.
"""
from __future__ import annotations

import argparse
import pathlib
import shlex
import sys
from typing import Any

from ptycho.errors import WriteError

from .. import golden_lock
from ..golden import (GoldenError, compare_golden, display_path, failures, fmt_value, golden_path,
                      is_default_golden_dir, ledger_of, load_golden, orphan_goldens,
                      regenerate_hint, results_table, update_goldens, update_table)
from ..records import coerce_record, read_record
from ..replay import StageError, replay_all
from ..scenarios import TIER_NAMES, all_replays
from .common import EXIT_FAIL, EXIT_OK, faults_from_env, golden_dir

PRUNE = "python -m parity golden prune"


def registry_stems() -> set[str]:
    """Every golden stem the registry can write: scenario x profile (`all_replays`) x tier
    (`TIER_NAMES`; `golden update --tier T` writes any of them)."""
    return {f"{s}__{p}__{t}" for s, p in all_replays() for t in TIER_NAMES}


def orphans_of(directory: pathlib.Path) -> list[pathlib.Path]:
    """The orphan goldens of `directory`: files no scenario x profile x tier writes."""
    return orphan_goldens(directory, registry_stems())


def prune_command(directory: pathlib.Path) -> str:
    """The command removing the orphans of `directory` (with --golden-dir off the default)."""
    opt = "" if is_default_golden_dir(directory) else f" --golden-dir {display_path(directory)}"
    return f"{PRUNE}{opt} --yes"


def orphan_line(path: pathlib.Path, directory: pathlib.Path) -> str:
    """One line naming an orphan golden and how to remove it."""
    return (f"orphan golden {display_path(path)}: no scenario x profile x tier of the registry "
            f"writes it; remove it with `{prune_command(directory)}`")


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


def _command_line(args: argparse.Namespace) -> str:
    return shlex.join(["python", "-m", "parity", *(getattr(args, "_argv", None) or ["golden", "update"])])


def _write_goldens(records: list, directory: pathlib.Path, args: argparse.Namespace,
                   lock: golden_lock.UpdateLock) -> list:
    """update_goldens one record at a time under the directory's update lock, journaling each
    golden file before and after it is replaced (parity.golden_lock)."""
    ledger = ledger_of(directory)
    updates = []
    try:
        for record in records:
            name = golden_path(directory, record).name
            lock.start_writing(name)
            (update,) = update_goldens([record], directory, ledger=ledger, force=args.force)
            if update.written:
                lock.done_writing(name)
            else:
                lock.writing = None
            updates.append(update)
    except BaseException as exc:
        if isinstance(exc, WriteError):  # an atomic write that failed left its file unchanged
            lock.writing = None
        done = f": {', '.join(lock.written)}; its journal {lock.path} stays until the next " \
               "update" if lock.written else ""
        print(f"error: golden update stopped after it wrote {len(lock.written)} of "
              f"{len(records)} golden files{done}", file=sys.stderr)
        raise
    return updates


def _note_interrupted(lock: golden_lock.UpdateLock) -> None:
    """Say that an earlier update was interrupted (the journal it left) and what it wrote."""
    if lock.previous is None:
        return
    temps = f"; removed its temp files {', '.join(lock.removed_temps)}" if lock.removed_temps else ""
    print(f"note: an earlier golden update was interrupted: {lock.previous.holder()} "
          f"{lock.previous.files_line()}; this update rewrites the goldens it covers - review "
          f"`git diff` of the golden directory{temps}\n")


def _cmd_update(args: argparse.Namespace) -> int:
    directory = golden_dir(args)
    if args.dry_run:
        records = [coerce_record(r) for r in _records_from_args(args, directory)]
        updates = update_goldens(records, directory, ledger=ledger_of(directory),
                                 force=args.force, dry_run=True)
    else:  # the lock is held from before the replay: a second update stops at once
        with golden_lock.update_lock(directory, _command_line(args)) as lock:
            _note_interrupted(lock)
            records = [coerce_record(r) for r in _records_from_args(args, directory)]
            updates = _write_goldens(records, directory, args, lock)
    orphans = orphans_of(directory)
    if orphans:
        print(f"note: {len(orphans)} orphan golden(s) in {display_path(directory)} "
              f"(`{prune_command(directory)}` removes them): "
              + ", ".join(p.name for p in orphans) + "\n")
    print(update_table(updates, dry_run=args.dry_run))
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
            print(f"FAIL {display_path(path)}: missing golden; {regenerate_hint(rec, directory)}")
            status = EXIT_FAIL
            continue
        try:
            golden = load_golden(path)
        except GoldenError as exc:  # corrupt/foreign -> exit 2, naming the way out
            raise GoldenError(exc.source, f"{exc.problem}; {regenerate_hint(rec, directory)}") from exc
        bad = failures(compare_golden(golden, rec, ledger))
        print(f"{'FAIL' if bad else 'ok  '} {display_path(path)}: {len(bad)} value(s) outside tolerance")
        if bad:
            print(results_table(bad))
            print(regenerate_hint(rec, directory))
            status = EXIT_FAIL
    return status


def _confirm(paths: list[pathlib.Path]) -> bool:
    """Ask on the terminal whether to remove `paths`; False when stdin is not a terminal."""
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"remove these {len(paths)} file(s)? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _cmd_prune(args: argparse.Namespace) -> int:
    directory = golden_dir(args)
    orphans = orphans_of(directory)
    if not orphans:
        print(f"no orphan goldens in {display_path(directory)}")
        return EXIT_OK
    print(f"{len(orphans)} orphan golden(s) in {display_path(directory)} (no scenario x profile "
          "x tier of the registry writes them):")
    for path in orphans:
        print(f"- {display_path(path)}")
    if args.dry_run or not (args.yes or _confirm(orphans)):
        print("nothing removed" + ("" if args.dry_run else "; pass --yes to remove them"))
        return EXIT_FAIL
    for path in orphans:
        path.unlink()
    print(f"removed {len(orphans)} file(s)")
    return EXIT_OK


def _replay_guard(func):
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except ReplayFailed as exc:
            print(f"error: replay failed, no golden written: {exc}", file=sys.stderr)
            return EXIT_FAIL
    return run


def register_golden(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``golden update|show|diff|prune``. Exit 0 ok, 1 a golden differs/missing (or orphans
    remain), 2 input error."""
    p = subparsers.add_parser("golden", help="golden telemetry files: update, show, diff, prune",
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

    up = sub.add_parser("update", help="replay and (re)write goldens: only values beyond tolerance change; "
                                       "print the review table")
    sources(up)
    up.add_argument("--force", action="store_true",
                    help="rewrite every golden with every fresh value, even values within tolerance")
    up.add_argument("--dry-run", action="store_true", help="print the review table, write nothing")
    up.set_defaults(func=_replay_guard(_cmd_update))
    sh = sub.add_parser("show", help="print one golden (provenance and values)")
    sh.add_argument("name", help="golden file path or stem <scenario>__<profile>__<tier>")
    directory(sh)
    sh.set_defaults(func=_cmd_show)
    df = sub.add_parser("diff", help="compare records (or a fresh replay) with their goldens; exit 1 on a difference")
    sources(df)
    df.set_defaults(func=_replay_guard(_cmd_diff))
    pr = sub.add_parser("prune",
                        help="list and remove orphan goldens (no scenario x profile x tier writes them)",
                        description="List the golden files that no scenario x profile x tier of the "
                                    "registry writes any more, then remove them: with --yes, or after "
                                    "confirmation on a terminal. Exit 0 when no orphan is left, 1 when "
                                    "orphans remain (--dry-run, or not confirmed).")
    what = pr.add_mutually_exclusive_group()
    what.add_argument("--dry-run", action="store_true", help="only list the orphans")
    what.add_argument("--yes", "-y", action="store_true", help="remove them without asking")
    directory(pr)
    pr.set_defaults(func=_cmd_prune)
    return p
