"""Shared helpers of the spaces tests: point comparison, a small objective and jitted trajectories."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax


def assert_values_close(
    a: Any, b: Any, rtol: float = 1e-9, where: str = "point", atol: float = 1e-12
) -> None:
    """Recursive equality of JSON-like values: floats to ``rtol`` relative or ``atol`` absolute, others
    exact. (An interior value near 0 of a linear scale, e.g. λ = 0 in [-0.999, 0.999], round-trips only to
    a few ulps of the box width, so a small absolute tolerance is needed besides the relative one.)"""
    if isinstance(a, Mapping):
        assert isinstance(b, Mapping), f"{where}: {b!r} is not a mapping"
        assert set(a) == set(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            assert_values_close(a[key], b[key], rtol, f"{where}.{key}", atol)
        return
    if isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_values_close(x, y, rtol, f"{where}[{i}]", atol)
        return
    if isinstance(a, float) and not isinstance(b, bool):
        assert isinstance(b, (int, float)), f"{where}: {b!r} is not a number"
        assert math.isclose(a, b, rel_tol=rtol, abs_tol=atol), f"{where}: {a!r} != {b!r} (rtol {rtol})"
        return
    assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


def make_params(dtype: Any = jnp.float64) -> dict[str, jax.Array]:
    """A small two-leaf parameter tree."""
    w = jnp.asarray([[0.5, -1.2], [0.3, 0.8], [-0.7, 0.1]], dtype)
    b = jnp.asarray([0.25, -0.4], dtype)
    return {"b": b, "w": w}


def loss_fn(params: Mapping[str, jax.Array]) -> jax.Array:
    """A smooth non-quadratic objective with its minimum near 0.3 · ones."""
    w, b = params["w"], params["b"]
    return jnp.sum((w - 0.3) ** 2) + 0.1 * jnp.sum((w - 0.3) ** 4) + jnp.sum(jnp.cosh(b - 0.3) - 1.0)


def run_steps(opt: optax.GradientTransformation, params: Any, num_steps: int) -> tuple[Any, jax.Array]:
    """``num_steps`` of ``opt`` on :func:`loss_fn` (a ``lax.scan``); returns (final params, losses)."""
    opt = optax.with_extra_args_support(opt)
    state = opt.init(params)

    def step(carry, _):
        p, s = carry
        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, s = opt.update(grads, s, p, value=loss)
        return (optax.apply_updates(p, updates), s), loss

    (params, _), losses = jax.lax.scan(step, (params, state), None, length=num_steps)
    return params, losses


def trajectory(
    opt: optax.GradientTransformation, num_steps: int = 20, dtype: Any = jnp.float64
) -> np.ndarray:
    """The losses and final parameters of ``num_steps`` jitted steps, flattened into one array."""
    final, losses = jax.jit(lambda p: run_steps(opt, p, num_steps))(make_params(dtype))
    leaves = [np.asarray(x, dtype=np.float64).ravel() for x in jax.tree.leaves(final)]
    return np.concatenate([np.asarray(losses, dtype=np.float64), *leaves])
