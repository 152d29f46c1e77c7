"""The documentation's tables of checks and bounds, generated from the check registry and the
tolerance ledger, so that README.md and docs/design.md cannot drift from the code.

A table lives between two marker lines in a Markdown file,

    <!-- BEGIN GENERATED <name> (python -m parity docs) -->
    ...
    <!-- END GENERATED <name> -->

and `render_table(name, ledger, records)` writes what belongs there: one row per registered
check of the table's kinds (`parity.checks.registered`), in registration order, with its stage,
the first paragraph of its docstring (its specification) and the ledger bounds it reads. Which
bounds a check reads is measured, not declared: every check is run on the committed golden
records (`parity.checks` functions read their bounds through `CheckContext.tol`) with a context
that records the names; a check that applies to no golden record shows none. The command
`python -m parity docs` rewrites the tables in place, `--check` only compares
(tests/parity/test_doc_tables.py).
"""
from __future__ import annotations

import dataclasses
import pathlib
import re
from typing import Any, Iterable, Mapping

from .checks import CheckContext, registered
from .checks.registry import PAIR_PROFILES
from .profiles import get_profile
from .records import stage_of
from .tolerances import Ledger

#: table name -> the check kinds it lists
TABLES: Mapping[str, tuple[str, ...]] = {
    "gate-checks": ("stage", "record", "path"),
    "trained-checks": ("trained", "pair"),
}
#: the files whose marked tables `python -m parity docs` maintains (relative to the checkout)
DOC_FILES = ("README.md", "docs/design.md")
#: the ledger section the checks' bounds come from
BOUNDS_SECTION = "parity.invariants"
_TOL_KEYS = ("rtol", "atol", "value")


def begin_marker(name: str) -> str:
    return f"<!-- BEGIN GENERATED {name} (python -m parity docs) -->"


def end_marker(name: str) -> str:
    return f"<!-- END GENERATED {name} -->"


@dataclasses.dataclass(frozen=True)
class _Recording(CheckContext):
    """A CheckContext that notes every bound name a check reads."""

    read: list = dataclasses.field(default_factory=list)

    def tol(self, name: str) -> float:
        self.read.append(name)
        return super().tol(name)


def bounds_read(records: Iterable[Mapping[str, Any]], ledger: Ledger) -> dict[str, list[str]]:
    """check name -> the ledger bounds (names under [tests.parity.invariants]) it reads when run
    on `records` (telemetry records or goldens: {'meta'|top level: scenario, profile, tier;
    'values'}), in first-read order. Pair checks run on the PAIR_PROFILES records of one
    scenario and tier. A check's own failures are irrelevant here: only the reads count."""
    records = list(records)
    read: dict[str, list[str]] = {name: [] for name in registered()}

    def note(name: str, ctx: _Recording) -> None:
        for bound in ctx.read:
            if bound not in read[name]:
                read[name].append(bound)

    for rec in records:
        values, head = rec["values"], rec.get("meta", rec)
        recorded = {stage_of(k) for k in values}
        for name, entry in registered("stage", "record", "trained").items():
            if entry.kind == "stage" and entry.stage not in recorded:
                continue
            ctx = _Recording(get_profile(head["profile"]), ledger)
            entry.run(values, ctx)
            note(name, ctx)
    by_case: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
    for rec in records:
        head = rec.get("meta", rec)
        by_case.setdefault((head["scenario"], head["tier"]), {})[head["profile"]] = rec["values"]
    for profiles in by_case.values():
        if not all(p in profiles for p in PAIR_PROFILES):
            continue
        for name, entry in registered("pair").items():
            ctx = _Recording(get_profile(PAIR_PROFILES[0]), ledger)
            entry.run(*(profiles[p] for p in PAIR_PROFILES), ctx)
            note(name, ctx)
    return read


def describe_bound(ledger: Ledger, name: str) -> str:
    """`name` <= value, e.g. "`legacy_ratio` rtol 0.05 (trained)"."""
    entry = ledger.tests["parity"]["invariants"][name]
    kind = next(k for k in _TOL_KEYS if k in entry)
    return f"`{name}` {kind} {entry[kind]:g} ({entry.get('class', '?')})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_table(name: str, ledger: Ledger, records: Iterable[Mapping[str, Any]]) -> str:
    """The Markdown table `name` (a TABLES key), without its markers, ending in a newline."""
    kinds = TABLES[name]
    read = bounds_read(records, ledger)
    rows = ["| check | stage | kind | holds | bounds (golden/tolerances.toml, "
            "[tests.parity.invariants]) |", "|---|---|---|---|---|"]
    for check_name, entry in registered(*kinds).items():
        bounds = ", ".join(describe_bound(ledger, b) for b in read[check_name]) or "-"
        rows.append(f"| `{check_name}` | {entry.stage} | {entry.kind} | {_cell(entry.doc)} | "
                    f"{_cell(bounds)} |")
    return "\n".join(rows) + "\n"


_BLOCK = re.compile(r"(<!-- BEGIN GENERATED (?P<name>[\w-]+) \(python -m parity docs\) -->\n)"
                    r"(?P<body>.*?)"
                    r"(<!-- END GENERATED (?P=name) -->)", re.DOTALL)


def marked_tables(text: str) -> list[str]:
    """Names of the generated tables marked in `text`, in order."""
    return [m.group("name") for m in _BLOCK.finditer(text)]


def fill(text: str, tables: Mapping[str, str]) -> str:
    """`text` with the body of every marked table replaced by tables[name]; KeyError naming an
    unknown table."""
    def body(m: re.Match) -> str:
        name = m.group("name")
        if name not in tables:
            raise KeyError(f"generated table {name!r}: not one of {sorted(tables)}")
        return m.group(1) + tables[name] + m.group(4)

    return _BLOCK.sub(body, text)


def render_all(ledger: Ledger, records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Every table of TABLES, rendered."""
    records = list(records)
    return {name: render_table(name, ledger, records) for name in TABLES}


def stale_files(root: str | pathlib.Path, tables: Mapping[str, str]) -> list[pathlib.Path]:
    """The DOC_FILES under `root` whose marked tables differ from `tables`."""
    root = pathlib.Path(root)
    out = []
    for rel in DOC_FILES:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        if fill(text, tables) != text:
            out.append(path)
    return out


def write_files(root: str | pathlib.Path, tables: Mapping[str, str]) -> list[pathlib.Path]:
    """Rewrite the marked tables of DOC_FILES under `root`; the files that changed."""
    changed = stale_files(root, tables)
    for path in changed:
        path.write_text(fill(path.read_text(encoding="utf-8"), tables), encoding="utf-8")
    return changed
