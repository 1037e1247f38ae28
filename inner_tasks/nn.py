"""Minimal neural-network building blocks as pure functions on dict pytrees (no framework needed).

Initialisation follows haiku's defaults (the learned_optimization tasks are haiku models): weights from a
truncated normal with standard deviation ``1 / sqrt(fan_in)`` (truncated at two standard deviations,
rescaled to keep the variance), biases zero.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "dense_init",
    "dense",
    "conv_init",
    "conv2d",
    "batch_norm_init",
    "batch_norm",
    "cross_entropy",
    "accuracy",
]

# std of a standard normal truncated to [-2, 2]; dividing by it keeps the requested variance.
_TRUNC_STD = 0.87962566103423978


def _truncated(key: jax.Array, shape: tuple[int, ...], fan_in: int, dtype) -> jax.Array:
    std = 1.0 / (fan_in**0.5) / _TRUNC_STD
    return (std * jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32)).astype(dtype)


def dense_init(key: jax.Array, n_in: int, n_out: int, dtype=jnp.float32) -> dict[str, jax.Array]:
    """``{"w": [n_in, n_out], "b": [n_out]}``."""
    return {"w": _truncated(key, (n_in, n_out), n_in, dtype), "b": jnp.zeros((n_out,), dtype)}


def dense(p: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """``x @ w + b`` (computed in ``x``'s dtype)."""
    return x @ p["w"].astype(x.dtype) + p["b"].astype(x.dtype)


def conv_init(
    key: jax.Array, c_in: int, c_out: int, size: int = 3, *, bias: bool = True, dtype=jnp.float32
) -> dict[str, jax.Array]:
    """``{"w": [size, size, c_in, c_out], "b": [c_out]}`` (HWIO)."""
    p = {"w": _truncated(key, (size, size, c_in, c_out), size * size * c_in, dtype)}
    if bias:
        p["b"] = jnp.zeros((c_out,), dtype)
    return p


def conv2d(p: dict[str, jax.Array], x: jax.Array, stride: int = 1) -> jax.Array:
    """2-D convolution of NHWC ``x`` with ``SAME`` padding."""
    y = jax.lax.conv_general_dilated(
        x,
        p["w"].astype(x.dtype),
        window_strides=(stride, stride),
        padding="SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    if "b" in p:
        y = y + p["b"].astype(x.dtype)
    return y


def batch_norm_init(channels: int, dtype=jnp.float32) -> dict[str, jax.Array]:
    """``{"scale": ones, "offset": zeros}``."""
    return {"scale": jnp.ones((channels,), dtype), "offset": jnp.zeros((channels,), dtype)}


def batch_norm(p: dict[str, jax.Array], x: jax.Array, eps: float = 1e-5) -> jax.Array:
    """Normalise over all axes but the last with the statistics of ``x`` itself (no running averages)."""
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axis=axes)
    var = jnp.var(x, axis=axes)
    return (x - mean) * jax.lax.rsqrt(var + eps) * p["scale"].astype(x.dtype) + p["offset"].astype(x.dtype)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of integer ``labels`` (float32 or wider)."""
    logits = logits.astype(jnp.promote_types(logits.dtype, jnp.float32))
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[..., None].astype(jnp.int32), axis=-1))


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of ``argmax(logits) == labels``."""
    return jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))
