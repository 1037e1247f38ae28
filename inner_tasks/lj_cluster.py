"""Lennard-Jones clusters in reduced units (epsilon = sigma = 1): energy minimisation of atomic clusters.

    u(r) = 4 (r^-12 - r^-6),    E(x) = sum_{i<j} u(|x_i - x_j|),    F = -dE/dx,

the minimum of ``u`` is -1 at ``r = 2^(1/6)``. Default: no cutoff (OptBench, the Cambridge Cluster
Database minima and pele use the full potential). ``ase_compatible=True`` reproduces ASE's
``LennardJones()`` defaults (``rc = 3``, ``smooth=False``): pairs with ``r > rc`` are dropped (a pair at
exactly ``rc`` is kept) and each kept pair's energy is shifted by ``-u(rc)``; the shift is a per-pair
constant, so ``-grad E`` equals ASE's unshifted forces.

Known global minima (Cambridge Cluster Database; Wales & Doye 1997, arXiv:cond-mat/9803344), used as
``lower_bound``: LJ13 -44.326801, LJ38 -173.928427 and the small clusters in :data:`KNOWN_MINIMA`
(n <= 13 re-derived here by multi-start L-BFGS). With a cutoff the energy is never below the uncut one,
so the uncut minimum stays a valid lower bound.

Starts follow OptBench's random-cluster procedure (``bin/random_cluster.py``, henkelmangroup/optbench):
atom 0 at the origin; atom k is drawn uniformly in a cube of side ``a_k = ((k + 1) 4/3 pi r / p)^(1/3)``
centred on the origin (``r = 0.31``, the covalent radius of H; ``p = 0.1``; the original's ``r`` in place
of ``r^3`` is kept) until its nearest existing atom is at a distance in ``(0.8 * 2r, 1.3 * 2r)``; then the
atom order is shuffled and the cluster centred. These starts are strongly compressed (LJ38: E0 ~ 1e4-1e5).

:func:`force_calls_to_converge` is the metric of the Frankenstein paper's Table 3 (from OptBench): the
number of energy+force evaluations until the L2 norm of the whole 3N force vector is <= 0.01; runs past
10,000 calls fail, and so do "converged" runs whose energy is above ``max_energy`` (clusters that flew
apart; -150 for LJ38 as in the spec, ``0.86 * E_min`` otherwise).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from inner_tasks._common import as_dtype, check_dtype, check_int, check_positive
from inner_tasks.base import Task

__all__ = [
    "KNOWN_MINIMA",
    "LJCluster",
    "ForceCallResult",
    "lj_energy",
    "lj_forces",
    "random_cluster",
    "force_calls_to_converge",
]

#: Global minimum energies of LJ_n (reduced units; Cambridge Cluster Database).
KNOWN_MINIMA: dict[int, float] = {
    2: -1.0,
    3: -3.0,
    4: -6.0,
    5: -9.103852,
    6: -12.712062,
    7: -16.505384,
    8: -19.821489,
    9: -24.113360,
    10: -28.422532,
    11: -32.765970,
    12: -37.967600,
    13: -44.326801,
    38: -173.928427,
}
ASE_DEFAULT_CUTOFF = 3.0
#: Clusters up to this size use a pair list in :func:`lj_energy`, larger ones dense pair matrices.
PAIR_LIST_MAX_ATOMS = 16
_FAIL_ENERGY = {38: -150.0}


def lj_energy(positions: jax.Array, cutoff: float | None = None, shift: bool = True) -> jax.Array:
    """Total Lennard-Jones energy of ``positions`` ``[N, 3]`` (reduced units).

    Args:
      positions: atom coordinates.
      cutoff: drop pairs with ``r > cutoff`` (``None``: no cutoff).
      shift: with a cutoff, subtract ``u(cutoff)`` from each kept pair (ASE's ``smooth=False`` mode).
    """
    n = positions.shape[0]
    if n <= PAIR_LIST_MAX_ATOMS:
        # Small clusters: the N(N-1)/2 pairs as a list (gathers with constant indices, one coordinate row
        # at a time). Under vmap on CPU this is 6x faster than the dense matrices for LJ7 and 2x for LJ13.
        i, j = np.triu_indices(n, 1)
        rows = positions.T
        r2 = sum((rows[k][i] - rows[k][j]) ** 2 for k in range(3))
        keep = True
    else:
        # Dense [N, N] pair matrices with a constant upper-triangle mask, built one coordinate at a time:
        # no gather/scatter and no size-3 minor axis; faster than the pair list from about 20 atoms on.
        keep = np.triu(np.ones((n, n), dtype=bool), 1)
        r2 = sum((positions[None, :, k] - positions[:, None, k]) ** 2 for k in range(3))
        r2 = jnp.where(keep, r2, 1.0)  # the diagonal and lower triangle never reach 1 / r2
    s6 = (1.0 / r2) ** 3
    u = 4.0 * (s6 * s6 - s6)
    if cutoff is None:
        return jnp.sum(jnp.where(keep, u, 0.0))
    rc = float(cutoff)
    u_rc = 4.0 * (rc**-12 - rc**-6) if shift else 0.0
    return jnp.sum(jnp.where(keep & (r2 <= rc * rc), u - u_rc, 0.0))


def lj_forces(positions: jax.Array, cutoff: float | None = None, shift: bool = True) -> jax.Array:
    """``-grad lj_energy`` ``[N, 3]``."""
    return -jax.grad(lj_energy)(positions, cutoff, shift)


def random_cluster(
    key: jax.Array, n_atoms: int, radius: float = 0.31, packing: float = 0.1, dtype: Any = jnp.float32
) -> jax.Array:
    """An OptBench-style random start ``[n_atoms, 3]`` (procedure in the module docstring); pure JAX."""
    bond = 2.0 * radius
    lo, hi = 0.8 * bond, 1.3 * bond
    key_shuffle, key_place = jax.random.split(key)

    def place(k, carry):
        pos, key = carry
        side = jnp.cbrt((k + 1) * (4.0 / 3.0 * 3.14159 * radius) / packing)  # the original's pi and r
        exists = jnp.arange(n_atoms) < k

        def draw(state):
            _, key, _ = state
            key, sub = jax.random.split(key)
            x = jax.random.uniform(sub, (3,), jnp.float32, -0.5, 0.5) * side
            dist = jnp.sqrt(jnp.sum((pos - x) ** 2, axis=-1))
            dmin = jnp.min(jnp.where(exists, dist, jnp.inf))
            return x, key, (dmin > lo) & (dmin < hi)

        x, key, _ = jax.lax.while_loop(lambda s: ~s[2], draw, (jnp.zeros(3, jnp.float32), key, False))
        return pos.at[k].set(x), key

    pos = jnp.zeros((n_atoms, 3), jnp.float32)
    pos, _ = jax.lax.fori_loop(1, n_atoms, place, (pos, key_place))
    pos = jax.random.permutation(key_shuffle, pos, axis=0)
    pos = pos.astype(dtype)
    return pos - pos.mean(axis=0)


@dataclasses.dataclass(frozen=True)
class LJCluster(Task):
    """Minimise the energy of an ``n_atoms`` Lennard-Jones cluster from an OptBench-style random start.

    Attributes:
      n_atoms: cluster size; must be a key of :data:`KNOWN_MINIMA` (13 and 38 are the benchmarks).
      cutoff: pair cutoff radius (``None``: the full potential, the default).
      ase_compatible: use ASE ``LennardJones()`` defaults (``cutoff = 3``, shifted energy); overrides
        ``cutoff``.
      dtype: parameter dtype name (``"float64"`` needs ``jax_enable_x64``).
    """

    n_atoms: int = 13
    cutoff: float | None = None
    ase_compatible: bool = False
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_int("n_atoms", self.n_atoms, 2)
        if self.n_atoms not in KNOWN_MINIMA:
            raise ValueError(
                f"n_atoms: no known global minimum for {self.n_atoms}; known: {sorted(KNOWN_MINIMA)}"
            )
        if self.cutoff is not None:
            check_positive("cutoff", self.cutoff)
        check_dtype(self.dtype)

    @property
    def name(self) -> str:
        suffix = "_ase" if self.ase_compatible else (f"_rc{self.cutoff:g}" if self.cutoff is not None else "")
        return f"lj{self.n_atoms}{suffix}"

    @property
    def effective_cutoff(self) -> float | None:
        """The cutoff in use (3 in ASE-compatible mode)."""
        return ASE_DEFAULT_CUTOFF if self.ase_compatible else self.cutoff

    @property
    def lower_bound(self) -> float:
        return KNOWN_MINIMA[self.n_atoms]

    def init(self, key: jax.Array) -> jax.Array:
        return random_cluster(key, self.n_atoms, dtype=as_dtype(self.dtype))

    def energy(self, positions: jax.Array) -> jax.Array:
        """The cluster energy (with this task's cutoff convention)."""
        return lj_energy(positions, self.effective_cutoff, shift=True)

    def forces(self, positions: jax.Array) -> jax.Array:
        """``-grad energy``."""
        return -jax.grad(self.energy)(positions)

    def loss(self, params: jax.Array, key: jax.Array, batch: Any = None) -> jax.Array:
        return self.energy(params)


@dataclasses.dataclass(frozen=True, eq=False)
class ForceCallResult:
    """Per-start outcome of :func:`force_calls_to_converge` (NumPy arrays of length R).

    Attributes:
      calls: energy+force evaluations made (the one that met the criterion included).
      converged: the force criterion was met within ``max_calls`` and the final energy <= ``max_energy``.
      energy: final energy.
      force_norm: final force norm (by the chosen rule).
    """

    calls: np.ndarray
    converged: np.ndarray
    energy: np.ndarray
    force_norm: np.ndarray

    @property
    def num_failed(self) -> int:
        """Starts that did not converge."""
        return int(np.sum(~self.converged))

    @property
    def mean_calls(self) -> float:
        """Mean force calls over the converged starts (NaN if none converged)."""
        ok = self.converged
        return float(np.mean(self.calls[ok])) if ok.any() else math.nan


def force_calls_to_converge(
    opt: optax.GradientTransformation,
    fmax: float = 0.01,
    *,
    task: LJCluster | None = None,
    keys: jax.Array | None = None,
    starts: jax.Array | np.ndarray | None = None,
    num_starts: int = 10,
    norm: str = "l2",
    max_calls: int = 10_000,
    max_energy: float | None = None,
) -> ForceCallResult:
    """Count energy+force evaluations until ``opt`` relaxes LJ clusters (the Frankenstein Table 3 metric).

    Each optimizer step makes one force call at the current positions; the run stops when the force norm
    is <= ``fmax`` (before updating) or after ``max_calls`` calls. ``opt.update`` is called with
    ``value=energy`` (for optimizers that need the loss, e.g. FIRE).

    Args:
      opt: the optimizer (its ``update`` sees the energy gradient).
      fmax: force tolerance.
      task: the cluster (default ``LJCluster(38)``).
      keys: PRNG keys of the random starts (default ``num_starts`` keys from ``key(0)``).
      starts: explicit start positions ``[R, N, 3]`` (override ``keys``).
      num_starts: number of starts when neither ``keys`` nor ``starts`` is given.
      norm: ``"l2"`` (OptBench: the norm of the whole 3N vector) or ``"max_atom"`` (ASE's ``fmax`` rule:
        the largest per-atom force norm).
      max_calls: the failure cap.
      max_energy: energies above this count as failures (default -150 for LJ38, else 0.86 * E_min).
    """
    task = LJCluster(38) if task is None else task
    if norm not in ("l2", "max_atom"):
        raise ValueError(f"norm: expected 'l2' or 'max_atom', got {norm!r}")
    check_positive("fmax", fmax)
    check_int("max_calls", max_calls, 1)
    if max_energy is None:
        max_energy = _FAIL_ENERGY.get(task.n_atoms, 0.86 * task.lower_bound)
    if starts is None:
        if keys is None:
            keys = jax.random.split(jax.random.key(0), num_starts)
        starts = jax.vmap(task.init)(keys)
    starts = jnp.asarray(starts, as_dtype(task.dtype))
    if starts.ndim != 3 or starts.shape[1:] != (task.n_atoms, 3):
        raise ValueError(f"starts: expected shape [R, {task.n_atoms}, 3], got {tuple(starts.shape)}")
    opt = optax.with_extra_args_support(opt)

    def force_norm(g):
        if norm == "l2":
            return jnp.sqrt(jnp.sum(g * g))
        return jnp.max(jnp.sqrt(jnp.sum(g * g, axis=-1)))

    def relax(x0):
        def body(carry):
            x, state, calls, _ = carry
            e, g = jax.value_and_grad(task.energy)(x)
            done = force_norm(g) <= fmax
            updates, new_state = opt.update(g, state, x, value=e)
            new_x = optax.apply_updates(x, updates).astype(x.dtype)
            x = jnp.where(done, x, new_x)
            state = jax.tree.map(lambda a, b: jnp.where(done, a, b), state, new_state)
            return x, state, calls + 1, done

        def cond(carry):
            return (~carry[3]) & (carry[2] < max_calls)

        init = (x0, opt.init(x0), jnp.zeros((), jnp.int32), jnp.zeros((), bool))
        x, _, calls, done = jax.lax.while_loop(cond, body, init)
        e, g = jax.value_and_grad(task.energy)(x)
        return calls, done, e, force_norm(g)

    calls, done, energy, fnorm = jax.jit(jax.vmap(relax))(starts)
    energy = np.asarray(energy, dtype=np.float64)
    converged = np.asarray(done) & np.isfinite(energy) & (energy <= max_energy)
    return ForceCallResult(
        calls=np.asarray(calls), converged=converged, energy=energy, force_norm=np.asarray(fnorm, np.float64)
    )
