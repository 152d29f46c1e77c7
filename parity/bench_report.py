"""The ratio table of a pytest-benchmark run (`python -m parity bench-report BENCH.json`),
and the comparison of the ratios of two runs (`bench-report BASE.json NEW.json`).

The benchmarks in `tests/bench/` (docs/design.md §9) time a reference ("roofline") in the same run and
store, in each benchmark's `extra_info`, a list of rows

    {"metric": str, "unit": "s" | "GFLOP/s" | "MiB" | "patterns/s", "ours": float | None,
     "roofline": float | None, "reference": str, "ratio": float | None,
     "goal": {"on": "ratio" | "ours", "op": "<=" | ">=", "value": float, "text": str} | None,
     "met": bool | None}

with ratio = ours / roofline (a time ratio for timings, a throughput ratio for GFLOP/s and
patterns/s). A benchmark of a slow reference implementation (e.g. the naive float64 reducer) may carry
`extra_info["speedup_goal"]` (a goal on ours/reference) and `extra_info["case"]`: the report
pairs it with the benchmark of the same case whose `extra_info["impl"] == "ours"` and adds a
row from the two medians. Goals are reported, never asserted by the benchmarks; `--strict`
makes this command exit 1 when a goal is missed (exit 2 on unreadable input).

Two runs (`python -m parity bench-report BASE.json NEW.json [--threshold 0.15]`): absolute
times depend on the machine, the ratio to the roofline timed in the same run much less, so
`compare_runs` matches the rows of two runs by metric and compares their ratios: a ratio that
got worse by more than the threshold (default 15%) is a regression and the command exits 1.
"Worse" follows the unit: time and MiB ratios are better lower, GFLOP/s and patterns/s ratios
higher (`BETTER`, `worsening`). Rows without a ratio (no roofline) and metrics of one run only are
listed, never gated.

This module is also the row schema used by the benchmarks (`goal`, `make_row`,
`check_extra_info`), so the tests and the report agree by construction.
"""
from __future__ import annotations

import json
import math
import operator
import pathlib
from typing import Any, Iterable

from ptycho.stats import finite_or_none

from .errors import ParityError

GOAL_OPS = {"<=": operator.le, ">=": operator.ge}
GOAL_ON = ("ratio", "ours")
UNITS = ("s", "GFLOP/s", "MiB", "patterns/s")
ROW_KEYS = ("metric", "unit", "ours", "roofline", "reference", "ratio", "goal", "met")
#: extra_info keys every benchmark records (docs/design.md §9)
REQUIRED_INFO = ("kind", "case", "impl", "device", "dtype", "shape", "threads", "versions", "rows")


class BenchReportError(ParityError):
    """Malformed benchmark JSON or row; `where` names the file, benchmark or key."""

    name_attr = "where"


# ----------------------------------------------------------------------------- row schema
def goal(op: str, value: float, *, on: str = "ratio", text: str | None = None) -> dict:
    """A goal dict: `<on> <op> value` (on: 'ratio' or 'ours'); text is the human form."""
    if op not in GOAL_OPS:
        raise BenchReportError("goal.op", f"must be one of {sorted(GOAL_OPS)}, got {op!r}")
    if on not in GOAL_ON:
        raise BenchReportError("goal.on", f"must be one of {GOAL_ON}, got {on!r}")
    value = float(value)
    if not math.isfinite(value):
        raise BenchReportError("goal.value", f"must be finite, got {value!r}")
    return {"on": on, "op": op, "value": value, "text": text or f"{on} {op} {value:g}"}


def goal_met(g: dict | None, *, ours, ratio) -> bool | None:
    """True/False when the goal holds/fails; None without a goal or without the value it needs."""
    if g is None:
        return None
    value = ratio if g["on"] == "ratio" else ours
    if value is None or not math.isfinite(float(value)):
        return None
    return bool(GOAL_OPS[g["op"]](float(value), float(g["value"])))


def make_row(metric: str, *, unit: str, ours, roofline=None, reference: str = "",
             goal: dict | None = None) -> dict:
    """One table row; ratio = ours / roofline (None when either is missing or roofline is 0)."""
    if unit not in UNITS:
        raise BenchReportError(f"row {metric!r}.unit", f"must be one of {UNITS}, got {unit!r}")
    ours = finite_or_none(ours)
    roofline = finite_or_none(roofline)
    ratio = ours / roofline if ours is not None and roofline else None
    return {"metric": str(metric), "unit": unit, "ours": ours, "roofline": roofline,
            "reference": str(reference), "ratio": ratio, "goal": goal,
            "met": goal_met(goal, ours=ours, ratio=ratio)}


def check_row(row: Any, where: str) -> dict:
    """Validate one row against the schema; returns it."""
    if not isinstance(row, dict):
        raise BenchReportError(where, f"row must be an object, got {type(row).__name__}")
    missing = [k for k in ROW_KEYS if k not in row]
    if missing:
        raise BenchReportError(where, f"row is missing keys {missing}")
    if row["unit"] not in UNITS:
        raise BenchReportError(where, f"unit must be one of {UNITS}, got {row['unit']!r}")
    for key in ("ours", "roofline", "ratio"):
        v = row[key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise BenchReportError(where, f"{key} must be a number or null, got {v!r}")
    g = row["goal"]
    if g is not None:
        if not isinstance(g, dict) or g.get("op") not in GOAL_OPS or g.get("on") not in GOAL_ON \
                or not isinstance(g.get("value"), (int, float)):
            raise BenchReportError(where, f"malformed goal {g!r}")
    return row


def check_extra_info(info: Any, where: str = "extra_info") -> dict:
    """Validate a benchmark's extra_info: required keys, JSON-safe, rows well formed."""
    if not isinstance(info, dict):
        raise BenchReportError(where, f"must be an object, got {type(info).__name__}")
    missing = [k for k in REQUIRED_INFO if k not in info]
    if missing:
        raise BenchReportError(where, f"missing keys {missing}")
    try:
        json.dumps(info, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BenchReportError(where, f"not JSON-safe: {exc}") from None
    if not isinstance(info["rows"], list):
        raise BenchReportError(where, "rows must be a list")
    for i, row in enumerate(info["rows"]):
        check_row(row, f"{where}.rows[{i}]")
    if info.get("speedup_goal") is not None:
        g = info["speedup_goal"]
        if not isinstance(g, dict) or g.get("op") not in GOAL_OPS or g.get("on") != "ratio":
            raise BenchReportError(where, f"malformed speedup_goal {g!r}")
    return info


# ----------------------------------------------------------------------------- report
def load_benchmarks(path) -> dict:
    """Read a pytest-benchmark JSON file (`--benchmark-json` / autosave) and validate it."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BenchReportError(str(path), f"cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BenchReportError(str(path), f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise BenchReportError(str(path), "not a pytest-benchmark JSON (no 'benchmarks' list)")
    for i, bench in enumerate(data["benchmarks"]):
        name = bench.get("fullname") or bench.get("name") or f"benchmarks[{i}]"
        if not isinstance(bench.get("stats"), dict) or "median" not in bench["stats"]:
            raise BenchReportError(name, "has no stats.median")
        if "rows" in (bench.get("extra_info") or {}):
            check_extra_info(bench["extra_info"], name)
    return data


def _speedup_row(reference: dict, ours: dict | None) -> dict:
    """Row: median of `ours` vs the median of a reference benchmark declaring a speedup_goal."""
    info = reference["extra_info"]
    impl = info.get("impl", "reference")
    metric = f"{info.get('case', '?')}: time vs {impl}"
    name = info.get("reference_name", impl)
    if ours is None:
        return make_row(metric, unit="s", ours=None, roofline=reference["stats"]["median"],
                        reference=f"{name}; no 'ours' benchmark of this case in the file",
                        goal=info["speedup_goal"])
    return make_row(metric, unit="s", ours=ours["stats"]["median"],
                    roofline=reference["stats"]["median"], reference=name,
                    goal=info["speedup_goal"])


def collect_rows(data: dict) -> list[dict]:
    """All rows of a benchmark JSON in file order; each speedup row (a reference benchmark with
    a speedup_goal, paired by case with the benchmark whose impl is 'ours') follows the rows of
    that 'ours' benchmark, or comes last when the file has no such benchmark."""
    benchmarks = data["benchmarks"]
    ours_by_case, refs_by_case = {}, {}
    for bench in benchmarks:
        info = bench.get("extra_info") or {}
        if "case" not in info:
            continue
        if info.get("impl") == "ours":
            ours_by_case.setdefault(info["case"], bench)
        if info.get("speedup_goal") is not None:
            refs_by_case.setdefault(info["case"], []).append(bench)
    rows: list[dict] = []
    for bench in benchmarks:
        info = bench.get("extra_info") or {}
        for row in info.get("rows", []):
            row = dict(row)
            row["met"] = goal_met(row["goal"], ours=row["ours"], ratio=row["ratio"])
            rows.append(row)
        if info.get("impl") == "ours" and ours_by_case.get(info.get("case")) is bench:
            rows.extend(_speedup_row(ref, bench) for ref in refs_by_case.get(info["case"], []))
    for case, refs in refs_by_case.items():
        if case not in ours_by_case:
            rows.extend(_speedup_row(ref, None) for ref in refs)
    return rows


def _fmt_value(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        if value >= 1:
            return f"{value:.3g} s"
        if value >= 1e-3:
            return f"{value * 1e3:.3g} ms"
        return f"{value * 1e6:.3g} µs"
    if abs(value) >= 1000:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def _fmt_met(met) -> str:
    return {True: "yes", False: "**NO**", None: "—"}[met]


def _environment_lines(data: dict) -> list[str]:
    lines = []
    machine = data.get("machine_info") or {}
    cpu = (machine.get("cpu") or {}).get("brand_raw") or machine.get("processor")
    infos = [b.get("extra_info") or {} for b in data["benchmarks"]]
    devices = sorted({str(i["device"]) for i in infos if "device" in i})
    versions = next((i["versions"] for i in infos if isinstance(i.get("versions"), dict)), {})
    if cpu:
        lines.append(f"- CPU: {cpu}")
    if devices:
        lines.append(f"- devices: {', '.join(devices)}")
    if versions:
        lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    commit = data.get("commit_info") or {}
    if commit.get("id"):
        dirty = " (dirty)" if commit.get("dirty") else ""
        lines.append(f"- commit: {str(commit['id'])[:12]}{dirty}")
    if data.get("datetime"):
        lines.append(f"- run: {data['datetime']}")
    return lines


def render_markdown(data: dict, rows: Iterable[dict] | None = None) -> str:
    """The Markdown report: environment lines, then | metric | ours | roofline | ratio | goal | met? |."""
    rows = collect_rows(data) if rows is None else list(rows)
    out = ["# Benchmark ratios", ""]
    env = _environment_lines(data)
    if env:
        out += env + [""]
    if not rows:
        out.append("No benchmark rows in this file (was it written by `pytest -m bench`?).")
        return "\n".join(out) + "\n"
    out.append("| metric | ours | roofline | ratio | goal | met? |")
    out.append("|---|---|---|---|---|---|")
    for row in rows:
        unit = row["unit"]
        roof = _fmt_value(row["roofline"], unit)
        if row["reference"]:
            roof = f"{roof} ({row['reference']})"
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.3g}"
        g = row["goal"]
        out.append(f"| {row['metric']} | {_fmt_value(row['ours'], unit)} | {roof} | {ratio} | "
                   f"{g['text'] if g else '—'} | {_fmt_met(row['met'])} |")
    met = sum(1 for r in rows if r["met"] is True)
    missed = sum(1 for r in rows if r["met"] is False)
    out += ["", f"Goals met: {met}, missed: {missed}, rows without a goal: "
                f"{sum(1 for r in rows if r['goal'] is None)}."]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- two runs
#: which way a ratio gets better, per unit: time and memory ratios lower, throughput higher
BETTER = {"s": "lower", "MiB": "lower", "GFLOP/s": "higher", "patterns/s": "higher"}
DEFAULT_THRESHOLD = 0.15
#: verdicts of a compared row, in the order the comparison table lists them
VERDICTS = ("regressed", "improved", "same", "new", "removed", "no ratio")


def check_threshold(threshold) -> float:
    """A regression threshold: a finite fraction >= 0 (0.15 = 15%)."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise BenchReportError("--threshold", f"must be a number, got {threshold!r}") from None
    if not math.isfinite(value) or value < 0:
        raise BenchReportError("--threshold",
                               f"must be a finite fraction >= 0 (0.15 = 15%), got {threshold!r}")
    return value


def worsening(base: float, new: float, unit: str) -> float:
    """How much worse the ratio got, as a fraction of the base ratio: (new - base) / base when
    lower is better (unit s or MiB), (base - new) / base when higher is better (GFLOP/s,
    patterns/s).
    Negative when it got better."""
    change = (new - base) / base
    return change if BETTER[unit] == "lower" else -change


def _usable(ratio) -> bool:
    return ratio is not None and math.isfinite(float(ratio)) and float(ratio) > 0


def _keyed(rows: Iterable[dict]) -> dict[str, dict]:
    """Rows by metric name (a repeated name gets ' #2', ' #3', ... in file order)."""
    out: dict[str, dict] = {}
    for row in rows:
        key, n = row["metric"], 1
        while key in out:
            n += 1
            key = f"{row['metric']} #{n}"
        out[key] = row
    return out


def compare_runs(base_rows: Iterable[dict], new_rows: Iterable[dict], *,
                 threshold: float = DEFAULT_THRESHOLD) -> list[dict]:
    """Compare the roofline ratios (ours / roofline, measured in the same run, so independent of
    the machine) of two runs row by row, rows matched by metric name.

    Returns one dict per metric {"metric", "unit", "better", "base_ratio", "new_ratio",
    "change" (new/base - 1), "worse" (`worsening`), "verdict"}: 'regressed' when the ratio got
    worse by more than `threshold`, 'improved' when better by more, 'same' within it, 'new' /
    'removed' for a metric in one run only, 'no ratio' when either side has no ratio (a row
    without a roofline, e.g. peak memory). Sorted: regressions (worst first), then the rest in
    the new run's order, then removed metrics in the base run's order.
    """
    threshold = check_threshold(threshold)
    base, new = _keyed(base_rows), _keyed(new_rows)
    out = []
    for metric, row in new.items():
        unit = row["unit"]
        item = {"metric": metric, "unit": unit, "better": BETTER[unit], "base_ratio": None,
                "new_ratio": row["ratio"], "change": None, "worse": None}
        old = base.get(metric)
        if old is None:
            out.append({**item, "verdict": "new"})
            continue
        item["base_ratio"] = old["ratio"]
        if old["unit"] != unit or not (_usable(old["ratio"]) and _usable(row["ratio"])):
            out.append({**item, "verdict": "no ratio"})
            continue
        item["change"] = row["ratio"] / old["ratio"] - 1.0
        item["worse"] = worse = worsening(old["ratio"], row["ratio"], unit)
        verdict = "regressed" if worse > threshold else "improved" if worse < -threshold else "same"
        out.append({**item, "verdict": verdict})
    out += [{"metric": metric, "unit": row["unit"], "better": BETTER[row["unit"]],
             "base_ratio": row["ratio"], "new_ratio": None, "change": None, "worse": None,
             "verdict": "removed"} for metric, row in base.items() if metric not in new]
    regressed = sorted((c for c in out if c["verdict"] == "regressed"), key=lambda c: -c["worse"])
    return regressed + [c for c in out if c["verdict"] != "regressed"]


def _run_line(label: str, path, data: dict) -> str:
    commit = (data.get("commit_info") or {}).get("id")
    cpu = ((data.get("machine_info") or {}).get("cpu") or {}).get("brand_raw")
    parts = [f"`{path}`"] + ([f"commit {str(commit)[:12]}"] if commit else [])
    parts += [f"run {data['datetime']}"] if data.get("datetime") else []
    parts += [cpu] if cpu else []
    return f"- {label}: " + ", ".join(parts)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:+.1%}"


def comparison_summary(comparisons: Iterable[dict], threshold: float) -> str:
    """One line: "1 regressed, 1 improved, 3 same (within 15%), 1 new, 1 removed, 2 without ratio"."""
    comparisons = list(comparisons)
    n = {v: sum(c["verdict"] == v for c in comparisons) for v in VERDICTS}
    return (f"{n['regressed']} regressed, {n['improved']} improved, {n['same']} same (within "
            f"{threshold:.0%}), {n['new']} new, {n['removed']} removed, {n['no ratio']} without ratio")


def render_comparison(base: dict, new: dict, comparisons: Iterable[dict], *, threshold: float,
                      base_name="BASE", new_name="NEW") -> str:
    """Markdown: the two runs, then | metric | better | base ratio | new ratio | change | verdict |,
    then the summary line (`comparison_summary`)."""
    comparisons = list(comparisons)
    out = ["# Benchmark ratios: base vs new", "", _run_line("base", base_name, base),
           _run_line("new", new_name, new),
           (f"- gate: a ratio (ours / roofline of the same run) worse by more than {threshold:.0%} "
            "fails; time and MiB ratios: lower is better, GFLOP/s and patterns/s ratios: higher is "
            "better"), ""]
    if not comparisons:
        out.append("No benchmark rows in either file (were they written by `pytest -m bench`?).")
        return "\n".join(out) + "\n"
    out += ["| metric | better | base ratio | new ratio | change | verdict |", "|---|---|---|---|---|---|"]
    for c in comparisons:
        verdict = "**REGRESSED**" if c["verdict"] == "regressed" else c["verdict"]
        ratios = ["—" if r is None else f"{r:.3g}" for r in (c["base_ratio"], c["new_ratio"])]
        out.append(f"| {c['metric']} | {c['better']} | {ratios[0]} | {ratios[1]} | "
                   f"{_pct(c['change'])} | {verdict} |")
    out += ["", comparison_summary(comparisons, threshold) + "."]
    return "\n".join(out) + "\n"
