"""`docs`: write (or, with --check, compare) the generated tables of checks and bounds in
README.md and docs/design.md (parity.doc_tables)."""
from __future__ import annotations

import sys

from ..doc_tables import DOC_FILES, render_all, stale_files, write_files
from ..golden import golden_files, ledger_of, load_golden
from .common import EXIT_FAIL, EXIT_OK, add_golden_dir_option, golden_dir


def _cmd_docs(args) -> int:
    gdir = golden_dir(args)
    root = gdir.parent
    tables = render_all(ledger_of(gdir), [load_golden(p) for p in golden_files(gdir)])
    if args.check:
        stale = stale_files(root, tables)
        for path in stale:
            print(f"{path}: generated tables differ; run `python -m parity docs`", file=sys.stderr)
        return EXIT_FAIL if stale else EXIT_OK
    for path in write_files(root, tables):
        print(f"rewrote the generated tables of {path}")
    return EXIT_OK


def register_docs(sub) -> None:
    p = sub.add_parser(
        "docs", help="regenerate the tables of checks and bounds in the docs",
        description=f"Rewrite the tables of checks and bounds between their markers in "
                    f"{' and '.join(DOC_FILES)} (the checkout holding the golden directory) from "
                    "the check registry, the tolerance ledger and the goldens (which bounds each "
                    "check reads). --check: exit 1 when a file differs, write nothing.")
    add_golden_dir_option(p)
    p.add_argument("--check", action="store_true", help="compare only; exit 1 when stale")
    p.set_defaults(func=_cmd_docs)
