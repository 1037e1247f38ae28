"""FIRE: against a NumPy transcription of ASE's FIRE step, tree-global semantics, traced hyperparameters,
and (``reference``) against ``ase.optimize.FIRE`` itself on a Lennard-Jones cluster."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers
from optimizers import fire as fire_module

NUM_ATOMS = 13


def _start(seed: int = 0, side: float = 2.0, min_distance: float = 0.85) -> np.ndarray:
    """A random 13-atom cluster: uniform in a cube, rejecting atoms closer than ``min_distance``."""
    rng = np.random.default_rng(seed)
    positions = [np.zeros(3)]
    while len(positions) < NUM_ATOMS:
        x = rng.uniform(-side / 2, side / 2, 3)
        if min(np.linalg.norm(x - q) for q in positions) > min_distance:
            positions.append(x)
    return np.asarray(positions)


def _lj_forces(x: np.ndarray) -> np.ndarray:
    """Lennard-Jones forces, reduced units, no cutoff: F = −∇ Σ_{i<j} 4(r⁻¹² − r⁻⁶)."""
    d = x[None, :, :] - x[:, None, :]  # d[i, j] = x_j − x_i
    r2 = np.sum(d**2, axis=-1) + np.eye(len(x))
    s6 = (1.0 / r2) ** 3 * (1 - np.eye(len(x)))
    du = -24.0 * (2.0 * s6 * s6 - s6) / r2
    return np.sum(du[:, :, None] * d, axis=1)


def _np_fire(x0, force_fn, num_steps, *, dt, dtmax, n_min, f_inc, f_dec, a_start, f_a, max_step):
    """ASE FIRE (ase 3.29 ``FIRE.step``, downhill_check off), transcribed from spec §3.2, flat 3N vector.

    Returns the positions after every step and a log of (dt, uphill event, clipped) per step.
    """
    x = x0.copy()
    v = None
    a = a_start
    n_steps = 0
    positions, log = [], []
    for _ in range(num_steps):
        f = force_fn(x).ravel()
        uphill = False
        if v is None:
            v = np.zeros_like(f)
        else:
            power = np.vdot(f, v)
            if power > 0.0:
                v = (1.0 - a) * v + a * f / np.sqrt(np.vdot(f, f)) * np.sqrt(np.vdot(v, v))
                if n_steps > n_min:
                    dt = min(dt * f_inc, dtmax)
                    a *= f_a
                n_steps += 1
            else:
                uphill = True
                v = np.zeros_like(v)
                a = a_start
                dt *= f_dec
                n_steps = 0
        v = v + dt * f
        dr = dt * v
        norm = np.sqrt(np.vdot(dr, dr))
        clipped = norm > max_step
        if clipped:
            dr = max_step * dr / norm
        x = x + dr.reshape(x.shape)
        positions.append(x.copy())
        log.append((dt, uphill, clipped))
    return positions, log


ASE_DEFAULTS = dict(dt=0.1, dtmax=1.0, n_min=5, f_inc=1.1, f_dec=0.5, a_start=0.1, f_a=0.99, max_step=0.2)


def _run_ours(opt, x0, force_fn, num_steps, split=False):
    """Drive ``opt`` with ``g = −F``; with ``split`` the positions are a dict of two leaves."""

    def pack(x):
        return {"head": jnp.asarray(x[:5]), "tail": jnp.asarray(x[5:].ravel())} if split else jnp.asarray(x)

    def unpack(p):
        if split:
            return np.concatenate([np.asarray(p["head"]), np.asarray(p["tail"]).reshape(-1, 3)])
        return np.asarray(p)

    params = pack(x0)
    state = opt.init(params)
    update = jax.jit(opt.update)
    positions, dts = [], []
    for _ in range(num_steps):
        grads = jax.tree.map(lambda f: -f, pack(force_fn(unpack(params))))
        dr, state = update(grads, state, params)
        params = optax.apply_updates(params, dr)
        positions.append(unpack(params))
        dts.append(float(state.dt))
    return positions, dts


@pytest.mark.parametrize(
    "overrides", [{}, {"dt": 0.5, "max_step": 0.1, "n_min": 2, "f_a": 0.9}], ids=["ase_default", "aggressive"]
)
def test_matches_numpy_transcription_of_ase_step(overrides):
    hps = {**ASE_DEFAULTS, **overrides}
    x0 = _start(seed=1)
    expected, log = _np_fire(x0, _lj_forces, 120, **hps)
    # the run visits every branch: P <= 0 resets, dt growth, and step clipping (and unclipped steps)
    dts = [entry[0] for entry in log]
    assert any(entry[1] for entry in log) and any(b > a for a, b in zip(dts, dts[1:]))
    assert any(entry[2] for entry in log) and not all(entry[2] for entry in log)
    ours, our_dts = _run_ours(optimizers.build({"family": "fire", **hps}), x0, _lj_forces, 120)
    for step, (a, e) in enumerate(zip(ours, expected, strict=True)):
        np.testing.assert_allclose(a, e, rtol=0, atol=1e-10, err_msg=f"step {step + 1}")
    np.testing.assert_allclose(our_dts, dts, rtol=1e-14)


def test_norms_and_power_are_global_over_the_tree():
    x0 = _start(seed=2)
    flat, _ = _run_ours(fire_module.fire(), x0, _lj_forces, 60)
    split, _ = _run_ours(fire_module.fire(), x0, _lj_forces, 60, split=True)
    np.testing.assert_allclose(np.asarray(split), np.asarray(flat), rtol=0, atol=1e-12)


def test_first_step_is_an_euler_step_from_rest():
    g = jnp.asarray([3.0, -4.0])  # |dt² F| = 0.05 < max_step
    dr, state = fire_module.fire(dt=0.1).update(g, fire_module.fire(dt=0.1).init(jnp.zeros(2)))
    np.testing.assert_allclose(np.asarray(dr), -0.01 * np.asarray(g), rtol=1e-15)
    assert bool(state.started) and int(state.n_pos) == 0
    big = jnp.asarray([300.0, -400.0])  # |dr| = 5 > 0.2: scaled to the max_step ball
    dr, _ = fire_module.fire().update(big, fire_module.fire().init(jnp.zeros(2)))
    np.testing.assert_allclose(float(jnp.linalg.norm(dr)), 0.2, rtol=1e-14)


def test_all_numeric_hyperparameters_vmap_and_keep_dtype():
    x0 = jnp.asarray(_start(seed=3), jnp.float32)

    def energy(x):
        d = x[None, :, :] - x[:, None, :]
        r2 = jnp.sum(d**2, axis=-1) + jnp.eye(NUM_ATOMS)
        s6 = (1.0 / r2) ** 3
        return 0.5 * jnp.sum((4.0 * (s6 * s6 - s6)) * (1 - jnp.eye(NUM_ATOMS)))

    def run(numeric):
        opt = optimizers.build({"family": "fire", **numeric})

        def body(carry, _):
            x, state = carry
            dr, state = opt.update(jax.grad(energy)(x), state, x)
            return (optax.apply_updates(x, dr), state), energy(x)

        (x, state), energies = jax.lax.scan(body, (x0, opt.init(x0)), None, length=40)
        return x, state, energies

    population = {k: jnp.asarray([v, v * 1.05, v * 0.9], jnp.float64) for k, v in ASE_DEFAULTS.items()}
    population["f_inc"] = jnp.asarray([1.1, 1.2, 1.05])
    x, state, energies = jax.jit(jax.vmap(run))(population)
    assert x.dtype == jnp.float32 and state.dt.dtype == jnp.float32 and state.velocity.dtype == jnp.float32
    for i in range(3):
        xi, _, ei = jax.jit(run)({k: v[i] for k, v in population.items()})
        np.testing.assert_allclose(np.asarray(energies[i]), np.asarray(ei), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(x[i]), np.asarray(xi), rtol=1e-5, atol=1e-6)
    assert float(energies[0, -1]) < float(energies[0, 0])


def test_bad_hyperparameters_are_rejected():
    with pytest.raises(ValueError, match="f_dec"):
        optimizers.build({"family": "fire", "f_dec": 1.5})
    with pytest.raises(ValueError, match="dt"):
        optimizers.build({"family": "fire", "dt": 0.0})


# ------------------------------------------------------------------------------------------------------
# Against ASE (reference)


@pytest.mark.reference
@pytest.mark.parametrize(
    "overrides", [{}, {"dt": 0.5, "max_step": 0.1, "n_min": 2, "f_a": 0.9}], ids=["ase_default", "aggressive"]
)
def test_matches_ase_fire_on_lennard_jones(overrides):
    pytest.importorskip("ase")
    from ase import Atoms
    from ase.calculators.lj import LennardJones
    from ase.optimize import FIRE

    hps = {**ASE_DEFAULTS, **overrides}
    num_steps = 80
    x0 = _start(seed=4)
    atoms = Atoms("X" * NUM_ATOMS, positions=x0)
    atoms.calc = LennardJones()  # ASE default: rc = 3σ, energy shifted, forces unshifted
    ase_opt = FIRE(
        atoms,
        logfile=None,
        dt=hps["dt"],
        maxstep=hps["max_step"],
        dtmax=hps["dtmax"],
        Nmin=hps["n_min"],
        finc=hps["f_inc"],
        fdec=hps["f_dec"],
        astart=hps["a_start"],
        fa=hps["f_a"],
        a=hps["a_start"],
    )
    ase_positions, ase_dts = [], []
    for _ in range(num_steps):
        ase_opt.step()
        ase_positions.append(atoms.get_positions().copy())
        ase_dts.append(ase_opt.dt)
    assert min(ase_dts) < hps["dt"] < max(ase_dts)  # both uphill resets and dt growth happened

    probe = Atoms("X" * NUM_ATOMS, positions=x0)
    probe.calc = LennardJones()

    def ase_forces(x):
        probe.set_positions(x)
        return probe.get_forces()

    ours, our_dts = _run_ours(optimizers.build({"family": "fire", **hps}), x0, ase_forces, num_steps)
    worst = max(float(np.max(np.abs(a - e))) for a, e in zip(ours, ase_positions, strict=True))
    assert worst <= 1e-10, f"largest position difference vs ASE FIRE: {worst:.3g}"
    np.testing.assert_allclose(our_dts, ase_dts, rtol=1e-14)
