"""Parameter types: the squashing map, round trips, validity of any genes, JSON round trips, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spaces.params import (
    GENE_LIMIT,
    Choice,
    Fixed,
    Float,
    FloatVector,
    Int,
    canonical,
    from_json,
    squash,
    unsquash,
)

finite = st.floats(allow_nan=False, allow_infinity=False)
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)

FLOATS = [
    Float("lr", 1e-6, 1.0, log=True),
    Float("x", -3.0, 5.0),
    Float("beta", 0.0, 0.999, log=True, complement=True),
    Float("beta2", 0.9, 0.99999, log=True, complement=True),
    Float("wd", 0.0, 1.0, log=True, offset=1e-4),
    Float("tiny", 1e-12, 1e-10, log=True),
]


def test_squash_is_smooth_monotone_and_hits_the_bounds_exactly():
    x = np.linspace(-GENE_LIMIT, GENE_LIMIT, 2001)
    u = squash(x)
    assert np.all(np.diff(u) > 0)
    assert squash(0.0) == 0.5
    assert squash(-GENE_LIMIT) == 0.0 and squash(GENE_LIMIT) == 1.0
    assert squash(-1e308) == 0.0 and squash(1e308) == 1.0
    # Smooth: the derivative is the scaled logistic density, symmetric around 0.
    du = np.gradient(u, x)
    np.testing.assert_allclose(du, du[::-1], rtol=1e-6, atol=1e-12)
    assert du[1000] == pytest.approx(0.25 / (1 - 2 / (1 + math.exp(GENE_LIMIT))), rel=1e-4)


@given(unit)
def test_unsquash_inverts_squash(u):
    assert squash(unsquash(u)) == pytest.approx(u, rel=1e-12, abs=1e-15)
    assert -GENE_LIMIT <= unsquash(u) <= GENE_LIMIT


@pytest.mark.parametrize("param", FLOATS, ids=lambda p: p.name)
@given(u=unit)
@settings(max_examples=60)
def test_float_round_trip_to_1e9_relative(param, u):
    value = param.decode_value(np.asarray([unsquash(u)]))
    again = param.decode_value(param.encode_value(value))
    assert math.isclose(again, value, rel_tol=1e-9, abs_tol=0.0)
    assert param.low <= again <= param.high


@pytest.mark.parametrize("param", FLOATS, ids=lambda p: p.name)
def test_float_bounds_and_their_neighbours_round_trip(param):
    for value in (param.low, param.high, param.low + 1e-7 * (param.high - param.low)):
        assert math.isclose(param.decode_value(param.encode_value(value)), value, rel_tol=1e-9)
    assert param.decode_value(param.encode_value(param.low)) == param.low
    assert param.decode_value(param.encode_value(param.high)) == param.high


@pytest.mark.parametrize("param", FLOATS, ids=lambda p: p.name)
@given(x=finite)
@settings(max_examples=60)
def test_float_decodes_any_finite_gene_into_the_box(param, x):
    value = param.decode_value(np.asarray([x]))
    assert isinstance(value, float) and math.isfinite(value)
    assert param.low <= value <= param.high
    assert param.check(value) == value


def test_float_scales_put_the_centre_where_documented():
    assert Float("lr", 1e-6, 1e-2, log=True).decode_value(np.zeros(1)) == pytest.approx(1e-4, rel=1e-12)
    assert Float("b1", 0.0, 0.99, log=True, complement=True).decode_value(np.zeros(1)) == pytest.approx(0.9)
    assert Float("b2", 0.9, 0.99999, log=True, complement=True).decode_value(np.zeros(1)) == pytest.approx(
        0.999
    )
    assert Float("x", -3.0, 5.0).decode_value(np.zeros(1)) == 1.0
    grid = Float("lr", 1e-4, 1.0, log=True).grid(5)
    np.testing.assert_allclose(grid, [1e-4, 1e-3, 1e-2, 1e-1, 1.0], rtol=1e-12)


@given(x=finite)
def test_int_decodes_any_gene_and_round_trips(x):
    param = Int("n", -2, 7)
    value = param.decode_value(np.asarray([x]))
    assert isinstance(value, int) and -2 <= value <= 7
    assert param.decode_value(param.encode_value(value)) == value


def test_int_bins_have_equal_width():
    param = Int("n", 0, 4)
    u = np.linspace(0.0, 1.0, 100001)[1:-1]
    values = [param.decode_value(unsquash([v])) for v in u[::100]]
    counts = np.bincount(values, minlength=5)
    assert counts.min() >= 0.95 * counts.max()
    assert [param.decode_value(param.encode_value(v)) for v in range(5)] == list(range(5))


@given(st.lists(finite, min_size=3, max_size=3))
def test_choice_is_argmax_with_first_on_ties(genes):
    param = Choice("rule", ["a", "b", "c"])
    assert param.decode_value(np.asarray(genes)) == "abc"[int(np.argmax(genes))]
    assert param.decode_value(np.zeros(3)) == "a"
    for option in "abc":
        assert param.decode_value(param.encode_value(option)) == option


def test_choice_of_lists_and_booleans_keeps_json_types():
    bounds = Choice("rho_bounds", [[-0.2, 1.03], (0.8, 1.05)])
    assert bounds.check((0.8, 1.05)) == [0.8, 1.05]
    assert bounds.decode_value(bounds.encode_value([0.8, 1.05])) == [0.8, 1.05]
    flags = Choice("flag", [False, True])
    assert flags.decode_value(flags.encode_value(True)) is True
    numbers = Choice("n", [0, 1])
    with pytest.raises(ValueError, match="n: must be one of"):
        numbers.check(True)  # a boolean is not the number 1
    assert canonical(1) == canonical(1.0) and canonical(True) != canonical(1)


def test_fixed_has_no_gene_and_rejects_other_values():
    param = Fixed("propagators", [{"kind": "real", "lam": 0.9}])
    assert param.size == 0
    assert param.decode_value(np.zeros(0)) == [{"kind": "real", "lam": 0.9}]
    assert param.check([{"lam": 0.9, "kind": "real"}]) == [{"kind": "real", "lam": 0.9}]
    with pytest.raises(ValueError, match="propagators: fixed at"):
        param.check([{"kind": "real", "lam": 0.5}])


@given(st.lists(finite, min_size=4, max_size=4))
def test_float_vector_bounded_and_identity(genes):
    bounded = FloatVector("w", 4, -1.0, 2.0)
    values = bounded.decode(np.asarray(genes))["w"]
    assert all(-1.0 <= v <= 2.0 for v in values)
    again = bounded.decode(bounded.encode({"w": values}))["w"]
    np.testing.assert_allclose(again, values, rtol=1e-9)
    identity = FloatVector("w", 4)
    assert identity.decode(identity.encode({"w": genes}))["w"] == genes


PARAMS = [
    *FLOATS,
    Float("s", 0.0, 1.0, static=True),
    Int("n", 0, 10),
    Choice("rule", ["a", 1, [0.5, 2.0], None, True]),
    Fixed("mode", {"kind": "x", "values": [1, 2]}),
    FloatVector("w", 3),
    FloatVector("v", 2, -1.0, 1.0, init_scale=0.5),
]


@pytest.mark.parametrize("param", PARAMS, ids=lambda p: f"{type(p).__name__}-{p.name}")
def test_json_round_trip(param):
    data = param.to_json()
    again = from_json(json.loads(json.dumps(data)))
    assert again == param
    assert hash(again) == hash(param)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Float("x", 1.0, 1.0), "x: low must be < high"),
        (lambda: Float("x", 0.0, 1.0, log=True), "x: log scale needs low"),
        (lambda: Float("x", 0.0, 1.0, log=True, complement=True), "x: complement log scale needs high < 1"),
        (lambda: Float("x", 0.0, 1.0, offset=0.1), "x: offset and complement apply only"),
        (lambda: Float("x", 0.0, math.inf), "x.high: must be finite"),
        (lambda: Int("k", 0, 2.5), "k.high: expected an integer"),
        (lambda: Choice("c", ["a"]), "c.options: need at least 2"),
        (lambda: Choice("c", ["a", "a"]), "c.options: duplicate"),
        (lambda: FloatVector("w", 0), "w.length"),
        (lambda: from_json({"type": "bogus"}), "type: unknown parameter type"),
        (
            lambda: from_json({"type": "float", "name": "x", "low": 0, "high": 1, "extra": 1}),
            "extra: unknown",
        ),
    ],
)
def test_bad_definitions_raise_value_errors_naming_the_field(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_values_raise_value_errors_naming_the_parameter():
    with pytest.raises(ValueError, match=r"lr: must be in \[1e-06, 1.0\]"):
        FLOATS[0].check(2.0)
    with pytest.raises(ValueError, match="lr: expected a number"):
        FLOATS[0].check("0.1")
    with pytest.raises(ValueError, match="lr: expected a number"):
        FLOATS[0].check(True)
    with pytest.raises(ValueError, match="lr: must be finite"):
        FLOATS[0].check(math.nan)
    with pytest.raises(ValueError, match="n: expected an integer"):
        Int("n", 0, 3).check(1.5)
    with pytest.raises(ValueError, match="lr: genes must be finite"):
        FLOATS[0].decode(np.asarray([math.inf]))
    with pytest.raises(ValueError, match="w: expected 3 numbers"):
        FloatVector("w", 3).check([1.0, 2.0])
    with pytest.raises(ValueError, match=r"v\[1\]: must be in"):
        FloatVector("v", 2, -1.0, 1.0).check([0.0, 3.0])
