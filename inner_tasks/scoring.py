"""Scores against a tuned reference: ``log(gap / gap_ref)`` per task and seed (DESIGN.md section 4).

Gaps (``gap = loss - lower_bound``) are taken on the training-loss curve (``curve="train"``, the default)
or on the evaluation curve (``curve="eval"``):

    final gap = mean of the last 10% of the curve (at least one point) - lower_bound
    auc gap   = mean of the whole curve - lower_bound

Each gap is floored at ``1e-8 * initial_gap + 1e-7 * |lower_bound|`` (the resolution of a float32 loss;
``initial_gap`` is the reference's), so runs that both reach the floor tie. Per seed,

    final = log(final_gap / reference.final_gap),    auc = log(auc_gap / reference.auc_gap),

so 0 ties tuned Adam and lower is better. A diverged run (non-finite losses or a gap above 10x its
initial gap; see :mod:`inner_tasks.training`) scores :data:`DIVERGED_PENALTY` on both and is recorded as
diverged; other scores are capped at the same value, so diverging never beats finishing.

The tuned reference (:func:`tuned_reference`) is Adam (``optax.adam`` with its defaults) at the best
learning rate of the grid ``10^-4, 10^-3.5, ..., 10^0`` (the learning rate with the lowest geometric mean
final gap over the seeds among those where no seed diverged), the ``reference.final_gap`` and
``reference.auc_gap`` being geometric means over the seeds. It is computed once per (task
configuration, data, budget, keys, grid, code version) and cached as JSON in ``cache_dir``
(default ``$OPTSEARCH_CACHE_DIR/references``, else ``~/.cache/optsearch/references``); the code version
is a hash of the source of this package's training, scoring and task modules.

This follows learned_optimization's normalisation against stored Adam sweeps (Metz et al. 2022,
arXiv:2203.11860, ``baselines/normalizers.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
import optax

from inner_tasks.base import Task
from inner_tasks.training import TrainResult, make_keys, train_population

__all__ = [
    "CACHE_DIR_ENV",
    "DEFAULT_GRID",
    "DIVERGED_PENALTY",
    "FINAL_FRACTION",
    "Reference",
    "TaskScore",
    "curve_gaps",
    "default_cache_dir",
    "fitness",
    "score",
    "tuned_reference",
]

DIVERGED_PENALTY = 10.0
FINAL_FRACTION = 0.1
DEFAULT_GRID: tuple[float, ...] = tuple(float(10.0**e) for e in np.arange(-4.0, 0.01, 0.5))
CACHE_DIR_ENV = "OPTSEARCH_CACHE_DIR"
REFERENCE_FORMAT = 1
_CURVES = ("train", "eval")


@dataclasses.dataclass(frozen=True)
class Reference:
    """Tuned Adam on one task (see the module docstring).

    Attributes:
      task: the task's name.
      fingerprint: the task's configuration hash.
      learning_rate: the best learning rate of ``grid``.
      final_gap, auc_gap: geometric means over seeds of the final and whole-curve gaps at that rate.
      initial_gap: mean over seeds of the gap at step 0.
      lower_bound: the task's ``lower_bound``.
      num_steps, num_seeds, eval_every: the budget it was computed with.
      curve: ``"train"`` or ``"eval"``.
      grid: the learning rates tried.
      grid_final_gaps: geometric-mean final gap for each rate (``inf`` where a seed diverged).
      mean_curve: the seed-averaged curve at the best rate (for plots).
    """

    task: str
    fingerprint: str
    learning_rate: float
    final_gap: float
    auc_gap: float
    initial_gap: float
    lower_bound: float
    num_steps: int
    num_seeds: int
    eval_every: int
    curve: str
    grid: tuple[float, ...]
    grid_final_gaps: tuple[float, ...]
    mean_curve: tuple[float, ...] = ()

    @property
    def floor(self) -> float:
        """The smallest gap scores distinguish."""
        return 1e-8 * abs(self.initial_gap) + 1e-7 * abs(self.lower_bound) + 1e-30

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (infinities as strings)."""
        out = dataclasses.asdict(self)
        out["grid"] = list(self.grid)
        out["grid_final_gaps"] = [g if math.isfinite(g) else "inf" for g in self.grid_final_gaps]
        out["mean_curve"] = [v if math.isfinite(v) else None for v in self.mean_curve]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reference:
        """Inverse of :meth:`to_json`."""
        fields = {f.name for f in dataclasses.fields(cls)}
        missing = fields - set(data)
        if missing:
            raise ValueError(f"reference: missing fields {sorted(missing)}")
        kw = {k: data[k] for k in fields}
        kw["grid"] = tuple(float(g) for g in data["grid"])
        kw["grid_final_gaps"] = tuple(float(g) for g in data["grid_final_gaps"])
        kw["mean_curve"] = tuple(math.nan if v is None else float(v) for v in data["mean_curve"])
        return cls(**kw)


@dataclasses.dataclass(frozen=True)
class TaskScore:
    """One seed's score on one task (lower is better; 0 ties the tuned reference).

    Attributes:
      task: the task's name.
      seed: the seed's index in the result.
      final: ``log(final_gap / reference.final_gap)`` (or the penalty).
      auc: ``log(auc_gap / reference.auc_gap)`` (or the penalty).
      diverged: whether the run diverged.
      final_gap, auc_gap: the raw gaps (NaN for diverged runs).
    """

    task: str
    seed: int
    final: float
    auc: float
    diverged: bool
    final_gap: float
    auc_gap: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (NaN gaps as ``None``)."""
        out = dataclasses.asdict(self)
        for k in ("final_gap", "auc_gap"):
            out[k] = out[k] if math.isfinite(out[k]) else None
        return out


def _curve(result: TrainResult, curve: str) -> np.ndarray:
    if curve not in _CURVES:
        raise ValueError(f"curve: expected one of {_CURVES}, got {curve!r}")
    return np.asarray(result.train_loss if curve == "train" else result.eval_loss, dtype=np.float64)


def curve_gaps(values: np.ndarray, lower_bound: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(initial, final, auc)`` gaps of curves ``[..., T]`` (final: mean of the last 10%, >= 1 point)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[-1]
    tail = max(1, int(math.ceil(FINAL_FRACTION * n)))
    with np.errstate(invalid="ignore", over="ignore"):
        final = values[..., n - tail :].mean(axis=-1) - lower_bound
        auc = values.mean(axis=-1) - lower_bound
    return values[..., 0] - lower_bound, final, auc


def score(
    result: TrainResult, task: Task, reference: Reference, *, curve: str | None = None
) -> list[TaskScore]:
    """Per-seed scores of ``result`` (axes ``[S, ...]``) against ``reference`` (never raises on NaN)."""
    curve = reference.curve if curve is None else curve
    values = _curve(result, curve)
    if values.ndim != 2:
        raise ValueError(f"result: expected per-seed curves [S, T], got shape {values.shape}")
    lower = float(task.lower_bound)
    _, final, auc = curve_gaps(values, lower)
    diverged = np.asarray(result.diverged, dtype=bool) | ~np.isfinite(final) | ~np.isfinite(auc)
    floor = reference.floor
    ref_final = max(reference.final_gap, floor)
    ref_auc = max(reference.auc_gap, floor)
    scores = []
    for s in range(values.shape[0]):
        if diverged[s]:
            scores.append(
                TaskScore(task.name, s, DIVERGED_PENALTY, DIVERGED_PENALTY, True, math.nan, math.nan)
            )
            continue
        f_gap, a_gap = float(final[s]), float(auc[s])
        f = min(math.log(max(f_gap, floor) / ref_final), DIVERGED_PENALTY)
        a = min(math.log(max(a_gap, floor) / ref_auc), DIVERGED_PENALTY)
        scores.append(TaskScore(task.name, s, f, a, False, f_gap, a_gap))
    return scores


def fitness(scores: Sequence[TaskScore], objective: str = "final") -> float:
    """Mean score over tasks and seeds: ``"final"``, ``"auc"`` or ``"both"`` (their average)."""
    if objective not in ("final", "auc", "both"):
        raise ValueError(f"objective: expected 'final', 'auc' or 'both', got {objective!r}")
    if not scores:
        raise ValueError("scores: empty")
    if objective == "final":
        values = [s.final for s in scores]
    elif objective == "auc":
        values = [s.auc for s in scores]
    else:
        values = [0.5 * (s.final + s.auc) for s in scores]
    return float(np.mean(values))


# -- the tuned reference ----------------------------------------------------------------------------------


def _adam(hparams: Mapping[str, jax.Array]) -> optax.GradientTransformation:
    return optax.adam(hparams["learning_rate"])


def default_cache_dir() -> Path:
    """``$OPTSEARCH_CACHE_DIR/references``, else ``~/.cache/optsearch/references``."""
    root = os.environ.get(CACHE_DIR_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "optsearch"
    return base / "references"


def _code_version(task: Task) -> str:
    import inner_tasks.base as base_mod
    import inner_tasks.training as training_mod

    digest = hashlib.sha256(f"format={REFERENCE_FORMAT};optax={optax.__version__}".encode())
    modules = [base_mod, training_mod, inspect.getmodule(_code_version)]
    modules += [
        inspect.getmodule(cls) for cls in type(task).__mro__ if cls.__module__.startswith("inner_tasks")
    ]
    seen = set()
    for mod in modules:
        if mod is None or mod.__name__ in seen:
            continue
        seen.add(mod.__name__)
        try:
            digest.update(inspect.getsource(mod).encode())
        except (OSError, TypeError):
            digest.update(mod.__name__.encode())
    return digest.hexdigest()[:16]


def _data_id(task: Task) -> str:
    data = task.datasets
    if data is None:
        return "none"
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(data):
        flat = np.asarray(leaf).reshape(-1)
        digest.update(f"{flat.dtype}{np.shape(leaf)}".encode())
        digest.update(np.ascontiguousarray(flat[: 1 << 18]).tobytes())
        digest.update(np.ascontiguousarray(flat[-(1 << 18) :]).tobytes())
    return digest.hexdigest()[:16]


def _cache_path(task, num_steps, keys, eval_every, grid, curve, cache_dir) -> Path:
    ident = {
        "task": task.config(),
        "data": _data_id(task),
        "num_steps": int(num_steps),
        "eval_every": int(eval_every),
        "keys": np.asarray(jax.random.key_data(keys)).tolist(),
        "grid": [float(g) for g in grid],
        "curve": curve,
        "code": _code_version(task),
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in task.name)
    return Path(cache_dir) / f"{safe}-{digest}.json"


def _compute_reference(task, num_steps, keys, eval_every, grid, curve) -> Reference:
    result = train_population(task, _adam, {"learning_rate": np.asarray(grid)}, num_steps, keys, eval_every)
    values = _curve(result, curve)  # [P, S, T]
    initial, final, auc = curve_gaps(values, float(task.lower_bound))
    diverged = result.diverged | ~np.isfinite(final) | ~np.isfinite(auc)
    floor_probe = 1e-8 * abs(float(np.nanmean(np.abs(initial)))) + 1e-7 * abs(task.lower_bound) + 1e-30
    with np.errstate(divide="ignore", invalid="ignore"):
        log_final = np.log(np.maximum(final, floor_probe)).mean(axis=1)
    num_div = diverged.sum(axis=1)
    grid_gaps = np.where(num_div == 0, np.exp(log_final), np.inf)
    # fewest diverged seeds first, then the lowest geometric-mean final gap
    order = np.lexsort((np.where(np.isfinite(log_final), log_final, np.inf), num_div))
    best = int(order[0])
    ok = ~diverged[best]
    mean_curve = values[best][ok].mean(axis=0) if ok.any() else values[best].mean(axis=0)
    return Reference(
        task=task.name,
        fingerprint=task.fingerprint(),
        learning_rate=float(grid[best]),
        final_gap=float(np.exp(np.log(np.maximum(final[best][ok], floor_probe)).mean()))
        if ok.any()
        else math.inf,
        auc_gap=float(np.exp(np.log(np.maximum(auc[best][ok], floor_probe)).mean()))
        if ok.any()
        else math.inf,
        initial_gap=float(np.nanmean(initial[best])),
        lower_bound=float(task.lower_bound),
        num_steps=int(num_steps),
        num_seeds=int(values.shape[1]),
        eval_every=int(eval_every),
        curve=curve,
        grid=tuple(float(g) for g in grid),
        grid_final_gaps=tuple(float(g) for g in grid_gaps),
        mean_curve=tuple(float(v) for v in mean_curve),
    )


def tuned_reference(
    task: Task,
    num_steps: int,
    keys: jax.Array | np.ndarray | int,
    cache_dir: str | os.PathLike | None = None,
    *,
    eval_every: int | None = None,
    grid: Sequence[float] = DEFAULT_GRID,
    curve: str = "train",
    use_cache: bool = True,
) -> Reference:
    """Adam tuned over ``grid`` on ``task`` (cached on disk; see the module docstring).

    Args:
      task: the task.
      num_steps: inner-training steps.
      keys: PRNG keys of the seeds (or a seed count; see :func:`inner_tasks.training.make_keys`).
      cache_dir: cache directory (default :func:`default_cache_dir`).
      eval_every: evaluation interval (default ``max(1, num_steps // 10)``).
      grid: learning rates to try.
      curve: ``"train"`` or ``"eval"``: the curve whose gaps are compared.
      use_cache: read and write the cache (``False``: always recompute, write nothing).
    """
    if curve not in _CURVES:
        raise ValueError(f"curve: expected one of {_CURVES}, got {curve!r}")
    grid = tuple(float(g) for g in grid)
    if not grid or any(not (g > 0 and math.isfinite(g)) for g in grid):
        raise ValueError(f"grid: expected positive finite learning rates, got {grid}")
    eval_every = max(1, int(num_steps) // 10) if eval_every is None else int(eval_every)
    keys = make_keys(keys)
    if not use_cache:
        return _compute_reference(task, num_steps, keys, eval_every, grid, curve)
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    path = _cache_path(task, num_steps, keys, eval_every, grid, curve, cache_dir)
    if path.is_file():
        try:
            return Reference.from_json(json.loads(path.read_text()))
        except (ValueError, TypeError, KeyError):
            pass  # a corrupt or outdated entry: recompute and overwrite
    reference = _compute_reference(task, num_steps, keys, eval_every, grid, curve)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as f:
        json.dump(reference.to_json(), f, indent=1)
        tmp = f.name
    os.replace(tmp, path)
    return reference
