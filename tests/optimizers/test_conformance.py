"""Conformance suite: every registered optimizer family, the same checks, no special cases.

An optimizer joins by registering in ``optimizers.REGISTRY``. What the suite needs to know about one
family it reads from the family's declaration: which hyperparameter scales the step (``step_size``, swept
over a log grid inside its declared range), whether ``update`` wants the loss (``needs_value``), and
which hyperparameters are numeric (``Hyperparameter.traceable``).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers
from optimizers.registry import OptimizerEntry

FAMILIES = sorted(optimizers.REGISTRY)
STEP_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)


def _entry(family: str) -> OptimizerEntry:
    return optimizers.REGISTRY[family]


def _grid(entry: OptimizerEntry) -> np.ndarray:
    hp = entry.hyperparameter(entry.step_size)
    values = [
        v
        for v in STEP_GRID
        if (hp.low is None or v > hp.low or (v == hp.low and not hp.low_exclusive))
        and (hp.high is None or v < hp.high or (v == hp.high and not hp.high_exclusive))
    ]
    return np.asarray(values or [hp.default], dtype=np.float64)


def _opt(entry: OptimizerEntry, **overrides) -> optax.GradientTransformation:
    return optimizers.build({"family": entry.family, **overrides})


def _update(entry, opt, grads, state, params, loss):
    if entry.needs_value:
        return opt.update(grads, state, params, value=loss)
    return opt.update(grads, state, params)


# --- targets ---------------------------------------------------------------------------------------

_SCALES = jnp.asarray(np.logspace(0, 1, 8))


def parabola(params):
    return jnp.sum(_SCALES * (params - 1.0) ** 2)


def rosenbrock(params):
    x, y = params[0], params[1]
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


_RNG = np.random.default_rng(0)
_X = jnp.asarray(_RNG.normal(size=(16, 3)))
_Y = jnp.asarray(_RNG.normal(size=(16, 4)))


def mixed_tree(params):
    prediction = _X @ params["w"] + params["b"]
    return jnp.mean((prediction - _Y) ** 2)


def _mixed_minimum() -> float:
    design = np.concatenate([np.asarray(_X), np.ones((16, 1))], axis=1)
    solution, *_ = np.linalg.lstsq(design, np.asarray(_Y), rcond=None)
    residual = design @ solution - np.asarray(_Y)
    return float(np.mean(residual**2))


TARGETS = {
    "parabola": (parabola, lambda: jnp.zeros(8), 0.0, 1e-3),
    "rosenbrock": (rosenbrock, lambda: jnp.asarray([-1.2, 1.0]), 0.0, 2e-2),
    "mixed_tree": (mixed_tree, lambda: {"w": jnp.zeros((3, 4)), "b": jnp.zeros(4)}, _mixed_minimum(), 1e-2),
}
NUM_STEPS = 3000


def _train(entry, loss_fn, params, step_size, num_steps):
    """Run ``num_steps`` updates at one (traced) step size; return the loss per step."""
    opt = _opt(entry, **{entry.step_size: step_size})
    state = opt.init(params)

    def body(carry, _):
        params, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, state = _update(entry, opt, grads, state, params, loss)
        params = optax.apply_updates(params, updates)
        return (params, state), loss

    _, losses = jax.lax.scan(body, (params, state), None, length=num_steps)
    return losses


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("family", FAMILIES)
def test_converges(family, target):
    entry = _entry(family)
    loss_fn, init, minimum, tolerance = TARGETS[target]
    params = init()
    grid = _grid(entry)
    run = jax.jit(jax.vmap(functools.partial(_train, entry, loss_fn, params, num_steps=NUM_STEPS)))
    losses = np.asarray(run(jnp.asarray(grid)))
    initial_gap = float(loss_fn(params)) - minimum
    final_gap = np.mean(losses[:, -NUM_STEPS // 10 :], axis=1) - minimum
    final_gap = np.where(np.isfinite(final_gap), final_gap, np.inf)
    best = int(np.argmin(final_gap))
    assert final_gap[best] <= tolerance * initial_gap, (
        f"{family} did not converge on {target}: best relative gap {final_gap[best] / initial_gap:.3g} "
        f"at {entry.step_size}={grid[best]:g} (tolerance {tolerance:g}); gaps per step size: "
        + ", ".join(f"{s:g}: {g / initial_gap:.2g}" for s, g in zip(grid, final_gap, strict=True))
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_no_recompilation_across_numeric_values(family):
    """A jitted step compiles once; a second call with other numeric hyperparameters reuses it."""
    entry = _entry(family)
    numeric = [hp for hp in entry.hyperparameters if hp.traceable]
    params = {"w": jnp.ones((3, 4)), "b": jnp.zeros(4)}

    @jax.jit
    def step(values, params):
        opt = _opt(entry, **dict(zip([hp.name for hp in numeric], values, strict=True)))
        state = opt.init(params)
        loss, grads = jax.value_and_grad(mixed_tree)(params)
        updates, state = _update(entry, opt, grads, state, params, loss)
        updates, state = _update(entry, opt, grads, state, optax.apply_updates(params, updates), loss)
        return optax.apply_updates(params, updates)

    first = [jnp.asarray(hp.default, dtype=jnp.float64) for hp in numeric]
    step(first, params)
    second = list(first)
    if numeric:
        index = [hp.name for hp in numeric].index(entry.step_size)
        second[index] = second[index] * 0.5
    out = step(second, jax.tree.map(lambda p: p + 0.1, params))
    assert step._cache_size() == 1
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(out))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("family", FAMILIES)
def test_dtype_preserved(family, dtype):
    entry = _entry(family)
    opt = _opt(entry)
    params = {"w": jnp.full((3, 4), 0.5, dtype=dtype), "b": jnp.zeros(4, dtype=dtype)}
    state = opt.init(params)

    def loss_fn(p):
        prediction = _X.astype(dtype) @ p["w"] + p["b"]
        return jnp.mean((prediction - _Y.astype(dtype)) ** 2)

    @jax.jit
    def step(params, state):
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, state = _update(entry, opt, grads, state, params, loss)
        return optax.apply_updates(params, updates), updates, state

    for _ in range(3):
        new_params, updates, state = step(params, state)
        for leaf, update in zip(jax.tree.leaves(new_params), jax.tree.leaves(updates), strict=True):
            assert leaf.dtype == dtype and update.dtype == dtype
            assert bool(jnp.all(jnp.isfinite(leaf)))
        params = new_params


@pytest.mark.parametrize("family", FAMILIES)
def test_inject_hyperparams(family):
    """``optax.inject_hyperparams`` over the numeric hyperparameters gives the same steps."""
    entry = _entry(family)
    numeric = {hp.name: hp.default for hp in entry.hyperparameters if hp.traceable}
    structural = {hp.name: hp.default for hp in entry.hyperparameters if not hp.traceable}
    if not numeric:
        pytest.skip(f"{family} declares no numeric hyperparameters")
    injected = optax.inject_hyperparams(entry.constructor, static_args=tuple(structural))(
        **numeric, **structural
    )
    direct = _opt(entry)
    params = {"w": jnp.ones((3, 4)), "b": jnp.zeros(4)}

    def run(opt):
        def body(carry, _):
            p, s = carry
            loss, g = jax.value_and_grad(mixed_tree)(p)
            u, s = _update(entry, opt, g, s, p, loss)
            return (optax.apply_updates(p, u), s), None

        (p, s), _ = jax.lax.scan(body, (params, opt.init(params)), None, length=5)
        return p, s

    p_inj, s_inj = jax.jit(lambda: run(injected))()
    p_dir, _ = jax.jit(lambda: run(direct))()
    for a, b in zip(jax.tree.leaves(p_inj), jax.tree.leaves(p_dir), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-12)
    assert set(s_inj.hyperparams) == set(numeric)


@pytest.mark.parametrize("family", FAMILIES)
def test_vmap_over_step_sizes_equals_separate_runs(family):
    entry = _entry(family)
    grid = _grid(entry)
    values = grid[np.linspace(0, len(grid) - 1, 4).astype(int)]
    params = jnp.zeros(8)
    run = functools.partial(_train, entry, parabola, params, num_steps=20)
    batched = np.asarray(jax.jit(jax.vmap(run))(jnp.asarray(values)))
    for i, value in enumerate(values):
        single = np.asarray(jax.jit(run)(jnp.asarray(value)))
        np.testing.assert_allclose(batched[i], single, rtol=1e-6, atol=1e-12, err_msg=f"step size {value}")


@pytest.mark.parametrize("family", FAMILIES)
def test_json_round_trip_is_exact(family, tmp_path):
    entry = _entry(family)
    grid = _grid(entry)
    spec = {"family": family, entry.step_size: float(grid[len(grid) // 2])}
    path = optimizers.export(spec, tmp_path / f"{family}.json", provenance={"test": "conformance"})
    loaded = optimizers.load_spec(path)
    assert loaded["family"] == family
    assert math.isclose(loaded[entry.step_size], spec[entry.step_size])
    params = {"w": jnp.ones((3, 4)), "b": jnp.zeros(4)}

    def trajectory(opt):
        def body(carry, _):
            p, state = carry
            loss, grads = jax.value_and_grad(mixed_tree)(p)
            updates, state = _update(entry, opt, grads, state, p, loss)
            p = optax.apply_updates(p, updates)
            return (p, state), p

        _, out = jax.jit(lambda: jax.lax.scan(body, (params, opt.init(params)), None, length=5))()
        return out

    for a, b in zip(
        jax.tree.leaves(trajectory(optimizers.build(spec))),
        jax.tree.leaves(trajectory(optimizers.load(path))),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("family", FAMILIES)
def test_declaration_matches_constructor(family):
    """Every declared hyperparameter is a keyword of the constructor, with the same default."""
    import inspect

    entry = _entry(family)
    signature = inspect.signature(entry.constructor)
    for hp in entry.hyperparameters:
        assert hp.name in signature.parameters, f"{family}: {hp.name} is not a constructor keyword"
        default = signature.parameters[hp.name].default
        if default is not inspect.Parameter.empty:
            assert _same(default, hp.default), f"{family}.{hp.name}: {default!r} != {hp.default!r}"
        hp.check(hp.default)
    for name, preset in entry.presets.items():
        optimizers.validate_spec({"family": family, **preset})
        assert name, "presets need names"


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
