"""First-divergence diff of two telemetry records (``python -m parity trace-diff A.json B.json``).

Walks the keys of two records in stage order (taken from the records' key order, or given
explicitly) and, for each rung of a relative-tolerance ladder (default 1e-6 / 1e-4 / 1e-2),
reports the first key whose values differ beyond it, with both values, the ratio B/A and the
stage. Structural differences (missing keys, shapes, strings, bools, types) are exact
divergences, listed separately. The ratio of each reported divergence is attributed to
products of the named scalars found in the records (g, s, s_cf, probe_scale, ...) with
`parity.attribution.attribute_ratio`. Accepts telemetry records and golden files alike.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .attribution import (APPROXIMATE_NOTE, CLOSE_MATCH, Attribution, aliases_text, attribute_ratio,
                          equivalents_text, scalar_candidates)
from .golden import fmt_value
from .records import STAGES, stage_of
from .tolerances import rel_diff

DEFAULT_LADDER: tuple[float, ...] = (1e-6, 1e-4, 1e-2)
#: keys skipped by default: the stage specifications' measurements (`<stage>.spec.*`, errors of
#: the product against independent references, at round-off) describe the check, not the data
#: flowing through the pipeline, so they are not where two records diverge
SPEC_KEYS: tuple[str, ...] = ("*.spec.*",)


@dataclasses.dataclass(frozen=True)
class Divergence:
    """One differing key. kind: numeric (within a type, compared by relative difference) or
    structural (missing key, shape, string, bool, type: exact)."""

    key: str
    stage: str
    a: Any
    b: Any
    kind: str
    rel_diff: float | None = None
    ratio: float | None = None
    detail: str = ""
    position: int = -1  # index of the key in the walk order


@dataclasses.dataclass(frozen=True)
class TraceResult:
    """Result of `first_divergence`. `rungs`: (rung, first numeric divergence beyond it or
    None); `attributions`: per rung with a divergence, matches of its ratio B/A."""

    stages: tuple[str, ...]
    n_keys: int
    rungs: tuple[tuple[float, Divergence | None], ...]
    structural: tuple[Divergence, ...]
    attributions: dict[float, list[Attribution]]
    scalars: dict[str, float]

    @property
    def identical(self) -> bool:
        """No structural difference and nothing beyond the smallest rung."""
        return not self.structural and all(d is None for _, d in self.rungs)

    @property
    def first(self) -> Divergence | None:
        """The earliest divergence in stage order: structural, or beyond the smallest rung."""
        cands = [d for d in (self.rungs[0][1] if self.rungs else None, *self.structural[:1]) if d is not None]
        return min(cands, key=lambda d: d.position, default=None)

    def to_dict(self) -> dict[str, Any]:
        return {"stages": list(self.stages), "n_keys": self.n_keys, "identical": self.identical,
                "rungs": [{"rung": r, "divergence": dataclasses.asdict(d) if d else None} for r, d in self.rungs],
                "structural": [dataclasses.asdict(d) for d in self.structural],
                "attributions": {f"{r:g}": [dataclasses.asdict(m) for m in ms] for r, ms in self.attributions.items()},
                "scalars": self.scalars}


def stage_order(*values: Mapping[str, Any], stages: Sequence[str] | None = None) -> list[str]:
    """Stage order: `stages` if given, then the further stages of the value dicts: the
    pipeline's stages (parity.records.STAGES) in pipeline order, then unknown ones in order of
    first appearance. A stage present only in B therefore sits where the pipeline runs it, not
    after every stage of A."""
    out = list(stages or [])
    seen: list[str] = []
    for vals in values:
        for key in vals:
            s = stage_of(key)
            if s not in out and s not in seen:
                seen.append(s)
    rank = {s: i for i, s in enumerate(STAGES)}
    return out + sorted(seen, key=lambda s: (rank.get(s, len(rank)), seen.index(s)))


def ordered_keys(a: Mapping[str, Any], b: Mapping[str, Any], stages: Sequence[str]) -> list[str]:
    """Union of keys grouped by `stages`; within a stage, A's order with each key only in B
    inserted right after the key that precedes it in B (B's first keys of a stage first), so
    the walk order is both records' order."""
    merged: list[str] = list(a)
    placed = set(merged)
    prev: str | None = None
    for key in b:
        if key not in placed:
            at = merged.index(prev) + 1 if prev is not None else 0
            merged.insert(at, key)
            placed.add(key)
        prev = key
    by_stage: dict[str, list[str]] = {s: [] for s in stages}
    for key in merged:
        by_stage.setdefault(stage_of(key), []).append(key)
    return [k for s in by_stage for k in by_stage[s]]


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _numeric_leaves(x: Any) -> list[Any] | None:
    """Flattened list if `x` is a (nested) list of numbers containing a float, else None."""
    flat: list[Any] = []

    def walk(v: Any) -> bool:
        if isinstance(v, list):
            return all(walk(e) for e in v)
        if _is_number(v):
            flat.append(v)
            return True
        return False

    if isinstance(x, list) and walk(x) and any(isinstance(v, float) for v in flat):
        return flat
    return None


def _shape_of(x: Any) -> list[int]:
    shape = []
    while isinstance(x, list):
        shape.append(len(x))
        x = x[0] if x else None
    return shape


def compare_key(key: str, a: Any, b: Any) -> Divergence | None:
    """Divergence of one key, or None when the values are exactly equal."""
    stage = stage_of(key)
    if _is_number(a) and _is_number(b):
        if a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)):
            return None
        ratio = b / a if a != 0 and math.isfinite(a) and math.isfinite(b) else None
        return Divergence(key, stage, a, b, "numeric", rel_diff(float(b), float(a), symmetric=True), ratio)
    la, lb = _numeric_leaves(a), _numeric_leaves(b)
    if la is not None and lb is not None and _shape_of(a) == _shape_of(b):
        diffs = [rel_diff(float(y), float(x), symmetric=True) for x, y in zip(la, lb)]
        i = max(range(len(diffs)), key=diffs.__getitem__, default=None)
        if i is None or diffs[i] == 0:
            return None
        x, y = la[i], lb[i]
        ratio = y / x if x != 0 and math.isfinite(x) and math.isfinite(y) else None
        return Divergence(key, stage, a, b, "numeric", diffs[i], ratio, f"largest at element {i}")
    if type(a) is type(b) and a == b:
        return None
    if type(a) is not type(b):
        detail = f"type {type(a).__name__} vs {type(b).__name__}"
    elif isinstance(a, list):
        detail = f"shape/list {a} vs {b}"
    else:
        detail = f"{type(a).__name__} differs"
    return Divergence(key, stage, a, b, "structural", detail=detail)


def _merged_scalars(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, float]:
    """Scalars of both records: shared ones (equal in A and B) by key, first; the ones that
    differ as 'A:key' and 'B:key' after them."""
    sa, sb = scalar_candidates(a), scalar_candidates(b)
    shared: dict[str, float] = {}
    split: dict[str, float] = {}
    for key in [*sa, *(k for k in sb if k not in sa)]:
        if key in sa and key in sb and rel_diff(sb[key], sa[key], symmetric=True) > 1e-12:
            split[f"A:{key}"], split[f"B:{key}"] = sa[key], sb[key]
        else:
            shared[key] = sa.get(key, sb.get(key))
    return {**shared, **split}


def first_divergence(a: Mapping[str, Any], b: Mapping[str, Any], ladder: Iterable[float] = DEFAULT_LADDER, *,
                     attribution_rtol: float, stages: Sequence[str] | None = None,
                     ignore: Iterable[str] = SPEC_KEYS, scalars: Mapping[str, float] | None = None) -> TraceResult:
    """Walk records (or their ``values`` dicts) `a` and `b` in stage order.

    For each rung of `ladder` (relative differences, ascending), the first numeric key whose
    symmetric relative difference exceeds it; all structural differences (exact); the
    attribution of each reported ratio B/A to products of the records' named scalars (plus
    `scalars`) within `attribution_rtol`, excluding the diverging key itself. Keys matching an
    `ignore` glob are skipped (default SPEC_KEYS; pass () to walk every key).
    """
    va, vb = _values(a), _values(b)
    rungs = sorted(float(r) for r in ladder)
    if not rungs or rungs[0] <= 0:
        raise ValueError("ladder: needs at least one positive rung")
    order = stage_order(va, vb, stages=stages)
    ignore = tuple(ignore)
    keys = [k for k in ordered_keys(va, vb, order) if not any(fnmatch.fnmatchcase(k, p) for p in ignore)]
    first: dict[float, Divergence | None] = {r: None for r in rungs}
    structural: list[Divergence] = []
    missing = object()
    for pos, key in enumerate(keys):
        x, y = va.get(key, missing), vb.get(key, missing)
        if x is missing or y is missing:
            structural.append(Divergence(key, stage_of(key), None if x is missing else x, None if y is missing else y,
                                         "structural", detail=f"only in {'B' if x is missing else 'A'}",
                                         position=pos))
            continue
        d = compare_key(key, x, y)
        if d is None:
            continue
        d = dataclasses.replace(d, position=pos)
        if d.kind == "structural":
            structural.append(d)
            continue
        for r in rungs:
            if first[r] is None and d.rel_diff is not None and d.rel_diff > r:
                first[r] = d
    named = {**_merged_scalars(va, vb), **(scalars or {})}
    attributions: dict[float, list[Attribution]] = {}
    by_key: dict[str, list[Attribution]] = {}
    for r, d in first.items():
        if d is not None and d.ratio is not None:
            if d.key not in by_key:
                own = {d.key, f"A:{d.key}", f"B:{d.key}"}
                by_key[d.key] = attribute_ratio(d.ratio, {k: v for k, v in named.items() if k not in own},
                                                rel_tol=attribution_rtol)
            attributions[r] = by_key[d.key]
    return TraceResult(tuple(order), len(keys), tuple(first.items()), tuple(structural), attributions, named)


def _values(record: Mapping[str, Any]) -> Mapping[str, Any]:
    return record["values"] if isinstance(record.get("values"), Mapping) else record


def format_trace(result: TraceResult, names: tuple[str, str] = ("A", "B"), top: int = 5) -> str:
    """Markdown text of a TraceResult."""
    a_name, b_name = names
    lines = [f"# trace-diff: {a_name} (A) vs {b_name} (B)", "",
             f"{result.n_keys} keys in {len(result.stages)} stages: {', '.join(result.stages)}.", ""]
    if result.identical:
        lines.append(f"No divergence: every key agrees within {result.rungs[0][0]:g} and structurally.")
        return "\n".join(lines)
    first = result.first
    if first is not None:
        lines += [f"**First divergence: stage `{first.stage}`, key `{first.key}`**"
                  + (f", B/A = {first.ratio:.10g}" if first.ratio is not None else f" ({first.detail})"), ""]
    lines += ["| rung | first key beyond | stage | A | B | B/A | rel. diff |", "|---|---|---|---|---|---|---|"]
    for r, d in result.rungs:
        if d is None:
            lines.append(f"| {r:g} | (none) | | | | | |")
        else:
            ratio = "" if d.ratio is None else f"{d.ratio:.10g}"
            lines.append(f"| {r:g} | `{d.key}` | {d.stage} | {fmt_value(d.a)} | {fmt_value(d.b)} | {ratio} | {d.rel_diff:.3g} |")
    seen: dict[str, list[float]] = {}
    for r, d in result.rungs:
        if d is not None and r in result.attributions:
            seen.setdefault(d.key, []).append(r)
    for key, rungs in seen.items():
        d, matches = dict(result.rungs)[rungs[0]], result.attributions[rungs[0]]
        rung_text = ", ".join(f"{r:g}" for r in rungs)
        where = f"B/A = {d.ratio:.10g} at `{key}` (rung{'s' if len(rungs) > 1 else ''} {rung_text})"
        lines.append("")
        if not matches:
            lines.append(f"{where}: no product of the records' scalars matches.")
            continue
        lines.append(f"Attribution of {where}:")
        if matches[0].rel_error > CLOSE_MATCH:
            lines.append(APPROXIMATE_NOTE.format(CLOSE_MATCH))
        for m in matches[:top]:
            same = f"; same value: {equivalents_text(m)}" if m.equivalents else ""
            lines.append(f"- {m.expression} = {m.value:.6g} (rel. error {m.rel_error:.2g}{same})")
        if len(matches) > top:
            lines.append(f"- ... {len(matches) - top} more (see --json)")
        if aliases_text(matches[:top]):
            lines.append(f"- equal scalars: {aliases_text(matches[:top])}")
    if result.structural:
        lines += ["", f"Structural differences (exact), {len(result.structural)}:", "",
                  "| key | stage | A | B | what |", "|---|---|---|---|---|"]
        lines += [f"| `{d.key}` | {d.stage} | {fmt_value(d.a)} | {fmt_value(d.b)} | {d.detail} |" for d in result.structural]
    return "\n".join(lines)
