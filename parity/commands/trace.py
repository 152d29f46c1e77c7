"""`trace-diff A.json B.json`: the first stage where two telemetry records diverge."""
from __future__ import annotations

import argparse
import pathlib
from typing import Any

from .. import jsonsafe
from ..errors import ParityError
from ..images import load_scalars
from ..records import read_record
from ..trace import DEFAULT_LADDER, SPEC_KEYS, first_divergence, format_trace
from .common import EXIT_FAIL, EXIT_OK, add_golden_dir_option, ledger


class LadderError(ParityError):
    """--ladder is not a list of positive numbers."""

    name_attr = "option"


def parse_ladder(tokens: list[str]) -> list[float]:
    """Rungs of --ladder (space or comma separated, each > 0)."""
    try:
        rungs = [float(t) for tok in tokens for t in tok.split(",") if t]
    except ValueError as exc:
        raise LadderError("--ladder", f"takes numbers, got {tokens}") from exc
    if not rungs or min(rungs) <= 0:
        raise LadderError("--ladder", "takes positive numbers")
    return rungs


def _cmd_trace_diff(args: argparse.Namespace) -> int:
    ladder = parse_ladder(args.ladder) if args.ladder else DEFAULT_LADDER
    a, b = read_record(args.a), read_record(args.b)
    scalars = load_scalars(args.scalars) if args.scalars else None
    stages = [s for tok in args.stages for s in tok.split(",") if s] if args.stages else None
    result = first_divergence(a, b, ladder, attribution_rtol=ledger(args).test_tolerance("gap.attribution"),
                              stages=stages, ignore=SPEC_KEYS + tuple(args.ignore or ()), scalars=scalars)
    if args.json:
        print(jsonsafe.dumps(result.to_dict()), end="")
    else:
        print(format_trace(result, (pathlib.Path(args.a).name, pathlib.Path(args.b).name), top=args.top))
    return EXIT_OK if result.identical else EXIT_FAIL


def register_trace(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``trace-diff A.json B.json``: 0 no divergence, 1 divergence, 2 usage/input error."""
    p = subparsers.add_parser(
        "trace-diff", help="first stage where two telemetry records diverge, with ratio attribution",
        description="Walk two telemetry records (or goldens) in stage order; report the first key beyond each "
                    "rung of the tolerance ladder, structural differences, and attribute the ratio B/A to the "
                    "records' scalars. Exit 0 identical, 1 divergence, 2 input error.",
        epilog="Legacy vs current: `trace-diff current.json legacy.json` reports B/A = legacy/"
               "current. With the grouping held fixed (`replay --grouping current`) the first "
               "divergence is stage 'labels' with ratio g; without, it is stage 'group'.")
    p.add_argument("a", type=pathlib.Path, help="record A (telemetry JSON or golden)")
    p.add_argument("b", type=pathlib.Path, help="record B")
    p.add_argument("--ladder", nargs="+", help="relative-difference rungs (default 1e-6 1e-4 1e-2)")
    p.add_argument("--stages", action="append", help="explicit stage order (comma separated)")
    p.add_argument("--ignore", action="append", help="glob of keys to skip (repeatable; the specification measurements *.spec.* are always skipped)")
    p.add_argument("--scalars", type=pathlib.Path, help="extra named scalars, JSON {name: value}")
    p.add_argument("--top", type=int, default=5, help="attribution matches shown per rung")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    add_golden_dir_option(p)
    p.set_defaults(func=_cmd_trace_diff)
    return p
