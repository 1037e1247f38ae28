"""CoRe, the Continual Resilient optimizer (Eckhoff & Reiher), as an optax transform.

CoRe combines an Adam-like direction (with a step-dependent first-moment decay), RPROP-like per-weight
step sizes adapted from the sign of consecutive gradient moving averages, a weight decay proportional to
each weight's own step, and an optional stability-plasticity balance that freezes the weights with the
highest importance scores. This module reproduces the authors' package ``core-optimizer`` 1.1.0
(PyTorch, BSD-3, ``core_optimizer.CoRe``) step for step, including the places where its code differs
from its documentation (see :func:`scale_by_core`, "Differences from the package documentation").

* :func:`scale_by_core`: the algorithm; it returns the descent step ``Δ + weight_decay·|Δ|·θ`` (optax's
  ``scale_by_*`` convention: positive along the gradient) and needs ``params`` in ``update``;
* :func:`core`: the user-facing alias, ``scale_by_core`` followed by ``optax.scale(-1)``; registered as
  family ``core`` (names and defaults: ``ALGORITHMS.md`` §CoRe);
* :data:`CORE_MINIBATCH`, :data:`CORE_BATCH`, :data:`CORE_DEFAULT`: the published hyperparameter sets
  (they differ only in ``s_max``), also the registry presets ``core_minibatch``, ``core_batch`` and
  ``core_default``;
* :func:`per_tensor_values`: the package's per-tensor lists (``weight_decay=[...]``, ``frozen=[...]``)
  as a pytree, given the torch ``parameters()`` order of the leaves.

References:
  M. Eckhoff, M. Reiher, "CoRe Optimizer: An All-in-One Solution for Machine Learning",
  Mach. Learn.: Sci. Technol. 5 (2024) 015018, https://arxiv.org/abs/2307.15663.
  M. Eckhoff, M. Reiher, "Lifelong Machine Learning Potentials", J. Chem. Theory Comput. 19 (2023) 3509,
  https://arxiv.org/abs/2303.05911.
  Package: https://github.com/ReiherGroup/CoRe_optimizer (``core-optimizer`` 1.1.0 on PyPI).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from optimizers.registry import Hyperparameter, OptimizerEntry

__all__ = [
    "CORE_BATCH",
    "CORE_DEFAULT",
    "CORE_MINIBATCH",
    "ENTRIES",
    "PRESETS",
    "CoReState",
    "core",
    "kth_largest",
    "per_tensor_values",
    "scale_by_core",
]

ArrayLike = jax.typing.ArrayLike
ScalarOrSchedule = optax.ScalarOrSchedule
# A per-tensor hyperparameter: a scalar, a list cycled over the leaves (the package's lists), a pytree
# shaped like the params (or a prefix of them), or a callable ``params -> such a pytree``.
PerTensor = Any

# Relative window of the package's freezing test: a weight is frozen when its score is at least
# 0.999999 times the n-th largest score of its tensor (core_optimizer.py, ``score.ge(0.999999 * ...)``).
_NEAR_TIE = 0.999999


class CoReState(NamedTuple):
    """State of :func:`scale_by_core` (the package's per-tensor ``state`` dicts, one pytree per field).

    Attributes:
      count: τ, the number of updates made so far (int32 scalar; package: ``state['step']``). One counter
        serves every leaf: JAX gradients are never missing, so the package's per-tensor counters, which
        skip tensors whose ``grad`` is ``None``, are all equal.
      g: g_t, the moving average of the gradient, not bias corrected (package: ``prev_1``).
      h: h_t, the moving average of the squared gradient; stays 0 in sign mode (``prev_2``).
      s: s_t, the per-weight step size, initialised to ``learning_rate`` unclipped (``step_size``).
      score: S_t, the per-weight importance score, or ``None`` when ``t_hist == 0`` (``score``).
    """

    count: jax.Array
    g: optax.Updates
    h: optax.Updates
    s: optax.Updates
    score: optax.Updates | None


class _StepScalars(NamedTuple):
    """The scalars of one step, shared by every leaf (computed in float64 when x64 is enabled)."""

    beta1: jax.Array  # β1(τ) = beta1_b + (beta1_a − beta1_b)·exp(−(τ/beta1_c)²)
    bias1: jax.Array  # 1 − β1(τ)^(τ+1)
    bias2: jax.Array  # 1 − beta2^(τ+1)


# ------------------------------------------------------------------------------------------------------
# validation and per-tensor values


def _concrete(value: Any) -> float | None:
    """``value`` as a Python float if it is known at trace time, else ``None`` (a traced scalar)."""
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"expected a number, got the boolean {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a scalar number, got {type(value).__name__} {value!r}") from None


def _check_scalar(name: str, value: Any, test: Callable[[float], bool], requirement: str) -> None:
    """Raise a ``ValueError`` naming ``name`` when a concrete ``value`` fails ``test`` (NaN fails)."""
    try:
        number = _concrete(value)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    if number is not None and not test(number):
        raise ValueError(f"{name}: must be {requirement}, got {number!r}")


def _is_scalar_like(value: Any) -> bool:
    return isinstance(value, (int, float, np.number, jax.core.Tracer)) or (
        hasattr(value, "shape") and hasattr(value, "dtype") and np.ndim(value) == 0
    )


def _is_number_list(value: Any) -> bool:
    """A list or tuple of scalars: the package's per-tensor list, cycled over the leaves."""
    return isinstance(value, (list, tuple)) and all(_is_scalar_like(v) for v in value)


def _per_leaf(value: PerTensor, tree: Any, name: str) -> list[Any]:
    """One value per leaf of ``tree`` (``jax.tree`` order) from a per-tensor hyperparameter.

    ``value`` is a scalar (every leaf), a list/tuple of scalars (leaf k gets ``value[k % len(value)]``, as
    the package cycles its lists), a pytree shaped like ``tree`` or a prefix of it, or a callable
    ``tree -> one of these``.
    """
    leaves = jax.tree.leaves(tree)
    if callable(value) and not _is_scalar_like(value):
        value = value(tree)
    if _is_scalar_like(value):
        return [value] * len(leaves)
    if _is_number_list(value):
        if len(value) == 0:
            raise ValueError(f"{name}: an empty list has no value for any tensor")
        return [value[k % len(value)] for k in range(len(leaves))]
    value_leaves, value_def = jax.tree.flatten(value)
    try:
        subtrees = value_def.flatten_up_to(tree)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name}: not a scalar, a list or a prefix of the params tree ({err})") from None
    out = []
    for v, sub in zip(value_leaves, subtrees, strict=True):
        if not _is_scalar_like(v):
            raise ValueError(f"{name}: expected scalar leaves, got {type(v).__name__}")
        out.extend([v] * len(jax.tree.leaves(sub)))
    return out


def _check_per_tensor(name: str, value: PerTensor, test: Callable[[float], bool], requirement: str) -> None:
    """Validate the concrete entries of a scalar or list hyperparameter (trees are checked at use)."""
    if _is_scalar_like(value):
        _check_scalar(name, value, test, requirement)
    elif _is_number_list(value):
        if len(value) == 0:
            raise ValueError(f"{name}: an empty list has no value for any tensor")
        for i, v in enumerate(value):
            _check_scalar(f"{name}[{i}]", v, test, requirement)
    elif not callable(value):
        for v in jax.tree.leaves(value):
            _check_scalar(name, v, test, requirement)


def _check_t_hist(t_hist: Any) -> int:
    if isinstance(t_hist, (bool, np.bool_)) or isinstance(t_hist, jax.core.Tracer):
        raise ValueError(f"t_hist: must be a Python int (structural), got {t_hist!r}")
    if isinstance(t_hist, (float, np.floating)) and float(t_hist).is_integer():
        t_hist = int(t_hist)
    if not isinstance(t_hist, (int, np.integer)) or t_hist < 0:
        raise ValueError(f"t_hist: must be an integer >= 0, got {t_hist!r}")
    return int(t_hist)


def _validate(
    learning_rate: Any,
    s_min: Any,
    s_max: Any,
    eta_minus: Any,
    eta_plus: Any,
    beta1_a: Any,
    beta1_b: Any,
    beta1_c: Any,
    beta2: Any,
    eps: Any,
    weight_decay: Any,
    p_frozen: Any,
    as_documented: Any,
) -> None:
    """The package's constructor checks, for every value known at trace time (traced ones pass)."""
    if not callable(learning_rate):
        _check_scalar("learning_rate", learning_rate, lambda x: x > 0, "> 0 (it is the initial step size)")
    _check_scalar("s_min", s_min, lambda x: x > 0, "> 0")
    _check_scalar("s_max", s_max, lambda x: x > 0, "> 0")
    lo, hi = _concrete_or_none(s_min), _concrete_or_none(s_max)
    if lo is not None and hi is not None and not lo <= hi:
        raise ValueError(f"s_max: must be >= s_min = {lo!r}, got {hi!r}")
    _check_scalar("eta_minus", eta_minus, lambda x: 0 < x <= 1, "in (0, 1]")
    _check_scalar("eta_plus", eta_plus, lambda x: x >= 1, ">= 1")
    _check_scalar("beta1_a", beta1_a, lambda x: 0 <= x < 1, "in [0, 1)")
    _check_scalar("beta1_b", beta1_b, lambda x: 0 <= x < 1, "in [0, 1)")
    _check_scalar("beta1_c", beta1_c, lambda x: x > 0, "> 0")
    _check_scalar("beta2", beta2, lambda x: x < 1, "< 1 (negative selects sign mode)")
    _check_scalar("eps", eps, lambda x: x >= 0, ">= 0")
    _check_per_tensor("weight_decay", weight_decay, lambda x: x >= 0, ">= 0")
    _check_per_tensor("p_frozen", p_frozen, lambda x: 0 <= x <= 1, "in [0, 1]")
    if not isinstance(as_documented, (bool, np.bool_)):
        raise ValueError(f"as_documented: must be True or False, got {as_documented!r}")


def _concrete_or_none(value: Any) -> float | None:
    try:
        return _concrete(value)
    except ValueError:
        return None


def _path_name(path: tuple[Any, ...]) -> str:
    """``"layer/w"`` for the key path of ``params["layer"]["w"]`` (list indices as numbers)."""
    parts = []
    for key in path:
        for attr in ("key", "idx", "name"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    return "/".join(parts)


def per_tensor_values(values: Sequence[float], params: Any, order: Sequence[Any] | None = None) -> Any:
    """The package's per-tensor list as a pytree like ``params``, for ``weight_decay`` or ``p_frozen``.

    ``core_optimizer.CoRe(..., weight_decay=[v0, v1, ...])`` gives the tensor at position k of the param
    group ``values[k % len(values)]``, k counting in torch's ``parameters()`` order (module registration
    order, e.g. ``[W1, b1, W2, b2]``), which is generally not ``jax.tree`` order (sorted dict keys). This
    helper assigns the values by the torch order given in ``order``.

    Args:
      values: the package's list (a scalar is accepted and applies to every tensor).
      params: the params pytree (or any tree with the same structure).
      order: the leaves in torch order, every leaf exactly once, each named by its key path (as from
        ``jax.tree_util.tree_flatten_with_path``), by ``jax.tree_util.keystr`` of it, or by its
        ``"/"``-joined keys (``"layer/w"``). ``None``: ``jax.tree`` order.

    Returns:
      A pytree with the structure of ``params`` whose leaves are the values.

    Example:
      >>> import jax.numpy as jnp
      >>> params = {"w1": jnp.ones((2, 3)), "b1": jnp.zeros(3)}
      >>> per_tensor_values([0.05, 0.0], params, order=["w1", "b1"])
      {'b1': 0.0, 'w1': 0.05}
    """
    if _is_scalar_like(values):
        values = [values]
    values = list(values)
    if not values:
        raise ValueError("values: an empty list has no value for any tensor")
    with_path, treedef = jax.tree_util.tree_flatten_with_path(params)
    if order is None:
        positions = list(range(len(with_path)))
    else:
        lookup: dict[Any, int] = {}
        for index, (path, _) in enumerate(with_path):
            for alias in (tuple(path), jax.tree_util.keystr(tuple(path)), _path_name(tuple(path))):
                lookup.setdefault(alias, index)
        positions = [-1] * len(with_path)
        for k, name in enumerate(order):
            key = tuple(name) if isinstance(name, list) else name
            if key not in lookup:
                raise ValueError(f"order: {name!r} names no leaf of params")
            index = lookup[key]
            if positions[index] != -1:
                raise ValueError(f"order: {name!r} names a leaf twice")
            positions[index] = k
        if -1 in positions:
            missing = [_path_name(tuple(with_path[i][0])) for i, k in enumerate(positions) if k == -1]
            raise ValueError(f"order: must name every leaf of params; missing {missing}")
    return jax.tree.unflatten(treedef, [values[k % len(values)] for k in positions])


# ------------------------------------------------------------------------------------------------------
# the k-th largest score


def kth_largest(x: jax.Array, n: ArrayLike) -> jax.Array:
    """The ``n``-th largest entry of ``x`` (ties counted with multiplicity), exactly, without sorting.

    Equal to ``jnp.sort(x.ravel())[-n]`` (and to ``torch.topk(x.flatten(), n).values[n - 1]``, NaN ranking
    highest) for ``1 <= n <= x.size``; ``n`` may be a traced integer. A radix search: the floats are mapped
    to order-preserving integer keys, and the answer is built two bits at a time from the top, each pass
    counting in one variadic reduction how many keys reach each of the three candidates. Cost: ``B/2``
    reading passes over ``x`` (B = 32 bits for float32: 16 passes), no sort, no scatter, no data-dependent
    shapes. Measured on XLA:CPU (2 cores) for 2^20 float32 entries: 4.8 ms, about ten elementwise passes;
    one bit per pass took 15-25 ms, and ``jax.lax.top_k`` ~280 ms for any ``k > 1`` (a full sort).
    """
    flat = jnp.ravel(x)
    bits = flat.dtype.itemsize * 8
    itype = {16: jnp.int16, 32: jnp.int32, 64: jnp.int64}[bits]
    magnitude = jnp.asarray(jnp.iinfo(itype).max, itype)
    raw = lax.bitcast_convert_type(flat, itype)
    # Order-preserving signed keys: negative floats get their magnitude bits reversed (an involution).
    # Signed keys, not unsigned ones: XLA:CPU vectorizes the signed compare-and-count several times better.
    keys = jnp.where(raw < 0, raw ^ magnitude, raw)
    count_dtype = jnp.int64 if flat.size >= 2**31 else jnp.int32
    n = jnp.asarray(n, count_dtype)
    digits = jnp.arange(1, 4, dtype=itype)

    def one_pass(p: jax.Array, answer: jax.Array) -> jax.Array:
        # In the unsigned image u = key − INT_MIN, bits below ``shift + 2`` of the answer are still 0, so the
        # candidates are answer + d·2^shift, d = 1, 2, 3 (two's-complement wrap-around is intended).
        shift = (bits - 2 - 2 * p).astype(itype)
        candidates = answer + jnp.left_shift(digits, shift)
        hits = tuple((keys >= candidates[d]).astype(count_dtype) for d in range(3))
        zero = jnp.asarray(0, count_dtype)
        counts = lax.reduce(hits, (zero,) * 3, lambda a, b: tuple(u + v for u, v in zip(a, b)), (0,))
        digit = sum((c >= n).astype(itype) for c in counts)
        return answer + jnp.left_shift(digit, shift)

    answer = lax.fori_loop(0, bits // 2, one_pass, jnp.asarray(jnp.iinfo(itype).min, itype))
    value = jnp.where(answer < 0, answer ^ magnitude, answer)
    return lax.bitcast_convert_type(value, flat.dtype)


def _frozen(score: jax.Array, n: ArrayLike, as_documented: bool) -> jax.Array:
    """Boolean mask of the weights frozen this step (P = 0), given the tensor's n = ⌊p_frozen·size⌋ >= 1.

    Package (default): every weight with S >= 0.999999·S_(n), S_(n) the n-th largest score, so ties and
    near-ties freeze more than n weights, and S_(n) = 0 freezes the whole tensor. Documented
    (``as_documented``): exactly the top n, ties broken by the lower flat index (as ``top_k`` does).
    """
    kth = kth_largest(score, n)
    if not as_documented:
        threshold = (kth.astype(_scalar_dtype()) * _NEAR_TIE).astype(score.dtype)
        return score >= threshold
    above = score > kth
    ties = (score == kth).ravel()
    room = jnp.asarray(n, jnp.int32) - jnp.sum(above, dtype=jnp.int32)
    tie_rank = jnp.cumsum(ties, dtype=jnp.int32)
    return above | (ties & (tie_rank <= room)).reshape(score.shape)


# ------------------------------------------------------------------------------------------------------
# the transform


def _scalar_dtype() -> jnp.dtype:
    """float64 when x64 is enabled (the package computes its scalars as Python doubles), else float32."""
    return jnp.result_type(float)


def _step_scalars(count: jax.Array, beta1_a: Any, beta1_b: Any, beta1_c: Any, beta2: Any) -> _StepScalars:
    dtype = _scalar_dtype()
    tau = count.astype(dtype)
    a, b, c, b2 = (jnp.asarray(v).astype(dtype) for v in (beta1_a, beta1_b, beta1_c, beta2))
    beta1 = b + (a - b) * jnp.exp(-jnp.square(tau / c))
    return _StepScalars(beta1=beta1, bias1=1 - beta1 ** (tau + 1), bias2=1 - b2 ** (tau + 1))


def _frozen_count(fraction: Any, size: int) -> int | jax.Array:
    """n = int(p_frozen · size), static when p_frozen is known at trace time (as the package: a float64
    product truncated), else a traced int32 computed in the scalar dtype."""
    static = _concrete(fraction)
    if static is not None:
        return int(static * size)
    return jnp.floor(jnp.asarray(fraction).astype(_scalar_dtype()) * size).astype(jnp.int32)


def scale_by_core(
    learning_rate: ScalarOrSchedule = 1e-3,
    s_min: ArrayLike = 1e-6,
    s_max: ArrayLike = 1e-2,
    eta_minus: ArrayLike = 0.7375,
    eta_plus: ArrayLike = 1.2,
    beta1_a: ArrayLike = 0.7375,
    beta1_b: ArrayLike = 0.8125,
    beta1_c: ArrayLike = 250.0,
    beta2: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
    weight_decay: PerTensor = 0.1,
    p_frozen: PerTensor = 0.0,
    *,
    t_hist: int = 0,
    as_documented: bool = False,
) -> optax.GradientTransformation:
    r"""The CoRe optimizer's step (``core-optimizer`` 1.1.0), in optax's ``scale_by_*`` sign convention.

    Per weight, with G_t the gradient, τ = t − 1 the number of earlier updates (``count``), n =
    ⌊p_frozen·size⌋ for each tensor, and g_0 = h_0 = S_0 = 0, s_0 = learning_rate:

    .. math::

      β_1(τ) &= \text{beta1_b} + (\text{beta1_a} − \text{beta1_b})\,\exp[−(τ/\text{beta1_c})^2] \\
      h_t &= \text{beta2}\,h_{t−1} + (1 − \text{beta2})\,G_t^2
          \quad(\text{only if beta2} ≥ 0) \\
      g_t &= β_1(τ)\,g_{t−1} + (1 − β_1(τ))\,G_t \\
      P_t &= 0 \text{ if } t_\text{hist} > 0,\ τ ≥ t_\text{hist},\ n > 0 \text{ and }
             S_{t−1} ≥ 0.999999\,S_{t−1,(n)} \text{ (n-th largest of the tensor), else } 1 \\
      s_t &= \mathrm{clip}(s_{t−1}·[\text{eta_plus if } g_t g_{t−1} P_t > 0;\ \text{eta_minus if} < 0;\
             1 \text{ otherwise}],\ \text{s_min},\ \text{s_max}) \\
      u_t &= \frac{g_t / (1 − β_1(τ)^{τ+1})}{\sqrt{h_t / (1 − \text{beta2}^{τ+1})} + \text{eps}}
             \ (\text{beta2} ≥ 0), \qquad u_t = \mathrm{sign}(g_t)\ (\text{beta2} < 0,\ \text{sign mode}) \\
      Δ_t &= u_t P_t s_t, \qquad
      S_t = (1 − 1/t_\text{hist})^{[τ ≥ t_\text{hist} ∧ n > 0]}\,S_{t−1} + g_t Δ_t / t_\text{hist} \\
      θ_t &= θ_{t−1} − \text{weight_decay}·|Δ_t|·θ_{t−1} − Δ_t

    This transform returns ``Δ_t + weight_decay·|Δ_t|·θ_{t−1}``; :func:`core` negates it. Every operation
    follows the package's order (torch's ``lerp`` form of g_t, division by the bias corrections, the clip
    on every step), so float64 trajectories agree with the package to ~1e-15.

    Which defaults: the authors change one hyperparameter between use cases, ``s_max``: 1e-3 for
    mini-batch (stochastic) learning (:data:`CORE_MINIBATCH`), 1.0 for batch (full-batch,
    deterministic) learning (:data:`CORE_BATCH`), 1e-2, the package default, for intermediate cases
    (:data:`CORE_DEFAULT`). The stability-plasticity balance (``t_hist > 0``, ``p_frozen > 0``) is off by
    default; it targets lifelong learning (arXiv 2303.05911; the package's own test uses
    ``t_hist=250`` and 5 % of each weight matrix, no biases).

    Args:
      learning_rate: s_0, the initial per-weight step size, and nothing else: it is read once, in
        ``init``, and never again (as the package). A schedule is accepted and evaluated at step 0;
        later values are ignored, as the package ignores learning-rate schedulers.
      s_min: lower bound of the step sizes (package ``step_sizes[0]``).
      s_max: upper bound of the step sizes (package ``step_sizes[1]``); the one hyperparameter the authors
        tune between mini-batch (1e-3) and batch (1.0) learning.
      eta_minus: factor applied to s when g_t·g_{t−1} < 0 (package ``etas[0]``).
      eta_plus: factor applied to s when g_t·g_{t−1} > 0 (package ``etas[1]``).
      beta1_a: β_1 at τ = 0 (package ``betas[0]``).
      beta1_b: β_1 as τ → ∞ (package ``betas[1]``).
      beta1_c: width, in steps, of the Gaussian from beta1_a to beta1_b (package ``betas[2]``).
      beta2: decay of the squared-gradient average (``betas[3]``); a negative value selects sign mode,
        u_t = sign(g_t), and leaves h at 0.
      eps: added to the square root, after the bias correction.
      weight_decay: d, per tensor: a scalar (may be traced), a list cycled over the leaves in ``jax.tree``
        order (the package cycles its list in torch ``parameters()`` order: use :func:`per_tensor_values`
        to translate), a pytree like params (or a prefix), or a callable ``params -> pytree``.
      p_frozen: fraction of each tensor's weights to freeze once ``τ ≥ t_hist`` (package ``frozen``);
        per tensor like ``weight_decay``. Used only when ``t_hist > 0``. A Python float gives a static
        n = int(p_frozen·size) per tensor, as the package; a traced scalar gives a traced n (same result
        in float64; in float32 a product within one rounding of an integer may truncate differently).
      t_hist: score history length (package ``score_history``); 0 switches the stability-plasticity
        balance off (no score state is kept). Structural (a Python int).
      as_documented: ``False`` (default) reproduces the package's code; ``True`` follows its documented
        algorithm where the two differ (below).

    Returns:
      An ``optax.GradientTransformation`` whose ``update(updates, state, params)`` needs ``params``
      (unless every weight decay is the Python number 0) and whose state is a :class:`CoReState`.

    Differences from the package documentation (spec ``core-spec.md`` §7), reproduced by default:

    1. The freezing test is ``S ≥ 0.999999·S_(n)``, so ties and near-ties freeze more than n weights, and
       when S_(n) = 0 (fewer than n weights ever moved) the whole tensor freezes, permanently (frozen
       scores get no increments). ``as_documented=True``: exactly the top n, ties to the lower index.
    2. The score decays only for tensors with n > 0 (the docs: every tensor once τ ≥ t_hist; only the
       state shows the difference). ``as_documented=True``: every tensor.
    3. The step size is clipped on every step, including when g_t·g_{t−1}·P_t = 0 (the docs leave s
       unchanged there, and clip only the side that moved). This matters only for a learning rate
       outside [s_min, s_max]. ``as_documented=True``: ``s_t = min(eta_plus·s, s_max)`` if positive,
       ``max(eta_minus·s, s_min)`` if negative, else ``s_{t−1}``.
    4. Ranking is per tensor (the docs say "fraction of all parameters"), with n fixed by the tensor's
       size. A stacked leaf (L layers in one array) is ranked as one tensor; split it to match torch's
       per-layer tensors.
    5. The lists are per tensor, not per group (and the package indexes ``weight_decay`` among tensors
       that have a gradient; JAX gradients always exist, so the two indexings agree here).

    Not reproduced: torch's skipping of tensors whose ``grad`` is ``None`` (JAX has no such gradients; the
    counter τ is shared); ``maximize`` (pass ``-grads``); complex parameters; several param groups (use
    ``optax.multi_transform`` or ``optax.partition`` with one CoRe per group).

    Cost: the memory-traffic floor of the elementwise step is 9 array passes (read G, g, h, s, θ; write
    g, h, s and the update), 11 with the score. All of it is elementwise and jit fuses it; a backend with
    multi-output fusion (XLA:GPU) can emit it as one kernel. XLA:CPU has no multi-output fusion and
    emits one loop per output (h, g, s, update): 16 passes, 1.78x the floor by XLA's own cost analysis,
    measured 1.8x on 2^22 float32 weights (26 ms against 14.7 ms for 9 passes). The ranking, once
    ``τ ≥ t_hist``, costs 16 reading passes per float32 tensor with n > 0 (see :func:`kth_largest`); before
    that ``lax.cond`` skips it.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> opt = optax.chain(scale_by_core(s_max=1.0), optax.scale(-1.0))
      >>> params = {"w": jnp.ones(3)}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.ones(3)}, state, params)

    References:
      Eckhoff & Reiher, CoRe optimizer, https://arxiv.org/abs/2307.15663;
      Eckhoff & Reiher, Lifelong Machine Learning Potentials, https://arxiv.org/abs/2303.05911.
    """
    t_hist = _check_t_hist(t_hist)
    _validate(
        learning_rate,
        s_min,
        s_max,
        eta_minus,
        eta_plus,
        beta1_a,
        beta1_b,
        beta1_c,
        beta2,
        eps,
        weight_decay,
        p_frozen,
        as_documented,
    )
    as_documented = bool(as_documented)

    def init_fn(params: optax.Params) -> CoReState:
        s0 = learning_rate(0) if callable(learning_rate) else learning_rate
        return CoReState(
            count=jnp.zeros([], jnp.int32),
            g=optax.tree.zeros_like(params),
            h=optax.tree.zeros_like(params),
            s=jax.tree.map(lambda p: jnp.full_like(p, s0), params),
            score=optax.tree.zeros_like(params) if t_hist > 0 else None,
        )

    def update_fn(
        updates: optax.Updates, state: CoReState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, CoReState]:
        grads, treedef = jax.tree.flatten(updates)
        reference = params if params is not None else updates
        decays = _per_leaf(weight_decay, reference, "weight_decay")
        decays = [None if _concrete_or_none(d) == 0.0 else d for d in decays]
        if params is None and any(d is not None for d in decays):
            raise ValueError("params: scale_by_core needs params for its weight decay (weight_decay != 0)")
        thetas = treedef.flatten_up_to(params) if params is not None else [None] * len(grads)
        if t_hist > 0:
            fractions = _per_leaf(p_frozen, reference, "p_frozen")
            for f in fractions:
                _check_scalar("p_frozen", f, lambda x: 0 <= x <= 1, "in [0, 1]")
            scores = treedef.flatten_up_to(state.score)
        else:
            fractions = scores = [None] * len(grads)
        beta2_static = _concrete_or_none(beta2)
        sign_mode = None if beta2_static is None else beta2_static < 0
        scalars = _step_scalars(state.count, beta1_a, beta1_b, beta1_c, beta2)
        leaf_step = _leaf_step(
            scalars=scalars,
            count=state.count,
            hyper=(s_min, s_max, eta_minus, eta_plus, beta2, eps),
            sign_mode=sign_mode,
            t_hist=t_hist,
            as_documented=as_documented,
        )
        outputs = [
            leaf_step(*leaf)
            for leaf in zip(
                grads,
                treedef.flatten_up_to(state.g),
                treedef.flatten_up_to(state.h),
                treedef.flatten_up_to(state.s),
                scores,
                thetas,
                decays,
                fractions,
                strict=True,
            )
        ]
        columns = list(zip(*outputs, strict=True)) if outputs else [()] * 5
        step, g, h, s, score = (jax.tree.unflatten(treedef, list(column)) for column in columns)
        new_state = CoReState(
            count=optax.safe_increment(state.count),
            g=g,
            h=h,
            s=s,
            score=score if t_hist > 0 else None,
        )
        return step, new_state

    return optax.GradientTransformation(init_fn, update_fn)


def _leaf_step(
    *,
    scalars: _StepScalars,
    count: jax.Array,
    hyper: tuple[Any, ...],
    sign_mode: bool | None,
    t_hist: int,
    as_documented: bool,
) -> Callable[..., tuple[jax.Array, ...]]:
    """The per-tensor step of the package's ``_single_tensor_core``, as one fusable elementwise pass.

    Returns ``f(grad, g, h, s, score, theta, decay, fraction) -> (step, g, h, s, score)``; ``score``,
    ``theta``, ``decay`` and ``fraction`` may be ``None`` (balance off, or a weight decay known to be 0).
    """
    s_min, s_max, eta_minus, eta_plus, beta2, eps = hyper

    def step(grad, g_prev, h, s, score, theta, decay, fraction):
        dtype = grad.dtype
        # Half precisions compute in float32 and store in their own dtype; float32/64 compute as they are.
        work = jnp.promote_types(dtype, jnp.float32)

        def cast(x):
            return jnp.asarray(x).astype(work)

        G, g_prev, h, s = cast(grad), cast(g_prev), cast(h), cast(s)
        # Second moment (package: prev_2.mul_(beta2).addcmul_(G, G, value=1 - beta2)); untouched in sign mode.
        if sign_mode is not True:
            b2 = jnp.asarray(beta2).astype(_scalar_dtype())
            h_new = h * b2.astype(work) + ((1 - b2).astype(work) * G) * G
            if sign_mode is None:
                h_new = jnp.where(b2 >= 0, h_new, h)
        else:
            h_new = h
        # First moment, in torch's lerp form: grad.lerp_(prev_1, beta1), weight β1 >= 0.5 or not.
        w = scalars.beta1.astype(work)
        small = jnp.abs(w) < 0.5
        diff = g_prev - G
        g = jnp.where(small, G, g_prev) + jnp.where(small, w, -(1 - w)) * diff
        # Stability-plasticity: the frozen mask from S_{t-1}, then the score decay.
        plasticity = None
        if t_hist > 0:
            S = cast(score)
            n = _frozen_count(fraction, grad.size)  # size 1 for a 0-d tensor, as torch.prod(size())
            started = count >= t_hist
            if isinstance(n, int) and n == 0:
                ranked = decayed = None
            else:
                ranked = started if isinstance(n, int) else started & (n > 0)
                decayed = ranked
                frozen = lax.cond(
                    ranked,
                    lambda x: _frozen(x, jnp.maximum(n, 1), as_documented),
                    lambda x: jnp.zeros(x.shape, bool),
                    S,
                )
                plasticity = jnp.where(frozen, 0, 1).astype(work)
            if as_documented:
                decayed = started
            if decayed is not None:
                S = jnp.where(decayed, S * jnp.asarray(1.0 - 1.0 / t_hist, work), S)
        # RPROP-like step size from the sign of g_t·g_{t-1}·P_t.
        q = g * g_prev
        if plasticity is not None:
            q = q * plasticity
        lo, hi = cast(s_min), cast(s_max)
        if as_documented:
            s_new = jnp.where(
                q > 0,
                jnp.minimum(s * cast(eta_plus), hi),
                jnp.where(q < 0, jnp.maximum(s * cast(eta_minus), lo), s),
            )
        else:
            # NaN q matches no branch and stays NaN, as in the package.
            factor = jnp.where(
                q > 0, cast(eta_plus), jnp.where(q < 0, cast(eta_minus), jnp.where(q == 0, 1, q))
            )
            s_new = jnp.clip(s * factor, lo, hi)
        # Adam-like direction, or its sign.
        if sign_mode is not True:
            adam = (g / scalars.bias1.astype(work)) / (
                jnp.sqrt(h_new / scalars.bias2.astype(work)) + cast(eps)
            )
        u = jnp.sign(g) if sign_mode is True else adam
        if sign_mode is None:
            u = jnp.where(jnp.asarray(beta2) >= 0, adam, jnp.sign(g))
        delta = u * s_new
        if plasticity is not None:
            delta = delta * plasticity
        if t_hist > 0:
            S = S + (jnp.asarray(1.0 / t_hist, work) * g) * delta
        out = delta if decay is None else delta + (cast(decay) * jnp.abs(delta)) * cast(theta)
        new_score = S.astype(dtype) if t_hist > 0 else None
        return out.astype(dtype), g.astype(dtype), h_new.astype(dtype), s_new.astype(dtype), new_score

    return step


# The defaults of scale_by_core's keywords: stated once, in its signature, and read from there.
_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {name: parameter.default for name, parameter in inspect.signature(scale_by_core).parameters.items()}
)


def core(
    learning_rate: ScalarOrSchedule = _DEFAULTS["learning_rate"],
    s_min: ArrayLike = _DEFAULTS["s_min"],
    s_max: ArrayLike = _DEFAULTS["s_max"],
    eta_minus: ArrayLike = _DEFAULTS["eta_minus"],
    eta_plus: ArrayLike = _DEFAULTS["eta_plus"],
    beta1_a: ArrayLike = _DEFAULTS["beta1_a"],
    beta1_b: ArrayLike = _DEFAULTS["beta1_b"],
    beta1_c: ArrayLike = _DEFAULTS["beta1_c"],
    beta2: ArrayLike = _DEFAULTS["beta2"],
    eps: ArrayLike = _DEFAULTS["eps"],
    weight_decay: PerTensor = _DEFAULTS["weight_decay"],
    p_frozen: PerTensor = _DEFAULTS["p_frozen"],
    *,
    t_hist: int = _DEFAULTS["t_hist"],
    as_documented: bool = _DEFAULTS["as_documented"],
) -> optax.GradientTransformation:
    """The CoRe optimizer (arXiv 2307.15663): :func:`scale_by_core` followed by ``optax.scale(-1)``.

    The update is ``−Δ_t − weight_decay·|Δ_t|·θ_{t−1}``, so ``optax.apply_updates`` gives the package's
    θ_t = (1 − weight_decay·|Δ_t|)·θ_{t−1} − Δ_t. Arguments, defaults, equations and the two published
    default sets (``s_max = 1e-3`` mini-batch, ``1.0`` batch, ``1e-2`` intermediate): see
    :func:`scale_by_core`. ``update`` needs ``params``.

    Example:
      >>> import jax, jax.numpy as jnp, optax
      >>> opt = core(**CORE_BATCH)
      >>> params = jnp.asarray([1.0, -2.0])
      >>> state = opt.init(params)
      >>> for _ in range(100):
      ...     grads = jax.grad(lambda p: jnp.sum((p - 3.0) ** 2))(params)
      ...     updates, state = opt.update(grads, state, params)
      ...     params = optax.apply_updates(params, updates)
    """
    return optax.chain(
        scale_by_core(
            learning_rate,
            s_min,
            s_max,
            eta_minus,
            eta_plus,
            beta1_a,
            beta1_b,
            beta1_c,
            beta2,
            eps,
            weight_decay,
            p_frozen,
            t_hist=t_hist,
            as_documented=as_documented,
        ),
        optax.scale(-1.0),
    )


# ------------------------------------------------------------------------------------------------------
# published settings and the registry entry

_PAPER_NAMES = (
    "learning_rate",
    "s_min",
    "s_max",
    "eta_minus",
    "eta_plus",
    "beta1_a",
    "beta1_b",
    "beta1_c",
    "beta2",
    "eps",
    "weight_decay",
    "t_hist",
    "p_frozen",
)


def _paper_point(**overrides: Any) -> Mapping[str, Any]:
    return MappingProxyType({name: overrides.get(name, _DEFAULTS[name]) for name in _PAPER_NAMES})


CORE_MINIBATCH: Mapping[str, Any] = _paper_point(s_max=1e-3)
"""Mini-batch (stochastic) learning: the package defaults with ``s_max = 1e-3`` (so s can only fall)."""
CORE_BATCH: Mapping[str, Any] = _paper_point(s_max=1.0)
"""Batch (full-batch, deterministic) learning: the package defaults with ``s_max = 1.0``."""
CORE_DEFAULT: Mapping[str, Any] = _paper_point()
"""The package defaults (``s_max = 1e-2``), recommended for intermediate batch sizes."""
PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {"core_minibatch": CORE_MINIBATCH, "core_batch": CORE_BATCH, "core_default": CORE_DEFAULT}
)

_HYPERPARAMETERS = (
    Hyperparameter(
        "learning_rate",
        _DEFAULTS["learning_rate"],
        low=0.0,
        low_exclusive=True,
        doc="initial per-weight step size s0 (read once, at init)",
    ),
    Hyperparameter("s_min", _DEFAULTS["s_min"], low=0.0, low_exclusive=True, doc="smallest step size"),
    Hyperparameter(
        "s_max",
        _DEFAULTS["s_max"],
        low=0.0,
        low_exclusive=True,
        doc="largest step size: 1e-3 mini-batch, 1.0 batch, 1e-2 intermediate",
    ),
    Hyperparameter(
        "eta_minus",
        _DEFAULTS["eta_minus"],
        low=0.0,
        high=1.0,
        low_exclusive=True,
        doc="step-size factor after a sign change of the gradient average",
    ),
    Hyperparameter("eta_plus", _DEFAULTS["eta_plus"], low=1.0, doc="step-size factor when the sign is kept"),
    Hyperparameter(
        "beta1_a",
        _DEFAULTS["beta1_a"],
        low=0.0,
        high=1.0,
        high_exclusive=True,
        doc="first-moment decay at the first step",
    ),
    Hyperparameter(
        "beta1_b",
        _DEFAULTS["beta1_b"],
        low=0.0,
        high=1.0,
        high_exclusive=True,
        doc="first-moment decay after many steps",
    ),
    Hyperparameter(
        "beta1_c",
        _DEFAULTS["beta1_c"],
        low=0.0,
        low_exclusive=True,
        doc="width in steps of the Gaussian from beta1_a to beta1_b",
    ),
    Hyperparameter(
        "beta2",
        _DEFAULTS["beta2"],
        high=1.0,
        high_exclusive=True,
        doc="second-moment decay; negative selects sign mode",
    ),
    Hyperparameter("eps", _DEFAULTS["eps"], low=0.0, doc="added to the root of the second moment"),
    Hyperparameter(
        "weight_decay",
        _DEFAULTS["weight_decay"],
        low=0.0,
        doc="decay d, applied as d*|step|*theta (per tensor lists: Python API)",
    ),
    Hyperparameter(
        "p_frozen",
        _DEFAULTS["p_frozen"],
        low=0.0,
        high=1.0,
        doc="fraction of each tensor frozen by the stability-plasticity balance",
    ),
    Hyperparameter(
        "t_hist",
        _DEFAULTS["t_hist"],
        kind="int",
        low=0,
        doc="score history length; 0 switches the stability-plasticity balance off",
    ),
    Hyperparameter(
        "as_documented",
        _DEFAULTS["as_documented"],
        kind="bool",
        doc="follow the package's documented algorithm where its code differs",
    ),
)

ENTRIES: tuple[OptimizerEntry, ...] = (
    OptimizerEntry(
        family="core",
        constructor=core,
        hyperparameters=_HYPERPARAMETERS,
        summary="CoRe: Adam-like direction, RPROP-like step sizes, |step|-coupled decay, optional freezing",
        reference="Eckhoff & Reiher, arXiv:2307.15663 and arXiv:2303.05911; PyPI core-optimizer 1.1.0",
        needs_value=False,
        step_size="s_max",
        presets=PRESETS,
    ),
)
