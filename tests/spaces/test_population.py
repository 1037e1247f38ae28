"""A population of 16 decoded points of one signature trains under one compilation.

``space.builder(signature)`` builds the optimizer from numeric hyperparameters that are traced (here
vmapped over the population), so one compiled program serves every candidate of that signature, and a
second population of the same signature reuses it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from spaces import SPACES

POPULATION = 16
NUM_STEPS = 40


def _loss(params):
    """Rosenbrock in (x, y) plus a quadratic bowl on a second leaf."""
    x, y = params["xy"][0], params["xy"][1]
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2 + 0.5 * jnp.sum((params["q"] - 1.0) ** 2)


def _init():
    return {"q": jnp.asarray([0.0, 2.0, -1.0]), "xy": jnp.asarray([-1.2, 1.0])}


def _train(opt: optax.GradientTransformation) -> jax.Array:
    """The loss curve of ``NUM_STEPS`` steps (a ``lax.scan``)."""
    opt = optax.with_extra_args_support(opt)

    def step(carry, _):
        params, state = carry
        loss, grads = jax.value_and_grad(_loss)(params)
        updates, state = opt.update(grads, state, params, value=loss)
        return (optax.apply_updates(params, updates), state), loss

    params = _init()
    _, losses = jax.lax.scan(step, (params, opt.init(params)), None, length=NUM_STEPS)
    return losses


def _population(space, rng: np.random.Generator, base: np.ndarray) -> list[dict]:
    """Points that share ``base``'s structural genes and draw every numeric gene afresh."""
    mask = space.structural_mask()
    return [space.decode(np.where(mask, base, rng.normal(size=space.dimension))) for _ in range(POPULATION)]


def _stack(space, points) -> dict[str, np.ndarray]:
    numerics = [space.numeric(p) for p in points]
    return {key: np.asarray([n[key] for n in numerics]) for key in numerics[0]}


#: The space and the paper point whose structure the population shares.
CASES = [
    ("linear_memory", "rllc_C_0.9_2pi3"),
    ("frankenstein", "frankenstein_code"),
    ("core", "core_minibatch"),
    ("adan", "official"),
    ("learned_mlp_small", "normalised_momentum_8x8"),
]


@pytest.mark.parametrize("name, structure_of", CASES)
def test_population_of_one_signature_compiles_once(name, structure_of):
    space = SPACES[name]
    rng = np.random.default_rng(2024)
    base = space.encode(space.paper_points[structure_of])
    first = _population(space, rng, base)
    second = _population(space, rng, base)
    signatures = {space.signature(p) for p in first + second}
    assert len(signatures) == 1
    signature = signatures.pop()
    builder = space.builder(signature)
    traces = []

    @jax.jit
    def train_population(numeric):
        traces.append(1)  # runs only while tracing
        return jax.vmap(lambda values: _train(builder(values)))(numeric)

    losses_first = np.asarray(train_population(_stack(space, first)))
    losses_second = np.asarray(train_population(_stack(space, second)))
    assert len(traces) == 1
    assert train_population._cache_size() == 1
    assert losses_first.shape == losses_second.shape == (POPULATION, NUM_STEPS)
    # The candidates really differ (numeric values reached the compiled program) ...
    assert len({float(v) for v in losses_first[:, -1]}) > 1
    # ... and a candidate's curve equals that of its optimizer built from the point.
    alone = np.asarray(jax.jit(lambda: _train(space.build(first[0])))())
    np.testing.assert_allclose(losses_first[0], alone, rtol=1e-6, atol=1e-10, equal_nan=True)
