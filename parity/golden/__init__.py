"""Golden telemetry files: format, provenance, comparison with the ledger, and update.

Modules (every name re-exported here): `files` (directory, names, read/write, orphans),
`provenance`, `compare` (key by key with the ledger, the difference table), `hints` (the
regeneration commands a failure names), `update` (the review-friendly update and its table).

A golden is one readable JSON file per scenario x profile x tier,
``<golden dir>/<scenario>__<profile>__<tier>.json``::

    {"schema": "parity-golden/1", "scenario": ..., "profile": ..., "tier": ...,
     "provenance": {...},          # generator command, git commit, versions, UTC date; NOT compared
     "values": {"<stage>.<key>": value, ...}}   # stage order kept, NaN/Inf tagged (parity.jsonsafe)

Values are compared key by key with the tolerance ledger (``<golden dir>/tolerances.toml``):
floats by the first ``[golden]`` glob rule matching ``"<stage>.<key>"``
(``|a - e| <= atol + rtol*|e|``); integers, strings, bools, null and integer lists (shapes)
always exactly. Missing and extra keys fail. The golden directory of a checkout is found from
the current directory upward (`find_golden_dir`), like pytest's rootdir.

Review flow: `update_goldens` writes only what moved beyond tolerance, and added/removed keys;
every value within tolerance keeps its stored value (`merge_golden`), so one moved value is a
one-value diff of the file (plus provenance). `update_table` sorts beyond-tolerance rows first
and ends with `update_summary`. `orphan_goldens` lists the files no expected stem names, and
`regenerate_hint` is the line every golden failure ends with (file path, exact commands).
"""
from .compare import (KeyResult, compare, compare_golden, compare_value, failures, fmt_rel,
                      fmt_value, results_table, value_sides)
from .files import (GOLDEN_DIR_NAME, GOLDEN_GLOB, GoldenError, find_golden_dir, golden_files,
                    golden_path, golden_stem, ledger_of, load_golden, make_golden, orphan_goldens,
                    parse_golden, write_golden)
from .hints import (GOLDEN_TEST, REGENERATE, display_path, is_default_golden_dir, pytest_command,
                    regenerate_command, regenerate_hint)
from .provenance import PROVENANCE_PACKAGES, portable_command, provenance
from .update import (FileUpdate, merge_golden, merged_values, update_counts, update_goldens,
                     update_summary, update_table)

__all__ = [
    "GOLDEN_DIR_NAME", "GOLDEN_GLOB", "GOLDEN_TEST", "PROVENANCE_PACKAGES", "REGENERATE",
    "FileUpdate", "GoldenError", "KeyResult", "compare", "compare_golden", "compare_value",
    "display_path", "failures", "find_golden_dir", "fmt_rel", "fmt_value", "golden_files",
    "golden_path", "golden_stem", "is_default_golden_dir", "ledger_of", "load_golden",
    "make_golden", "merge_golden", "merged_values", "orphan_goldens", "parse_golden",
    "portable_command", "provenance", "pytest_command", "regenerate_command", "regenerate_hint", "results_table",
    "update_counts", "update_goldens", "update_summary", "update_table", "value_sides",
    "write_golden",
]
