"""The learned MLP optimizer: features and full updates against a NumPy transcription of MLPLOpt, the
hand-set default weights against their derivation, shapes and validation, traced weights, and
(``reference``) against learned_optimization's own ``MLPLOpt`` with equal weights."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers
from optimizers import learned_mlp as lm

DECAYS = np.asarray([0.1, 0.5, 0.9, 0.99, 0.999, 0.9999])
TIMESCALES = np.asarray([1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000], dtype=np.float64)
SHAPES = {"w": (5, 3), "b": (3,), "s": ()}


# ------------------------------------------------------------------------------------------------------
# NumPy transcription of MLPLOpt (learned_optimization/learned_optimizers/mlp_lopt.py, spec §5.1)


def _np_features(g, p, m, t, tau_dtype=np.float64):
    """19 features per element: [g, p, m_1..m_6] second-moment normalised over the tensor, tanh(t/T-1)
    (computed in ``tau_dtype``)."""
    full = p.shape if p.shape else (1,)
    x = np.concatenate([g.reshape(full + (1,)), p.reshape(full + (1,)), m.reshape(full + (6,))], axis=-1)
    axes = tuple(range(len(full)))
    x = x / np.sqrt(1e-5 + np.mean(x**2, axis=axes, keepdims=True))
    if tau_dtype == np.float32:  # as MLPLOpt under x64: XLA's float32 tanh (not NumPy's) of float32 t/T - 1
        tau = np.asarray(jnp.tanh(jnp.float32(t) / jnp.asarray(TIMESCALES, jnp.float32) - 1.0), np.float64)
    else:
        tau = np.tanh(t / TIMESCALES - 1.0)
    return np.concatenate([x, np.broadcast_to(tau, full + (11,))], axis=-1)


def _np_layers(flat, hidden):
    sizes = [19, *hidden, 2]
    layers, offset = [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = flat[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out)
        offset += fan_in * fan_out
        layers.append((w, flat[offset : offset + fan_out]))
        offset += fan_out
    assert offset == len(flat)
    return layers


def _np_mlp(layers, x):
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if i < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return x


def _np_run(theta0, grad_fn, flat, hidden, num_steps, step_mult=1e-3, exp_mult=1e-3, tau_dtype=np.float64):
    theta = {k: v.copy() for k, v in theta0.items()}
    m = {k: np.zeros(np.shape(v) + (6,)) for k, v in theta.items()}
    layers = _np_layers(np.asarray(flat, np.float64), hidden)
    out = []
    for t in range(num_steps):
        grads = grad_fn(theta, t)
        for k in theta:
            m[k] = DECAYS * m[k] + (1 - DECAYS) * grads[k][..., None]
            o = _np_mlp(layers, _np_features(grads[k], theta[k], m[k], t, tau_dtype))
            step = o[..., 0] * np.exp(o[..., 1] * exp_mult) * step_mult
            theta[k] = theta[k] - step.reshape(np.shape(theta[k]))
        out.append({k: v.copy() for k, v in theta.items()})
    return out


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    theta0 = {k: rng.normal(size=s) for k, s in SHAPES.items()}
    curvature = {k: np.exp(rng.normal(size=s)) for k, s in SHAPES.items()}
    noise = [{k: 0.3 * rng.normal(size=s) for k, s in SHAPES.items()} for _ in range(40)]

    def grad_fn(theta, t):
        return {k: curvature[k] * theta[k] + noise[t][k] for k in SHAPES}

    return theta0, grad_fn


def _run_ours(opt, theta0, grad_fn, num_steps):
    params = jax.tree.map(jnp.asarray, theta0)
    state = opt.init(params)
    update = jax.jit(opt.update)
    out = []
    for t in range(num_steps):
        grads = jax.tree.map(jnp.asarray, grad_fn(jax.tree.map(np.asarray, params), t))
        updates, state = update(grads, state, params)
        params = optax.apply_updates(params, updates)
        out.append(jax.tree.map(np.asarray, params))
    return out


def _random_flat(hidden, seed=0, scale=0.5):
    """Random weights *and biases* (init_weights has zero biases, which would hide bias bugs)."""
    return np.random.default_rng(seed).normal(size=lm.num_weights(hidden)) * scale


# ------------------------------------------------------------------------------------------------------
# Shapes and the weight layout


@pytest.mark.parametrize("hidden", [(32, 32), (8,), (), (4, 6, 5)])
def test_weight_count_and_layout(hidden):
    sizes = [19, *hidden, 2]
    expected = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    assert lm.num_weights(hidden) == expected
    flat = np.arange(expected, dtype=np.float64)
    layers = lm.unflatten_weights(flat, hidden)
    ref = _np_layers(flat, hidden)
    assert [tuple(w.shape) for w, _ in layers] == [(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    for (w, b), (rw, rb) in zip(layers, ref, strict=True):
        np.testing.assert_array_equal(np.asarray(w), rw)
        np.testing.assert_array_equal(np.asarray(b), rb)


def test_default_size_is_mlplopts_1762():
    assert lm.num_weights() == 19 * 32 + 32 + 32 * 32 + 32 + 32 * 2 + 2 == 1762
    assert lm.NUM_INPUTS == 19


def test_init_weights_is_truncated_normal_over_sqrt_fan_in():
    flat = lm.init_weights(jax.random.key(0))
    assert flat.shape == (1762,)
    for (w, b), fan_in in zip(lm.unflatten_weights(flat), (19, 32, 32), strict=True):
        w, b = np.asarray(w), np.asarray(b)
        assert np.all(b == 0.0)
        assert np.max(np.abs(w)) * np.sqrt(fan_in) <= 2.0 + 1e-12  # truncated at two standard deviations
        # std of a N(0,1) truncated to [-2, 2] is 0.8796; loose statistical bounds
        assert 0.6 < np.std(w) * np.sqrt(fan_in) < 1.15
    assert not np.array_equal(np.asarray(flat), np.asarray(lm.init_weights(jax.random.key(1))))


# ------------------------------------------------------------------------------------------------------
# Features and the full update against the transcription


@pytest.mark.parametrize("shape", [(5, 3), (7,), ()], ids=["matrix", "vector", "scalar"])
def test_features_match_transcription(shape):
    rng = np.random.default_rng(1)
    g, p = rng.normal(size=shape) * 3, rng.normal(size=shape)
    m = rng.normal(size=shape + (6,)) * np.logspace(-3, 1, 6)
    ours = np.asarray(lm.tensor_features(jnp.asarray(g), jnp.asarray(p), jnp.asarray(m), jnp.asarray(7)))
    expected = _np_features(g, p, m, 7.0)
    assert ours.shape == shape + (19,)
    np.testing.assert_allclose(ours, expected.reshape(ours.shape), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("hidden", [(32, 32), (6,)])
def test_update_matches_transcription(hidden):
    theta0, grad_fn = _problem(seed=2)
    flat = _random_flat(hidden, seed=3)
    hps = dict(step_mult=0.01, exp_mult=0.3)
    expected = _np_run(theta0, grad_fn, flat, hidden, 25, **hps)
    opt = optimizers.build(
        {"family": "learned_mlp", "weights": flat.tolist(), "hidden_sizes": list(hidden), **hps}
    )
    ours = _run_ours(opt, theta0, grad_fn, 25)
    for step, (a, e) in enumerate(zip(ours, expected, strict=True)):
        for k in SHAPES:
            np.testing.assert_allclose(a[k], e[k], rtol=1e-10, atol=1e-12, err_msg=f"step {step + 1}, {k}")
    # the magnitude output matters with these weights (exp_mult is not a no-op)
    other = _np_run(theta0, grad_fn, flat, hidden, 25, step_mult=0.01, exp_mult=0.0)
    assert not np.allclose(other[-1]["w"], expected[-1]["w"], rtol=1e-6)


@pytest.mark.parametrize("hidden", [(32, 32), (2,), (3, 2, 4), ()])
def test_default_weights_are_normalised_momentum_descent(hidden):
    """The hand-set weights give u = -step_mult·m_0.9/√(1e-5 + mean(m_0.9²)) per tensor (derivation in
    the module docstring), whatever the hidden sizes."""
    theta0, grad_fn = _problem(seed=4)
    step_mult = 0.02
    params = {k: v.copy() for k, v in theta0.items()}
    m09 = {k: np.zeros(np.shape(v)) for k, v in params.items()}
    ours_params = jax.tree.map(jnp.asarray, theta0)
    opt = lm.learned_mlp(step_mult=step_mult, hidden_sizes=hidden)
    state = opt.init(ours_params)
    update = jax.jit(opt.update)
    for t in range(15):
        grads = grad_fn(params, t)
        updates, state = update(jax.tree.map(jnp.asarray, grads), state, jax.tree.map(jnp.asarray, params))
        for k in params:
            m09[k] = 0.9 * m09[k] + 0.1 * grads[k]
            expected = -step_mult * m09[k] / np.sqrt(1e-5 + np.mean(m09[k] ** 2))
            np.testing.assert_allclose(np.asarray(updates[k]), expected, rtol=1e-12, atol=1e-15)
            params[k] = params[k] + expected


def test_default_weights_are_sparse_and_read_only():
    flat = lm.default_weights()
    assert flat.shape == (1762,) and np.count_nonzero(flat) == 2 + 2 + 2
    with pytest.raises(ValueError):
        flat[0] = 1.0


# ------------------------------------------------------------------------------------------------------
# Validation, JSON values and traced weights


def test_bad_values_are_rejected_with_the_field_name():
    with pytest.raises(ValueError, match="weights"):
        optimizers.build({"family": "learned_mlp", "weights": [0.0] * 10})
    with pytest.raises(ValueError, match="weights"):
        optimizers.build({"family": "learned_mlp", "weights": [0.0] * 1761 + [float("nan")]})
    with pytest.raises(ValueError, match="hidden_sizes"):
        optimizers.build({"family": "learned_mlp", "hidden_sizes": [32, 0]})
    with pytest.raises(ValueError, match="hidden_sizes"):
        optimizers.build({"family": "learned_mlp", "hidden_sizes": [1]})  # default weights need >= 2 units
    with pytest.raises(ValueError, match="params"):
        opt = lm.learned_mlp()
        opt.update(jnp.ones(3), opt.init(jnp.ones(3)))


def test_json_lists_equal_arrays_and_tuples():
    theta0, grad_fn = _problem(seed=5)
    flat = _random_flat((4, 4), seed=6)
    from_json = optimizers.build({"family": "learned_mlp", "weights": flat.tolist(), "hidden_sizes": [4, 4]})
    direct = lm.learned_mlp(weights=jnp.asarray(flat), hidden_sizes=(4, 4))
    a = _run_ours(from_json, theta0, grad_fn, 5)[-1]
    b = _run_ours(direct, theta0, grad_fn, 5)[-1]
    for k in SHAPES:
        np.testing.assert_array_equal(a[k], b[k])


def test_population_of_weights_under_vmap_equals_separate_runs():
    hidden = (8,)
    population = jnp.asarray(np.stack([_random_flat(hidden, seed=s, scale=0.3) for s in range(3)]))
    params = {k: jnp.ones(s) for k, s in SHAPES.items()}

    def run(weights, step_mult):
        opt = lm.learned_mlp(step_mult=step_mult, weights=weights, hidden_sizes=hidden)

        def body(carry, _):
            p, state = carry
            grads = jax.grad(lambda q: sum(jnp.sum(jnp.sin(v) + v**2) for v in q.values()))(p)
            updates, state = opt.update(grads, state, p)
            return (optax.apply_updates(p, updates), state), p["w"][0, 0]

        return jax.lax.scan(body, (params, opt.init(params)), None, length=10)[1]

    steps = jnp.asarray([0.01, 0.02, 0.03])
    batched = np.asarray(jax.jit(jax.vmap(run))(population, steps))
    for i in range(3):
        single = np.asarray(jax.jit(run)(population[i], steps[i]))
        np.testing.assert_allclose(batched[i], single, rtol=1e-12, atol=1e-15)
    assert not np.allclose(batched[0], batched[1])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["float32", "bfloat16"])
def test_float64_traced_weights_keep_param_dtype(dtype):
    params = {k: jnp.full(s, 0.5, dtype) for k, s in SHAPES.items()}

    @jax.jit
    def two_steps(weights, step_mult):
        opt = lm.learned_mlp(step_mult=step_mult, weights=weights, hidden_sizes=(8,))
        state = opt.init(params)
        p = params
        for _ in range(2):
            updates, state = opt.update(jax.tree.map(lambda x: x * 2, p), state, p)
            p = optax.apply_updates(p, updates)
        return p, updates, state

    p, updates, state = two_steps(jnp.asarray(_random_flat((8,))), jnp.asarray(0.01, jnp.float64))
    assert all(x.dtype == dtype for x in jax.tree.leaves(p) + jax.tree.leaves(updates))
    assert all(m.dtype == jnp.float32 for m in jax.tree.leaves(state.momenta))


# ------------------------------------------------------------------------------------------------------
# Against learned_optimization's MLPLOpt (reference)


def _mlplopt_theta(flat, hidden):
    """Our flat layout as the Haiku params of ``hk.nets.MLP`` (``mlp/~/linear_i`` with ``w``, ``b``)."""
    return {
        f"mlp/~/linear_{i}": {"w": jnp.asarray(w), "b": jnp.asarray(b)}
        for i, (w, b) in enumerate(_np_layers(flat, hidden))
    }


NUM_REF_STEPS = 20


@pytest.mark.slow
@pytest.mark.reference
def test_matches_learned_optimization_mlplopt():
    pytest.importorskip("learned_optimization")
    from inner_tasks import lopt_adapter

    try:
        lopt_adapter.ensure_learned_optimization()
    except ImportError as err:  # not installed with its four extra dependencies
        pytest.skip(str(err))
    from learned_optimization.learned_optimizers import mlp_lopt

    hidden = (32, 32)
    lopt = mlp_lopt.MLPLOpt(compute_summary=False)
    template = lopt.init(jax.random.PRNGKey(0))
    flat = _random_flat(hidden, seed=7, scale=0.3)
    theta = _mlplopt_theta(flat, hidden)
    assert jax.tree.structure(theta) == jax.tree.structure(template)
    assert jax.tree.map(jnp.shape, theta) == jax.tree.map(jnp.shape, template)

    theta0, grad_fn = _problem(seed=8)
    upstream = lopt.opt_fn(theta)
    state = upstream.init(jax.tree.map(jnp.asarray, theta0), num_steps=NUM_REF_STEPS)
    # eager, as the transcription's float32 tanh below (a jitted program may fuse it differently)
    update = functools.partial(upstream.update, loss=jnp.asarray(0.0))
    expected = []
    for t in range(NUM_REF_STEPS):
        params = jax.tree.map(np.asarray, upstream.get_params(state))
        state = update(state, jax.tree.map(jnp.asarray, grad_fn(params, t)))
        expected.append(jax.tree.map(np.asarray, upstream.get_params(state)))

    def worst(trajectory):
        return max(
            float(np.max(np.abs(a[k] - e[k])))
            for a, e in zip(trajectory, expected, strict=True)
            for k in SHAPES
        )

    # MLPLOpt computes its time features in float32 even under x64 (``_tanh_embedding``): the NumPy
    # transcription with float32 time features reproduces it to rounding, which shows that this is the
    # only difference; ours (float64 time features) then differs by that rounding passed through the MLP.
    transcription = _np_run(theta0, grad_fn, flat, hidden, NUM_REF_STEPS, tau_dtype=np.float32)
    assert worst(transcription) <= 1e-13, f"transcription vs MLPLOpt: {worst(transcription):.3g}"
    ours = _run_ours(lm.learned_mlp(weights=flat, hidden_sizes=hidden), theta0, grad_fn, NUM_REF_STEPS)
    assert worst(ours) <= 1e-8, f"largest parameter difference vs MLPLOpt: {worst(ours):.3g}"
    ours32 = _np_run(theta0, grad_fn, flat, hidden, NUM_REF_STEPS)
    assert max(float(np.max(np.abs(a[k] - e[k]))) for a, e in zip(ours, ours32) for k in SHAPES) <= 1e-12
