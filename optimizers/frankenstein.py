r"""Frankenstein: one transform whose options select each coefficient formula.

Sources: the Frankenstein paper (text in ``shared/papers/frankenstein.txt``): Alg. 1 and its "Numerical
Stabilization" paragraph, App. B.1 (eqs. 10-20, the version the convergence proof analyses), and the
authors' public PyTorch class ``Frankenstein(Optimizer)`` as written out in ``specs/frankenstein-spec.md``.
Adam (Kingma & Ba, arXiv 1412.6980) and AMSGrad (Reddi et al., arXiv 1904.09237) are points of the same
transform, so a search can move between them and the three Frankenstein variants.

One step, with ``t`` the 1-based step, ``lr_t`` the (scheduled) learning rate evaluated at ``t - 1``, all
products elementwise, ``m_0 = v_0 = 0`` and ``x_0 = max(lr_0, eps)``::

    g   <- g + wd * theta                                   (only decoupled_weight_decay=False)
    b1  = beta1                                             beta1_rule="constant"
        = 1 - clip((1 - beta1) sqrt(lr_t / base_lr), lo, hi)   "lr_sqrt"   (Alg. 1, code)
        = 1 - clip((1 - beta1) lr_t / base_lr, lo, hi)         "lr_linear" (App. B.1 eq. 11)
    P   = 1/2                                               misalignment="none"
        = arccos(tanh(s m_{t-1} g)) / pi                    "arccos_tanh" (s: see momentum_form)
    x   = g^2 + eps
    b2  = beta2                                             beta2_rule="constant"
        = 1 - (x / x_{t-1}) |1/2 - P|                       "ratio" (paper; may be negative)
        = 1 - clip(x / x_{t-1}, 0, 1) |1/2 - P|             "ratio_clipped" (code; b2 in [1/2, 1])
    second moment, giving the denominator D and the root term vh used by rho:
      "max_then_ema" (Alg. 1, code): vh = max(v, x);  D = sqrt(vh);  v <- b2 vh + (1 - b2) x
      "monotone" (App. B.1 eq. 14, 18): vh = max(v, x);  D = sqrt(vh);  v <- max(v, b2 vh + (1 - b2) x)
      "ema" (Adam):     v <- b2 v + (1 - b2) g^2;  vh = v / (1 - b2^t) [bias_correction];  D = sqrt(vh) + eps
      "amsgrad":        as "ema", then vh = vmax <- max(vmax, vh);  D = sqrt(vh) + eps
    rho = 1                                                 rho_rule="one"
        = log(clip(e + 1/2 - P + sqrt(r), e^lo, e^hi))      "log_clip", r = vh (rho_sqrt_term="vhat": Alg. 1,
                                                            code) or r = x ("x": App. B.1 eq. 15)
    xi  = 1                                                 xi_rule="one"
        = (1 + e^{-1/2}) / (1 + exp(-|x_{t-1} - P|))        "sigmoid" (eq. 9)
    S   = lr_t xi / D                                       (the per-coordinate step)
    momentum, giving the velocity V (a parameter increment):
      "heavy_ball" (paper, code): m <- rho b1 m - S g;   V = m            (s = +1 in P)
      "ema" (Adam):               m <- rho b1 m + (1 - b1) g;  V = -S m / (1 - prod b1) [bias_correction]
                                                                          (s = -1 in P)
    update:  "adam" and "momentum": Delta = V      "nesterov" (Alg. 1, code): Delta = b1 V - S g
    Delta <- Delta - lr_t wd theta                          (only decoupled_weight_decay=True)
    x_{t-1} <- x

Choices that the sources leave open, made explicit here:

* ``m`` of the heavy-ball form moves along ``-g`` while the EMA form's ``m`` moves along ``+g``; P is computed
  from the direction of motion (``s = -1`` for the EMA form) so that ``P > 1/2`` means "momentum moving
  downhill" in both forms.
* ``update_form="adam"`` and ``"momentum"`` are the same rule, ``Delta = V``: the velocity of the EMA form is
  Adam's ``-lr m_hat / (sqrt(v_hat) + eps)`` (Adam's update) and the heavy-ball velocity is ``m`` (App. B.1
  eq. 20, "momentum as update"). Both names are kept so that each source's setting reads as written.
* ``bias_correction`` corrects the EMAs whose decay is one scalar per step: ``m`` of the EMA momentum
  (dividing by ``1 - prod_k b1_k``, which is ``1 - beta1^t`` for a constant ``b1``; ``rho`` is not part of
  the correction) and ``v`` of the ``"ema"``/``"amsgrad"`` moments with ``beta2_rule="constant"``. The
  heavy-ball momentum and the max-type moments are not averages and are never corrected; per-coordinate
  ratio ``b2`` are not corrected either.
* With ``"ema"``/``"amsgrad"`` moments the EMA tracks ``g^2`` and ``eps`` is added outside the root (Adam),
  while ``x = g^2 + eps`` still drives the ratio ``b2``, ``xi`` and ``rho``'s ``"x"`` term.
  With the unclipped ``"ratio"`` rule such an EMA can turn negative; ``vh`` is then clamped at 0.
* ``x_0 = max(lr_0, eps)``: the code's ``x_0 = lr``, guarded for warm-up schedules that start at 0.
* P is evaluated as ``(2/pi) atan(exp(-y))``, an exact identity for ``arccos(tanh(y))/pi`` that stays
  accurate where ``tanh`` saturates and avoids XLA:CPU's slow ``atan2`` (:func:`misalignment_factor`).
* App. B.1 initialises ``v_0 = eps``, Alg. 1 and the code ``v_0 = 0``; for the max-type moments both give the
  same trajectory (``vh_1 = x_1 >= eps``), so ``v_0 = 0`` throughout. App. B.1's ``alpha_t = alpha/sqrt(t)``
  is a learning-rate schedule, passed as ``learning_rate``.
* The paper's "Numerical Stabilization" bounds are ``beta1_clip=(0.05, 0.99)`` (so b1 in [0.01, 0.95]) and
  ``rho_bounds=(0.8, 1.05)``; the code uses ``(0.05, 0.95)`` and ``(-0.2, 1.03)`` (the defaults here).

``beta1_clip`` and ``rho_bounds`` are pairs (``json`` hyperparameters in the registry; lists from JSON are
accepted); their elements may be traced scalars, but the registry treats them as structural.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers.registry import Hyperparameter, OptimizerEntry, default_of

__all__ = [
    "ENTRIES",
    "OPTION_CHOICES",
    "PAPER_POINTS",
    "FrankensteinOptions",
    "FrankensteinState",
    "beta1_coefficient",
    "beta2_coefficient",
    "frankenstein",
    "from_point",
    "misalignment_factor",
    "rho_factor",
    "scale_by_frankenstein",
    "xi_factor",
]

ArrayLike = jax.typing.ArrayLike

XI_SCALE = 1.0 + math.exp(-0.5)  # the code's 1.60653065971

OPTION_CHOICES: dict[str, tuple[str, ...]] = {
    "beta1_rule": ("constant", "lr_sqrt", "lr_linear"),
    "misalignment": ("none", "arccos_tanh"),
    "rho_rule": ("one", "log_clip"),
    "rho_sqrt_term": ("vhat", "x"),
    "xi_rule": ("one", "sigmoid"),
    "beta2_rule": ("constant", "ratio", "ratio_clipped"),
    "second_moment": ("ema", "amsgrad", "max_then_ema", "monotone"),
    "momentum_form": ("ema", "heavy_ball"),
    "update_form": ("adam", "nesterov", "momentum"),
}


@dataclasses.dataclass(frozen=True)
class FrankensteinOptions:
    """The structural (static) options of :func:`scale_by_frankenstein`; see the module docstring.

    No defaults here: they are stated once, in :func:`scale_by_frankenstein`'s signature.
    """

    beta1_rule: str
    misalignment: str
    rho_rule: str
    rho_sqrt_term: str
    xi_rule: str
    beta2_rule: str
    second_moment: str
    momentum_form: str
    update_form: str
    bias_correction: bool

    def __post_init__(self) -> None:
        for name, choices in OPTION_CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                allowed = ", ".join(repr(c) for c in choices)
                raise ValueError(f"{name}: must be one of {allowed}, got {value!r}")
        if not isinstance(self.bias_correction, bool):
            raise ValueError(f"bias_correction: expected true or false, got {self.bias_correction!r}")

    @property
    def needs_x_prev(self) -> bool:
        """Whether the state keeps ``x_{t-1}`` (for xi or a ratio beta2)."""
        return self.xi_rule == "sigmoid" or self.beta2_rule != "constant"

    @property
    def needs_beta1_product(self) -> bool:
        """Whether the state keeps ``prod b1`` (bias correction of an EMA momentum with a varying b1)."""
        return self.bias_correction and self.momentum_form == "ema" and self.beta1_rule != "constant"

    @property
    def adam_moment(self) -> bool:
        """Whether the second moment is Adam's EMA of g^2 (eps outside the root)."""
        return self.second_moment in ("ema", "amsgrad")


class FrankensteinState(NamedTuple):
    """State of :func:`scale_by_frankenstein` (trees have the params' structure and dtypes).

    Attributes:
      count: number of updates done (int32); the schedule is evaluated at ``count``, ``t = count + 1``.
      beta1_product: ``prod_k b1_k`` (scalar), only for a bias-corrected EMA momentum with a varying b1;
        otherwise ``None``.
      m: the momentum (heavy ball: a parameter increment; EMA: an average of gradients).
      v: the second-moment tracker (``vmax`` of the code for the max-type moments).
      v_max: AMSGrad's running max of the bias-corrected EMA (``second_moment="amsgrad"``), else ``None``.
      x_prev: ``x_{t-1} = g_{t-1}^2 + eps`` (code ``s``; ``x_0 = max(lr_0, eps)``), kept when xi or beta2
        needs it, else ``None``.
    """

    count: jax.Array
    beta1_product: jax.Array | None
    m: optax.Updates
    v: optax.Updates
    v_max: optax.Updates | None
    x_prev: optax.Updates | None


# --- coefficient formulas (pure; the transform calls exactly these) ---------------------------------


def _pair(name: str, value: Any) -> tuple[Any, Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{name}: expected a pair [low, high], got {value!r}")
    return value[0], value[1]


def _beta1_pair(learning_rate, *, rule, beta1, base_lr, beta1_clip) -> tuple[jax.Array, jax.Array]:
    """``(b1, 1 - b1)``, the complement computed directly (no cancellation in low precision)."""
    beta1 = jnp.asarray(beta1)
    if rule == "constant":
        return beta1, 1 - beta1
    lo, hi = _pair("beta1_clip", beta1_clip)
    ratio = jnp.asarray(learning_rate) / base_lr
    scale = jnp.sqrt(ratio) if rule == "lr_sqrt" else ratio
    complement = jnp.clip((1 - beta1) * scale, lo, hi)
    return 1 - complement, complement


def beta1_coefficient(
    learning_rate: ArrayLike,
    *,
    rule: str,
    beta1: ArrayLike,
    base_lr: ArrayLike,
    beta1_clip: Sequence[ArrayLike],
) -> jax.Array:
    """b1 of one step: ``beta1`` or ``1 - clip((1 - beta1) * f(lr / base_lr), lo, hi)``, f = sqrt or identity."""
    return _beta1_pair(learning_rate, rule=rule, beta1=beta1, base_lr=base_lr, beta1_clip=beta1_clip)[0]


def _atan_unit(a: jax.Array) -> jax.Array:
    """atan(a) for a in [0, 1], from elementwise arithmetic only (no atan2; see misalignment_factor).

    Two half-angle reductions ``atan(a) = 2 atan(a / (1 + sqrt(1 + a^2)))`` bring ``a`` into
    ``[0, tan(pi/16)] = [0, 0.199]``, where the alternating series ``z - z^3/3 + z^5/5 - ...`` converges
    below one ulp in 6 terms (float32) or 12 terms (float64).
    """
    z = a / (1 + jnp.sqrt(1 + a * a))
    z = z / (1 + jnp.sqrt(1 + z * z))
    z2 = z * z
    num_terms = 12 if jnp.finfo(a.dtype).bits > 32 else 6
    series = jnp.full_like(z, 1.0 / (2 * num_terms - 1))
    for k in range(num_terms - 2, -1, -1):
        series = (1.0 / (2 * k + 1)) - z2 * series
    return 4 * z * series


def misalignment_factor(direction: jax.Array, g: jax.Array) -> jax.Array:
    """P = arccos(tanh(y)) / pi with y = direction * g, in [0, 1] (1/2 when orthogonal or direction = 0).

    Computed through the exact identity ``arccos(tanh(y)) = 2 atan(exp(-y))``, as
    ``P = (2/pi) atan(exp(-|y|))`` for ``y > 0`` and ``1 - (2/pi) atan(exp(-|y|))`` for ``y < 0``: the same
    function, without the cancellation of ``arccos(1 - delta)`` when ``tanh`` saturates, and without
    XLA:CPU's ``atan2`` (a scalar library call, about 50x slower than the other elementwise operations).
    """
    y = direction * g
    half = (2 / math.pi) * _atan_unit(jnp.exp(-jnp.abs(y)))
    return jnp.where(y == 0, 0.5, jnp.where(y > 0, half, 1 - half))  # exactly 1/2 at y = 0, as arccos


def rho_factor(p: ArrayLike, term: jax.Array, *, bounds: tuple[ArrayLike, ArrayLike]) -> jax.Array:
    """rho = log(clip(e + 1/2 - P + sqrt(term), e^lo, e^hi)), so rho in [lo, hi]."""
    lo, hi = bounds
    one = jnp.ones((), term.dtype)
    arg = math.e + 0.5 - p + jnp.sqrt(term)
    return jnp.log(jnp.clip(arg, jnp.exp(lo * one), jnp.exp(hi * one)))


def xi_factor(x_prev: jax.Array, p: ArrayLike) -> jax.Array:
    """xi = (1 + e^{-1/2}) / (1 + exp(-|x_{t-1} - P|)), in [(1 + e^{-1/2})/2, 1 + e^{-1/2}) = [0.80, 1.61)."""
    return XI_SCALE / (1 + jnp.exp(-jnp.abs(x_prev - p)))


def _beta2_complement(x: jax.Array, x_prev: jax.Array | None, p: ArrayLike, rule: str) -> jax.Array:
    """``1 - b2`` of the ratio rules: ``(x/x_prev)|1/2 - P|``, the ratio clipped to [0, 1] for "ratio_clipped"."""
    ratio = x / x_prev
    if rule == "ratio_clipped":
        ratio = jnp.clip(ratio, 0, 1)
    return ratio * jnp.abs(p - 0.5)


def beta2_coefficient(x: jax.Array, x_prev: jax.Array | None, p: ArrayLike, *, rule: str, beta2: ArrayLike):
    """b2: ``beta2``, ``1 - (x/x_prev)|1/2 - P|`` (ratio) or ``1 - clip(x/x_prev, 0, 1)|P - 1/2|``."""
    if rule == "constant":
        return jnp.asarray(beta2)
    return 1 - _beta2_complement(x, x_prev, p, rule)


# --- the fused per-leaf step ---------------------------------------------------------------------------


def _is_zero(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def _leaf(g, theta, m, v, v_max, x_prev, *, opts: FrankensteinOptions, k: dict[str, Any]):
    """One leaf of one step (elementwise only: XLA fuses it into one pass). Returns the new leaves."""
    dtype = jnp.promote_types(g.dtype, jnp.float32)

    def c(name):
        return jnp.asarray(k[name]).astype(dtype)

    grad = g.astype(dtype)
    mom = m.astype(dtype)
    vv = v.astype(dtype)
    eps, lr, b1, one_minus_b1 = c("eps"), c("lr"), c("b1"), c("one_minus_b1")
    if k["wd"] is not None and not k["decoupled"]:
        grad = grad + c("wd") * theta.astype(dtype)

    if opts.misalignment == "none":
        p = jnp.asarray(0.5, dtype)
    else:
        p = misalignment_factor(mom if opts.momentum_form == "heavy_ball" else -mom, grad)
    x = grad * grad + eps
    xp = x_prev.astype(dtype) if x_prev is not None else None
    if opts.beta2_rule == "constant":
        b2, one_minus_b2 = c("beta2"), c("one_minus_beta2")
    else:
        one_minus_b2 = _beta2_complement(x, xp, p, opts.beta2_rule)
        b2 = 1 - one_minus_b2

    new_v_max = None
    if opts.adam_moment:
        new_v = b2 * vv + one_minus_b2 * (grad * grad)
        vh = new_v * c("v_corr") if k["v_corr"] is not None else new_v
        if opts.beta2_rule == "ratio":
            vh = jnp.maximum(vh, 0)
        if opts.second_moment == "amsgrad":
            vh = new_v_max = jnp.maximum(v_max.astype(dtype), vh)
        denom = jnp.sqrt(vh) + eps
    else:
        vh = jnp.maximum(vv, x)
        denom = jnp.sqrt(vh)
        new_v = b2 * vh + one_minus_b2 * x
        if opts.second_moment == "monotone":
            new_v = jnp.maximum(vv, new_v)

    rho = (
        1
        if opts.rho_rule == "one"
        else rho_factor(p, vh if opts.rho_sqrt_term == "vhat" else x, bounds=k["rho"])
    )
    xi = 1 if opts.xi_rule == "one" else xi_factor(xp, p)
    step = lr * xi / denom
    decay = rho * b1
    if opts.momentum_form == "heavy_ball":
        new_m = decay * mom - step * grad
        velocity = new_m
    else:
        new_m = decay * mom + one_minus_b1 * grad
        m_hat = new_m * c("m_corr") if k["m_corr"] is not None else new_m
        velocity = -step * m_hat
    delta = b1 * velocity - step * grad if opts.update_form == "nesterov" else velocity
    if k["wd"] is not None and k["decoupled"]:
        delta = delta - lr * c("wd") * theta.astype(dtype)

    def back(new, old):
        return None if new is None else new.astype(old.dtype)

    return (
        delta.astype(g.dtype),
        new_m.astype(m.dtype),
        new_v.astype(v.dtype),
        back(new_v_max, v_max),
        back(x if x_prev is not None else None, x_prev),
    )


def _inverse_correction(weight: jax.Array) -> jax.Array:
    """``1 / weight`` of a bias correction; 1 where the weight is 0 (every decay so far was 1, the EMA is 0)."""
    return jnp.where(weight > 0, 1 / jnp.where(weight > 0, weight, 1), 1)


def _lr_at(learning_rate: optax.ScalarOrSchedule, count: jax.Array) -> jax.Array:
    return jnp.asarray(learning_rate(count) if callable(learning_rate) else learning_rate)


def _make(
    learning_rate: optax.ScalarOrSchedule,
    numbers: dict[str, Any],
    opts: FrankensteinOptions,
    weight_decay: ArrayLike,
    decoupled: bool,
) -> optax.GradientTransformation:
    use_decay = not _is_zero(weight_decay)
    beta1_clip = _pair("beta1_clip", numbers["beta1_clip"])
    rho_bounds = _pair("rho_bounds", numbers["rho_bounds"])

    def init_fn(params):
        x0 = jnp.maximum(_lr_at(learning_rate, jnp.zeros([], jnp.int32)), numbers["eps"])
        return FrankensteinState(
            count=jnp.zeros([], jnp.int32),
            beta1_product=jnp.ones([], jnp.result_type(float)) if opts.needs_beta1_product else None,
            m=optax.tree.zeros_like(params),
            v=optax.tree.zeros_like(params),
            v_max=optax.tree.zeros_like(params) if opts.second_moment == "amsgrad" else None,
            x_prev=jax.tree.map(lambda p: jnp.full_like(p, x0), params) if opts.needs_x_prev else None,
        )

    def update_fn(updates, state, params=None):
        if use_decay and params is None:
            raise ValueError("params: frankenstein with weight_decay needs update(grads, state, params)")
        t = optax.safe_increment(state.count)
        lr = _lr_at(learning_rate, state.count)
        b1, one_minus_b1 = _beta1_pair(
            lr,
            rule=opts.beta1_rule,
            beta1=numbers["beta1"],
            base_lr=numbers["base_lr"],
            beta1_clip=beta1_clip,
        )
        tf = t.astype(jnp.result_type(float, lr, b1))
        beta1_product = None
        m_corr = v_corr = None
        if opts.bias_correction and opts.momentum_form == "ema":
            if opts.needs_beta1_product:
                beta1_product = (state.beta1_product * b1).astype(state.beta1_product.dtype)
                m_corr = _inverse_correction(1 - beta1_product)
            else:
                m_corr = _inverse_correction(1 - b1**tf)
        if opts.bias_correction and opts.adam_moment and opts.beta2_rule == "constant":
            v_corr = _inverse_correction(1 - jnp.asarray(numbers["beta2"]) ** tf)
        k = dict(
            lr=lr,
            b1=b1,
            one_minus_b1=one_minus_b1,
            beta2=numbers["beta2"],
            one_minus_beta2=1 - jnp.asarray(numbers["beta2"]),
            eps=numbers["eps"],
            rho=rho_bounds,
            m_corr=m_corr,
            v_corr=v_corr,
            wd=weight_decay if use_decay else None,
            decoupled=decoupled,
        )
        leaves, treedef = jax.tree.flatten(updates)
        n = len(leaves)

        def flat(tree):
            return treedef.flatten_up_to(tree) if tree is not None else [None] * n

        columns = [flat(params if use_decay else None), flat(state.m), flat(state.v)]
        columns += [flat(state.v_max), flat(state.x_prev)]
        outs = [_leaf(*args, opts=opts, k=k) for args in zip(leaves, *columns)]
        cols = list(zip(*outs)) if outs else [()] * 5

        def tree(i, keep):
            return treedef.unflatten(list(cols[i])) if keep else None

        new_state = FrankensteinState(
            count=t,
            beta1_product=beta1_product,
            m=tree(1, True),
            v=tree(2, True),
            v_max=tree(3, state.v_max is not None),
            x_prev=tree(4, state.x_prev is not None),
        )
        return tree(0, True), new_state

    return optax.GradientTransformation(init_fn, update_fn)


# --- public constructors -------------------------------------------------------------------------------


def _check_number(name: str, value: Any, low: float, high: float | None, *, open_low=False, open_high=False):
    """Range check of concrete Python numbers (arrays, possibly traced, pass)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    bad_low = value < low or (open_low and value == low)
    bad_high = high is not None and (value > high or (open_high and value == high))
    if bad_low or bad_high or not math.isfinite(value):
        raise ValueError(f"{name}: out of range, got {value!r}")


def _validate_beta1_clip(value: Any) -> None:
    lo, hi = _pair("beta1_clip", value)
    if all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in (lo, hi)):
        if not 0 <= lo <= hi <= 1:
            raise ValueError(f"beta1_clip: need 0 <= low <= high <= 1, got {list(value)!r}")
    elif not all(hasattr(b, "dtype") for b in (lo, hi)):
        raise ValueError(f"beta1_clip: expected two numbers, got {value!r}")


def _validate_rho_bounds(value: Any) -> None:
    lo, hi = _pair("rho_bounds", value)
    if all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in (lo, hi)):
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise ValueError(f"rho_bounds: need finite low <= high, got {list(value)!r}")
    elif not all(hasattr(b, "dtype") for b in (lo, hi)):
        raise ValueError(f"rho_bounds: expected two numbers, got {value!r}")


def scale_by_frankenstein(
    learning_rate: optax.ScalarOrSchedule = 1e-3,
    *,
    beta1: ArrayLike = 0.9,
    base_lr: ArrayLike = 1e-3,
    beta1_clip: Sequence[ArrayLike] = (0.05, 0.95),
    beta2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    rho_bounds: Sequence[ArrayLike] = (-0.2, 1.03),
    beta1_rule: str = "lr_sqrt",
    misalignment: str = "arccos_tanh",
    rho_rule: str = "log_clip",
    rho_sqrt_term: str = "vhat",
    xi_rule: str = "sigmoid",
    beta2_rule: str = "ratio_clipped",
    second_moment: str = "max_then_ema",
    momentum_form: str = "heavy_ball",
    update_form: str = "nesterov",
    bias_correction: bool = False,
) -> optax.GradientTransformation:
    r"""The Frankenstein step without weight decay (the module docstring gives every formula).

    Unlike optax's ``scale_by_*`` blocks the output already includes the learning rate, because
    Frankenstein's coefficients depend on it (b1 coupling, ``S = lr xi / D`` inside the momentum,
    ``x_0 = lr``): the returned update is the parameter increment ``Delta``. The defaults are the authors'
    code; :data:`PAPER_POINTS` lists Adam, AMSGrad and the paper's variants.

    Args:
      learning_rate: ``lr`` (float, traced scalar, or an optax schedule of the step count; the b1 coupling
        follows the scheduled value).
      beta1: base momentum (``constant`` rule) or ``1 - beta1`` as the coupling's scale (code ``base_beta``).
      base_lr: learning rate at which the coupled b1 equals ``beta1`` (code ``base_lr``).
      beta1_clip: ``(lo, hi)`` clip of ``1 - b1`` (code ``(0.05, 0.95)``, paper ``(0.05, 0.99)``).
      beta2: second-moment decay of the ``constant`` rule (Adam 0.999).
      eps: added to ``g^2`` in ``x``; for the ``ema``/``amsgrad`` moments also outside the root.
      rho_bounds: ``(lo, hi)``, the bounds of rho (log-space; code ``(-0.2, 1.03)``, paper ``(0.8, 1.05)``).
      beta1_rule, misalignment, rho_rule, rho_sqrt_term, xi_rule, beta2_rule, second_moment, momentum_form,
        update_form, bias_correction: the structural options (:data:`OPTION_CHOICES`).

    Returns:
      An ``optax.GradientTransformation`` with state :class:`FrankensteinState`.

    References:
      Frankenstein optimizer paper (Alg. 1; App. B.1 eqs. 10-20) and the authors' PyTorch class;
      Adam https://arxiv.org/abs/1412.6980; AMSGrad https://arxiv.org/abs/1904.09237.
    """
    opts = FrankensteinOptions(
        beta1_rule=beta1_rule,
        misalignment=misalignment,
        rho_rule=rho_rule,
        rho_sqrt_term=rho_sqrt_term,
        xi_rule=xi_rule,
        beta2_rule=beta2_rule,
        second_moment=second_moment,
        momentum_form=momentum_form,
        update_form=update_form,
        bias_correction=bias_correction,
    )
    numbers = dict(
        beta1=beta1, base_lr=base_lr, beta1_clip=beta1_clip, beta2=beta2, eps=eps, rho_bounds=rho_bounds
    )
    _check_common(learning_rate, numbers)
    return _make(learning_rate, numbers, opts, 0.0, True)


def _check_common(learning_rate: Any, numbers: dict[str, Any]) -> None:
    if not callable(learning_rate):
        _check_number("learning_rate", learning_rate, 0.0, None, open_low=True)
    _check_number("beta1", numbers["beta1"], 0.0, 1.0, open_high=True)
    _check_number("base_lr", numbers["base_lr"], 0.0, None, open_low=True)
    _check_number("beta2", numbers["beta2"], 0.0, 1.0)
    _check_number("eps", numbers["eps"], 0.0, None, open_low=True)
    _validate_beta1_clip(numbers["beta1_clip"])
    _validate_rho_bounds(numbers["rho_bounds"])


# Defaults are stated once, in ``scale_by_frankenstein``'s signature; ``frankenstein`` reads them there.
_SCALE_DEFAULTS = inspect.signature(scale_by_frankenstein).parameters


def frankenstein(
    learning_rate: optax.ScalarOrSchedule = _SCALE_DEFAULTS["learning_rate"].default,
    *,
    beta1: ArrayLike = _SCALE_DEFAULTS["beta1"].default,
    base_lr: ArrayLike = _SCALE_DEFAULTS["base_lr"].default,
    beta1_clip: Sequence[ArrayLike] = _SCALE_DEFAULTS["beta1_clip"].default,
    beta2: ArrayLike = _SCALE_DEFAULTS["beta2"].default,
    eps: ArrayLike = _SCALE_DEFAULTS["eps"].default,
    weight_decay: ArrayLike = 0.0,
    rho_bounds: Sequence[ArrayLike] = _SCALE_DEFAULTS["rho_bounds"].default,
    beta1_rule: str = _SCALE_DEFAULTS["beta1_rule"].default,
    misalignment: str = _SCALE_DEFAULTS["misalignment"].default,
    rho_rule: str = _SCALE_DEFAULTS["rho_rule"].default,
    rho_sqrt_term: str = _SCALE_DEFAULTS["rho_sqrt_term"].default,
    xi_rule: str = _SCALE_DEFAULTS["xi_rule"].default,
    beta2_rule: str = _SCALE_DEFAULTS["beta2_rule"].default,
    second_moment: str = _SCALE_DEFAULTS["second_moment"].default,
    momentum_form: str = _SCALE_DEFAULTS["momentum_form"].default,
    update_form: str = _SCALE_DEFAULTS["update_form"].default,
    bias_correction: bool = _SCALE_DEFAULTS["bias_correction"].default,
    decoupled_weight_decay: bool = True,
) -> optax.GradientTransformation:
    r"""Frankenstein with weight decay, fused in one pass (defaults: the authors' code).

    Weight decay as in the authors' code: decoupled ``theta <- theta (1 - lr_t wd)`` before the step
    (``decoupled_weight_decay=True``, so the Adam point with ``weight_decay`` is ``optax.adamw``), or
    coupled ``g <- g + wd theta`` before every coefficient is computed. Every other argument is that of
    :func:`scale_by_frankenstein` (equations in the module docstring).

    Example:
      >>> import jax.numpy as jnp, optax
      >>> opt = frankenstein(1e-2)  # the authors' code
      >>> adam_like = frankenstein(1e-3, **{k: v for k, v in PAPER_POINTS["adam"].items() if k != "learning_rate"})
      >>> params = jnp.array([1.0, -2.0])
      >>> state = opt.init(params)
      >>> updates, state = opt.update(2 * params, state, params)
      >>> params = optax.apply_updates(params, updates)

    References:
      Frankenstein optimizer paper (Alg. 1, App. B.1) and the authors' PyTorch class.
    """
    opts = FrankensteinOptions(
        beta1_rule=beta1_rule,
        misalignment=misalignment,
        rho_rule=rho_rule,
        rho_sqrt_term=rho_sqrt_term,
        xi_rule=xi_rule,
        beta2_rule=beta2_rule,
        second_moment=second_moment,
        momentum_form=momentum_form,
        update_form=update_form,
        bias_correction=bias_correction,
    )
    numbers = dict(
        beta1=beta1, base_lr=base_lr, beta1_clip=beta1_clip, beta2=beta2, eps=eps, rho_bounds=rho_bounds
    )
    _check_common(learning_rate, numbers)
    _check_number("weight_decay", weight_decay, 0.0, None)
    if not isinstance(decoupled_weight_decay, bool):
        raise ValueError(f"decoupled_weight_decay: expected true or false, got {decoupled_weight_decay!r}")
    return _make(learning_rate, numbers, opts, weight_decay, decoupled_weight_decay)


_ADAM = {
    "learning_rate": 1e-3,
    "beta1_rule": "constant",
    "beta1": 0.9,
    "misalignment": "none",
    "rho_rule": "one",
    "xi_rule": "one",
    "beta2_rule": "constant",
    "beta2": 0.999,
    "second_moment": "ema",
    "momentum_form": "ema",
    "update_form": "adam",
    "bias_correction": True,
    "eps": 1e-8,
}
_CODE = {
    "learning_rate": 1e-3,
    "beta1_rule": "lr_sqrt",
    "beta1": 0.9,
    "base_lr": 1e-3,
    "beta1_clip": (0.05, 0.95),
    "misalignment": "arccos_tanh",
    "rho_rule": "log_clip",
    "rho_sqrt_term": "vhat",
    "rho_bounds": (-0.2, 1.03),
    "xi_rule": "sigmoid",
    "beta2_rule": "ratio_clipped",
    "second_moment": "max_then_ema",
    "momentum_form": "heavy_ball",
    "update_form": "nesterov",
    "bias_correction": False,
    "eps": 1e-8,
}
_ALG1 = {**_CODE, "beta1_clip": (0.05, 0.99), "rho_bounds": (0.8, 1.05), "beta2_rule": "ratio"}

PAPER_POINTS: dict[str, dict[str, Any]] = {
    # Adam (Kingma & Ba): equals optax.adam; with weight_decay, optax.adamw.
    "adam": _ADAM,
    # AMSGrad in optax's form (max of the bias-corrected EMA): equals optax.amsgrad.
    "amsgrad": {**_ADAM, "second_moment": "amsgrad"},
    # The authors' PyTorch class (latest clean variant, specs/frankenstein-spec.md).
    "frankenstein_code": _CODE,
    # Alg. 1 with the Numerical-Stabilization bounds: b1 in [0.01, 0.95], rho in [0.8, 1.05], b2 unclipped.
    "frankenstein_alg1": _ALG1,
    # App. B.1 (eqs. 10-20): linear b1 coupling, rho from sqrt(x), monotone v, theta += m.
    "frankenstein_appB": {
        **_ALG1,
        "beta1_rule": "lr_linear",
        "rho_sqrt_term": "x",
        "second_moment": "monotone",
        "update_form": "momentum",
    },
}


def from_point(name: str, **overrides: Any) -> optax.GradientTransformation:
    """Build the named paper point (:data:`PAPER_POINTS`), with keyword overrides (e.g. a schedule)."""
    if name not in PAPER_POINTS:
        raise ValueError(f"name: unknown Frankenstein point {name!r}; known: {', '.join(PAPER_POINTS)}")
    return frankenstein(**{**PAPER_POINTS[name], **overrides})


def _declare(name: str, kind: str = "float", doc: str = "", **extra: Any) -> Hyperparameter:
    """The registry declaration of ``frankenstein``'s keyword ``name`` (default read from the signature)."""
    if kind == "choice":
        extra["choices"] = OPTION_CHOICES[name]
    return Hyperparameter(name, default_of(frankenstein, name), kind, doc=doc, **extra)  # type: ignore[arg-type]


ENTRIES: tuple[OptimizerEntry, ...] = (
    OptimizerEntry(
        family="frankenstein",
        constructor=frankenstein,
        hyperparameters=(
            _declare("learning_rate", low=0.0, low_exclusive=True, doc="lr (also couples b1, x_0)"),
            _declare("beta1", low=0.0, high=1.0, high_exclusive=True, doc="momentum / base_beta"),
            _declare("base_lr", low=0.0, low_exclusive=True, doc="lr at which the coupled b1 is beta1"),
            _declare("beta1_clip", "json", validate=_validate_beta1_clip, doc="[lo, hi] clip of 1 - b1"),
            _declare("beta2", low=0.0, high=1.0, doc="b2 of the constant rule"),
            _declare(
                "eps", low=0.0, low_exclusive=True, doc="x = g^2 + eps; outside the root for EMA moments"
            ),
            _declare("weight_decay", low=0.0, doc="weight decay factor"),
            _declare("rho_bounds", "json", validate=_validate_rho_bounds, doc="[lo, hi] bounds of rho"),
            _declare("beta1_rule", "choice", doc="b1: constant | sqrt lr coupling | linear lr coupling"),
            _declare("misalignment", "choice", doc="P: 1/2 | arccos(tanh(m g))/pi"),
            _declare("rho_rule", "choice", doc="rho: 1 | log-clip rule"),
            _declare("rho_sqrt_term", "choice", doc="root term of rho: vhat (Alg. 1, code) | x (App. B.1)"),
            _declare("xi_rule", "choice", doc="xi: 1 | sigmoid acceleration"),
            _declare("beta2_rule", "choice", doc="b2: constant | ratio (paper) | clipped ratio (code)"),
            _declare("second_moment", "choice", doc="v: Adam EMA | AMSGrad | max then EMA | monotone"),
            _declare("momentum_form", "choice", doc="m: EMA of g | heavy ball of steps"),
            _declare("update_form", "choice", doc="theta += velocity (adam, momentum) | Nesterov look-ahead"),
            _declare("bias_correction", "bool", doc="divide the scalar-decay EMAs by 1 - prod(beta)"),
            _declare("decoupled_weight_decay", "bool", doc="theta *= 1 - lr wd, else g += wd theta"),
        ),
        summary="Frankenstein: Adam, AMSGrad and the Frankenstein variants as options of one transform",
        reference="Frankenstein optimizer paper (Alg. 1, App. B.1) and the authors' PyTorch code",
        step_size="learning_rate",
        presets=PAPER_POINTS,
    ),
)
