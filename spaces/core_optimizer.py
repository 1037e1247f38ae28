"""The CoRe space: every hyperparameter of the reference implementation (``core-optimizer`` 1.1.0).

Optimizer: :func:`optimizers.core_optimizer.core` (Eckhoff & Reiher, *CoRe optimizer*, arXiv:2307.15663).
Per weight, with the Gaussian-in-time momentum decay ``β1(τ) = β1b + (β1a − β1b) exp(−(τ/β1c)²)``::

    h ← β2 h + (1 − β2) G²,   g ← β1 g + (1 − β1) G,
    s ← clip(s · (η+ if g·g_prev > 0, η− if < 0, 1 otherwise), s_min, s_max),   s_0 = learning_rate,
    u = ĝ / (√ĥ + ε),   Δ = u · s · P,   θ ← θ − wd·|Δ|·θ − Δ,

where ``P`` freezes the top ``p_frozen`` fraction of each tensor's weights by importance score once
``τ ≥ t_hist`` (stability-plasticity balance; ``t_hist = 0`` switches it off).

Scales: step sizes, ``β1c`` and ``ε`` log; the decays ``β1a``, ``β1b``, ``β2`` in ``log(1 − β)``; the weight
decay log with an offset (0 reachable); ``η∓`` and ``p_frozen`` linear. ``t_hist`` is structural (the
score history switches code paths and sets the decay ``1 − 1/t_hist``), so it is a choice among a few
lengths (0 first: off). ``β2 < 0`` (the package's sign mode) is outside this space. Paper points (the
registry presets): ``core_minibatch`` (``s_max = 1e-3``), ``core_batch`` (``s_max = 1``) and
``core_default`` (``s_max = 1e-2``, the package default).
"""

from __future__ import annotations

from spaces.params import Choice, Float
from spaces.space import SearchSpace, make_space

__all__ = ["T_HIST_OPTIONS", "core_space"]

#: Score-history lengths a search may choose (0: the balance is off, the package default).
T_HIST_OPTIONS: tuple[int, ...] = (0, 25, 50, 100, 250, 500, 1000)


def core_space(name: str = "core") -> SearchSpace:
    """The CoRe space (13 hyperparameters; paper points from ``optimizers.REGISTRY["core"].presets``)."""
    return make_space(
        name,
        "core",
        (
            Float("learning_rate", 1e-6, 1.0, log=True),
            Float("s_min", 1e-8, 1e-4, log=True),
            Float("s_max", 1e-4, 10.0, log=True),
            Float("eta_minus", 0.3, 0.99),
            Float("eta_plus", 1.0, 2.0),
            Float("beta1_a", 0.0, 0.99, log=True, complement=True),
            Float("beta1_b", 0.0, 0.99, log=True, complement=True),
            Float("beta1_c", 1.0, 1e4, log=True),
            Float("beta2", 0.5, 0.9999, log=True, complement=True),
            Float("eps", 1e-12, 1e-4, log=True),
            Float("weight_decay", 0.0, 1.0, log=True, offset=1e-4),
            Float("p_frozen", 0.0, 0.2),
            Choice("t_hist", T_HIST_OPTIONS),
        ),
        description="CoRe (arXiv:2307.15663): RPROP-like step sizes on an Adam direction, with the "
        "stability-plasticity balance",
    )
