"""Frankenstein: equivalences (Adam, AdamW, AMSGrad), the authors' code, the paper's invariants, every option.

The authors' code is checked against ``_code_reference``, a plain NumPy loop transcribed from the code
section of ``shared/specs/frankenstein-spec.md`` (it shares nothing with the implementation).
"""

from __future__ import annotations

import itertools
import math
import random

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers
from optimizers import frankenstein as fr

RNG_SEED = 20240607


def _run(opt, grads, params, *, jit=True):
    """Apply ``opt`` to a fixed gradient sequence (independent of the params); return every iterate."""
    state = opt.init(params)
    step = jax.jit(opt.update) if jit else opt.update
    out = []
    for g in grads:
        updates, state = step(g, state, params)
        params = optax.apply_updates(params, updates)
        out.append(params)
    return out, state


def _gradients(num_steps, shape, dtype, seed=RNG_SEED):
    """Gradients with varying scale, sign flips of whole steps and a few zeros."""
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.normal(size=(num_steps,) + (1,) * len(shape)))
    signs = np.where(rng.random((num_steps,) + (1,) * len(shape)) < 0.3, -1.0, 1.0)
    g = rng.normal(size=(num_steps, *shape)) * scale * signs
    g[rng.random(g.shape) < 0.05] = 0.0
    return [jnp.asarray(x, dtype=dtype) for x in g]


# --- Adam, AdamW, AMSGrad ---------------------------------------------------------------------------------


def _point(name, **overrides):
    return fr.from_point(name, **overrides)


@pytest.mark.parametrize(
    ("point", "overrides", "reference"),
    [
        ("adam", {}, lambda: optax.adam(1e-3)),
        ("adam", {"weight_decay": 0.1}, lambda: optax.adamw(1e-3, weight_decay=0.1)),
        ("amsgrad", {}, lambda: optax.amsgrad(1e-3)),
    ],
    ids=["adam", "adamw", "amsgrad"],
)
def test_adam_points_equal_optax_float32(point, overrides, reference):
    """100 steps on a fixed float32 gradient sequence: relative 1e-6 (plus 1 ulp-sized absolute slack)."""
    params = jnp.asarray(np.random.default_rng(1).normal(size=(6, 5)), jnp.float32)
    grads = _gradients(100, (6, 5), jnp.float32)
    ours, _ = _run(_point(point, **overrides), grads, params)
    theirs, _ = _run(reference(), grads, params)
    for a, b in zip(ours, theirs, strict=True):
        assert a.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("point", "overrides", "reference"),
    [
        ("adam", {"learning_rate": 3e-2}, lambda: optax.adam(3e-2)),
        ("adam", {"learning_rate": 3e-2, "weight_decay": 0.05}, lambda: optax.adamw(3e-2, weight_decay=0.05)),
        ("amsgrad", {"learning_rate": 3e-2}, lambda: optax.amsgrad(3e-2)),
    ],
    ids=["adam", "adamw", "amsgrad"],
)
def test_adam_points_equal_optax_on_a_loss(point, overrides, reference):
    """100 steps driven by the gradients of a least-squares loss (feedback through the params), float64."""
    rng = np.random.default_rng(2)
    a, y = jnp.asarray(rng.normal(size=(20, 4))), jnp.asarray(rng.normal(size=20))

    def loss(p):
        return jnp.mean((a @ p["w"] + p["b"] - y) ** 2)

    def trajectory(opt):
        def body(carry, _):
            p, state = carry
            updates, state = opt.update(jax.grad(loss)(p), state, p)
            p = optax.apply_updates(p, updates)
            return (p, state), p

        p = {"w": jnp.zeros(4), "b": jnp.zeros(())}
        return jax.jit(lambda p: jax.lax.scan(body, (p, opt.init(p)), length=100)[1])(p)

    ours, theirs = trajectory(_point(point, **overrides)), trajectory(reference())
    assert float(loss(jax.tree.map(lambda x: x[-1], ours))) < float(loss({"w": jnp.zeros(4), "b": 0.0}))
    for x, z in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(z), rtol=1e-10, atol=1e-14)


# --- the authors' code --------------------------------------------------------------------------------


def _code_reference(theta, grads, lrs, *, weight_decay=0.0, decoupled=True, eps=1e-8):
    """The spec's "Authors' code" section, line by line, in float64 NumPy (lr given per step)."""
    theta = np.array(theta, dtype=np.float64)
    m = np.zeros_like(theta)
    s = np.full_like(theta, lrs[0])
    vmax = np.zeros_like(theta)
    out = []
    for g, lr in zip(grads, lrs, strict=True):
        g = np.array(g, dtype=np.float64)
        b1 = 1 - np.clip((1 - 0.9) * np.sqrt(lr / 1e-3), 0.05, 0.95)
        if weight_decay:
            if decoupled:
                theta = theta * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * theta
        p = np.arccos(np.tanh(m * g)) / np.pi
        xi = 1.60653065971 / (1 + np.exp(-np.abs(s - p)))
        x = g * g + eps
        vh = np.maximum(vmax, x)
        rho = np.log(np.clip(np.e + 0.5 - p + np.sqrt(vh), np.exp(-0.2), np.exp(1.03)))
        step = lr * xi / np.sqrt(vh)
        m = rho * b1 * m - step * g
        theta = theta + b1 * m - step * g
        c = np.clip(x / s, 0, 1) * np.abs(p - 0.5)
        vmax = vh * (1 - c) + c * x
        s = x
        out.append(theta.copy())
    return out


CODE_CASES = {
    "no_decay": {},
    "decoupled": {"weight_decay": 0.05, "decoupled": True},
    "coupled": {"weight_decay": 0.05, "decoupled": False},
}


def _schedule_case():
    """lr 1e-3 for 20 steps, then 4e-2 (b1 hits its clip), then 5e-3: a schedule change in both directions."""
    boundaries = {20: 40.0, 35: 0.125}
    schedule = optax.piecewise_constant_schedule(1e-3, boundaries)
    return schedule, [float(schedule(t)) for t in range(50)]


@pytest.mark.parametrize("case", sorted(CODE_CASES))
def test_code_point_matches_numpy_transcription(case):
    kwargs = CODE_CASES[case]
    schedule, lrs = _schedule_case()
    assert lrs[0] == 1e-3 and math.isclose(lrs[25], 4e-2) and math.isclose(lrs[40], 5e-3)
    theta0 = np.random.default_rng(3).normal(size=(4, 3))
    grads = _gradients(50, (4, 3), jnp.float64)
    expected = _code_reference(theta0, [np.asarray(g) for g in grads], lrs, **kwargs)
    overrides = {"learning_rate": schedule}
    if kwargs:
        overrides.update(weight_decay=kwargs["weight_decay"], decoupled_weight_decay=kwargs["decoupled"])
    ours, _ = _run(_point("frankenstein_code", **overrides), grads, jnp.asarray(theta0))
    for t, (a, b) in enumerate(zip(ours, expected, strict=True)):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-10, atol=1e-12, err_msg=f"step {t + 1}")
    # the defaults of the family are the authors' code
    default, _ = _run(
        fr.frankenstein(schedule, **{k: v for k, v in overrides.items() if k != "learning_rate"}),
        grads,
        jnp.asarray(theta0),
    )
    np.testing.assert_array_equal(np.asarray(default[-1]), np.asarray(ours[-1]))


def test_code_point_float32_tracks_float64_reference():
    schedule, lrs = _schedule_case()
    theta0 = np.random.default_rng(4).normal(size=(4, 3))
    grads = _gradients(50, (4, 3), jnp.float32)
    expected = _code_reference(theta0, [np.asarray(g, np.float64) for g in grads], lrs)
    ours, state = _run(
        _point("frankenstein_code", learning_rate=schedule), grads, jnp.asarray(theta0, jnp.float32)
    )
    assert ours[-1].dtype == jnp.float32
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves((state.m, state.v, state.x_prev)))
    np.testing.assert_allclose(np.asarray(ours[-1]), expected[-1], rtol=1e-4, atol=1e-5)


def test_beta1_follows_the_scheduled_learning_rate():
    """With an EMA momentum and bias correction, prod(b1) tracks the schedule step by step."""
    schedule, lrs = _schedule_case()
    opt = fr.frankenstein(**{**fr.PAPER_POINTS["adam"], "beta1_rule": "lr_sqrt", "learning_rate": schedule})
    state = opt.init(jnp.zeros(3))
    update = jax.jit(opt.update)
    product = 1.0
    for lr in lrs:
        _, state = update(jnp.ones(3), state)
        product *= 1 - min(max(0.1 * math.sqrt(lr / 1e-3), 0.05), 0.95)
        assert math.isclose(float(state.beta1_product), product, rel_tol=1e-12)


def test_lr_coupled_rule_at_constant_lr_equals_constant_rule():
    """At a constant lr the coupled b1 is constant: prod(b1) bias correction = 1 - b1^t."""
    lr = 4e-3
    b1 = 1 - 0.1 * math.sqrt(lr / 1e-3)
    grads = _gradients(30, (5,), jnp.float64)
    params = jnp.ones(5)
    coupled, _ = _run(_point("adam", learning_rate=lr, beta1_rule="lr_sqrt"), grads, params)
    constant, _ = _run(_point("adam", learning_rate=lr, beta1=b1), grads, params)
    np.testing.assert_allclose(np.asarray(coupled[-1]), np.asarray(constant[-1]), rtol=1e-12)


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32], ids=["float64", "float32"])
def test_misalignment_equals_arccos_tanh(dtype):
    """P is arccos(tanh(m g))/pi, computed without atan2; exact limits and P(y) + P(-y) = 1."""
    y = np.linspace(-4.0, 4.0, 4001)
    expected = np.arccos(np.tanh(y)) / np.pi
    got = np.asarray(fr.misalignment_factor(jnp.asarray(y, dtype), jnp.ones(y.shape, dtype)), np.float64)
    tolerance = 1e-13 if dtype == jnp.float64 else 1e-6
    np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance)
    np.testing.assert_allclose(got + got[::-1], 1.0, atol=tolerance)
    assert np.all(np.diff(got) <= 0)
    big = np.asarray(fr.misalignment_factor(jnp.asarray([1e4, -1e4, 0.0], dtype), jnp.ones(3, dtype)))
    np.testing.assert_array_equal(big, [0.0, 1.0, 0.5])


# --- the paper's variants: stated invariants -------------------------------------------------------------

PAPER_VARIANTS = ("frankenstein_alg1", "frankenstein_appB")
LR_GRID = np.logspace(-8, 1, 91)


def _beta1(point, lr):
    settings = fr.PAPER_POINTS[point]
    return fr.beta1_coefficient(
        lr,
        rule=settings["beta1_rule"],
        beta1=settings["beta1"],
        base_lr=settings.get("base_lr", 1e-3),
        beta1_clip=settings["beta1_clip"],
    )


@pytest.mark.parametrize("point", PAPER_VARIANTS)
def test_paper_beta1_range(point):
    """Numerical Stabilization: clipping 1 - b1 to [0.05, 0.99] gives b1 in [0.01, 0.95] for every lr."""
    b1 = np.asarray(_beta1(point, jnp.asarray(LR_GRID)))
    assert b1.min() >= 0.01 - 1e-12 and b1.max() <= 0.95 + 1e-12
    assert math.isclose(b1.min(), 0.01, abs_tol=1e-12) and math.isclose(b1.max(), 0.95, abs_tol=1e-12)


@pytest.mark.parametrize("point", (*PAPER_VARIANTS, "frankenstein_code"))
def test_rho_times_beta1_below_one(point):
    """rho * b1 < 1 (contractive momentum) over all P in [0, 1], all root terms and all learning rates."""
    settings = fr.PAPER_POINTS[point]
    p = jnp.linspace(0.0, 1.0, 101)[:, None]
    term = jnp.concatenate([jnp.zeros(1), jnp.logspace(-12, 12, 97)])[None, :]
    rho = fr.rho_factor(p, term, bounds=settings["rho_bounds"])
    lo, hi = settings["rho_bounds"]
    assert float(rho.min()) >= lo - 1e-12 and float(rho.max()) <= hi + 1e-12
    assert float(rho.max()) * float(np.max(np.asarray(_beta1(point, jnp.asarray(LR_GRID))))) < 1


@pytest.mark.parametrize("point", PAPER_VARIANTS)
def test_rho_beta1_below_one_along_a_trajectory(point):
    """The same bound on the coefficients the optimizer actually uses, recomputed from its state."""
    settings = fr.PAPER_POINTS[point]
    schedule = optax.piecewise_constant_schedule(1e-3, {30: 100.0})
    opt = _point(point, learning_rate=schedule)
    params = jnp.zeros(8)
    state = opt.init(params)
    update = jax.jit(opt.update)
    worst = 0.0
    for t, g in enumerate(_gradients(60, (8,), jnp.float64, seed=5)):
        b1 = float(_beta1(point, schedule(t)))
        x = g * g + settings["eps"]
        p = fr.misalignment_factor(state.m, g)
        term = jnp.maximum(state.v, x) if settings["rho_sqrt_term"] == "vhat" else x
        rho = fr.rho_factor(p, term, bounds=settings["rho_bounds"])
        worst = max(worst, float(jnp.max(rho)) * b1)
        _, state = update(g, state, params)
    assert 0.5 < worst < 1


def _spiky_gradients(num_steps, size, seed):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(num_steps, size)) * np.exp(2 * rng.normal(size=(num_steps, 1)))
    g[rng.random(g.shape) < 0.1] *= 1e3
    return [jnp.asarray(x) for x in g]


def test_appendix_b_second_moment_is_monotone():
    """Lemma B.1: App. B.1's v is non-decreasing per coordinate (alpha_t = alpha / sqrt(t), spikes)."""
    schedule = lambda count: 1e-2 / jnp.sqrt(count + 1.0)  # noqa: E731
    opt = _point("frankenstein_appB", learning_rate=schedule)
    params = jnp.zeros(16)
    state = opt.init(params)
    update = jax.jit(opt.update)
    for g in _spiky_gradients(200, 16, seed=6):
        updates, new_state = update(g, state, params)
        assert bool(jnp.all(new_state.v >= state.v))
        params, state = optax.apply_updates(params, updates), new_state


def test_algorithm_1_second_moment_is_not_monotone():
    """Contrast: Alg. 1's EMA after the max does decrease (only App. B.1 adds the outer max)."""
    opt = _point("frankenstein_alg1")
    params = jnp.zeros(16)
    state = opt.init(params)
    decreased = False
    update = jax.jit(opt.update)
    for g in _spiky_gradients(200, 16, seed=6):
        _, new_state = update(g, state, params)
        decreased |= bool(jnp.any(new_state.v < state.v))
        state = new_state
    assert decreased


# --- every combination of options --------------------------------------------------------------------

AXES: dict[str, tuple] = {
    **fr.OPTION_CHOICES,
    "bias_correction": (False, True),
    "decoupled_weight_decay": (False, True),
    # a constant lr, a warm-up that starts at 0, and a large lr
    "learning_rate": ("1e-2", "warmup_from_0", "1.0"),
}


def _learning_rate(label):
    if label == "warmup_from_0":
        return optax.linear_schedule(0.0, 1e-2, 2)
    return float(label)


def _covering_rows(axes: dict[str, tuple], strength: int, seed: int = 0) -> list[dict]:
    """A greedy covering array: every ``strength``-tuple of option values occurs in some row."""
    names = list(axes)
    sizes = [len(axes[n]) for n in names]
    groups = list(itertools.combinations(range(len(names)), strength))
    uncovered = {
        (group, values) for group in groups for values in itertools.product(*(range(sizes[i]) for i in group))
    }
    rng = random.Random(seed)
    rows = []
    while uncovered:
        group, values = min(uncovered)
        best, best_gain = None, -1
        for _ in range(24):
            row = [rng.randrange(s) for s in sizes]
            for i, v in zip(group, values, strict=True):
                row[i] = v
            gain = sum((g, tuple(row[i] for i in g)) in uncovered for g in groups)
            if gain > best_gain:
                best, best_gain = row, gain
        rows.append(best)
        uncovered -= {(g, tuple(best[i] for i in g)) for g in groups}
    return [{n: axes[n][v] for n, v in zip(names, row, strict=True)} for row in rows]


def _run_combination(combo, steps=3):
    kwargs = dict(combo)
    lr = _learning_rate(kwargs.pop("learning_rate", "1e-2"))
    opt = fr.frankenstein(lr, weight_decay=0.01, **kwargs)
    params = {"w": jnp.asarray([[0.5, -1.0, 0.0], [2.0, 1e-3, -3.0]]), "b": jnp.asarray([0.0, 1.0])}
    state = opt.init(params)
    grads = [
        {"w": jnp.asarray([[1.0, -2.0, 0.0], [1e3, 1e-6, -0.5]]), "b": jnp.asarray([0.0, 3.0])},
        {"w": jnp.asarray([[-1.0, 2.0, 1e-8], [-1e3, 0.0, 0.5]]), "b": jnp.asarray([1.0, -3.0])},
        {"w": jnp.asarray([[0.5, 0.0, 5.0], [1e-4, 1e2, -0.5]]), "b": jnp.asarray([0.0, 0.0])},
    ]
    for g in grads[:steps]:
        updates, state = opt.update(g, state, params)
        params = optax.apply_updates(params, updates)
    leaves = jax.tree.leaves((params, state))
    return all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in leaves)


COVERING = _covering_rows(AXES, strength=3)


def test_covering_array_covers_every_triple():
    assert 4 * 3 * 3 <= len(COVERING) < 200
    names = list(AXES)
    for group in itertools.combinations(names, 3):
        seen = {tuple(row[n] for n in group) for row in COVERING}
        assert len(seen) == math.prod(len(AXES[n]) for n in group)


@pytest.mark.parametrize("chunk", range(4))
def test_every_triple_of_options_runs_without_nan(chunk):
    """Every triple of option values (and learning-rate kinds) builds and runs 3 steps finitely."""
    failures = [row for row in COVERING[chunk::4] if not _run_combination(row)]
    assert not failures, f"non-finite results for {failures[:3]}"


FULL_SPLIT = ("second_moment", "momentum_form", "update_form")


@pytest.mark.slow
@pytest.mark.parametrize("split", list(itertools.product(*(fr.OPTION_CHOICES[n] for n in FULL_SPLIT))))
def test_every_combination_of_options_runs_without_nan(split):
    """The full product of the structural options (rho_sqrt_term only where rho uses it), one step each."""
    rest = [
        n for n in (*fr.OPTION_CHOICES, "bias_correction", "decoupled_weight_decay") if n not in FULL_SPLIT
    ]
    choices = {**fr.OPTION_CHOICES, "bias_correction": (False, True), "decoupled_weight_decay": (False, True)}
    failures = []
    for values in itertools.product(*(choices[n] for n in rest)):
        combo = {**dict(zip(FULL_SPLIT, split, strict=True)), **dict(zip(rest, values, strict=True))}
        if combo["rho_rule"] == "one" and combo["rho_sqrt_term"] != "vhat":
            continue
        if not _run_combination(combo, steps=2):
            failures.append(combo)
    assert not failures, f"non-finite results for {failures[:3]}"


# --- construction, registry, dtypes -----------------------------------------------------------------------


def test_points_build_through_the_registry_and_json_lists():
    entry = optimizers.REGISTRY["frankenstein"]
    assert set(entry.presets) == {
        "adam",
        "amsgrad",
        "frankenstein_code",
        "frankenstein_alg1",
        "frankenstein_appB",
    }
    params = jnp.ones(3)
    for name, preset in entry.presets.items():
        as_json = {k: list(v) if isinstance(v, tuple) else v for k, v in preset.items()}
        built = optimizers.build({"family": "frankenstein", **as_json})
        a, _ = _run(built, [jnp.arange(3.0)] * 3, params, jit=False)
        b, _ = _run(_point(name), [jnp.arange(3.0)] * 3, params, jit=False)
        np.testing.assert_array_equal(np.asarray(a[-1]), np.asarray(b[-1]), err_msg=name)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"beta1_rule": "cosine"}, "beta1_rule"),
        ({"second_moment": "adam"}, "second_moment"),
        ({"bias_correction": "yes"}, "bias_correction"),
        ({"beta1_clip": (0.5, 0.1)}, "beta1_clip"),
        ({"beta1_clip": [0.1]}, "beta1_clip"),
        ({"rho_bounds": (1.0, 0.0)}, "rho_bounds"),
        ({"beta1": 1.0}, "beta1"),
        ({"eps": 0.0}, "eps"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"decoupled_weight_decay": 1}, "decoupled_weight_decay"),
    ],
)
def test_bad_input_raises_value_error_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        fr.frankenstein(**kwargs)


def test_weight_decay_needs_params():
    opt = fr.frankenstein(weight_decay=0.1)
    with pytest.raises(ValueError, match="params"):
        opt.update(jnp.ones(2), opt.init(jnp.ones(2)))


@pytest.mark.parametrize("point", sorted(fr.PAPER_POINTS))
def test_traced_float64_hyperparameters_keep_float32(point):
    """Numeric hyperparameters arriving as float64 tracers do not promote float32 params or state."""
    names = ("learning_rate", "beta1", "base_lr", "beta2", "eps", "weight_decay")
    preset = {k: v for k, v in fr.PAPER_POINTS[point].items() if k not in names}
    params = {"w": jnp.ones((2, 3), jnp.float32), "b": jnp.zeros(3, jnp.bfloat16)}

    @jax.jit
    def step(values, params):
        opt = fr.frankenstein(**dict(zip(names, values, strict=True)), **preset)
        state = opt.init(params)
        grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
        for _ in range(2):
            updates, state = opt.update(grads, state, params)
            params = optax.apply_updates(params, updates)
        return updates, state

    values = [jnp.asarray(v, jnp.float64) for v in (1e-3, 0.9, 1e-3, 0.999, 1e-8, 0.01)]
    updates, state = step(values, params)
    for tree in (updates, state.m, state.v):
        assert jax.tree.map(lambda x: x.dtype, tree) == {"w": jnp.float32, "b": jnp.bfloat16}


def test_update_is_elementwise():
    """The per-step work is elementwise on every leaf: no reductions, contractions or data movement."""
    allowed = {
        "abs", "acos", "add", "atan2", "broadcast_in_dim", "clamp", "convert_element_type", "div", "eq",
        "exp", "ge", "gt", "integer_pow", "jit", "le", "log", "lt", "max", "min", "mul", "ne", "neg", "pow",
        "select_n", "sqrt", "sub", "tanh", "sign", "pjit", "square", "log1p", "exp2", "copy", "not", "and",
        "or", "custom_jvp_call", "rsqrt", "stop_gradient", "expm1",
    }  # fmt: skip
    params = {"w": jnp.ones((4, 3)), "b": jnp.ones(3)}
    for name in fr.PAPER_POINTS:
        opt = _point(name, weight_decay=0.1)
        jaxpr = jax.make_jaxpr(opt.update)(params, opt.init(params), params)
        used = _primitives(jaxpr.jaxpr)
        assert used <= allowed, f"{name}: non-elementwise primitives {sorted(used - allowed)}"


def _primitives(jaxpr) -> set[str]:
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for value in eqn.params.values():
            inner = value if hasattr(value, "eqns") else getattr(value, "jaxpr", None)
            if inner is not None and hasattr(inner, "eqns"):
                names |= _primitives(inner)
    return names
