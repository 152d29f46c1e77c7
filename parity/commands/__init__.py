"""`python -m parity <command>`: the command layer of the harness.

Commands (each has --help): list, diff-profiles, replay, check, golden, trace-diff, inspect,
compare-images, bench-report, docs. Exit codes: 0 everything holds, 1 a check or golden failed (or two
records differ), 2 usage or input error (unknown scenario, unreadable or invalid file, bad
option, no golden directory, a file that cannot be written: disk full, read-only folder), 130 /
143 interrupted by SIGINT / SIGTERM (`parity.commands.signals`). This package is the only layer that parses arguments, reads the
environment (`parity.commands.common`) and maps errors to exit codes (`main`, in one place).

Adding a command: write a module here with `register_<name>(subparsers)` (add a parser, set
`func(args) -> int`) and append the registrar to `COMMAND_REGISTRARS`; commands appear in
`--help` in that order. Every command gets `--verbose` (TensorFlow's C++ log lines, hidden by
default: `common.set_tf_logging`).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from ptycho.atomic import write_error
from ptycho.errors import PtychoError

from ..errors import ParityError
from .bench import register_bench
from .check import register_check, run_check
from .common import EXIT_OK, EXIT_USAGE, add_verbose_option, set_tf_logging
from .docs import register_docs
from .doctor import register_doctor
from .golden import register_golden
from .images import register_images
from .listing import register_diff_profiles, register_list
from .replay import register_replay
from .signals import Terminated, interrupt_exit, terminate_as_interrupt
from .trace import register_trace

#: registrars in --help order; append new commands here
COMMAND_REGISTRARS: list[Callable[[Any], None]] = [
    register_list,
    register_diff_profiles,
    register_replay,
    register_check,
    register_golden,
    register_trace,
    register_doctor,
    register_images,
    register_bench,
    register_docs,
]

#: errors that mean "bad input" (exit 2) when a command raises them
INPUT_ERRORS: tuple[type[BaseException], ...] = (ParityError, PtychoError, FileNotFoundError,
                                                 IsADirectoryError)


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
    for command_parser in sub.choices.values():
        add_verbose_option(command_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (default sys.argv[1:]) and run the command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or usage error (2)
        return int(exc.code or 0)
    args._argv = argv
    set_tf_logging(args.verbose)
    try:
        with terminate_as_interrupt():
            return int(args.func(args))
    except INPUT_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a write that failed outside ptycho.atomic (full disk, read-only)
        typed = write_error(exc.filename, exc) if exc.filename else None
        if typed is None:
            raise
        print(f"error: {typed}", file=sys.stderr)
        return EXIT_USAGE
    except (KeyboardInterrupt, Terminated) as exc:
        code, name = interrupt_exit(exc)
        print(f"error: interrupted by {name}: `python -m parity {args.command}` stopped before "
              "it finished; it wrote no report and no golden for the unfinished work (exit "
              f"{code})", file=sys.stderr)
        return code


__all__ = ["COMMAND_REGISTRARS", "EXIT_OK", "EXIT_USAGE", "build_parser", "main", "run_check"]
