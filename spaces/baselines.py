"""Spaces of the baseline optimizers: the learning rate, and the momentum/betas where they have them.

One space per baseline family of :mod:`optimizers.baselines` (named like the family). They also drive the
tuned-reference sweeps: ``SPACES["adam"].params[0].grid(n)`` is a log grid of learning rates.

Scales: learning rates and weight decays are log-scaled (weight decays with an offset so that 0, the
usual default, is reachable); decay rates ``β`` are log-scaled in ``1 - β`` (learned_optimization's
``log(1 - β)`` reparameterization), so the centre of ``b1 ∈ [0, 0.99]`` is 0.9 and the centre of
``b2 ∈ [0.9, 0.99999]`` is 0.999. Boolean options that a published setting changes are choices (default
first); the other hyperparameters keep their registry defaults. Paper points: the registry presets
(``optimizers.REGISTRY[family].presets``) and ``default`` (the registry defaults).
"""

from __future__ import annotations

from spaces.params import Choice, Float, Param
from spaces.space import SearchSpace, make_space

__all__ = ["baseline_spaces", "BASELINE_FAMILIES"]


def _lr(low: float, high: float) -> Float:
    return Float("learning_rate", low, high, log=True)


def _decay(name: str, low: float, high: float) -> Float:
    return Float(name, low, high, log=True, complement=True)


def _weight_decay() -> Float:
    return Float("weight_decay", 0.0, 1.0, log=True, offset=1e-5)


def _flag(name: str, default: bool) -> Choice:
    return Choice(name, (default, not default))


def _adam_betas() -> tuple[Param, ...]:
    return (_decay("b1", 0.0, 0.99), _decay("b2", 0.9, 0.99999))


_SPECS: dict[str, tuple[Param, ...]] = {
    "sgd": (_lr(1e-5, 1.0),),
    "momentum": (_lr(1e-5, 1.0), _decay("momentum", 0.0, 0.999)),
    "nag": (_lr(1e-5, 1.0), _decay("momentum", 0.0, 0.999)),
    "adam": (_lr(1e-6, 1e-1), *_adam_betas()),
    "adamw": (_lr(1e-6, 1e-1), *_adam_betas(), _weight_decay()),
    "amsgrad": (
        _lr(1e-6, 1e-1),
        *_adam_betas(),
        _flag("bias_correction_mu", True),
        _flag("bias_correction_nu", True),
    ),
    "lion": (_lr(1e-7, 1e-2), _decay("b1", 0.0, 0.99), _decay("b2", 0.9, 0.9999), _weight_decay()),
    "adabelief": (_lr(1e-6, 1e-1), *_adam_betas()),
    "rmsprop": (
        _lr(1e-6, 1.0),
        _decay("decay", 0.0, 0.9999),
        _decay("momentum", 0.0, 0.999),
        _flag("eps_in_sqrt", True),
    ),
    "adabound": (
        _lr(1e-6, 1e-1),
        *_adam_betas(),
        Float("final_lr", 1e-3, 1.0, log=True),
        _flag("amsbound", False),
    ),
    "padam": (_lr(1e-4, 1.0), *_adam_betas(), Float("partial", 0.01, 0.5), _flag("amsgrad", True)),
    "diffgrad": (_lr(1e-6, 1e-1), *_adam_betas()),
    "mars": (
        _lr(1e-6, 1e-1),
        _decay("b1", 0.0, 0.999),
        _decay("b2", 0.9, 0.99999),
        Float("gamma", 1e-3, 1.0, log=True),
    ),
    "adopt": (_lr(1e-6, 1e-1), *_adam_betas()),
    "ademamix": (
        _lr(1e-6, 1e-1),
        *_adam_betas(),
        _decay("b3", 0.9, 0.99999),
        Float("alpha", 0.0, 20.0),
    ),
}

#: The baseline families that have a space, in registry order.
BASELINE_FAMILIES: tuple[str, ...] = tuple(_SPECS)


def baseline_spaces() -> list[SearchSpace]:
    """One space per baseline family (paper points: the registry presets and ``default``)."""
    return [
        make_space(
            family,
            family,
            params,
            points={"default": {}},
            description=f"baseline {family}: learning rate and decay rates; everything else at its default",
        )
        for family, params in _SPECS.items()
    ]
