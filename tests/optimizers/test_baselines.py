"""Baselines: the optimizers written here against NumPy transcriptions of the authors' update rules,
the optax wrappers against direct optax calls, and (``reference``) the wrappers against ``torch.optim``.

Every transcription below is written from the equations (paper and the authors' published code, cited
per function), in float64, independently of ``optimizers.baselines``; gradients come from a fixed
NumPy function of the current parameters, so both sides see the same gradient sequence.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import optimizers
from optimizers import baselines

NUM_STEPS = 25
SHAPES = {"w": (3, 4), "b": (4,), "s": ()}


def _problem(scale: float = 1.0, seed: int = 0):
    """Initial params and a gradient function g(θ, t) = scale·(H θ + c_t) per leaf (NumPy, float64)."""
    rng = np.random.default_rng(seed)
    theta0 = {k: rng.normal(size=s) for k, s in SHAPES.items()}
    curvature = {k: np.exp(rng.normal(size=s)) for k, s in SHAPES.items()}
    noise = [
        {k: rng.normal(size=s) * np.exp(2 * rng.normal(size=s)) for k, s in SHAPES.items()}
        for _ in range(NUM_STEPS)
    ]

    def grad_fn(theta, t):
        return {k: scale * (curvature[k] * theta[k] + noise[t][k]) for k in SHAPES}

    return theta0, grad_fn


def _run_optax(opt, theta0, grad_fn, num_steps=NUM_STEPS):
    """Apply ``opt`` for ``num_steps`` steps; return the list of parameter trees (NumPy)."""
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


def _assert_trajectories_close(actual, expected, rtol=1e-10, atol=1e-12):
    assert len(actual) == len(expected)
    for step, (a, e) in enumerate(zip(actual, expected, strict=True)):
        for key in SHAPES:
            np.testing.assert_allclose(
                a[key], e[key], rtol=rtol, atol=atol, err_msg=f"step {step + 1}, leaf {key}"
            )


# ------------------------------------------------------------------------------------------------------
# NumPy transcriptions


def _np_adabound(theta0, grad_fn, *, lr, b1, b2, final_lr, gamma, eps, weight_decay, amsbound, schedule=None):
    """AdaBound, Luolc/AdaBound adabound.py (arXiv:1902.09843), per tensor; returns (trajectory, clip counts)."""
    theta = {k: v.copy() for k, v in theta0.items()}
    m = {k: np.zeros_like(v) for k, v in theta.items()}
    v = {k: np.zeros_like(x) for k, x in theta.items()}
    v_max = {k: np.zeros_like(x) for k, x in theta.items()}
    out, clipped = [], {"low": 0, "high": 0, "free": 0}
    for step in range(1, NUM_STEPS + 1):
        grads = grad_fn(theta, step - 1)
        lr_t = schedule(step - 1) if schedule else lr
        final_t = final_lr * lr_t / schedule(0) if schedule else final_lr
        lower = final_t * (1 - 1 / (gamma * step + 1))
        upper = final_t * (1 + 1 / (gamma * step))
        step_size = lr_t * np.sqrt(1 - b2**step) / (1 - b1**step)
        for k in theta:
            g = grads[k] + weight_decay * theta[k]
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g * g
            if amsbound:
                v_max[k] = np.maximum(v_max[k], v[k])
                denom = np.sqrt(v_max[k]) + eps
            else:
                denom = np.sqrt(v[k]) + eps
            raw = step_size / denom
            clipped["low"] += int(np.sum(raw < lower))
            clipped["high"] += int(np.sum(raw > upper))
            clipped["free"] += int(np.sum((raw >= lower) & (raw <= upper)))
            theta[k] = theta[k] - np.clip(raw, lower, upper) * m[k]
        out.append({k: x.copy() for k, x in theta.items()})
    return out, clipped


def _np_padam(theta0, grad_fn, *, lr, b1, b2, partial, eps, weight_decay, amsgrad):
    """Padam, uclaml/Padam Padam.py (arXiv:1806.06763): θ -= lr·√(1-b2^t)/(1-b1^t)·m/(√v̂+eps)^(2p)."""
    theta = {k: v.copy() for k, v in theta0.items()}
    m = {k: np.zeros_like(x) for k, x in theta.items()}
    v = {k: np.zeros_like(x) for k, x in theta.items()}
    v_max = {k: np.zeros_like(x) for k, x in theta.items()}
    out = []
    for step in range(1, NUM_STEPS + 1):
        grads = grad_fn(theta, step - 1)
        for k in theta:
            g = grads[k] + weight_decay * theta[k]
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g * g
            if amsgrad:
                v_max[k] = np.maximum(v_max[k], v[k])
                denom = np.sqrt(v_max[k]) + eps
            else:
                denom = np.sqrt(v[k]) + eps
            step_size = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
            theta[k] = theta[k] - step_size * m[k] / denom ** (partial * 2)
        out.append({k: x.copy() for k, x in theta.items()})
    return out


def _np_diffgrad(theta0, grad_fn, *, lr, b1, b2, eps, weight_decay):
    """diffGrad, shivram1987/diffGrad diffGrad_v2.py (arXiv:1909.11015): ξ = 1/(1+exp(-|g_prev - g|))."""
    theta = {k: v.copy() for k, v in theta0.items()}
    m = {k: np.zeros_like(x) for k, x in theta.items()}
    v = {k: np.zeros_like(x) for k, x in theta.items()}
    previous = {k: np.zeros_like(x) for k, x in theta.items()}
    out = []
    for step in range(1, NUM_STEPS + 1):
        grads = grad_fn(theta, step - 1)
        for k in theta:
            g = grads[k] + weight_decay * theta[k]
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g * g
            denom = np.sqrt(v[k]) + eps
            friction = 1.0 / (1.0 + np.exp(-np.abs(previous[k] - g)))
            previous[k] = g.copy()
            step_size = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
            theta[k] = theta[k] - step_size * (m[k] * friction) / denom
        out.append({k: x.copy() for k, x in theta.items()})
    return out


def _np_mars(theta0, grad_fn, *, lr, b1, b2, gamma, eps, weight_decay):
    """MARS-AdamW (approx.), AGI-Arena/MARS mars.py (arXiv:2411.10438), every tensor; also clip counts."""
    theta = {k: v.copy() for k, v in theta0.items()}
    m = {k: np.zeros_like(x) for k, x in theta.items()}
    v = {k: np.zeros_like(x) for k, x in theta.items()}
    last = {k: np.zeros_like(x) for k, x in theta.items()}
    out, normalised = [], {True: 0, False: 0}
    for step in range(1, NUM_STEPS + 1):
        grads = grad_fn(theta, step - 1)
        for k in theta:
            g = grads[k]
            c = g + gamma * (b1 / (1 - b1)) * (g - last[k])
            norm = np.linalg.norm(np.ravel(c))
            normalised[bool(norm > 1)] += 1
            if norm > 1:
                c = c / norm
            m[k] = b1 * m[k] + (1 - b1) * c
            v[k] = b2 * v[k] + (1 - b2) * c * c
            denom = (np.sqrt(v[k]) / np.sqrt(1 - b2**step) + eps) * (1 - b1**step)
            theta[k] = theta[k] - lr * (theta[k] * weight_decay + m[k] / denom)
            last[k] = g
        out.append({k: x.copy() for k, x in theta.items()})
    return out, normalised


# ------------------------------------------------------------------------------------------------------
# The optimizers written here against the transcriptions


@pytest.mark.parametrize("amsbound", [False, True])
def test_adabound_matches_transcription(amsbound):
    theta0, grad_fn = _problem(scale=3.0)
    hps = dict(b1=0.85, b2=0.9, final_lr=0.02, gamma=0.05, eps=1e-8, weight_decay=0.01)
    expected, clipped = _np_adabound(theta0, grad_fn, lr=0.1, amsbound=amsbound, **hps)
    assert clipped["low"] > 0 and clipped["high"] > 0 and clipped["free"] > 0, clipped
    opt = optimizers.build({"family": "adabound", "learning_rate": 0.1, "amsbound": amsbound, **hps})
    _assert_trajectories_close(_run_optax(opt, theta0, grad_fn), expected)
    other, _ = _np_adabound(theta0, grad_fn, lr=0.1, amsbound=not amsbound, **hps)
    assert not np.allclose(other[-1]["w"], expected[-1]["w"])  # the switch matters on this problem


def test_adabound_schedule_moves_the_bounds_like_the_code():
    """With a schedule the code's bounds are final_lr·lr_t/lr_0 (its ``final_lr * lr / base_lr``)."""
    theta0, grad_fn = _problem(scale=3.0, seed=1)

    def schedule(count):  # an exponential decay, float64 on both sides
        return 0.02 * 0.5 ** (jnp.asarray(count, jnp.float64) / 5)

    hps = dict(b1=0.9, b2=0.999, final_lr=0.1, gamma=0.02, eps=1e-8, weight_decay=0.0)
    expected, _ = _np_adabound(theta0, grad_fn, lr=None, amsbound=False, schedule=schedule, **hps)
    opt = baselines.adabound(schedule, **hps)
    _assert_trajectories_close(_run_optax(opt, theta0, grad_fn), expected)


@pytest.mark.parametrize(("partial", "amsgrad"), [(0.25, True), (0.125, False), (0.4, True)])
def test_padam_matches_transcription(partial, amsgrad):
    theta0, grad_fn = _problem(seed=2)
    hps = dict(b1=0.8, b2=0.95, partial=partial, eps=1e-6, weight_decay=0.02)
    expected = _np_padam(theta0, grad_fn, lr=0.05, amsgrad=amsgrad, **hps)
    opt = optimizers.build({"family": "padam", "learning_rate": 0.05, "amsgrad": amsgrad, **hps})
    _assert_trajectories_close(_run_optax(opt, theta0, grad_fn), expected)


def test_diffgrad_matches_transcription():
    theta0, grad_fn = _problem(seed=3)
    hps = dict(b1=0.8, b2=0.95, eps=1e-7, weight_decay=0.03)
    expected = _np_diffgrad(theta0, grad_fn, lr=0.02, **hps)
    opt = optimizers.build({"family": "diffgrad", "learning_rate": 0.02, **hps})
    _assert_trajectories_close(_run_optax(opt, theta0, grad_fn), expected)


def test_mars_matches_transcription():
    # scale 0.3: some tensors have ‖c‖ > 1 (normalised), others not, and it changes along the run.
    theta0, grad_fn = _problem(scale=0.3, seed=4)
    hps = dict(b1=0.9, b2=0.98, gamma=0.05, eps=1e-8, weight_decay=0.1)
    expected, normalised = _np_mars(theta0, grad_fn, lr=0.01, **hps)
    assert normalised[True] > 0 and normalised[False] > 0, normalised
    opt = optimizers.build({"family": "mars", "learning_rate": 0.01, **hps})
    _assert_trajectories_close(_run_optax(opt, theta0, grad_fn), expected)


def test_padam_with_half_partial_and_no_eps_is_adam():
    theta0, grad_fn = _problem(seed=5)
    ours = _run_optax(baselines.padam(0.01, partial=0.5, eps=0.0, amsgrad=False), theta0, grad_fn)
    ref = _run_optax(optax.adam(0.01, eps=0.0), theta0, grad_fn)
    _assert_trajectories_close(ours, ref, rtol=1e-12)


def test_mars_without_correction_is_adamw_for_small_gradients():
    theta0, grad_fn = _problem(scale=1e-4, seed=6)  # ‖g‖ < 1: no normalisation
    ours = _run_optax(baselines.mars(0.01, gamma=0.0, weight_decay=0.1), theta0, grad_fn)
    ref = _run_optax(optax.adamw(0.01, b1=0.95, b2=0.99, weight_decay=0.1), theta0, grad_fn)
    _assert_trajectories_close(ours, ref, rtol=1e-12)


# ------------------------------------------------------------------------------------------------------
# Traced hyperparameters and dtypes for the optimizers written here

_OWN = {
    "adabound": dict(
        learning_rate=0.01, b1=0.85, b2=0.99, final_lr=0.05, gamma=0.05, eps=1e-8, weight_decay=0.01
    ),
    "padam": dict(learning_rate=0.05, b1=0.8, b2=0.95, partial=0.2, eps=1e-6, weight_decay=0.02),
    "diffgrad": dict(learning_rate=0.02, b1=0.8, b2=0.95, eps=1e-7, weight_decay=0.03),
    "mars": dict(learning_rate=0.01, b1=0.9, b2=0.98, gamma=0.05, eps=1e-8, weight_decay=0.1),
}


def _scan_run(family, structural, params, num_steps, numeric):
    opt = optimizers.build({"family": family, **structural, **numeric})
    _, grad_fn = _problem()

    def body(carry, t):
        p, state = carry
        grads = jax.grad(lambda q: sum(jnp.sum(jnp.sin(q[k]) * (k == "w") + q[k] ** 2) for k in q))(p)
        updates, state = opt.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), p["w"][0, 0]

    return jax.lax.scan(body, (params, opt.init(params)), jnp.arange(num_steps))[1]


@pytest.mark.parametrize("family", sorted(_OWN))
def test_all_numeric_hyperparameters_vmap(family):
    """Every numeric hyperparameter traced at once: a vmapped population equals separate runs."""
    base = _OWN[family]
    params = {k: jnp.ones(s) for k, s in SHAPES.items()}
    population = {k: jnp.asarray([v, v * 0.9, v * 0.5]) for k, v in base.items()}
    run = jax.jit(functools.partial(_scan_run, family, {}, params, 15))
    batched = np.asarray(jax.vmap(run)(population))
    for i in range(3):
        single = np.asarray(run({k: population[k][i] for k in base}))
        np.testing.assert_allclose(batched[i], single, rtol=1e-10, atol=1e-14)
    assert not np.allclose(batched[0], batched[2])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("family", sorted(_OWN))
def test_float64_traced_hyperparameters_keep_param_dtype(family, dtype):
    params = {k: jnp.full(s, 0.5, dtype=dtype) for k, s in SHAPES.items()}
    numeric = {k: jnp.asarray(v, jnp.float64) for k, v in _OWN[family].items()}
    opt = optimizers.build({"family": family, **numeric})
    state = opt.init(params)
    dtypes = jax.tree.map(lambda x: x.dtype, state)
    for _ in range(2):
        grads = jax.tree.map(lambda p: (p * 2).astype(dtype), params)
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    assert all(leaf.dtype == dtype for leaf in jax.tree.leaves(params))
    assert all(leaf.dtype == dtype for leaf in jax.tree.leaves(updates))
    assert jax.tree.map(lambda x: x.dtype, state) == dtypes


def test_out_of_range_hyperparameters_are_rejected():
    with pytest.raises(ValueError, match="partial"):
        optimizers.build({"family": "padam", "partial": 0.75})
    with pytest.raises(ValueError, match="gamma"):
        optimizers.build({"family": "adabound", "gamma": 1.0})
    with pytest.raises(ValueError, match="b1"):
        optimizers.build({"family": "mars", "b1": 1.0})


# ------------------------------------------------------------------------------------------------------
# The optax wrappers pass their hyperparameters through

_WRAPPED = [
    ("sgd", dict(learning_rate=0.03), lambda: optax.sgd(0.03)),
    ("momentum", dict(learning_rate=0.03, momentum=0.7), lambda: optax.sgd(0.03, momentum=0.7)),
    ("nag", dict(learning_rate=0.03, momentum=0.7), lambda: optax.sgd(0.03, momentum=0.7, nesterov=True)),
    (
        "adam",
        dict(learning_rate=0.02, b1=0.8, b2=0.95, eps=1e-6, eps_root=1e-9, nesterov=True),
        lambda: optax.adam(0.02, b1=0.8, b2=0.95, eps=1e-6, eps_root=1e-9, nesterov=True),
    ),
    (
        "adamw",
        dict(learning_rate=0.02, b1=0.8, b2=0.95, eps=1e-6, eps_root=1e-9, weight_decay=0.05),
        lambda: optax.adamw(0.02, b1=0.8, b2=0.95, eps=1e-6, eps_root=1e-9, weight_decay=0.05),
    ),
    (
        "amsgrad",
        dict(learning_rate=0.02, b1=0.8, b2=0.95, eps=1e-6, eps_root=1e-9, bias_correction_nu=False),
        lambda: optax.amsgrad(0.02, b1=0.8, b2=0.95, eps=1e-6, eps_root=1e-9, bias_correction_nu=False),
    ),
    (
        "lion",
        dict(learning_rate=0.002, b1=0.8, b2=0.95, weight_decay=0.05),
        lambda: optax.lion(0.002, b1=0.8, b2=0.95, weight_decay=0.05),
    ),
    (
        "adabelief",
        dict(learning_rate=0.02, b1=0.8, b2=0.95, eps=1e-10, eps_root=1e-12),
        lambda: optax.adabelief(0.02, b1=0.8, b2=0.95, eps=1e-10, eps_root=1e-12),
    ),
    (
        "rmsprop",
        dict(
            learning_rate=0.01,
            decay=0.8,
            eps=1e-5,
            initial_scale=0.1,
            momentum=0.5,
            eps_in_sqrt=False,
            centered=True,
            nesterov=True,
            bias_correction=True,
        ),
        lambda: optax.rmsprop(
            0.01,
            decay=0.8,
            eps=1e-5,
            initial_scale=0.1,
            momentum=0.5,
            eps_in_sqrt=False,
            centered=True,
            nesterov=True,
            bias_correction=True,
        ),
    ),
    ("rmsprop", dict(learning_rate=0.01, decay=0.8), lambda: optax.rmsprop(0.01, decay=0.8, momentum=None)),
    (
        "adopt",
        dict(learning_rate=0.01, b1=0.8, b2=0.99, eps=1e-5, nesterov=True, use_clipping=False),
        lambda: optax.contrib.adopt(0.01, b1=0.8, b2=0.99, eps=1e-5, nesterov=True, use_clipping=False),
    ),
    (
        "ademamix",
        dict(
            learning_rate=0.01,
            b1=0.8,
            b2=0.95,
            b3=0.999,
            alpha=3.0,
            eps=1e-7,
            eps_root=1e-9,
            weight_decay=0.01,
        ),
        lambda: optax.contrib.ademamix(
            0.01, b1=0.8, b2=0.95, b3=0.999, alpha=3.0, eps=1e-7, eps_root=1e-9, weight_decay=0.01
        ),
    ),
]


@pytest.mark.parametrize(
    ("family", "hps", "direct"), _WRAPPED, ids=[f"{w[0]}-{i}" for i, w in enumerate(_WRAPPED)]
)
def test_wrapper_equals_direct_optax(family, hps, direct):
    theta0, grad_fn = _problem(seed=7)
    ours = _run_optax(optimizers.build({"family": family, **hps}), theta0, grad_fn, num_steps=10)
    ref = _run_optax(direct(), theta0, grad_fn, num_steps=10)
    _assert_trajectories_close(ours, ref, rtol=1e-14, atol=0.0)
    # and the non-default values matter (the wrapper does not silently use optax's defaults)
    default = _run_optax(optimizers.build({"family": family}), theta0, grad_fn, num_steps=10)
    assert not np.allclose(default[-1]["w"], ours[-1]["w"])


def test_every_wrapped_family_is_checked():
    written_here = set(_OWN)
    assert {w[0] for w in _WRAPPED} | written_here == {e.family for e in baselines.ENTRIES}


# ------------------------------------------------------------------------------------------------------
# Against torch.optim (reference)


def _run_torch(make_opt, theta0, grad_fn, num_steps=NUM_STEPS):
    torch = pytest.importorskip("torch")
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in theta0.items()}
    opt = make_opt(list(tensors.values()))
    out = []
    for t in range(num_steps):
        grads = grad_fn({k: x.detach().numpy().copy() for k, x in tensors.items()}, t)
        for k, x in tensors.items():
            x.grad = torch.tensor(grads[k], dtype=torch.float64)
        opt.step()
        out.append({k: x.detach().numpy().copy() for k, x in tensors.items()})
    return out


_TORCH = [
    ("momentum", dict(learning_rate=0.03, momentum=0.8), lambda t, p: t.optim.SGD(p, lr=0.03, momentum=0.8)),
    (
        "nag",
        dict(learning_rate=0.03, momentum=0.8),
        lambda t, p: t.optim.SGD(p, lr=0.03, momentum=0.8, nesterov=True),
    ),
    (
        "adam",
        dict(learning_rate=0.02, b1=0.8, b2=0.95, eps=1e-6),
        lambda t, p: t.optim.Adam(p, lr=0.02, betas=(0.8, 0.95), eps=1e-6),
    ),
    (
        "adamw",
        dict(learning_rate=0.02, b1=0.8, b2=0.95, eps=1e-6, weight_decay=0.05),
        lambda t, p: t.optim.AdamW(p, lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05),
    ),
    (
        "rmsprop",
        dict(learning_rate=0.01, decay=0.9, eps=1e-6, momentum=0.5, eps_in_sqrt=False),
        lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6, momentum=0.5),
    ),
]


@pytest.mark.reference
@pytest.mark.parametrize(("family", "hps", "make"), _TORCH, ids=[w[0] for w in _TORCH])
def test_wrapper_matches_torch_optim(family, hps, make):
    torch = pytest.importorskip("torch")
    theta0, grad_fn = _problem(seed=8)
    expected = _run_torch(functools.partial(make, torch), theta0, grad_fn)
    ours = _run_optax(optimizers.build({"family": family, **hps}), theta0, grad_fn)
    _assert_trajectories_close(ours, expected, rtol=1e-10, atol=1e-12)
