"""The Adan space: β1, β2, β3, ε, weight decay, the no-prox flag and the learning rate.

Optimizer: :func:`optimizers.adan.adan` (Xie et al., *Adan*, arXiv:2208.06677), code convention (β weighs
the old value)::

    d = g − g_prev,  m ← β1 m + (1−β1) g,  v ← β2 v + (1−β2) d,  n ← β3 n + (1−β3)(g + β2 d)²,
    step = lr·(m̂ + β2 v̂) / (√n̂ + ε),   θ ← (θ − step)/(1 + lr·wd)   (no_prox: θ(1 − lr·wd) − step).

Scales: learning rate and ε log; the β's in ``log(1 − β)``; weight decay log with an offset (0
reachable); ``no_prox`` a choice (structural). Paper points (the registry presets): ``official`` (the
official defaults) and ``official_wd`` (the authors' configs' weight decay 0.02).
"""

from __future__ import annotations

from spaces.params import Choice, Float
from spaces.space import SearchSpace, make_space

__all__ = ["adan_space"]


def adan_space(name: str = "adan") -> SearchSpace:
    """The Adan space (paper points from ``optimizers.REGISTRY["adan"].presets``)."""
    return make_space(
        name,
        "adan",
        (
            Float("learning_rate", 1e-6, 1e-1, log=True),
            Float("b1", 0.5, 0.999, log=True, complement=True),
            Float("b2", 0.5, 0.999, log=True, complement=True),
            Float("b3", 0.9, 0.9999, log=True, complement=True),
            Float("eps", 1e-12, 1e-4, log=True),
            Float("weight_decay", 0.0, 1.0, log=True, offset=1e-4),
            Choice("no_prox", (False, True)),
        ),
        description="Adan (arXiv:2208.06677): Nesterov-momentum Adam with gradient differences",
    )
