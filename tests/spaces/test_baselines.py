"""Baseline spaces: learning-rate grids for the tuned-reference sweeps, decoded points equal optax."""

from __future__ import annotations

import numpy as np
import optax
import pytest

from spaces import SPACES
from spaces.baselines import BASELINE_FAMILIES
from tests.spaces.helpers import trajectory


@pytest.mark.parametrize("family", BASELINE_FAMILIES)
def test_learning_rate_is_a_log_scale_spanning_decades(family):
    space = SPACES[family]
    (lr,) = [p for p in space.params if p.name == "learning_rate"]
    assert lr.log and lr.high / lr.low >= 1e4
    grid = lr.grid(7)
    np.testing.assert_allclose(np.diff(np.log(grid)), np.log(grid[1] / grid[0]), rtol=1e-9)
    default = space.paper_points["default"]["learning_rate"]
    assert lr.low <= default <= lr.high


@pytest.mark.parametrize(
    "family, point, reference",
    [
        ("adam", {"learning_rate": 3e-3, "b1": 0.8, "b2": 0.99}, lambda: optax.adam(3e-3, b1=0.8, b2=0.99)),
        (
            "nag",
            {"learning_rate": 0.05, "momentum": 0.8},
            lambda: optax.sgd(0.05, momentum=0.8, nesterov=True),
        ),
        ("rmsprop", None, lambda: optax.rmsprop(1e-2, decay=0.99, eps=1e-8, eps_in_sqrt=False)),
    ],
)
def test_decoded_points_build_the_optax_optimizer(family, point, reference):
    space = SPACES[family]
    point = space.paper_points["torch_default"] if point is None else space.validate(point)
    decoded = space.decode(space.encode(point))
    np.testing.assert_allclose(trajectory(space.build(decoded), 40), trajectory(reference(), 40), rtol=1e-9)


def test_boolean_options_changed_by_a_preset_are_choices():
    amsgrad = SPACES["amsgrad"]
    paper = amsgrad.paper_points["paper"]
    assert paper["bias_correction_mu"] is False and paper["bias_correction_nu"] is False
    assert amsgrad.signature(paper) != amsgrad.signature(amsgrad.paper_points["default"])
