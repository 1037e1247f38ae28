"""Search-space parameters: named, unconstrained genes that decode into valid hyperparameter values.

An evolution strategy moves a real vector ``x`` freely through ``R^D``; every parameter owns a fixed
slice of that vector (its *genes*) and maps any finite genes to a valid value:

* :class:`Float` — one gene, squashed smoothly into ``[low, high]``. With ``log=True`` the squashed gene
  is uniform in ``log(value + offset)`` (or in ``log(1 - value)`` with ``complement=True``, the
  ``log(1 - beta)`` reparameterization of decay rates used by learned_optimization).
* :class:`Int` — one gene, squashed and cut into ``high - low + 1`` bins of equal width (rounding).
* :class:`Choice` — one gene per option; the value is the option of the largest gene (argmax, the first
  on ties), so an ES can move between options.
* :class:`Fixed` — no gene: a value the space does not search (typically a structural option).
* :class:`FloatVector` — ``size`` genes, each decoded like a :class:`Float` (or unbounded, identity).
* :class:`FloatPair` — two genes, an ordered interval ``[a, b]`` with ``a`` and ``b`` in non-overlapping boxes.

The squashing map of a gene ``x`` is

    u(x) = clip((sigmoid(x) - sigmoid(-G)) / (1 - 2 sigmoid(-G)), 0, 1),      G = GENE_LIMIT = 20,

smooth and strictly increasing on ``[-G, G]``, with ``u(0) = 1/2`` (the centre of the box), ``u(-G) = 0``
and ``u(G) = 1`` exactly (so the bounds themselves can be encoded), and constant beyond (so huge genes
still decode to valid values). Encoding inverts it: ``x = logit(sigmoid(-G) + u (1 - 2 sigmoid(-G)))``.
``decode(encode(v))`` returns ``v`` to about 1e-15 relative on log scales (``1 - v`` is kept exact with
``log1p``/``expm1`` on complement scales) and to a few ulps of ``high - low`` on linear scales; the
bounds come back exactly. Identity vectors round-trip exactly.

Every parameter has a JSON round trip: ``from_json(p.to_json()) == p``.

A point is a plain dict ``{key: value}``; each parameter owns one or more keys of it (``keys``), splits its
values into a *structural* part (which selects a compiled program: choices, sizes, static options) and a
*numeric* part (``{key: float}``, traced scalars), and re-assembles constructor keyword arguments from
the two (``assemble``). Subclasses of :class:`Param` may own composite values (e.g. the propagator slots
of the linear-memory space).
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np

__all__ = [
    "GENE_LIMIT",
    "Param",
    "Float",
    "Int",
    "Choice",
    "Fixed",
    "FloatVector",
    "FloatPair",
    "squash",
    "unsquash",
    "canonical",
    "to_plain",
    "from_json",
]

GENE_LIMIT = 20.0
_S_LOW = 1.0 / (1.0 + math.exp(GENE_LIMIT))  # sigmoid(-G)
_S_SPAN = 1.0 - 2.0 * _S_LOW


def _sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def squash(x: Any) -> np.ndarray:
    """Map genes (any finite reals) to ``[0, 1]``: the smooth clipped sigmoid of the module docstring."""
    x = np.clip(np.asarray(x, dtype=np.float64), -GENE_LIMIT, GENE_LIMIT)
    return np.clip((_sigmoid(x) - _S_LOW) / _S_SPAN, 0.0, 1.0)


def unsquash(u: Any) -> np.ndarray:
    """Inverse of :func:`squash` on ``[0, 1]``: the gene in ``[-GENE_LIMIT, GENE_LIMIT]`` that maps to ``u``."""
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    p = _S_LOW + u * _S_SPAN
    x = np.clip(np.log(p) - np.log1p(-p), -GENE_LIMIT, GENE_LIMIT)
    return np.where(u <= 0.0, -GENE_LIMIT, np.where(u >= 1.0, GENE_LIMIT, x))


def canonical(value: Any) -> Any:
    """A hashable canonical form of a JSON-like value (tuples and lists alike; ``True`` differs from 1)."""
    if isinstance(value, _FrozenDict):
        value = to_plain(value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        try:
            return ("number", float(value))
        except OverflowError:  # an integer beyond the float range equals no float
            return ("integer", int(value))
    if isinstance(value, Mapping):
        return ("object", tuple(sorted((str(k), canonical(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("array", tuple(canonical(v) for v in value))
    raise ValueError(f"not a JSON value: {type(value).__name__} {value!r}")


class _FrozenDict(tuple):
    """A hashable stand-in for a JSON object inside a frozen parameter (sorted ``(key, value)`` pairs)."""


def to_plain(value: Any) -> Any:
    """A JSON-able copy of ``value``: tuples become lists, NumPy scalars Python numbers."""
    if isinstance(value, _FrozenDict):
        return {k: to_plain(v) for k, v in value}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _frozen(value: Any) -> Any:
    """A hashable copy of a JSON-like value (lists become tuples, dicts sorted item tuples)."""
    if isinstance(value, _FrozenDict):
        return value
    if isinstance(value, Mapping):
        return _FrozenDict(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return to_plain(value)


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected a non-empty string, got {name!r}")


def _as_real(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{field}: expected a number, got {type(value).__name__} {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond the float range (e.g. from a JSON file)
        raise ValueError(f"{field}: must be finite, got an integer of {value.bit_length()} bits") from None
    if not math.isfinite(value):
        raise ValueError(f"{field}: must be finite, got {value!r}")
    return value


def _genes(field: str, genes: Any, size: int) -> np.ndarray:
    x = np.asarray(genes, dtype=np.float64).reshape(-1)
    if x.shape != (size,):
        raise ValueError(f"{field}: expected {size} genes, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{field}: genes must be finite")
    return x


class Param(abc.ABC):
    """A named part of a search space owning ``size`` genes and the point keys ``keys``.

    Subclasses implement the gene map (``encode``/``decode``), validation, sampling, the split into a
    structural and a numeric part, and the assembly of constructor keyword arguments.
    """

    type_name: ClassVar[str] = ""
    name: str

    @property
    def keys(self) -> tuple[str, ...]:
        """The point keys this parameter owns (default: its name)."""
        return (self.name,)

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """The number of genes."""

    @abc.abstractmethod
    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check this parameter's entries of a point; return them normalised (JSON-able)."""

    @abc.abstractmethod
    def encode(self, values: Mapping[str, Any]) -> np.ndarray:
        """Genes (shape ``[size]``) of this parameter's (validated) entries."""

    @abc.abstractmethod
    def decode(self, genes: np.ndarray) -> dict[str, Any]:
        """Entries of a point from genes (any finite reals)."""

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Entries drawn from this parameter's prior (uniform in the scaled box)."""

    @abc.abstractmethod
    def split(self, values: Mapping[str, Any]) -> tuple[Any, dict[str, float]]:
        """``(structure, numeric)``: a JSON-able structural part (``None`` if none), and named floats."""

    def check_structure(self, structure: Any) -> Any:
        """Validate a structural part read back from a signature (default: there is none)."""
        if structure is not None:
            raise ValueError(f"{self.name}: has no structural part, got {structure!r}")
        return None

    @abc.abstractmethod
    def numeric_keys_of(self, structure: Any) -> tuple[str, ...]:
        """The numeric keys of points with this structural part (what ``split`` returns, in order)."""

    @abc.abstractmethod
    def assemble(self, structure: Any, numeric: Mapping[str, Any]) -> dict[str, Any]:
        """Constructor keyword arguments from a structure and numeric values (possibly traced)."""

    @abc.abstractmethod
    def from_hyperparameters(self, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
        """This parameter's point entries from constructor keyword arguments (inverse of ``assemble``)."""

    @abc.abstractmethod
    def structural_mask(self) -> np.ndarray:
        """Boolean mask over the genes: True where a gene can change the structural part."""

    @abc.abstractmethod
    def to_json(self) -> dict[str, Any]:
        """A JSON-able description, read back by :func:`from_json`."""

    @abc.abstractmethod
    def describe_row(self) -> tuple[str, str, str]:
        """``(type, range or options, scale)`` for :meth:`SearchSpace.describe`."""

    def gene_labels(self) -> list[str]:
        """One label per gene (``name`` or ``name[i]``)."""
        if self.size == 1:
            return [self.name]
        return [f"{self.name}[{i}]" for i in range(self.size)]


class _Scalar(Param):
    """A parameter owning one key whose value is a scalar (or one JSON value)."""

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        if self.name not in values:
            raise ValueError(f"{self.name}: missing")
        return {self.name: self.check(values[self.name])}

    def encode(self, values: Mapping[str, Any]) -> np.ndarray:
        return self.encode_value(self.check(values[self.name]))

    def decode(self, genes: np.ndarray) -> dict[str, Any]:
        return {self.name: self.decode_value(_genes(self.name, genes, self.size))}

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return {self.name: self.sample_value(rng)}

    def split(self, values: Mapping[str, Any]) -> tuple[Any, dict[str, float]]:
        value = self.check(values[self.name])
        if self.structural:
            return value, {}
        return None, {self.name: value}

    def numeric_keys_of(self, structure: Any) -> tuple[str, ...]:
        return () if self.structural else (self.name,)

    def check_structure(self, structure: Any) -> Any:
        return self.check(structure) if self.structural else super().check_structure(structure)

    def assemble(self, structure: Any, numeric: Mapping[str, Any]) -> dict[str, Any]:
        if self.structural:
            return {self.name: structure}
        return {self.name: numeric[self.name]}

    def from_hyperparameters(self, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
        if self.name not in hyperparameters:
            raise ValueError(f"{self.name}: missing")
        return {self.name: self.check(hyperparameters[self.name])}

    def structural_mask(self) -> np.ndarray:
        return np.full(self.size, self.structural, dtype=bool)

    @property
    @abc.abstractmethod
    def structural(self) -> bool:
        """Whether the value is part of the signature (else it is a traced numeric value)."""

    @abc.abstractmethod
    def check(self, value: Any) -> Any:
        """Return the value normalised, or raise a ``ValueError`` naming this parameter."""

    @abc.abstractmethod
    def encode_value(self, value: Any) -> np.ndarray: ...

    @abc.abstractmethod
    def decode_value(self, genes: np.ndarray) -> Any: ...

    @abc.abstractmethod
    def sample_value(self, rng: np.random.Generator) -> Any: ...


@dataclasses.dataclass(frozen=True)
class Float(_Scalar):
    """A real value in ``[low, high]`` (one gene).

    Scales (``u`` = the squashed gene in ``[0, 1]``):

    * linear: ``value = low + u (high - low)``;
    * ``log=True``: ``log(value + offset)`` is linear in ``u`` (``offset > 0`` admits ``low = 0``: a log
      scale for values well above ``offset`` that still reaches exactly 0);
    * ``log=True, complement=True``: ``log(1 - value)`` is linear in ``u`` (decay rates close to 1).

    Args:
      name: the hyperparameter name.
      low, high: inclusive bounds, ``low < high``.
      log: log-scale the value (see above).
      offset: shift inside the log (``log=True`` only).
      complement: log-scale ``1 - value`` instead (``log=True`` only; needs ``high < 1``).
      static: the value is structural (part of the signature) rather than a traced numeric value; for
        hyperparameters that the optimizer needs as a Python float.
    """

    name: str
    low: float
    high: float
    log: bool = False
    offset: float = 0.0
    complement: bool = False
    static: bool = False
    type_name: ClassVar[str] = "float"

    def __post_init__(self) -> None:
        _check_name(self.name)
        low = _as_real(f"{self.name}.low", self.low)
        high = _as_real(f"{self.name}.high", self.high)
        offset = _as_real(f"{self.name}.offset", self.offset)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "offset", offset)
        if not low < high:
            raise ValueError(f"{self.name}: low must be < high, got [{low}, {high}]")
        if not self.log and (offset != 0.0 or self.complement):
            raise ValueError(f"{self.name}: offset and complement apply only with log=True")
        if self.log and self.complement:
            if offset != 0.0:
                raise ValueError(f"{self.name}: offset and complement cannot be combined")
            if not high < 1.0:
                raise ValueError(f"{self.name}: complement log scale needs high < 1, got {high}")
        elif self.log and not low + offset > 0.0:
            raise ValueError(f"{self.name}: log scale needs low + offset > 0, got {low} + {offset}")

    @property
    def size(self) -> int:
        return 1

    @property
    def structural(self) -> bool:
        return self.static

    def _to_scaled(self, value: float) -> float:
        if not self.log:
            return value
        if self.complement:
            return math.log1p(-value)
        return math.log(value + self.offset)

    def _from_scaled(self, s: np.ndarray) -> np.ndarray:
        if not self.log:
            return s
        if self.complement:
            return -np.expm1(s)
        return np.exp(s) - self.offset

    def check(self, value: Any) -> float:
        value = _as_real(self.name, value)
        if not self.low <= value <= self.high:
            raise ValueError(f"{self.name}: must be in [{self.low}, {self.high}], got {value!r}")
        return value

    def to_unit(self, value: float) -> float:
        """The position ``u`` in ``[0, 1]`` of a valid value."""
        a, b = self._to_scaled(self.low), self._to_scaled(self.high)
        return float(np.clip((self._to_scaled(value) - a) / (b - a), 0.0, 1.0))

    def from_unit(self, u: Any) -> np.ndarray:
        """Values (float64 array) at positions ``u`` in ``[0, 1]``; the bounds are hit exactly."""
        u = np.asarray(u, dtype=np.float64)
        a, b = self._to_scaled(self.low), self._to_scaled(self.high)
        value = np.clip(self._from_scaled(a + u * (b - a)), self.low, self.high)
        return np.where(u <= 0.0, self.low, np.where(u >= 1.0, self.high, value))

    def encode_value(self, value: Any) -> np.ndarray:
        return unsquash([self.to_unit(value)])

    def decode_value(self, genes: np.ndarray) -> float:
        return float(self.from_unit(squash(genes[0])))

    def sample_value(self, rng: np.random.Generator) -> float:
        return float(self.from_unit(rng.uniform()))

    def grid(self, num: int) -> list[float]:
        """``num`` values evenly spaced on this parameter's scale, bounds included (e.g. a log grid)."""
        if isinstance(num, bool) or not isinstance(num, int) or num < 2:
            raise ValueError(f"num: expected an integer >= 2, got {num!r}")
        return [float(v) for v in self.from_unit(np.linspace(0.0, 1.0, num))]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "name": self.name,
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "offset": self.offset,
            "complement": self.complement,
            "static": self.static,
        }

    def describe_row(self) -> tuple[str, str, str]:
        if not self.log:
            scale = "linear"
        elif self.complement:
            scale = "log(1-x)"
        elif self.offset:
            scale = f"log(x+{self.offset:g})"
        else:
            scale = "log"
        return ("float*" if self.static else "float", f"[{self.low:g}, {self.high:g}]", scale)


@dataclasses.dataclass(frozen=True)
class Int(_Scalar):
    """An integer in ``[low, high]`` (one gene, structural): ``value = low + floor(u (high - low + 1))``.

    Every integer gets a bin of equal width in ``u``; encoding puts a value at the centre of its bin.
    """

    name: str
    low: int
    high: int
    type_name: ClassVar[str] = "int"

    def __post_init__(self) -> None:
        _check_name(self.name)
        for field in ("low", "high"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{self.name}.{field}: expected an integer, got {value!r}")
            object.__setattr__(self, field, int(value))
        if not self.low < self.high:
            raise ValueError(f"{self.name}: low must be < high, got [{self.low}, {self.high}]")

    @property
    def size(self) -> int:
        return 1

    @property
    def structural(self) -> bool:
        return True

    @property
    def _count(self) -> int:
        return self.high - self.low + 1

    def check(self, value: Any) -> int:
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{self.name}: expected an integer, got {value!r}")
        value = int(value)
        if not self.low <= value <= self.high:
            raise ValueError(f"{self.name}: must be in [{self.low}, {self.high}], got {value!r}")
        return value

    def _from_unit(self, u: float) -> int:
        return self.low + min(int(math.floor(u * self._count)), self._count - 1)

    def encode_value(self, value: Any) -> np.ndarray:
        return unsquash([(value - self.low + 0.5) / self._count])

    def decode_value(self, genes: np.ndarray) -> int:
        return self._from_unit(float(squash(genes[0])))

    def sample_value(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high + 1))

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "name": self.name, "low": self.low, "high": self.high}

    def describe_row(self) -> tuple[str, str, str]:
        return ("int", f"{self.low}..{self.high}", "linear")


@dataclasses.dataclass(frozen=True)
class Choice(_Scalar):
    """One of ``options`` (JSON values; one gene per option, structural). Decoded by argmax.

    Encoding gives the chosen option's gene 1 and the others 0; all-zero genes decode to the first option.
    """

    name: str
    options: tuple[Any, ...]
    type_name: ClassVar[str] = "choice"

    def __post_init__(self) -> None:
        _check_name(self.name)
        if isinstance(self.options, (str, bytes)) or not isinstance(self.options, Sequence):
            raise ValueError(f"{self.name}.options: expected a list of JSON values, got {self.options!r}")
        options = tuple(_frozen(o) for o in self.options)
        if len(options) < 2:
            raise ValueError(f"{self.name}.options: need at least 2 options (use Fixed for one value)")
        keys = [canonical(o) for o in options]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{self.name}.options: duplicate options in {to_plain(options)!r}")
        object.__setattr__(self, "options", options)

    @property
    def size(self) -> int:
        return len(self.options)

    @property
    def structural(self) -> bool:
        return True

    def index(self, value: Any) -> int:
        """The position of ``value`` among the options, or a ``ValueError``."""
        try:
            key = canonical(value)
        except ValueError:
            key = None
        for i, option in enumerate(self.options):
            if canonical(option) == key:
                return i
        allowed = ", ".join(repr(to_plain(o)) for o in self.options)
        raise ValueError(f"{self.name}: must be one of {allowed}, got {value!r}")

    def check(self, value: Any) -> Any:
        return to_plain(self.options[self.index(value)])

    def encode_value(self, value: Any) -> np.ndarray:
        genes = np.zeros(self.size)
        genes[self.index(value)] = 1.0
        return genes

    def decode_value(self, genes: np.ndarray) -> Any:
        return to_plain(self.options[int(np.argmax(genes))])

    def sample_value(self, rng: np.random.Generator) -> Any:
        return to_plain(self.options[int(rng.integers(len(self.options)))])

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "name": self.name, "options": to_plain(self.options)}

    def __repr__(self) -> str:
        return f"Choice({self.name!r}, {to_plain(self.options)!r})"

    def gene_labels(self) -> list[str]:
        return [f"{self.name}={to_plain(o)!r}" for o in self.options]

    def describe_row(self) -> tuple[str, str, str]:
        return ("choice", " | ".join(_short(o) for o in self.options), "argmax")


@dataclasses.dataclass(frozen=True)
class Fixed(_Scalar):
    """A value the space does not search (no gene). Part of the signature (a structural constant)."""

    name: str
    value: Any
    type_name: ClassVar[str] = "fixed"

    def __post_init__(self) -> None:
        _check_name(self.name)
        canonical(self.value)
        object.__setattr__(self, "value", _frozen(self.value))

    @property
    def size(self) -> int:
        return 0

    @property
    def structural(self) -> bool:
        return True

    def check(self, value: Any) -> Any:
        try:
            same = canonical(value) == canonical(self.value)
        except ValueError:
            same = False
        if not same:
            raise ValueError(f"{self.name}: fixed at {to_plain(self.value)!r} in this space, got {value!r}")
        return to_plain(self.value)

    def encode_value(self, value: Any) -> np.ndarray:
        return np.zeros(0)

    def decode_value(self, genes: np.ndarray) -> Any:
        return to_plain(self.value)

    def sample_value(self, rng: np.random.Generator) -> Any:
        return to_plain(self.value)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "name": self.name, "value": to_plain(self.value)}

    def __repr__(self) -> str:
        return f"Fixed({self.name!r}, {to_plain(self.value)!r})"

    def describe_row(self) -> tuple[str, str, str]:
        return ("fixed", _short(self.value), "-")


@dataclasses.dataclass(frozen=True)
class FloatVector(Param):
    """A list of ``size`` reals (one gene each, numeric; numeric keys ``name.0``, ``name.1``, ...).

    With ``low``/``high`` given, each entry decodes like ``Float(name, low, high)`` (linear); without,
    the gene is the value (identity), and ``sample`` draws ``normal(0, init_scale)``.
    """

    name: str
    length: int
    low: float | None = None
    high: float | None = None
    init_scale: float = 1.0
    type_name: ClassVar[str] = "float_vector"

    def __post_init__(self) -> None:
        _check_name(self.name)
        if isinstance(self.length, bool) or not isinstance(self.length, int) or self.length < 1:
            raise ValueError(f"{self.name}.length: expected a positive integer, got {self.length!r}")
        if (self.low is None) != (self.high is None):
            raise ValueError(f"{self.name}: give both low and high, or neither")
        if self.low is not None:
            low = _as_real(f"{self.name}.low", self.low)
            high = _as_real(f"{self.name}.high", self.high)
            if not low < high:
                raise ValueError(f"{self.name}: low must be < high, got [{low}, {high}]")
            object.__setattr__(self, "low", low)
            object.__setattr__(self, "high", high)
        scale = _as_real(f"{self.name}.init_scale", self.init_scale)
        if scale <= 0:
            raise ValueError(f"{self.name}.init_scale: must be > 0, got {scale}")
        object.__setattr__(self, "init_scale", scale)

    @property
    def size(self) -> int:
        return self.length

    @property
    def bounded(self) -> bool:
        return self.low is not None

    def numeric_keys(self) -> list[str]:
        return [f"{self.name}.{i}" for i in range(self.length)]

    def numeric_keys_of(self, structure: Any) -> tuple[str, ...]:
        return tuple(self.numeric_keys())

    def check(self, value: Any) -> list[float]:
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)):
            raise ValueError(
                f"{self.name}: expected a list of {self.length} numbers, got {type(value).__name__}"
            )
        values = list(np.asarray(value, dtype=object).reshape(-1)) if isinstance(value, np.ndarray) else value
        if len(values) != self.length:
            raise ValueError(f"{self.name}: expected {self.length} numbers, got {len(values)}")
        if all(type(v) is float for v in values):
            array = np.asarray(values, dtype=np.float64)
            ok = np.isfinite(array)
            if self.bounded:
                ok &= (array >= self.low) & (array <= self.high)
            if bool(np.all(ok)):
                return list(values)
        out = [_as_real(f"{self.name}[{i}]", v) for i, v in enumerate(values)]
        if self.bounded:
            for i, v in enumerate(out):
                if not self.low <= v <= self.high:
                    raise ValueError(f"{self.name}[{i}]: must be in [{self.low}, {self.high}], got {v!r}")
        return out

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        if self.name not in values:
            raise ValueError(f"{self.name}: missing")
        return {self.name: self.check(values[self.name])}

    def encode(self, values: Mapping[str, Any]) -> np.ndarray:
        v = np.asarray(self.check(values[self.name]), dtype=np.float64)
        if not self.bounded:
            return v
        return unsquash((v - self.low) / (self.high - self.low))

    def _from_genes(self, x: np.ndarray) -> list[float]:
        if not self.bounded:
            return [float(v) for v in x]
        u = squash(x)
        v = np.clip(self.low + u * (self.high - self.low), self.low, self.high)
        v = np.where(u <= 0.0, self.low, np.where(u >= 1.0, self.high, v))
        return [float(a) for a in v]

    def decode(self, genes: np.ndarray) -> dict[str, Any]:
        return {self.name: self._from_genes(_genes(self.name, genes, self.size))}

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        if self.bounded:
            return {self.name: [float(v) for v in rng.uniform(self.low, self.high, self.length)]}
        return {self.name: [float(v) for v in rng.normal(0.0, self.init_scale, self.length)]}

    def split(self, values: Mapping[str, Any]) -> tuple[Any, dict[str, float]]:
        return None, dict(zip(self.numeric_keys(), self.check(values[self.name]), strict=True))

    def assemble(self, structure: Any, numeric: Mapping[str, Any]) -> dict[str, Any]:
        """A list of Python floats, or one stacked JAX vector when the values are arrays (traced)."""
        values = [numeric[k] for k in self.numeric_keys()]
        if all(isinstance(v, (int, float)) for v in values):
            return {self.name: values}
        return {self.name: jnp.stack([jnp.asarray(v) for v in values])}

    def from_hyperparameters(self, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
        if self.name not in hyperparameters:
            raise ValueError(f"{self.name}: missing")
        return {self.name: self.check(hyperparameters[self.name])}

    def structural_mask(self) -> np.ndarray:
        return np.zeros(self.size, dtype=bool)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "name": self.name,
            "length": self.length,
            "low": self.low,
            "high": self.high,
            "init_scale": self.init_scale,
        }

    def describe_row(self) -> tuple[str, str, str]:
        box = f"[{self.low:g}, {self.high:g}]" if self.bounded else "(-inf, inf)"
        return (f"float[{self.length}]", box, "linear" if self.bounded else "identity")


@dataclasses.dataclass(frozen=True)
class FloatPair(Param):
    """An interval ``[a, b]`` (a JSON pair, two numeric genes): ``a`` in ``first``, ``b`` in ``second``.

    The two boxes may touch but not overlap (``first[1] <= second[0]``), so every decoded pair is ordered;
    each entry decodes like a linear :class:`Float`. Numeric keys ``name.0`` and ``name.1``.
    """

    name: str
    first: tuple[float, float]
    second: tuple[float, float]
    type_name: ClassVar[str] = "float_pair"

    def __post_init__(self) -> None:
        _check_name(self.name)
        boxes = []
        for field in ("first", "second"):
            value = getattr(self, field)
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
                raise ValueError(f"{self.name}.{field}: expected [low, high], got {value!r}")
            box = Float(f"{self.name}.{field}", value[0], value[1])
            boxes.append(box)
            object.__setattr__(self, field, (box.low, box.high))
        if not self.first[1] <= self.second[0]:
            raise ValueError(f"{self.name}: the boxes overlap ({list(self.first)} and {list(self.second)})")

    @property
    def _boxes(self) -> tuple[Float, Float]:
        return Float(f"{self.name}[0]", *self.first), Float(f"{self.name}[1]", *self.second)

    @property
    def size(self) -> int:
        return 2

    def check(self, value: Any) -> list[float]:
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence) or len(value) != 2:
            raise ValueError(f"{self.name}: expected a pair [low, high], got {value!r}")
        return [box.check(v) for box, v in zip(self._boxes, value, strict=True)]

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        if self.name not in values:
            raise ValueError(f"{self.name}: missing")
        return {self.name: self.check(values[self.name])}

    def encode(self, values: Mapping[str, Any]) -> np.ndarray:
        pair = self.check(values[self.name])
        return np.concatenate([box.encode_value(v) for box, v in zip(self._boxes, pair, strict=True)])

    def decode(self, genes: np.ndarray) -> dict[str, Any]:
        x = _genes(self.name, genes, 2)
        return {self.name: [box.decode_value(x[i : i + 1]) for i, box in enumerate(self._boxes)]}

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return {self.name: [box.sample_value(rng) for box in self._boxes]}

    def split(self, values: Mapping[str, Any]) -> tuple[Any, dict[str, float]]:
        pair = self.check(values[self.name])
        return None, {f"{self.name}.0": pair[0], f"{self.name}.1": pair[1]}

    def numeric_keys_of(self, structure: Any) -> tuple[str, ...]:
        return (f"{self.name}.0", f"{self.name}.1")

    def assemble(self, structure: Any, numeric: Mapping[str, Any]) -> dict[str, Any]:
        return {self.name: [numeric[f"{self.name}.0"], numeric[f"{self.name}.1"]]}

    def from_hyperparameters(self, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
        if self.name not in hyperparameters:
            raise ValueError(f"{self.name}: missing")
        return {self.name: self.check(to_plain(hyperparameters[self.name]))}

    def structural_mask(self) -> np.ndarray:
        return np.zeros(2, dtype=bool)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "name": self.name,
            "first": list(self.first),
            "second": list(self.second),
        }

    def describe_row(self) -> tuple[str, str, str]:
        a, b = self.first, self.second
        return ("pair", f"[{a[0]:g}, {a[1]:g}] x [{b[0]:g}, {b[1]:g}]", "linear")


def _short(value: Any) -> str:
    text = repr(to_plain(value))
    return text if len(text) <= 24 else text[:21] + "..."


_TYPES: dict[str, type[Param]] = {
    cls.type_name: cls for cls in (Float, Int, Choice, Fixed, FloatVector, FloatPair)
}


def from_json(data: Mapping[str, Any]) -> Param:
    """Rebuild a parameter from :meth:`Param.to_json` output (``ValueError`` on a bad description)."""
    if not isinstance(data, Mapping):
        raise ValueError(f"param: expected an object, got {type(data).__name__}")
    kind = data.get("type")
    if kind not in _TYPES:
        known = ", ".join(sorted(_TYPES))
        raise ValueError(f"type: unknown parameter type {kind!r}; known: {known}")
    cls = _TYPES[kind]
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs = {k: v for k, v in data.items() if k != "type"}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown field of a {kind} parameter")
    if cls is FloatPair:
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"{data.get('name', kind)}: {err}") from None
