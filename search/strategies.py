"""Ask/tell strategies over ``R^D`` (a search space's encoding); fitness is minimised.

Seven evolution strategies come from evosax (the installed 0.3.2 API: ``Cls(population_size, solution)``,
``es.init(key, mean, params)``, ``es.ask(key, state, params)``, ``es.tell(key, x, fitness, state,
params)``) through one thin wrapper, :class:`EvosaxStrategy`; nothing of an ES is re-implemented here.
Two plain strategies serve the tuned baselines: :class:`RandomSearch` (Gaussian samples around the initial
mean) and :class:`GridSearch` (a regular grid around it).

Settings. evosax's own defaults stall on a 10-D sphere for three of them (ALGORITHMS.md, ecosystem facts);
ours, checked by ``tests/search/test_strategies.py``:

* ``cma_es``, ``sep_cma_es``, ``xnes``, ``snes``: evosax defaults, initial std ``sigma``;
* ``open_es``: Adam on the ES gradient of OpenAI-ES (Salimans et al. 2017, arXiv:1703.03864), learning rate
  0.1 and std ``sigma``, both decaying by 0.97 per generation (floors: 1% and 2% of the start);
* ``pgpe``: ClipUp (Toklu et al. 2020, arXiv:2008.02387: normalised gradient, momentum 0.9, speed at most
  twice the learning rate) with learning rate ``0.15 sigma`` decaying by 0.97 per generation to 1%, and
  PGPE's adaptive per-dimension std from ``sigma`` (Sehnke et al. 2010);
* ``simple_ga``: truncation selection of the best half (Such et al. 2017, arXiv:1712.06567), Gaussian
  mutation with std ``sigma`` decaying by 0.95 per generation to a floor of ``1e-3 sigma``.

``learning_rate`` and ``sigma_decay`` in ``[strategy]`` override the tuned values (0 keeps them).

State. Every strategy's state is a pytree of arrays; :func:`state_to_arrays` flattens it to named NumPy
arrays (PRNG keys as ``key_data``) for an ``.npz`` file and :func:`state_from_arrays` restores it exactly
(bit for bit) onto the template that ``init`` returns. Nothing is pickled.

Randomness. The run loop derives each generation's keys from ``(seed, generation)`` only
(:func:`generation_keys`), so a resumed run draws the same stream as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Strategy",
    "EvosaxStrategy",
    "RandomSearch",
    "GridSearch",
    "StrategyInfo",
    "STRATEGIES",
    "make_strategy",
    "check_strategy_config",
    "generation_keys",
    "state_to_arrays",
    "state_from_arrays",
]

State = Any


@jax.jit
def _keys(seed: jax.Array, generation: jax.Array) -> tuple[jax.Array, jax.Array]:
    key = jax.random.fold_in(jax.random.key(seed), generation)
    ask_key, tell_key = jax.random.split(key)
    return ask_key, tell_key


def generation_keys(seed: int, generation: int) -> tuple[jax.Array, jax.Array]:
    """The (ask, tell) keys of ``generation``: a pure function of ``(seed, generation)``."""
    return _keys(np.uint32(seed), np.uint32(generation))


def init_key(seed: int) -> jax.Array:
    """The key a strategy's ``init`` gets (independent of every generation's keys)."""
    return _keys(np.uint32(seed), np.uint32(2**31 - 1))[0]


class Strategy:
    """The ask/tell interface. Subclasses hold only static settings; all mutable data is in ``state``."""

    name: str = ""
    dimension: int
    population_size: int

    def init(self, key: jax.Array, mean: np.ndarray) -> State:
        raise NotImplementedError

    def ask(self, key: jax.Array, state: State) -> tuple[np.ndarray, State]:
        """``population_size`` vectors ``[P, D]`` (float64 NumPy) and the state to pass to ``tell``."""
        raise NotImplementedError

    def tell(self, key: jax.Array, state: State, x: np.ndarray, fitness: np.ndarray) -> State:
        raise NotImplementedError

    def mean(self, state: State) -> np.ndarray:
        """The current centre of the search distribution (for reports)."""
        raise NotImplementedError

    def num_generations_hint(self) -> int | None:
        """The number of generations after which the strategy has nothing new to ask (grid), else None."""
        return None


def _as_f(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _strong(state: State) -> State:
    """``state`` with weakly typed leaves made strong, so jitted ``ask``/``tell`` compile once, not per
    weak-type pattern (a restored checkpoint, made of NumPy arrays, is strongly typed too)."""

    def fix(leaf: Any) -> Any:
        if isinstance(leaf, jax.Array) and getattr(leaf, "weak_type", False):
            return jnp.array(leaf, dtype=leaf.dtype)
        return leaf

    return jax.tree.map(fix, state)


# --- evosax ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _EvosaxRecipe:
    """How to build one evosax algorithm with our settings."""

    cls_name: str
    build: Callable[[int, np.ndarray, float, float, float], Any]  # (P, solution, sigma, lr, decay) -> es
    params: Callable[[Any, float], Any]  # (default params, sigma) -> params
    population_based: bool = False
    even_population: bool = False


def _cls(name: str):
    from evosax.algorithms import algorithms

    return algorithms[name]


def _replace_std(params: Any, sigma: float) -> Any:
    return params.replace(std_init=jnp.asarray(sigma, dtype=jnp.asarray(params.std_init).dtype))


def _no_params(params: Any, sigma: float) -> Any:
    return params


def _build_plain(name: str):
    def build(p: int, solution: np.ndarray, sigma: float, lr: float, decay: float):
        return _cls(name)(population_size=p, solution=solution)

    return build


def _build_snes_like(name: str):
    def build(p: int, solution: np.ndarray, sigma: float, lr: float, decay: float):
        import optax

        kwargs = {"optimizer": optax.sgd(lr)} if lr > 0 else {}
        return _cls(name)(population_size=p, solution=solution, **kwargs)

    return build


def _decay(value: float, decay: float, floor: float):
    import optax

    return optax.exponential_decay(value, transition_steps=1, decay_rate=decay, end_value=floor * value)


def _build_open_es(p: int, solution: np.ndarray, sigma: float, lr: float, decay: float):
    import optax

    decay = decay or 0.97
    return _cls("Open_ES")(
        population_size=p,
        solution=solution,
        optimizer=optax.adam(_decay(lr or 0.1, decay, 0.01)),
        std_schedule=_decay(sigma, decay, 0.02),
    )


def _build_pgpe(p: int, solution: np.ndarray, sigma: float, lr: float, decay: float):
    import optax
    from evosax.core.optimizer import scale_by_clipup

    # ClipUp (evosax's building block) with a decaying step: normalise, momentum 0.9, speed <= 2 lr.
    optimizer = optax.chain(
        optax.normalize_by_update_norm(eps=1e-8),
        scale_by_clipup(max_velocity_ratio=2.0, momentum=0.9),
        optax.scale_by_learning_rate(_decay(lr or 0.15 * sigma, decay or 0.97, 0.01)),
    )
    return _cls("PGPE")(population_size=p, solution=solution, optimizer=optimizer)


def _build_simple_ga(p: int, solution: np.ndarray, sigma: float, lr: float, decay: float):
    schedule = _decay(sigma, decay or 0.95, 1e-3)
    return _cls("SimpleGA")(population_size=p, solution=solution, std_schedule=schedule)


_RECIPES: dict[str, _EvosaxRecipe] = {
    "cma_es": _EvosaxRecipe("CMA_ES", _build_plain("CMA_ES"), _replace_std),
    "sep_cma_es": _EvosaxRecipe("Sep_CMA_ES", _build_plain("Sep_CMA_ES"), _replace_std),
    "snes": _EvosaxRecipe("SNES", _build_snes_like("SNES"), _replace_std),
    "xnes": _EvosaxRecipe("xNES", _build_snes_like("xNES"), _replace_std),
    "open_es": _EvosaxRecipe("Open_ES", _build_open_es, _no_params, even_population=True),
    "pgpe": _EvosaxRecipe(
        "PGPE", _build_pgpe, lambda params, sigma: params.replace(std_init=sigma), even_population=True
    ),
    "simple_ga": _EvosaxRecipe("SimpleGA", _build_simple_ga, _no_params, population_based=True),
}


class EvosaxStrategy(Strategy):
    """One evosax algorithm behind the ask/tell interface.

    State: ``{"es": <evosax state>, "started": bool}``. For the genetic algorithm (evosax initialises a
    population-based algorithm from an evaluated population) the first generation asks ``mean + sigma z``
    and its ``tell`` calls ``es.init(key, population, fitness, params)``.
    """

    def __init__(
        self,
        name: str,
        dimension: int,
        population_size: int,
        *,
        sigma: float = 0.5,
        learning_rate: float = 0.0,
        sigma_decay: float = 0.0,
    ) -> None:
        recipe = _RECIPES[name]
        self.name = name
        self.dimension = int(dimension)
        self.population_size = int(population_size)
        self.sigma = float(sigma)
        self._recipe = recipe
        solution = np.zeros(self.dimension)
        self._es = recipe.build(self.population_size, solution, self.sigma, learning_rate, sigma_decay)
        self._params = recipe.params(self._es.default_params, self.sigma)

    def init(self, key: jax.Array, mean: np.ndarray) -> State:
        mean = jnp.asarray(_check_vector(mean, self.dimension))
        if self._recipe.population_based:
            population = jnp.broadcast_to(mean, (self.population_size, self.dimension))
            fitness = jnp.full((self.population_size,), jnp.inf)
            es_state = self._es.init(key, population, fitness, self._params)
            return _strong({"es": es_state, "started": jnp.asarray(False), "mean0": mean})
        return _strong(
            {"es": self._es.init(key, mean, self._params), "started": jnp.asarray(True), "mean0": mean}
        )

    def ask(self, key: jax.Array, state: State) -> tuple[np.ndarray, State]:
        if not bool(state["started"]):
            z = jax.random.normal(key, (self.population_size, self.dimension), dtype=state["mean0"].dtype)
            return _as_f(state["mean0"] + self.sigma * z), state
        x, es_state = self._es.ask(key, state["es"], self._params)
        return _as_f(x), _strong({**state, "es": es_state})

    def tell(self, key: jax.Array, state: State, x: np.ndarray, fitness: np.ndarray) -> State:
        dtype = state["mean0"].dtype
        x = jnp.asarray(x, dtype=dtype)
        fitness = jnp.asarray(_check_fitness(fitness, self.population_size), dtype=dtype)
        if not bool(state["started"]):
            es_state = self._es.init(key, x, fitness, self._params)
            return _strong({**state, "es": es_state, "started": jnp.asarray(True)})
        es_state, _ = self._es.tell(key, x, fitness, state["es"], self._params)
        return _strong({**state, "es": es_state})

    def mean(self, state: State) -> np.ndarray:
        es_state = state["es"]
        if self._recipe.population_based:
            if not bool(state["started"]):
                return _as_f(state["mean0"])
            return _as_f(es_state.population[int(jnp.argmin(es_state.fitness))])
        return _as_f(es_state.mean)

    def best(self, state: State) -> tuple[np.ndarray, float]:
        es_state = state["es"]
        return _as_f(es_state.best_solution), float(es_state.best_fitness)


# --- random search and grid -------------------------------------------------------------------------------


class RandomSearch(Strategy):
    """Independent Gaussian samples ``mean + sigma z`` (``z ~ N(0, I)``) every generation."""

    name = "random"

    def __init__(self, dimension: int, population_size: int, *, sigma: float = 0.5) -> None:
        self.dimension = int(dimension)
        self.population_size = int(population_size)
        self.sigma = float(sigma)

    def init(self, key: jax.Array, mean: np.ndarray) -> State:
        mean = jnp.asarray(_check_vector(mean, self.dimension))
        return {
            "mean": mean,
            "best_x": jnp.full_like(mean, jnp.nan),
            "best_f": jnp.asarray(jnp.inf, dtype=mean.dtype),
        }

    def ask(self, key: jax.Array, state: State) -> tuple[np.ndarray, State]:
        z = jax.random.normal(key, (self.population_size, self.dimension), dtype=state["mean"].dtype)
        return _as_f(state["mean"] + self.sigma * z), state

    def tell(self, key: jax.Array, state: State, x: np.ndarray, fitness: np.ndarray) -> State:
        return _update_best(state, x, _check_fitness(fitness, self.population_size))

    def mean(self, state: State) -> np.ndarray:
        return _as_f(state["mean"])


class GridSearch(Strategy):
    """A regular grid ``mean + sigma * linspace(-2, 2, k)`` per dimension, ``population_size`` at a time.

    Generation ``g`` asks grid points ``g P ... (g + 1) P - 1`` in row-major order; past the last point it
    repeats the last one (so a generation always has ``P`` candidates).
    """

    name = "grid"

    def __init__(self, dimension: int, population_size: int, *, sigma: float = 0.5, points_per_dim: int = 5):
        self.dimension = int(dimension)
        self.population_size = int(population_size)
        self.sigma = float(sigma)
        self.points_per_dim = int(points_per_dim)
        self.num_points = self.points_per_dim**self.dimension

    def num_generations_hint(self) -> int | None:
        return math.ceil(self.num_points / self.population_size)

    def init(self, key: jax.Array, mean: np.ndarray) -> State:
        mean = jnp.asarray(_check_vector(mean, self.dimension))
        return {
            "mean": mean,
            "next": jnp.asarray(0, dtype=jnp.int64 if jax.config.jax_enable_x64 else jnp.int32),
            "best_x": jnp.full_like(mean, jnp.nan),
            "best_f": jnp.asarray(jnp.inf, dtype=mean.dtype),
        }

    def _points(self, start: int) -> np.ndarray:
        k = self.points_per_dim
        offsets = np.linspace(-2.0, 2.0, k) if k > 1 else np.zeros(1)
        idx = np.minimum(np.arange(start, start + self.population_size), self.num_points - 1)
        digits = np.stack([(idx // k**d) % k for d in reversed(range(self.dimension))], axis=1)
        return offsets[digits]

    def ask(self, key: jax.Array, state: State) -> tuple[np.ndarray, State]:
        start = int(state["next"])
        x = _as_f(state["mean"])[None, :] + self.sigma * self._points(start)
        return x, {**state, "next": state["next"] + self.population_size}

    def tell(self, key: jax.Array, state: State, x: np.ndarray, fitness: np.ndarray) -> State:
        return _update_best(state, x, _check_fitness(fitness, self.population_size))

    def mean(self, state: State) -> np.ndarray:
        return _as_f(state["mean"])


def _update_best(state: State, x: np.ndarray, fitness: np.ndarray) -> State:
    dtype = state["best_f"].dtype
    safe = np.where(np.isnan(fitness), np.inf, fitness)
    i = int(np.argmin(safe))
    if safe[i] < float(state["best_f"]):
        return {
            **state,
            "best_x": jnp.asarray(x[i], dtype=dtype),
            "best_f": jnp.asarray(safe[i], dtype=dtype),
        }
    return state


def _check_vector(mean: Any, dimension: int) -> np.ndarray:
    mean = np.asarray(mean, dtype=np.float64)
    if mean.shape != (dimension,):
        raise ValueError(f"mean: expected shape ({dimension},), got {mean.shape}")
    if not np.all(np.isfinite(mean)):
        raise ValueError("mean: must be finite")
    return mean


def _check_fitness(fitness: Any, population_size: int) -> np.ndarray:
    fitness = np.asarray(fitness, dtype=np.float64)
    if fitness.shape != (population_size,):
        raise ValueError(f"fitness: expected shape ({population_size},), got {fitness.shape}")
    return fitness


# --- registry ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StrategyInfo:
    """A strategy name, one line of description and its factory ``(dimension, StrategyConfig) -> Strategy``."""

    name: str
    summary: str
    make: Callable[[int, Any], Strategy]


def _evosax_factory(name: str) -> Callable[[int, Any], Strategy]:
    def make(dimension: int, cfg: Any) -> Strategy:
        return EvosaxStrategy(
            name,
            dimension,
            cfg.population_size,
            sigma=cfg.sigma,
            learning_rate=cfg.learning_rate,
            sigma_decay=cfg.sigma_decay,
        )

    return make


STRATEGIES: dict[str, StrategyInfo] = {
    "cma_es": StrategyInfo(
        "cma_es", "CMA-ES (Hansen 2016, arXiv:1604.00772), evosax CMA_ES", _evosax_factory("cma_es")
    ),
    "sep_cma_es": StrategyInfo(
        "sep_cma_es",
        "separable (diagonal) CMA-ES (Ros & Hansen 2008), evosax Sep_CMA_ES",
        _evosax_factory("sep_cma_es"),
    ),
    "open_es": StrategyInfo(
        "open_es",
        "OpenAI-ES (Salimans et al. 2017, arXiv:1703.03864) with Adam, evosax Open_ES",
        _evosax_factory("open_es"),
    ),
    "snes": StrategyInfo("snes", "separable NES (Schaul et al. 2011), evosax SNES", _evosax_factory("snes")),
    "xnes": StrategyInfo(
        "xnes", "exponential NES (Glasmachers et al. 2010), evosax xNES", _evosax_factory("xnes")
    ),
    "pgpe": StrategyInfo(
        "pgpe", "PGPE (Sehnke et al. 2010) with ClipUp, evosax PGPE", _evosax_factory("pgpe")
    ),
    "simple_ga": StrategyInfo(
        "simple_ga",
        "truncation GA (Such et al. 2017, arXiv:1712.06567), evosax SimpleGA",
        _evosax_factory("simple_ga"),
    ),
    "random": StrategyInfo(
        "random",
        "random search: Gaussian samples around the initial mean",
        lambda dimension, cfg: RandomSearch(dimension, cfg.population_size, sigma=cfg.sigma),
    ),
    "grid": StrategyInfo(
        "grid",
        "grid search: points_per_dim points per dimension within 2 sigma of the initial mean",
        lambda dimension, cfg: GridSearch(
            dimension, cfg.population_size, sigma=cfg.sigma, points_per_dim=cfg.points_per_dim
        ),
    ),
}


def check_strategy_config(cfg: Any) -> None:
    """Strategy-specific constraints on a ``[strategy]`` table (``ValueError`` naming the key)."""
    recipe = _RECIPES.get(cfg.name)
    if recipe is not None and recipe.even_population and cfg.population_size % 2:
        raise ValueError(
            f"strategy.population_size: {cfg.name} samples antithetic pairs, so it must be even; "
            f"got {cfg.population_size}"
        )


def make_strategy(dimension: int, cfg: Any) -> Strategy:
    """The strategy named by ``cfg.name`` (a :class:`~search.config.StrategyConfig`) over ``R^dimension``.

    Strategies hold only static settings, so one object serves every run with the same settings; it is
    cached, which keeps evosax's jitted ``ask``/``tell`` (compiled per object) warm within a process.
    """
    if cfg.name not in STRATEGIES:
        raise ValueError(f"strategy.name: unknown strategy {cfg.name!r}; known: {', '.join(STRATEGIES)}")
    check_strategy_config(cfg)
    settings = (
        cfg.name,
        cfg.population_size,
        cfg.sigma,
        cfg.learning_rate,
        cfg.sigma_decay,
        cfg.points_per_dim,
    )
    return _cached_strategy(int(dimension), settings, bool(jax.config.jax_enable_x64))


@functools.lru_cache(maxsize=64)
def _cached_strategy(dimension: int, settings: tuple, x64: bool) -> Strategy:
    name, population_size, sigma, learning_rate, sigma_decay, points_per_dim = settings
    cfg = _Settings(name, population_size, sigma, learning_rate, sigma_decay, points_per_dim)
    return STRATEGIES[name].make(dimension, cfg)


@dataclasses.dataclass(frozen=True)
class _Settings:
    name: str
    population_size: int
    sigma: float
    learning_rate: float
    sigma_decay: float
    points_per_dim: int


# --- exact (de)serialisation ------------------------------------------------------------------------------


def _is_key(leaf: Any) -> bool:
    return isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def state_to_arrays(state: State) -> dict[str, np.ndarray]:
    """Named NumPy arrays of every leaf of ``state`` (PRNG keys as ``key_data``, names prefixed ``key:``)."""
    out: dict[str, np.ndarray] = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        name = jax.tree_util.keystr(path)
        if _is_key(leaf):
            out["key:" + name] = np.asarray(jax.random.key_data(leaf))
        else:
            out[name] = np.asarray(leaf)
    return out


def state_from_arrays(template: State, arrays: Mapping[str, np.ndarray]) -> State:
    """Rebuild a state with ``template``'s structure from :func:`state_to_arrays` output, exactly.

    Raises ``ValueError`` when a leaf is missing or its shape or dtype differs (a checkpoint from another
    strategy, dimension or population size).
    """
    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    expected = set()
    for path, leaf in leaves_with_path:
        name = jax.tree_util.keystr(path)
        if _is_key(leaf):
            name = "key:" + name
            ref = np.asarray(jax.random.key_data(leaf))
        else:
            ref = np.asarray(leaf)
        expected.add(name)
        if name not in arrays:
            raise ValueError(f"checkpoint: state leaf {name} is missing")
        value = np.asarray(arrays[name])
        if value.shape != ref.shape or value.dtype != ref.dtype:
            raise ValueError(
                f"checkpoint: state leaf {name} has {value.dtype}{list(value.shape)}, "
                f"expected {ref.dtype}{list(ref.shape)}"
            )
        if _is_key(leaf):
            leaves.append(jax.random.wrap_key_data(jnp.asarray(value), impl=jax.random.key_impl(leaf)))
        else:
            leaves.append(jnp.asarray(value) if isinstance(leaf, jax.Array) else type(leaf)(value))
    extra = set(arrays) - expected
    if extra:
        raise ValueError(f"checkpoint: unexpected state leaves {sorted(extra)}")
    return jax.tree_util.tree_unflatten(treedef, leaves)
