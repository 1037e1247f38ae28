"""The CoRe space: the published default sets exactly, and the structural score history."""

from __future__ import annotations

import pytest

from spaces import SPACES
from spaces.core_optimizer import T_HIST_OPTIONS

SPACE = SPACES["core"]
#: core-optimizer 1.1.0's defaults (spec §1): lr, step_sizes, etas, betas, eps, weight_decay, history, frozen.
PACKAGE = {
    "learning_rate": 1e-3,
    "s_min": 1e-6,
    "eta_minus": 0.7375,
    "eta_plus": 1.2,
    "beta1_a": 0.7375,
    "beta1_b": 0.8125,
    "beta1_c": 250.0,
    "beta2": 0.99,
    "eps": 1e-8,
    "weight_decay": 0.1,
    "p_frozen": 0.0,
    "t_hist": 0,
}


@pytest.mark.parametrize(
    "name, s_max", [("core_minibatch", 1e-3), ("core_batch", 1.0), ("core_default", 1e-2)]
)
def test_published_default_sets_differ_only_in_s_max(name, s_max):
    assert SPACE.paper_points[name] == {**PACKAGE, "s_max": s_max}


def test_every_reference_hyperparameter_is_searched_and_t_hist_is_structural():
    assert set(SPACE.keys) == set(PACKAGE) | {"s_max"}
    point = dict(SPACE.paper_points["core_batch"])
    other = dict(point, t_hist=T_HIST_OPTIONS[4], p_frozen=0.05)
    assert SPACE.signature(point) != SPACE.signature(other)
    assert "t_hist" not in SPACE.numeric(point) and "p_frozen" in SPACE.numeric(point)
    assert SPACE.signature(dict(point, p_frozen=0.1)) == SPACE.signature(point)
