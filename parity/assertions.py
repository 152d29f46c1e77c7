"""Assertions on telemetry records for tests, like ``xarray.testing`` (re-exported by
`parity.testing`).

- `assert_checks_pass(record)`: no check of the record fails ('warn' is a documented,
  reported behaviour and passes);
- `assert_caught(record, check, stage)`: `check` fails, and the earliest failure of the record
  in stage order is at `stage` (default: the check's registered stage), so a bug is caught
  where it is made, not downstream;
- `assert_matches_golden(record, golden_dir)`: every value is within the ledger tolerance of
  its golden ``<golden_dir>/<scenario>__<profile>__<tier>.json``.

Each raises AssertionError with the check table (or the golden difference table) as its
message and hides its own frame from pytest tracebacks (``__tracebackhide__``).

record: a telemetry record (a mapping, or an object with ``to_dict()``), a golden dict, or a
replay outcome (an object with ``record`` and ``checks``, e.g. `parity.replay.ReplayOutcome`:
its checks are used as computed, including the legacy-dict checks of the replay).
ledger: a `Ledger`, a path to a ledger file, or None: the ``tolerances.toml`` of the golden
directory found from the current directory upward (for `assert_matches_golden`: golden_dir's).
"""
from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable
from typing import Any

from .checks import FAIL, REGISTRY, Check, evaluate, first_failure, sort_checks
from .golden import (GoldenError, compare_golden, display_path, failures, find_golden_dir,
                     golden_path, ledger_of, load_golden, regenerate_hint, results_table)
from .profiles import get_profile
from .records import coerce_record, header_of
from .tolerances import Ledger, load_ledger

LedgerLike = Ledger | str | os.PathLike | None


def checks_table(checks: Iterable[Check]) -> str:
    """Markdown table of checks: stage, check, verdict, value, bound, detail."""
    lines = ["| stage | check | verdict | value | bound | detail |", "|---|---|---|---|---|---|"]
    for c in checks:
        lines.append(f"| {c.stage} | {c.name} | {c.verdict} | {_cell(c.value)} | "
                     f"{_cell(c.bound)} | {_cell(c.detail)} |")
    return "\n".join(lines)


def _cell(x: Any) -> str:
    text = f"{x:.6g}" if isinstance(x, float) else str(x)
    return text.replace("|", "\\|")


def _ledger(ledger: LedgerLike) -> Ledger:
    if isinstance(ledger, Ledger):
        return ledger
    if ledger is not None:
        return load_ledger(ledger)
    found = find_golden_dir(pathlib.Path.cwd())
    if found is None:
        raise GoldenError(pathlib.Path.cwd(), "no golden/tolerances.toml here or above; pass ledger=")
    return ledger_of(found)


def _record_and_checks(record: Any, ledger: LedgerLike) -> tuple[dict[str, Any], list[Check]]:
    """(the record as a dict, its checks): an outcome's own checks, else `evaluate`'s."""
    if hasattr(record, "checks") and hasattr(record, "record"):
        if record.record is None:
            raise AssertionError(f"the replay produced no record: {record.error}")
        return coerce_record(record.record), sort_checks(list(record.checks))
    rec = coerce_record(record)
    profile = get_profile(header_of(rec)["profile"])
    return rec, evaluate(rec, _ledger(ledger), profile)


def _title(rec: dict[str, Any]) -> str:
    h = header_of(rec)
    return f"{h['scenario']} / {h['profile']} ({h['tier']})"


def assert_checks_pass(record: Any, *, ledger: LedgerLike = None) -> None:
    """Assert no check of `record` fails; the message is the table of the failing checks."""
    __tracebackhide__ = True
    rec, checks = _record_and_checks(record, ledger)
    bad = [c for c in checks if c.verdict == FAIL]
    if bad:
        raise AssertionError(f"{len(bad)} of {len(checks)} checks fail for {_title(rec)}, the "
                             f"first at stage {bad[0].stage}:\n{checks_table(bad)}")


def assert_caught(record: Any, check: str, stage: str | None = None, *,
                  ledger: LedgerLike = None) -> None:
    """Assert `check` fails on `record` and the earliest failure (stage order) is at `stage`
    (default: the stage `check` is registered at). The message shows the check's row and the
    table of every failing check."""
    __tracebackhide__ = True
    if stage is None:
        if check not in REGISTRY:
            raise AssertionError(f"no check named {check!r} is registered (parity.checks.REGISTRY)")
        stage = REGISTRY[check].stage
    rec, checks = _record_and_checks(record, ledger)
    found = [c for c in checks if c.name == check]
    bad = [c for c in checks if c.verdict == FAIL]
    failing = checks_table(bad) if bad else "(no check fails)"
    if not found:
        raise AssertionError(f"check {check!r} did not run on {_title(rec)} (its stage was not "
                             f"recorded, or it does not apply); failing checks:\n{failing}")
    if found[0].verdict != FAIL:
        raise AssertionError(f"{check} did not catch it on {_title(rec)} (verdict "
                             f"{found[0].verdict}):\n{checks_table(found)}\nfailing checks:\n{failing}")
    first = first_failure(checks)
    if first is not None and first.stage != stage:
        raise AssertionError(f"{check} fails, but the earliest failure on {_title(rec)} is at stage "
                             f"{first.stage} ({first.name}), not {stage}:\n{failing}")


def assert_matches_golden(record: Any, golden_dir: str | os.PathLike, *,
                          ledger: LedgerLike = None) -> None:
    """Assert every value of `record` is within tolerance of its golden in `golden_dir` (the
    ledger defaults to ``<golden_dir>/tolerances.toml``). The message is the table of the keys
    outside tolerance (missing, extra, changed), then the regeneration commands."""
    __tracebackhide__ = True
    rec = coerce_record(record.record if hasattr(record, "checks") else record)
    path = golden_path(golden_dir, rec)
    hint = regenerate_hint(rec, golden_dir)
    if not path.exists():
        raise AssertionError(f"golden {display_path(path)} is missing\n{hint}")
    golden = load_golden(path)
    ledger = ledger_of(golden_dir) if ledger is None else _ledger(ledger)
    results = compare_golden(golden, rec, ledger)
    bad = failures(results)
    if bad:
        raise AssertionError(f"{len(bad)} of {len(results)} values of {_title(rec)} differ from "
                             f"golden {display_path(path)} beyond tolerance:\n"
                             f"{results_table(bad)}\n{hint}")
