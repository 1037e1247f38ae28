"""Strategies: convergence on a 10-D sphere with our defaults, exact checkpoint round trips, pure RNG."""

from __future__ import annotations

import io

import jax
import numpy as np
import pytest

from search.config import StrategyConfig
from search.strategies import (
    STRATEGIES,
    GridSearch,
    generation_keys,
    init_key,
    make_strategy,
    state_from_arrays,
    state_to_arrays,
)

D = 10
TARGET = np.linspace(-1.0, 1.0, D)
ES_NAMES = ("cma_es", "sep_cma_es", "open_es", "snes", "xnes", "pgpe", "simple_ga")


def sphere(x: np.ndarray) -> np.ndarray:
    return np.sum((np.asarray(x) - TARGET) ** 2, axis=-1)


def _run(strategy, generations: int, seed: int = 0, state=None, start: int = 0):
    if state is None:
        state = strategy.init(init_key(seed), np.zeros(D))
    history = []
    for g in range(start, generations):
        ask_key, tell_key = generation_keys(seed, g)
        x, state = strategy.ask(ask_key, state)
        fitness = sphere(x)
        history.append((x, fitness))
        state = strategy.tell(tell_key, state, x, fitness)
    return state, history


@pytest.mark.parametrize("name", ES_NAMES)
def test_default_settings_converge_on_a_10d_sphere(name):
    strategy = make_strategy(D, StrategyConfig(name=name, population_size=16, sigma=0.5))
    start = sphere(np.zeros(D))
    state, history = _run(strategy, 150)
    final_mean = sphere(strategy.mean(state))
    best = min(float(f.min()) for _, f in history)
    assert final_mean < 1e-3 * start, (name, final_mean)
    assert best < 0.05 * start, (name, best)


def test_evosax_defaults_stall_where_ours_converge():
    # The reason the recipes exist: evosax 0.3.2's default OpenES settings stall on the same problem.
    from evosax.algorithms import algorithms

    es = algorithms["Open_ES"](population_size=16, solution=np.zeros(D))
    params = es.default_params
    state = es.init(init_key(0), np.zeros(D), params)
    for g in range(150):
        ask_key, tell_key = generation_keys(0, g)
        x, state = es.ask(ask_key, state, params)
        state, _ = es.tell(tell_key, x, sphere(x), state, params)
    ours = make_strategy(D, StrategyConfig(name="open_es", population_size=16, sigma=0.5))
    our_state, _ = _run(ours, 150)
    assert sphere(np.asarray(state.mean)) > 100 * sphere(ours.mean(our_state))


@pytest.mark.parametrize("name", (*ES_NAMES, "random", "grid"))
def test_checkpoint_round_trip_is_exact_and_resumes_the_same_stream(name):
    cfg = StrategyConfig(name=name, population_size=16, sigma=0.5, points_per_dim=3)
    strategy = make_strategy(D, cfg)
    full_state, full_history = _run(strategy, 6)

    # Interrupt after 3 generations, save to .npz bytes (no pickle), restore into a fresh object.
    mid_state, _ = _run(strategy, 3)
    buffer = io.BytesIO()
    np.savez(buffer, **state_to_arrays(mid_state))
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        arrays = dict(npz)
    fresh = make_strategy(D, cfg)  # the cached object: its compiled ask/tell are reused
    template = fresh.init(init_key(123), np.ones(D))
    restored = state_from_arrays(template, arrays)
    for a, b in zip(jax.tree.leaves(state_to_arrays(mid_state)), jax.tree.leaves(state_to_arrays(restored))):
        np.testing.assert_array_equal(a, b)
    resumed_state, resumed_history = _run(fresh, 6, state=restored, start=3)
    for (x1, f1), (x2, f2) in zip(full_history[3:], resumed_history):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(f1, f2)
    for a, b in zip(state_to_arrays(full_state).values(), state_to_arrays(resumed_state).values()):
        np.testing.assert_array_equal(a, b)


def test_restore_rejects_a_mismatched_checkpoint():
    small = make_strategy(D, StrategyConfig(name="cma_es", population_size=8))
    other = make_strategy(D + 1, StrategyConfig(name="cma_es", population_size=8))
    arrays = state_to_arrays(small.init(init_key(0), np.zeros(D)))
    with pytest.raises(ValueError, match="checkpoint: state leaf"):
        state_from_arrays(other.init(init_key(0), np.zeros(D + 1)), arrays)


def test_generation_keys_are_a_pure_function_of_seed_and_generation():
    a = jax.random.key_data(generation_keys(3, 7)[0])
    b = jax.random.key_data(generation_keys(3, 7)[0])
    c = jax.random.key_data(generation_keys(3, 8)[0])
    d = jax.random.key_data(generation_keys(4, 7)[0])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_grid_enumerates_every_point_once_then_repeats_the_last():
    grid = GridSearch(2, 4, sigma=1.0, points_per_dim=3)
    state = grid.init(init_key(0), np.zeros(2))
    seen = []
    for g in range(grid.num_generations_hint()):
        x, state = grid.ask(generation_keys(0, g)[0], state)
        state = grid.tell(generation_keys(0, g)[1], state, x, np.zeros(4))
        seen.extend(map(tuple, x))
    assert grid.num_generations_hint() == 3
    assert len(set(seen)) == 9
    assert set(seen) == {(a, b) for a in (-2.0, 0.0, 2.0) for b in (-2.0, 0.0, 2.0)}
    assert seen[-1] == seen[-3] == (2.0, 2.0)


def test_random_search_keeps_the_best():
    strategy = make_strategy(D, StrategyConfig(name="random", population_size=8, sigma=1.0))
    state, history = _run(strategy, 5)
    best = min(float(f.min()) for _, f in history)
    assert float(state["best_f"]) == best
    assert sphere(np.asarray(state["best_x"])) == pytest.approx(best)


def test_antithetic_strategies_need_an_even_population():
    with pytest.raises(ValueError, match="strategy.population_size"):
        make_strategy(D, StrategyConfig(name="pgpe", population_size=7))


def test_every_registered_strategy_is_listed():
    assert set(STRATEGIES) == {*ES_NAMES, "random", "grid"}
