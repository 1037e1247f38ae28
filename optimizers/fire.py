"""FIRE, the Fast Inertial Relaxation Engine, exactly as ASE's ``ase.optimize.FIRE`` (spec §3.2-§3.3).

The transform maps gradients (``g = −F``) to the position change ``dr`` (apply with
``optax.apply_updates``). The whole parameter tree is one configuration vector: the power ``P = F·v``,
the norms ``|F|``, ``|v|`` and the step norm ``|dr|`` are taken over all leaves together, as ASE does
over all 3N coordinates. Mass is 1. FIRE needs forces only, not the energy, so ``update`` takes no
``value``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers.registry import Hyperparameter, OptimizerEntry

__all__ = ["ENTRIES", "FireState", "fire", "scale_by_fire"]

Scalar = jax.typing.ArrayLike


class FireState(NamedTuple):
    """State of :func:`scale_by_fire`.

    Attributes:
      velocity: ``v``, same tree as the params (at least float32).
      dt: the current time step (ASE ``dt``).
      alpha: the current mixing coefficient (ASE ``a``).
      n_pos: steps with ``P > 0`` since the last ``P <= 0`` (ASE ``Nsteps``), int32.
      started: ``False`` before the first update (ASE ``vel is None``).
    """

    velocity: optax.Updates
    dt: jax.Array
    alpha: jax.Array
    n_pos: jax.Array
    started: jax.Array


def _scalar_dtype(tree: Any) -> jnp.dtype:
    """The dtype FIRE's scalars and velocity use: the widest leaf dtype, at least float32."""
    leaves = jax.tree.leaves(tree)
    dtype = jnp.result_type(*leaves) if leaves else jnp.float32
    return jnp.promote_types(dtype, jnp.float32)


def _dot(x: Any, y: Any) -> jax.Array:
    return sum((jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(x), jax.tree.leaves(y), strict=True)), 0.0)


def scale_by_fire(
    dt: Scalar = 0.1,
    dtmax: Scalar = 1.0,
    n_min: Scalar = 5,
    f_inc: Scalar = 1.1,
    f_dec: Scalar = 0.5,
    a_start: Scalar = 0.1,
    f_a: Scalar = 0.99,
    max_step: Scalar = 0.2,
) -> optax.GradientTransformation:
    r"""FIRE as an optax transform (ASE ``FIRE`` with ``downhill_check=False``).

    With ``F = −g`` and the norms and dot products over the whole tree::

        first update:  v = 0                                         (no power test)
        later:         P = F·v
          P > 0:   v ← (1 − α) v + α·F/|F|·|v|
                   if n_pos > n_min: dt ← min(dt·f_inc, dtmax); α ← α·f_a     (test before n_pos += 1)
                   n_pos ← n_pos + 1
          P <= 0:  v ← 0;  α ← a_start;  dt ← dt·f_dec;  n_pos ← 0          (no lower bound on dt)
        v  ← v + dt·F                                                (explicit Euler, mass 1)
        dr = dt·v;   dr ← max_step·dr/|dr| if |dr| > max_step           (v is not rescaled)

    ASE has a separate initial ``a`` (default 0.1) besides ``astart`` (0.1); here the initial α is
    ``a_start``, which is the same at ASE's defaults.

    Args:
      dt: initial time step (the step-size hyperparameter).
      dtmax: largest time step.
      n_min: number of ``P > 0`` steps before the time step may grow (ASE ``Nmin``); only compared
        (``n_pos > n_min``), so it may be a traced scalar, and a non-integer value acts as its floor.
      f_inc: time-step growth factor. f_dec: time-step shrink factor after ``P <= 0``.
      a_start: initial and reset value of the mixing coefficient α. f_a: α decay factor.
      max_step: largest Euclidean norm of ``dr`` over the whole tree (ASE ``maxstep``).

    Returns:
      A transformation with state :class:`FireState`; its updates are ``dr``.

    Example::

        tx = fire()
        state = tx.init(positions)
        dr, state = tx.update(-forces, state)
        positions = optax.apply_updates(positions, dr)

    References:
      Bitzek, Koskinen, Gähler, Moseler & Gumbsch, Structural Relaxation Made Simple, PRL 97, 170201
      (2006); ASE ``ase/optimize/fire.py`` (ase 3.29).
    """

    def init_fn(params):
        dtype = _scalar_dtype(params)
        return FireState(
            velocity=jax.tree.map(lambda p: jnp.zeros(jnp.shape(p), dtype), params),
            dt=jnp.asarray(dt, dtype),
            alpha=jnp.asarray(a_start, dtype),
            n_pos=jnp.zeros([], jnp.int32),
            started=jnp.zeros([], bool),
        )

    def update_fn(updates, state, params=None):
        del params
        dtype = state.dt.dtype
        force = jax.tree.map(lambda g: -jnp.asarray(g, dtype), updates)
        v = state.velocity
        power = _dot(force, v)
        force_norm = jnp.sqrt(_dot(force, force))
        speed = jnp.sqrt(_dot(v, v))
        downhill = state.started & (power > 0.0)
        uphill = state.started & (power <= 0.0)
        safe_force_norm = jnp.where(force_norm > 0.0, force_norm, 1.0)
        alpha = state.alpha
        mixed = jax.tree.map(
            lambda vi, fi: (1.0 - alpha) * vi + alpha * fi / safe_force_norm * speed, v, force
        )

        grow = downhill & (state.n_pos > n_min)
        new_dt = jnp.where(grow, jnp.minimum(state.dt * f_inc, dtmax), state.dt)
        new_alpha = jnp.where(grow, alpha * f_a, alpha)
        new_n = jnp.where(downhill, state.n_pos + 1, state.n_pos)
        new_dt = jnp.where(uphill, state.dt * f_dec, new_dt).astype(dtype)
        new_alpha = jnp.where(uphill, a_start, new_alpha).astype(dtype)
        new_n = jnp.where(uphill, 0, new_n).astype(jnp.int32)
        v = jax.tree.map(
            lambda vm, vi: jnp.where(downhill, vm, jnp.where(uphill, jnp.zeros_like(vi), vi)), mixed, v
        )

        v = jax.tree.map(lambda vi, fi: (vi + new_dt * fi).astype(dtype), v, force)
        step = jax.tree.map(lambda vi: new_dt * vi, v)
        step_norm = jnp.sqrt(_dot(step, step))
        clip = step_norm > max_step
        safe_step_norm = jnp.where(clip, step_norm, 1.0)
        step = jax.tree.map(lambda d: jnp.where(clip, max_step * d / safe_step_norm, d), step)
        step = jax.tree.map(lambda d, g: d.astype(jnp.result_type(g)), step, updates)
        new_state = FireState(velocity=v, dt=new_dt, alpha=new_alpha, n_pos=new_n, started=jnp.ones([], bool))
        return step, new_state

    return optax.GradientTransformation(init_fn, update_fn)


def fire(
    dt: Scalar = 0.1,
    dtmax: Scalar = 1.0,
    n_min: Scalar = 5,
    f_inc: Scalar = 1.1,
    f_dec: Scalar = 0.5,
    a_start: Scalar = 0.1,
    f_a: Scalar = 0.99,
    max_step: Scalar = 0.2,
) -> optax.GradientTransformation:
    """FIRE with ASE's defaults; the user-facing name of :func:`scale_by_fire` (its updates are ``dr``).

    Args: see :func:`scale_by_fire`. ``dt`` plays the role of the learning rate.

    References:
      Bitzek et al., PRL 97, 170201 (2006); ASE ``ase.optimize.FIRE``.
    """
    return scale_by_fire(
        dt=dt,
        dtmax=dtmax,
        n_min=n_min,
        f_inc=f_inc,
        f_dec=f_dec,
        a_start=a_start,
        f_a=f_a,
        max_step=max_step,
    )


def _default(fn: Callable[..., Any], name: str) -> Any:
    # Same as optimizers.registry.default_of, which is defined only after the registry has collected
    # the family modules (so it cannot be imported from here during that collection).
    return inspect.signature(fn).parameters[name].default


ENTRIES: tuple[OptimizerEntry, ...] = (
    OptimizerEntry(
        family="fire",
        constructor=fire,
        hyperparameters=(
            Hyperparameter(
                "dt", _default(fire, "dt"), low=0.0, high=10.0, low_exclusive=True, doc="initial time step"
            ),
            Hyperparameter(
                "dtmax",
                _default(fire, "dtmax"),
                low=0.0,
                high=100.0,
                low_exclusive=True,
                doc="largest time step",
            ),
            # Numeric (traceable) although ASE's Nmin is an int: it is only compared, n_pos > n_min, so a
            # population can vary it without recompiling (a non-integer value acts as its floor).
            Hyperparameter(
                "n_min",
                _default(fire, "n_min"),
                low=0.0,
                high=1000.0,
                doc="P > 0 steps before the time step may grow",
            ),
            Hyperparameter(
                "f_inc", _default(fire, "f_inc"), low=1.0, high=10.0, doc="time-step growth factor"
            ),
            Hyperparameter(
                "f_dec",
                _default(fire, "f_dec"),
                low=0.0,
                high=1.0,
                low_exclusive=True,
                doc="time-step shrink factor",
            ),
            Hyperparameter(
                "a_start", _default(fire, "a_start"), low=0.0, high=1.0, doc="initial mixing coefficient"
            ),
            Hyperparameter(
                "f_a",
                _default(fire, "f_a"),
                low=0.0,
                high=1.0,
                low_exclusive=True,
                doc="mixing coefficient decay",
            ),
            Hyperparameter(
                "max_step",
                _default(fire, "max_step"),
                low=0.0,
                high=100.0,
                low_exclusive=True,
                doc="largest norm of one step over the whole tree",
            ),
        ),
        summary="FIRE, ASE's ase.optimize.FIRE exactly (forces only; global-norm step clip)",
        reference="Bitzek et al., PRL 97, 170201 (2006); ASE 3.29",
        step_size="dt",
        presets={"ase_default": {}, "optbench_dt1": {"dt": 1.0}},
    ),
)
