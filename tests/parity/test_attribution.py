"""Attribution of a ratio to products of named configuration scalars."""
import math

import pytest

from parity import attribution
from tests.conftest import ledger_tolerance

# docs/design.md §11: s_cf for N=64 and 1e9 photons; g is a typical normalization gain.
S_CF = 988.2117
G = 0.2631
#: the attribution tolerance of the ledger (2%)
RTOL = ledger_tolerance("gap.attribution")
SCALARS = {"s_cf": S_CF, "g": G, "probe_scale": 4.0, "nphotons": 1e9, "N": 64.0, "gridsize": 2.0}


@pytest.mark.parametrize("ratio, expected", [
    (1 / G**2, "1 / g^2"),
    (math.sqrt(S_CF), "s_cf^(1/2)"),
    (S_CF * G / 4.0**2, "s_cf * g / probe_scale^2"),
])
def test_attribution_exponents_and_ratios(ratio, expected, tol):
    matches = attribution.attribute_ratio(ratio, SCALARS, rel_tol=RTOL)
    assert matches[0].expression == expected
    assert matches[0].value == pytest.approx(ratio, rel=tol("gap.synthetic"))


def test_attribution_lists_every_match_simplest_first_on_equal_error():
    matches = attribution.attribute_ratio(4.0, {"a": 2.0, "b": 4.0, "c": 16.0}, rel_tol=RTOL)
    assert len(matches) == 1  # every product equal to 4 is the same value: folded into one
    assert matches[0].expression == "b"  # one term, exponent 1 beats a^2 (same error)
    assert {"a^2", "c^(1/2)", "c / b"} <= set(matches[0].equivalents)
    assert "a^2 * b^2 / c" not in matches[0].equivalents  # contains the identity a^2 / b = 1
    spread = attribution.attribute_ratio(4.0, {"a": 2.0, "d": 4.02, "e": 3.95}, rel_tol=RTOL)
    exprs = [m.expression for m in spread]
    assert exprs[0] == "a^2" and exprs.index("d") < exprs.index("e")  # |4.02/4 - 1| < |3.95/4 - 1|
    assert [m.rel_error for m in spread] == sorted(m.rel_error for m in spread)


def test_attribution_merges_equal_scalars_and_skips_trivial_ones():
    matches = attribution.attribute_ratio(3.0, {"scale.g": 3.0, "normalize.g": 3.0, "C": 1.0, "zero": 0.0, "bad": math.nan}, rel_tol=RTOL)
    assert matches[0].expression == "scale.g" and matches[0].aliases == (("scale.g", ("normalize.g",)),)
    assert attribution.attribute_ratio(1.001, {"x": 7.0}, rel_tol=RTOL)[0].expression == "1"
    assert attribution.attribute_ratio(2.6e2, {"x": 7.0}, rel_tol=RTOL) == []
    assert attribution.attribute_ratio(math.inf, SCALARS, rel_tol=RTOL) == []


def test_scalar_candidates_from_telemetry():
    values = {"scale.g": 0.26, "scale.s_cf": 988.2, "scale.source": "dataset", "probe.probe_scale": 4,
              "group.shape": [1, 2], "simulate.mean": 2.0, "forward.used": True}
    assert attribution.scalar_candidates(values) == {"scale.g": 0.26, "scale.s_cf": 988.2, "probe.probe_scale": 4.0}
