"""``SearchSpace``: an ordered list of parameters over one optimizer family, with its paper points.

The flow of one candidate (DESIGN.md §1, §3)::

    x in R^D --decode--> point (a JSON-able dict) --to_spec--> {"family": ..., **hyperparameters}
                                                 --build----> optax.GradientTransformation

For vectorised evaluation a point splits into its *signature* (the structural part: choices, sizes,
static options, as a hashable string) and its *numeric* part (``{key: float}``). Points with equal
signatures share one compiled program: ``space.builder(signature)`` is one cached callable per signature
that builds the transform from numeric values which may be traced JAX scalars, so

    space.builder(space.signature(p))(space.numeric(p))   is the same optimizer as   space.build(p).

Structural values are never passed as traced values; numeric values never select code paths.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from optimizers import spec as optimizer_spec
from optimizers.registry import REGISTRY, OptimizerEntry
from spaces.params import GENE_LIMIT, Choice, Fixed, Float, Int, Param, to_plain

if TYPE_CHECKING:
    import optax

__all__ = ["SearchSpace", "Builder", "make_space", "as_generator", "space_table"]


def as_generator(key: Any) -> np.random.Generator:
    """A NumPy generator from a JAX PRNG key (typed or raw), an ``int`` seed or a generator."""
    if isinstance(key, np.random.Generator):
        return key
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return np.random.default_rng(int(key))
    if hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    data = np.asarray(key)
    if data.dtype.kind not in "ui" or data.size == 0:
        raise ValueError(f"key: expected a JAX PRNG key, an int seed or a numpy Generator, got {key!r}")
    return np.random.default_rng([int(v) for v in data.astype(np.uint64).reshape(-1)])


@dataclasses.dataclass(frozen=True)
class Builder:
    """Builds the transform of one signature from numeric values (Python floats or traced scalars).

    One instance per (space, signature) is cached by :meth:`SearchSpace.builder`; instances are
    hashable and compare by value, so they can key compilation caches and travel to other processes.
    """

    family: str
    params: tuple[Param, ...]
    signature: str
    structure: Mapping[str, Any] = dataclasses.field(compare=False, hash=False, repr=False)
    numeric_keys: tuple[str, ...] = dataclasses.field(compare=False, hash=False, repr=False)

    def hyperparameters(self, numeric: Mapping[str, Any]) -> dict[str, Any]:
        """The constructor keyword arguments for ``numeric`` (values passed through untouched)."""
        if not isinstance(numeric, Mapping):
            raise ValueError(f"numeric: expected a mapping of names to scalars, got {type(numeric).__name__}")
        if len(numeric) != len(self.numeric_keys) or any(k not in numeric for k in self.numeric_keys):
            missing = [k for k in self.numeric_keys if k not in numeric]
            if missing:
                raise ValueError(
                    f"{missing[0]}: missing from the numeric values of signature {self.signature}"
                )
            expected = frozenset(self.numeric_keys)
            extra = [k for k in numeric if k not in expected]
            raise ValueError(f"{extra[0]}: not a numeric value of signature {self.signature}")
        hyperparameters: dict[str, Any] = {}
        for param in self.params:
            if isinstance(param, Fixed):
                hyperparameters.update(param.assemble(param.check(param.value), numeric))
            else:
                hyperparameters.update(param.assemble(self.structure.get(param.name), numeric))
        return hyperparameters

    def __call__(self, numeric: Mapping[str, Any]) -> optax.GradientTransformation:
        return REGISTRY[self.family].constructor(**self.hyperparameters(numeric))


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """A search space over one optimizer family (see the module docstring). Create with :func:`make_space`.

    Attributes:
      name: the space's name (key of :data:`spaces.SPACES`).
      family: the optimizer family in :data:`optimizers.REGISTRY` that its points build.
      params: the parameters, in gene order.
      paper_points: published settings, ``{name: point}`` (complete, validated points).
      description: one paragraph shown by :meth:`describe`.
      paper_arguments: for each paper point, the published constructor arguments it came from (the
        registry preset's overrides of the defaults), so ``build(paper_points[n])`` can be checked
        against ``REGISTRY[family].constructor(**paper_arguments[n])``.
    """

    name: str
    family: str
    params: tuple[Param, ...]
    paper_points: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict, compare=False)
    description: str = ""
    paper_arguments: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict, compare=False)
    _builders: dict[str, Builder] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: expected a non-empty string, got {self.name!r}")
        if self.family not in REGISTRY:
            known = ", ".join(sorted(REGISTRY))
            raise ValueError(f"family: {self.family!r} is not in optimizers.REGISTRY (known: {known})")
        object.__setattr__(self, "params", tuple(self.params))
        seen: set[str] = set()
        for param in self.params:
            if not isinstance(param, Param):
                raise ValueError(f"params: expected Param instances, got {type(param).__name__}")
            for key in param.keys:
                if key in seen:
                    raise ValueError(f"{key}: owned by two parameters of space {self.name!r}")
                seen.add(key)
        _check_against_registry(self)
        points = {str(k): self.validate(v) for k, v in dict(self.paper_points).items()}
        object.__setattr__(self, "paper_points", points)
        arguments = {str(k): dict(v) for k, v in dict(self.paper_arguments).items()}
        unknown = sorted(set(arguments) - set(points))
        if unknown:
            raise ValueError(f"paper_arguments: {unknown[0]!r} is not a paper point of space {self.name!r}")
        object.__setattr__(self, "paper_arguments", arguments)

    # -- shape ------------------------------------------------------------------------------------

    @property
    def entry(self) -> OptimizerEntry:
        return REGISTRY[self.family]

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys of a point, in parameter order."""
        return tuple(k for p in self.params for k in p.keys)

    @property
    def dimension(self) -> int:
        """The length of an encoded point (the number of genes)."""
        return sum(p.size for p in self.params)

    def _slices(self) -> Iterable[tuple[Param, slice]]:
        start = 0
        for param in self.params:
            yield param, slice(start, start + param.size)
            start += param.size

    def gene_labels(self) -> list[str]:
        """One label per gene (``name``, ``name[i]``, or ``name=option`` for choices)."""
        return [label for param in self.params for label in param.gene_labels()]

    def structural_mask(self) -> np.ndarray:
        """Boolean mask over the genes: True where a gene can change the signature."""
        if not self.params:
            return np.zeros(0, dtype=bool)
        return np.concatenate([np.asarray(p.structural_mask(), dtype=bool) for p in self.params])

    # -- points -----------------------------------------------------------------------------------

    def validate(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """Check a point and return it normalised (``ValueError`` naming the first bad key)."""
        if not isinstance(point, Mapping):
            raise ValueError(f"point: expected a mapping, got {type(point).__name__}")
        keys = set(self.keys)
        for key in point:
            if key not in keys:
                raise ValueError(f"{key}: not a parameter of space {self.name!r} ({', '.join(self.keys)})")
        out: dict[str, Any] = {}
        for param in self.params:
            out.update(param.validate(point))
        return out

    def encode(self, point: Mapping[str, Any]) -> np.ndarray:
        """The genes of a valid point (float64, shape ``[dimension]``)."""
        point = self.validate(point)
        if not self.params:
            return np.zeros(0)
        return np.concatenate([np.asarray(p.encode(point), dtype=np.float64) for p in self.params])

    def decode(self, x: Any) -> dict[str, Any]:
        """The point of a gene vector; any finite vector of length ``dimension`` decodes to a valid point."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.dimension,):
            raise ValueError(f"x: expected shape ({self.dimension},) for space {self.name!r}, got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x: genes must be finite")
        point: dict[str, Any] = {}
        for param, where in self._slices():
            point.update(param.decode(x[where]))
        return point

    def sample(self, key: Any) -> dict[str, Any]:
        """A point drawn from the prior (uniform in each parameter's scaled box). ``key``: see as_generator."""
        rng = as_generator(key)
        point: dict[str, Any] = {}
        for param in self.params:
            point.update(param.sample(rng))
        return point

    def center(self) -> dict[str, Any]:
        """The point of the all-zero gene vector (where an ES started at the origin begins)."""
        return self.decode(np.zeros(self.dimension))

    def point_from_hyperparameters(self, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
        """The point of constructor arguments; missing ones take the registry defaults.

        Raises ``ValueError`` when an argument is not represented in this space (and differs from its
        default) or lies outside the space.
        """
        entry = self.entry
        full = {**entry.defaults, **dict(hyperparameters)}
        keys = set(self.keys)
        for name, value in hyperparameters.items():
            if name not in entry.defaults:
                raise ValueError(f"{name}: not a hyperparameter of optimizer family {self.family!r}")
            if name not in keys and _differs(value, entry.defaults[name]):
                raise ValueError(f"{name}: not represented in space {self.name!r} (only the default can be)")
        point: dict[str, Any] = {}
        for param in self.params:
            point.update(param.from_hyperparameters(full))
        return self.validate(point)

    # -- structure and building -------------------------------------------------------------------

    def _parts(self, point: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
        point = self.validate(point)
        structure: dict[str, Any] = {}
        numeric: dict[str, float] = {}
        for param in self.params:
            part, values = param.split(point)
            if part is not None and not isinstance(param, Fixed):
                structure[param.name] = to_plain(part)
            numeric.update({k: float(v) for k, v in values.items()})
        return structure, numeric

    def signature(self, point: Mapping[str, Any]) -> str:
        """The structural part of a point as a string; equal signatures share one compiled program."""
        structure, _ = self._parts(point)
        return f"{self.name}:" + json.dumps(structure, sort_keys=True, separators=(",", ":"))

    def numeric(self, point: Mapping[str, Any]) -> dict[str, float]:
        """The numeric (traceable) part of a point: ``{key: float}``, the same keys for equal signatures."""
        return self._parts(point)[1]

    def builder(self, signature: str) -> Builder:
        """The (cached) builder of a signature: ``builder(signature(p))(numeric(p))`` builds ``p``."""
        if signature in self._builders:
            return self._builders[signature]
        prefix = f"{self.name}:"
        if not isinstance(signature, str) or not signature.startswith(prefix):
            raise ValueError(f"signature: not a signature of space {self.name!r}: {signature!r}")
        try:
            structure = json.loads(signature[len(prefix) :])
        except json.JSONDecodeError:
            raise ValueError(f"signature: malformed: {signature!r}") from None
        if not isinstance(structure, dict):
            raise ValueError(f"signature: malformed: {signature!r}")
        names = {p.name for p in self.params if not isinstance(p, Fixed)}
        unknown = sorted(set(structure) - names)
        if unknown:
            raise ValueError(f"signature: {unknown[0]!r} is not a parameter of space {self.name!r}")
        for param in self.params:
            if not isinstance(param, Fixed):
                try:
                    param.check_structure(structure.get(param.name))
                except ValueError as err:
                    raise ValueError(f"signature: {err}") from None
        numeric_keys = self._numeric_keys(structure)
        builder = Builder(self.family, self.params, signature, structure, numeric_keys)
        self._builders[signature] = builder
        return builder

    def _numeric_keys(self, structure: Mapping[str, Any]) -> tuple[str, ...]:
        keys: list[str] = []
        for param in self.params:
            keys += list(param.numeric_keys_of(structure.get(param.name)))
        return tuple(keys)

    def hyperparameters(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """The constructor keyword arguments of a point (JSON-able Python values)."""
        structure, numeric = self._parts(point)
        signature = f"{self.name}:" + json.dumps(structure, sort_keys=True, separators=(",", ":"))
        return to_plain(self.builder(signature).hyperparameters(numeric))

    def to_spec(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """The :func:`optimizers.build` spec of a point: ``{"family": ..., **hyperparameters}``."""
        return {"family": self.family, **self.hyperparameters(point)}

    def build(self, point: Mapping[str, Any]) -> optax.GradientTransformation:
        """The optax transform of a point (validated by the optimizer registry)."""
        return optimizer_spec.build(self.to_spec(point))

    # -- text -------------------------------------------------------------------------------------

    def describe(self) -> str:
        """A table of the parameters and the paper points (shown by ``optsearch list spaces``)."""
        rows = [("parameter", "type", "range / options", "scale", "genes")]
        for param in self.params:
            kind, box, scale = param.describe_row()
            rows.append((param.name, kind, box, scale, str(param.size)))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = [f"space {self.name!r} (optimizer family {self.family!r}): dimension {self.dimension}"]
        if self.description:
            lines.append(f"  {self.description}")
        for i, row in enumerate(rows):
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            if i == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
        if any(isinstance(p, Float) and p.static for p in self.params):
            lines.append("  (float*: a static float, part of the signature)")
        if self.paper_points:
            lines.append(f"paper points ({len(self.paper_points)}):")
            width = max(len(n) for n in self.paper_points)
            for name, point in self.paper_points.items():
                values = ", ".join(f"{k}={_short_value(v)}" for k, v in point.items())
                lines.append(f"  {name.ljust(width)}  {values}")
        else:
            lines.append("paper points: none")
        return "\n".join(lines)


def _short_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list) and len(value) > 8:
        return f"[{len(value)} values]"
    if isinstance(value, list):
        return "[" + ", ".join(_short_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _differs(a: Any, b: Any) -> bool:
    try:
        return json.dumps(to_plain(a), sort_keys=True) != json.dumps(to_plain(b), sort_keys=True)
    except (TypeError, ValueError):
        return a is not b


def _check_against_registry(space: SearchSpace) -> None:
    """Every key is a hyperparameter of the family, and every value the space can produce is valid there."""
    entry = space.entry
    declared = {hp.name: hp for hp in entry.hyperparameters}
    for param in space.params:
        for key in param.keys:
            if key not in declared:
                raise ValueError(
                    f"{key}: space {space.name!r} names no hyperparameter of family {entry.family!r}"
                )
        hp = declared.get(param.name)
        if hp is None:
            continue
        try:
            if isinstance(param, Float):
                if hp.kind != "float":
                    raise ValueError(f"registry kind is {hp.kind!r}, not 'float'")
                hp.check(param.low)
                hp.check(param.high)
            elif isinstance(param, Int):
                if hp.kind not in ("int", "float"):
                    raise ValueError(f"registry kind is {hp.kind!r}, not 'int'")
                hp.check(param.low)
                hp.check(param.high)
            elif isinstance(param, Choice):
                for option in param.options:
                    hp.check(to_plain(option))
            elif isinstance(param, Fixed):
                hp.check(to_plain(param.value))
        except ValueError as err:
            raise ValueError(
                f"space {space.name!r}, parameter {param.name}: outside the registry ({err})"
            ) from None
    # The box's corners and centre must build valid specs (catches composite parameters too).
    probes = [
        np.zeros(space.dimension),
        np.full(space.dimension, GENE_LIMIT),
        np.full(space.dimension, -GENE_LIMIT),
    ]
    alternating = np.where(np.arange(space.dimension) % 2 == 0, GENE_LIMIT, -GENE_LIMIT)
    probes += [alternating, -alternating]
    for x in probes:
        spec = space.to_spec(space.decode(x))
        optimizer_spec.validate_spec(spec)


def make_space(
    name: str,
    family: str,
    params: Iterable[Param],
    *,
    presets: bool | Iterable[str] = True,
    points: Mapping[str, Mapping[str, Any]] | None = None,
    description: str = "",
) -> SearchSpace:
    """Create a space whose paper points come from the registry's presets (one source of truth).

    Args:
      name, family, params, description: as in :class:`SearchSpace`.
      presets: ``True`` for every preset of ``optimizers.REGISTRY[family]``, or the names to take,
        ``False`` for none.
      points: further named points as hyperparameter overrides of the registry defaults.

    Every point is completed with the registry defaults and validated against the space; a preset that the
    space cannot represent raises ``ValueError``.
    """
    if family not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"family: {family!r} is not in optimizers.REGISTRY (known: {known})")
    entry = REGISTRY[family]
    if presets is True:
        chosen = dict(entry.presets)
    elif presets is False:
        chosen = {}
    else:
        chosen = {}
        for preset in presets:
            if preset not in entry.presets:
                known = ", ".join(entry.presets) or "(none)"
                raise ValueError(f"presets: {preset!r} is not a preset of {family!r} (known: {known})")
            chosen[preset] = entry.presets[preset]
    chosen.update(dict(points or {}))
    draft = SearchSpace(name, family, tuple(params), {}, description)
    completed: dict[str, dict[str, Any]] = {}
    for point_name, overrides in chosen.items():
        try:
            completed[point_name] = draft.point_from_hyperparameters(overrides)
        except ValueError as err:
            raise ValueError(f"space {name!r}, paper point {point_name!r}: {err}") from None
    arguments = {point_name: dict(overrides) for point_name, overrides in chosen.items()}
    return SearchSpace(name, family, tuple(params), completed, description, arguments)


def space_table(spaces: Mapping[str, SearchSpace]) -> str:
    """A one-line-per-space summary (name, family, dimension, paper points)."""
    rows = [("space", "family", "dim", "paper points")]
    for name, space in spaces.items():
        rows.append((name, space.family, str(space.dimension), ", ".join(space.paper_points) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
