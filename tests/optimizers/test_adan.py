"""Adan: the official update (timm reference, NumPy transcription), and how optax.adan differs from it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers
from optimizers.adan import PAPER_POINTS, adan, scale_by_adan

NUM_STEPS = 50
SHAPES = ((5, 4), (3,))
CASES = {
    "no_decay": {"weight_decay": 0.0, "no_prox": False},
    "prox": {"weight_decay": 0.02, "no_prox": False},
    "no_prox": {"weight_decay": 0.02, "no_prox": True},
}


def _problem(seed=0, num_steps=NUM_STEPS):
    """Initial params and a fixed gradient sequence (scales vary per step, some signs flip)."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=s) for s in SHAPES]
    grads = []
    for _ in range(num_steps):
        scale = np.exp(rng.normal())
        grads.append([rng.normal(size=s) * scale for s in SHAPES])
    return params, grads


def _lr_sequence(num_steps=NUM_STEPS):
    schedule = optax.piecewise_constant_schedule(1e-2, {20: 0.2, 35: 10.0})
    return schedule, [float(schedule(t)) for t in range(num_steps)]


def _official(params, grads, lrs, *, b1=0.98, b2=0.92, b3=0.99, eps=1e-8, weight_decay=0.0, no_prox=False,
              nesterov=None, eps_root=0.0):  # fmt: skip
    """Spec §1.2 (sail-sg/Adan ``_single_tensor_adan``) in float64 NumPy, one tensor at a time.

    ``nesterov`` is the coefficient of the gradient difference in ``n`` and in the step (official: ``b2``);
    with ``1 - b2``, ``eps_root`` and ``no_prox=True`` this models optax 0.2.8 (spec §1.5).
    """
    coef = b2 if nesterov is None else nesterov
    out, states = [], []
    for index, theta in enumerate(params):
        theta = np.array(theta, dtype=np.float64)
        m, v, n = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta)
        prev = None
        history = []
        for t, (step_grads, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
            g = np.asarray(step_grads[index], dtype=np.float64)
            if t == 1:
                prev = g
            d = g - prev
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * d
            n = b3 * n + (1 - b3) * (g + coef * d) ** 2
            denom = np.sqrt(n / (1 - b3**t) + eps_root) + eps
            step = lr / (1 - b1**t) * m / denom + lr * coef / (1 - b2**t) * v / denom
            if no_prox:
                theta = theta * (1 - lr * weight_decay) - step
            else:
                theta = (theta - step) / (1 + lr * weight_decay)
            prev = g
            history.append(theta.copy())
        out.append(history)
        states.append((m, v, n))
    return [list(step) for step in zip(*out, strict=True)], states


def _ours(opt, params, grads, dtype=jnp.float64):
    p = [jnp.asarray(x, dtype) for x in params]
    state = opt.init(p)
    step = jax.jit(opt.update)
    out = []
    for g in grads:
        updates, state = step([jnp.asarray(x, dtype) for x in g], state, p)
        p = optax.apply_updates(p, updates)
        out.append(p)
    return out, state


def _assert_close(ours, expected, rtol, atol=0.0):
    for t, (a_step, b_step) in enumerate(zip(ours, expected, strict=True)):
        for a, b in zip(a_step, b_step, strict=True):
            np.testing.assert_allclose(
                np.asarray(a, np.float64), b, rtol=rtol, atol=atol, err_msg=f"step {t + 1}"
            )


def _max_relative(ours, expected):
    return max(
        float(np.max(np.abs(np.asarray(a, np.float64) - b) / np.abs(b)))
        for a_step, b_step in zip(ours, expected, strict=True)
        for a, b in zip(a_step, b_step, strict=True)
    )


# --- official update --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_numpy_transcription_float64(case):
    params, grads = _problem()
    expected, _ = _official(params, grads, [1e-2] * NUM_STEPS, **CASES[case])
    ours, _ = _ours(adan(1e-2, **CASES[case]), params, grads)
    _assert_close(ours, expected, rtol=1e-12)


def test_schedule_enters_step_and_proximal_decay():
    """A learning-rate schedule is evaluated at the 0-based step count, in the step and in 1/(1 + lr wd)."""
    params, grads = _problem(seed=1)
    schedule, lrs = _lr_sequence()
    expected, _ = _official(params, grads, lrs, weight_decay=0.05)
    ours, _ = _ours(adan(schedule, weight_decay=0.05), params, grads)
    _assert_close(ours, expected, rtol=1e-12)


def test_first_step_uses_zero_difference():
    """Step 1 sets g_prev = g: the difference EMA stays exactly 0, n = (1 - b3) g^2."""
    g = [jnp.asarray([1.0, -2.0, 3.0])]
    opt = adan(1e-3)
    _, state = opt.update(g, opt.init(g))
    np.testing.assert_array_equal(np.asarray(state.v[0]), 0.0)
    np.testing.assert_allclose(np.asarray(state.n[0]), 0.01 * np.asarray(g[0]) ** 2, rtol=1e-15)
    _, state = opt.update([g[0] * 2], state)
    assert float(jnp.min(jnp.abs(state.v[0]))) > 0


def test_scale_by_adan_chained_with_decay_and_lr_is_no_prox_adan():
    params, grads = _problem(seed=2)
    chained = optax.chain(
        scale_by_adan(), optax.add_decayed_weights(0.03), optax.scale_by_learning_rate(5e-3)
    )
    a, _ = _ours(chained, params, grads)
    b, _ = _ours(adan(5e-3, weight_decay=0.03, no_prox=True), params, grads)
    _assert_close(a, [[np.asarray(x) for x in step] for step in b], rtol=1e-12)


# --- timm.optim.Adan (the reference package) --------------------------------------------------------------


def _timm(params, grads, lrs, dtype, *, foreach, **kwargs):
    torch = pytest.importorskip("torch")
    from tests.optimizers.timm_loader import load_timm_adan

    try:
        timm_adan = load_timm_adan()
    except ImportError as err:
        pytest.skip(f"timm not available: {err}")
    tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    tensors = [torch.nn.Parameter(torch.tensor(np.asarray(p, dtype), dtype=tdtype)) for p in params]
    opt = timm_adan(tensors, lr=lrs[0], foreach=foreach, **kwargs)
    out = []
    for g, lr in zip(grads, lrs, strict=True):
        for tensor, gi in zip(tensors, g, strict=True):
            tensor.grad = torch.tensor(np.asarray(gi, dtype), dtype=tdtype)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        out.append([t.detach().numpy().astype(np.float64) for t in tensors])
    return out


@pytest.mark.reference
@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_matches_timm(dtype, case, foreach):
    """50 steps against timm.optim.Adan on the same gradients: float32 <= 1e-5, float64 <= 1e-12 relative."""
    params, grads = _problem(seed=3)
    schedule, lrs = _lr_sequence()
    params = [np.asarray(p, dtype) for p in params]
    grads = [[np.asarray(g, dtype) for g in step] for step in grads]
    expected = _timm(params, grads, lrs, dtype, foreach=foreach, **CASES[case])
    ours, state = _ours(adan(schedule, **CASES[case]), params, grads, dtype=jnp.dtype(dtype))
    assert all(leaf.dtype == dtype for leaf in jax.tree.leaves((ours[-1], state.m, state.v, state.n)))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert _max_relative(ours, expected) <= rtol


# --- optax.adan is a different algorithm ------------------------------------------------------------------


def test_optax_adan_differs_from_the_official_update():
    """optax 0.2.8 uses 1 - b2 where the official code uses b2 (spec §1.5, optax PR #1715).

    optax follows the NumPy model with coefficient 1 - b2, eps_root=1e-8 and decoupled decay. Even with
    eps_root=0 it agrees with the official update only at step 1 (where the difference is 0) and drifts far
    from it afterwards. If this test fails, optax changed ``adan``: re-check spec §1.5 before relying on it.
    """
    params, grads = _problem(seed=4)
    lrs = [1e-2] * NUM_STEPS
    official, _ = _official(params, grads, lrs, weight_decay=0.02, no_prox=True)
    modelled, _ = _official(
        params, grads, lrs, weight_decay=0.02, no_prox=True, nesterov=1 - 0.92, eps_root=1e-8
    )
    theirs, _ = _ours(optax.adan(1e-2, weight_decay=0.02), params, grads)
    _assert_close(theirs, modelled, rtol=1e-12)
    without_eps_root, _ = _ours(optax.adan(1e-2, eps_root=0.0, weight_decay=0.02), params, grads)
    _assert_close(without_eps_root[:1], official[:1], rtol=1e-12)
    assert _max_relative(without_eps_root, official) > 0.05, "optax.adan now matches the official update"
    ours, _ = _ours(adan(1e-2, weight_decay=0.02, no_prox=True), params, grads)
    _assert_close(ours, official, rtol=1e-12)


# --- construction, registry, dtypes -----------------------------------------------------------------------


def test_presets_build_through_the_registry():
    entry = optimizers.REGISTRY["adan"]
    assert entry.presets is PAPER_POINTS and entry.presets["official"]["b2"] == 0.92
    g = [jnp.ones(3)]
    for preset in entry.presets.values():
        opt = optimizers.build({"family": "adan", **preset})
        updates, _ = opt.update(g, opt.init(g), g)
        assert bool(jnp.all(updates[0] < 0))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["float32", "bfloat16"])
def test_traced_float64_hyperparameters_keep_dtype(dtype):
    names = ("learning_rate", "b1", "b2", "b3", "eps", "weight_decay")
    params = {"w": jnp.ones((2, 3), dtype)}

    @jax.jit
    def step(values, params):
        opt = adan(**dict(zip(names, values, strict=True)))
        state = opt.init(params)
        for scale in (0.5, -0.25):
            updates, state = opt.update(
                jax.tree.map(lambda p, s=scale: jnp.full_like(p, s), params), state, params
            )
            params = optax.apply_updates(params, updates)
        return updates, state

    values = [jnp.asarray(v, jnp.float64) for v in (1e-3, 0.98, 0.92, 0.99, 1e-8, 0.02)]
    updates, state = step(values, params)
    for tree in (updates, state.m, state.v, state.n, state.prev_grad):
        assert tree["w"].dtype == dtype


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"b1": 1.0}, "b1"),
        ({"b2": -0.1}, "b2"),
        ({"b3": 1.5}, "b3"),
        ({"eps": -1.0}, "eps"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"no_prox": "yes"}, "no_prox"),
    ],
)
def test_bad_input_raises_value_error_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        adan(**kwargs)


def test_weight_decay_needs_params():
    opt = adan(weight_decay=0.02)
    with pytest.raises(ValueError, match="params"):
        opt.update(jnp.ones(2), opt.init(jnp.ones(2)))


def test_update_is_elementwise():
    allowed = {
        "abs", "add", "broadcast_in_dim", "convert_element_type", "div", "eq", "integer_pow", "jit", "lt",
        "max", "min", "mul", "neg", "pjit", "pow", "select_n", "sqrt", "sub", "square", "rsqrt",
    }  # fmt: skip
    params = {"w": jnp.ones((4, 3)), "b": jnp.ones(3)}
    for no_prox in (False, True):
        opt = adan(weight_decay=0.02, no_prox=no_prox)
        jaxpr = jax.make_jaxpr(opt.update)(params, opt.init(params), params)
        used = _primitives(jaxpr.jaxpr)
        assert used <= allowed, f"non-elementwise primitives {sorted(used - allowed)}"


def _primitives(jaxpr) -> set[str]:
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for value in eqn.params.values():
            inner = value if hasattr(value, "eqns") else getattr(value, "jaxpr", None)
            if inner is not None and hasattr(inner, "eqns"):
                names |= _primitives(inner)
    return names
