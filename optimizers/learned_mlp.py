"""A learned optimizer: learned_optimization's per-parameter MLP (``MLPLOpt``, "LOLv2") as an optax transform.

Spec: ``ALGORITHMS.md`` §Learned optimizer and ``adan-baselines-lj38.md`` §5.1. For every tensor ``p`` with
gradient ``g`` (a 0-d tensor is treated as shape ``[1]``)::

    m_k ← d_k m_k + (1 − d_k) g              d = (0.1, 0.5, 0.9, 0.99, 0.999, 0.9999), m_k(0) = 0
    x   = [g, p, m_1, ..., m_6]                                   8 features per element
    x_j ← x_j / √(1e-5 + mean_over_tensor(x_j²))                  per feature, per tensor
    τ_i = tanh(t/T_i − 1),  T = (1, 3, 10, 30, 100, 300, 1e3, 3e3, 1e4, 3e4, 1e5)     11 features
    (o_dir, o_mag) = MLP([x, τ])                                  19 → 32 → ReLU → 32 → ReLU → 2
    u   = −step_mult · o_dir · exp(exp_mult · o_mag)              the update (θ ← θ + u)

with ``t`` the number of previous updates (0 on the first) and the momenta updated before use.

The point of the search is the flat weight vector ``weights``: for each layer in order, the weight matrix
``W`` of shape ``(fan_in, fan_out)`` in row-major order, then the bias ``b`` (``fan_out``); the layer is
``h ↦ h W + b``, ReLU after every layer but the last. With the default sizes that is
19·32 + 32 + 32·32 + 32 + 32·2 + 2 = 1,762 numbers (:func:`num_weights`).

Default weights (:func:`default_weights`, used when ``weights`` is ``None``) are set by hand so that the
optimizer is *normalised momentum descent* out of the box: with ``x̃_{0.9}`` the normalised 0.9-momentum
feature (input 4), the first layer computes ``h_0 = ReLU(x̃_{0.9})`` and ``h_1 = ReLU(−x̃_{0.9})``, every
further hidden layer copies units 0 and 1 (identity, and ReLU of a non-negative number is itself), and
the output is ``o_dir = h_0 − h_1 = x̃_{0.9}``, ``o_mag = 0``; all other weights and biases are 0. Hence::

    u = −step_mult · m_{0.9} / √(1e-5 + mean(m_{0.9}²))

a per-tensor RMS-normalised momentum step of RMS size ``≈ step_mult`` (plain momentum SGD with rate
``step_mult/√1e-5`` once ``mean(m²) ≪ 1e-5``). :func:`init_weights` draws MLPLOpt's random
initialisation instead (Haiku ``Linear``: truncated normal on [−2, 2] with standard deviation
``1/√fan_in``, zero biases).

References:
  Metz, Maheswaranathan, Nixon, Freeman & Sohl-Dickstein, Understanding and correcting pathologies in the
  training of learned optimizers, ICML 2019, arXiv:1810.10180; google/learned_optimization
  ``learned_optimizers/mlp_lopt.py``.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optimizers.registry import Hyperparameter, OptimizerEntry

__all__ = [
    "ENTRIES",
    "MOMENTUM_DECAYS",
    "NUM_INPUTS",
    "NUM_OUTPUTS",
    "TIMESCALES",
    "LearnedMLPState",
    "apply_mlp",
    "default_weights",
    "init_weights",
    "layer_sizes",
    "learned_mlp",
    "num_weights",
    "scale_by_learned_mlp",
    "tensor_features",
    "unflatten_weights",
]

MOMENTUM_DECAYS: tuple[float, ...] = (0.1, 0.5, 0.9, 0.99, 0.999, 0.9999)
TIMESCALES: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4, 3e4, 1e5)
NUM_INPUTS = 2 + len(MOMENTUM_DECAYS) + len(TIMESCALES)  # 19
NUM_OUTPUTS = 2
_NORM_EPS = 1e-5
_MOMENTUM_09 = 2 + MOMENTUM_DECAYS.index(0.9)  # input index of the 0.9-momentum feature (4)
_MAX_HIDDEN_LAYERS = 8
_MAX_HIDDEN_SIZE = 4096

Scalar = jax.typing.ArrayLike


# ------------------------------------------------------------------------------------------------------
# Layer sizes and the flat weight vector


def _check_hidden_sizes(hidden_sizes: Any) -> tuple[int, ...]:
    """``hidden_sizes`` as a tuple of positive ints, or a ``ValueError`` naming the field."""
    if not isinstance(hidden_sizes, (list, tuple)):
        raise ValueError(f"hidden_sizes: expected a list of positive integers, got {hidden_sizes!r}")
    if len(hidden_sizes) > _MAX_HIDDEN_LAYERS:
        raise ValueError(f"hidden_sizes: at most {_MAX_HIDDEN_LAYERS} hidden layers, got {len(hidden_sizes)}")
    for size in hidden_sizes:
        if (
            isinstance(size, bool)
            or not isinstance(size, (int, np.integer))
            or not 1 <= size <= _MAX_HIDDEN_SIZE
        ):
            raise ValueError(
                f"hidden_sizes: each size must be an integer in [1, {_MAX_HIDDEN_SIZE}], got {size!r}"
            )
    return tuple(int(s) for s in hidden_sizes)


def layer_sizes(hidden_sizes: Sequence[int] = (32, 32)) -> tuple[int, ...]:
    """``(19, *hidden_sizes, 2)``: the widths of the MLP's layers, inputs to outputs."""
    return (NUM_INPUTS, *_check_hidden_sizes(hidden_sizes), NUM_OUTPUTS)


def num_weights(hidden_sizes: Sequence[int] = (32, 32)) -> int:
    """The length of the flat weight vector (1,762 for the default ``[32, 32]``)."""
    sizes = layer_sizes(hidden_sizes)
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))


def unflatten_weights(
    weights: Any, hidden_sizes: Sequence[int] = (32, 32)
) -> list[tuple[jax.Array, jax.Array]]:
    """Split a flat weight vector into ``[(W, b), ...]`` (``W``: ``(fan_in, fan_out)``, row-major)."""
    sizes = layer_sizes(hidden_sizes)
    flat = jnp.asarray(weights)
    expected = num_weights(hidden_sizes)
    if flat.shape != (expected,):
        raise ValueError(
            f"weights: expected {expected} values for hidden_sizes {list(sizes[1:-1])}, got shape {flat.shape}"
        )
    layers, offset = [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = flat[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out)
        offset += fan_in * fan_out
        b = flat[offset : offset + fan_out]
        offset += fan_out
        layers.append((w, b))
    return layers


def init_weights(key: jax.Array, hidden_sizes: Sequence[int] = (32, 32), dtype: Any = None) -> jax.Array:
    """MLPLOpt's random initialisation as a flat vector: ``W ~ TruncNormal[−2, 2]·1/√fan_in``, ``b = 0``.

    Args:
      key: a PRNG key.
      hidden_sizes: hidden layer widths.
      dtype: float dtype of the result (default: JAX's default float dtype).

    Returns:
      A flat array of :func:`num_weights` numbers in the layout of :func:`unflatten_weights`.
    """
    dtype = jnp.dtype(float) if dtype is None else jnp.dtype(dtype)
    hidden = _check_hidden_sizes(hidden_sizes)
    draws = jax.random.truncated_normal(key, -2.0, 2.0, (num_weights(hidden),), dtype)
    return draws * jnp.asarray(_init_scales(hidden), dtype)


@functools.lru_cache(maxsize=32)
def _init_scales(hidden_sizes: tuple[int, ...]) -> np.ndarray:
    """Per entry of the flat vector: ``1/√fan_in`` for weights, 0 for biases."""
    sizes = layer_sizes(hidden_sizes)
    parts = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        parts += [np.full(fan_in * fan_out, 1.0 / math.sqrt(fan_in)), np.zeros(fan_out)]
    return np.concatenate(parts)


@functools.lru_cache(maxsize=32)
def _default_weights(hidden_sizes: tuple[int, ...]) -> np.ndarray:
    sizes = layer_sizes(hidden_sizes)
    if any(size < 2 for size in hidden_sizes):
        raise ValueError(
            f"hidden_sizes: the default weights need every hidden size >= 2, got {list(hidden_sizes)}"
        )
    layers = [
        (np.zeros((fan_in, fan_out)), np.zeros(fan_out)) for fan_in, fan_out in zip(sizes[:-1], sizes[1:])
    ]
    if not hidden_sizes:
        layers[0][0][_MOMENTUM_09, 0] = 1.0
    else:
        layers[0][0][_MOMENTUM_09, 0] = 1.0  # h0 = ReLU(x)
        layers[0][0][_MOMENTUM_09, 1] = -1.0  # h1 = ReLU(-x)
        for w, _ in layers[1:-1]:
            w[0, 0] = 1.0
            w[1, 1] = 1.0
        layers[-1][0][0, 0] = 1.0  # direction = h0 - h1 = x
        layers[-1][0][1, 0] = -1.0
    flat = np.concatenate([part.ravel() for layer in layers for part in layer])
    flat.setflags(write=False)
    return flat


def default_weights(hidden_sizes: Sequence[int] = (32, 32)) -> np.ndarray:
    """The hand-set weights of normalised 0.9-momentum descent (module docstring), float64, read-only."""
    return _default_weights(_check_hidden_sizes(hidden_sizes))


# ------------------------------------------------------------------------------------------------------
# Features and the MLP


def _time_features(iteration: jax.Array, dtype: Any) -> jax.Array:
    t = jnp.asarray(iteration).astype(dtype)
    return jnp.tanh(t / jnp.asarray(TIMESCALES, dtype) - 1.0)


def tensor_features(grad: jax.Array, param: jax.Array, momenta: jax.Array, iteration: jax.Array) -> jax.Array:
    """The 19 MLP inputs of every element of one tensor, shape ``param.shape + (19,)``.

    Args:
      grad, param: the tensor's gradient and value (a 0-d tensor is treated as shape ``[1]`` and the
        result has shape ``(19,)``).
      momenta: the already-updated momenta, shape ``param.shape + (6,)``.
      iteration: the number of previous updates ``t``.

    Returns:
      ``[g, p, m_1..m_6]`` each divided by ``√(1e-5 + mean over the tensor of its square)``, then the
      11 time features ``tanh(t/T − 1)`` (the same for every element).
    """
    shape = jnp.shape(param)
    full = shape if shape else (1,)
    x = jnp.concatenate(
        [
            grad.reshape(full + (1,)),
            param.reshape(full + (1,)),
            momenta.reshape(full + (len(MOMENTUM_DECAYS),)),
        ],
        axis=-1,
    )
    axes = tuple(range(len(full)))
    x = x * jax.lax.rsqrt(_NORM_EPS + jnp.mean(jnp.square(x), axis=axes, keepdims=True))
    tau = jnp.broadcast_to(_time_features(iteration, x.dtype), full + (len(TIMESCALES),))
    features = jnp.concatenate([x, tau], axis=-1)
    return features.reshape(shape + (NUM_INPUTS,)) if shape else features.reshape((NUM_INPUTS,))


def apply_mlp(layers: Sequence[tuple[jax.Array, jax.Array]], inputs: jax.Array) -> jax.Array:
    """``inputs @ W + b`` per layer, ReLU between layers (not after the last)."""
    h = inputs
    for i, (w, b) in enumerate(layers):
        h = h @ w.astype(h.dtype) + b.astype(h.dtype)
        if i < len(layers) - 1:
            h = jax.nn.relu(h)
    return h


# ------------------------------------------------------------------------------------------------------
# The transform


class LearnedMLPState(NamedTuple):
    """State of :func:`scale_by_learned_mlp`.

    Attributes:
      count: number of previous updates ``t`` (int32).
      momenta: per tensor, the six momenta stacked on a trailing axis (``param.shape + (6,)``), in the
        computation dtype (the param's dtype, at least float32).
    """

    count: jax.Array
    momenta: optax.Updates


def _compute_dtype(x: Any) -> jnp.dtype:
    return jnp.promote_types(jnp.result_type(x), jnp.float32)


def _weights_array(weights: Any, hidden: tuple[int, ...]) -> Any:
    """The flat weights as an array (NumPy for constants, JAX for arrays/tracers), length checked."""
    if weights is None:
        return default_weights(hidden)
    if isinstance(weights, jax.Array):
        flat = weights
    else:
        _validate_weights(weights)
        flat = np.asarray(weights, dtype=np.float64)
    expected = num_weights(hidden)
    if jnp.shape(flat) != (expected,):
        raise ValueError(
            f"weights: expected {expected} values for hidden_sizes {list(hidden)}, got shape {jnp.shape(flat)}"
        )
    return flat


def scale_by_learned_mlp(
    weights: Any = None,
    step_mult: Scalar = 1e-3,
    exp_mult: Scalar = 1e-3,
    *,
    hidden_sizes: Sequence[int] = (32, 32),
) -> optax.GradientTransformation:
    r"""The per-parameter MLP update of ``MLPLOpt`` (module docstring); needs ``params`` in ``update``.

    Args:
      weights: the flat weight vector (list, NumPy or JAX array; may be traced), or ``None`` for
        :func:`default_weights`.
      step_mult: scale of the step (the step-size hyperparameter; MLPLOpt's ``step_mult``).
      exp_mult: scale of the magnitude output inside the exponential (MLPLOpt's ``exp_mult``).
      hidden_sizes: hidden layer widths (structural).

    Returns:
      A transformation with state :class:`LearnedMLPState`; its updates are ``u`` (add to the params).
    """
    hidden = _check_hidden_sizes(hidden_sizes)
    flat = _weights_array(weights, hidden)
    decays = np.asarray(MOMENTUM_DECAYS)

    def init_fn(params):
        return LearnedMLPState(
            count=jnp.zeros([], jnp.int32),
            momenta=jax.tree.map(
                lambda p: jnp.zeros(jnp.shape(p) + (len(MOMENTUM_DECAYS),), _compute_dtype(p)), params
            ),
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                "params: the learned MLP optimizer needs the parameters (update(g, state, params))"
            )

        def leaf_momenta(g, m):
            d = jnp.asarray(decays, m.dtype)
            return d * m + (1.0 - d) * jnp.asarray(g, m.dtype)[..., None]

        momenta = jax.tree.map(leaf_momenta, updates, state.momenta)

        def leaf_update(g, p, m):
            dtype = m.dtype
            layers = unflatten_weights(jnp.asarray(flat, dtype), hidden)
            inputs = tensor_features(jnp.asarray(g, dtype), jnp.asarray(p, dtype), m, state.count)
            out = apply_mlp(layers, inputs)
            step = out[..., 0] * jnp.exp(out[..., 1] * exp_mult) * step_mult
            return (-step).astype(jnp.result_type(g))

        new_updates = jax.tree.map(leaf_update, updates, params, momenta)
        return new_updates, LearnedMLPState(count=optax.safe_increment(state.count), momenta=momenta)

    return optax.GradientTransformation(init_fn, update_fn)


def learned_mlp(
    step_mult: Scalar = 1e-3,
    exp_mult: Scalar = 1e-3,
    weights: Any = None,
    *,
    hidden_sizes: Sequence[int] = (32, 32),
) -> optax.GradientTransformation:
    """The learned MLP optimizer (``MLPLOpt``); see :func:`scale_by_learned_mlp`.

    Example::

        tx = learned_mlp(step_mult=1e-2)                         # normalised-momentum default weights
        tx = learned_mlp(weights=init_weights(jax.random.key(0)))  # MLPLOpt's random initialisation
        updates, state = tx.update(grads, tx.init(params), params)

    References:
      Metz et al., arXiv:1810.10180; google/learned_optimization ``MLPLOpt``.
    """
    return scale_by_learned_mlp(weights, step_mult, exp_mult, hidden_sizes=hidden_sizes)


# ------------------------------------------------------------------------------------------------------
# Registry declaration


def _validate_weights(value: Any) -> None:
    """``None`` or a flat vector of finite numbers (its length is checked against ``hidden_sizes`` when
    the optimizer is built); JAX arrays, traced or not, are accepted unchecked."""
    if value is None or isinstance(value, jax.Array):
        return
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or not np.issubdtype(value.dtype, np.number) or not np.all(np.isfinite(value)):
            raise ValueError("expected a flat vector of finite numbers")
        return
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected a list of numbers or null, got {type(value).__name__}")
    for x in value:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise ValueError(f"expected finite numbers, got {x!r}")


def _validate_hidden_sizes(value: Any) -> None:
    try:
        _check_hidden_sizes(value)
    except ValueError as err:
        raise ValueError(str(err).removeprefix("hidden_sizes: ")) from None


def _default(fn: Callable[..., Any], name: str) -> Any:
    # Same as optimizers.registry.default_of, which is defined only after the registry has collected
    # the family modules (so it cannot be imported from here during that collection).
    return inspect.signature(fn).parameters[name].default


ENTRIES: tuple[OptimizerEntry, ...] = (
    OptimizerEntry(
        family="learned_mlp",
        constructor=learned_mlp,
        hyperparameters=(
            Hyperparameter(
                "step_mult",
                _default(learned_mlp, "step_mult"),
                low=0.0,
                high=10.0,
                low_exclusive=True,
                doc="scale of the step (MLPLOpt step_mult)",
            ),
            Hyperparameter(
                "exp_mult",
                _default(learned_mlp, "exp_mult"),
                low=0.0,
                high=10.0,
                doc="scale of the magnitude output inside exp (MLPLOpt exp_mult)",
            ),
            Hyperparameter(
                "weights",
                _default(learned_mlp, "weights"),
                kind="json",
                validate=_validate_weights,
                doc="flat MLP weight vector (null: normalised-momentum default weights)",
            ),
            Hyperparameter(
                "hidden_sizes",
                _default(learned_mlp, "hidden_sizes"),
                kind="json",
                validate=_validate_hidden_sizes,
                doc="hidden layer widths, e.g. [32, 32]",
            ),
        ),
        summary="learned optimizer: per-parameter MLP of learned_optimization's MLPLOpt (19 features)",
        reference="arXiv:1810.10180; google/learned_optimization mlp_lopt.py",
        step_size="step_mult",
        presets={"normalised_momentum": {}},
    ),
)
