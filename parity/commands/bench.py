"""`bench-report BENCH.json`: the ratio table of a pytest-benchmark run."""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any

from ..bench_report import collect_rows, load_benchmarks, render_markdown
from .common import EXIT_FAIL, EXIT_OK


def _cmd_bench_report(args) -> int:
    data = load_benchmarks(args.bench_json)
    rows = collect_rows(data)
    if args.json:
        print(json.dumps({"rows": rows}, indent=2, allow_nan=False))
    else:
        sys.stdout.write(render_markdown(data, rows))
    if args.strict and any(r["met"] is False for r in rows):
        return EXIT_FAIL
    return EXIT_OK


def register_bench(subparsers: Any) -> argparse.ArgumentParser:
    """Add `bench-report BENCH.json [--json] [--strict]`."""
    p = subparsers.add_parser(
        "bench-report", help="ratio table (ours vs roofline, goals) of a pytest-benchmark JSON",
        description="Print the ratio table of a `pytest -m bench --benchmark-json=BENCH.json` "
                    "run as Markdown: metric, ours, roofline (measured in the same run), ratio, "
                    "goal, met?. Exit 0; with --strict 1 when a goal is missed; 2 on bad input.")
    p.add_argument("bench_json", type=pathlib.Path, metavar="BENCH.json",
                   help="pytest-benchmark JSON (--benchmark-json, or a file under .benchmarks/)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of Markdown")
    p.add_argument("--strict", action="store_true", help="exit 1 when any goal is missed")
    p.set_defaults(func=_cmd_bench_report)
    return p
