"""Adapter between optsearch tasks and learned_optimization's ``Task``, in both directions.

learned_optimization (Metz et al., "Practical tradeoffs between memory, compute, and performance in
learned optimization", arXiv:2203.11860; https://github.com/google/learned_optimization) defines the task
interface our :class:`inner_tasks.Task` follows. This module

* wraps any learned_optimization ``Task`` as ours (:func:`from_lopt`, :class:`LoptTask`): data-free tasks
  fully; dataset tasks by drawing ``num_batches`` batches per split from its Python iterators once and
  keeping them as device arrays, so our fully-jitted training loop (``inner_tasks.train``) can sample
  them with a pure ``batch(key, split)``;
* exposes ours as learned_optimization ``Task`` / ``TaskFamily`` objects (:func:`to_lopt`,
  :func:`to_lopt_family`), so its own training (``eval_training``) and outer-training code
  (``outer_trainers``: truncated PES/ES/gradients, full ES, ``SingleMachineGradientLearner``) run on them.

Installation
------------
Its only PyPI release, 0.0.1, pins packages that no longer install beside current JAX
(``dm-launchpad-nightly``, flax 0.3.3, tensorflow, tensorflow-datasets, ...). The recipe that works
(checked with jax 0.10.2, Python 3.11)::

    pip install --no-deps learned-optimization==0.0.1
    pip install flax==0.12.8 dm-haiku==0.0.17 gin-config==0.5.0 absl-py==2.5.1

(The four are what its modules import besides jax/optax/numpy; the pins are the versions tested here,
so pip does not pull a flax that wants another jax.)

Compatibility layer
-------------------
Nothing happens when this module is imported. :func:`ensure_learned_optimization` (called by every entry
point here) applies, once per process:

* a JAX shim restoring aliases that learned_optimization still uses and JAX has removed, only where
  missing: ``jax.tree_map``, ``jax.tree_multimap`` (both ``jax.tree_util.tree_map``), ``jax.tree_leaves``,
  ``jax.tree_flatten``, ``jax.tree_unflatten``, ``jax.tree_structure``, ``jax.ShapedArray``
  (``jax.core.ShapedArray``) and ``jax.lib.xla_client`` (a module holding ``Device = jax.Device``, used
  in its type annotations);
* import stubs for ``tensorflow`` (+ ``tensorflow.compat.v2``), ``tensorflow_datasets``,
  ``flax.metrics.tensorboard`` and ``tqdm``, each only where the real one is not installed. They sit in
  ``sys.modules`` only while the learned_optimization modules that import them at import time
  (``summary``, ``tasks.datasets.base``, ``eval_training``) are imported, and are removed afterwards, so
  other libraries probing for TensorFlow are not fooled. Those modules keep their reference: any real
  use of TensorFlow, TFDS or the TensorBoard writer raises :class:`LoptUnsupportedError` (one message
  saying what is missing); the ``tqdm`` stub is a silent pass-through.

What works and what does not (learned_optimization 0.0.1, jax 0.10.2)
--------------------------------------------------------------------
Works: ``tasks.base`` (``Task``, ``TaskFamily``, ``single_task_to_family``), the data-free quadratic tasks
and families and those whose datasets are Python iterators (``tasks.quadratics``), ``optimizers.base``,
``learned_optimizers`` (``LearnableSGD``/``SGDM``/``Adam``, ``MLPLOpt``, ...), ``outer_trainers``,
``eval_training``, ``summary`` (without oryx, summaries are silently not collected: upstream's own
fallback). Its outer trainers assume 32-bit JAX: under ``jax_enable_x64`` the two branches of the
``lax.cond`` in ``outer_trainers.common.progress_or_reset_inner_opt_state`` return int32 vs int64 and
float32 vs float64 values and fail to trace (a ``TypeError``), so run them inside
``with jax.enable_x64(False):`` in a process that enables float64 (``eval_training`` works either way).

Does not work here (each fails on import or use; upstream modules, not the adapter):

* its dataset tasks (``tasks.datasets.image``-based ``tasks.fixed``/``tasks.parametric`` tasks) read
  TFDS data: constructing one raises :class:`LoptUnsupportedError` (TensorFlow + TensorFlow Datasets and
  their downloads are not provided); ``tasks.datasets.language`` and the RNN language-model tasks also
  import ``seqio``, ``generative_model_utils``/``image_mlp_vae`` ``tensorflow_probability``;
* ``outer_train``, ``distributed``, ``population`` and ``continuous_eval`` import ``courier``
  (``dm-launchpad``), which does not install;
* ``tasks.es_wrapper``, ``tasks.fixed.resnet``/``transformer_lm`` and ``tasks.parametric.lm_transformer``
  import ``chex`` (not among the four packages; ``pip install chex`` adds them);
* ``tasks.parametric.image_mlp`` imports ``learned_optimization.time_filter``, missing from the 0.0.1
  release, and ``tasks.parametric`` helpers call ``numpy.product``, removed in NumPy 2.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib
import importlib.util
import logging
import sys
import threading
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from inner_tasks.base import SPLITS, Datasets, Task, check_split

__all__ = [
    "INSTALL_COMMANDS",
    "LoptRef",
    "LoptTask",
    "LoptUnsupportedError",
    "ensure_learned_optimization",
    "from_lopt",
    "from_lopt_family",
    "is_installed",
    "lopt_task_class",
    "to_lopt",
    "to_lopt_family",
]

PyTree = Any

#: The install recipe (also in this module's docstring).
INSTALL_COMMANDS = (
    "pip install --no-deps learned-optimization==0.0.1\n"
    "pip install flax==0.12.8 dm-haiku==0.0.17 gin-config==0.5.0 absl-py==2.5.1"
)

# (import name, distribution name) of what the package's modules import besides jax/optax/numpy.
_REQUIRED: tuple[tuple[str, str], ...] = (
    ("learned_optimization", "learned-optimization==0.0.1"),
    ("flax", "flax"),
    ("haiku", "dm-haiku"),
    ("gin", "gin-config"),
    ("absl", "absl-py"),
)

# Real modules imported before any stub exists (flax.io probes ``find_spec("tensorflow")`` at import).
_REAL_FIRST: tuple[str, ...] = (
    "absl.flags",
    "absl.logging",
    "gin",
    "haiku",
    "optax",
    "flax",
    "flax.io",
    "flax.jax_utils",
    "flax.serialization",
    "flax.struct",
    "flax.training.checkpoints",
    "flax.training.prefetch_iterator",
)

# learned_optimization modules that import TensorFlow, TensorBoard or tqdm at import time.
_LOPT_WITH_STUBS: tuple[str, ...] = (
    "learned_optimization.summary",
    "learned_optimization.tasks.datasets.base",
    "learned_optimization.tasks.base",
    "learned_optimization.eval_training",
)

_TF_REASON = (
    "TensorFlow / TensorFlow Datasets are not installed: learned_optimization's dataset tasks (image, "
    "language, the TFDS-backed tasks.fixed and tasks.parametric) need them and their downloads, which the "
    "optsearch adapter does not provide. Wrap data-free tasks or tasks whose datasets are plain Python "
    "iterators, or use optsearch's own data tasks (inner_tasks)"
)
_TENSORBOARD_REASON = (
    "flax.metrics.tensorboard needs TensorFlow, which is not installed; use learned_optimization's "
    "summary.InMemorySummaryWriter or PrintWriter"
)


class LoptUnsupportedError(RuntimeError):
    """A part of learned_optimization that cannot work in this environment was used."""


def is_installed() -> bool:
    """Whether learned_optimization and the four packages it imports are installed (nothing is imported)."""
    return not _missing_distributions()


def _missing_distributions() -> list[str]:
    return [dist for module, dist in _REQUIRED if importlib.util.find_spec(module) is None]


def _check_installed() -> None:
    """Raise one ``ImportError`` naming the missing distributions and the install commands."""
    missing = _missing_distributions()
    if missing:
        raise ImportError(
            f"learned_optimization adapter: missing {', '.join(missing)}; install with:\n{INSTALL_COMMANDS}"
        )


# -- the JAX shim ---------------------------------------------------------------------------------------


def _shaped_array_class() -> type:
    core = importlib.import_module("jax.core")
    if hasattr(core, "ShapedArray"):
        return core.ShapedArray
    return importlib.import_module("jax._src.core").ShapedArray


def _patch_jax() -> tuple[str, ...]:
    """Restore the removed JAX names learned_optimization uses (only where missing); return those added."""
    tree_util = jax.tree_util
    aliases: dict[str, Callable[[], Any]] = {
        "tree_map": lambda: tree_util.tree_map,
        "tree_multimap": lambda: tree_util.tree_map,
        "tree_leaves": lambda: tree_util.tree_leaves,
        "tree_flatten": lambda: tree_util.tree_flatten,
        "tree_unflatten": lambda: tree_util.tree_unflatten,
        "tree_structure": lambda: tree_util.tree_structure,
        "ShapedArray": _shaped_array_class,
    }
    added = []
    for name, value in aliases.items():
        if not hasattr(jax, name):
            setattr(jax, name, value())
            added.append(f"jax.{name}")
    lib = importlib.import_module("jax.lib")
    if not hasattr(lib, "xla_client"):
        lib.xla_client = types.ModuleType("jax.lib.xla_client", "Shim: only Device, for annotations.")
        lib.xla_client.Device = jax.Device
        added.append("jax.lib.xla_client")
    return tuple(added)


# -- import stubs ---------------------------------------------------------------------------------------


class _StubModule(types.ModuleType):
    """A placeholder module: the given attributes work, every other one raises ``LoptUnsupportedError``."""

    def __init__(self, name: str, reason: str, **attributes: Any) -> None:
        super().__init__(name, f"optsearch stub for {name}: {reason}")
        self.__dict__["_stub_reason"] = reason
        self.__dict__.update(attributes)

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise LoptUnsupportedError(f"{self.__name__}.{attribute}: {self.__dict__['_stub_reason']}")


class _UnavailableSummaryWriter:
    """Stands in for ``flax.metrics.tensorboard.SummaryWriter`` when TensorFlow is missing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise LoptUnsupportedError(_TENSORBOARD_REASON)


def _tqdm_passthrough(iterable: Any = None, *args: Any, **kwargs: Any) -> Any:
    return iterable


def _trange_passthrough(*args: Any, **kwargs: Any) -> range:
    return range(*args)


def _tensorflow_stubs() -> dict[str, types.ModuleType]:
    v2 = _StubModule("tensorflow.compat.v2", _TF_REASON, enable_v2_behavior=lambda: None)
    compat = _StubModule("tensorflow.compat", _TF_REASON, v2=v2, __path__=[])
    tf = _StubModule("tensorflow", _TF_REASON, compat=compat, __path__=[])
    return {"tensorflow": tf, "tensorflow.compat": compat, "tensorflow.compat.v2": v2}


def _is_importable(name: str) -> bool:
    if "." not in name:
        return importlib.util.find_spec(name) is not None
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _stubs_needed() -> dict[str, types.ModuleType]:
    """The stub modules for what is not installed (nothing for what is)."""
    stubs: dict[str, types.ModuleType] = {}
    if not _is_importable("tensorflow"):
        stubs.update(_tensorflow_stubs())
    if not _is_importable("tensorflow_datasets"):
        stubs["tensorflow_datasets"] = _StubModule("tensorflow_datasets", _TF_REASON)
    if not _is_importable("flax.metrics.tensorboard"):
        stubs["flax.metrics.tensorboard"] = _StubModule(
            "flax.metrics.tensorboard", _TENSORBOARD_REASON, SummaryWriter=_UnavailableSummaryWriter
        )
    if not _is_importable("tqdm"):
        stubs["tqdm"] = _StubModule("tqdm", "tqdm stub", tqdm=_tqdm_passthrough, trange=_trange_passthrough)
    return stubs


@contextlib.contextmanager
def _temporary_modules(modules: Mapping[str, types.ModuleType]) -> Iterator[None]:
    """Put ``modules`` into ``sys.modules`` for the duration of the block (never replacing real ones)."""
    added = {name: module for name, module in modules.items() if name not in sys.modules}
    sys.modules.update(added)
    try:
        yield
    finally:
        for name, module in added.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


@contextlib.contextmanager
def _quiet_absl() -> Iterator[None]:
    """Silence absl logging during import (upstream logs an error when the optional oryx is missing)."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


_LOCK = threading.RLock()
_STATE: dict[str, Any] = {}


def ensure_learned_optimization() -> types.ModuleType:
    """Make ``learned_optimization`` importable with current JAX and return the package module.

    Idempotent and thread-safe; see the module docstring for what the compatibility layer does. Raises
    ``ImportError`` (with the install commands) when the package or one of its four dependencies is
    missing, and ``RuntimeError`` when it is installed but still cannot be imported.
    """
    with _LOCK:
        if "module" not in _STATE:
            _check_installed()
            _STATE["patched"] = _patch_jax()
            try:
                with _quiet_absl():
                    for name in _REAL_FIRST:
                        importlib.import_module(name)
                    with _temporary_modules(_stubs_needed()):
                        for name in _LOPT_WITH_STUBS:
                            importlib.import_module(name)
            except LoptUnsupportedError:
                raise
            except Exception as err:
                raise RuntimeError(
                    f"learned_optimization is installed but could not be imported with jax "
                    f"{jax.__version__} even with optsearch's compatibility shim: {err!r}"
                ) from err
            _STATE["module"] = importlib.import_module("learned_optimization")
        return _STATE["module"]


def _lopt_module(name: str) -> types.ModuleType:
    ensure_learned_optimization()
    return importlib.import_module(f"learned_optimization.{name}")


# -- keys -----------------------------------------------------------------------------------------------


def _is_typed_key(key: jax.Array) -> bool:
    return jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)


def _raw_key(key: jax.Array) -> jax.Array:
    """learned_optimization's key convention: raw ``uint32[2]`` (``jax.random.PRNGKey``)."""
    return jax.random.key_data(key) if _is_typed_key(key) else key


def _typed_key(key: jax.Array) -> jax.Array:
    """Ours: typed keys (``jax.random.key``)."""
    return key if _is_typed_key(key) else jax.random.wrap_key_data(key)


# -- wrapping a learned_optimization task as ours -------------------------------------------------------


def _stable(value: Any) -> str:
    """A process-independent description of an attribute value (arrays by content digest)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    if isinstance(value, (np.ndarray, jax.Array, np.generic)) and not isinstance(value, jax.core.Tracer):
        if isinstance(value, jax.Array) and _is_typed_key(value):
            value = jax.random.key_data(value)
        array = np.asarray(value)
        digest = hashlib.sha256(array.tobytes()).hexdigest()[:16]
        return f"{array.dtype}{list(array.shape)}:{digest}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_stable(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k!s}:{_stable(value[k])}" for k in sorted(value, key=str)) + "}"
    return type(value).__qualname__


def _describe(obj: Any) -> str:
    """Class path plus a digest of the instance attributes and of the values its methods close over.

    Tasks built by upstream task families are classes defined inside ``task_fn`` whose configuration
    lives in closures, so closures count.
    """
    cls = type(obj)
    parts = [f"{k}={_stable(v)}" for k, v in sorted(getattr(obj, "__dict__", {}).items())]
    for klass in cls.__mro__:
        for attr, member in sorted(vars(klass).items()):
            for cell in getattr(member, "__closure__", None) or ():
                try:
                    parts.append(f"{klass.__qualname__}.{attr}:{_stable(cell.cell_contents)}")
                except ValueError:  # an empty cell
                    continue
    digest = hashlib.sha256(";".join(parts).encode()).hexdigest()[:16]
    return f"<learned_optimization {cls.__module__}.{cls.__qualname__} {digest}>"


class _EnsureOnLoad:
    """Pickled first among a reference's arguments: loading it runs :func:`ensure_learned_optimization`."""

    def __reduce__(self) -> tuple[Callable[[], Any], tuple[()]]:
        return ensure_learned_optimization, ()


def _rebuild_ref(_: Any, obj: Any) -> LoptRef:
    return LoptRef(obj)


class LoptRef:
    """A handle on a learned_optimization object: equal only to itself, described stably.

    Equality and hash follow the object's identity (two handles on different objects never share a
    compiled program), while ``repr`` is a process-independent description (class path and a digest of
    the configuration), so an optsearch task that holds it has a stable on-disk cache fingerprint.
    Pickling makes the unpickling process apply the compatibility layer before it loads the object.
    """

    __slots__ = ("obj", "description")

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self.description = _describe(obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LoptRef) and other.obj is self.obj

    def __hash__(self) -> int:
        return hash(id(self.obj))

    def __repr__(self) -> str:
        return self.description

    def __reduce__(self) -> tuple[Callable[..., LoptRef], tuple[Any, Any]]:
        return _rebuild_ref, (_EnsureOnLoad(), self.obj)


def _stack_batches(iterator: Iterator[Any], num_batches: int) -> PyTree:
    """Draw ``num_batches`` batches from an upstream iterator and stack them on a new leading axis."""
    batches = [jax.tree.map(np.asarray, next(iterator)) for _ in range(num_batches)]
    return jax.tree.map(lambda *xs: jnp.asarray(np.stack(xs)), *batches)


def _num_stored(arrays: PyTree) -> int:
    return int(jax.tree.leaves(arrays)[0].shape[0])


@dataclasses.dataclass(frozen=True)
class LoptTask(Task):
    """An optsearch :class:`~inner_tasks.Task` backed by a learned_optimization ``Task``.

    ``init``, ``loss``, ``loss_and_aux`` and ``normalizer`` call the upstream task (keys converted to
    its raw ``uint32[2]`` convention; a data-free task receives ``()`` as its batch, as upstream passes).
    For a task with ``datasets``, ``num_batches`` batches of each split are drawn from its iterators
    once (cached per task) and stored as device arrays with a leading ``[num_batches]`` axis;
    ``batch(key, split)`` picks one uniformly with ``key``. The draw uses the upstream iterators' own
    randomness (typically NumPy's global generator), so it is not controlled by optsearch's keys.
    ``evaluate`` is the mean loss over all stored batches of the split with fixed keys (data-free: the
    loss with a fixed key).

    Attributes:
      lopt: the upstream task (given as the task itself; stored as a :class:`LoptRef`).
      label: the name (default ``lopt_<upstream name>``).
      num_batches: batches drawn and stored per split (data tasks only).
      lower_bound_value: the infimum of the loss used by scoring (``lower_bound``); 0 for sums of squares
        and cross-entropy. Upstream's ``LogQuadraticTask`` has none (it tends to -inf): do not score it.
    """

    lopt: Any
    label: str = ""
    num_batches: int = 32
    lower_bound_value: float = 0.0

    def __post_init__(self) -> None:
        ensure_learned_optimization()
        ref = self.lopt if isinstance(self.lopt, LoptRef) else LoptRef(self.lopt)
        upstream_task = _lopt_module("tasks.base").Task
        if not isinstance(ref.obj, upstream_task):
            raise ValueError(
                f"lopt: expected a learned_optimization.tasks.base.Task, got {type(ref.obj).__name__}"
            )
        object.__setattr__(self, "lopt", ref)
        if isinstance(self.num_batches, bool) or not isinstance(self.num_batches, int | np.integer):
            raise ValueError(f"num_batches: expected an int, got {self.num_batches!r}")
        if self.num_batches < 1:
            raise ValueError(f"num_batches: must be >= 1, got {self.num_batches}")
        if not isinstance(self.label, str):
            raise ValueError(f"label: expected a str, got {self.label!r}")
        if np.isnan(float(self.lower_bound_value)):
            raise ValueError("lower_bound_value: must not be NaN")

    @property
    def task(self) -> Any:
        """The upstream learned_optimization task."""
        return self.lopt.obj

    @property
    def name(self) -> str:
        return self.label or f"lopt_{self.task.name}"

    @property
    def lower_bound(self) -> float:
        return float(self.lower_bound_value)

    def init(self, key: jax.Array) -> PyTree:
        params, state = self.task.init_with_state(_raw_key(key))
        if state is not None:
            raise ValueError(
                f"lopt: {self.name} carries a model state (e.g. batch-norm statistics); "
                "optsearch tasks are stateless"
            )
        return params

    def _upstream_batch(self, batch: Any) -> Any:
        return () if batch is None else batch

    def loss(self, params: PyTree, key: jax.Array, batch: Any) -> jax.Array:
        return self.task.loss(params, _raw_key(key), self._upstream_batch(batch))

    def loss_and_aux(self, params: PyTree, key: jax.Array, batch: Any) -> tuple[jax.Array, dict[str, Any]]:
        loss, aux = self.task.loss_and_aux(params, _raw_key(key), self._upstream_batch(batch))
        return loss, dict(aux)

    def normalizer(self, loss: jax.Array) -> jax.Array:
        return self.task.normalizer(loss)

    def load_datasets(self) -> Datasets | None:
        upstream = self.task.datasets
        if upstream is None:
            return None
        # Concrete arrays even when first requested inside a trace (the result is cached).
        with jax.ensure_compile_time_eval():
            return Datasets(*(_stack_batches(upstream.split(s), self.num_batches) for s in SPLITS))

    def batch(self, key: jax.Array, split: str = "train", datasets: Datasets | None = None) -> Any:
        check_split(split)
        data = self.datasets if datasets is None else datasets
        if data is None:
            return None
        arrays = data.split(split)
        index = jax.random.randint(key, (), 0, _num_stored(arrays))
        return jax.tree.map(lambda x: x[index], arrays)

    def evaluate(self, params: PyTree, split: str = "outer_valid", datasets: Datasets | None = None) -> dict:
        check_split(split)
        data = self.datasets if datasets is None else datasets
        if data is None:
            return {"loss": self.loss(params, jax.random.key(0), None)}
        arrays = data.split(split)
        keys = jax.random.split(jax.random.key(0), _num_stored(arrays))
        losses = jax.lax.map(lambda kb: self.loss(params, kb[0], kb[1]), (keys, arrays))
        return {"loss": jnp.mean(losses)}


def from_lopt(
    task: Any, *, label: str = "", num_batches: int = 32, lower_bound_value: float = 0.0
) -> LoptTask:
    """Wrap a learned_optimization ``Task`` as an optsearch task (see :class:`LoptTask`).

    Example::

        from inner_tasks import lopt_adapter, train
        lopt_adapter.ensure_learned_optimization()
        from learned_optimization.tasks import quadratics
        task = lopt_adapter.from_lopt(quadratics.QuadraticTask(dim=10))
        result = train(task, optax.sgd(0.1), 100, keys)
    """
    return LoptTask(task, label=label, num_batches=num_batches, lower_bound_value=lower_bound_value)


def from_lopt_family(
    family: Any,
    key: jax.Array,
    *,
    label: str = "",
    num_batches: int = 32,
    lower_bound_value: float = 0.0,
) -> LoptTask:
    """Sample one task from a learned_optimization ``TaskFamily`` with ``key`` and wrap it.

    The default label is ``lopt_<family name>``.
    """
    ensure_learned_optimization()
    upstream_task = family.task_fn(family.sample(_raw_key(key)))
    return from_lopt(
        upstream_task,
        label=label or f"lopt_{family.name}",
        num_batches=num_batches,
        lower_bound_value=lower_bound_value,
    )


# -- exposing our tasks as learned_optimization tasks -------------------------------------------------


@functools.partial(jax.jit, static_argnames=("task", "split"))
def _draw_batch(task: Task, key: jax.Array, split: str, datasets: Datasets | None) -> Any:
    return task.batch(key, split, datasets)


class _BatchStream:
    """An endless, thread-safe iterator of ``task.batch(key_i, split)`` with a fresh key per batch."""

    def __init__(self, task: Task, split: str, key: jax.Array) -> None:
        self._task = task
        self._split = split
        self._key = key
        self._lock = threading.Lock()

    def __iter__(self) -> _BatchStream:
        return self

    def __next__(self) -> Any:
        with self._lock:
            self._key, key = jax.random.split(self._key)
        return _draw_batch(self._task, key, self._split, self._task.datasets)


def _upstream_datasets(task: Task, seed: int) -> Any:
    """learned_optimization ``Datasets`` streaming ``task.batch`` per split, or ``None`` if data-free."""
    key = jax.random.key(seed)
    data = task.datasets  # loaded (and cached) outside any trace
    abstract = jax.eval_shape(lambda k, d: task.batch(k, "train", d), key, data)
    if not jax.tree.leaves(abstract):
        return None
    datasets_base = _lopt_module("tasks.datasets.base")
    streams = [_BatchStream(task, split, jax.random.fold_in(key, i)) for i, split in enumerate(SPLITS)]
    return datasets_base.Datasets(*streams, abstract_batch=abstract)


def _rebuild_view(_: Any, task: Task, seed: int) -> Any:
    return to_lopt(task, seed=seed)


class _LoptTaskMethods:
    """The behaviour of :func:`lopt_task_class` (mixed in before learned_optimization's ``Task``)."""

    task: Task
    seed: int
    datasets: Any

    def __init__(self, task: Task, seed: int = 0) -> None:
        if not isinstance(task, Task):
            raise ValueError(f"task: expected an inner_tasks.Task, got {type(task).__name__}")
        self.task = task
        self.seed = int(seed)
        self.datasets = _upstream_datasets(task, self.seed)

    @property
    def name(self) -> str:
        return self.task.name

    def _batch(self, data: Any) -> Any:
        return None if self.datasets is None else data

    def init(self, key: jax.Array) -> PyTree:
        return self.task.init(_typed_key(key))

    def loss(self, params: PyTree, key: jax.Array, data: Any) -> jax.Array:
        return self.task.loss(params, _typed_key(key), self._batch(data))

    def loss_and_aux(self, params: PyTree, key: jax.Array, data: Any) -> tuple[jax.Array, dict[str, Any]]:
        return self.task.loss_and_aux(params, _typed_key(key), self._batch(data))

    def normalizer(self, loss: jax.Array) -> jax.Array:
        return self.task.normalizer(loss)

    def __repr__(self) -> str:
        return f"OptsearchLoptTask({self.task!r}, seed={self.seed})"

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, Task, int]]:
        return _rebuild_view, (_EnsureOnLoad(), self.task, self.seed)


def lopt_task_class() -> type:
    """The learned_optimization ``Task`` subclass that :func:`to_lopt` returns (built on first use)."""
    ensure_learned_optimization()
    with _LOCK:
        if "view_class" not in _STATE:
            _STATE["view_class"] = types.new_class(
                "OptsearchLoptTask",
                (_LoptTaskMethods, _lopt_module("tasks.base").Task),
                exec_body=lambda ns: ns.update(
                    {
                        "__module__": __name__,
                        "__doc__": "An optsearch task seen as a learned_optimization Task (see to_lopt).",
                    }
                ),
            )
    return _STATE["view_class"]


def to_lopt(task: Task, *, seed: int = 0) -> Any:
    """Expose an optsearch task as a learned_optimization ``Task``.

    ``init``/``loss``/``loss_and_aux``/``normalizer``/``name`` call ours (upstream's raw ``uint32[2]``
    keys are wrapped into typed keys). A task with data gets upstream ``Datasets`` whose four iterators
    yield ``task.batch(key_i, split)`` (device arrays; the keys form a stream seeded by ``seed``, one per
    split) and whose ``abstract_batch`` gives the batch shapes; a data-free task has ``datasets=None``.
    """
    return lopt_task_class()(task, seed=seed)


def to_lopt_family(task: Task, *, seed: int = 0) -> Any:
    """A learned_optimization ``TaskFamily`` that always yields :func:`to_lopt` of ``task``.

    This is what upstream's outer trainers (``TruncatedPES``, ``FullES``, ...) take.
    """
    return _lopt_module("tasks.base").single_task_to_family(to_lopt(task, seed=seed))
