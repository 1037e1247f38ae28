r"""Linear-memory optimizers with Retrospective Learning Law Correction (RLLC).

Paper: B. Szegedy, D. Czifra, P. Kőrösi-Szabó, *Dynamic Memory Based Adaptive Optimization*,
arXiv:2402.15262 (https://arxiv.org/abs/2402.15262). The authors published no code and the surviving text
lost its formulas; the equations below follow the project's reconstruction (``shared/specs/rllc-spec.md``,
checked by ``shared/specs/rllc_reference.py``). Each is tagged as the spec tags it: **[FOUND]** written in a
source, **[FORCED]** the only reading the prose allows, **[RECON]** reconstructed, **[CHOICE]** not
recoverable, so a documented option with a default.

The optimizer keeps ``k`` memory units, the columns of a matrix ``M ∈ R^{d×k}`` (``d`` = number of
parameters), and a learning law ``L ∈ R^k`` shared by the whole parameter tree. With the loss gradient
``g_t = ∇f(θ_{t-1})`` (what optax passes as ``updates``), one step is, in this order (spec §1.2):

.. math::

   L_t &= L_{t-1} + c_2 \, (M_{t-1}^\top M_{t-1} + ε_{\rm eff} I_k)^{-1} M_{t-1}^\top g_t
        \quad\text{(a) law update with the OLD memory [FOUND + FORCED]} \\
   M_t &= M_{t-1} A + g_t b^\top
        \quad\text{(b) memory update, eq. (1), right multiplication [FORCED]} \\
   θ_t &= θ_{t-1} - c_1 \, M_t L_t
        \quad\text{(c) parameter step with the NEW memory and law [FOUND]}

with ``c1 = learning_rate``, ``c2 = learning_law_rate``, ``M_0 = 0`` [FORCED] and ``L_0 = initial_law``
(all ones by default [CHOICE]). Column ``i`` of (b) reads ``m_i ← Σ_j A[j, i] m_j + b_i g`` (all from the
old memory). The Gram matrix ``MᵀM`` and ``Mᵀg`` are sums over **all** leaves of the parameter tree
[FORCED: the paper's L is one vector, its Figures 2-3 plot one coefficient per unit]; ``law_scope=
"per_leaf"`` is a non-default ablation with one law per leaf.

Relaxed pseudo-inverse (Remark 3.5 says only "a relaxed version of Penrose inverse with a parameter ε")
[RECON + CHOICE], ``ε = relaxation``:

* ``"relative"`` (default): Tikhonov with ``ε_eff = ε · trace(MᵀM) / k``, invariant to rescaling all
  gradients, like the exact ``M⁺g``;
* ``"absolute"``: Tikhonov with ``ε_eff = ε`` (the form ``rllc_reference.py`` implements; ``ε = 0`` is
  the exact ``M⁺ = (MᵀM)⁻¹Mᵀ`` and needs ``M`` of full column rank);
* ``"eigen"``: truncated eigen-pseudo-inverse of the ``k×k`` Gram, eigenvalues ``w ≤ max(ε, k·eps) ·
  w_max`` dropped (the exact Moore-Penrose inverse for rank-deficient ``M`` up to round-off).

In every mode, ``trace(MᵀM) = 0`` (the first step, ``M_0 = 0``) gives ``M⁺g = 0``.

Propagators (spec §2.3) give ``(A, b)``; a union is block-diagonal ``A`` with concatenated ``b``, and every
block has ``b = e_1`` [FOUND]:

=====================================  ====  ============================================================
propagator (JSON dict)                 k     ``A``
=====================================  ====  ============================================================
``{"kind": "real", "lam": λ}``         1     ``[[λ]]``: ``m ← λ m + g`` (no ``1-λ`` factor) [FORCED]
``{"kind": "complex", "r", "phi"}``    2     ``[[a, s], [-s, a]]``, ``a + i s = r e^{iφ}``: ``(m1 + i m2) ←
                                             z (m1 + i m2) + g`` [FORCED orientation]
``{"kind": "jordan", "n", "lam"}``     n     ``λ I + N``, ones **above** the diagonal: ``m_i ← λ m_i +
                                             m_{i-1}`` [FORCED]; R_n(λ), with R_1 = R
``{"kind": "complex_jordan", ...}``    2n    ``I_n ⊗ C(z) + N_n ⊗ I_2`` (C_n(z)) [RECON names]
=====================================  ====  ============================================================

Kinds and sizes (``n``) are structural (one compiled program per combination); ``lam``, ``r`` and ``phi``
may be traced JAX scalars, so a population differing only in them shares one compilation.

Fixed learning law (the paper's "linear memory optimizers with fixed learning law"): ``c2 = 0``, so
``L_t = L_0`` and ``θ_t = θ_{t-1} - c1 M_t L_0``. On ``R(0) ∪ R(μ)`` (``A = diag(0, μ)``, ``b = (1, 1)``)
the laws ``(1, 0)``, ``(0, 1)`` and ``(1, μ)`` are SGD, momentum SGD and NAG (Lemma 4.1, App. A). When
``c2`` is the Python number 0 the Gram products and the solve are skipped.

Diagnostics: ``state.law`` is ``L_t``; with ``record_law={"length": n, "every": e}`` the state also records
the law's trajectory (the paper's Figures 2-3): ``law_trace[i] = L_{(i+1)·e}`` for ``i < n``, NaN until
written. :func:`learning_law` and :func:`learning_law_trace` fetch them from a (possibly chained) optax
state.

Known behaviour (faithful to the equations, not a defect of this code): ``M⁺g`` does not shrink with the
gradient, so on a deterministic problem run past convergence to round-off, where the parameters stop
moving and ``g`` is a constant residual, ``L`` grows linearly and the run eventually diverges. Stochastic
gradients (the paper's setting) do not show this. The relative and eigen modes solve with the Gram matrix
divided by its trace, so vanishing memories neither underflow nor make the ``k×k`` system singular.

Memory layout: each leaf's memory is one array of shape ``(k,) + leaf.shape`` (slice ``i`` is memory unit
``i`` on that leaf), so a step is two fused passes over the parameters: the Gram products ``MᵀM``, ``Mᵀg``
as multiply-reduce fusions, then the memory and parameter updates together (only the structurally non-zero
entries of ``A`` are used). On a 2-core CPU this layout measured 3-5x faster than a trailing ``k`` axis,
whose Gram needs a transposed copy (1M float32 parameters, k = 2: 6 ms per step vs 20-30 ms; momentum
SGD 2 ms, Adam 4 ms, the fixed-law mode 3.5 ms).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from optimizers.registry import Hyperparameter, OptimizerEntry, default_of

__all__ = [
    "DEFAULT_PROPAGATORS",
    "ENTRIES",
    "INITIAL_LAWS",
    "LAW_SCOPES",
    "LinearMemoryState",
    "MEMORY_DTYPES",
    "PRESETS",
    "PROPAGATOR_KINDS",
    "Propagator",
    "RELAXATION_MODES",
    "learning_law",
    "learning_law_trace",
    "linear_memory",
    "propagator_matrices",
    "propagator_size",
    "scale_by_linear_memory",
    "scale_by_rllc",
    "validate_initial_law",
    "validate_propagators",
    "validate_record_law",
]

PROPAGATOR_KINDS: tuple[str, ...] = ("real", "complex", "jordan", "complex_jordan")
RELAXATION_MODES: tuple[str, ...] = ("relative", "absolute", "eigen")
LAW_SCOPES: tuple[str, ...] = ("global", "per_leaf")
INITIAL_LAWS: tuple[str, ...] = ("ones", "e1")
MEMORY_DTYPES: tuple[str | None, ...] = (None, "float32", "bfloat16", "float64")

_FIELDS: dict[str, tuple[str, ...]] = {
    "real": ("lam",),
    "complex": ("r", "phi"),
    "jordan": ("n", "lam"),
    "complex_jordan": ("n", "r", "phi"),
}

#: R(0) ∪ R(0.9): the paper's "simplest and most reliable" configuration (§6), an adaptive mix of SGD,
#: momentum SGD and NAG.
DEFAULT_PROPAGATORS: tuple[dict[str, Any], ...] = (
    {"kind": "real", "lam": 0.0},
    {"kind": "real", "lam": 0.9},
)


# ----------------------------------------------------------------------------------------------------
# propagators
# ----------------------------------------------------------------------------------------------------


class Propagator(NamedTuple):
    """The linear memory rule ``M ← M A + g bᵀ`` of a propagator union.

    Attributes:
      transition: ``A``, shape ``[k, k]``; a NumPy array when every parameter is a concrete number,
        else a JAX array (traced entries).
      input_weights: ``b``, shape ``[k]`` (``e_1`` of every block, concatenated).
      pattern: static boolean ``[k, k]``: the entries of ``A`` that may be non-zero for some value of the
        numeric parameters (the structure shared by a population).
    """

    transition: Any
    input_weights: np.ndarray
    pattern: np.ndarray


def _concrete(value: Any) -> np.ndarray | None:
    """``value`` as a NumPy array when it is concrete, ``None`` when it is a tracer."""
    if isinstance(value, jax.core.Tracer):
        return None
    try:
        return np.asarray(value)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return None


def _check_number(value: Any, field: str, *, nonnegative: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number, np.ndarray, jax.Array)):
        raise ValueError(f"{field}: expected a number, got {type(value).__name__} {value!r}")
    if jnp.ndim(value) != 0:
        raise ValueError(f"{field}: expected a scalar, got shape {jnp.shape(value)}")
    concrete = _concrete(value)
    if concrete is None:
        return
    if not np.isfinite(concrete):
        raise ValueError(f"{field}: must be finite, got {value!r}")
    if nonnegative and concrete < 0:
        raise ValueError(f"{field}: must be >= 0, got {value!r}")


def _check_size(value: Any, field: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{field}: expected an integer block size, got {value!r}")
    if value < 1:
        raise ValueError(f"{field}: must be >= 1, got {value!r}")
    return int(value)


def _parse_propagators(propagators: Any) -> tuple[tuple[str, int, dict[str, Any]], ...]:
    """Validate the list of propagator dicts; return ``(kind, block size n, numeric fields)`` each."""
    if isinstance(propagators, (str, bytes, Mapping)) or not isinstance(propagators, Sequence):
        raise ValueError(f"propagators: expected a list of dicts, got {type(propagators).__name__}")
    if len(propagators) == 0:
        raise ValueError("propagators: expected at least one propagator, got an empty list")
    parsed = []
    for index, item in enumerate(propagators):
        where = f"propagators[{index}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: expected a dict with a 'kind', got {type(item).__name__}")
        kind = item.get("kind")
        if kind not in _FIELDS:
            raise ValueError(f"{where}.kind: must be one of {', '.join(PROPAGATOR_KINDS)}, got {kind!r}")
        fields = _FIELDS[kind]
        unknown = sorted(set(item) - set(fields) - {"kind"})
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown} for kind {kind!r} (expected {list(fields)})")
        missing = [f for f in fields if f not in item]
        if missing:
            raise ValueError(f"{where}: missing keys {missing} for kind {kind!r}")
        n = _check_size(item["n"], f"{where}.n") if "n" in fields else 1
        numeric = {}
        for name in fields:
            if name != "n":
                _check_number(item[name], f"{where}.{name}", nonnegative=name == "r")
                numeric[name] = item[name]
        parsed.append((kind, n, numeric))
    return tuple(parsed)


def validate_propagators(propagators: Any) -> None:
    """Raise ``ValueError`` unless ``propagators`` is a valid list of propagator dicts.

    The message omits the leading field name (the registry's check adds it).
    """
    try:
        _parse_propagators(propagators)
    except ValueError as err:
        raise ValueError(_without_field(str(err), "propagators")) from None


def propagator_size(propagators: Any) -> int:
    """The number ``k`` of memory units of a propagator union."""
    return sum(n if kind in ("real", "jordan") else 2 * n for kind, n, _ in _parse_propagators(propagators))


def propagator_matrices(propagators: Any) -> Propagator:
    """The transition ``A`` and input weights ``b`` of a union of propagators (spec §2.3).

    Real ``R(λ)`` and Jordan ``R_n(λ)`` blocks: ``λ`` on the diagonal, ones on the superdiagonal. Complex
    ``C(z)``, ``z = r e^{iφ}``: ``[[Re z, Im z], [-Im z, Re z]]``; ``C_n(z)`` repeats it on the diagonal with
    ``I_2`` blocks above. The union is block-diagonal, and ``b`` is ``e_1`` of each block, concatenated.

    Args:
      propagators: a list of dicts, e.g. ``[{"kind": "real", "lam": 0.0}, {"kind": "jordan", "n": 2,
        "lam": 0.9}]``; ``lam``, ``r``, ``phi`` may be traced JAX scalars.

    Returns:
      A :class:`Propagator`.
    """
    parsed = _parse_propagators(propagators)
    traced = any(_concrete(v) is None for _, _, numeric in parsed for v in numeric.values())
    xp = jnp if traced else np
    k = sum(n if kind in ("real", "jordan") else 2 * n for kind, n, _ in parsed)
    rows: list[int] = []
    cols: list[int] = []
    values: list[Any] = []
    pattern = np.zeros((k, k), dtype=bool)
    input_weights = np.zeros(k)

    def put(i: int, j: int, value: Any) -> None:
        rows.append(i)
        cols.append(j)
        values.append(value)
        pattern[i, j] = True

    offset = 0
    for kind, n, numeric in parsed:
        input_weights[offset] = 1.0
        if kind in ("real", "jordan"):
            for i in range(n):
                put(offset + i, offset + i, numeric["lam"])
                if i + 1 < n:
                    put(offset + i, offset + i + 1, 1.0)
            offset += n
            continue
        re = numeric["r"] * xp.cos(numeric["phi"])
        im = numeric["r"] * xp.sin(numeric["phi"])
        for p in range(n):
            o = offset + 2 * p
            put(o, o, re)
            put(o, o + 1, im)
            put(o + 1, o, -im)
            put(o + 1, o + 1, re)
            if p + 1 < n:
                put(o, o + 2, 1.0)
                put(o + 1, o + 3, 1.0)
        offset += 2 * n
    if traced:
        dtype = jnp.result_type(float, *[jnp.asarray(v).dtype for v in values])
        stacked = jnp.stack([jnp.asarray(v, dtype) for v in values])
        transition = jnp.zeros((k, k), dtype).at[np.array(rows), np.array(cols)].set(stacked)
    else:
        transition = np.zeros((k, k))
        transition[rows, cols] = np.asarray(values, dtype=np.float64)
    return Propagator(transition, input_weights, pattern)


# ----------------------------------------------------------------------------------------------------
# the RLLC transform
# ----------------------------------------------------------------------------------------------------


class LinearMemoryState(NamedTuple):
    """State of :func:`scale_by_rllc`.

    Attributes:
      count: number of steps taken (int32).
      law: the learning law ``L_t``: shape ``[k]`` (global scope) or ``[num_leaves, k]`` (per-leaf scope,
        leaves in ``jax.tree.leaves`` order); dtype float32, or float64 if a leaf is float64.
      memory: the memory ``M_t`` as a tree like the params; each leaf has shape ``(k,) + leaf.shape``,
        its slice ``[i]`` is memory unit ``i`` (column ``i`` of ``M``) restricted to that leaf.
      law_trace: ``[length, *law.shape]`` (``record_law``): row ``i`` holds ``L_{(i+1)·every}``, NaN until
        that step is reached (the paper's Figures 2-3 plot this trajectory).
    """

    count: jax.Array
    law: jax.Array
    memory: optax.Params
    law_trace: jax.Array


def validate_initial_law(initial_law: Any) -> None:
    """Raise ``ValueError`` unless ``initial_law`` is ``"ones"``, ``"e1"`` or a list of numbers."""
    if isinstance(initial_law, str):
        if initial_law not in INITIAL_LAWS:
            raise ValueError(
                f"must be one of {', '.join(INITIAL_LAWS)} or a list of numbers, got {initial_law!r}"
            )
        return
    if isinstance(initial_law, (np.ndarray, jax.Array)):
        if initial_law.ndim != 1 or initial_law.shape[0] == 0:
            raise ValueError(f"expected a non-empty vector, got shape {initial_law.shape}")
        return
    if isinstance(initial_law, Mapping) or not isinstance(initial_law, Sequence) or len(initial_law) == 0:
        raise ValueError(f"expected 'ones', 'e1' or a non-empty list of numbers, got {initial_law!r}")
    for index, value in enumerate(initial_law):
        _check_number(value, f"[{index}]")


def _initial_law_vector(initial_law: Any, k: int, dtype: Any) -> jax.Array:
    if isinstance(initial_law, str):
        return jnp.ones((k,), dtype) if initial_law == "ones" else jnp.zeros((k,), dtype).at[0].set(1)
    if isinstance(initial_law, (np.ndarray, jax.Array)):
        return jnp.asarray(initial_law).astype(dtype)
    return jnp.stack([jnp.asarray(v).astype(dtype) for v in initial_law])


def _law_length(initial_law: Any) -> int | None:
    if isinstance(initial_law, str):
        return None
    return int(jnp.shape(initial_law)[0]) if hasattr(initial_law, "shape") else len(initial_law)


def _record_law_options(record_law: Any) -> tuple[int, int]:
    """``(length, every)`` of the ``record_law`` option (``(0, 1)`` for ``None``), validated."""
    if record_law is None:
        return 0, 1
    if not isinstance(record_law, Mapping):
        raise ValueError(f"record_law: expected null or {{'length': n, 'every': e}}, got {record_law!r}")
    unknown = sorted(set(record_law) - {"length", "every"})
    if unknown or "length" not in record_law:
        raise ValueError(
            f"record_law: expected keys 'length' and optionally 'every', got {sorted(record_law)}"
        )
    values = []
    for name, low in (("length", 0), ("every", 1)):
        value = record_law.get(name, 1)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"record_law.{name}: expected an integer >= {low}, got {value!r}")
        values.append(int(value))
    return values[0], values[1]


def validate_record_law(record_law: Any) -> None:
    """Raise ``ValueError`` unless ``record_law`` is ``None`` or ``{"length": n, "every": e}``.

    The message omits the leading field name (the registry's check adds it).
    """
    try:
        _record_law_options(record_law)
    except ValueError as err:
        raise ValueError(_without_field(str(err), "record_law")) from None


def _without_field(message: str, field: str) -> str:
    rest = message[len(field) :] if message.startswith(field) else message
    if rest.startswith(": "):
        return rest[2:]
    return rest[1:] if rest.startswith(".") else rest


def _relaxed_solve(gram: jax.Array, proj: jax.Array, relaxation: jax.Array, mode: str) -> jax.Array:
    """``pinv_ε(M) g`` from ``G = MᵀM`` ``[..., k, k]`` and ``r = Mᵀg`` ``[..., k]`` (spec §1.4)."""
    k = gram.shape[-1]
    dtype = gram.dtype
    trace = jnp.trace(gram, axis1=-2, axis2=-1)
    active = trace > 0
    # G⁺r = (G/tr)⁺(r/tr): the relative and eigen modes solve with the trace-normalised Gram, so that tiny
    # memories (vanishing gradients) neither underflow nor make the system singular.
    scale = jnp.where(active, trace, 1.0)[..., None]
    eye = jnp.eye(k, dtype=dtype)
    if mode == "eigen":
        w, v = jnp.linalg.eigh(gram / scale[..., None])
        floor = k * jnp.finfo(dtype).eps
        cutoff = jnp.maximum(relaxation, floor) * jnp.max(w, axis=-1, keepdims=True)
        keep = w > cutoff
        inv = jnp.where(keep, 1.0 / jnp.where(keep, w, 1.0), 0.0)
        coef = inv * jnp.einsum("...ji,...j->...i", v, proj / scale)
        x = jnp.einsum("...ij,...j->...i", v, coef)
    elif mode == "relative":
        system = gram / scale[..., None] + (relaxation / k) * eye
        system = jnp.where(active[..., None, None], system, eye)
        x = _spd_solve(system, proj / scale)
    else:
        system = jnp.where(active[..., None, None], gram + relaxation * eye, eye)
        x = _spd_solve(system, proj)
    return jnp.where(active[..., None], x, 0.0)


#: Largest k whose k×k solve is unrolled (a Cholesky factorization written out in jnp operations: it
#: compiles several times faster than ``jnp.linalg.solve`` and batches under ``vmap`` as plain arithmetic).
_UNROLLED_SOLVE_MAX_K = 12


def _spd_solve(system: jax.Array, rhs: jax.Array) -> jax.Array:
    """``system⁻¹ rhs`` for a symmetric positive definite ``system`` ``[..., k, k]`` and ``rhs`` ``[..., k]``.

    ``system = G + ε_eff I`` with ``ε_eff > 0``, or a full-rank Gram; a singular one (``ε = 0`` with
    rank-deficient memory) gives NaN or Inf, as the exact pseudo-inverse formula is then undefined.
    """
    k = system.shape[-1]
    if k > _UNROLLED_SOLVE_MAX_K:
        return jnp.linalg.solve(system, rhs[..., None])[..., 0]
    chol: dict[tuple[int, int], jax.Array] = {}
    for j in range(k):
        pivot = jnp.sqrt(system[..., j, j] - sum(chol[j, p] ** 2 for p in range(j)))
        chol[j, j] = pivot
        for i in range(j + 1, k):
            chol[i, j] = (system[..., i, j] - sum(chol[i, p] * chol[j, p] for p in range(j))) / pivot
    forward: list[jax.Array] = []
    for i in range(k):
        forward.append((rhs[..., i] - sum(chol[i, p] * forward[p] for p in range(i))) / chol[i, i])
    solution: dict[int, jax.Array] = {}
    for i in reversed(range(k)):
        residual = forward[i] - sum(chol[p, i] * solution[p] for p in range(i + 1, k))
        solution[i] = residual / chol[i, i]
    return jnp.stack([solution[i] for i in range(k)], axis=-1)


def _gram(memory: jax.Array, dtype: Any) -> jax.Array:
    """``MᵀM`` restricted to one leaf (memory ``[k, *leaf.shape]``), as fused multiply-reduce passes."""
    m = memory.astype(dtype)
    return jnp.sum(m[:, None] * m[None, :], axis=tuple(range(2, m.ndim + 1)))


def _project(memory: jax.Array, grad: jax.Array, dtype: Any) -> jax.Array:
    """``Mᵀg`` restricted to one leaf."""
    m = memory.astype(dtype)
    return jnp.sum(m * grad.astype(dtype)[None], axis=tuple(range(1, m.ndim)))


def _propagate(
    memory: jax.Array,
    grad: jax.Array,
    transition: jax.Array,
    input_weights: np.ndarray | jax.Array,
    pattern: np.ndarray,
    input_pattern: np.ndarray,
    law: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """One leaf: ``M_t = M_{t-1} A + g bᵀ`` (non-zero entries of A only) and its step ``M_t L_t``."""
    k = pattern.shape[0]
    compute = jnp.promote_types(memory.dtype, law.dtype)
    m = memory.astype(compute)
    g = grad.astype(compute)
    # a concrete A enters as Python floats (weakly typed: the memory's dtype is kept)
    a = transition.astype(compute) if isinstance(transition, jax.Array) else transition.tolist()
    columns = []
    for i in range(k):
        terms = []
        for j in range(k):
            if pattern[j, i]:
                coef = a[j][i]
                terms.append(m[j] if _is_one(coef) else coef * m[j])
        if input_pattern[i]:
            coef = input_weights[i]
            terms.append(g if _is_one(coef) else jnp.asarray(coef, compute) * g)
        column = terms[0] if terms else jnp.zeros_like(g)
        for term in terms[1:]:
            column = column + term
        columns.append(column.astype(compute))
    law = law.astype(compute)
    step = law[0] * columns[0]
    for i in range(1, k):
        step = step + law[i] * columns[i]
    return jnp.stack(columns).astype(memory.dtype), step.astype(grad.dtype)


def _is_one(value: Any) -> bool:
    concrete = _concrete(value)
    return concrete is not None and concrete.ndim == 0 and float(concrete) == 1.0


def scale_by_rllc(
    transition: ArrayLike,
    input_weights: ArrayLike,
    learning_law_rate: ArrayLike = 0.01,
    relaxation: ArrayLike = 1e-4,
    *,
    initial_law: str | Sequence[ArrayLike] | ArrayLike = "ones",
    relaxation_mode: str = "relative",
    law_scope: str = "global",
    memory_dtype: str | None = None,
    record_law: Mapping[str, int] | None = None,
    transition_pattern: np.ndarray | None = None,
) -> optax.GradientTransformation:
    r"""RLLC on a general linear memory ``M ← M A + g bᵀ``; returns the direction ``M_t L_t``.

    With ``c2 = learning_law_rate`` and the received gradient ``g_t``, per step (spec §1.2):

    .. math::

       L_t = L_{t-1} + c_2 (M_{t-1}^\top M_{t-1} + ε_{\rm eff} I)^{-1} M_{t-1}^\top g_t, \quad
       M_t = M_{t-1} A + g_t b^\top, \quad \text{output } M_t L_t

    (so ``θ_t = θ_{t-1} - c1 M_t L_t`` after :func:`optax.scale_by_learning_rate`). ``MᵀM`` and ``Mᵀg``
    are summed over all leaves (``law_scope="global"``) or kept per leaf (``"per_leaf"``); ``ε_eff`` is
    set by ``relaxation_mode`` (module docstring). This is the building block of
    :func:`scale_by_linear_memory`; use it directly for a transition that is not a propagator union
    (e.g. the basis-transformed ``(T⁻¹AT, Tᵀb)`` of Theorem 5.2).

    Args:
      transition: ``A``, a ``[k, k]`` array (may be traced).
      input_weights: ``b``, a ``[k]`` array (may be traced).
      learning_law_rate: ``c2``; 0 gives a fixed learning law (a Python 0 skips the law update).
      relaxation: ``ε >= 0`` of the relaxed pseudo-inverse.
      initial_law: ``L_0``: ``"ones"`` (default [CHOICE]), ``"e1"`` or ``k`` numbers.
      relaxation_mode: ``"relative"`` (``ε_eff = ε trace(MᵀM)/k``), ``"absolute"`` or ``"eigen"``.
      law_scope: ``"global"`` (the paper) or ``"per_leaf"`` (ablation: one law per leaf).
      memory_dtype: dtype of the memory, ``None`` for each parameter's dtype. The Gram products and the
        law use float32 or wider.
      record_law: ``None`` (default) or ``{"length": n, "every": e}``: record ``L_t`` every ``e`` steps (``e``
        defaults to 1) in ``state.law_trace``, ``n`` laws in all (diagnostics, the paper's Figures 2-3).
      transition_pattern: optional static boolean ``[k, k]``: the entries of ``A`` that may be non-zero;
        by default the non-zero entries of a concrete ``A``, or all entries of a traced one.

    Returns:
      An :class:`optax.GradientTransformation` with state :class:`LinearMemoryState`.
    """
    if jnp.ndim(transition) != 2 or jnp.shape(transition)[0] != jnp.shape(transition)[1]:
        raise ValueError(f"transition: expected a square [k, k] matrix, got shape {jnp.shape(transition)}")
    k = int(jnp.shape(transition)[0])
    if jnp.shape(input_weights) != (k,):
        raise ValueError(f"input_weights: expected shape ({k},), got {jnp.shape(input_weights)}")
    if relaxation_mode not in RELAXATION_MODES:
        raise ValueError(
            f"relaxation_mode: must be one of {', '.join(RELAXATION_MODES)}, got {relaxation_mode!r}"
        )
    if law_scope not in LAW_SCOPES:
        raise ValueError(f"law_scope: must be one of {', '.join(LAW_SCOPES)}, got {law_scope!r}")
    if memory_dtype not in MEMORY_DTYPES:
        raise ValueError(f"memory_dtype: must be one of {MEMORY_DTYPES}, got {memory_dtype!r}")
    try:
        validate_initial_law(initial_law)
    except ValueError as err:
        raise ValueError(f"initial_law: {err}") from None
    law_length = _law_length(initial_law)
    if law_length is not None and law_length != k:
        raise ValueError(f"initial_law: expected {k} values (one per memory unit), got {law_length}")
    _check_number(learning_law_rate, "learning_law_rate", nonnegative=True)
    _check_number(relaxation, "relaxation", nonnegative=True)
    trace_length, trace_every = _record_law_options(record_law)

    concrete_a = _concrete(transition)
    concrete_b = _concrete(input_weights)
    pattern = None if transition_pattern is None else _concrete(transition_pattern)
    if pattern is None:
        pattern = np.ones((k, k), bool) if concrete_a is None else concrete_a != 0
    elif pattern.shape != (k, k):
        raise ValueError(f"transition_pattern: expected shape ({k}, {k}), got {pattern.shape}")
    if concrete_a is not None:
        pattern = pattern & (concrete_a != 0)
        transition = concrete_a.astype(np.float64)
    input_pattern = np.ones(k, bool) if concrete_b is None else concrete_b != 0
    if concrete_b is not None:
        input_weights = concrete_b.astype(np.float64)
    fixed_law = isinstance(learning_law_rate, (int, float)) and learning_law_rate == 0
    per_leaf = law_scope == "per_leaf"

    def init_fn(params: optax.Params) -> LinearMemoryState:
        leaves = jax.tree.leaves(params)
        law_dtype = jnp.result_type(jnp.float32, *[leaf.dtype for leaf in leaves])
        law = _initial_law_vector(initial_law, k, law_dtype)
        if per_leaf:
            law = jnp.broadcast_to(law, (len(leaves), k))
        memory = jax.tree.map(
            lambda p: jnp.zeros((k,) + jnp.shape(p), memory_dtype or jnp.asarray(p).dtype), params
        )
        return LinearMemoryState(
            count=jnp.zeros([], jnp.int32),
            law=law,
            memory=memory,
            law_trace=jnp.full((trace_length,) + law.shape, jnp.nan, law_dtype),
        )

    def update_fn(
        updates: optax.Updates, state: LinearMemoryState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, LinearMemoryState]:
        del params
        grads, treedef = jax.tree.flatten(updates)
        memories = treedef.flatten_up_to(state.memory)
        law_dtype = state.law.dtype
        law = state.law
        if not fixed_law and grads:
            grams = [_gram(m, law_dtype) for m in memories]
            projs = [_project(m, g, law_dtype) for m, g in zip(memories, grads)]
            if per_leaf:
                gram, proj = jnp.stack(grams), jnp.stack(projs)
            else:
                gram, proj = sum(grams[1:], grams[0]), sum(projs[1:], projs[0])
            eps = jnp.asarray(relaxation).astype(law_dtype)
            direction = _relaxed_solve(gram, proj, eps, relaxation_mode)
            law = law + jnp.asarray(learning_law_rate).astype(law_dtype) * direction
        new_memories, steps = [], []
        for index, (m, g) in enumerate(zip(memories, grads)):
            leaf_law = law[index] if per_leaf else law
            new_m, step = _propagate(m, g, transition, input_weights, pattern, input_pattern, leaf_law)
            new_memories.append(new_m)
            steps.append(step)
        count = optax.safe_increment(state.count)
        law_trace = state.law_trace
        length = law_trace.shape[0]
        if length > 0:
            slot = count // trace_every - 1
            write = (count % trace_every == 0) & (slot < length)
            written = law_trace.at[jnp.clip(slot, 0, length - 1)].set(law)
            law_trace = jnp.where(write, written, law_trace)
        new_state = LinearMemoryState(
            count=count, law=law, memory=treedef.unflatten(new_memories), law_trace=law_trace
        )
        return treedef.unflatten(steps), new_state

    return optax.GradientTransformation(init_fn, update_fn)


#: The defaults of :func:`scale_by_rllc`, stated once in its signature and reused by the aliases below.
_RLLC_DEFAULTS: dict[str, Any] = {
    name: parameter.default for name, parameter in inspect.signature(scale_by_rllc).parameters.items()
}


def scale_by_linear_memory(
    learning_law_rate: ArrayLike = _RLLC_DEFAULTS["learning_law_rate"],
    relaxation: ArrayLike = _RLLC_DEFAULTS["relaxation"],
    *,
    propagators: Sequence[Mapping[str, Any]] = DEFAULT_PROPAGATORS,
    initial_law: str | Sequence[ArrayLike] | ArrayLike = _RLLC_DEFAULTS["initial_law"],
    relaxation_mode: str = _RLLC_DEFAULTS["relaxation_mode"],
    law_scope: str = _RLLC_DEFAULTS["law_scope"],
    memory_dtype: str | None = _RLLC_DEFAULTS["memory_dtype"],
    record_law: Mapping[str, int] | None = _RLLC_DEFAULTS["record_law"],
) -> optax.GradientTransformation:
    """RLLC on the linear memory of a propagator union; returns the direction ``M_t L_t``.

    Builds ``(A, b)`` with :func:`propagator_matrices` and applies :func:`scale_by_rllc` (see the module
    docstring for the equations). The kinds and block sizes of ``propagators`` are structural; their
    ``lam``, ``r`` and ``phi`` may be traced.

    Args:
      learning_law_rate: ``c2``.
      relaxation: ``ε`` of the relaxed pseudo-inverse.
      propagators: list of dicts, e.g. ``[{"kind": "real", "lam": 0.0}, {"kind": "real", "lam": 0.9}]``.
      initial_law: ``L_0``: ``"ones"``, ``"e1"`` or one number per memory unit.
      relaxation_mode: ``"relative"``, ``"absolute"`` or ``"eigen"``.
      law_scope: ``"global"`` or ``"per_leaf"``.
      memory_dtype: memory dtype (``None``: the parameter's).
      record_law: ``None`` or ``{"length": n, "every": e}`` (diagnostics: ``state.law_trace``).

    Returns:
      An :class:`optax.GradientTransformation` with state :class:`LinearMemoryState`.
    """
    propagator = propagator_matrices(propagators)
    return scale_by_rllc(
        propagator.transition,
        propagator.input_weights,
        learning_law_rate,
        relaxation,
        initial_law=initial_law,
        relaxation_mode=relaxation_mode,
        law_scope=law_scope,
        memory_dtype=memory_dtype,
        record_law=record_law,
        transition_pattern=propagator.pattern,
    )


def _scale_by_learning_rate(learning_rate: optax.ScalarOrSchedule) -> optax.GradientTransformation:
    """``-learning_rate · u``, cast to each update's dtype (also for a traced float64 rate)."""
    if callable(learning_rate):
        return optax.scale_by_schedule(lambda count: -learning_rate(count))

    def update_fn(updates, state, params=None):
        del params
        scale = -jnp.asarray(learning_rate)
        return jax.tree.map(lambda u: scale.astype(u.dtype) * u, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def linear_memory(
    learning_rate: optax.ScalarOrSchedule = 0.01,
    learning_law_rate: ArrayLike = _RLLC_DEFAULTS["learning_law_rate"],
    relaxation: ArrayLike = _RLLC_DEFAULTS["relaxation"],
    *,
    propagators: Sequence[Mapping[str, Any]] = DEFAULT_PROPAGATORS,
    initial_law: str | Sequence[ArrayLike] | ArrayLike = _RLLC_DEFAULTS["initial_law"],
    relaxation_mode: str = _RLLC_DEFAULTS["relaxation_mode"],
    law_scope: str = _RLLC_DEFAULTS["law_scope"],
    memory_dtype: str | None = _RLLC_DEFAULTS["memory_dtype"],
    record_law: Mapping[str, int] | None = _RLLC_DEFAULTS["record_law"],
) -> optax.GradientTransformation:
    r"""Linear-memory optimizer with RLLC (LM-RLLC), arXiv:2402.15262.

    .. math::

       L_t = L_{t-1} + c_2 \, \mathrm{pinv}_ε(M_{t-1}) g_t, \quad
       M_t = M_{t-1} A + g_t b^\top, \quad
       θ_t = θ_{t-1} - c_1 M_t L_t

    with ``c1 = learning_rate``, ``c2 = learning_law_rate``, ``(A, b)`` from ``propagators`` and the
    relaxed pseudo-inverse ``pinv_ε`` of ``relaxation_mode`` (module docstring, with the spec's tags).
    ``learning_law_rate=0`` is the fixed-law optimizer ``O(A, b, L_0)``; e.g. on the default
    ``R(0) ∪ R(0.9)`` the initial laws ``[1, 0]``, ``[0, 1]``, ``[1, 0.9]`` give SGD, momentum SGD and
    NAG with learning rate ``c1`` (Lemma 4.1).

    Args:
      learning_rate: ``c1``, a number or an optax schedule. The paper's grid: 0.001 ... 0.3.
      learning_law_rate: ``c2`` (paper grid 0.003, 0.01, 0.03); 0 fixes the law.
      relaxation: ``ε >= 0`` of the relaxed pseudo-inverse.
      propagators: list of propagator dicts (kinds ``real``, ``complex``, ``jordan``,
        ``complex_jordan``); default ``R(0) ∪ R(0.9)``.
      initial_law: ``L_0``: ``"ones"`` (default), ``"e1"`` or one number per memory unit.
      relaxation_mode: ``"relative"`` (default), ``"absolute"`` or ``"eigen"``.
      law_scope: ``"global"`` (default, the paper) or ``"per_leaf"``.
      memory_dtype: dtype of the memory (``None``: each parameter's dtype).
      record_law: ``None`` (default) or ``{"length": n, "every": e}``: record ``L_t`` every ``e`` steps,
        ``n`` laws in all, in ``state.law_trace`` (read it with :func:`learning_law_trace`).

    Returns:
      An :class:`optax.GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> opt = linear_memory(0.01, propagators=[{"kind": "real", "lam": 0.0}, {"kind": "real", "lam": 0.9}])
      >>> params = jnp.array([1.0, -2.0])
      >>> state = opt.init(params)
      >>> updates, state = opt.update(2 * params, state)
      >>> params = optax.apply_updates(params, updates)
      >>> learning_law(state).shape
      (2,)

    References:
      Szegedy, Czifra, Kőrösi-Szabó, *Dynamic Memory Based Adaptive Optimization*, 2024,
      https://arxiv.org/abs/2402.15262
    """
    return optax.chain(
        scale_by_linear_memory(
            learning_law_rate,
            relaxation,
            propagators=propagators,
            initial_law=initial_law,
            relaxation_mode=relaxation_mode,
            law_scope=law_scope,
            memory_dtype=memory_dtype,
            record_law=record_law,
        ),
        _scale_by_learning_rate(learning_rate),
    )


def learning_law(opt_state: Any) -> jax.Array:
    """The current learning law ``L_t`` held in a (possibly chained or injected) optimizer state."""
    value = optax.tree_utils.tree_get(opt_state, "law")
    if value is None:
        raise ValueError("opt_state: holds no LinearMemoryState")
    return value


def learning_law_trace(opt_state: Any) -> jax.Array:
    """The recorded learning-law trajectory ``law_trace`` (``[length, k]``, NaN until written)."""
    value = optax.tree_utils.tree_get(opt_state, "law_trace")
    if value is None:
        raise ValueError("opt_state: holds no LinearMemoryState")
    return value


# ----------------------------------------------------------------------------------------------------
# paper points and registry entry
# ----------------------------------------------------------------------------------------------------


def _r0_r09() -> list[dict[str, Any]]:
    return [{"kind": "real", "lam": 0.0}, {"kind": "real", "lam": 0.9}]


#: Paper points, as hyperparameter overrides of :func:`linear_memory` (also ``ENTRIES[0].presets``).
#: Table 1's row labels are lost (spec §5.2), so the RLLC points are the configurations the text names:
#: R(0.9) (§6 "RLLC based adaptive learning rate"), R(0) ∪ R(0.9) (the "most reliable"), R_2(0.9) and
#: C(0.9 e^{2πi/3}). The fixed-law points are App. A's laws on R(0) ∪ R(0.9) with ``c2 = 0``: SGD (1, 0),
#: momentum SGD (0, 1) and NAG (1, 0.9) (Lemma 4.1). Learning rates keep their defaults (c1 = 0.01,
#: c2 = 0.01, the middle of the paper's grids). ``L_0`` is all ones [CHOICE, spec §1.3] except for R_2(0.9),
#: which starts from ``e_1`` (heavy-ball momentum): with all ones its second unit (gain 1/(1-λ)² = 100)
#: makes the first steps ~110·c1 and the paper's MNIST MLP diverged at c1 = 0.01 and 0.03 (measured).
PRESETS: dict[str, dict[str, Any]] = {
    "sgd": {"propagators": _r0_r09(), "initial_law": [1.0, 0.0], "learning_law_rate": 0.0},
    "momentum": {"propagators": _r0_r09(), "initial_law": [0.0, 1.0], "learning_law_rate": 0.0},
    "nag": {"propagators": _r0_r09(), "initial_law": [1.0, 0.9], "learning_law_rate": 0.0},
    "rllc_R0.9": {"propagators": [{"kind": "real", "lam": 0.9}]},
    "rllc_R0_R0.9": {"propagators": _r0_r09()},
    "rllc_R2_0.9": {"propagators": [{"kind": "jordan", "n": 2, "lam": 0.9}], "initial_law": "e1"},
    "rllc_C_0.9_2pi3": {"propagators": [{"kind": "complex", "r": 0.9, "phi": 2.0 * math.pi / 3.0}]},
}


def _choice_doc(options: Sequence[Any]) -> str:
    return " | ".join(repr(o) for o in options)


ENTRIES: tuple[OptimizerEntry, ...] = (
    OptimizerEntry(
        family="linear_memory",
        constructor=linear_memory,
        hyperparameters=(
            Hyperparameter(
                "learning_rate",
                default_of(linear_memory, "learning_rate"),
                "float",
                low=0.0,
                low_exclusive=True,
                doc="c1, the parameter learning rate (paper grid 0.001 ... 0.3)",
            ),
            Hyperparameter(
                "learning_law_rate",
                default_of(linear_memory, "learning_law_rate"),
                "float",
                low=0.0,
                doc="c2, the learning-law rate (paper grid 0.003, 0.01, 0.03); 0 = fixed law",
            ),
            Hyperparameter(
                "relaxation",
                default_of(linear_memory, "relaxation"),
                "float",
                low=0.0,
                doc="epsilon of the relaxed pseudo-inverse (see relaxation_mode)",
            ),
            Hyperparameter(
                "propagators",
                default_of(linear_memory, "propagators"),
                "json",
                validate=validate_propagators,
                doc="list of {kind: real|complex|jordan|complex_jordan, lam | r, phi, n}",
            ),
            Hyperparameter(
                "initial_law",
                default_of(linear_memory, "initial_law"),
                "json",
                validate=validate_initial_law,
                doc="L_0: 'ones', 'e1' or one number per memory unit",
            ),
            Hyperparameter(
                "relaxation_mode",
                default_of(linear_memory, "relaxation_mode"),
                "choice",
                choices=RELAXATION_MODES,
                doc=f"relaxed pseudo-inverse: {_choice_doc(RELAXATION_MODES)}",
            ),
            Hyperparameter(
                "law_scope",
                default_of(linear_memory, "law_scope"),
                "choice",
                choices=LAW_SCOPES,
                doc="one global learning law (paper) or one per leaf (ablation)",
            ),
            Hyperparameter(
                "memory_dtype",
                default_of(linear_memory, "memory_dtype"),
                "choice",
                choices=MEMORY_DTYPES,
                doc="dtype of the memory units (None: the parameter's dtype)",
            ),
            Hyperparameter(
                "record_law",
                default_of(linear_memory, "record_law"),
                "json",
                validate=validate_record_law,
                doc="diagnostics: null or {length: n, every: e} (record the learning law in the state)",
            ),
        ),
        summary="Linear-memory optimizer with Retrospective Learning Law Correction (LM-RLLC)",
        reference="Szegedy, Czifra, Kőrösi-Szabó, Dynamic Memory Based Adaptive Optimization, arXiv:2402.15262",
        needs_value=False,
        step_size="learning_rate",
        presets=PRESETS,
    ),
)
