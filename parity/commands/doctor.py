"""`inspect FILE`: the dataset doctor (contract + scale diagnostics of a user's dataset)."""
from __future__ import annotations

import pathlib
import sys

from .. import jsonsafe
from ..doctor import format_report, inspect_dataset
from .common import EXIT_OK, EXIT_USAGE, add_cluster_options


def _cmd_inspect(args) -> int:
    options = {}
    if args.translation_sign != 1:
        options["translation_sign"] = args.translation_sign
    if args.entry:
        options["entry"] = args.entry
    if args.clip_negative:
        options["clip_negative"] = True
    if args.scheduler or args.workers:
        from .. import distributed

        with distributed.cluster_client(args.workers, args.scheduler), \
                distributed.work_on_cluster(args.scheduler or "local", f"E of {args.file}"):
            report = inspect_dataset(args.file, nphotons=args.nphotons, gridsize=args.gridsize,
                                     out_dir=args.out, dask_rows=args.dask_rows, **options)
    else:
        report = inspect_dataset(args.file, nphotons=args.nphotons, gridsize=args.gridsize,
                                 out_dir=args.out, **options)
    if args.json:
        print(jsonsafe.dumps(report), end="")
    else:
        print(format_report(report), end="")
    if not report["contract"]["ok"]:
        c = report["contract"]
        print(f"error: data contract violated at key '{c['key']}': {c['problem']}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def register_doctor(sub) -> None:
    p = sub.add_parser("inspect", help="dataset doctor: contract + scale diagnostics of a "
                                       "dataset (NPZ, CXI/NeXus HDF5, zarr)",
                       description="Validate a dataset against the data contract and print "
                                   "its scale diagnostics (no ground truth needed): E, g, s, "
                                   "s_cf and s/s_cf, the implied object amplitude vs each "
                                   "activation's ceiling, the canvas a grouping needs, NaN / "
                                   "Inf / negative / all-zero pattern counts; PNGs of the mean "
                                   "diffraction pattern and of the scan. The format is "
                                   "recognized by content (NPZ, CXI/NeXus HDF5, zarr store); "
                                   "the frames are streamed, never loaded whole. Exit 2 when "
                                   "the file violates the contract.")
    p.add_argument("file", type=pathlib.Path,
                   help="dataset: NPZ (xcoords, ycoords, diff3d, probeGuess), CXI/NeXus HDF5 "
                        "(.cxi/.h5/.nxs) or a zarr store")
    p.add_argument("--nphotons", type=float, help="photons per pattern (default: metadata)")
    p.add_argument("--gridsize", type=int, default=2, help="gridsize for the canvas estimate (default 2)")
    p.add_argument("--out", type=pathlib.Path, help="directory for the PNGs (default reports/inspect-<stamp>/)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--translation-sign", type=int, choices=(1, -1), default=1,
                   help="CXI: x, y = SIGN * translation / dx (default +1; -1 for the "
                        "probe-on-sample frame of files that store sample motion)")
    p.add_argument("--entry", help="CXI: the NXentry group (default /entry_1)")
    p.add_argument("--clip-negative", action="store_true",
                   help="CXI: negative intensities become 0 instead of failing the contract")
    add_cluster_options(p, "compute E", "the workers must be able to read FILE at the same path")
    p.add_argument("--dask-rows", type=int, default=4096, metavar="FRAMES",
                   help="frames per dask block with --workers/--scheduler (default 4096)")
    p.set_defaults(func=_cmd_inspect)
