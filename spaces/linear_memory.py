"""The linear-memory (LM-RLLC) space: up to K propagator slots, the two learning rates, ε and ``L_0``.

Optimizer: :func:`optimizers.linear_memory.linear_memory` (Szegedy, Czifra, Kőrösi-Szabó, *Dynamic
Memory Based Adaptive Optimization*, arXiv:2402.15262). One step, with ``c1 = learning_rate``, ``c2 =
learning_law_rate`` and the propagator union ``(A, b)``::

    L_t = L_{t-1} + c2 (M_{t-1}ᵀ M_{t-1} + ε_eff I)⁻¹ M_{t-1}ᵀ g_t,   M_t = M_{t-1} A + g_t bᵀ,
    θ_t = θ_{t-1} - c1 M_t L_t.

Genes (:class:`PropagatorSlots`): ``K`` slots (default 4); slot ``i`` has one gene per option — ``off``
(not for slot 0, so at least one propagator is active), real momentum ``R(λ)``, complex momentum
``C(r, φ)``, real Jordan blocks ``J_n(λ)`` and complex Jordan blocks ``CJ_n(r, φ)`` (``n = 2..4``) — then
the numeric genes ``λ``, ``r``, ``φ`` and one initial-law gene per memory unit of the largest option.
A point lists the active propagators in slot order and ``initial_law`` (one number per memory unit):

    {"learning_rate": 0.01, "learning_law_rate": 0.01, "relaxation": 1e-4,
     "propagators": [{"kind": "real", "lam": 0.0}, {"kind": "real", "lam": 0.9}],
     "initial_law": [1.0, 1.0], "relaxation_mode": "relative", "law_scope": "global"}

The kinds and block sizes are the signature; ``λ``, ``r``, ``φ``, the law entries and the rates are
numeric (traced). Paper points (the registry presets): the fixed-law special cases ``sgd``, ``momentum``,
``nag`` (App. A laws on ``R(0) ∪ R(0.9)``) and the RLLC configurations the text names for Table 1
(``rllc_R0.9``, ``rllc_R0_R0.9``, ``rllc_R2_0.9``, ``rllc_C_0.9_2pi3``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from spaces.params import Fixed, Float, Param, _as_real, _genes, squash, to_plain, unsquash
from spaces.space import SearchSpace, make_space

__all__ = ["PropagatorSlots", "DEFAULT_OPTIONS", "linear_memory_space"]

#: (kind, n) options of a slot besides "off": R, C, J_2..J_4, CJ_2..CJ_4.
DEFAULT_OPTIONS: tuple[tuple[str, int], ...] = (
    ("real", 1),
    ("complex", 1),
    ("jordan", 2),
    ("jordan", 3),
    ("jordan", 4),
    ("complex_jordan", 2),
    ("complex_jordan", 3),
    ("complex_jordan", 4),
)
_KINDS = ("real", "complex", "jordan", "complex_jordan")
_OFF = ("off", 0)


def _units(kind: str, n: int) -> int:
    return n if kind in ("real", "jordan") else 2 * n


def _label(kind: str, n: int) -> str:
    return {"off": "off", "real": "R", "complex": "C", "jordan": f"J{n}", "complex_jordan": f"CJ{n}"}[kind]


def _fields(kind: str) -> tuple[str, ...]:
    return ("lam",) if kind in ("real", "jordan") else ("r", "phi")


@dataclasses.dataclass(frozen=True)
class PropagatorSlots(Param):
    """``num_slots`` propagator slots and the initial learning law (point keys ``propagators``,
    ``initial_law``). See the module docstring for the gene layout.

    Args:
      num_slots: K, the largest number of propagators in a union.
      options: the ``(kind, n)`` choices of a slot besides ``off`` (``n = 1`` for ``real``/``complex``).
      lam, r, phi: ``(low, high)`` of the real decay ``λ``, the complex modulus ``r`` and argument ``φ``.
      law: ``(low, high)`` of each initial-law entry.
    """

    num_slots: int = 4
    options: tuple[tuple[str, int], ...] = DEFAULT_OPTIONS
    lam: tuple[float, float] = (-0.999, 0.999)
    r: tuple[float, float] = (0.0, 0.999)
    phi: tuple[float, float] = (-math.pi, math.pi)
    law: tuple[float, float] = (-1.0, 3.0)
    name: str = "propagators"
    law_name: str = "initial_law"
    type_name: ClassVar[str] = "propagator_slots"

    def __post_init__(self) -> None:
        if isinstance(self.num_slots, bool) or not isinstance(self.num_slots, int) or self.num_slots < 1:
            raise ValueError(f"num_slots: expected a positive integer, got {self.num_slots!r}")
        options = []
        for option in self.options:
            kind, n = option
            if kind not in _KINDS:
                raise ValueError(f"options: unknown propagator kind {kind!r} (known: {', '.join(_KINDS)})")
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"options: block size of {kind!r} must be a positive integer, got {n!r}")
            if kind in ("real", "complex") and n != 1:
                raise ValueError(f"options: {kind!r} has block size 1, got {n}")
            options.append((str(kind), int(n)))
        if not options or len(set(options)) != len(options):
            raise ValueError(f"options: expected distinct (kind, n) pairs, got {self.options!r}")
        object.__setattr__(self, "options", tuple(options))
        for field in ("lam", "r", "phi", "law"):
            low, high = (_as_real(f"{field}.low", v) for v in getattr(self, field))
            if not low < high:
                raise ValueError(f"{field}: low must be < high, got [{low}, {high}]")
            object.__setattr__(self, field, (low, high))
        if self.r[0] < 0:
            raise ValueError(f"r: the complex modulus must be >= 0, got low {self.r[0]}")

    # -- layout -----------------------------------------------------------------------------------

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.name, self.law_name)

    def _slot_options(self, slot: int) -> tuple[tuple[str, int], ...]:
        return self.options if slot == 0 else (_OFF, *self.options)

    @property
    def _max_units(self) -> int:
        return max(_units(kind, n) for kind, n in self.options)

    def _slot_size(self, slot: int) -> int:
        return len(self._slot_options(slot)) + 3 + self._max_units

    @property
    def size(self) -> int:
        return sum(self._slot_size(i) for i in range(self.num_slots))

    def _slot_genes(self, genes: np.ndarray) -> list[np.ndarray]:
        out, start = [], 0
        for slot in range(self.num_slots):
            out.append(genes[start : start + self._slot_size(slot)])
            start += self._slot_size(slot)
        return out

    def _box(self, field: str) -> tuple[float, float]:
        return self.law if field == "law" else getattr(self, field)

    def _to_genes(self, field: str, values: Any) -> np.ndarray:
        low, high = self._box(field)
        return unsquash((np.asarray(values, dtype=np.float64) - low) / (high - low))

    def _from_genes(self, field: str, genes: Any) -> list[float]:
        low, high = self._box(field)
        u = squash(genes)
        v = np.clip(low + u * (high - low), low, high)
        v = np.where(u <= 0.0, low, np.where(u >= 1.0, high, v))
        return [float(a) for a in np.atleast_1d(v)]

    # -- values -----------------------------------------------------------------------------------

    def _check_number(self, field: str, where: str, value: Any) -> float:
        value = _as_real(where, value)
        low, high = self._box(field)
        if not low <= value <= high:
            raise ValueError(f"{where}: must be in [{low}, {high}], got {value!r}")
        return value

    def _check_propagators(self, propagators: Any) -> list[dict[str, Any]]:
        name = self.name
        if isinstance(propagators, (str, bytes, Mapping)) or not isinstance(propagators, Sequence):
            raise ValueError(f"{name}: expected a list of propagator dicts, got {type(propagators).__name__}")
        if not 1 <= len(propagators) <= self.num_slots:
            raise ValueError(f"{name}: expected 1 to {self.num_slots} propagators, got {len(propagators)}")
        out = []
        for i, item in enumerate(propagators):
            where = f"{name}[{i}]"
            if not isinstance(item, Mapping):
                raise ValueError(f"{where}: expected a dict with a 'kind', got {type(item).__name__}")
            kind = item.get("kind")
            n = item.get("n", 1) if kind in ("jordan", "complex_jordan") else 1
            if isinstance(n, float) and n.is_integer():
                n = int(n)
            if (kind, n) not in self.options:
                allowed = ", ".join(_label(*o) for o in self.options)
                raise ValueError(f"{where}: kind {kind!r} with n={n!r} is not an option here ({allowed})")
            expected = (
                set(_fields(kind)) | {"kind"} | ({"n"} if kind in ("jordan", "complex_jordan") else set())
            )
            if set(item) != expected:
                raise ValueError(f"{where}: expected keys {sorted(expected)}, got {sorted(item)}")
            value: dict[str, Any] = {"kind": kind}
            if kind in ("jordan", "complex_jordan"):
                value["n"] = n
            for field in _fields(kind):
                value[field] = self._check_number(field, f"{where}.{field}", item[field])
            out.append(value)
        return out

    def _check_law(self, law: Any, units: int) -> list[float]:
        name = self.law_name
        if isinstance(law, (str, bytes, Mapping)) or not isinstance(law, Sequence):
            raise ValueError(f"{name}: expected a list of {units} numbers, got {law!r}")
        if len(law) != units:
            raise ValueError(f"{name}: expected {units} numbers (one per memory unit), got {len(law)}")
        return [self._check_number("law", f"{name}[{j}]", v) for j, v in enumerate(law)]

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        for key in self.keys:
            if key not in values:
                raise ValueError(f"{key}: missing")
        propagators = self._check_propagators(values[self.name])
        units = sum(_units(p["kind"], p.get("n", 1)) for p in propagators)
        return {self.name: propagators, self.law_name: self._check_law(values[self.law_name], units)}

    def encode(self, values: Mapping[str, Any]) -> np.ndarray:
        values = self.validate(values)
        propagators, law = values[self.name], values[self.law_name]
        parts, offset = [], 0
        for slot in range(self.num_slots):
            options = self._slot_options(slot)
            choice = np.zeros(len(options))
            numbers = np.zeros(3)
            laws = np.zeros(self._max_units)
            if slot < len(propagators):
                p = propagators[slot]
                kind, n = p["kind"], p.get("n", 1)
                choice[options.index((kind, n))] = 1.0
                for j, field in enumerate(("lam", "r", "phi")):
                    if field in p:
                        numbers[j] = self._to_genes(field, [p[field]])[0]
                units = _units(kind, n)
                laws[:units] = self._to_genes("law", law[offset : offset + units])
                offset += units
            elif slot == 0:
                raise ValueError(f"{self.name}: slot 0 must hold a propagator")
            else:
                choice[0] = 1.0  # off
            parts += [choice, numbers, laws]
        return np.concatenate(parts)

    def decode(self, genes: np.ndarray) -> dict[str, Any]:
        genes = _genes(self.name, genes, self.size)
        propagators: list[dict[str, Any]] = []
        law: list[float] = []
        for slot, x in enumerate(self._slot_genes(genes)):
            options = self._slot_options(slot)
            kind, n = options[int(np.argmax(x[: len(options)]))]
            if kind == "off":
                continue
            numbers = x[len(options) : len(options) + 3]
            value: dict[str, Any] = {"kind": kind}
            if kind in ("jordan", "complex_jordan"):
                value["n"] = n
            for j, field in enumerate(("lam", "r", "phi")):
                if field in _fields(kind):
                    value[field] = self._from_genes(field, numbers[j])[0]
            propagators.append(value)
            law += self._from_genes("law", x[len(options) + 3 : len(options) + 3 + _units(kind, n)])
        return {self.name: propagators, self.law_name: law}

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        genes = []
        for slot in range(self.num_slots):
            options = self._slot_options(slot)
            choice = np.zeros(len(options))
            choice[int(rng.integers(len(options)))] = 1.0
            genes += [choice, unsquash(rng.uniform(size=3 + self._max_units))]
        return self.decode(np.concatenate(genes))

    # -- structure --------------------------------------------------------------------------------

    def split(self, values: Mapping[str, Any]) -> tuple[Any, dict[str, float]]:
        values = self.validate(values)
        structure = [[p["kind"], p.get("n", 1)] for p in values[self.name]]
        numeric: dict[str, float] = {}
        for i, p in enumerate(values[self.name]):
            for field in _fields(p["kind"]):
                numeric[f"{self.name}.{i}.{field}"] = p[field]
        for j, v in enumerate(values[self.law_name]):
            numeric[f"{self.law_name}.{j}"] = v
        return structure, numeric

    def check_structure(self, structure: Any) -> Any:
        if not isinstance(structure, list) or not 1 <= len(structure) <= self.num_slots:
            raise ValueError(
                f"{self.name}: expected 1 to {self.num_slots} [kind, n] pairs, got {structure!r}"
            )
        for item in structure:
            if not isinstance(item, list) or len(item) != 2 or tuple(item) not in self.options:
                raise ValueError(f"{self.name}: {item!r} is not a [kind, n] option of this space")
        return structure

    def numeric_keys_of(self, structure: Any) -> tuple[str, ...]:
        keys = [
            f"{self.name}.{i}.{field}" for i, (kind, _) in enumerate(structure) for field in _fields(kind)
        ]
        units = sum(_units(kind, n) for kind, n in structure)
        return tuple(keys + [f"{self.law_name}.{j}" for j in range(units)])

    def assemble(self, structure: Any, numeric: Mapping[str, Any]) -> dict[str, Any]:
        propagators = []
        for i, (kind, n) in enumerate(structure):
            value: dict[str, Any] = {"kind": kind}
            if kind in ("jordan", "complex_jordan"):
                value["n"] = n
            for field in _fields(kind):
                value[field] = numeric[f"{self.name}.{i}.{field}"]
            propagators.append(value)
        units = sum(_units(kind, n) for kind, n in structure)
        return {
            self.name: propagators,
            self.law_name: [numeric[f"{self.law_name}.{j}"] for j in range(units)],
        }

    def from_hyperparameters(self, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
        for key in self.keys:
            if key not in hyperparameters:
                raise ValueError(f"{key}: missing")
        propagators = self._check_propagators(to_plain(hyperparameters[self.name]))
        units = sum(_units(p["kind"], p.get("n", 1)) for p in propagators)
        law = hyperparameters[self.law_name]
        if law == "ones":
            law = [1.0] * units
        elif law == "e1":
            law = [1.0] + [0.0] * (units - 1)
        return self.validate({self.name: propagators, self.law_name: to_plain(law)})

    def structural_mask(self) -> np.ndarray:
        masks = []
        for slot in range(self.num_slots):
            n_options = len(self._slot_options(slot))
            masks.append(np.arange(self._slot_size(slot)) < n_options)
        return np.concatenate(masks)

    def gene_labels(self) -> list[str]:
        labels = []
        for slot in range(self.num_slots):
            labels += [f"{self.name}[{slot}]={_label(*o)}" for o in self._slot_options(slot)]
            labels += [f"{self.name}[{slot}].{field}" for field in ("lam", "r", "phi")]
            labels += [f"{self.law_name}[{slot}][{j}]" for j in range(self._max_units)]
        return labels

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "name": self.name,
            "law_name": self.law_name,
            "num_slots": self.num_slots,
            "options": [list(o) for o in self.options],
            "lam": list(self.lam),
            "r": list(self.r),
            "phi": list(self.phi),
            "law": list(self.law),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PropagatorSlots:
        """Rebuild from :meth:`to_json` output."""
        if not isinstance(data, Mapping) or data.get("type") != cls.type_name:
            raise ValueError(f"type: expected {cls.type_name!r}")
        kwargs = {k: v for k, v in data.items() if k != "type"}
        for field in ("options", "lam", "r", "phi", "law"):
            if field in kwargs:
                value = kwargs[field]
                kwargs[field] = tuple(tuple(o) for o in value) if field == "options" else tuple(value)
        try:
            return cls(**kwargs)
        except TypeError as err:
            raise ValueError(f"{cls.type_name}: {err}") from None

    def describe_row(self) -> tuple[str, str, str]:
        kinds = "|".join(_label(*o) for o in self.options)
        text = (
            f"{self.num_slots} slots of off|{kinds} (slot 0 never off); lam [{self.lam[0]:g}, {self.lam[1]:g}], "
            f"r [{self.r[0]:g}, {self.r[1]:g}], phi [{self.phi[0]:.4g}, {self.phi[1]:.4g}], "
            f"{self.law_name} [{self.law[0]:g}, {self.law[1]:g}] per unit"
        )
        return ("slots", text, "argmax; linear")


def linear_memory_space(num_slots: int = 4, name: str = "linear_memory") -> SearchSpace:
    """The LM-RLLC space with ``num_slots`` propagator slots (paper points: the registry presets)."""
    return make_space(
        name,
        "linear_memory",
        (
            Float("learning_rate", 1e-5, 1.0, log=True),
            Float("learning_law_rate", 0.0, 1.0, log=True, offset=1e-4),
            Float("relaxation", 1e-8, 1e-1, log=True),
            PropagatorSlots(num_slots=num_slots),
            Fixed("relaxation_mode", "relative"),
            Fixed("law_scope", "global"),
        ),
        description=(
            f"LM-RLLC (arXiv:2402.15262): up to {num_slots} propagators (R, C, J_n, CJ_n) with their "
            "initial learning law, c1, c2 and the relaxation of the pseudo-inverse"
        ),
    )
