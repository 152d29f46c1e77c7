"""`bench-report BENCH.json [NEW.json]`: the ratio table of a pytest-benchmark run, or the
comparison of the roofline ratios of two runs (a machine-independent regression gate)."""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any

from ..bench_report import (DEFAULT_THRESHOLD, BenchReportError, check_threshold, collect_rows,
                            compare_runs, load_benchmarks, render_comparison, render_markdown)
from .common import EXIT_FAIL, EXIT_OK


def _threshold(text: str) -> float:
    try:
        return check_threshold(text)
    except BenchReportError as exc:
        raise argparse.ArgumentTypeError(exc.problem) from None


def _cmd_bench_report(args) -> int:
    data = load_benchmarks(args.bench_json)
    rows = collect_rows(data)
    if args.new_json is None:
        if args.json:
            print(json.dumps({"rows": rows}, indent=2, allow_nan=False))
        else:
            sys.stdout.write(render_markdown(data, rows))
        return EXIT_FAIL if args.strict and any(r["met"] is False for r in rows) else EXIT_OK
    new = load_benchmarks(args.new_json)
    new_rows = collect_rows(new)
    comparisons = compare_runs(rows, new_rows, threshold=args.threshold)
    if args.json:
        print(json.dumps({"threshold": args.threshold, "comparisons": comparisons, "rows": new_rows},
                         indent=2, allow_nan=False))
    else:
        sys.stdout.write(render_comparison(data, new, comparisons, threshold=args.threshold,
                                           base_name=args.bench_json, new_name=args.new_json))
    regressed = any(c["verdict"] == "regressed" for c in comparisons)
    missed = args.strict and any(r["met"] is False for r in new_rows)
    return EXIT_FAIL if regressed or missed else EXIT_OK


def register_bench(subparsers: Any) -> argparse.ArgumentParser:
    """Add `bench-report BENCH.json [NEW.json] [--threshold F] [--json] [--strict]`."""
    p = subparsers.add_parser(
        "bench-report", help="ratio table (ours vs roofline, goals) of a pytest-benchmark JSON, "
                             "or the ratio comparison of two runs",
        description="With one file: print the ratio table of a `pytest -m bench "
                    "--benchmark-json=BENCH.json` run as Markdown: metric, ours, roofline "
                    "(measured in the same run), ratio, goal, met?; exit 0, with --strict 1 when "
                    "a goal is missed. With two files BASE.json NEW.json: compare their roofline "
                    "ratios row by row (machine-independent, so two runs on different machines "
                    "compare) and exit 1 when a ratio got worse by more than --threshold (time "
                    "and MiB ratios: lower is better; GFLOP/s ratios: higher is better). Exit 2 "
                    "on bad input.")
    p.add_argument("bench_json", type=pathlib.Path, metavar="BENCH.json",
                   help="pytest-benchmark JSON (--benchmark-json, or a file under .benchmarks/); "
                        "the base run when NEW.json is given")
    p.add_argument("new_json", type=pathlib.Path, metavar="NEW.json", nargs="?",
                   help="a second run to compare with BENCH.json (the base)")
    p.add_argument("--threshold", type=_threshold, default=DEFAULT_THRESHOLD, metavar="F",
                   help="two-run form: fail when a ratio got worse by more than this fraction "
                        f"(default {DEFAULT_THRESHOLD:g} = {DEFAULT_THRESHOLD * 100:g}%%)")
    p.add_argument("--json", action="store_true", help="print the rows (and comparisons) as JSON")
    p.add_argument("--strict", action="store_true", help="also exit 1 when a goal is missed (in NEW.json)")
    p.set_defaults(func=_cmd_bench_report)
    return p
