"""Quadratic tasks of chosen dimension and conditioning, with optional gradient noise.

Loss (``x`` the parameters, ``c`` the minimiser, ``H = Q diag(lam) Q^T``):

    f(x) = 1/2 (x - c)^T H (x - c),    lam_i = condition_number^(-i / (dim - 1)),  i = 0..dim-1,

so the eigenvalues span ``[1 / condition_number, 1]`` log-uniformly and ``min f = 0`` (``lower_bound``).
``Q`` is a random rotation (``rotate=True``; the identity otherwise) and ``c ~ N(0, I)``, both drawn from
``np.random.RandomState(seed)`` (the problem instance); the start is ``x0 ~ N(0, init_scale^2 I)`` from
the training key. With ``noise_std > 0`` the gradient, not the loss value, is perturbed:

    loss = f(x) + noise_std * (e.x - stop_gradient(e.x)),  e ~ N(0, I) from the loss key,

so ``grad = H (x - c) + noise_std * e`` while the reported loss stays ``f(x)`` (the construction of
learned_optimization's ``NoisyQuadraticFamily``; Metz et al. 2022, arXiv:2203.11860).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from inner_tasks._common import as_dtype, check_dtype, check_int, check_positive
from inner_tasks.base import Task, TaskFamily

__all__ = ["Quadratic", "QuadraticFamily", "quadratic_matrix"]


@functools.lru_cache(maxsize=64)
def _instance(dim: int, condition_number: float, rotate: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    i = np.arange(dim, dtype=np.float64)
    lam = condition_number ** (-i / max(dim - 1, 1))
    if rotate:
        q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
        q = q * np.sign(np.diag(r))  # Haar-distributed rotation
    else:
        q = np.eye(dim)
    h = (q * lam) @ q.T
    h = 0.5 * (h + h.T)
    c = rng.standard_normal(dim)
    return h, c


def quadratic_matrix(task: Quadratic) -> tuple[np.ndarray, np.ndarray]:
    """``(H, c)`` of ``task`` as float64 NumPy arrays."""
    return _instance(task.dim, float(task.condition_number), bool(task.rotate), task.seed)


@dataclasses.dataclass(frozen=True)
class Quadratic(Task):
    """``1/2 (x - c)^T H (x - c)`` with eigenvalues in ``[1/condition_number, 1]`` (module docstring).

    Attributes:
      dim: number of parameters.
      condition_number: ratio of the largest to the smallest eigenvalue of ``H`` (>= 1).
      noise_std: standard deviation of the additive Gaussian gradient noise (0: exact gradients).
      rotate: use a random eigenbasis (otherwise ``H`` is diagonal).
      seed: the problem instance (rotation and minimiser).
      init_scale: standard deviation of the initial parameters.
      dtype: parameter dtype name.
    """

    dim: int = 10
    condition_number: float = 100.0
    noise_std: float = 0.0
    rotate: bool = True
    seed: int = 0
    init_scale: float = 1.0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_int("dim", self.dim, 1)
        if not math.isfinite(self.condition_number) or self.condition_number < 1:
            raise ValueError(f"condition_number: must be >= 1, got {self.condition_number!r}")
        check_positive("noise_std", self.noise_std, allow_zero=True)
        check_positive("init_scale", self.init_scale)
        check_int("seed", self.seed, 0)
        check_dtype(self.dtype)

    @property
    def name(self) -> str:
        noise = f"_noise{self.noise_std:g}" if self.noise_std else ""
        rot = "" if self.rotate else "_diag"
        return f"quadratic_d{self.dim}_k{self.condition_number:g}{noise}{rot}_s{self.seed}"

    def init(self, key: jax.Array) -> jax.Array:
        dtype = as_dtype(self.dtype)
        return (self.init_scale * jax.random.normal(key, (self.dim,), jnp.float32)).astype(dtype)

    def loss(self, params: jax.Array, key: jax.Array, batch: Any = None) -> jax.Array:
        h, c = quadratic_matrix(self)
        x = params.astype(jnp.promote_types(params.dtype, jnp.float32))
        d = x - jnp.asarray(c, x.dtype)
        value = 0.5 * jnp.dot(d, jnp.asarray(h, x.dtype) @ d)
        if self.noise_std:
            e = jax.random.normal(key, x.shape, x.dtype)
            dot = jnp.dot(e, x)
            value = value + self.noise_std * (dot - jax.lax.stop_gradient(dot))
        return value


@dataclasses.dataclass(frozen=True)
class QuadraticFamily(TaskFamily):
    """Random quadratics: log-uniform dimension and condition number, uniform gradient noise.

    ``sample(key)`` draws ``dim`` log-uniformly in ``[min_dim, max_dim]``, ``log10(condition_number)``
    uniformly in ``[0, max_log10_condition]``, ``noise_std`` uniformly in ``[0, max_noise_std]`` and a
    problem ``seed`` in ``[0, 2^31)``.
    """

    min_dim: int = 2
    max_dim: int = 100
    max_log10_condition: float = 4.0
    max_noise_std: float = 0.0

    def __post_init__(self) -> None:
        check_int("min_dim", self.min_dim, 1)
        check_int("max_dim", self.max_dim, self.min_dim)
        check_positive("max_log10_condition", self.max_log10_condition, allow_zero=True)
        check_positive("max_noise_std", self.max_noise_std, allow_zero=True)

    @property
    def name(self) -> str:
        return f"quadratic_family_d{self.min_dim}-{self.max_dim}_k1e{self.max_log10_condition:g}"

    def sample(self, key: jax.Array) -> dict[str, Any]:
        k1, k2, k3, k4 = jax.random.split(key, 4)
        log_dim = jax.random.uniform(k1, (), minval=math.log(self.min_dim), maxval=math.log(self.max_dim + 1))
        dim = min(int(math.exp(float(log_dim))), self.max_dim)
        log_k = float(jax.random.uniform(k2, (), maxval=self.max_log10_condition))
        noise = float(jax.random.uniform(k3, (), maxval=self.max_noise_std)) if self.max_noise_std else 0.0
        seed = int(jax.random.randint(k4, (), 0, 2**31 - 1))
        return {"dim": dim, "condition_number": round(10.0**log_k, 6), "noise_std": noise, "seed": seed}

    def task_fn(self, cfg: dict[str, Any]) -> Quadratic:
        return Quadratic(**cfg)
