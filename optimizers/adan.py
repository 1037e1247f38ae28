"""Adan, the adaptive Nesterov momentum algorithm, as the authors' code computes it.

Xie, Zhou, Li, Lin, Yan: "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep Models",
arXiv 2208.06677 (TPAMI 2024). Reference code: sail-sg/Adan ``adan.py`` and ``timm.optim.Adan`` (they agree
to 1e-15; ``tests/optimizers/test_adan.py`` checks this module against timm).

Convention (the code's, not the paper's): every beta weighs the OLD value, ``m = b1*m + (1-b1)*g``, so the
paper's betas (0.02, 0.08, 0.01) are the code's (0.98, 0.92, 0.99) and the paper's Nesterov coefficient
``1 - beta2_paper`` is ``b2`` here.

This is deliberately not a wrapper of ``optax.adan``: optax 0.2.8 multiplies the gradient difference by
``1 - b2`` (0.08) where the official update uses ``b2`` (0.92), in ``n`` and in the step; its weight decay
is the decoupled (``no_prox=True``) form only; and it adds ``eps_root=1e-8`` under the root (spec
``adan-baselines-lj38.md`` §1.5, upstream PR google-deepmind/optax#1715). The official ``max_grad_norm``
clipping is not part of the transform: chain ``optax.clip_by_global_norm`` in front of it instead.
"""

from __future__ import annotations

import inspect
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers.registry import Hyperparameter, OptimizerEntry, default_of

__all__ = ["ENTRIES", "PAPER_POINTS", "ScaleByAdanState", "adan", "scale_by_adan"]

ArrayLike = jax.typing.ArrayLike


class ScaleByAdanState(NamedTuple):
    """State of :func:`scale_by_adan` and :func:`adan` (every tree has the structure of the params).

    Attributes:
      count: number of updates done so far (int32 scalar); the step about to be taken is ``t = count + 1``
        and a learning-rate schedule is evaluated at ``count``.
      m: EMA of the gradients (official ``exp_avg``), zeros at init.
      v: EMA of the gradient differences ``g_t - g_{t-1}`` (official ``exp_avg_diff``), zeros at init.
      n: EMA of the squared Nesterov gradient ``(g_t + b2 (g_t - g_{t-1}))^2`` (official ``exp_avg_sq``).
      prev_grad: the previous gradient ``g_{t-1}`` (official ``-neg_pre_grad``); ignored at ``t = 1``, where
        the official code sets ``g_0 = g_1`` so that the first difference is exactly zero.
    """

    count: jax.Array
    m: optax.Updates
    v: optax.Updates
    n: optax.Updates
    prev_grad: optax.Updates


def _compute_dtype(dtype: Any) -> Any:
    """Arithmetic dtype for a leaf: its own, but at least float32 (bfloat16/float16 leaves compute in f32)."""
    return jnp.promote_types(dtype, jnp.float32)


def _is_zero(value: Any) -> bool:
    """Whether ``value`` is a concrete Python zero (then the weight-decay term is dropped at trace time)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def _check_number(name: str, value: Any, low: float, high: float | None, *, high_open: bool = True) -> None:
    """Range check for concrete Python numbers; arrays (possibly traced) are the caller's responsibility."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    below_high = high is None or (value < high if high_open else value <= high)
    if not (value >= low and below_high):
        interval = f"[{low}, {high})" if high_open else f"[{low}, {high}]"
        raise ValueError(f"{name}: must lie in {interval}, got {value!r}")


def _init(params: optax.Params) -> ScaleByAdanState:
    return ScaleByAdanState(
        count=jnp.zeros([], jnp.int32),
        m=optax.tree.zeros_like(params),
        v=optax.tree.zeros_like(params),
        n=optax.tree.zeros_like(params),
        prev_grad=optax.tree.zeros_like(params),
    )


def _adan_leaf(g, m, v, n, prev, theta, *, first, b, c_m, c_v, inv_root_bc3, eps, decay, prox, sign):
    """One leaf of one Adan step, all elementwise (XLA fuses it into one pass over the leaf).

    ``b`` is ``(b1, b2, b3, 1 - b1, 1 - b2, 1 - b3)``; ``c_m``, ``c_v`` are the scalar step coefficients ``lr/(1-b1^t)`` and ``lr*b2/(1-b2^t)``; ``decay`` is
    ``lr*wd`` (``None``: no weight decay). Returns ``(update, m, v, n)`` in the dtypes of the inputs.
    """
    dtype = _compute_dtype(g.dtype)
    cast = lambda x: jnp.asarray(x).astype(dtype)  # noqa: E731
    gc = g.astype(dtype)
    diff = jnp.where(first, jnp.zeros((), dtype), gc - prev.astype(dtype))
    b1, b2, b3, one_minus_b1, one_minus_b2, one_minus_b3 = (cast(x) for x in b)
    m_new = b1 * m.astype(dtype) + one_minus_b1 * gc
    v_new = b2 * v.astype(dtype) + one_minus_b2 * diff
    nesterov = gc + b2 * diff
    n_new = b3 * n.astype(dtype) + one_minus_b3 * (nesterov * nesterov)
    denom = jnp.sqrt(n_new) * cast(inv_root_bc3) + cast(eps)
    step = (cast(c_m) * m_new + cast(c_v) * v_new) / denom
    if decay is None:
        update = sign * step
    else:
        c = cast(decay)
        shrink = step + c * theta.astype(dtype)
        update = -shrink / (1 + c) if prox else -shrink
    return update.astype(g.dtype), m_new.astype(m.dtype), v_new.astype(v.dtype), n_new.astype(n.dtype)


def _make(
    learning_rate: optax.ScalarOrSchedule,
    b1: ArrayLike,
    b2: ArrayLike,
    b3: ArrayLike,
    eps: ArrayLike,
    weight_decay: ArrayLike,
    no_prox: bool,
    *,
    sign: float,
) -> optax.GradientTransformation:
    """The Adan transform; ``sign=+1`` with ``learning_rate=1`` and no decay gives the raw direction."""
    use_decay = not _is_zero(weight_decay)

    def update_fn(updates, state, params=None):
        if use_decay and params is None:
            raise ValueError(
                "params: adan with weight_decay needs the params in update(grads, state, params)"
            )
        count = state.count
        t = optax.safe_increment(count)
        lr = learning_rate(count) if callable(learning_rate) else learning_rate
        lr = jnp.asarray(lr)
        tf = t.astype(jnp.result_type(float, lr, b1, b2, b3))
        coefs = dict(
            first=count == 0,
            # the complements are taken in the hyperparameters' precision, before any cast to the leaf dtype
            b=(b1, b2, b3, 1 - jnp.asarray(b1), 1 - jnp.asarray(b2), 1 - jnp.asarray(b3)),
            c_m=lr / (1 - jnp.asarray(b1) ** tf),
            c_v=lr * b2 / (1 - jnp.asarray(b2) ** tf),
            inv_root_bc3=1 / jnp.sqrt(1 - jnp.asarray(b3) ** tf),
            eps=eps,
            decay=lr * weight_decay if use_decay else None,
            prox=not no_prox,
            sign=sign,
        )
        leaves, treedef = jax.tree.flatten(updates)
        rest = [treedef.flatten_up_to(tree) for tree in (state.m, state.v, state.n, state.prev_grad)]
        thetas = treedef.flatten_up_to(params) if use_decay else [None] * len(leaves)
        outs = [_adan_leaf(*args, **coefs) for args in zip(leaves, *rest, thetas)]
        new_updates, m, v, n = (
            (treedef.unflatten(list(col)) for col in zip(*outs)) if outs else (updates,) * 4
        )
        prev_grad = jax.tree.map(lambda g, old: g.astype(old.dtype), updates, state.prev_grad)
        return new_updates, ScaleByAdanState(count=t, m=m, v=v, n=n, prev_grad=prev_grad)

    return optax.GradientTransformation(_init, update_fn)


def scale_by_adan(
    b1: ArrayLike = 0.98,
    b2: ArrayLike = 0.92,
    b3: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
) -> optax.GradientTransformation:
    r"""Rescale gradients by the official Adan direction (no learning rate, no weight decay).

    With ``t`` the 1-based step, ``g_0 := g_1`` (so the first difference is zero) and zero-initialised
    ``m, v, n``, in the code convention (each beta weighs the old value)::

        d_t = g_t - g_{t-1}
        m_t = b1 m_{t-1} + (1 - b1) g_t
        v_t = b2 v_{t-1} + (1 - b2) d_t
        n_t = b3 n_{t-1} + (1 - b3) (g_t + b2 d_t)^2
        u_t = (m_t / (1 - b1^t) + b2 v_t / (1 - b2^t)) / (sqrt(n_t) / sqrt(1 - b3^t) + eps)

    and the output is ``+u_t``. ``optax.chain(scale_by_adan(), optax.add_decayed_weights(wd),
    optax.scale_by_learning_rate(lr))`` is the official ``no_prox=True`` Adan; :func:`adan` is the full
    optimizer (including the default proximal weight decay) in one fused pass.

    Args:
      b1: decay of the gradient EMA (paper ``1 - beta1``).
      b2: decay of the gradient-difference EMA and the Nesterov coefficient (paper ``1 - beta2``).
      b3: decay of the squared-term EMA (paper ``1 - beta3``).
      eps: added to the bias-corrected root, outside the square root.

    Returns:
      An ``optax.GradientTransformation`` with state :class:`ScaleByAdanState`.

    References:
      Xie et al., Adan, https://arxiv.org/abs/2208.06677 (Alg. 1; code convention from sail-sg/Adan).
    """
    for name, value in (("b1", b1), ("b2", b2), ("b3", b3)):
        _check_number(name, value, 0.0, 1.0)
    _check_number("eps", eps, 0.0, None)
    return _make(1.0, b1, b2, b3, eps, 0.0, False, sign=1.0)


# Defaults are stated once, in ``scale_by_adan``'s signature; ``adan`` reads them from there.
_SCALE_DEFAULTS = inspect.signature(scale_by_adan).parameters


def adan(
    learning_rate: optax.ScalarOrSchedule = 1e-3,
    *,
    b1: ArrayLike = _SCALE_DEFAULTS["b1"].default,
    b2: ArrayLike = _SCALE_DEFAULTS["b2"].default,
    b3: ArrayLike = _SCALE_DEFAULTS["b3"].default,
    eps: ArrayLike = _SCALE_DEFAULTS["eps"].default,
    weight_decay: ArrayLike = 0.0,
    no_prox: bool = False,
) -> optax.GradientTransformation:
    r"""Adan (official update, code convention), learning rate and weight decay fused in one pass.

    With ``u_t`` the direction of :func:`scale_by_adan`, ``lr_t`` the (scheduled) learning rate and
    ``wd`` the weight decay, the parameters move to::

        no_prox=False (default, proximal):  theta_t = (theta_{t-1} - lr_t u_t) / (1 + lr_t wd)
        no_prox=True  (decoupled, AdamW):   theta_t = theta_{t-1} (1 - lr_t wd) - lr_t u_t

    i.e. the returned update is ``-(lr_t u_t + lr_t wd theta)/(1 + lr_t wd)`` or
    ``-(lr_t u_t + lr_t wd theta)``. The update needs ``params`` only when ``weight_decay`` is not a
    literal ``0``.

    Args:
      learning_rate: step size ``lr`` (float, traced scalar or optax schedule of the step count).
      b1: decay of the gradient EMA (default 0.98; paper ``1 - beta1``).
      b2: decay of the gradient-difference EMA, also the Nesterov coefficient (default 0.92).
      b3: decay of the squared-term EMA (default 0.99).
      eps: added outside the square root, after bias correction (default 1e-8).
      weight_decay: ``wd`` (the authors' configs use 0.02, with a peak lr 5-10x Adam's).
      no_prox: use the decoupled form instead of the proximal one.

    Returns:
      An ``optax.GradientTransformation`` with state :class:`ScaleByAdanState`.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> opt = adan(1e-2, weight_decay=0.02)
      >>> params = jnp.array([1.0, -2.0])
      >>> state = opt.init(params)
      >>> updates, state = opt.update(2 * params, state, params)
      >>> params = optax.apply_updates(params, updates)

    References:
      Xie et al., Adan, https://arxiv.org/abs/2208.06677; official code https://github.com/sail-sg/Adan.
    """
    for name, value in (("b1", b1), ("b2", b2), ("b3", b3)):
        _check_number(name, value, 0.0, 1.0)
    _check_number("eps", eps, 0.0, None)
    _check_number("weight_decay", weight_decay, 0.0, None)
    if not callable(learning_rate):
        _check_number("learning_rate", learning_rate, 0.0, None)
    if not isinstance(no_prox, bool):
        raise ValueError(f"no_prox: expected true or false, got {no_prox!r}")
    return _make(learning_rate, b1, b2, b3, eps, weight_decay, no_prox, sign=-1.0)


def _declare(name: str, kind: str = "float", doc: str = "", **bounds: Any) -> Hyperparameter:
    """The registry declaration of ``adan``'s keyword ``name`` (default read from the signature)."""
    return Hyperparameter(name, default_of(adan, name), kind, doc=doc, **bounds)  # type: ignore[arg-type]


_BETA = dict(low=0.0, high=1.0, high_exclusive=True, doc="decay weighing the old value (code convention)")

PAPER_POINTS: dict[str, dict[str, Any]] = {
    # The official defaults (sail-sg/Adan and timm): lr 1e-3, betas (0.98, 0.92, 0.99), eps 1e-8, no decay.
    "official": {
        name: default_of(adan, name)
        for name in ("learning_rate", "b1", "b2", "b3", "eps", "weight_decay", "no_prox")
    },
    # The authors' training configs: weight decay 0.02 in the proximal form.
    "official_wd": {"weight_decay": 0.02, "no_prox": False},
}

ENTRIES: tuple[OptimizerEntry, ...] = (
    OptimizerEntry(
        family="adan",
        constructor=adan,
        hyperparameters=(
            _declare(
                "learning_rate", low=0.0, low_exclusive=True, doc="step size (schedules allowed in code)"
            ),
            _declare("b1", **_BETA),
            _declare("b2", **_BETA),
            _declare("b3", **_BETA),
            _declare("eps", low=0.0, doc="added outside the square root, after bias correction"),
            _declare("weight_decay", low=0.0, doc="weight decay factor wd"),
            _declare("no_prox", "bool", doc="decoupled theta*(1-lr*wd) instead of proximal /(1+lr*wd)"),
        ),
        summary="Adan: adaptive Nesterov momentum, official update (code convention), proximal weight decay",
        reference="Xie et al., arXiv 2208.06677; https://github.com/sail-sg/Adan",
        step_size="learning_rate",
        presets=PAPER_POINTS,
    ),
)
