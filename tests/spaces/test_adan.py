"""The Adan space: the official defaults, and a decoded official point builds the official optimizer."""

from __future__ import annotations

import numpy as np

from optimizers.adan import adan
from spaces import SPACES
from tests.spaces.helpers import trajectory

SPACE = SPACES["adan"]


def test_official_point_is_the_official_defaults():
    # sail-sg/Adan and timm defaults: lr 1e-3, betas (0.98, 0.92, 0.99), eps 1e-8, wd 0, no_prox False.
    assert SPACE.paper_points["official"] == {
        "learning_rate": 1e-3,
        "b1": 0.98,
        "b2": 0.92,
        "b3": 0.99,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "no_prox": False,
    }
    assert SPACE.paper_points["official_wd"]["weight_decay"] == 0.02


def test_decoded_official_point_builds_adan_with_official_arguments():
    point = SPACE.decode(SPACE.encode(SPACE.paper_points["official"]))
    published = adan(1e-3, b1=0.98, b2=0.92, b3=0.99, eps=1e-8, weight_decay=0.0, no_prox=False)
    np.testing.assert_allclose(trajectory(SPACE.build(point), 50), trajectory(published, 50), rtol=1e-9)
    assert SPACE.signature(dict(point, no_prox=True)) != SPACE.signature(point)
