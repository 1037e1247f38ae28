"""The Frankenstein space: one choice per coefficient formula, plus the continuous constants.

Optimizer: :func:`optimizers.frankenstein.frankenstein` (the Frankenstein optimizer paper, Alg. 1 and App.
B.1, and the authors' PyTorch class; ALGORITHMS.md §Frankenstein). Per step, with ``x = g² + ε`` and the
misalignment ``P``::

    b1 = β1 rule,   P = misalignment rule,   v̂ = second-moment rule,
    ρ = rho rule (log-clip of e + √(v̂ or x) + 0.5 − P to e^rho_bounds),   ξ = xi rule,
    m = momentum form (EMA or heavy ball ρ b1 m − α ξ g/√v̂),   θ update form (Adam, Nesterov, momentum),
    b2 = β2 rule (constant, ratio 1 − (x/x_prev)|0.5 − P|, or the ratio clipped).

Genes: one choice per formula (``beta1_rule``, ``misalignment``, ``rho_rule``, ``rho_sqrt_term``,
``xi_rule``, ``beta2_rule``, ``second_moment``, ``momentum_form``, ``update_form``, ``bias_correction``,
``decoupled_weight_decay``; the authors'-code option first, so the all-zero genes pick the code's
formulas), and the numeric constants: learning rate, ``beta1``, ``base_lr``, ``beta2``, ``eps``, weight decay
(scales as in the other spaces) and the two clip intervals ``beta1_clip = [lo, hi]`` (``lo ∈ [0, 0.5]``,
``hi ∈ [0.5, 1]``) and ``rho_bounds = [lo, hi]`` (``lo ∈ [−0.5, 1]``, ``hi ∈ [1, 1.2]``), which hold both the
code's and the paper's values. Paper points (the registry presets): ``adam`` (equals ``optax.adam``),
``amsgrad`` (equals ``optax.amsgrad``), ``frankenstein_code``, ``frankenstein_alg1``, ``frankenstein_appB``.
"""

from __future__ import annotations

from optimizers.registry import REGISTRY
from spaces.params import Choice, Float, FloatPair, Param
from spaces.space import SearchSpace, make_space

__all__ = ["frankenstein_space"]

_FORMULAS = (
    "beta1_rule",
    "misalignment",
    "rho_rule",
    "rho_sqrt_term",
    "xi_rule",
    "beta2_rule",
    "second_moment",
    "momentum_form",
    "update_form",
)


def _formula(name: str) -> Choice:
    """A choice over the registry's options of ``name``, the default (the authors' code) first."""
    hp = REGISTRY["frankenstein"].hyperparameter(name)
    options = (hp.default, *(o for o in hp.choices if o != hp.default))
    return Choice(name, options)


def _flag(name: str) -> Choice:
    default = REGISTRY["frankenstein"].hyperparameter(name).default
    return Choice(name, (default, not default))


def frankenstein_space(name: str = "frankenstein") -> SearchSpace:
    """The Frankenstein formula space (paper points from ``optimizers.REGISTRY["frankenstein"].presets``)."""
    params: tuple[Param, ...] = (
        Float("learning_rate", 1e-6, 1e-1, log=True),
        Float("beta1", 0.0, 0.99, log=True, complement=True),
        Float("base_lr", 1e-5, 1e-1, log=True),
        FloatPair("beta1_clip", (0.0, 0.5), (0.5, 1.0)),
        Float("beta2", 0.9, 0.99999, log=True, complement=True),
        Float("eps", 1e-12, 1e-4, log=True),
        Float("weight_decay", 0.0, 1.0, log=True, offset=1e-4),
        FloatPair("rho_bounds", (-0.5, 1.0), (1.0, 1.2)),
        *(_formula(formula) for formula in _FORMULAS),
        _flag("bias_correction"),
        _flag("decoupled_weight_decay"),
    )
    return make_space(
        name,
        "frankenstein",
        params,
        description="Frankenstein (Alg. 1, App. B.1 and the authors' code): a choice per coefficient formula",
    )
