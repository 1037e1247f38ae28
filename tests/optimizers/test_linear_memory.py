"""Tests of the linear-memory optimizers with RLLC (``optimizers.linear_memory``).

Equations and numbered checks: ``shared/specs/rllc-spec.md``; the float64 NumPy reference is
``shared/specs/rllc_reference.py`` (imported by path; tests that need it skip when it is absent).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import importlib.util
import io
import json
import math
import re
import struct
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers
from optimizers import linear_memory as lm

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
REFERENCE_PATH = SHARED / "specs" / "rllc_reference.py"
MNIST_DIR = SHARED / "data" / "mnist"


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ref():
    """The spec's NumPy reference module (its import runs and prints its own checks, then exits)."""
    if not REFERENCE_PATH.exists():
        pytest.skip(
            f"RLLC reference not found at {REFERENCE_PATH} (needs the shared/ folder beside the repo)"
        )
    spec = importlib.util.spec_from_file_location("rllc_reference", REFERENCE_PATH)
    module = importlib.util.module_from_spec(spec)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        try:
            spec.loader.exec_module(module)
        except SystemExit as done:
            assert done.code == 0, "the reference's own checks failed:\n" + printed.getvalue()
    return module


class Objective(NamedTuple):
    """``∇f(θ, t) = H θ - c + 0.3 tanh θ + noise[t mod len(noise)]``: non-quadratic, stochastic (spec §3)."""

    hessian: np.ndarray
    shift: np.ndarray
    noise: np.ndarray


# An objective of the spec's recipe, independent of the reference file.
_D = 12
_RNG = np.random.default_rng(7)
_Q = _RNG.normal(size=(_D, _D))
OBJECTIVE = Objective(
    _Q @ _Q.T / _D + 0.1 * np.eye(_D), _RNG.normal(size=_D), 0.05 * _RNG.normal(size=(1000, _D))
)
_THETA0 = _RNG.normal(size=_D)
_CUT = 5  # parameters as a two-leaf tree {"a": [5], "b": [7, 1]}: every test exercises the sum over leaves


def _split(theta: jax.Array) -> dict[str, jax.Array]:
    return {"a": theta[:_CUT], "b": theta[_CUT:].reshape(-1, 1)}


def _flat(tree) -> jax.Array:
    return jnp.concatenate([tree["a"].ravel(), tree["b"].ravel()])


def _memory_tree(m0: np.ndarray) -> dict[str, jax.Array]:
    """A memory matrix M (d x k, columns = units) in the transform's layout: leaves ``(k,) + leaf.shape``."""
    return {"a": jnp.asarray(m0[:_CUT].T), "b": jnp.asarray(m0[_CUT:].T)[..., None]}


def _set_memory(state, memory):
    rllc_state = state[0]
    assert isinstance(rllc_state, lm.LinearMemoryState)
    return (rllc_state._replace(memory=memory),) + tuple(state[1:])


def _trajectory(opt, objective, theta0, num_steps, *, memory0=None, return_state=False):
    """Run ``opt`` on ``objective`` for steps t = 1 ... num_steps; the iterates ``[num_steps + 1, d]``."""
    params = _split(jnp.asarray(theta0))
    state = opt.init(params)
    if memory0 is not None:
        state = _set_memory(state, _memory_tree(memory0))
    hessian, shift, noise = (jnp.asarray(a) for a in objective)

    def body(carry, t):
        params, state = carry
        theta = _flat(params)
        grad = hessian @ theta - shift + 0.3 * jnp.tanh(theta) + noise[t % noise.shape[0]]
        updates, state = opt.update(_split(grad), state, params)
        params = optax.apply_updates(params, updates)
        return (params, state), _flat(params)

    run = jax.jit(lambda params, state: jax.lax.scan(body, (params, state), jnp.arange(1, num_steps + 1)))
    (_, state), thetas = run(params, state)
    thetas = np.concatenate([np.asarray(theta0)[None], np.asarray(thetas)])
    return (thetas, state) if return_state else thetas


def _leafwise(opt: optax.GradientTransformation) -> optax.GradientTransformation:
    """``opt`` applied to every leaf separately (one independent state per leaf)."""

    def init(params):
        return jax.tree.map(opt.init, params)

    def update(updates, state, params=None):
        pairs = {name: opt.update(updates[name], state[name], params[name]) for name in updates}
        return {n: u for n, (u, _) in pairs.items()}, {n: s for n, (_, s) in pairs.items()}

    return optax.GradientTransformation(init, update)


def _reference_objective(ref) -> Objective:
    return Objective(ref.H, ref.cvec, ref.NOISE)


def _random_propagators(kinds, rng):
    """Propagator dicts of the given (kind, n) with random, stable parameters."""
    out = []
    for kind, n in kinds:
        if kind == "real":
            out.append({"kind": "real", "lam": float(rng.uniform(-0.95, 0.95))})
        elif kind == "jordan":
            out.append({"kind": "jordan", "n": n, "lam": float(rng.uniform(-0.8, 0.8))})
        elif kind == "complex":
            out.append(
                {"kind": "complex", "r": float(rng.uniform(0.3, 0.9)), "phi": float(rng.uniform(0, math.pi))}
            )
        else:
            r, phi = float(rng.uniform(0.3, 0.8)), float(rng.uniform(0, math.pi))
            out.append({"kind": "complex_jordan", "n": n, "r": r, "phi": phi})
    return out


def _reference_matrices(ref, propagators):
    blocks = []
    for p in propagators:
        if p["kind"] == "real":
            blocks.append(ref.R(p["lam"]))
        elif p["kind"] == "jordan":
            blocks.append(ref.Rn(p["n"], p["lam"]))
        elif p["kind"] == "complex":
            blocks.append(ref.C(p["r"] * np.exp(1j * p["phi"])))
        else:
            blocks.append(ref.Cn(p["n"], p["r"] * np.exp(1j * p["phi"])))
    return ref.union(*blocks)


# Unions covering every kind, k up to 6.
UNIONS = {
    "R_C_R3": [("real", 1), ("complex", 1), ("jordan", 3)],
    "C2_R_R": [("complex_jordan", 2), ("real", 1), ("real", 1)],
    "C3": [("complex_jordan", 3)],
    "R2_C2": [("jordan", 2), ("complex_jordan", 2)],
    "R_R4": [("real", 1), ("jordan", 4)],
}


# --------------------------------------------------------------------------------------------------
# propagators
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(UNIONS))
def test_propagator_matrices_equal_reference(ref, name):
    propagators = _random_propagators(UNIONS[name], np.random.default_rng(len(name)))
    a_ref, b_ref = _reference_matrices(ref, propagators)
    got = lm.propagator_matrices(propagators)
    assert got.transition.shape == a_ref.shape == (lm.propagator_size(propagators),) * 2
    np.testing.assert_allclose(got.transition, a_ref, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(got.input_weights, b_ref)
    assert np.all(got.pattern[a_ref != 0])


def test_complex_units_are_real_and_imaginary_parts_of_complex_momentum():
    z = 0.9 * np.exp(2j * np.pi / 3)
    opt = lm.scale_by_linear_memory(0.0, propagators=[{"kind": "complex", "r": 0.9, "phi": 2 * np.pi / 3}])
    grads = np.random.default_rng(0).normal(size=(20, 5))
    state = opt.init(jnp.zeros(5))
    momentum = np.zeros(5, complex)
    for g in grads:
        _, state = opt.update(jnp.asarray(g), state)
        momentum = z * momentum + g
    np.testing.assert_allclose(
        np.asarray(state.memory[0]) + 1j * np.asarray(state.memory[1]), momentum, atol=1e-12
    )


def test_jordan_units_follow_binomial_abstract_rule():
    """Unit i of R_n(λ) weighs g_{t-j} by binom(j, i) λ^(j-i) (spec §2.3, check 6): feed one impulse."""
    lam, n = 0.9, 3
    opt = lm.scale_by_linear_memory(0.0, propagators=[{"kind": "jordan", "n": n, "lam": lam}])
    state = opt.init(jnp.zeros(1))
    rows = []
    for j in range(10):
        _, state = opt.update(jnp.ones(1) if j == 0 else jnp.zeros(1), state)
        rows.append(np.asarray(state.memory)[:, 0])
    expected = [[math.comb(j, i) * lam ** (j - i) if j >= i else 0.0 for i in range(n)] for j in range(10)]
    np.testing.assert_allclose(np.array(rows), np.array(expected), atol=1e-12)


def _run_population_member(values, params):
    """Five steps of LM-RLLC on R(λ) ∪ C_2(r e^{iφ}) from ``values = (λ, r, φ)``."""
    lam, r, phi = values
    propagators = [{"kind": "real", "lam": lam}, {"kind": "complex_jordan", "n": 2, "r": r, "phi": phi}]
    opt = lm.linear_memory(0.05, propagators=propagators)
    weights = jnp.arange(1.0, 5.0)

    def body(carry, _):
        params, state = carry
        updates, state = opt.update(2 * weights * (params - 1.0), state, params)
        return (optax.apply_updates(params, updates), state), None

    return jax.lax.scan(body, (params, opt.init(params)), None, length=5)[0][0]


def test_traced_parameters_share_one_compilation_and_match_concrete_ones():
    """A population differing in λ, r, φ compiles once (traced), and equals the Python-float builds."""
    traces = []

    def counted(values, params):
        traces.append(1)
        return _run_population_member(values, params)

    jitted = jax.jit(counted)
    population = [(0.0, 0.5, 0.3), (0.9, 0.8, 2.0), (-0.5, 0.2, 1.0)]
    params = jnp.zeros(4)
    traced = [jitted(tuple(jnp.asarray(v) for v in point), params) for point in population]
    assert len(traces) == 1 and jitted._cache_size() == 1
    columns = tuple(jnp.asarray(c) for c in zip(*population))
    vmapped = jax.jit(jax.vmap(_run_population_member, in_axes=(0, None)))(columns, params)
    np.testing.assert_allclose(vmapped, np.stack(traced), rtol=1e-12, atol=1e-14)
    concrete = jax.jit(functools.partial(_run_population_member, population[1]))(params)  # Python floats
    np.testing.assert_allclose(traced[1], concrete, rtol=1e-12, atol=1e-14)
    assert not np.allclose(traced[0], traced[1])


# --------------------------------------------------------------------------------------------------
# agreement with the NumPy reference (float64)
# --------------------------------------------------------------------------------------------------


def _relative_pinv(original):
    """The reference's Tikhonov pinv with the spec's relative ε (ε·trace(MᵀM)/k; 0 when M = 0)."""

    def pinv_apply(M, g, eps):
        trace = float(np.trace(M.T @ M))
        if trace == 0.0:
            return np.zeros(M.shape[1])
        return original(M, g, eps * trace / M.shape[1])

    return pinv_apply


@pytest.mark.parametrize("mode", ["absolute", "relative"])
@pytest.mark.parametrize("name", sorted(UNIONS))
def test_matches_reference_on_random_unions(ref, monkeypatch, name, mode):
    rng = np.random.default_rng(sum(map(ord, name)))
    propagators = _random_propagators(UNIONS[name], rng)
    a, b = _reference_matrices(ref, propagators)
    k = a.shape[0]
    law0 = rng.uniform(0.5, 1.5, size=k)
    c1, c2, eps, steps = 1e-3, 1e-2, 1e-3, 150
    if mode == "relative":
        monkeypatch.setattr(ref, "pinv_apply", _relative_pinv(ref.pinv_apply))
    expected = ref.run_lm_rllc(ref.grad_fn, ref.THETA0, a, b, c1, c2, law0, steps, eps=eps)
    assert np.all(np.isfinite(expected)) and np.abs(expected).max() < 1e3
    opt = lm.linear_memory(
        c1, c2, eps, propagators=propagators, initial_law=law0.tolist(), relaxation_mode=mode
    )
    got = _trajectory(opt, _reference_objective(ref), ref.THETA0, steps)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    assert np.abs(expected[-1] - expected[0]).max() > 1e-2  # the run moves


@pytest.mark.parametrize("mode", ["absolute", "eigen"])
def test_matches_reference_exact_pseudo_inverse_from_full_rank_memory(ref, mode):
    """ε = 0 (exact Moore-Penrose, lstsq in the reference) from a full-rank M_0."""
    rng = np.random.default_rng(3)
    propagators = _random_propagators(UNIONS["R_C_R3"], rng)
    a, b = _reference_matrices(ref, propagators)
    m0 = 0.1 * rng.normal(size=(ref.D, a.shape[0]))
    expected = ref.run_lm_rllc(ref.grad_fn, ref.THETA0, a, b, 1e-3, 1e-2, np.ones(6), 200, eps=0.0, M0=m0)
    opt = lm.linear_memory(1e-3, 1e-2, 0.0, propagators=propagators, relaxation_mode=mode)
    got = _trajectory(opt, _reference_objective(ref), ref.THETA0, 200, memory0=m0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


def test_learning_law_matches_reference(ref):
    propagators = [{"kind": "real", "lam": 0.0}, {"kind": "real", "lam": 0.9}]
    a, b = _reference_matrices(ref, propagators)
    _, laws = ref.run_lm_rllc(
        ref.grad_fn, ref.THETA0, a, b, 1e-2, 3e-2, [1.0, 1.0], 60, eps=1e-3, record_L=True
    )
    opt = lm.linear_memory(1e-2, 3e-2, 1e-3, relaxation_mode="absolute", record_law={"length": 60})
    _, state = _trajectory(opt, _reference_objective(ref), ref.THETA0, 60, return_state=True)
    np.testing.assert_allclose(lm.learning_law_trace(state), laws[1:], rtol=0, atol=1e-10)
    assert np.abs(laws[-1] - laws[0]).max() > 1e-2  # the law moved


# --------------------------------------------------------------------------------------------------
# Lemma 4.1 and App. A: fixed laws on R(0) ∪ R(μ) are SGD, momentum SGD and NAG
# --------------------------------------------------------------------------------------------------


@functools.cache
def _digits_task():
    """A real task: an MLP on scikit-learn's 8x8 digits, float32, a fixed minibatch sequence."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = jnp.asarray((digits.data / 16.0).astype(np.float32))
    y = jnp.asarray(digits.target.astype(np.int32))
    rng = np.random.default_rng(0)
    params = {
        "w1": jnp.asarray(rng.normal(size=(64, 32)).astype(np.float32) / 8.0),
        "b1": jnp.zeros(32, jnp.float32),
        "w2": jnp.asarray(rng.normal(size=(32, 10)).astype(np.float32) / math.sqrt(32.0)),
        "b2": jnp.zeros(10, jnp.float32),
    }
    batches = jnp.asarray(rng.integers(0, len(y), size=(200, 32)))

    def loss(p, idx):
        h = jax.nn.relu(x[idx] @ p["w1"] + p["b1"])
        logits = h @ p["w2"] + p["b2"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y[idx]).mean()

    return params, loss, batches


_ETA, _MU = 0.05, 0.9
DIGITS_OPTIMIZERS = {
    # App. A / Lemma 4.1: the fixed-law paper points on R(0) ∪ R(0.9), learning rate c1 = η
    "lm_nag": lambda: lm.linear_memory(_ETA, **lm.PRESETS["nag"]),
    "lm_sgd": lambda: lm.linear_memory(_ETA, **lm.PRESETS["sgd"]),
    "lm_momentum": lambda: lm.linear_memory(_ETA, **lm.PRESETS["momentum"]),
    "lm_R0.8": lambda: lm.linear_memory(
        _ETA, 0.0, propagators=[{"kind": "real", "lam": 0.8}], initial_law=[1.0]
    ),
    "optax_nesterov": lambda: optax.sgd(_ETA, momentum=_MU, nesterov=True),
    "optax_sgd": lambda: optax.sgd(_ETA),
    "optax_momentum": lambda: optax.sgd(_ETA, momentum=_MU),
    "optax_momentum_0.8": lambda: optax.sgd(_ETA, momentum=0.8),
}


@functools.cache
def _digits_run(name: str) -> dict[str, np.ndarray]:
    """The parameters after each of 200 steps of ``DIGITS_OPTIMIZERS[name]`` (leading axis: step)."""
    params, loss, batches = _digits_task()
    opt = DIGITS_OPTIMIZERS[name]()

    def body(carry, idx):
        p, s = carry
        updates, s = opt.update(jax.grad(loss)(p, idx), s, p)
        p = optax.apply_updates(p, updates)
        return (p, s), p

    run = jax.jit(lambda params: jax.lax.scan(body, (params, opt.init(params)), batches)[1])
    return jax.tree.map(np.asarray, run(params))


@pytest.mark.parametrize(
    "ours, baseline",
    [
        ("lm_nag", "optax_nesterov"),
        ("lm_sgd", "optax_sgd"),
        ("lm_momentum", "optax_momentum"),
        ("lm_R0.8", "optax_momentum_0.8"),
    ],
    ids=["nag_lemma_4_1", "sgd", "momentum", "single_unit_momentum"],
)
def test_fixed_laws_equal_sgd_momentum_and_nag(ours, baseline):
    """A = diag(0, μ), b = (1, 1), c2 = 0: law (1, μ) is NAG (Lemma 4.1), (1, 0) SGD, (0, 1) momentum SGD;
    one unit R(λ) with law [1] is momentum SGD (spec §3). 200 float32 steps on a real task."""
    assert lm.PRESETS["nag"]["initial_law"] == [1.0, _MU]
    assert lm.PRESETS["nag"]["propagators"] == [{"kind": "real", "lam": 0.0}, {"kind": "real", "lam": _MU}]
    got, expected = _digits_run(ours), _digits_run(baseline)
    for name in expected:
        assert got[name].dtype == np.float32
        np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-6, err_msg=name)
    assert np.abs(expected["w1"][-1] - expected["w1"][0]).max() > 1e-2  # 200 steps that train


def test_nag_is_not_momentum():
    """The equivalence tests can fail: NAG's and momentum's trajectories differ by far more than 1e-6."""
    nag, momentum = _digits_run("lm_nag"), _digits_run("optax_momentum")
    assert np.abs(nag["w1"][-1] - momentum["w1"][-1]).max() > 1e-3


def test_fixed_law_keeps_the_law_and_a_traced_zero_rate_matches():
    """Fixed-law mode: a Python 0 skips the law update; a traced 0 computes it and changes nothing."""
    opt = lm.linear_memory(0.02, 0.0, initial_law=[0.3, 0.7])
    static, state = _trajectory(opt, OBJECTIVE, _THETA0, 50, return_state=True)
    np.testing.assert_array_equal(lm.learning_law(state), [0.3, 0.7])
    traced_opt = optax.inject_hyperparams(lm.linear_memory)(
        learning_rate=0.02, learning_law_rate=0.0, initial_law=[0.3, 0.7]
    )
    np.testing.assert_allclose(_trajectory(traced_opt, OBJECTIVE, _THETA0, 50), static, rtol=0, atol=1e-14)
    adaptive = _trajectory(lm.linear_memory(0.02, 0.01, initial_law=[0.3, 0.7]), OBJECTIVE, _THETA0, 50)
    assert np.abs(adaptive - static).max() > 1e-6


# --------------------------------------------------------------------------------------------------
# Theorem 5.2 (basis independence), spec §4
# --------------------------------------------------------------------------------------------------

_R0_R2 = [{"kind": "real", "lam": 0.0}, {"kind": "jordan", "n": 2, "lam": 0.9}]


def _transformed(t, *, relaxation=0.0, mode="absolute"):
    """O(A, b, L_0) and O(T⁻¹AT, Tᵀb, T⁻¹L_0): the original and the transformed optimizers."""
    prop = lm.propagator_matrices(_R0_R2)
    a, b = prop.transition, prop.input_weights
    t_inv = np.linalg.inv(t)
    kwargs = {"relaxation_mode": mode}
    original = optax.chain(
        lm.scale_by_rllc(a, b, 1e-2, relaxation, initial_law=[1.0, 1.0, 1.0], **kwargs), optax.scale(-1e-3)
    )
    law = t_inv @ np.ones(3)
    transformed = optax.chain(
        lm.scale_by_rllc(t_inv @ a @ t, t.T @ b, 1e-2, relaxation, initial_law=law, **kwargs),
        optax.scale(-1e-3),
    )
    return original, transformed


def test_theorem_5_2_same_trajectory_for_full_rank_memory():
    rng = np.random.default_rng(1)
    t = rng.normal(size=(3, 3)) + 2 * np.eye(3)
    assert abs(np.linalg.det(t)) > 0.1 and not np.allclose(t @ t.T, np.eye(3))
    m0 = 0.1 * rng.normal(size=(_D, 3))
    original, transformed = _transformed(t)
    a = _trajectory(original, OBJECTIVE, _THETA0, 400, memory0=m0)
    b = _trajectory(transformed, OBJECTIVE, _THETA0, 400, memory0=m0 @ t)
    assert np.all(np.isfinite(a)) and np.abs(a[-1] - a[0]).max() > 0.1
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-8)


def test_theorem_5_2_orthogonal_basis_with_relative_relaxation():
    """With ε > 0 the equivalence holds exactly for orthogonal T (trace(MᵀM) and the Tikhonov term are
    invariant)."""
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    m0 = 0.1 * rng.normal(size=(_D, 3))
    original, transformed = _transformed(q, relaxation=1e-3, mode="relative")
    a = _trajectory(original, OBJECTIVE, _THETA0, 400, memory0=m0)
    b = _trajectory(transformed, OBJECTIVE, _THETA0, 400, memory0=m0 @ q)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-9)


def test_theorem_5_2_fails_for_rank_deficient_memory():
    """Expected failure (spec §4 caveat 1): from M_0 = 0 the first steps have rank-deficient memory, where
    (MT)⁺ ≠ T⁻¹M⁺, so the two bases give different trajectories even with the exact pseudo-inverse."""
    t = np.random.default_rng(1).normal(size=(3, 3)) + 2 * np.eye(3)
    original, transformed = _transformed(t, relaxation=0.0, mode="eigen")
    a = _trajectory(original, OBJECTIVE, _THETA0, 400)
    b = _trajectory(transformed, OBJECTIVE, _THETA0, 400)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b))
    assert np.abs(a - b).max() > 1e-3


def test_theorem_5_2_general_basis_with_relaxation_differs():
    """Expected difference (spec §4 caveat 2): ε > 0 with a non-orthogonal T gives O(ε) differences."""
    rng = np.random.default_rng(1)
    t = rng.normal(size=(3, 3)) + 2 * np.eye(3)
    m0 = 0.1 * rng.normal(size=(_D, 3))
    original, transformed = _transformed(t, relaxation=1e-3, mode="absolute")
    a = _trajectory(original, OBJECTIVE, _THETA0, 400, memory0=m0)
    b = _trajectory(transformed, OBJECTIVE, _THETA0, 400, memory0=m0 @ t)
    assert np.abs(a - b).max() > 1e-6


# --------------------------------------------------------------------------------------------------
# law scope, diagnostics, schedules, dtypes, inject_hyperparams
# --------------------------------------------------------------------------------------------------


def test_global_law_differs_from_per_leaf_and_per_leaf_equals_separate_optimizers():
    kwargs = {"learning_rate": 0.02, "learning_law_rate": 0.05}
    per_leaf = _trajectory(lm.linear_memory(**kwargs, law_scope="per_leaf"), OBJECTIVE, _THETA0, 60)
    global_ = _trajectory(lm.linear_memory(**kwargs), OBJECTIVE, _THETA0, 60)
    assert np.abs(per_leaf - global_).max() > 1e-6
    separate = _trajectory(_leafwise(lm.linear_memory(**kwargs)), OBJECTIVE, _THETA0, 60)
    np.testing.assert_allclose(separate, per_leaf, rtol=0, atol=1e-12)


def test_law_trace_records_the_learning_law():
    every_step = lm.linear_memory(0.02, 0.05, record_law={"length": 10})
    _, state = _trajectory(every_step, OBJECTIVE, _THETA0, 10, return_state=True)
    laws = np.asarray(lm.learning_law_trace(state))
    np.testing.assert_array_equal(laws[-1], lm.learning_law(state))
    assert len({tuple(law) for law in laws}) == 10  # the law changes every step
    sparse = lm.linear_memory(0.02, 0.05, record_law={"length": 4, "every": 3})
    _, state = _trajectory(sparse, OBJECTIVE, _THETA0, 10, return_state=True)
    trace = np.asarray(lm.learning_law_trace(state))
    assert trace.shape == (4, 2)
    np.testing.assert_array_equal(trace[:3], laws[[2, 5, 8]])
    assert np.all(np.isnan(trace[3]))


def _scaled_by_schedule(schedule) -> optax.GradientTransformation:
    """Step t (t = 1, 2, ...) multiplies the direction by -schedule(t - 1)."""

    def update(updates, count, params=None):
        return jax.tree.map(lambda u: -schedule(count) * u, updates), count + 1

    return optax.GradientTransformation(lambda params: jnp.zeros([], jnp.int32), update)


def test_learning_rate_schedule():
    schedule = optax.linear_schedule(0.03, 0.005, 40)
    got = _trajectory(lm.linear_memory(schedule, 0.02), OBJECTIVE, _THETA0, 40)
    expected = optax.chain(lm.scale_by_linear_memory(0.02), _scaled_by_schedule(schedule))
    np.testing.assert_allclose(got, _trajectory(expected, OBJECTIVE, _THETA0, 40), rtol=0, atol=1e-13)
    constant = _trajectory(lm.linear_memory(0.03, 0.02), OBJECTIVE, _THETA0, 40)
    assert np.abs(constant - got).max() > 1e-4


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("memory_dtype", [None, "float32"])
def test_dtypes_with_float64_traced_hyperparameters(dtype, memory_dtype):
    params = {"w": jnp.full((3, 4), 0.5, dtype), "b": jnp.zeros(4, dtype)}

    @jax.jit
    def step(hps, params):
        opt = lm.linear_memory(
            *hps, memory_dtype=memory_dtype, propagators=lm.PRESETS["rllc_R2_0.9"]["propagators"]
        )
        state = opt.init(params)
        for _ in range(3):
            updates, state = opt.update(jax.tree.map(lambda p: p - 1, params), state, params)
            params = optax.apply_updates(params, updates)
        return updates, state

    updates, state = step(tuple(jnp.asarray(v, jnp.float64) for v in (0.01, 0.01, 1e-4)), params)
    assert all(u.dtype == dtype for u in jax.tree.leaves(updates))
    expected_memory = dtype if memory_dtype is None else jnp.float32
    assert all(m.dtype == expected_memory for m in jax.tree.leaves(state[0].memory))
    assert state[0].law.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(state[0].law)))


def test_inject_hyperparams_with_structural_options():
    kwargs = {"propagators": lm.PRESETS["rllc_C_0.9_2pi3"]["propagators"], "record_law": {"length": 5}}
    injected = optax.inject_hyperparams(lm.linear_memory)(
        learning_rate=0.02, learning_law_rate=0.03, **kwargs
    )
    direct = lm.linear_memory(0.02, 0.03, **kwargs)
    np.testing.assert_allclose(
        _trajectory(injected, OBJECTIVE, _THETA0, 30),
        _trajectory(direct, OBJECTIVE, _THETA0, 30),
        rtol=0,
        atol=1e-13,
    )


# --------------------------------------------------------------------------------------------------
# validation, registry entry, paper points
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"propagators": []}, "propagators"),
        ({"propagators": {"kind": "real", "lam": 0.9}}, "propagators"),
        ({"propagators": [{"kind": "momentum", "lam": 0.9}]}, "propagators[0].kind"),
        ({"propagators": [{"kind": "real"}]}, "propagators[0]"),
        ({"propagators": [{"kind": "real", "lam": 0.9, "n": 2}]}, "propagators[0]"),
        (
            {"propagators": [{"kind": "real", "lam": 0.0}, {"kind": "jordan", "n": 0, "lam": 0.9}]},
            "propagators[1].n",
        ),
        ({"propagators": [{"kind": "complex", "r": -0.5, "phi": 1.0}]}, "propagators[0].r"),
        ({"propagators": [{"kind": "real", "lam": float("nan")}]}, "propagators[0].lam"),
        ({"initial_law": [1.0, 2.0, 3.0]}, "initial_law"),
        ({"initial_law": "zeros"}, "initial_law"),
        ({"relaxation_mode": "svd"}, "relaxation_mode"),
        ({"law_scope": "layer"}, "law_scope"),
        ({"learning_law_rate": -0.1}, "learning_law_rate"),
        ({"relaxation": -1e-4}, "relaxation"),
        ({"record_law": {"length": -1}}, "record_law.length"),
        ({"record_law": {"every": 2}}, "record_law"),
        ({"memory_dtype": "float16"}, "memory_dtype"),
    ],
)
def test_bad_input_raises_value_error_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match="^" + re.escape(field) + ":"):
        lm.linear_memory(**kwargs)


def test_registry_validation_names_the_field():
    with pytest.raises(ValueError, match=r"^propagators: \[0\]\.kind"):
        optimizers.build({"family": "linear_memory", "propagators": [{"kind": "quaternion"}]})
    with pytest.raises(ValueError, match=r"^record_law: every"):
        optimizers.build({"family": "linear_memory", "record_law": {"length": 2, "every": 0}})


PAPER_POINTS = ("sgd", "momentum", "nag", "rllc_R0.9", "rllc_R0_R0.9", "rllc_R2_0.9", "rllc_C_0.9_2pi3")


def test_presets_are_the_paper_points_and_json_round_trip():
    entry = optimizers.REGISTRY["linear_memory"]
    assert set(entry.presets) == set(PAPER_POINTS) and entry.presets is lm.PRESETS
    assert lm.PRESETS["nag"]["initial_law"] == [1.0, 0.9] and lm.PRESETS["nag"]["learning_law_rate"] == 0.0
    assert lm.PRESETS["rllc_C_0.9_2pi3"]["propagators"][0]["phi"] == pytest.approx(2 * math.pi / 3)
    for name, preset in entry.presets.items():
        spec = json.loads(json.dumps({"family": "linear_memory", **preset}))
        opt = optimizers.build(spec)
        assert isinstance(opt, optax.GradientTransformation), name


# --------------------------------------------------------------------------------------------------
# paper points on the RLLC paper's MNIST MLP (784-128-128-128-10 ReLU, batch 128, normalised inputs)
# --------------------------------------------------------------------------------------------------


def _read_idx(path: Path) -> np.ndarray:
    """A minimal IDX reader (big-endian magic 0x0000080<ndim>, uint32 sizes, uint8 data), gzip."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path.name}: not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


@functools.cache
def _mnist():
    images = MNIST_DIR / "t10k-images-idx3-ubyte.gz"
    labels = MNIST_DIR / "t10k-labels-idx1-ubyte.gz"
    if not (images.exists() and labels.exists()):
        pytest.skip(f"real MNIST files not found in {MNIST_DIR}")
    x = _read_idx(images).reshape(-1, 784).astype(np.float32) / 255.0
    x = (x - x.mean()) / x.std()
    return jnp.asarray(x), jnp.asarray(_read_idx(labels).astype(np.int32))


def _mnist_losses(preset: str, learning_rates: tuple[float, ...], num_steps: int = 500) -> np.ndarray:
    x, y = _mnist()
    sizes = (784, 128, 128, 128, 10)
    keys = jax.random.split(jax.random.PRNGKey(0), len(sizes))
    params = [
        (jax.random.normal(k, (m, n), jnp.float32) * math.sqrt(2.0 / m), jnp.zeros(n, jnp.float32))
        for k, m, n in zip(keys, sizes[:-1], sizes[1:])
    ]
    batches = jax.random.randint(keys[-1], (num_steps, 128), 0, x.shape[0])

    def loss(params, idx):
        h = x[idx]
        for w, b in params[:-1]:
            h = jax.nn.relu(h @ w + b)
        logits = h @ params[-1][0] + params[-1][1]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y[idx]).mean()

    def train(learning_rate):
        opt = lm.linear_memory(learning_rate, **lm.PRESETS[preset])

        def body(carry, idx):
            p, s = carry
            value, grads = jax.value_and_grad(loss)(p, idx)
            updates, s = opt.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), value

        return jax.lax.scan(body, (params, opt.init(params)), batches)[1]

    return np.asarray(jax.jit(jax.vmap(train))(jnp.asarray(learning_rates, jnp.float32)))


@pytest.mark.slow
@pytest.mark.parametrize("preset", PAPER_POINTS)
def test_paper_points_train_mnist_mlp_without_divergence(preset):
    """500 steps at the middle of the paper's c1 grid {0.001, ..., 0.3}: 0.01 and 0.03 (c2 = 0.01)."""
    losses = _mnist_losses(preset, (0.01, 0.03))
    assert np.all(np.isfinite(losses)), preset
    initial = losses[:, :10].mean(axis=1)
    final = losses[:, -50:].mean(axis=1)
    assert np.all(losses.max(axis=1) < 10 * initial), preset
    assert np.all(final < 0.35 * initial), (preset, initial, final)
