"""Inner training as one compiled program: ``train`` (one optimizer) and ``train_population``.

One run (one candidate, one seed) is a pure function of ``(hyperparameters, key, datasets)``:

    params_0 = task.init(k_init);  state_0 = opt.init(params_0)
    for t in 0..num_steps-1:                         (jax.lax.scan, no host round trips)
        k_batch, k_loss = split(fold_in(k_data, t))
        loss_t, g_t = value_and_grad(task.loss)(params_t, k_loss, task.batch(k_batch, "train", datasets))
        u_t, state_{t+1} = opt.update(g_t, state_t, params_t, value=loss_t)
        params_{t+1} = params_t + u_t                (optax.apply_updates: the params' dtype is kept)
    evaluate(params) on ``eval_split`` at steps 0, eval_every, 2 eval_every, ..., num_steps

with ``k_init, k_data = split(key)``. The evaluations sit between nested scans (an outer scan over
blocks of ``eval_every`` steps), so no ``cond`` turns into a both-branches ``select`` under ``vmap``.
``opt`` is wrapped by ``optax.with_extra_args_support``: transforms that need the loss get ``value=``,
the others ignore it.

Compilation: a population's optimizers come from ``make_opt(hyperparameters)``, with the numeric
hyperparameters entering as traced scalars, so one compiled program serves every candidate of one
structure. Programs are cached per ``(task, make_opt, num_steps, eval_every, eval_split, path)`` (tasks
hash by their configuration; ``make_opt`` by identity, so pass the same function object, e.g. the one
``SearchSpace.builder(signature)`` caches). The datasets are arguments of the program, not constants.

Population paths: ``"vmap"`` runs candidates x seeds as one vectorised program; ``"loop"`` calls one
compiled single-run program for every (candidate, seed), dispatching asynchronously. ``"auto"`` takes
``vmap`` on accelerators and, on CPU, for tasks whose per-step memory traffic is below
:data:`CPU_VMAP_MAX_BYTES` (``benchmarks/population.py`` measures the choice).

Divergence (per run): any non-finite training or evaluation loss, or a training-loss gap
``loss - lower_bound`` above ``DIVERGENCE_FACTOR`` (10) times the initial gap.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from inner_tasks.base import SPLITS, Task

__all__ = [
    "CPU_VMAP_MAX_BYTES",
    "DIVERGENCE_FACTOR",
    "PATHS",
    "TrainResult",
    "choose_path",
    "compile_count",
    "eval_schedule",
    "make_keys",
    "step_cost",
    "train",
    "train_population",
]

PATHS = ("auto", "vmap", "loop")
DIVERGENCE_FACTOR = 10.0
#: On CPU, ``auto`` vectorises tasks whose loss-and-gradient step accesses at most this many bytes.
CPU_VMAP_MAX_BYTES = 1.2e6
_CACHE_SIZE = 64

MakeOpt = Callable[[Mapping[str, jax.Array]], optax.GradientTransformation]


@dataclasses.dataclass(frozen=True, eq=False)
class TrainResult:
    """Curves of inner training (NumPy arrays; leading axes ``[S]`` from ``train``, ``[P, S]`` from
    ``train_population``).

    Attributes:
      train_loss: ``[..., T]`` training loss at each step, before that step's update.
      eval_steps: ``[E]`` steps at which ``evaluate`` ran (0, eval_every, ..., num_steps).
      eval_loss: ``[..., E]`` evaluation loss on ``eval_split``.
      eval_accuracy: ``[..., E]`` evaluation accuracy, or ``None`` if the task reports none.
      diverged: ``[...]`` bool: non-finite losses or a gap above 10x the initial gap.
      lower_bound: the task's ``lower_bound``.
      path: the population path that ran (``"vmap"`` or ``"loop"``).
      wall_time: seconds for the whole call (compilation included when it happened).
    """

    train_loss: np.ndarray
    eval_steps: np.ndarray
    eval_loss: np.ndarray
    eval_accuracy: np.ndarray | None
    diverged: np.ndarray
    lower_bound: float = 0.0
    path: str = ""
    wall_time: float = 0.0

    @property
    def num_steps(self) -> int:
        """``T``."""
        return int(self.train_loss.shape[-1])

    def candidate(self, index: int) -> TrainResult:
        """The ``[S, ...]`` result of candidate ``index`` of a population result."""
        if self.train_loss.ndim != 3:
            raise ValueError("index: candidate() needs a population result with axes [P, S, T]")
        acc = None if self.eval_accuracy is None else self.eval_accuracy[index]
        return dataclasses.replace(
            self,
            train_loss=self.train_loss[index],
            eval_loss=self.eval_loss[index],
            eval_accuracy=acc,
            diverged=self.diverged[index],
        )


def eval_schedule(num_steps: int, eval_every: int) -> tuple[np.ndarray, int, int]:
    """``(eval_steps, num_full_blocks, remainder)`` for ``num_steps`` steps evaluated every ``eval_every``."""
    if int(num_steps) < 1:
        raise ValueError(f"num_steps: must be >= 1, got {num_steps}")
    if int(eval_every) < 1:
        raise ValueError(f"eval_every: must be >= 1, got {eval_every}")
    full, rem = divmod(int(num_steps), int(eval_every))
    steps = [0] + [(i + 1) * int(eval_every) for i in range(full)] + ([int(num_steps)] if rem else [])
    return np.asarray(steps, dtype=np.int64), full, rem


def make_keys(keys: jax.Array | np.ndarray | int) -> jax.Array:
    """Typed PRNG keys ``[S]`` from typed keys, raw ``uint32 [S, 2]`` key data, or a seed count ``S``.

    A count ``S`` gives ``fold_in(key(0), i)`` for ``i < S``.
    """
    if isinstance(keys, (int, np.integer)) and not isinstance(keys, bool):
        if keys < 1:
            raise ValueError(f"keys: a seed count must be >= 1, got {keys}")
        base = jax.random.key(0)
        return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(int(keys)))
    if isinstance(keys, jax.Array) and jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        out = keys
    else:
        data = jnp.asarray(keys)
        if data.dtype != jnp.uint32 or data.ndim < 1:
            raise ValueError(f"keys: expected PRNG keys, raw uint32 key data or a count, got {data.dtype}")
        out = jax.random.wrap_key_data(data)
    if out.ndim == 0:
        out = out[None]
    if out.ndim != 1:
        raise ValueError(f"keys: expected a 1-D array of keys, got shape {out.shape}")
    return out


# -- one run ------------------------------------------------------------------------------------------


def _wide(x: jax.Array) -> jax.Array:
    """``x`` as float32, or float64 if it already is (float64 tasks keep their resolution)."""
    x = jnp.asarray(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _metrics(task: Task, params: Any, split: str, datasets: Any) -> tuple[jax.Array, jax.Array]:
    out = task.evaluate(params, split, datasets)
    loss = _wide(out["loss"])
    acc = jnp.asarray(out.get("accuracy", jnp.nan), jnp.float32)
    return loss, acc


def _make_run(task: Task, make_opt: MakeOpt, num_steps: int, eval_every: int, eval_split: str, counter: list):
    """The pure single-run function ``(hparams, key, datasets) -> (train_loss, eval_loss, eval_acc)``."""
    _, num_full, rem = eval_schedule(num_steps, eval_every)

    def run(hparams: Mapping[str, jax.Array], key: jax.Array, datasets: Any):
        counter[0] += 1  # runs once per trace: counts compilations
        k_init, k_data = jax.random.split(key)
        params = task.init(k_init)
        opt = optax.with_extra_args_support(make_opt(hparams))
        state = opt.init(params)

        def step(carry, t):
            params, state = carry
            k_batch, k_loss = jax.random.split(jax.random.fold_in(k_data, t))
            batch = task.batch(k_batch, "train", datasets)
            loss, grads = jax.value_and_grad(task.loss)(params, k_loss, batch)
            updates, new_state = opt.update(grads, state, params, value=loss)
            params = optax.apply_updates(params, updates)
            # keep the state's dtypes (optax may promote them when hyperparameters are float64)
            state = jax.tree.map(lambda new, old: jnp.asarray(new, old.dtype), new_state, state)
            return (params, state), _wide(loss)

        def block(carry, start, length):
            carry, losses = jax.lax.scan(step, carry, start + jnp.arange(length))
            return carry, (losses, _metrics(task, carry[0], eval_split, datasets))

        ev_loss0, ev_acc0 = _metrics(task, params, eval_split, datasets)
        carry = (params, state)
        losses, ev_losses, ev_accs = [], [ev_loss0[None]], [ev_acc0[None]]
        if num_full:
            starts = jnp.arange(num_full) * eval_every
            carry, (block_losses, (bl, ba)) = jax.lax.scan(
                lambda c, s: block(c, s, eval_every), carry, starts
            )
            losses.append(block_losses.reshape(-1))
            ev_losses.append(bl)
            ev_accs.append(ba)
        if rem:
            carry, (tail_losses, (tl, ta)) = block(carry, num_full * eval_every, rem)
            losses.append(tail_losses)
            ev_losses.append(tl[None])
            ev_accs.append(ta[None])
        return jnp.concatenate(losses), jnp.concatenate(ev_losses), jnp.concatenate(ev_accs)

    return run


# -- compiled-program cache ---------------------------------------------------------------------------


class _Runner:
    """The jitted programs of one (task, make_opt, budget) and their trace counter."""

    def __init__(self, task, make_opt, num_steps, eval_every, eval_split):
        self.counter = [0]
        run = _make_run(task, make_opt, num_steps, eval_every, eval_split, self.counter)
        self.single = jax.jit(run)
        self.population = jax.jit(
            lambda hp, keys, data, size: jax.vmap(
                jax.vmap(run, in_axes=(None, 0, None)), in_axes=(0, None, None), axis_size=size
            )(hp, keys, data),
            static_argnums=3,
        )


_RUNNERS: collections.OrderedDict[Any, _Runner] = collections.OrderedDict()
_RETIRED_TRACES = [0]


def _runner(task: Task, make_opt: MakeOpt, num_steps: int, eval_every: int, eval_split: str) -> _Runner:
    try:
        hash(task)
        task_key: Any = task
    except TypeError:
        task_key = ("id", id(task))
    key = (task_key, make_opt, int(num_steps), int(eval_every), eval_split)
    runner = _RUNNERS.get(key)
    if runner is None:
        runner = _Runner(task, make_opt, int(num_steps), int(eval_every), eval_split)
        _RUNNERS[key] = runner
        while len(_RUNNERS) > _CACHE_SIZE:
            _, old = _RUNNERS.popitem(last=False)
            _RETIRED_TRACES[0] += old.counter[0]
    else:
        _RUNNERS.move_to_end(key)
    return runner


def compile_count() -> int:
    """How many times a training program has been traced (= compiled) in this process."""
    return _RETIRED_TRACES[0] + sum(r.counter[0] for r in _RUNNERS.values())


class _Constant:
    """``make_opt`` for a fixed optimizer object; hashes by the object's identity (and keeps it alive)."""

    def __init__(self, opt: optax.GradientTransformation):
        self.opt = opt

    def __call__(self, hparams: Mapping[str, jax.Array]) -> optax.GradientTransformation:
        return self.opt

    def __hash__(self) -> int:
        return id(self.opt)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Constant) and other.opt is self.opt


# -- path choice ----------------------------------------------------------------------------------------

_COST_CACHE: dict[Any, dict[str, float]] = {}


def step_cost(task: Task) -> dict[str, float]:
    """XLA's cost estimate of one loss-and-gradient evaluation on a training batch (cached per task).

    Returns ``{"flops": ..., "bytes": ...}`` (``bytes``: memory traffic, XLA's "bytes accessed"). Where
    XLA gives no estimate, both are derived from the parameter count (6 flops, 24 bytes per parameter).
    """
    try:
        cache_key: Any = task
        hash(cache_key)
    except TypeError:
        cache_key = id(task)
    if cache_key not in _COST_CACHE:
        key = jax.random.key(0)
        data = task.datasets
        params = jax.eval_shape(task.init, key)

        def f(params, key, data):
            return jax.value_and_grad(task.loss)(params, key, task.batch(key, "train", data))

        try:
            cost = jax.jit(f).lower(params, key, data).cost_analysis()
            if isinstance(cost, (list, tuple)):
                cost = cost[0]
            flops = float(cost.get("flops", 0.0)) if cost else 0.0
            traffic = float(cost.get("bytes accessed", 0.0)) if cost else 0.0
        except Exception:
            flops = traffic = 0.0
        if flops <= 0.0 or traffic <= 0.0:
            n = task.num_params()
            flops, traffic = 6.0 * n, 24.0 * n
        _COST_CACHE[cache_key] = {"flops": flops, "bytes": traffic}
    return dict(_COST_CACHE[cache_key])


def choose_path(task: Task, num_candidates: int = 1, num_seeds: int = 1, backend: str | None = None) -> str:
    """``"vmap"`` or ``"loop"`` for a population of ``num_candidates x num_seeds`` runs of ``task``.

    Accelerators, or a single run: ``vmap``. CPU: ``vmap`` when one step's memory traffic
    (:func:`step_cost`) is at most :data:`CPU_VMAP_MAX_BYTES`, else ``loop``. Small steps are dominated by
    per-call overhead, which ``vmap`` amortises; once one lane's working set is large, ``vmap``'s
    population-wide arrays leave the caches and its batched matmuls and convolutions run slower than a
    loop of single runs. Measured by ``benchmarks/population.py`` (16 x 4 runs) on a 2-core CPU: vmap/loop
    speed 1.45-29 for every task up to 8.6e5 bytes per step (LJ38 8.2e5: 3.2; char-LM 8.6e5: 1.45), 0.45
    for the digits conv net at 1.5e6 bytes; the threshold lies between.
    """
    backend = backend or jax.default_backend()
    if backend != "cpu" or num_candidates * num_seeds <= 1:
        return "vmap"
    return "vmap" if step_cost(task)["bytes"] <= CPU_VMAP_MAX_BYTES else "loop"


# -- public entry points ----------------------------------------------------------------------------------


def _numeric_arrays(numeric: Mapping[str, Any]) -> tuple[dict[str, jax.Array], int]:
    arrays: dict[str, jax.Array] = {}
    size = None
    for name, value in numeric.items():
        arr = jnp.asarray(value)
        if arr.ndim != 1:
            raise ValueError(
                f"numeric[{name!r}]: expected a 1-D array over candidates, got shape {arr.shape}"
            )
        if size is not None and arr.shape[0] != size:
            raise ValueError(f"numeric[{name!r}]: {arr.shape[0]} candidates, other entries have {size}")
        size = arr.shape[0]
        arrays[str(name)] = arr
    if size == 0:
        raise ValueError("numeric: empty candidate axis")
    return arrays, 1 if size is None else int(size)


def _divergence(train_loss: np.ndarray, eval_loss: np.ndarray, lower_bound: float) -> np.ndarray:
    finite = np.isfinite(train_loss).all(axis=-1) & np.isfinite(eval_loss).all(axis=-1)
    gap = train_loss.astype(np.float64) - lower_bound
    initial = np.abs(gap[..., :1])
    with np.errstate(invalid="ignore"):
        blown = (gap > DIVERGENCE_FACTOR * initial).any(axis=-1)
    return ~finite | blown


def train_population(
    task: Task,
    make_opt: MakeOpt,
    numeric: Mapping[str, Any],
    num_steps: int,
    keys: jax.Array | np.ndarray | int,
    eval_every: int | None = None,
    *,
    path: str = "auto",
    eval_split: str = "outer_valid",
) -> TrainResult:
    """Train a population of ``P`` candidates x ``S`` seeds of one optimizer structure.

    Args:
      task: the task.
      make_opt: builds the optimizer from a dict of (traced) scalar hyperparameters; keep one function
        object per structure so the compiled program is reused.
      numeric: hyperparameter name -> array ``[P]`` (may be empty: ``P = 1``).
      num_steps: inner-training steps ``T``.
      keys: ``S`` PRNG keys (or raw key data, or a seed count; see :func:`make_keys`).
      eval_every: steps between evaluations (default ``max(1, num_steps // 10)``).
      path: ``"auto"``, ``"vmap"`` or ``"loop"``.
      eval_split: the split ``evaluate`` uses.

    Returns:
      a :class:`TrainResult` with leading axes ``[P, S]``.
    """
    if path not in PATHS:
        raise ValueError(f"path: expected one of {PATHS}, got {path!r}")
    if eval_split not in SPLITS:
        raise ValueError(f"eval_split: expected one of {SPLITS}, got {eval_split!r}")
    eval_every = max(1, int(num_steps) // 10) if eval_every is None else int(eval_every)
    eval_steps, _, _ = eval_schedule(num_steps, eval_every)
    keys = make_keys(keys)
    hparams, size = _numeric_arrays(numeric)
    num_seeds = int(keys.shape[0])
    if path == "auto":
        path = choose_path(task, size, num_seeds)
    start = time.perf_counter()
    runner = _runner(task, make_opt, int(num_steps), eval_every, eval_split)
    data = task.datasets
    if path == "vmap":
        train_loss, eval_loss, eval_acc = runner.population(hparams, keys, data, size)
    else:
        outs = [
            runner.single({k: v[p] for k, v in hparams.items()}, keys[s], data)
            for p in range(size)
            for s in range(num_seeds)
        ]
        train_loss, eval_loss, eval_acc = (
            jnp.stack([o[i] for o in outs]).reshape(size, num_seeds, -1) for i in range(3)
        )
    train_loss = np.asarray(train_loss)
    eval_loss = np.asarray(eval_loss)
    eval_acc = np.asarray(eval_acc) if task.has_accuracy else None
    lower = float(task.lower_bound)
    return TrainResult(
        train_loss=train_loss,
        eval_steps=eval_steps,
        eval_loss=eval_loss,
        eval_accuracy=eval_acc,
        diverged=_divergence(train_loss, eval_loss, lower),
        lower_bound=lower,
        path=path,
        wall_time=time.perf_counter() - start,
    )


def train(
    task: Task,
    opt: optax.GradientTransformation,
    num_steps: int,
    keys: jax.Array | np.ndarray | int,
    eval_every: int | None = None,
    *,
    path: str = "auto",
    eval_split: str = "outer_valid",
) -> TrainResult:
    """Train ``task`` with ``opt`` from each of ``S`` keys; arrays have a leading seeds axis ``[S]``.

    The compiled program is cached per optimizer object: build an optimizer once and reuse it, or use
    :func:`train_population` with traced hyperparameters to compare many settings with one compilation.
    """
    result = train_population(
        task, _Constant(opt), {}, num_steps, keys, eval_every, path=path, eval_split=eval_split
    )
    return result.candidate(0)
