"""The Frankenstein space: its Adam and AMSGrad points are optax's, its paper points the published ones."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from spaces import SPACES
from tests.spaces.helpers import trajectory

SPACE = SPACES["frankenstein"]


def _decoded(name: str) -> dict:
    """A paper point after a trip through the genes (what an ES hands back)."""
    return SPACE.decode(SPACE.encode(SPACE.paper_points[name]))


@pytest.mark.parametrize(
    "name, reference",
    [("adam", lambda: optax.adam(1e-3)), ("amsgrad", lambda: optax.amsgrad(1e-3))],
)
def test_adam_and_amsgrad_points_equal_optax(name, reference):
    ours = trajectory(SPACE.build(_decoded(name)), 100)
    theirs = trajectory(reference(), 100)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=0)
    ours32 = trajectory(SPACE.build(_decoded(name)), 100, dtype=jnp.float32)
    np.testing.assert_allclose(ours32, trajectory(reference(), 100, dtype=jnp.float32), rtol=1e-5, atol=1e-7)


def test_paper_points_hold_the_published_formulas_and_constants():
    points = SPACE.paper_points
    assert set(points) == {"adam", "amsgrad", "frankenstein_code", "frankenstein_alg1", "frankenstein_appB"}
    code, alg1, app_b = points["frankenstein_code"], points["frankenstein_alg1"], points["frankenstein_appB"]
    # The authors' code: clip (1 - b1) to [0.05, 0.95], rho bounds e^-0.2..e^1.03, clipped ratio b2.
    assert code["beta1_clip"] == [0.05, 0.95] and code["rho_bounds"] == [-0.2, 1.03]
    assert code["beta2_rule"] == "ratio_clipped" and code["update_form"] == "nesterov"
    # Alg. 1 / App. B.1: paper bounds (0.05, 0.99) and (0.8, 1.05), the unclipped ratio b2.
    for point in (alg1, app_b):
        assert point["beta1_clip"] == [0.05, 0.99] and point["rho_bounds"] == [0.8, 1.05]
        assert point["beta2_rule"] == "ratio"
    assert alg1["beta1_rule"] == "lr_sqrt" and alg1["second_moment"] == "max_then_ema"
    assert app_b["beta1_rule"] == "lr_linear" and app_b["second_moment"] == "monotone"
    assert app_b["rho_sqrt_term"] == "x" and app_b["update_form"] == "momentum"
    assert points["adam"]["second_moment"] == "ema" and points["amsgrad"]["second_moment"] == "amsgrad"
    for point in points.values():
        assert point["learning_rate"] == 1e-3 and point["eps"] == 1e-8


def test_every_formula_is_a_choice_and_the_constants_are_numeric():
    center = SPACE.center()
    numeric = SPACE.numeric(center)
    assert set(numeric) == {
        "learning_rate",
        "beta1",
        "base_lr",
        "beta1_clip.0",
        "beta1_clip.1",
        "beta2",
        "eps",
        "weight_decay",
        "rho_bounds.0",
        "rho_bounds.1",
    }
    # The all-zero genes pick the authors'-code formulas (each choice lists the code's option first).
    code = SPACE.paper_points["frankenstein_code"]
    assert SPACE.signature(center) == SPACE.signature(code)
