"""The optimizer registry: family name -> constructor and its declared hyperparameters.

Every family module declares ``ENTRIES``: a tuple of :class:`OptimizerEntry`. This module imports the
family modules listed in ``_FAMILY_MODULES`` explicitly (no import-time side effects elsewhere) and
builds :data:`REGISTRY`, a plain ``dict`` from family name to entry.

A declaration is data that the shared tools read instead of special-casing an optimizer:

* ``hyperparameters`` gives every keyword the constructor accepts, with its default, its kind and its
  valid range (used by :func:`optimizers.build`, :func:`optimizers.load` and the CLI listing);
* ``needs_value`` says the transform's ``update`` wants the current loss as ``value=`` (an
  ``optax.GradientTransformationExtraArgs``);
* ``step_size`` names the hyperparameter that scales the step (the conformance suite sweeps it);
* ``presets`` are named published settings (paper points), as hyperparameter overrides.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

import optax

__all__ = ["Hyperparameter", "OptimizerEntry", "REGISTRY", "default_of", "families"]

Kind = Literal["float", "int", "bool", "choice", "json"]


@dataclasses.dataclass(frozen=True)
class Hyperparameter:
    """One keyword argument of an optimizer constructor.

    Attributes:
      name: the keyword name, exactly as the constructor takes it.
      default: the default value (the one stated in the constructor's signature).
      kind: ``"float"`` (numeric, may be a traced JAX scalar), ``"int"`` and ``"bool"`` (structural,
        Python values), ``"choice"`` (one of ``choices``), ``"json"`` (a JSON value such as a list of
        dicts, checked by ``validate``).
      low, high: inclusive bounds for ``float``/``int`` kinds (``None``: unbounded).
      low_exclusive, high_exclusive: make the corresponding bound strict.
      choices: the allowed values of a ``choice``.
      validate: for ``json`` kinds, a function that raises ``ValueError`` on a bad value.
      doc: one line shown by ``optsearch list optimizers``.
    """

    name: str
    default: Any
    kind: Kind = "float"
    low: float | None = None
    high: float | None = None
    low_exclusive: bool = False
    high_exclusive: bool = False
    choices: tuple[Any, ...] | None = None
    validate: Callable[[Any], None] | None = None
    doc: str = ""

    @property
    def traceable(self) -> bool:
        """Whether the value may be a traced JAX scalar (one compilation serves many values)."""
        return self.kind == "float"

    def check(self, value: Any, *, where: str = "") -> Any:
        """Return ``value`` normalised (ints to floats for ``float``), or raise one ``ValueError``."""
        field = f"{where}{self.name}"
        if self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{field}: expected a number, got {type(value).__name__} {value!r}")
            try:
                value = float(value)
            except OverflowError:  # an integer beyond the float range
                raise ValueError(
                    f"{field}: must be finite, got an integer of {value.bit_length()} bits"
                ) from None
            if not math.isfinite(value):
                raise ValueError(f"{field}: must be finite, got {value!r}")
            self._check_range(field, value)
            return value
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise ValueError(f"{field}: expected an integer, got {value!r}")
            self._check_range(field, value)
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{field}: expected true or false, got {value!r}")
            return value
        if self.kind == "choice":
            if value not in (self.choices or ()):
                allowed = ", ".join(repr(c) for c in self.choices)
                raise ValueError(f"{field}: must be one of {allowed}, got {value!r}")
            return value
        if self.validate is not None:
            try:
                self.validate(value)
            except ValueError as err:
                raise ValueError(f"{field}: {err}") from None
        return value

    def _check_range(self, field: str, value: float) -> None:
        if self.low is not None and (value < self.low or (self.low_exclusive and value == self.low)):
            op = ">" if self.low_exclusive else ">="
            raise ValueError(f"{field}: must be {op} {self.low}, got {value!r}")
        if self.high is not None and (value > self.high or (self.high_exclusive and value == self.high)):
            op = "<" if self.high_exclusive else "<="
            raise ValueError(f"{field}: must be {op} {self.high}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class OptimizerEntry:
    """A registered optimizer family."""

    family: str
    constructor: Callable[..., optax.GradientTransformation]
    hyperparameters: tuple[Hyperparameter, ...]
    summary: str
    reference: str = ""
    needs_value: bool = False
    step_size: str = "learning_rate"
    presets: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    def hyperparameter(self, name: str) -> Hyperparameter:
        for hp in self.hyperparameters:
            if hp.name == name:
                return hp
        raise KeyError(name)

    @property
    def defaults(self) -> dict[str, Any]:
        return {hp.name: hp.default for hp in self.hyperparameters}


def default_of(constructor: Callable[..., Any], name: str) -> Any:
    """The default of keyword ``name`` as stated in ``constructor``'s signature (state defaults once)."""
    return inspect.signature(constructor).parameters[name].default


_FAMILY_MODULES = (
    "optimizers.baselines",
    "optimizers.fire",
    "optimizers.core_optimizer",
    "optimizers.adan",
    "optimizers.frankenstein",
    "optimizers.linear_memory",
    "optimizers.learned_mlp",
)


def _collect() -> dict[str, OptimizerEntry]:
    registry: dict[str, OptimizerEntry] = {}
    for module_name in _FAMILY_MODULES:
        module = importlib.import_module(module_name)
        for entry in module.ENTRIES:
            if entry.family in registry:
                raise RuntimeError(f"optimizer family {entry.family!r} registered twice")
            registry[entry.family] = entry
    return registry


REGISTRY: dict[str, OptimizerEntry] = _collect()


def families() -> list[str]:
    """The registered family names, in registration order."""
    return list(REGISTRY)
