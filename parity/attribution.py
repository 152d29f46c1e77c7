"""Attribution of an observed ratio to products of named configuration scalars.

An observed ratio (a scale gap between two images, or the ratio B/A of a diverging telemetry
key) is matched against every product and ratio of up to three named scalars (g, s, s_cf,
probe_scale, ...) raised to +-1, +-2, +-1/2; every match within a relative tolerance (2% by
default, the ledger's ``tests.gap.attribution``) is listed, simplest first.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import ParityError

EXPONENTS: tuple[float, ...] = (1.0, -1.0, 2.0, -2.0, 0.5, -0.5)
# A sub-product of scalars within this of 1 is an identity among them (e.g. s / (g * s_cf));
# matches containing one are redundant restatements of a simpler match and are dropped.
IDENTITY_RTOL = 1e-6
# Matches looser than this are flagged as approximate in reports (coincidences are likely when
# many scalars are combined three at a time).
CLOSE_MATCH = 1e-4
# Attribution errors are compared at this resolution; within it, simpler products rank first.
ERROR_RESOLUTION = 1e-4
MAX_SCALARS = 60
# Telemetry keys whose last segment matches one of these globs are candidate scalars for attribution.
SCALAR_KEY_PATTERNS = ("g", "s", "s_cf", "s_sim", "*scale*", "*gain*", "nphotons", "N", "gridsize", "C",
                       "E", "energy", "*_norm", "norm", "*ceiling*")


class AttributionError(ParityError):
    """The scalars cannot be attributed (too many); `where` names them."""

    name_attr = "where"


@dataclasses.dataclass(frozen=True)
class Attribution:
    """A product of named scalars that matches an observed ratio."""

    expression: str
    value: float
    rel_error: float
    terms: tuple[tuple[str, float], ...]
    complexity: tuple[int, int]
    equivalents: tuple[str, ...] = ()  # other expressions with the same value (scalar identities)
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name, other names with the same value)


def _fmt_exp(name: str, e: float) -> str:
    e = abs(e)
    return name if e == 1 else f"{name}^2" if e == 2 else f"{name}^(1/2)"


def format_terms(terms: tuple[tuple[str, float], ...]) -> str:
    """'a * b / c^2' style text of ((name, exponent), ...)."""
    if not terms:
        return "1"
    num = [_fmt_exp(n, e) for n, e in terms if e > 0]
    den = [_fmt_exp(n, e) for n, e in terms if e < 0]
    text = " * ".join(num) if num else "1"
    if den:
        text += " / " + (den[0] if len(den) == 1 else "(" + " * ".join(den) + ")")
    return text


def _dedupe_scalars(scalars: Mapping[str, float]) -> list[tuple[str, float, tuple[str, ...]]]:
    """Finite, non-zero scalars != 1 as (name, value, aliases): scalars with equal values are
    merged under the first name, the others become its aliases."""
    out: list[tuple[list[str], float]] = []
    for name, v in scalars.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        v = float(v)
        if not math.isfinite(v) or v == 0 or abs(v - 1.0) <= 1e-12:
            continue
        for names, w in out:
            if abs(v - w) <= 1e-12 * abs(w):
                names.append(name)
                break
        else:
            out.append(([name], v))
    if len(out) > MAX_SCALARS:
        raise AttributionError("scalars", f"{len(out)} distinct scalars; attribution takes at most {MAX_SCALARS}")
    return [(names[0], v, tuple(names[1:])) for names, v in out]


def _has_identity(factors: list[float]) -> bool:
    """True if a non-empty subset of `factors` multiplies to 1 within IDENTITY_RTOL."""
    for n in range(1, len(factors) + 1):
        for sub in itertools.combinations(factors, n):
            if abs(math.prod(sub) - 1.0) <= IDENTITY_RTOL:
                return True
    return False


def attribute_ratio(ratio: float, scalars: Mapping[str, float], *, rel_tol: float,
                    max_terms: int = 3, exponents: tuple[float, ...] = EXPONENTS,
                    error_resolution: float = ERROR_RESOLUTION) -> list[Attribution]:
    """Every product of 1..`max_terms` distinct named scalars, each raised to one of
    `exponents`, within `rel_tol` (the ledger's ``tests.gap.attribution``, 2%) of `ratio`.

    Sorted by relative error (at `error_resolution`), then simplest first (fewer terms, then
    exponents +-1 before +-2 before +-1/2), then by the order of `scalars` (list the canonical
    ones first). A ratio within `rel_tol` of 1 also lists "1".
    Scalars equal to each other are merged under the first name (the others are listed in
    `aliases`); 0, 1 and non-finite ones are ignored;
    products that contain an identity among the scalars (a sub-product equal to 1, e.g.
    s / (g * s_cf) when s = g * s_cf) are left out as restatements, and matches with the same
    value (within IDENTITY_RTOL) are folded into the simplest one's `equivalents`.
    """
    ratio = float(ratio)
    if not math.isfinite(ratio) or ratio == 0:
        return []
    found: list[Attribution] = []
    if abs(1.0 - ratio) <= rel_tol * abs(ratio):
        found.append(Attribution("1", 1.0, abs(1.0 - ratio) / abs(ratio), (), (0, 0)))
    named = _dedupe_scalars(scalars)
    if not named:
        return found
    vals = np.array([v for _, v, _ in named])
    alias_of = {name: aliases for name, _, aliases in named if aliases}
    exps = np.array(exponents, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        table = np.where((vals[:, None] < 0) & (exps[None, :] % 1 != 0), np.nan,
                         np.sign(vals)[:, None] ** np.where(exps % 1 == 0, exps, 0)[None, :]
                         * np.abs(vals)[:, None] ** exps[None, :])
    penalty = {1.0: 0, 2.0: 1, 0.5: 2}
    for k in range(1, min(max_terms, len(named)) + 1):
        combos = np.array(list(itertools.combinations(range(len(named)), k)), dtype=np.int64)
        prod = np.ones((len(combos),) + (len(exps),) * k)
        for j in range(k):
            shape = [len(combos)] + [1] * k
            shape[j + 1] = len(exps)
            prod = prod * table[combos[:, j]].reshape(shape)
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.abs(prod - ratio) / abs(ratio)
        for idx in zip(*np.nonzero(err <= rel_tol)):
            c, eidx = combos[idx[0]], idx[1:]
            terms = tuple((named[c[j]][0], float(exps[eidx[j]])) for j in range(k))
            factors = [float(table[c[j], eidx[j]]) for j in range(k)]
            if _has_identity(factors):
                continue
            cx = (k, sum(penalty[abs(e)] for _, e in terms))
            aliases = tuple((n, alias_of[n]) for n, _ in terms if n in alias_of)
            found.append(Attribution(format_terms(terms), float(prod[idx]), float(err[idx]), terms, cx,
                                     aliases=aliases))
    rank = {name: i for i, (name, _, _) in enumerate(named)}
    found.sort(key=lambda m: (round(m.rel_error / error_resolution), m.complexity,
                              sorted(rank.get(n, -1) for n, _ in m.terms), m.expression))
    return _group_equivalents(found)


def _group_equivalents(matches: list[Attribution]) -> list[Attribution]:
    """Fold matches whose values agree within IDENTITY_RTOL into the first (simplest) one."""
    groups: list[tuple[Attribution, list[str]]] = []
    for m in matches:
        for rep, eq in groups:
            if abs(m.value - rep.value) <= IDENTITY_RTOL * abs(rep.value):
                eq.append(m.expression)
                break
        else:
            groups.append((m, []))
    return [dataclasses.replace(rep, equivalents=tuple(eq)) for rep, eq in groups]


def scalar_candidates(values: Mapping[str, Any], patterns: tuple[str, ...] = SCALAR_KEY_PATTERNS) -> dict[str, float]:
    """Numeric scalars of a telemetry ``values`` dict whose last key segment matches one of
    `patterns` (g, s, s_cf, *scale*, nphotons, ...), keyed by their full telemetry key."""
    out = {}
    for key, v in values.items():
        leaf = key.rsplit(".", 1)[-1]
        numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
        if numeric and any(fnmatch.fnmatchcase(leaf, p) for p in patterns):
            out[key] = float(v)
    return out


APPROXIMATE_NOTE = ("No product matches within {:g}: the matches below are approximate and, with many "
                    "scalars, may be coincidental.")


def aliases_text(matches: list[Attribution]) -> str:
    """'a = b = c; d = e' for every aliased scalar used in `matches` ('' if none)."""
    seen: dict[str, tuple[str, ...]] = {}
    for m in matches:
        seen.update(m.aliases)
    return "; ".join(" = ".join((n, *al)) for n, al in seen.items())


def equivalents_text(m: Attribution, show: int = 3) -> str:
    more = len(m.equivalents) - show
    return ", ".join(m.equivalents[:show]) + (f" (+{more} more)" if more > 0 else "")
