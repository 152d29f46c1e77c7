"""Hypothesis properties of the record format and the golden comparison (issue review, item 4).

- JSON-safe round trip: any record of JSON values, with NaN and +-Inf anywhere, written by
  parity.jsonsafe and read back, is identical (same keys in the same order, NaN where NaN was).
- Golden comparison: the verdict of compare(a, b) is symmetric for exact kinds and for values
  far inside or far outside the tolerance, and monotone in the tolerance: a pair that passes
  under rtol passes under every larger rtol, and a pair that fails under rtol fails under every
  smaller one.
"""
import json
import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from parity import golden, jsonsafe, records
from parity.tolerances import parse_ledger

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**53, 2**53), any_float,
                    st.text(max_size=8))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=12)
keys = st.from_regex(r"\A(object|scale|labels|forward)\.[a-z_]{1,8}\Z")


@given(st.dictionaries(keys, json_values, max_size=10))
@example({"scale.g": math.nan, "labels.max": math.inf, "labels.min": -math.inf,
          "object.shape": [392, 392], "forward.x": [math.nan, [math.inf, 1.5]]})
@example({"object._": [math.nan]})   # found by hypothesis: first_difference compared lists with !=
@example({"object._": "NaN"})        # a string that reads NaN is a string, not a bare constant
def test_jsonsafe_round_trip_keeps_every_value_and_the_order(values):
    record = {"schema": records.TELEMETRY_SCHEMA,
              "meta": {"scenario": "s", "profile": "p", "tier": "tiny", "seed": 1},
              "values": values}
    text = jsonsafe.dumps(record)
    json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} written"))  # plain JSON only
    back = jsonsafe.loads(text)
    assert list(back["values"]) == list(values)
    assert all(records.same_value(values[k], back["values"][k]) for k in values)
    assert records.first_difference(values, back["values"]) is None


def ledger_with(rtol: float):
    """A ledger whose one [golden] rule compares every key with `rtol` (class ceiling 1)."""
    return parse_ledger({"classes": {"c": 1.0},
                         "golden": {"*": {"rtol": rtol, "class": "c"}}}, "<property>")


def verdict(expected: float, actual: float, rtol: float) -> bool:
    return not golden.failures(golden.compare({"k.v": expected}, {"k.v": actual}, ledger_with(rtol)))


@given(finite, finite, st.floats(min_value=0.0, max_value=0.5))
@example(1.0, 1.0 + 1e-7, 1e-6)
@example(0.0, 1e-300, 0.1)
def test_tolerance_monotonicity(expected, actual, rtol):
    passes = verdict(expected, actual, rtol)
    if passes:
        assert verdict(expected, actual, min(1.0, 2 * rtol + 1e-9))
    else:
        assert not verdict(expected, actual, rtol / 2)


@given(finite, st.floats(min_value=1e-9, max_value=0.1), st.sampled_from([0.01, 0.25, 4.0, 100.0]))
def test_verdict_is_symmetric_far_from_the_bound(value, rtol, factor):
    """|a - b| <= rtol*|e| depends on which side is expected only near the bound (|e| differs by
    the change itself); a change of `factor` x rtol far from it gives the same verdict both ways."""
    other = value * (1 + factor * rtol)
    assert verdict(value, other, rtol) == verdict(other, value, rtol)


@given(st.dictionaries(keys, json_values, max_size=6), st.dictionaries(keys, json_values, max_size=6))
def test_key_and_exact_verdicts_are_symmetric(a, b):
    """Missing/extra keys and exact (non-float) differences fail in both directions alike."""
    led = ledger_with(1e-6)
    fa = {r.key for r in golden.failures(golden.compare(a, b, led))}
    fb = {r.key for r in golden.failures(golden.compare(b, a, led))}
    exact = {k for k in set(a) | set(b)
             if k not in a or k not in b or not (isinstance(a[k], float) or isinstance(b[k], float))}
    assert fa & exact == fb & exact
