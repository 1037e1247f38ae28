"""Search spaces over optimizer designs (DESIGN.md §3).

Each published optimizer is a point in a parameterized space that an evolution strategy moves through:
``space.decode(x)`` turns any real vector into a valid point (a JSON-able dict), ``space.build(point)``
into an ``optax.GradientTransformation``, and ``space.paper_points`` holds the published settings (taken
from the optimizer registry's presets). :data:`SPACES` maps names to spaces:

* one per baseline family (``sgd``, ``momentum``, ``nag``, ``adam``, ``adamw``, ``amsgrad``, ``lion``,
  ``adabelief``, ``rmsprop``, ``adabound``, ``padam``, ``diffgrad``, ``mars``, ``adopt``, ``ademamix``),
  and ``fire``;
* ``core`` (CoRe), ``linear_memory`` (LM-RLLC), ``frankenstein``, ``adan``;
* ``learned_mlp`` and ``learned_mlp_small`` (the learned MLP optimizer's weights).

Example:
  >>> import spaces
  >>> space = spaces.get_space("adan")
  >>> point = space.decode(space.encode(space.paper_points["official"]))
  >>> opt = space.build(point)
"""

from __future__ import annotations

from collections.abc import Callable

from optimizers.registry import REGISTRY
from spaces.adan import adan_space
from spaces.baselines import baseline_spaces
from spaces.core_optimizer import core_space
from spaces.fire import fire_space
from spaces.frankenstein import frankenstein_space
from spaces.learned_mlp import learned_mlp_space
from spaces.linear_memory import linear_memory_space
from spaces.params import Choice, Fixed, Float, FloatVector, Int, Param
from spaces.space import Builder, SearchSpace, make_space, space_table

__all__ = [
    "Builder",
    "Choice",
    "Fixed",
    "Float",
    "FloatVector",
    "Int",
    "Param",
    "SPACES",
    "SearchSpace",
    "describe_spaces",
    "get_space",
    "make_space",
    "space_table",
]

#: (optimizer family, factory) pairs; a space is listed once its optimizer family is registered.
_FACTORIES: tuple[tuple[str, Callable[[], list[SearchSpace]]], ...] = (
    ("sgd", baseline_spaces),
    ("fire", lambda: [fire_space()]),
    ("core", lambda: [core_space()]),
    ("linear_memory", lambda: [linear_memory_space()]),
    ("frankenstein", lambda: [frankenstein_space()]),
    ("adan", lambda: [adan_space()]),
    ("learned_mlp", lambda: [learned_mlp_space(), learned_mlp_space((8, 8), name="learned_mlp_small")]),
)


def _collect() -> dict[str, SearchSpace]:
    registry: dict[str, SearchSpace] = {}
    for family, factory in _FACTORIES:
        if family not in REGISTRY:
            continue
        for space in factory():
            if space.name in registry:
                raise RuntimeError(f"search space {space.name!r} defined twice")
            registry[space.name] = space
    return registry


#: Every search space by name.
SPACES: dict[str, SearchSpace] = _collect()


def get_space(name: str) -> SearchSpace:
    """The space called ``name`` (``ValueError`` naming the known spaces otherwise)."""
    if not isinstance(name, str) or name not in SPACES:
        known = ", ".join(SPACES)
        raise ValueError(f"space: unknown search space {name!r}; known spaces: {known}")
    return SPACES[name]


def describe_spaces(names: list[str] | None = None) -> str:
    """The summary table of the spaces, then each space's :meth:`SearchSpace.describe`."""
    chosen = {name: get_space(name) for name in (names if names is not None else list(SPACES))}
    return "\n\n".join([space_table(chosen), *(space.describe() for space in chosen.values())])
