"""Scoring candidates on a suite: in-process (``local``) or on Ray actors (``ray``).

A generation's candidates are grouped by signature (points with equal signatures differ only in numeric
values and share one compiled training program) and cut into *units* of at most ``chunk_size``
candidates. A unit is trained on every task of the suite by
``inner_tasks.train_population(task, space.builder(signature), numeric, ...)`` and scored by
``inner_tasks.scoring.score`` against the tuned reference of that task and budget:

    value(task, seed) = (1 - w) * final + w * auc          (w = suite.auc_weight)
    fitness           = mean over tasks and seeds of value  (lower is better; 0 ties tuned Adam)

A diverged run scores ``DIVERGED_PENALTY`` (inner_tasks.scoring); a candidate with any diverged run is
recorded as ``diverged``. Units are padded to exactly ``chunk_size`` candidates (repeating the last one),
so every unit of a signature runs the same program shape: a candidate's scores do not depend on which
other candidates share its unit, and a resumed run reproduces an uninterrupted one bit for bit.

Failures: a unit that raises is split into single candidates and re-sent; a candidate that fails twice
with the same error, or more than ``max_retries`` times, is recorded as ``failed`` (fitness
``FAILED_FITNESS``) with its error, and the generation goes on. On Ray, an actor that dies loses only
its in-flight unit, which is re-sent to a fresh actor (bounded the same way).

Ray: :class:`RayEvaluator` starts an embedded local instance unless ``address`` names a cluster. The
embedded instance binds loopback only (``127.0.0.1``; Ray 2.60 rewrites 127.0.0.1 to the machine's
external address unless its cluster mode is off, see :func:`start_ray`), runs without the dashboard and
keeps Ray's token authentication on. Actors keep their compiled programs across generations; units go
preferably to an actor that has already compiled their signature.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import socket
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inner_tasks.scoring import DIVERGED_PENALTY
from search.progress import ProgressBar

__all__ = [
    "FAILED_FITNESS",
    "TaskBudget",
    "Plan",
    "Candidate",
    "Unit",
    "Outcome",
    "make_units",
    "evaluate_unit",
    "LocalEvaluator",
    "RayEvaluator",
    "make_evaluator",
    "enable_compile_cache",
    "start_ray",
    "evaluate_one",
]

ProgressFn = Callable[[int, int, int], None]  # (done, in_flight, total)
DoneFn = Callable[[list["Outcome"]], None]  # candidates just finished (stored at once by the run loop)


#: Fitness told to the strategy for a candidate that could not be evaluated (the divergence penalty).
FAILED_FITNESS = float(DIVERGED_PENALTY)


@dataclasses.dataclass(frozen=True)
class TaskBudget:
    """One task with the budget it is trained for."""

    task: Any
    num_steps: int
    eval_every: int


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything a worker needs to score candidates (plain, picklable data; the same for a generation).

    Attributes:
      space: the search space's name.
      fidelity: ``"full"`` or ``"screen"``.
      budgets: the tasks and their budgets.
      keys: raw PRNG key data ``uint32 [S, 2]`` of the inner-training seeds (the same for every task).
      references: the tuned reference of each task at its budget (``inner_tasks.Reference``).
      auc_weight: ``w`` in the fitness.
      path: ``train_population`` path.
      chunk_size: candidates per unit (units are padded to it).
      x64: the driver's ``jax_enable_x64`` (workers adopt it, so they compute what the driver would).
    """

    space: str
    fidelity: str
    budgets: tuple[TaskBudget, ...]
    keys: np.ndarray
    references: tuple[Any, ...]
    auc_weight: float = 0.0
    path: str = "auto"
    chunk_size: int = 1
    x64: bool = False


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One candidate to score: its index in the generation, signature and numeric values."""

    member: int
    signature: str
    numeric: Mapping[str, float]


@dataclasses.dataclass(frozen=True)
class Unit:
    """Candidates of one signature, trained together."""

    signature: str
    members: tuple[int, ...]
    numerics: tuple[Mapping[str, float], ...]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The result of one candidate."""

    member: int
    fitness: float
    status: str  # ok | diverged | failed
    scores: list[dict[str, Any]]
    error: str = ""
    wall_time: float = 0.0
    worker: str = ""
    attempts: int = 1


def make_units(candidates: Sequence[Candidate], chunk_size: int) -> list[Unit]:
    """Group by signature (in order of first appearance) and cut into chunks of ``chunk_size``."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size: must be >= 1, got {chunk_size}")
    groups: dict[str, list[Candidate]] = {}
    for c in candidates:
        groups.setdefault(c.signature, []).append(c)
    units = []
    for signature, group in groups.items():
        for start in range(0, len(group), chunk_size):
            chunk = group[start : start + chunk_size]
            units.append(
                Unit(signature, tuple(c.member for c in chunk), tuple(dict(c.numeric) for c in chunk))
            )
    return units


def worker_id() -> str:
    """``<node address>:<pid>`` inside Ray (nodes of one machine share a host name), else ``<host>:<pid>``."""
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            return f"{ray.util.get_node_ip_address()}:{os.getpid()}"
    return f"{socket.gethostname()}:{os.getpid()}"


COMPILE_CACHE_ENV = "OPTSEARCH_COMPILE_CACHE"


def enable_compile_cache() -> Path | None:
    """Keep compiled XLA programs on disk, under the optsearch cache, across processes and runs.

    JAX's persistent compilation cache in ``<cache root>/xla`` (the cache root of the tuned references:
    ``$OPTSEARCH_CACHE_DIR``, else ``~/.cache/optsearch``), so a resumed run, a second run and every Ray
    actor on the machine load the training programs instead of compiling them again (the executable is
    the same, so are the numbers). Every program is stored, however fast it compiled: a search compiles
    dozens of small host-side programs (sampling, decoding, scoring) besides the training programs.
    Off when ``OPTSEARCH_COMPILE_CACHE=0``; a cache directory the user configured is left alone.
    Returns the directory in use, or ``None``.
    """
    import jax

    from inner_tasks.scoring import default_cache_dir

    configured = jax.config.jax_compilation_cache_dir
    if configured:
        return Path(configured)
    if os.environ.get(COMPILE_CACHE_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    path = default_cache_dir().parent / "xla"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # an unwritable cache costs compile time, never the run
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return path


def _configure_jax(x64: bool) -> None:
    import jax

    if bool(jax.config.jax_enable_x64) != bool(x64):
        jax.config.update("jax_enable_x64", bool(x64))
    enable_compile_cache()


def _numeric_batch(unit: Unit, size: int) -> dict[str, np.ndarray]:
    keys = list(unit.numerics[0]) if unit.numerics else []
    rows = list(unit.numerics) + [unit.numerics[-1]] * (size - len(unit.numerics))
    return {k: np.asarray([float(r[k]) for r in rows], dtype=np.float64) for k in keys}


def curve_steps(num_steps: int, points: int = 64) -> np.ndarray:
    """The steps at which a stored learning curve is sampled (at most ``points``, first and last kept)."""
    return np.unique(np.linspace(0, num_steps - 1, min(points, num_steps)).round().astype(np.int64))


def evaluate_unit(plan: Plan, unit: Unit) -> list[Outcome]:
    """Train and score one unit on every task of ``plan`` (runs in the worker; raises on a real error)."""
    _configure_jax(plan.x64)
    import jax

    from inner_tasks.scoring import score
    from inner_tasks.training import train_population
    from spaces import get_space

    start = time.perf_counter()
    builder = get_space(plan.space).builder(unit.signature)
    size = max(plan.chunk_size, len(unit.members))
    numeric = _numeric_batch(unit, size)
    keys = jax.random.wrap_key_data(np.asarray(plan.keys, dtype=np.uint32))
    per_member: list[list[dict[str, Any]]] = [[] for _ in unit.members]
    for budget, reference in zip(plan.budgets, plan.references, strict=True):
        result = train_population(
            budget.task, builder, numeric, budget.num_steps, keys, budget.eval_every, path=plan.path
        )
        steps = curve_steps(budget.num_steps)
        for i in range(len(unit.members)):
            one = result.candidate(i if numeric else 0)
            scores = score(one, budget.task, reference)
            with np.errstate(invalid="ignore", over="ignore"):
                curve = np.asarray(one.train_loss, dtype=np.float64).mean(axis=0)[steps]
            per_member[i].append(
                {
                    "task": budget.task.name,
                    "final": [s.final for s in scores],
                    "auc": [s.auc for s in scores],
                    "diverged": [bool(s.diverged) for s in scores],
                    "final_gap": [s.final_gap if math.isfinite(s.final_gap) else None for s in scores],
                    "curve_steps": steps.tolist(),
                    "curve": [float(v) if math.isfinite(v) else None for v in curve],
                }
            )
    elapsed = (time.perf_counter() - start) / max(1, len(unit.members))
    me = worker_id()
    out = []
    for member, task_scores in zip(unit.members, per_member, strict=True):
        values = [
            (1.0 - plan.auc_weight) * f + plan.auc_weight * a
            for t in task_scores
            for f, a in zip(t["final"], t["auc"], strict=True)
        ]
        diverged = any(d for t in task_scores for d in t["diverged"])
        out.append(
            Outcome(
                member=member,
                fitness=float(np.mean(values)),
                status="diverged" if diverged else "ok",
                scores=task_scores,
                wall_time=elapsed,
                worker=me,
            )
        )
    return out


# --- retry bookkeeping (shared by both evaluators) ---------------------------------------------------------


def _error_text(err: BaseException) -> str:
    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException):
        err = cause
    text = f"{type(err).__name__}: {' '.join(str(err).split())}"
    if len(text) <= 2000:
        return text
    # an error raised inside a compiled program arrives wrapped in the runtime's traceback, with the
    # original exception at its end: keep both ends
    return f"{text[:600]} ... {text[-1390:]}"


class _Book:
    """Per-candidate attempts and errors; decides between re-sending and recording a failure."""

    def __init__(self, units: Sequence[Unit], max_retries: int, on_done: DoneFn | None = None) -> None:
        self.max_retries = int(max_retries)
        self.on_done = on_done
        self.numeric = {m: n for u in units for m, n in zip(u.members, u.numerics, strict=True)}
        self.signature = {m: u.signature for u in units for m in u.members}
        self.errors: dict[int, list[str]] = {m: [] for m in self.numeric}
        self.done: dict[int, Outcome] = {}

    def success(self, outcomes: Sequence[Outcome]) -> None:
        finished = []
        for o in outcomes:
            attempts = len(self.errors[o.member]) + 1
            self.done[o.member] = finished_outcome = dataclasses.replace(o, attempts=attempts)
            finished.append(finished_outcome)
        if self.on_done and finished:
            self.on_done(finished)

    def failure(self, unit: Unit, error: str, worker: str) -> list[Unit]:
        """Record ``error`` for the unit's candidates; return the units to re-send."""
        again = []
        finished = []
        for member in unit.members:
            history = self.errors[member]
            history.append(error)
            repeated = len(history) >= 2 and history[-1] == history[-2]
            if repeated or len(history) > self.max_retries:
                self.done[member] = Outcome(
                    member=member,
                    fitness=FAILED_FITNESS,
                    status="failed",
                    scores=[],
                    error=error,
                    worker=worker,
                    attempts=len(history),
                )
                finished.append(self.done[member])
            else:
                again.append(Unit(unit.signature, (member,), (self.numeric[member],)))
        if self.on_done and finished:
            self.on_done(finished)
        return again


# --- local ----------------------------------------------------------------------------------------------------


class LocalEvaluator:
    """Evaluates in this process, one unit after another (tests, debugging, ``--evaluator local``)."""

    kind = "local"

    def __init__(
        self, max_retries: int = 2, evaluate_fn: Callable[[Plan, Unit], list[Outcome]] = evaluate_unit
    ):
        self.max_retries = int(max_retries)
        self.evaluate_fn = evaluate_fn

    @property
    def num_workers(self) -> int:
        return 1

    def evaluate(
        self,
        plan: Plan,
        candidates: Sequence[Candidate],
        progress: ProgressFn | None = None,
        on_done: DoneFn | None = None,
    ) -> list[Outcome]:
        """Outcomes in the order of ``candidates``; ``on_done`` sees each candidate as it finishes."""
        units = make_units(candidates, plan.chunk_size)
        book = _Book(units, self.max_retries, on_done)
        queue = list(units)
        total = len(candidates)
        while queue:
            unit = queue.pop(0)
            if progress:
                progress(len(book.done), len(unit.members), total)
            try:
                book.success(self.evaluate_fn(plan, unit))
            except Exception as err:  # noqa: BLE001 - recorded per candidate, the run goes on
                queue.extend(book.failure(unit, _error_text(err), "local"))
        if progress:
            progress(len(book.done), 0, total)
        return [book.done[c.member] for c in candidates]

    def close(self) -> None:
        pass


# --- Ray --------------------------------------------------------------------------------------------------------


def _code_root() -> str:
    """The folder that holds the ``search`` package (put on the Ray workers' Python path)."""
    return str(Path(__file__).resolve().parent.parent)


def _job_config() -> Any:
    from ray.job_config import JobConfig

    return JobConfig(code_search_path=[_code_root()])


def start_ray(address: str = "", num_cpus: int | None = None) -> bool:
    """Connect to Ray: join ``address``, or start an embedded loopback-only instance. Returns whether an
    embedded instance was started (the caller shuts it down).

    Embedded: ``include_dashboard=False``, node address ``127.0.0.1`` with Ray's cluster mode off for the
    call (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``: otherwise Ray 2.60 rewrites 127.0.0.1 to the external
    address and its gRPC servers listen on every interface), token authentication left as Ray sets it
    (on by default). Joining: when ``RAY_AUTH_MODE`` is unset and a token exists (``~/.ray/auth_token``),
    token mode is switched on first, as Ray itself does for ``address="auto"``, so a driver can join a
    cluster started with Ray's defaults; a cluster without authentication accepts it too.
    """
    import ray

    if ray.is_initialized():
        return False
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
    if address:
        if "RAY_AUTH_MODE" not in os.environ:
            try:
                from ray._private.authentication.authentication_token_setup import (
                    maybe_enable_token_auth_if_token_available,
                )

                maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
            except ImportError:  # another Ray version: leave it to the user's RAY_AUTH_MODE
                pass
        try:
            ray.init(address=address, logging_level="WARNING", log_to_driver=False, job_config=_job_config())
        except ConnectionError as err:
            raise ConnectionError(
                f"cannot join the Ray cluster at {address} ({err.__cause__ or err}); is it running, and does "
                "RAY_AUTH_MODE/RAY_AUTH_TOKEN match the cluster's authentication?"
            ) from err
        return False
    from ray._private import ray_constants

    saved_env = os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    saved_flag = ray_constants.ENABLE_RAY_CLUSTER
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            object_store_memory=256 * 1024**2,
            logging_level="WARNING",
            log_to_driver=False,
            job_config=_job_config(),
        )
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
        else:
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = saved_env
    return True


class _Worker:
    """The body of a Ray actor: evaluates units, keeping compiled programs warm in its process."""

    def __init__(self, evaluate_fn: Callable[[Plan, Unit], list[Outcome]], x64: bool) -> None:
        _configure_jax(x64)
        self.evaluate_fn = evaluate_fn

    def evaluate(self, plan: Plan, unit: Unit) -> list[Outcome]:
        return self.evaluate_fn(plan, unit)

    def whoami(self) -> str:
        return worker_id()


class RayEvaluator:
    """Evaluates on ``num_workers`` Ray actors (see the module docstring)."""

    kind = "ray"

    def __init__(
        self,
        num_workers: int = 2,
        *,
        cpus_per_worker: float = 1.0,
        address: str = "",
        max_retries: int = 2,
        x64: bool | None = None,
        evaluate_fn: Callable[[Plan, Unit], list[Outcome]] = evaluate_unit,
    ) -> None:
        import jax
        import ray

        self.num_workers = int(num_workers)
        self.cpus_per_worker = float(cpus_per_worker)
        self.max_retries = int(max_retries)
        self.evaluate_fn = evaluate_fn
        self.x64 = bool(jax.config.jax_enable_x64) if x64 is None else bool(x64)
        needed = max(1, math.ceil(self.num_workers * self.cpus_per_worker))
        self._auth_env = os.environ.get("RAY_AUTH_MODE")  # ray.init may set it; restored by close()
        self._disconnect = not ray.is_initialized()  # a caller's own Ray session is left connected
        self._owns_ray = start_ray(address, num_cpus=needed)
        self._actor_cls = ray.remote(_Worker)
        self._actors: list[Any] = [self._new_actor() for _ in range(self.num_workers)]
        self._seen: list[set[str]] = [set() for _ in range(self.num_workers)]
        self.restarts = 0

    def _new_actor(self) -> Any:
        return self._actor_cls.options(num_cpus=self.cpus_per_worker, max_restarts=0).remote(
            self.evaluate_fn, self.x64
        )

    def evaluate(
        self,
        plan: Plan,
        candidates: Sequence[Candidate],
        progress: ProgressFn | None = None,
        on_done: DoneFn | None = None,
    ) -> list[Outcome]:
        """Outcomes in the order of ``candidates``; ``on_done`` sees each candidate as it finishes."""
        import ray
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

        units = make_units(candidates, plan.chunk_size)
        book = _Book(units, self.max_retries, on_done)
        queue = list(units)
        total = len(candidates)
        plan_ref = ray.put(plan)
        running: dict[Any, tuple[int, Unit]] = {}
        while queue or running:
            busy = {slot for slot, _ in running.values()}
            for slot in range(self.num_workers):
                if slot in busy or not queue:
                    continue
                pick = self._pick(slot, queue)
                if pick is None:
                    continue
                unit = queue.pop(pick)
                self._seen[slot].add(unit.signature)
                running[self._actors[slot].evaluate.remote(plan_ref, unit)] = (slot, unit)
            if progress:
                progress(len(book.done), sum(len(u.members) for _, u in running.values()), total)
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                slot, unit = running.pop(ref)
                try:
                    book.success(ray.get(ref))
                except (RayActorError, ActorDiedError, ActorUnavailableError) as err:
                    # The worker died: replace it, re-send its candidates (bounded like other failures).
                    self._replace(slot)
                    queue.extend(book.failure(unit, f"worker died: {_error_text(err)}", f"actor{slot}"))
                except Exception as err:  # noqa: BLE001 - a task error: recorded per candidate
                    queue.extend(book.failure(unit, _error_text(err), f"actor{slot}"))
        if progress:
            progress(len(book.done), 0, total)
        return [book.done[c.member] for c in candidates]

    def _pick(self, slot: int, queue: Sequence[Unit]) -> int | None:
        """The queued unit for idle actor ``slot``: one whose program it has compiled; else one of a
        signature no actor has compiled; else one of a signature with several queued units (worth a second
        compilation); else nothing (wait for the actor that has the program)."""
        for i, u in enumerate(queue):
            if u.signature in self._seen[slot]:
                return i
        everyone = set().union(*self._seen)
        for i, u in enumerate(queue):
            if u.signature not in everyone:
                return i
        counts: dict[str, int] = {}
        for u in queue:
            counts[u.signature] = counts.get(u.signature, 0) + 1
        for i, u in enumerate(queue):
            if counts[u.signature] >= 2:
                return i
        return None

    def _replace(self, slot: int) -> None:
        import ray

        try:
            ray.kill(self._actors[slot], no_restart=True)
        except Exception:  # noqa: BLE001 - it is already gone
            pass
        self._actors[slot] = self._new_actor()
        self._seen[slot] = set()
        self.restarts += 1

    def worker_ids(self) -> list[str]:
        import ray

        return ray.get([a.whoami.remote() for a in self._actors])

    def close(self) -> None:
        """Kill the actors and disconnect (an embedded instance is shut down; a cluster keeps running;
        a Ray session the caller had opened before stays open)."""
        import ray

        if ray.is_initialized():
            for actor in self._actors:
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:  # noqa: BLE001 - best effort
                    pass
            self._actors = []
            if self._disconnect:
                ray.shutdown()
        if not self._disconnect:
            return
        if self._auth_env is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = self._auth_env


def make_evaluator(cfg: Any, *, x64: bool | None = None) -> LocalEvaluator | RayEvaluator:
    """The evaluator of an :class:`~search.config.EvaluatorConfig`."""
    if cfg.kind == "local":
        return LocalEvaluator(max_retries=cfg.max_retries)
    return RayEvaluator(
        cfg.num_workers,
        cpus_per_worker=cfg.cpus_per_worker,
        address=cfg.address,
        max_retries=cfg.max_retries,
        x64=x64,
    )


# --- one optimizer, for `optsearch evaluate` --------------------------------------------------------------------


def _resolve_target(target: str, space_name: str | None) -> tuple[str, Any, Mapping[str, Any] | None]:
    """``(label, optimizer, point)`` for a paper point name, a point/spec JSON file or inline JSON."""
    import optimizers
    from spaces import SPACES, get_space

    text = None
    path = Path(target)
    if target.lstrip().startswith("{"):
        text = target
    elif path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(2, "no such file", str(path))
        text = path.read_text(encoding="utf-8")
    if text is not None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{target}: not valid JSON ({err.msg})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{target}: expected a JSON object")
        if data.get("format") == "optsearch-optimizer":
            spec = optimizers.load_spec(path)
            return spec["family"], optimizers.build(spec), None
        if "family" in data:
            return data["family"], optimizers.build(data), None
        if not space_name:
            raise ValueError("--space: required to evaluate a point (a JSON object without 'family')")
        space = get_space(space_name)
        point = space.validate(data)
        return space.name, space.build(point), point
    # a paper point name
    if space_name:
        space = get_space(space_name)
        if target not in space.paper_points:
            known = ", ".join(space.paper_points) or "(none)"
            raise ValueError(f"{target}: not a paper point of space {space.name!r}; known: {known}")
        return f"{space.name}:{target}", space.build(space.paper_points[target]), space.paper_points[target]
    owners = [s for s in SPACES.values() if target in s.paper_points]
    if not owners:
        raise ValueError(
            f"{target}: not a paper point of any space, nor a JSON file (see optsearch list spaces)"
        )
    if len(owners) > 1:
        names = ", ".join(s.name for s in owners)
        raise ValueError(f"{target}: a paper point of several spaces ({names}); choose one with --space")
    space = owners[0]
    return f"{space.name}:{target}", space.build(space.paper_points[target]), space.paper_points[target]


def scale_budget(entry: Any, scale: float) -> TaskBudget:
    """A suite entry's task with its budget multiplied by ``scale`` (at least one step)."""
    steps = max(1, round(entry.num_steps * scale))
    return TaskBudget(entry.task, steps, max(1, min(steps, round(entry.eval_every * scale))))


def evaluate_one(
    target: str,
    *,
    suite: str,
    space: str | None = None,
    num_seeds: int = 2,
    seed: int = 0,
    tasks: Sequence[str] = (),
    steps_scale: float = 1.0,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Score one optimizer (paper point, point or exported JSON) on a suite, in this process.

    The seeds are the suite's (``suite.keys(num_seeds, seed)``), as in a search with ``run.seed``
    irrelevant to inner training, so an exported best re-scores to the fitness its search recorded.
    """
    from inner_tasks import get_suite
    from inner_tasks.scoring import score, tuned_reference
    from inner_tasks.training import train

    if num_seeds < 1:
        raise ValueError(f"--seeds: must be >= 1, got {num_seeds}")
    if not (steps_scale > 0 and math.isfinite(steps_scale)):
        raise ValueError(f"--steps-scale: must be a positive number, got {steps_scale}")
    the_suite = get_suite(suite)
    names = [e.task.name for e in the_suite.entries]
    for task in tasks:
        if task not in names:
            raise ValueError(f"--tasks: suite {suite!r} has no task {task!r}; known: {', '.join(names)}")
    label, opt, point = _resolve_target(target, space)
    keys = the_suite.keys(num_seeds, seed)
    rows = []
    values = []
    budgets = [scale_budget(e, steps_scale) for e in the_suite.entries if not tasks or e.task.name in tasks]
    bar = ProgressBar(progress, f"evaluating {label} on {suite}", len(budgets))
    for entry in budgets:
        reference = tuned_reference(entry.task, entry.num_steps, keys, cache_dir, eval_every=entry.eval_every)
        result = train(entry.task, opt, entry.num_steps, keys, entry.eval_every)
        scores = score(result, entry.task, reference)
        values += [s.final for s in scores]
        rows.append(
            {
                "task": entry.task.name,
                "final": float(np.mean([s.final for s in scores])),
                "auc": float(np.mean([s.auc for s in scores])),
                "diverged": int(sum(s.diverged for s in scores)),
                "status": "diverged" if any(s.diverged for s in scores) else "ok",
                "reference_learning_rate": reference.learning_rate,
            }
        )
        bar.advance()
    bar.close()
    return {
        "family": label,
        "suite": suite,
        "point": point,
        "num_seeds": num_seeds,
        "fitness": float(np.mean(values)),
        "tasks": rows,
    }


def format_exception(err: BaseException) -> str:
    """The traceback of ``err`` as text (for logs)."""
    return "".join(traceback.format_exception(err))
