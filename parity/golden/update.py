"""Updating goldens for review: only what moved beyond tolerance is rewritten (`update_goldens`,
`merge_golden`), and the review table and summary line of an update (`update_table`)."""
from __future__ import annotations

import dataclasses
import math
import os
import pathlib
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from .. import jsonsafe
from ..records import coerce_record
from ..tolerances import Ledger
from .compare import KeyResult, compare_golden, compare_value, failures, fmt_rel, value_sides
from .files import GoldenError, golden_path, load_golden, make_golden, write_golden
from .provenance import provenance


@dataclasses.dataclass(frozen=True)
class FileUpdate:
    """What `update_goldens` did (or, in a dry run, would do) with one golden file.

    status: new | updated | unchanged | replaced-corrupt; `results`: every comparison with the
    stored golden (header fields as ``<scenario>`` etc., then the values; empty for new and
    corrupt files); `changes`: those that did not pass or moved at all; `written`: the file was
    (or would be) written; `forced`: rewritten with every fresh value (``--force``).
    """

    path: pathlib.Path
    status: str
    changes: tuple[KeyResult, ...]
    results: tuple[KeyResult, ...] = ()
    written: bool = False
    forced: bool = False


def merged_values(stored: Mapping[str, Any], fresh: Mapping[str, Any], ledger: Ledger) -> dict[str, Any]:
    """The values an update writes: `fresh`'s keys in their order, each keeping its `stored`
    value when that is within the ledger tolerance of the fresh one (so a golden's diff shows
    only the values that moved beyond tolerance, and added and removed keys)."""
    out: dict[str, Any] = {}
    for key, value in fresh.items():
        if key in stored and compare_value(stored[key], value, key, ledger)[0] == "ok":
            out[key] = stored[key]
        else:
            out[key] = value
    return out


def merge_golden(stored: Mapping[str, Any], record: Any, ledger: Ledger,
                 prov: Mapping[str, Any]) -> dict[str, Any]:
    """The golden dict an update writes over `stored`: the record's header and keys, stored
    values kept where within tolerance (`merged_values`), provenance `prov`."""
    rec = coerce_record(record)
    return {**make_golden(rec, prov), "values": merged_values(stored["values"], rec["values"], ledger)}


def update_goldens(records: Iterable[Any], directory: str | os.PathLike, *, ledger: Ledger,
                   force: bool = False, dry_run: bool = False,
                   command: str | None = None) -> list[FileUpdate]:
    """Write the goldens of `records` into `directory`, atomically.

    A golden is written when it is missing or corrupt (fresh values), or when a value moved
    beyond the ledger tolerance or a key was added or removed: then only those values change
    in the file, every value within tolerance keeps its stored text, and the provenance is
    renewed. A golden that matches is left untouched (no provenance churn). `force` rewrites
    every golden with every fresh value; `dry_run` writes nothing and reports what would be.
    """
    prov = provenance(command, repo=directory)
    out = []
    for record in records:
        rec = coerce_record(record)
        path = golden_path(directory, rec)
        try:
            old = load_golden(path)
        except GoldenError as exc:
            status = "new" if not path.exists() else "replaced-corrupt"
            if status == "replaced-corrupt":
                print(f"warning: {exc}", file=sys.stderr)
            if not dry_run:
                write_golden(path, rec, prov)
            out.append(FileUpdate(path, status, (), (), written=True, forced=force))
            continue
        results = tuple(compare_golden(old, rec, ledger))
        changed = tuple(r for r in results if r.verdict != "ok" or (r.rel_change or 0.0) > 0.0)
        if force or failures(results):
            if not dry_run:
                data = make_golden(rec, prov) if force else merge_golden(old, rec, ledger, prov)
                jsonsafe.write_json(path, data)
            out.append(FileUpdate(path, "updated", changed, results, written=True, forced=force))
        else:
            out.append(FileUpdate(path, "unchanged", changed, results))
    return out


#: verdict of a KeyResult -> (review verdict, sort rank: beyond first)
_REVIEW = {"changed": ("beyond", 0), "type": ("beyond (type)", 0), "extra": ("added", 1),
           "missing": ("removed", 2), "ok": ("within", 3)}


def _is_value(r: KeyResult) -> bool:
    return not r.key.startswith("<")


def _in_file(u: FileUpdate, r: KeyResult) -> str:
    """What the (updated) golden holds for one key: the new value, the stored one, or nothing."""
    if not u.written:
        return "stored"
    if r.verdict == "missing":
        return "dropped"
    return "new" if r.verdict != "ok" or u.forced else "stored"


def update_counts(updates: Iterable[FileUpdate]) -> dict[str, Any]:
    """Totals of an update: beyond, added, removed, within (value keys), max_rel (largest
    relative change kept within tolerance), files, written, new, corrupt."""
    updates = list(updates)
    results = [r for u in updates for r in u.results]
    within = [r for r in results if r.passed and _is_value(r)]
    rels = [r.rel_change for r in within if r.rel_change is not None and math.isfinite(r.rel_change)]
    return {"beyond": sum(r.verdict in ("changed", "type") for r in results),
            "added": sum(r.verdict == "extra" for r in results),
            "removed": sum(r.verdict == "missing" for r in results),
            "within": len(within), "max_rel": max(rels, default=0.0),
            "files": len(updates), "written": sum(u.written for u in updates),
            "new": sum(u.status == "new" for u in updates),
            "corrupt": sum(u.status == "replaced-corrupt" for u in updates)}


def update_summary(updates: Iterable[FileUpdate], *, dry_run: bool = False) -> str:
    """One line: "1 beyond, 0 added, 0 removed; 52 within, max rel 6.3e-14; 1 of 14 golden
    files written" (new and corrupt files named when there are any)."""
    c = update_counts(updates)
    line = (f"{c['beyond']} beyond, {c['added']} added, {c['removed']} removed; "
            f"{c['within']} within, max rel {c['max_rel']:.2g}")
    extra = [f"{c['new']} new"] if c["new"] else []
    extra += [f"{c['corrupt']} corrupt replaced"] if c["corrupt"] else []
    verb = "would be written (dry run, nothing written)" if dry_run else "written"
    return line + "".join(f"; {e}" for e in extra) + f"; {c['written']} of {c['files']} golden files {verb}"


def update_table(updates: Iterable[FileUpdate], *, dry_run: bool = False) -> str:
    """Markdown review of an update: one line per golden file (written ones first), then one
    row per key that moved (beyond tolerance first, then added, removed, and values within
    tolerance by size of change), then the summary line (`update_summary`)."""
    updates = list(updates)

    def counts(u: FileUpdate) -> tuple[int, int, int, int]:
        c = update_counts([u])
        return c["beyond"], c["added"], c["removed"], c["within"]

    ordered = sorted(updates, key=lambda u: (not u.written, -counts(u)[0], u.path.name))
    lines = ["| golden | status | beyond | added | removed | within |", "|---|---|---|---|---|---|"]
    for u in ordered:
        status = f"{u.status} (dry run)" if dry_run and u.written else u.status
        lines.append(f"| {u.path.name} | {status} | " + " | ".join(map(str, counts(u))) + " |")
    rows = [(u, r) for u in ordered for r in u.changes]
    rows.sort(key=lambda ur: (_REVIEW[ur[1].verdict][1],
                              -(ur[1].rel_change if ur[1].rel_change is not None else math.inf)))
    if rows:
        lines += ["", "| golden | key | stored | new | rel. change | tolerance | verdict | in file |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {u.path.name} | `{r.key}` | {' | '.join(value_sides(r))} | {fmt_rel(r.rel_change)} | "
                  f"{r.tolerance} | {_REVIEW[r.verdict][0]} | {_in_file(u, r)} |" for u, r in rows]
    lines += ["", update_summary(updates, dry_run=dry_run)]
    return "\n".join(lines)
