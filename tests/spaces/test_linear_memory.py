"""The LM-RLLC space: propagator slots, the paper points, and the fixed-law special cases."""

from __future__ import annotations

import json
import math

import numpy as np
import optax
import pytest

from optimizers.registry import REGISTRY
from spaces import SPACES
from spaces.linear_memory import PropagatorSlots, linear_memory_space
from spaces.params import GENE_LIMIT
from tests.spaces.helpers import trajectory

SPACE = SPACES["linear_memory"]
R0_R09 = [{"kind": "real", "lam": 0.0}, {"kind": "real", "lam": 0.9}]


def _decoded(name: str) -> dict:
    return SPACE.decode(SPACE.encode(SPACE.paper_points[name]))


def test_paper_points_are_table_1_configurations_and_the_fixed_laws():
    points = SPACE.paper_points
    assert points["rllc_R0.9"]["propagators"] == [{"kind": "real", "lam": 0.9}]
    assert points["rllc_R0_R0.9"]["propagators"] == R0_R09
    assert points["rllc_R2_0.9"]["propagators"] == [{"kind": "jordan", "n": 2, "lam": 0.9}]
    assert points["rllc_C_0.9_2pi3"]["propagators"] == [{"kind": "complex", "r": 0.9, "phi": 2 * math.pi / 3}]
    for name, law in (("sgd", [1.0, 0.0]), ("momentum", [0.0, 1.0]), ("nag", [1.0, 0.9])):
        assert points[name]["propagators"] == R0_R09
        assert points[name]["initial_law"] == law and points[name]["learning_law_rate"] == 0.0
    # Named initial laws of the presets become one number per memory unit.
    named = {"ones": lambda k: [1.0] * k, "e1": lambda k: [1.0] + [0.0] * (k - 1)}
    entry = REGISTRY["linear_memory"]
    for name in ("rllc_R0.9", "rllc_R0_R0.9", "rllc_R2_0.9", "rllc_C_0.9_2pi3"):
        law = entry.presets[name].get("initial_law", entry.defaults["initial_law"])
        assert points[name]["initial_law"] == named[law](len(points[name]["initial_law"]))
        assert len(points[name]["initial_law"]) in (1, 2)


@pytest.mark.parametrize(
    "name, reference",
    [
        ("sgd", lambda: optax.sgd(0.01)),
        ("momentum", lambda: optax.sgd(0.01, momentum=0.9)),
        ("nag", lambda: optax.sgd(0.01, momentum=0.9, nesterov=True)),
    ],
)
def test_fixed_law_points_equal_sgd_momentum_and_nag(name, reference):
    """App. A / Lemma 4.1 through the space: the decoded points are SGD, momentum and NAG."""
    np.testing.assert_allclose(
        trajectory(SPACE.build(_decoded(name)), 200), trajectory(reference(), 200), rtol=1e-6, atol=1e-12
    )


def test_slot_zero_is_never_off_and_off_slots_drop_out():
    slots = PropagatorSlots()
    off = -GENE_LIMIT * np.ones(slots.size)
    decoded = slots.decode(off)
    assert len(decoded["propagators"]) == 1  # every slot-0 option gene equal: the first option (real)
    assert decoded["propagators"][0]["kind"] == "real"
    point = SPACE.paper_points["rllc_R0_R0.9"]
    genes = SPACE.encode(point)
    labels = SPACE.gene_labels()
    assert genes[labels.index("propagators[0]=R")] == 1.0 and genes[labels.index("propagators[1]=R")] == 1.0
    assert (
        genes[labels.index("propagators[2]=off")] == 1.0 and genes[labels.index("propagators[3]=off")] == 1.0
    )
    assert "propagators[0]=off" not in labels


def test_every_kind_and_block_size_decodes_with_its_fields_and_law_length():
    slots = PropagatorSlots()
    units = {"real": 1, "complex": 2, "jordan": None, "complex_jordan": None}
    for kind, n in slots.options:
        genes = np.zeros(slots.size)
        genes[slots._slot_options(0).index((kind, n))] = 5.0
        value = slots.decode(genes)
        (propagator,) = value["propagators"]
        assert propagator["kind"] == kind and propagator.get("n", 1) == n
        expected = units[kind] or (n if kind == "jordan" else 2 * n)
        assert len(value["initial_law"]) == expected
        assert value["initial_law"] == [1.0] * expected  # gene 0 is the centre of the law box [-1, 3]
        assert slots.decode(slots.encode(value)) == value


def test_signature_is_the_kinds_and_sizes_only():
    a = dict(SPACE.paper_points["rllc_R0_R0.9"])
    b = dict(
        a, propagators=[{"kind": "real", "lam": -0.3}, {"kind": "real", "lam": 0.5}], initial_law=[2.0, -1.0]
    )
    assert SPACE.signature(a) == SPACE.signature(b)
    c = dict(a, propagators=[{"kind": "jordan", "n": 2, "lam": 0.9}])
    assert SPACE.signature(c) != SPACE.signature(a)
    assert json.loads(SPACE.signature(c).split(":", 1)[1]) == {"propagators": [["jordan", 2]]}
    assert list(SPACE.numeric(c))[-3:] == ["propagators.0.lam", "initial_law.0", "initial_law.1"]


def test_bad_points_name_the_field():
    point = dict(SPACE.paper_points["rllc_R0_R0.9"])
    with pytest.raises(ValueError, match="initial_law: expected 2 numbers"):
        SPACE.validate(dict(point, initial_law=[1.0]))
    with pytest.raises(ValueError, match="propagators: expected 1 to 4 propagators"):
        SPACE.validate(dict(point, propagators=R0_R09 * 3, initial_law=[1.0] * 6))
    with pytest.raises(ValueError, match=r"propagators\[0\]: kind 'jordan' with n=5 is not an option"):
        SPACE.validate(
            dict(point, propagators=[{"kind": "jordan", "n": 5, "lam": 0.5}], initial_law=[1.0] * 5)
        )
    with pytest.raises(ValueError, match=r"propagators\[1\].lam: must be in"):
        SPACE.validate(dict(point, propagators=[R0_R09[0], {"kind": "real", "lam": 1.5}]))
    with pytest.raises(ValueError, match=r"propagators\[0\]: expected keys"):
        SPACE.validate(dict(point, propagators=[{"kind": "real", "lam": 0.1, "r": 0.2}], initial_law=[1.0]))


def test_slots_json_round_trip_and_fewer_slots():
    slots = PropagatorSlots(num_slots=2, options=(("real", 1), ("jordan", 2)))
    again = PropagatorSlots.from_json(json.loads(json.dumps(slots.to_json())))
    assert again == slots and hash(again) == hash(slots)
    small = linear_memory_space(num_slots=2, name="lm2")
    assert small.dimension < SPACE.dimension
    assert set(small.paper_points) == set(SPACE.paper_points)
    with pytest.raises(ValueError, match="options: 'real' has block size 1"):
        PropagatorSlots(options=(("real", 2),))
