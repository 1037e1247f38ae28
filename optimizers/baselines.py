"""Baseline optimizers: optax where optax has the algorithm, and AdaBound, Padam, diffGrad and MARS.

Fifteen families are registered here (names and defaults: ``ALGORITHMS.md`` §Baselines, spec
``adan-baselines-lj38.md`` §2):

* thin wrappers of optax with explicit keyword hyperparameters: ``sgd``, ``momentum``, ``nag``
  (``optax.sgd``), ``adam``, ``adamw``, ``amsgrad``, ``lion``, ``adabelief``, ``rmsprop``, ``adopt`` and
  ``ademamix`` (``optax.contrib``). Each returns exactly the optax transform's updates and state, with
  the dtypes of the gradients and of the initial state kept (see :func:`preserve_dtypes`);
* written here, in the optax idiom (``scale_by_<name>`` + alias + ``NamedTuple`` state), following the
  authors' published PyTorch code: ``adabound`` (Luolc/AdaBound), ``padam`` (uclaml/Padam),
  ``diffgrad`` (shivram1987/diffGrad ``diffGrad_v2.py``) and ``mars`` (AGI-Arena/MARS, MARS-AdamW).

Every numeric hyperparameter may be a Python float or a traced JAX scalar (one compiled program serves
a population under ``jax.vmap``); the structural ones (``nesterov``, ``amsbound``, ...) are keyword-only
Python booleans.

Conventions: ``g`` is the incoming gradient, ``θ`` the parameters, ``t = 1, 2, ...`` the step count,
``lr`` the learning rate and all β weigh the *old* value of a moving average (``m ← β m + (1−β) g``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
import optax.contrib

from optimizers.registry import Hyperparameter, OptimizerEntry

__all__ = [
    "ENTRIES",
    "ScaleByAdaBoundState",
    "ScaleByDiffGradState",
    "ScaleByMarsState",
    "ScaleByPadamState",
    "adabelief",
    "adabound",
    "adam",
    "adamw",
    "ademamix",
    "adopt",
    "amsgrad",
    "diffgrad",
    "lion",
    "mars",
    "momentum",
    "nag",
    "padam",
    "preserve_dtypes",
    "rmsprop",
    "scale_by_adabound",
    "scale_by_diffgrad",
    "scale_by_mars",
    "scale_by_padam",
    "sgd",
]

ScalarOrSchedule = optax.ScalarOrSchedule
Scalar = jax.typing.ArrayLike


# ------------------------------------------------------------------------------------------------------
# dtype handling


def _cast_like(new: Any, old: Any) -> Any:
    """``new`` as an array with the dtype of ``old`` (unchanged when ``old`` has no dtype)."""
    dtype = getattr(old, "dtype", None)
    if dtype is None:
        return new
    return jnp.asarray(new).astype(dtype)


def preserve_dtypes(inner: optax.GradientTransformation) -> optax.GradientTransformationExtraArgs:
    """Wrap ``inner`` so that updates have the gradients' dtypes and the state keeps its dtypes.

    A hyperparameter that arrives as a traced float64 scalar (``jax_enable_x64`` on, a population under
    ``jax.vmap``) promotes float32 or bfloat16 arithmetic to float64; this wrapper casts each update
    leaf back to the dtype of the matching gradient leaf and each state leaf back to the dtype it had
    before the update, so ``jax.lax.scan`` carries stay fixed and the params keep their dtype. Values are
    otherwise those of ``inner`` (bit for bit when no promotion happens).

    Args:
      inner: any gradient transformation (extra arguments such as ``value=`` are passed through).

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with the same state as ``inner``.
    """
    inner = optax.with_extra_args_support(inner)

    def update_fn(updates, state, params=None, **extra_args):
        new_updates, new_state = inner.update(updates, state, params, **extra_args)
        new_updates = jax.tree.map(_cast_like, new_updates, updates)
        new_state = jax.tree.map(_cast_like, new_state, state)
        return new_updates, new_state

    return optax.GradientTransformationExtraArgs(inner.init, update_fn)


def _leafwise_state(new: Any, old: Any) -> Any:
    return jax.tree.map(_cast_like, new, old)


def _increment(count: jax.Array) -> jax.Array:
    return optax.safe_increment(count)


# ------------------------------------------------------------------------------------------------------
# Thin wrappers of optax


def sgd(learning_rate: ScalarOrSchedule = 1e-2) -> optax.GradientTransformationExtraArgs:
    r"""Plain stochastic gradient descent: ``u = −lr·g`` (``optax.sgd`` without momentum).

    Args:
      learning_rate: step size ``lr`` (a scalar, a traced scalar or an optax schedule).

    Returns:
      The transform. Example: ``optax.apply_updates(θ, sgd(0.1).update(g, state)[0])``.

    References:
      Robbins & Monro, A Stochastic Approximation Method, Ann. Math. Statist. 22 (1951).
    """
    return preserve_dtypes(optax.sgd(learning_rate))


def momentum(
    learning_rate: ScalarOrSchedule = 1e-2, momentum: Scalar = 0.9
) -> optax.GradientTransformationExtraArgs:
    r"""Heavy-ball momentum, PyTorch convention (dampening 0): ``b ← μ·b + g``, ``u = −lr·b``.

    ``optax.sgd(learning_rate, momentum=momentum)``; equals ``torch.optim.SGD(momentum=μ)``.

    Args:
      learning_rate: step size ``lr``.
      momentum: ``μ``, the weight of the old trace.

    References:
      Polyak, Some methods of speeding up the convergence of iteration methods (1964);
      Sutskever et al., On the importance of initialization and momentum in deep learning (ICML 2013).
    """
    return preserve_dtypes(optax.sgd(learning_rate, momentum=momentum, nesterov=False))


def nag(
    learning_rate: ScalarOrSchedule = 1e-2, momentum: Scalar = 0.9
) -> optax.GradientTransformationExtraArgs:
    r"""Nesterov momentum, PyTorch convention: ``b ← μ·b + g``, ``u = −lr·(g + μ·b)``.

    ``optax.sgd(learning_rate, momentum=momentum, nesterov=True)``; equals
    ``torch.optim.SGD(momentum=μ, nesterov=True)``.

    Args:
      learning_rate: step size ``lr``.
      momentum: ``μ``.

    References:
      Nesterov, A method for solving the convex programming problem with convergence rate O(1/k²) (1983);
      Sutskever et al. (ICML 2013).
    """
    return preserve_dtypes(optax.sgd(learning_rate, momentum=momentum, nesterov=True))


def adam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-8,
    eps_root: Scalar = 0.0,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""Adam (``optax.adam``): ``m ← b1 m + (1−b1) g``, ``v ← b2 v + (1−b2) g²``,
    ``u = −lr·m̂/(√(v̂ + eps_root) + eps)`` with ``m̂ = m/(1−b1^t)``, ``v̂ = v/(1−b2^t)``.

    Args:
      learning_rate: ``lr``. b1, b2: decay rates of the first and second moments.
      eps: added to ``√v̂``. eps_root: added to ``v̂`` inside the root.
      nesterov: Nadam's Nesterov momentum (Dozat 2016), structural.

    References:
      Kingma & Ba, Adam: A Method for Stochastic Optimization, arXiv:1412.6980.
    """
    return preserve_dtypes(
        optax.adam(learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov)
    )


def adamw(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-8,
    eps_root: Scalar = 0.0,
    weight_decay: Scalar = 1e-4,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""AdamW (``optax.adamw``): Adam with decoupled decay, ``u = −lr·(m̂/(√(v̂+eps_root)+eps) + wd·θ)``.

    Args:
      learning_rate, b1, b2, eps, eps_root, nesterov: as :func:`adam`.
      weight_decay: ``wd`` (optax default 1e-4; PyTorch's is 1e-2).

    References:
      Loshchilov & Hutter, Decoupled Weight Decay Regularization, arXiv:1711.05101.
    """
    return preserve_dtypes(
        optax.adamw(
            learning_rate,
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )
    )


def amsgrad(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-8,
    eps_root: Scalar = 0.0,
    *,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
) -> optax.GradientTransformationExtraArgs:
    r"""AMSGrad (``optax.amsgrad``): ``v_max ← max(v_max, v̂)``, ``u = −lr·m̂/(√(v_max+eps_root)+eps)``.

    optax takes the maximum of the *bias-corrected* ``v̂`` (``bias_correction_nu=True``); PyTorch takes
    the maximum of the raw ``v`` and bias-corrects afterwards, which differs in early steps.

    Args:
      learning_rate, b1, b2, eps, eps_root: as :func:`adam`.
      bias_correction_mu, bias_correction_nu: optax's switches (``False``, ``False``: the paper's form).

    References:
      Reddi, Kale & Kumar, On the Convergence of Adam and Beyond, arXiv:1904.09237.
    """
    return preserve_dtypes(
        optax.amsgrad(
            learning_rate,
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            bias_correction_mu=bias_correction_mu,
            bias_correction_nu=bias_correction_nu,
        )
    )


def lion(
    learning_rate: ScalarOrSchedule = 1e-4,
    b1: Scalar = 0.9,
    b2: Scalar = 0.99,
    weight_decay: Scalar = 1e-3,
) -> optax.GradientTransformationExtraArgs:
    r"""Lion (``optax.lion``): ``u = −lr·(sign(b1 m + (1−b1) g) + wd·θ)``, ``m ← b2 m + (1−b2) g``.

    Args:
      learning_rate: ``lr`` (the paper uses 3-10× smaller rates than AdamW).
      b1: interpolation of the update direction. b2: decay of the momentum.
      weight_decay: decoupled ``wd``.

    References:
      Chen et al., Symbolic Discovery of Optimization Algorithms, arXiv:2302.06675.
    """
    return preserve_dtypes(optax.lion(learning_rate, b1=b1, b2=b2, weight_decay=weight_decay))


def adabelief(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-16,
    eps_root: Scalar = 1e-16,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""AdaBelief (``optax.adabelief``): ``s ← b2 s + (1−b2)(g − m)² + eps_root``,
    ``u = −lr·m̂/(√ŝ + eps)``.

    Args:
      learning_rate, b1, b2, nesterov: as :func:`adam`. eps, eps_root: the official 1e-16 defaults.

    References:
      Zhuang et al., AdaBelief Optimizer, arXiv:2010.07468.
    """
    return preserve_dtypes(
        optax.adabelief(learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov)
    )


def rmsprop(
    learning_rate: ScalarOrSchedule = 1e-2,
    decay: Scalar = 0.9,
    eps: Scalar = 1e-8,
    initial_scale: Scalar = 0.0,
    momentum: Scalar = 0.0,
    *,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""RMSprop (``optax.rmsprop``): ``v ← decay·v + (1−decay) g²``, ``s = lr·g/√(v + eps)`` (or
    ``lr·g/(√v + eps)`` with ``eps_in_sqrt=False``, PyTorch's form), then ``b ← momentum·b + s``, ``u = −b``.

    ``momentum=0`` gives exactly optax's ``momentum=None`` (the trace is then ``b = s``), so the
    momentum can be searched as a number.

    Args:
      learning_rate: ``lr``. decay: ``decay`` (PyTorch calls it ``alpha``, default 0.99 there).
      eps: stabiliser. initial_scale: initial ``v`` (PyTorch 0, TF1 1). momentum: trace decay.
      eps_in_sqrt, centered, nesterov, bias_correction: optax's structural switches.

    References:
      Hinton, Neural Networks for Machine Learning, lecture 6a (2012); Graves, arXiv:1308.0850.
    """
    return preserve_dtypes(
        optax.rmsprop(
            learning_rate,
            decay=decay,
            eps=eps,
            initial_scale=initial_scale,
            eps_in_sqrt=eps_in_sqrt,
            centered=centered,
            momentum=momentum,
            nesterov=nesterov,
            bias_correction=bias_correction,
        )
    )


def adopt(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: Scalar = 0.9,
    b2: Scalar = 0.9999,
    eps: Scalar = 1e-6,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
) -> optax.GradientTransformationExtraArgs:
    r"""ADOPT (``optax.contrib.adopt``): ``m ← b1 m + (1−b1)·clip(g/max(√v_{t−1}, eps), ±t^{1/4})``,
    ``v ← b2 v + (1−b2) g²``, ``u = −lr·m``; step 0 only initialises ``v = g²``.

    Args:
      learning_rate, b1, b2, eps: as in optax. nesterov, use_clipping: optax's structural switches (the
      clip value is optax's default ``t^{1/4}``).

    References:
      Taniguchi et al., ADOPT: Modified Adam Can Converge with Any β2, arXiv:2411.02853.
    """
    return preserve_dtypes(
        optax.contrib.adopt(
            learning_rate, b1=b1, b2=b2, eps=eps, nesterov=nesterov, use_clipping=use_clipping
        )
    )


def ademamix(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    b3: Scalar = 0.9999,
    alpha: Scalar = 5.0,
    eps: Scalar = 1e-8,
    eps_root: Scalar = 0.0,
    weight_decay: Scalar = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""AdEMAMix (``optax.contrib.ademamix``): fast EMA ``m1`` (b1, bias-corrected), slow EMA ``m2`` (b3,
    not corrected), ``u = −lr·((m̂1 + alpha·m2)/(√(v̂+eps_root)+eps) + wd·θ)``.

    Args:
      learning_rate, b1, b2, eps, eps_root: as :func:`adam`. b3: slow EMA decay. alpha: mixing weight
      (optax's alias default 5.0). weight_decay: decoupled ``wd``.

    References:
      Pagliardini, Ablin & Grangier, The AdEMAMix Optimizer, arXiv:2409.03137.
    """
    return preserve_dtypes(
        optax.contrib.ademamix(
            learning_rate,
            b1=b1,
            b2=b2,
            b3=b3,
            alpha=alpha,
            eps=eps,
            eps_root=eps_root,
            weight_decay=weight_decay,
        )
    )


# ------------------------------------------------------------------------------------------------------
# AdaBound


class ScaleByAdaBoundState(NamedTuple):
    """State of :func:`scale_by_adabound`.

    Attributes:
      count: number of updates so far (int32).
      mu: first moment ``m`` (``exp_avg``).
      nu: second moment ``v`` (``exp_avg_sq``).
      nu_max: running maximum of ``v`` (``amsbound=True``), else ``None``.
    """

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates
    nu_max: optax.Updates | None


def scale_by_adabound(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    final_lr: Scalar = 0.1,
    gamma: Scalar = 1e-3,
    eps: Scalar = 1e-8,
    *,
    amsbound: bool = False,
) -> optax.GradientTransformation:
    r"""AdaBound's step (positive, learning rate included): ``η_t ⊙ m_t`` of the authors' code.

    With ``t`` the step count (1 on the first update)::

        m ← b1 m + (1−b1) g,   v ← b2 v + (1−b2) g²      (v ← max(v_max, v) with amsbound)
        a_t  = lr·√(1−b2^t)/(1−b1^t) / (√v + eps)
        f_t  = final_lr·lr_t/lr_0                              (= final_lr for a constant lr)
        η_t  = clip(a_t, f_t·(1 − 1/(gamma·t + 1)), f_t·(1 + 1/(gamma·t)))
        step = η_t ⊙ m                                         (the update is −step)

    This is ``Luolc/AdaBound`` ``adabound.py`` exactly: the bias corrections sit inside the clipped
    rate and ``eps`` is added to the raw ``√v``. The paper (Alg. 2) writes ``η_t = clip(α/√V_t)/√t``
    without bias correction; the code, used for the paper's experiments, has neither the ``1/√t`` nor
    that form, and we follow the code. The learning rate enters non-linearly (through the clip), so it
    is an argument here rather than a separate ``scale_by_learning_rate``.

    Args:
      learning_rate: Adam-phase rate ``lr`` (scalar or schedule; with a schedule the bounds follow
        ``lr_t/lr_0`` as the code's ``final_lr·lr/base_lr``).
      b1, b2: moment decay rates. final_lr: the SGD rate the bounds converge to.
      gamma: convergence speed of the bounds. eps: added to ``√v``.
      amsbound: use the running maximum of ``v`` (AMSBound).

    Returns:
      A transformation with state :class:`ScaleByAdaBoundState`.

    References:
      Luo, Xiong, Liu & Sun, Adaptive Gradient Methods with Dynamic Bound of Learning Rate, ICLR 2019,
      arXiv:1902.09843.
    """

    def init_fn(params):
        return ScaleByAdaBoundState(
            count=jnp.zeros([], jnp.int32),
            mu=optax.tree.zeros_like(params),
            nu=optax.tree.zeros_like(params),
            nu_max=optax.tree.zeros_like(params) if amsbound else None,
        )

    def update_fn(updates, state, params=None):
        del params
        count = _increment(state.count)
        t = count.astype(jnp.result_type(float))
        if callable(learning_rate):
            lr_t = learning_rate(state.count)
            final_t = final_lr * lr_t / learning_rate(0)
        else:
            lr_t = learning_rate
            final_t = final_lr
        lower = final_t * (1.0 - 1.0 / (gamma * t + 1.0))
        upper = final_t * (1.0 + 1.0 / (gamma * t))
        rate = lr_t * jnp.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        mu = jax.tree.map(lambda g, m: b1 * m + (1.0 - b1) * g, updates, state.mu)
        nu = jax.tree.map(lambda g, v: b2 * v + (1.0 - b2) * g * g, updates, state.nu)
        nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu) if amsbound else None
        denom_source = nu_max if amsbound else nu
        steps = jax.tree.map(
            lambda g, m, v: (jnp.clip(rate / (jnp.sqrt(v) + eps), lower, upper) * m).astype(g.dtype),
            updates,
            mu,
            denom_source,
        )
        new_state = ScaleByAdaBoundState(count=count, mu=mu, nu=nu, nu_max=nu_max)
        return steps, _leafwise_state(new_state, state)

    return optax.GradientTransformation(init_fn, update_fn)


def adabound(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    final_lr: Scalar = 0.1,
    gamma: Scalar = 1e-3,
    eps: Scalar = 1e-8,
    weight_decay: Scalar = 0.0,
    *,
    amsbound: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""AdaBound / AMSBound: Adam whose per-element rate is clipped into bounds that converge to SGD's.

    ``g ← g + weight_decay·θ`` (coupled L2, as the authors' ``AdaBound`` class), then the step of
    :func:`scale_by_adabound`; the update is ``u = −η_t ⊙ m``.

    Args:
      learning_rate, b1, b2, final_lr, gamma, eps, amsbound: see :func:`scale_by_adabound`.
      weight_decay: L2 coefficient added to the gradient.

    Returns:
      The transform. Example::

        tx = adabound(1e-3)
        state = tx.init(params)
        updates, state = tx.update(grads, state, params)

    References:
      Luo et al., arXiv:1902.09843; code: github.com/Luolc/AdaBound.
    """
    return preserve_dtypes(
        optax.chain(
            optax.add_decayed_weights(weight_decay),
            scale_by_adabound(learning_rate, b1, b2, final_lr, gamma, eps, amsbound=amsbound),
            optax.scale(-1.0),
        )
    )


# ------------------------------------------------------------------------------------------------------
# Padam


class ScaleByPadamState(NamedTuple):
    """State of :func:`scale_by_padam`.

    Attributes:
      count: number of updates so far (int32).
      mu: first moment ``m``.
      nu: second moment ``v``.
      nu_max: running maximum of ``v`` (``amsgrad=True``), else ``None``.
    """

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates
    nu_max: optax.Updates | None


def scale_by_padam(
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    partial: Scalar = 0.25,
    eps: Scalar = 1e-8,
    *,
    amsgrad: bool = True,
) -> optax.GradientTransformation:
    r"""Padam's direction (before the learning rate), as in the authors' code::

        m ← b1 m + (1−b1) g,   v ← b2 v + (1−b2) g²,   v_max ← max(v_max, v)   (amsgrad)
        d = √(1−b2^t)/(1−b1^t) · m / (√v_max + eps)^(2·partial)

    ``partial = 1/2`` is AMSGrad (Adam with ``amsgrad=False``) in the old PyTorch form where ``eps`` is
    added to the raw ``√v``. The paper (Alg. 1, no bias correction) writes ``m/v̂^p``; the code keeps
    Adam's ``√(1−b2^t)`` factor for every ``p``, and we follow the code.

    Args:
      b1, b2: moment decay rates. partial: the exponent ``p`` in ``(0, 1/2]`` (code default 1/4;
        the paper's experiments use 1/8). eps: added to ``√v``. amsgrad: use the running max of ``v``.

    Returns:
      A transformation with state :class:`ScaleByPadamState`.

    References:
      Chen, Zhou, Tang, Yang, Cao & Gu, Closing the Generalization Gap of Adaptive Gradient Methods in
      Training Deep Neural Networks, IJCAI 2020, arXiv:1806.06763; code: github.com/uclaml/Padam.
    """

    def init_fn(params):
        return ScaleByPadamState(
            count=jnp.zeros([], jnp.int32),
            mu=optax.tree.zeros_like(params),
            nu=optax.tree.zeros_like(params),
            nu_max=optax.tree.zeros_like(params) if amsgrad else None,
        )

    def update_fn(updates, state, params=None):
        del params
        count = _increment(state.count)
        t = count.astype(jnp.result_type(float))
        scale = jnp.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        mu = jax.tree.map(lambda g, m: b1 * m + (1.0 - b1) * g, updates, state.mu)
        nu = jax.tree.map(lambda g, v: b2 * v + (1.0 - b2) * g * g, updates, state.nu)
        nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu) if amsgrad else None
        denom_source = nu_max if amsgrad else nu
        directions = jax.tree.map(
            lambda g, m, v: (scale * m / (jnp.sqrt(v) + eps) ** (2.0 * partial)).astype(g.dtype),
            updates,
            mu,
            denom_source,
        )
        new_state = ScaleByPadamState(count=count, mu=mu, nu=nu, nu_max=nu_max)
        return directions, _leafwise_state(new_state, state)

    return optax.GradientTransformation(init_fn, update_fn)


def padam(
    learning_rate: ScalarOrSchedule = 0.1,
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    partial: Scalar = 0.25,
    eps: Scalar = 1e-8,
    weight_decay: Scalar = 0.0,
    *,
    amsgrad: bool = True,
) -> optax.GradientTransformationExtraArgs:
    r"""Padam (partially adaptive momentum): ``g ← g + weight_decay·θ``, ``u = −lr·d`` with ``d`` of
    :func:`scale_by_padam`.

    Args:
      learning_rate: ``lr`` (code default 0.1). b1, b2, partial, eps, amsgrad: see :func:`scale_by_padam`.
      weight_decay: coupled L2 coefficient (as in the authors' code).

    References:
      Chen et al., arXiv:1806.06763.
    """
    return preserve_dtypes(
        optax.chain(
            optax.add_decayed_weights(weight_decay),
            scale_by_padam(b1, b2, partial, eps, amsgrad=amsgrad),
            optax.scale_by_learning_rate(learning_rate),
        )
    )


# ------------------------------------------------------------------------------------------------------
# diffGrad


class ScaleByDiffGradState(NamedTuple):
    """State of :func:`scale_by_diffgrad`.

    Attributes:
      count: number of updates so far (int32).
      mu: first moment ``m``.
      nu: second moment ``v``.
      prev_grad: the previous gradient (zeros before the first update, as in the authors' code).
    """

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates
    prev_grad: optax.Updates


def scale_by_diffgrad(
    b1: Scalar = 0.9, b2: Scalar = 0.999, eps: Scalar = 1e-8
) -> optax.GradientTransformation:
    r"""diffGrad's direction (before the learning rate)::

        m ← b1 m + (1−b1) g,   v ← b2 v + (1−b2) g²
        ξ = sigmoid(|g_prev − g|)                     (g_prev = 0 at t = 1)
        d = √(1−b2^t)/(1−b1^t) · ξ ⊙ m / (√v + eps)

    As the authors' ``diffGrad_v2.py`` (the version that stores a copy of the previous gradient; the
    original file aliased it so ξ was always 1/2). The paper writes ``ξ m̂/(√v̂ + eps)``; the code adds
    ``eps`` to the raw ``√v``, and we follow the code.

    Args:
      b1, b2: moment decay rates. eps: added to ``√v``.

    Returns:
      A transformation with state :class:`ScaleByDiffGradState`.

    References:
      Dubey, Chakraborty, Roy, Mukherjee, Singh & Chaudhuri, diffGrad: An Optimization Method for
      Convolutional Neural Networks, IEEE TNNLS 2020, arXiv:1909.11015.
    """

    def init_fn(params):
        return ScaleByDiffGradState(
            count=jnp.zeros([], jnp.int32),
            mu=optax.tree.zeros_like(params),
            nu=optax.tree.zeros_like(params),
            prev_grad=optax.tree.zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params
        count = _increment(state.count)
        t = count.astype(jnp.result_type(float))
        scale = jnp.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        mu = jax.tree.map(lambda g, m: b1 * m + (1.0 - b1) * g, updates, state.mu)
        nu = jax.tree.map(lambda g, v: b2 * v + (1.0 - b2) * g * g, updates, state.nu)

        def direction(g, g_prev, m, v):
            xi = 1.0 / (1.0 + jnp.exp(-jnp.abs(g_prev - g)))
            return (scale * (m * xi) / (jnp.sqrt(v) + eps)).astype(g.dtype)

        directions = jax.tree.map(direction, updates, state.prev_grad, mu, nu)
        new_state = ScaleByDiffGradState(count=count, mu=mu, nu=nu, prev_grad=updates)
        return directions, _leafwise_state(new_state, state)

    return optax.GradientTransformation(init_fn, update_fn)


def diffgrad(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-8,
    weight_decay: Scalar = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""diffGrad: ``g ← g + weight_decay·θ``, ``u = −lr·d`` with ``d`` of :func:`scale_by_diffgrad`.

    Args:
      learning_rate: ``lr``. b1, b2, eps: see :func:`scale_by_diffgrad`.
      weight_decay: coupled L2 coefficient (also enters ``g_prev``, as in the code).

    References:
      Dubey et al., arXiv:1909.11015; code: github.com/shivram1987/diffGrad.
    """
    return preserve_dtypes(
        optax.chain(
            optax.add_decayed_weights(weight_decay),
            scale_by_diffgrad(b1, b2, eps),
            optax.scale_by_learning_rate(learning_rate),
        )
    )


# ------------------------------------------------------------------------------------------------------
# MARS


class ScaleByMarsState(NamedTuple):
    """State of :func:`scale_by_mars`.

    Attributes:
      count: number of updates so far (int32).
      mu: first moment of the corrected gradient ``c``.
      nu: second moment of ``c``.
      prev_grad: the previous gradient (zeros before the first update, as in the authors' code).
    """

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates
    prev_grad: optax.Updates


def scale_by_mars(
    b1: Scalar = 0.95, b2: Scalar = 0.99, gamma: Scalar = 0.025, eps: Scalar = 1e-8
) -> optax.GradientTransformation:
    r"""MARS-AdamW's direction (before weight decay and learning rate)::

        c = g + gamma·b1/(1−b1)·(g − g_prev)           (g_prev = 0 at t = 1)
        c ← c/‖c‖ if ‖c‖ > 1                             (‖·‖: Frobenius norm of each tensor)
        m ← b1 m + (1−b1) c,   v ← b2 v + (1−b2) c²
        d = m̂ / (√v̂ + eps),   m̂ = m/(1−b1^t),   v̂ = v/(1−b2^t)

    This is the "approximate" MARS (``is_approx=True``, the default) of ``AGI-Arena/MARS``
    ``mars.py`` with ``mars_type="mars-adamw"``, applied to every tensor. The official class by default
    sends tensors that are not 2-D to a plain AdamW with separate betas and learning rate
    (``optimize_1d=False``); that split is not reproduced (this is its ``optimize_1d=True``).

    Args:
      b1, b2: moment decay rates. gamma: strength of the variance-reduction correction.
      eps: added to ``√v̂``.

    Returns:
      A transformation with state :class:`ScaleByMarsState`.

    References:
      Yuan, Liu, Wu, Zhou & Gu, MARS: Unleashing the Power of Variance Reduction for Training Large
      Models, arXiv:2411.10438.
    """

    def init_fn(params):
        return ScaleByMarsState(
            count=jnp.zeros([], jnp.int32),
            mu=optax.tree.zeros_like(params),
            nu=optax.tree.zeros_like(params),
            prev_grad=optax.tree.zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params
        count = _increment(state.count)
        t = count.astype(jnp.result_type(float))
        bc1 = 1.0 - b1**t
        bc2 = 1.0 - b2**t
        coef = gamma * (b1 / (1.0 - b1))

        def corrected(g, g_prev):
            c = (g - g_prev) * coef + g
            norm = jnp.sqrt(jnp.sum(jnp.square(c)))
            return c / jnp.maximum(norm, 1.0)

        c = jax.tree.map(corrected, updates, state.prev_grad)
        mu = jax.tree.map(lambda ci, m: b1 * m + (1.0 - b1) * ci, c, state.mu)
        nu = jax.tree.map(lambda ci, v: b2 * v + (1.0 - b2) * ci * ci, c, state.nu)
        directions = jax.tree.map(
            lambda g, m, v: ((m / bc1) / (jnp.sqrt(v) / jnp.sqrt(bc2) + eps)).astype(g.dtype), updates, mu, nu
        )
        new_state = ScaleByMarsState(count=count, mu=mu, nu=nu, prev_grad=updates)
        return directions, _leafwise_state(new_state, state)

    return optax.GradientTransformation(init_fn, update_fn)


def mars(
    learning_rate: ScalarOrSchedule = 3e-3,
    b1: Scalar = 0.95,
    b2: Scalar = 0.99,
    gamma: Scalar = 0.025,
    eps: Scalar = 1e-8,
    weight_decay: Scalar = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""MARS-AdamW: ``u = −lr·(d + weight_decay·θ)`` with ``d`` of :func:`scale_by_mars` (decoupled decay).

    Args:
      learning_rate: ``lr`` (official default 3e-3). b1, b2, gamma, eps: see :func:`scale_by_mars`.
      weight_decay: decoupled ``wd``.

    References:
      Yuan et al., arXiv:2411.10438; code: github.com/AGI-Arena/MARS.
    """
    return preserve_dtypes(
        optax.chain(
            scale_by_mars(b1, b2, gamma, eps),
            optax.add_decayed_weights(weight_decay),
            optax.scale_by_learning_rate(learning_rate),
        )
    )


# ------------------------------------------------------------------------------------------------------
# Registry declarations


def _default(fn: Callable[..., Any], name: str) -> Any:
    """The default of ``fn``'s keyword ``name`` (each default is stated once, in the signature).

    Same as ``optimizers.registry.default_of``, which is defined after the registry collects the family
    modules and therefore cannot be imported while this module is being collected.
    """
    return inspect.signature(fn).parameters[name].default


def _lr(fn: Callable[..., Any]) -> Hyperparameter:
    return Hyperparameter(
        "learning_rate",
        _default(fn, "learning_rate"),
        low=0.0,
        high=10.0,
        low_exclusive=True,
        doc="step size",
    )


def _rate(fn: Callable[..., Any], name: str, doc: str) -> Hyperparameter:
    """A decay rate in [0, 1)."""
    return Hyperparameter(name, _default(fn, name), low=0.0, high=1.0, high_exclusive=True, doc=doc)


def _nonneg(fn: Callable[..., Any], name: str, high: float, doc: str) -> Hyperparameter:
    return Hyperparameter(name, _default(fn, name), low=0.0, high=high, doc=doc)


def _flag(fn: Callable[..., Any], name: str, doc: str) -> Hyperparameter:
    return Hyperparameter(name, _default(fn, name), kind="bool", doc=doc)


def _adam_like(fn: Callable[..., Any]) -> tuple[Hyperparameter, ...]:
    return (
        _lr(fn),
        _rate(fn, "b1", "first-moment decay"),
        _rate(fn, "b2", "second-moment decay"),
        _nonneg(fn, "eps", 1.0, "added to the root of the second moment"),
        _nonneg(fn, "eps_root", 1.0, "added to the second moment inside the root"),
    )


ENTRIES: tuple[OptimizerEntry, ...] = (
    OptimizerEntry(
        family="sgd",
        constructor=sgd,
        hyperparameters=(_lr(sgd),),
        summary="plain SGD (optax.sgd)",
        reference="Robbins & Monro 1951",
    ),
    OptimizerEntry(
        family="momentum",
        constructor=momentum,
        hyperparameters=(_lr(momentum), _rate(momentum, "momentum", "heavy-ball trace decay")),
        summary="heavy-ball momentum, PyTorch convention (optax.sgd(momentum=...))",
        reference="Polyak 1964; Sutskever et al. ICML 2013",
    ),
    OptimizerEntry(
        family="nag",
        constructor=nag,
        hyperparameters=(_lr(nag), _rate(nag, "momentum", "Nesterov trace decay")),
        summary="Nesterov momentum, PyTorch convention (optax.sgd(nesterov=True))",
        reference="Nesterov 1983; Sutskever et al. ICML 2013",
    ),
    OptimizerEntry(
        family="adam",
        constructor=adam,
        hyperparameters=(*_adam_like(adam), _flag(adam, "nesterov", "Nadam-style Nesterov momentum")),
        summary="Adam (optax.adam)",
        reference="arXiv:1412.6980",
        presets={"kingma2014": {"learning_rate": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8}},
    ),
    OptimizerEntry(
        family="adamw",
        constructor=adamw,
        hyperparameters=(
            *_adam_like(adamw),
            _nonneg(adamw, "weight_decay", 10.0, "decoupled weight decay"),
            _flag(adamw, "nesterov", "Nadam-style Nesterov momentum"),
        ),
        summary="AdamW, decoupled weight decay (optax.adamw)",
        reference="arXiv:1711.05101",
        presets={"torch_default": {"learning_rate": 1e-3, "weight_decay": 1e-2}},
    ),
    OptimizerEntry(
        family="amsgrad",
        constructor=amsgrad,
        hyperparameters=(
            *_adam_like(amsgrad),
            _flag(amsgrad, "bias_correction_mu", "bias-correct the first moment"),
            _flag(amsgrad, "bias_correction_nu", "bias-correct the second moment before the max"),
        ),
        summary="AMSGrad (optax.amsgrad)",
        reference="arXiv:1904.09237",
        presets={"paper": {"bias_correction_mu": False, "bias_correction_nu": False}},
    ),
    OptimizerEntry(
        family="lion",
        constructor=lion,
        hyperparameters=(
            _lr(lion),
            _rate(lion, "b1", "update interpolation"),
            _rate(lion, "b2", "momentum decay"),
            _nonneg(lion, "weight_decay", 10.0, "decoupled weight decay"),
        ),
        summary="Lion, sign of interpolated momentum (optax.lion)",
        reference="arXiv:2302.06675",
    ),
    OptimizerEntry(
        family="adabelief",
        constructor=adabelief,
        hyperparameters=(*_adam_like(adabelief), _flag(adabelief, "nesterov", "Nesterov momentum")),
        summary="AdaBelief (optax.adabelief)",
        reference="arXiv:2010.07468",
    ),
    OptimizerEntry(
        family="rmsprop",
        constructor=rmsprop,
        hyperparameters=(
            _lr(rmsprop),
            _rate(rmsprop, "decay", "second-moment decay"),
            _nonneg(rmsprop, "eps", 1.0, "stabiliser"),
            _nonneg(rmsprop, "initial_scale", 10.0, "initial second moment"),
            _rate(rmsprop, "momentum", "trace decay (0: no momentum)"),
            _flag(rmsprop, "eps_in_sqrt", "eps inside the root (optax) or outside (PyTorch)"),
            _flag(rmsprop, "centered", "divide by the centred second moment"),
            _flag(rmsprop, "nesterov", "Nesterov form of the momentum trace"),
            _flag(rmsprop, "bias_correction", "bias-correct the moments"),
        ),
        summary="RMSprop (optax.rmsprop)",
        reference="Hinton 2012, lecture 6a; arXiv:1308.0850",
        presets={"torch_default": {"learning_rate": 1e-2, "decay": 0.99, "eps": 1e-8, "eps_in_sqrt": False}},
    ),
    OptimizerEntry(
        family="adabound",
        constructor=adabound,
        hyperparameters=(
            _lr(adabound),
            _rate(adabound, "b1", "first-moment decay"),
            _rate(adabound, "b2", "second-moment decay"),
            _nonneg(adabound, "final_lr", 10.0, "SGD rate the bounds converge to"),
            _rate(adabound, "gamma", "convergence speed of the bounds"),
            _nonneg(adabound, "eps", 1.0, "added to the root of the second moment"),
            _nonneg(adabound, "weight_decay", 10.0, "coupled L2 coefficient"),
            _flag(adabound, "amsbound", "AMSBound: running max of the second moment"),
        ),
        summary="AdaBound/AMSBound, Adam with dynamic bounds on the rate (authors' code)",
        reference="arXiv:1902.09843",
        # The bounds converge to final_lr whatever the learning rate (for a constant one), so final_lr is
        # what sets the step in the long run: a learning-rate sweep alone cannot make AdaBound converge.
        step_size="final_lr",
        presets={"luo2019": {}, "amsbound": {"amsbound": True}},
    ),
    OptimizerEntry(
        family="padam",
        constructor=padam,
        hyperparameters=(
            _lr(padam),
            _rate(padam, "b1", "first-moment decay"),
            _rate(padam, "b2", "second-moment decay"),
            Hyperparameter(
                "partial",
                _default(padam, "partial"),
                low=0.0,
                high=0.5,
                low_exclusive=True,
                doc="partially adaptive exponent p (1/2: AMSGrad)",
            ),
            _nonneg(padam, "eps", 1.0, "added to the root of the second moment"),
            _nonneg(padam, "weight_decay", 10.0, "coupled L2 coefficient"),
            _flag(padam, "amsgrad", "running max of the second moment"),
        ),
        summary="Padam, partially adaptive momentum (authors' code)",
        reference="arXiv:1806.06763",
        presets={"uclaml_default": {}, "chen_gu_p1_8": {"learning_rate": 0.1, "partial": 0.125}},
    ),
    OptimizerEntry(
        family="diffgrad",
        constructor=diffgrad,
        hyperparameters=(
            _lr(diffgrad),
            _rate(diffgrad, "b1", "first-moment decay"),
            _rate(diffgrad, "b2", "second-moment decay"),
            _nonneg(diffgrad, "eps", 1.0, "added to the root of the second moment"),
            _nonneg(diffgrad, "weight_decay", 10.0, "coupled L2 coefficient"),
        ),
        summary="diffGrad, Adam with a friction coefficient sigmoid(|g_prev - g|) (authors' code v2)",
        reference="arXiv:1909.11015",
        presets={"dubey2019": {}},
    ),
    OptimizerEntry(
        family="mars",
        constructor=mars,
        hyperparameters=(
            _lr(mars),
            _rate(mars, "b1", "first-moment decay"),
            _rate(mars, "b2", "second-moment decay"),
            _nonneg(mars, "gamma", 1.0, "variance-reduction strength"),
            _nonneg(mars, "eps", 1.0, "added to the root of the second moment"),
            _nonneg(mars, "weight_decay", 10.0, "decoupled weight decay"),
        ),
        summary="MARS-AdamW (approximate), variance-reduced Adam (authors' code, all tensors)",
        reference="arXiv:2411.10438",
        presets={"yuan2024": {}},
    ),
    OptimizerEntry(
        family="adopt",
        constructor=adopt,
        hyperparameters=(
            _lr(adopt),
            _rate(adopt, "b1", "first-moment decay"),
            _rate(adopt, "b2", "second-moment decay"),
            _nonneg(adopt, "eps", 1.0, "floor of the root of the second moment"),
            _flag(adopt, "nesterov", "Nesterov momentum"),
            _flag(adopt, "use_clipping", "clip the normalised gradient to t^(1/4)"),
        ),
        summary="ADOPT (optax.contrib.adopt)",
        reference="arXiv:2411.02853",
    ),
    OptimizerEntry(
        family="ademamix",
        constructor=ademamix,
        hyperparameters=(
            *_adam_like(ademamix),
            _rate(ademamix, "b3", "slow EMA decay"),
            _nonneg(ademamix, "alpha", 100.0, "weight of the slow EMA"),
            _nonneg(ademamix, "weight_decay", 10.0, "decoupled weight decay"),
        ),
        summary="AdEMAMix, mixture of a fast and a slow EMA (optax.contrib.ademamix)",
        reference="arXiv:2409.03137",
    ),
)
