"""The task interface: ``Task``, ``TaskFamily``, ``Datasets`` and the suite containers.

A task follows learned_optimization's ``Task`` interface (``init``, ``loss``, ``normalizer``,
``datasets``, ``init_with_state``, ``loss_with_state``, ``loss_and_aux``, ``name``) and adds what a
fully-jitted training loop needs:

* its data lives in device arrays (:class:`Datasets`, one pytree of arrays per split), loaded lazily
  through a module-level cache keyed by the task's configuration, so the dataclass itself stays small
  (it pickles for Ray) and hashable (it can be a ``jax.jit`` static argument);
* ``batch(key, split, datasets=None)`` is a pure function of a PRNG key, so a whole training run can be
  one ``jax.lax.scan`` with no host round trips. The training loop passes ``datasets`` explicitly as a
  traced argument (the arrays are not baked into the compiled program as constants);
* ``evaluate(params, split, datasets=None) -> {"loss": ..., "accuracy": ...}`` is deterministic (it uses
  a fixed subset of the split, or the noise-free loss of a data-free task);
* ``lower_bound``: the known infimum of the loss (0 for cross-entropy and non-negative objectives, the
  global minimum for atomic clusters); scores are ``log(gap)`` with ``gap = loss - lower_bound``.

A ``TaskFamily`` samples task configurations from a key (learned_optimization's ``sample(key) -> cfg``
and ``task_fn(cfg) -> Task``).

Splits are named as in learned_optimization: ``train``, ``inner_valid``, ``outer_valid``, ``test``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "SPLITS",
    "Datasets",
    "Task",
    "TaskFamily",
    "SuiteEntry",
    "Suite",
    "check_split",
    "clear_datasets_cache",
    "task_config",
    "task_fingerprint",
]

PyTree = Any
Batch = Any

SPLITS: tuple[str, ...] = ("train", "inner_valid", "outer_valid", "test")


def check_split(split: str) -> str:
    """Return ``split`` if it is one of :data:`SPLITS`, else raise a ``ValueError`` naming it."""
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    return split


class Datasets(NamedTuple):
    """The four splits of a task's data, each a pytree of device arrays (e.g. ``{"x": ..., "y": ...}``).

    Unlike learned_optimization's ``Datasets`` (Python iterators of batches) these are whole arrays;
    batches are drawn from them by the task's pure ``batch`` function. A ``NamedTuple`` is a pytree,
    so a ``Datasets`` can be passed to a jitted function as an argument.
    """

    train: PyTree
    inner_valid: PyTree
    outer_valid: PyTree
    test: PyTree

    def split(self, name: str) -> PyTree:
        """The arrays of split ``name`` (one of :data:`SPLITS`)."""
        return getattr(self, check_split(name))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return task_config(value)
    return repr(value)


def task_config(task: Any) -> dict[str, Any]:
    """A JSON-able description of a task (or family): its class and its dataclass fields.

    Fields declared with ``compare=False`` (caches, data handles) are left out, so two tasks with equal
    configurations have equal descriptions.
    """
    out: dict[str, Any] = {"kind": f"{type(task).__module__}.{type(task).__qualname__}"}
    if dataclasses.is_dataclass(task):
        for f in dataclasses.fields(task):
            if f.compare:
                out[f.name] = _jsonable(getattr(task, f.name))
    return out


def task_fingerprint(task: Any) -> str:
    """A short stable hash of :func:`task_config` (used to key on-disk caches)."""
    text = json.dumps(task_config(task), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Task:
    """Base class of every task. Subclasses are ``@dataclasses.dataclass(frozen=True)``.

    Subclasses must implement :meth:`init` and :meth:`loss`, and override :attr:`name`; data tasks also
    override :meth:`load_datasets`, :meth:`batch` and :meth:`evaluate` and set ``has_accuracy``.

    Equality and hashing come from the dataclass fields (the configuration), never from data arrays, so
    a task can be a ``jax.jit`` static argument or a dictionary key.
    """

    #: Whether :meth:`evaluate` returns an ``"accuracy"`` entry (a class-level constant).
    has_accuracy: bool = False

    # -- identity ---------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """A short human-readable name that encodes the configuration (e.g. ``quadratic_d10_c100``)."""
        return type(self).__name__

    def config(self) -> dict[str, Any]:
        """The JSON-able configuration (class and fields); see :func:`task_config`."""
        return task_config(self)

    def fingerprint(self) -> str:
        """A stable hash of :meth:`config` (on-disk cache key)."""
        return task_fingerprint(self)

    # -- learned_optimization's Task interface ------------------------------------------------------

    def init(self, key: jax.Array) -> PyTree:
        """Initial parameters drawn from ``key``."""
        raise NotImplementedError

    def loss(self, params: PyTree, key: jax.Array, batch: Batch) -> jax.Array:
        """The scalar training loss of ``params`` on ``batch`` (``key`` drives any loss-side noise)."""
        raise NotImplementedError

    def init_with_state(self, key: jax.Array) -> tuple[PyTree, Any]:
        """``(params, state)``; tasks here are stateless, so ``state`` is ``None``."""
        return self.init(key), None

    def loss_with_state(
        self, params: PyTree, state: Any, key: jax.Array, batch: Batch
    ) -> tuple[jax.Array, Any]:
        """``(loss, state)`` with the state passed through unchanged."""
        return self.loss(params, key, batch), state

    def loss_and_aux(self, params: PyTree, key: jax.Array, batch: Batch) -> tuple[jax.Array, dict[str, Any]]:
        """``(loss, aux)`` with an empty auxiliary dictionary."""
        return self.loss(params, key, batch), {}

    def loss_with_state_and_aux(
        self, params: PyTree, state: Any, key: jax.Array, batch: Batch
    ) -> tuple[jax.Array, Any, dict[str, Any]]:
        """``(loss, state, aux)``."""
        loss, aux = self.loss_and_aux(params, key, batch)
        return loss, state, aux

    def normalizer(self, loss: jax.Array) -> jax.Array:
        """Map a loss to a comparable scale (identity by default, as in learned_optimization)."""
        return loss

    @property
    def lower_bound(self) -> float:
        """The infimum of the loss (0 by default: cross-entropy, sums of squares)."""
        return 0.0

    # -- data -------------------------------------------------------------------------------------

    def load_datasets(self) -> Datasets | None:
        """Build the task's device arrays (called once per configuration; ``None`` if data-free)."""
        return None

    @property
    def datasets(self) -> Datasets | None:
        """The task's data (cached per configuration), or ``None`` for data-free tasks."""
        return _cached_datasets(self)

    def batch(self, key: jax.Array, split: str = "train", datasets: Datasets | None = None) -> Batch:
        """A batch of ``split`` drawn with ``key`` (pure; ``None`` for data-free tasks).

        ``datasets`` defaults to :attr:`datasets`; the training loop passes it explicitly so that the
        arrays are arguments of the compiled program, not constants inside it.
        """
        check_split(split)
        return None

    def evaluate(self, params: PyTree, split: str = "outer_valid", datasets: Datasets | None = None) -> dict:
        """Deterministic evaluation of ``params`` on ``split``: ``{"loss": scalar[, "accuracy": scalar]}``.

        The default, for data-free tasks, is the loss with a fixed key and no batch.
        """
        check_split(split)
        return {"loss": self.loss(params, jax.random.key(0), self.batch(jax.random.key(0), split, datasets))}

    def _data(self, datasets: Datasets | None) -> Datasets:
        """``datasets`` or the cached data; raise if a data task has none."""
        data = self.datasets if datasets is None else datasets
        if data is None:
            raise ValueError(f"datasets: task {self.name} has no data")
        return data

    def num_params(self) -> int:
        """The number of scalar parameters (shapes only; nothing is computed)."""
        shapes = jax.eval_shape(self.init, jax.random.key(0))
        return int(sum(x.size for x in jax.tree.leaves(shapes)))


_DATASETS_CACHE: dict[Any, Datasets | None] = {}


def _cached_datasets(task: Task) -> Datasets | None:
    """Load ``task``'s data once per (hashable) configuration."""
    try:
        cache_key = (type(task), task)
        hash(cache_key)
    except TypeError:
        return task.load_datasets()
    if cache_key not in _DATASETS_CACHE:
        _DATASETS_CACHE[cache_key] = task.load_datasets()
    return _DATASETS_CACHE[cache_key]


def clear_datasets_cache() -> None:
    """Drop every cached dataset (frees device memory)."""
    _DATASETS_CACHE.clear()


class TaskFamily:
    """A distribution over task configurations (learned_optimization's ``TaskFamily``).

    Subclasses are frozen dataclasses that implement ``sample(key) -> cfg`` (a JSON-able dict) and
    ``task_fn(cfg) -> Task``.
    """

    @property
    def name(self) -> str:
        """A short name for the family."""
        return type(self).__name__

    def sample(self, key: jax.Array) -> dict[str, Any]:
        """Draw one task configuration (a JSON-able dict) from ``key``."""
        raise NotImplementedError

    def task_fn(self, cfg: Mapping[str, Any]) -> Task:
        """The task of configuration ``cfg``."""
        raise NotImplementedError

    def sample_task(self, key: jax.Array) -> Task:
        """``task_fn(sample(key))``."""
        return self.task_fn(self.sample(key))

    def eval_task_fn(self, cfg: Mapping[str, Any]) -> Task:
        """The task used for evaluation (the same as :meth:`task_fn` here)."""
        return self.task_fn(cfg)


@dataclasses.dataclass(frozen=True)
class SuiteEntry:
    """One task of a suite with its inner-training budget.

    Attributes:
      task: the task.
      num_steps: inner-training steps.
      eval_every: evaluate on the validation split every this many steps (and after the last step).
    """

    task: Task
    num_steps: int
    eval_every: int

    def __post_init__(self) -> None:
        if not isinstance(self.task, Task):
            raise ValueError(f"task: expected an inner_tasks.Task, got {type(self.task).__name__}")
        if int(self.num_steps) < 1:
            raise ValueError(f"num_steps: must be >= 1, got {self.num_steps}")
        if int(self.eval_every) < 1:
            raise ValueError(f"eval_every: must be >= 1, got {self.eval_every}")


@dataclasses.dataclass(frozen=True)
class Suite:
    """A named list of tasks with step budgets.

    Attributes:
      name: the suite's name (a key of ``inner_tasks.SUITES``).
      description: one line for ``optsearch list suites``.
      entries: the tasks and their budgets.
      seed: offset added to the seeds of this suite's inner-training keys (a held-out suite uses other
        seeds than the training suite): see :meth:`keys`.
    """

    name: str
    description: str
    entries: tuple[SuiteEntry, ...]
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.entries:
            raise ValueError(f"entries: suite {self.name!r} has no tasks")
        object.__setattr__(self, "entries", tuple(self.entries))

    @property
    def tasks(self) -> tuple[Task, ...]:
        """The tasks of the suite, in order."""
        return tuple(e.task for e in self.entries)

    def keys(self, num_seeds: int, seed: int = 0) -> jax.Array:
        """``num_seeds`` PRNG keys for inner training: ``fold_in(key(self.seed + seed), i)``."""
        if int(num_seeds) < 1:
            raise ValueError(f"num_seeds: must be >= 1, got {num_seeds}")
        base = jax.random.key(self.seed + seed)
        return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(int(num_seeds)))
