"""The N-dimensional Rosenbrock function (the extended, chained form).

    f(x) = sum_{i=0}^{dim-2} [ b (x_{i+1} - x_i^2)^2 + (a - x_i)^2 ],   a = 1, b = 100,

with minimum ``f = 0`` at ``x = (a, a^2, ...)`` = ones for ``a = 1`` (Rosenbrock 1960, Comput. J. 3:175).
The start is the classic ``(-1.2, 1, -1.2, 1, ...)`` plus ``init_scale * N(0, I)`` from the training key.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from inner_tasks._common import as_dtype, check_dtype, check_int, check_positive
from inner_tasks.base import Task

__all__ = ["Rosenbrock", "rosenbrock"]


def rosenbrock(x: jax.Array, a: float = 1.0, b: float = 100.0) -> jax.Array:
    """``sum_i b (x_{i+1} - x_i^2)^2 + (a - x_i)^2`` over the last axis."""
    return jnp.sum(b * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (a - x[..., :-1]) ** 2, axis=-1)


@dataclasses.dataclass(frozen=True)
class Rosenbrock(Task):
    """Rosenbrock's valley in ``dim >= 2`` dimensions (module docstring).

    Attributes:
      dim: number of parameters (>= 2).
      a, b: the function's constants (minimum at ``x_i = a^(2^k)``; ones for ``a = 1``).
      init_scale: standard deviation of the noise added to the classic start.
      dtype: parameter dtype name.
    """

    dim: int = 2
    a: float = 1.0
    b: float = 100.0
    init_scale: float = 0.1
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_int("dim", self.dim, 2)
        check_positive("b", self.b)
        check_positive("init_scale", self.init_scale, allow_zero=True)
        check_dtype(self.dtype)

    @property
    def name(self) -> str:
        return f"rosenbrock_d{self.dim}"

    def init(self, key: jax.Array) -> jax.Array:
        start = jnp.where(jnp.arange(self.dim) % 2 == 0, -1.2, 1.0).astype(jnp.float32)
        noise = self.init_scale * jax.random.normal(key, (self.dim,), jnp.float32)
        return (start + noise).astype(as_dtype(self.dtype))

    def loss(self, params: jax.Array, key: jax.Array, batch: Any = None) -> jax.Array:
        x = params.astype(jnp.promote_types(params.dtype, jnp.float32))
        return rosenbrock(x, self.a, self.b)
