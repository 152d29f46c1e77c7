"""`compare-images A B`: image-pair comparison with scale-gap attribution."""
from __future__ import annotations

import argparse
import dataclasses
import pathlib
from typing import Any

from ptycho import atomic

from .. import jsonsafe
from ..attribution import attribute_ratio
from ..images import compare_images, load_image, load_scalars, report_markdown, safe_ratio, verdict, write_pngs
from .common import EXIT_FAIL, EXIT_OK, add_golden_dir_option, ledger


def parse_shape(text: str) -> tuple[int, int]:
    """'H,W' -> (H, W) positive ints (argparse type of --shape)."""
    try:
        dims = tuple(int(t) for t in text.replace("x", ",").split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--shape must be H,W, got {text!r}") from exc
    if len(dims) != 2 or min(dims) <= 0:
        raise argparse.ArgumentTypeError(f"--shape must be two positive integers H,W, got {text!r}")
    return dims  # type: ignore[return-value]


def _cmd_compare_images(args: argparse.Namespace) -> int:
    a = load_image(args.a, key=args.key, shape=args.shape)
    b = load_image(args.b, key=args.key_b or args.key, shape=args.shape)
    scalars = load_scalars(args.scalars) if args.scalars else {}
    cmp = compare_images(a, b)
    led = ledger(args)
    rtol = led.test_tolerance("gap.attribution")
    v = verdict(cmp, led, r_min=args.r_min, sum_bound=args.sum_bound)
    attributions = {"sum ratio": attribute_ratio(cmp.full.sum_ratio, scalars, rel_tol=rtol) if scalars else []}
    if scalars and abs(safe_ratio(cmp.full.l2_ratio, cmp.full.sum_ratio) - 1) > rtol:
        attributions["L2 ratio"] = attribute_ratio(cmp.full.l2_ratio, scalars, rel_tol=rtol)
    names = (pathlib.Path(str(args.a)).name, pathlib.Path(str(args.b)).name)
    text = report_markdown(cmp, v, attributions, names, top=args.top)
    payload = {"verdict": dataclasses.asdict(v), "comparison": cmp.to_dict(), "scalars": scalars,
               "attributions": {k: [dataclasses.asdict(m) for m in ms] for k, ms in attributions.items()}}
    if args.out:
        out = pathlib.Path(args.out)
        atomic.write_text(out / "report.md", text + "\n")
        jsonsafe.write_json(out / "comparison.json", payload)
        write_pngs(a, b, cmp, out, names)
    print(jsonsafe.dumps(payload) if args.json else text)
    return EXIT_OK if v.passed else EXIT_FAIL


def register_images(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``compare-images A B [--scalars S.json] [--out DIR] [--shape H,W] [--key K]``;
    sets ``func(args) -> exit code``: 0 pass, 1 fail, 2 usage/input error."""
    p = subparsers.add_parser(
        "compare-images", help="compare two images; attribute a scale gap to configuration scalars",
        description="Compare two images (npy, npz[:key], raw float32 with --shape). PASS needs both "
                    "|Pearson r| >= r_min and |sum ratio - 1| <= bound. Exit 0 pass, 1 fail, 2 input error.")
    p.add_argument("a", help="image A (.npy, .npz, FILE.npz:KEY, or raw float32 with --shape)")
    p.add_argument("b", help="image B (same forms)")
    p.add_argument("--scalars", type=pathlib.Path, help="JSON {name: value} or a telemetry record, for attribution")
    p.add_argument("--out", type=pathlib.Path, help="write report.md, comparison.json and PNGs here")
    p.add_argument("--shape", type=parse_shape, help="H,W of raw float32 inputs")
    p.add_argument("--key", help="npz key (both images unless --key-b)")
    p.add_argument("--key-b", help="npz key of image B")
    p.add_argument("--r-min", type=float, help="override the ledger's minimum |r|")
    p.add_argument("--sum-bound", type=float, help="override the ledger's bound on |sum ratio - 1|")
    p.add_argument("--top", type=int, default=10, help="attribution matches shown (all are in --json/--out)")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    add_golden_dir_option(p)
    p.set_defaults(func=_cmd_compare_images)
    return p
