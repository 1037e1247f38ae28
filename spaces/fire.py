"""The FIRE space: ASE's FIRE time-step and mixing constants.

Optimizer: :func:`optimizers.fire.fire` (Bitzek et al., PRL 97, 170201 (2006); ASE ``FIRE``). With
``F = −g``: ``v ← (1 − α) v + α F |v|/|F|`` while the power ``F·v > 0`` (the time step grows by ``f_inc``
up to ``dtmax`` after ``n_min`` such steps, ``α ← α f_a``), else ``v ← 0``, ``dt ← dt f_dec``,
``α ← a_start``; then ``v ← v + dt F`` and the step ``dt v`` is capped at ``max_step``.

Scales: ``dt``, ``dtmax``, ``max_step`` log; ``f_a`` in ``log(1 − f_a)``; the rest linear. Paper points
(the registry presets): ``ase_default`` and ``optbench_dt1``.
"""

from __future__ import annotations

from spaces.params import Float
from spaces.space import SearchSpace, make_space

__all__ = ["fire_space"]


def fire_space(name: str = "fire") -> SearchSpace:
    """The FIRE space (paper points from ``optimizers.REGISTRY["fire"].presets``)."""
    return make_space(
        name,
        "fire",
        (
            Float("dt", 1e-3, 2.0, log=True),
            Float("dtmax", 0.1, 10.0, log=True),
            Float("n_min", 0.0, 20.0),
            Float("f_inc", 1.0, 2.0),
            Float("f_dec", 0.1, 0.9),
            Float("a_start", 0.0, 0.5),
            Float("f_a", 0.5, 0.999, log=True, complement=True),
            Float("max_step", 0.01, 2.0, log=True),
        ),
        description="FIRE (Bitzek et al. 2006; ASE): damped dynamics for structure relaxation",
    )
