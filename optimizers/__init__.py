"""Optimizers as optax transforms, their registry and the JSON spec format.

Every family registers in :data:`REGISTRY`; :func:`build` turns ``{"family": name, **hyperparameters}``
into an ``optax.GradientTransformation``; :func:`export` / :func:`load` write and read the safe JSON
optimizer file (never pickle).
"""

from optimizers.registry import REGISTRY, Hyperparameter, OptimizerEntry, families
from optimizers.spec import build, entry_for, export, load, load_spec, validate_spec

__all__ = [
    "REGISTRY",
    "Hyperparameter",
    "OptimizerEntry",
    "build",
    "entry_for",
    "export",
    "families",
    "load",
    "load_spec",
    "validate_spec",
]
