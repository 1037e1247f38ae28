"""Reproduce two "works out of the box" claims: CoRe's one general default and Adan's speed over Adam.

Claim 3 (CoRe, Eckhoff & Reiher, arXiv:2307.15663): one set of hyperparameters, changed only in
``s_max`` between mini-batch and batch learning, is generally applicable. Measured here: CoRe's
mini-batch preset (``core_minibatch``, untuned) and, as the paper's one adjustment, its batch preset
(``core_batch``) against Adam, AdamW and RMSprop each tuned per task.

Claim 4 (Adan, Xie et al., arXiv:2208.06677): Adan reaches the performance of the usual optimizers in
about half the training steps. Measured here: Adan's official defaults (``adan`` preset ``official``)
against tuned Adam, in steps to reach tuned Adam's final loss.

What runs. For each task of each suite (``inner_tasks.get_suite``, the suite's own budgets and keys
``suite.keys(S)``) and each contender, one ``inner_tasks.train_population`` call trains the contender's
(learning rate x seed) cells with one compiled program (``path="auto"``: vectorised where that is
faster on this backend, see ``benchmarks/population.py``). Each cell (optimizer x learning rate x seed)
is written atomically to ``--out``; a rerun skips the cells already there, so an interrupted run
resumes.

Tuning. Adam (optax defaults), AdamW (PyTorch's defaults: weight decay 1e-2) and RMSprop (PyTorch's
defaults: decay 0.99, eps outside the root) try every learning rate of ``--grid`` (default: the project's
reference grid ``10^-4, 10^-3.5, ..., 10^0``). Per task, the chosen rate is the one with the lowest
geometric-mean *validation* final gap over the seeds among the rates where no seed diverged (validation:
the task's ``outer_valid`` evaluation curve; "final" = the mean of its last 10%, as in
``inner_tasks.scoring``). The defaults (CoRe presets, Adan) are run once, untuned.

Scores. Tuned Adam at its validation-chosen rate is the reference (``inner_tasks.scoring.Reference``,
built from the same cells); every contender's per-seed ``final`` and ``auc`` scores are
``inner_tasks.scoring.score`` against it, ``log(gap / gap_adam)``, on the training curve (the project's
scoring curve) and on the validation curve. Lower is better, 0 ties tuned Adam. Intervals are 95%
Student-t intervals over seeds; suite-level numbers first average the tasks per seed.

Steps to reach (claim 4). Per seed, Adam's target is its own final training gap (mean of the last 10%
of its curve, at the tuned rate). A curve "reaches" the target at the first step at which the trailing
mean of its training loss over the same window (10% of the budget) is at most the target. Adan's and
Adam's steps are both measured this way on the same seed (same initialisation and batches); the speedup
is Adam's steps / Adan's steps, with "never" counted as budget + 1 (an upper bound on the speedup). The
same is done on the validation curve at its evaluation points.

Verdicts (stated margins): CoRe is "competitive" with a tuned baseline on a suite when the 95% interval
of the suite-mean difference of final scores (CoRe - baseline) lies below log(1.5) (final gap at most
1.5x), "worse" when it lies above, else unclear; claim 3 is reproduced when CoRe is competitive with
all three, not reproduced when worse than any, inconclusive otherwise. Claim 4 is reproduced when Adan
reaches Adam's final loss on every task and seed and the suite's geometric-mean speedup interval lies
above 1, not reproduced when that interval lies below 1 or Adan fails (most seeds never reach) on at
least half of the tasks, inconclusive otherwise.

    python benchmarks/reproduction/default_claims.py --quick
    python benchmarks/reproduction/default_claims.py --suite cpu-small --figures docs/reproduction/figures
    python benchmarks/reproduction/default_claims.py --suite mnist --tasks mnist_mlp128x128x128_b128 \
        --steps-scale 0.25 --grid 1e-4,3.1622776601683795e-4,1e-3,3.1622776601683795e-3,1e-2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import optax  # noqa: E402
from scipy import stats  # noqa: E402

import optimizers  # noqa: E402
from inner_tasks import get_suite  # noqa: E402
from inner_tasks.base import Task  # noqa: E402
from inner_tasks.scoring import DEFAULT_GRID, Reference, curve_gaps, score  # noqa: E402
from inner_tasks.training import TrainResult, _divergence, train_population  # noqa: E402

NAME = "default_claims"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / NAME
MARGIN = math.log(1.5)
EVAL_SPLIT = "outer_valid"
FINAL_FRACTION = 0.1

# -- contenders ----------------------------------------------------------------------------------------
# Module-level builders (one object each), so a compiled training program is reused across calls.


def _adam(h: Mapping[str, Any]) -> optax.GradientTransformation:
    return optimizers.build({"family": "adam", "learning_rate": h["learning_rate"]})


def _adamw(h: Mapping[str, Any]) -> optax.GradientTransformation:
    preset = dict(optimizers.REGISTRY["adamw"].presets["torch_default"])
    return optimizers.build({"family": "adamw", **preset, "learning_rate": h["learning_rate"]})


def _rmsprop(h: Mapping[str, Any]) -> optax.GradientTransformation:
    preset = dict(optimizers.REGISTRY["rmsprop"].presets["torch_default"])
    return optimizers.build({"family": "rmsprop", **preset, "learning_rate": h["learning_rate"]})


def _core_minibatch(h: Mapping[str, Any]) -> optax.GradientTransformation:
    return optimizers.build({"family": "core", **optimizers.REGISTRY["core"].presets["core_minibatch"]})


def _core_batch(h: Mapping[str, Any]) -> optax.GradientTransformation:
    return optimizers.build({"family": "core", **optimizers.REGISTRY["core"].presets["core_batch"]})


def _adan(h: Mapping[str, Any]) -> optax.GradientTransformation:
    return optimizers.build({"family": "adan", **optimizers.REGISTRY["adan"].presets["official"]})


#: name -> (builder, tuned over the grid?, what it is)
CONTENDERS: dict[str, tuple[Callable[[Mapping[str, Any]], optax.GradientTransformation], bool, str]] = {
    "adam": (_adam, True, "Adam (optax defaults), learning rate tuned"),
    "adamw": (_adamw, True, "AdamW (PyTorch defaults, weight decay 1e-2), learning rate tuned"),
    "rmsprop": (_rmsprop, True, "RMSprop (PyTorch defaults, decay 0.99), learning rate tuned"),
    "core_minibatch": (_core_minibatch, False, "CoRe mini-batch preset (s_max 1e-3), untuned"),
    "core_batch": (_core_batch, False, "CoRe batch preset (s_max 1), untuned"),
    "adan": (_adan, False, "Adan official defaults (lr 1e-3, betas 0.98/0.92/0.99), untuned"),
}
TUNED = [name for name, (_, tuned, _) in CONTENDERS.items() if tuned]
FIXED_LR = float("nan")  # the learning-rate slot of an untuned contender's cells


# -- cells on disk ---------------------------------------------------------------------------------------


def _budget(entry: Any, scales: Mapping[str, float]) -> tuple[int, int]:
    """``(num_steps, eval_every)`` of a suite entry scaled by ``scales`` (task name, else ``"*"``)."""
    scale = scales.get(entry.task.name, scales.get("*", 1.0))
    steps = max(1, round(entry.num_steps * scale))
    return steps, max(1, min(steps, round(entry.eval_every * scale)))


def _lr_tag(lr: float) -> str:
    return "default" if math.isnan(lr) else f"lr{lr:.6e}"


def cell_path(
    out: Path, suite: str, task: Task, steps: int, every: int, opt: str, lr: float, seed: int
) -> Path:
    """Where one (optimizer, learning rate, seed) cell of one task and budget is stored."""
    return out / "cells" / suite / f"{task.name}-T{steps}-E{every}" / opt / f"{_lr_tag(lr)}-s{seed}.json"


def _finite_list(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).ravel()]


def _write_json(path: Path, data: Any) -> None:
    """Write ``data`` atomically (temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, allow_nan=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_cell(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "train_loss" in data else None


def run_cells(
    out: Path,
    suite_name: str,
    task: Task,
    steps: int,
    every: int,
    opt: str,
    lrs: Sequence[float],
    keys: Any,
    log: Callable[[str], None],
) -> dict[str, int]:
    """Train the missing cells of one contender on one task (one population call); return counts."""
    num_seeds = int(keys.shape[0])
    missing = {
        (i, s)
        for i, lr in enumerate(lrs)
        for s in range(num_seeds)
        if not cell_path(out, suite_name, task, steps, every, opt, lr, s).is_file()
    }
    done = len(lrs) * num_seeds
    if not missing:
        return {"trained": 0, "skipped": done}
    # the (rates x seeds) block that covers every missing cell: one population call
    rows = [i for i in range(len(lrs)) if any((i, s) in missing for s in range(num_seeds))]
    missing_lrs = [lrs[i] for i in rows]
    missing_seeds = [s for s in range(num_seeds) if any((i, s) in missing for i in rows)]
    builder, tuned, _ = CONTENDERS[opt]
    numeric = {"learning_rate": np.asarray(missing_lrs)} if tuned else {}
    t0 = time.perf_counter()
    result = train_population(
        task, builder, numeric, steps, keys[np.asarray(missing_seeds)], every, eval_split=EVAL_SPLIT
    )
    seconds = time.perf_counter() - t0
    trained = 0
    for p, i in enumerate(rows):
        lr = lrs[i]
        for j, s in enumerate(missing_seeds):
            if (i, s) not in missing:
                continue
            path = cell_path(out, suite_name, task, steps, every, opt, lr, s)
            acc = None if result.eval_accuracy is None else _finite_list(result.eval_accuracy[p, j])
            _write_json(
                path,
                {
                    "suite": suite_name,
                    "task": task.name,
                    "optimizer": opt,
                    "learning_rate": None if math.isnan(lr) else float(lr),
                    "seed": s,
                    "num_steps": steps,
                    "eval_every": every,
                    "eval_split": EVAL_SPLIT,
                    "train_loss": _finite_list(result.train_loss[p, j]),
                    "eval_steps": [int(v) for v in result.eval_steps],
                    "eval_loss": _finite_list(result.eval_loss[p, j]),
                    "eval_accuracy": acc,
                    "diverged": bool(result.diverged[p, j]),
                    "path": result.path,
                    "population_wall_s": round(seconds, 3),
                },
            )
            trained += 1
    log(
        f"  {task.name:<34} {opt:<15} {len(missing_lrs)} lr x {len(missing_seeds)} seeds"
        f" ({result.path}): {seconds:7.1f} s"
    )
    return {"trained": trained, "skipped": done - trained}


def load_cells(
    out: Path,
    suite_name: str,
    task: Task,
    steps: int,
    every: int,
    opt: str,
    lrs: Sequence[float],
    num_seeds: int,
) -> TrainResult:
    """The stored cells of one contender as a ``TrainResult`` with axes ``[P, S, ...]``."""
    train, evals, accs = [], [], []
    eval_steps = None
    for lr in lrs:
        row_t, row_e, row_a = [], [], []
        for s in range(num_seeds):
            cell = _read_cell(cell_path(out, suite_name, task, steps, every, opt, lr, s))
            if cell is None:
                raise FileNotFoundError(f"missing cell {opt} {_lr_tag(lr)} seed {s} of {task.name}")
            eval_steps = cell["eval_steps"]
            row_t.append([math.nan if v is None else v for v in cell["train_loss"]])
            row_e.append([math.nan if v is None else v for v in cell["eval_loss"]])
            row_a.append([math.nan if v is None else v for v in (cell["eval_accuracy"] or [])])
        train.append(row_t)
        evals.append(row_e)
        accs.append(row_a)
    train_a = np.asarray(train, dtype=np.float64)
    eval_a = np.asarray(evals, dtype=np.float64)
    acc_a = np.asarray(accs, dtype=np.float64) if task.has_accuracy else None
    lower = float(task.lower_bound)
    return TrainResult(
        train_loss=train_a,
        eval_steps=np.asarray(eval_steps),
        eval_loss=eval_a,
        eval_accuracy=acc_a,
        diverged=_divergence(train_a, eval_a, lower),
        lower_bound=lower,
    )


# -- analysis --------------------------------------------------------------------------------------------


def t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean and its 95% Student-t interval (NaN bounds for one value)."""
    x = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def _floor(initial_gap: float, lower: float) -> float:
    return 1e-8 * abs(initial_gap) + 1e-7 * abs(lower) + 1e-30


def choose_rate(result: TrainResult, curve: str) -> int:
    """Index of the learning rate with the fewest diverged seeds, then the lowest geometric-mean final gap.

    The same rule as ``inner_tasks.scoring.tuned_reference``, on ``curve`` (``"eval"``: validation).
    """
    values = result.train_loss if curve == "train" else result.eval_loss
    initial, final, auc = curve_gaps(values, result.lower_bound)
    diverged = result.diverged | ~np.isfinite(final) | ~np.isfinite(auc)
    floor = _floor(float(np.nanmean(np.abs(initial))), result.lower_bound)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_final = np.log(np.maximum(final, floor)).mean(axis=1)
    order = np.lexsort((np.where(np.isfinite(log_final), log_final, np.inf), diverged.sum(axis=1)))
    return int(order[0])


def make_reference(
    task: Task, result: TrainResult, index: int, lrs: Sequence[float], curve: str
) -> Reference:
    """Tuned Adam's ``Reference`` at rate ``lrs[index]`` on ``curve`` (scoring's geometric-mean rule)."""
    one = result.candidate(index)
    values = one.train_loss if curve == "train" else one.eval_loss
    initial, final, auc = curve_gaps(values, result.lower_bound)
    ok = ~(one.diverged | ~np.isfinite(final) | ~np.isfinite(auc))
    floor = _floor(float(np.nanmean(np.abs(initial))), result.lower_bound)

    def geo(x: np.ndarray) -> float:
        return float(np.exp(np.log(np.maximum(x[ok], floor)).mean())) if ok.any() else math.inf

    return Reference(
        task=task.name,
        fingerprint=task.fingerprint(),
        learning_rate=float(lrs[index]),
        final_gap=geo(final),
        auc_gap=geo(auc),
        initial_gap=float(np.nanmean(initial)),
        lower_bound=float(task.lower_bound),
        num_steps=one.num_steps,
        num_seeds=int(values.shape[0]),
        eval_every=int(result.eval_steps[1] - result.eval_steps[0]) if len(result.eval_steps) > 1 else 1,
        curve=curve,
        grid=tuple(float(g) for g in lrs),
        grid_final_gaps=(),
    )


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over the last axis: entry ``t`` averages ``values[..., t-window+1 : t+1]``
    (NaN for ``t < window - 1``)."""
    values = np.asarray(values, dtype=np.float64)
    csum = np.cumsum(np.concatenate([np.zeros(values.shape[:-1] + (1,)), values], axis=-1), axis=-1)
    out = np.full(values.shape, np.nan)
    out[..., window - 1 :] = (csum[..., window:] - csum[..., :-window]) / window
    return out


def steps_to_reach(curves: np.ndarray, steps: np.ndarray, targets: np.ndarray, floor: float) -> np.ndarray:
    """Per row: the first step whose trailing mean (window: 10% of the points) is <= the row's target gap.

    ``curves`` are gaps ``[S, T]`` at ``steps`` ``[T]``; returns ``[S]`` floats, NaN where never reached.
    """
    n = curves.shape[-1]
    window = max(1, int(math.ceil(FINAL_FRACTION * n)))
    smooth = trailing_mean(curves, window)
    out = np.full(curves.shape[0], np.nan)
    for s in range(curves.shape[0]):
        with np.errstate(invalid="ignore"):
            hit = np.nonzero(np.maximum(smooth[s], floor) <= max(targets[s], floor) * (1 + 1e-12))[0]
        if hit.size:
            out[s] = float(steps[hit[0]])
    return out


def _speed_rows(task: Task, adam: TrainResult, adan: TrainResult) -> dict[str, Any]:
    """Steps for Adan and Adam to reach each seed's tuned-Adam final gap, on training and validation."""
    lower = float(task.lower_bound)
    out: dict[str, Any] = {}
    for curve in ("train", "eval"):
        a = (adam.train_loss if curve == "train" else adam.eval_loss) - lower
        b = (adan.train_loss if curve == "train" else adan.eval_loss) - lower
        steps = np.arange(a.shape[-1]) if curve == "train" else np.asarray(adam.eval_steps)
        budget = int(adam.num_steps)
        initial, final, _ = curve_gaps(a + lower, lower)
        floor = _floor(float(np.nanmean(np.abs(initial))), lower)
        adam_steps = steps_to_reach(a, steps, final, floor)
        adan_steps = steps_to_reach(b, steps, final, floor)
        adan_steps[adan.diverged] = np.nan
        censored = np.where(np.isnan(adan_steps), budget + 1, adan_steps)
        speedup = np.maximum(adam_steps, 1.0) / np.maximum(censored, 1.0)
        out[curve] = {
            "adam_steps": _finite_list(adam_steps),
            "adan_steps": _finite_list(adan_steps),
            "never": int(np.isnan(adan_steps).sum()),
            "log_speedup": _finite_list(np.log(speedup)),
            "budget": budget,
        }
    return out


def analyse_task(task: Task, results: Mapping[str, TrainResult], lrs: Sequence[float]) -> dict[str, Any]:
    """Chosen rates, per-seed scores against tuned Adam, summaries and Adan's steps to reach Adam."""
    chosen = {name: choose_rate(results[name], "eval") for name in TUNED}
    train_chosen = {name: lrs[choose_rate(results[name], "train")] for name in TUNED}
    refs = {c: make_reference(task, results["adam"], chosen["adam"], lrs, c) for c in ("train", "eval")}
    row: dict[str, Any] = {"task": task.name, "contenders": {}}
    best: dict[str, TrainResult] = {}
    for name, result in results.items():
        one = result.candidate(chosen[name]) if name in chosen else result.candidate(0)
        best[name] = one
        entry: dict[str, Any] = {
            "learning_rate": float(lrs[chosen[name]]) if name in chosen else None,
            "learning_rate_if_chosen_on_train": float(train_chosen[name]) if name in chosen else None,
            "diverged": int(one.diverged.sum()),
        }
        for curve in ("train", "eval"):
            scores = score(one, task, refs[curve], curve=curve)
            for kind in ("final", "auc"):
                per_seed = [getattr(s, kind) for s in scores]
                mean, lo, hi = t_interval(per_seed)
                entry[f"{curve}_{kind}"] = {"per_seed": per_seed, "mean": mean, "ci": [lo, hi]}
        if one.eval_accuracy is not None:
            acc = one.eval_accuracy[:, -1]
            mean, lo, hi = t_interval(acc.tolist())
            entry["final_eval_accuracy"] = {"per_seed": _finite_list(acc), "mean": mean, "ci": [lo, hi]}
        entry["mean_train_curve"] = _finite_list(np.nanmean(one.train_loss, axis=0))
        entry["mean_eval_curve"] = _finite_list(np.nanmean(one.eval_loss, axis=0))
        row["contenders"][name] = entry
    row["eval_steps"] = [int(v) for v in results["adam"].eval_steps]
    row["reference"] = {c: refs[c].to_json() for c in refs}
    row["adan_speed"] = _speed_rows(task, best["adam"], best["adan"])
    # secondary reading: Adan's defaults against Adam at its own default rate 1e-3 (when on the grid)
    near = [i for i, lr in enumerate(lrs) if abs(lr - 1e-3) <= 1e-9]
    if near:
        row["adan_speed_vs_adam_1e-3"] = _speed_rows(task, results["adam"].candidate(near[0]), best["adan"])
    return row


def _suite_mean(rows: Sequence[Mapping[str, Any]], get: Callable[[Mapping[str, Any]], list]) -> list[float]:
    """Per seed, the mean over tasks of ``get(row)`` (a per-seed list)."""
    table = np.asarray([[np.nan if v is None else v for v in get(r)] for r in rows], dtype=np.float64)
    return np.nanmean(table, axis=0).tolist()


def verdicts(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Suite-level statistics and the verdicts on claims 3 and 4 (rules in the module docstring)."""
    out: dict[str, Any] = {"suite_mean": {}, "core_vs": {}}
    for name in CONTENDERS:
        for key in ("train_final", "train_auc", "eval_final", "eval_auc"):
            per_seed = _suite_mean(rows, lambda r, n=name, k=key: r["contenders"][n][k]["per_seed"])
            mean, lo, hi = t_interval(per_seed)
            out["suite_mean"].setdefault(name, {})[key] = {"mean": mean, "ci": [lo, hi]}
    core = _suite_mean(rows, lambda r: r["contenders"]["core_minibatch"]["train_final"]["per_seed"])
    status = {}
    for base in TUNED:
        other = _suite_mean(rows, lambda r, b=base: r["contenders"][b]["train_final"]["per_seed"])
        mean, lo, hi = t_interval(np.subtract(core, other).tolist())
        status[base] = "competitive" if hi < MARGIN else ("worse" if lo > MARGIN else "unclear")
        out["core_vs"][base] = {"mean": mean, "ci": [lo, hi], "status": status[base]}
    if all(v == "competitive" for v in status.values()):
        claim3 = "reproduced"
    elif any(v == "worse" for v in status.values()):
        claim3 = "not reproduced"
    else:
        claim3 = "inconclusive"
    speed = _suite_mean(rows, lambda r: r["adan_speed"]["train"]["log_speedup"])
    mean, lo, hi = t_interval(speed)
    never = [r["adan_speed"]["train"]["never"] for r in rows]
    seeds = len(rows[0]["adan_speed"]["train"]["adan_steps"])
    failed_tasks = sum(n > seeds / 2 for n in never)
    if sum(never) == 0 and lo > 0:
        claim4 = "reproduced"
    elif hi < 0 or failed_tasks >= len(rows) / 2:
        claim4 = "not reproduced"
    else:
        claim4 = "inconclusive"
    out["adan_speedup"] = {
        "geometric_mean": math.exp(mean),
        "ci": [
            math.exp(lo) if math.isfinite(lo) else math.nan,
            math.exp(hi) if math.isfinite(hi) else math.nan,
        ],
        "never_per_task": never,
        "seeds": seeds,
        "failed_tasks": failed_tasks,
    }
    out["claim3"] = claim3
    out["claim4"] = claim4
    return out


# -- plots -----------------------------------------------------------------------------------------------


def plot(summary: Mapping[str, Any], figures: Path) -> list[Path]:
    """Per suite: score bars with 95% intervals, and Adan vs tuned Adam training curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures.mkdir(parents=True, exist_ok=True)
    written = []
    names = list(CONTENDERS)
    colors = dict(zip(names, plt.get_cmap("tab10").colors, strict=False))
    for suite, block in summary["suites"].items():
        rows = block["tasks"]
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=False)
        for ax, kind in zip(axes, ("train_final", "train_auc"), strict=True):
            width = 0.8 / len(names)
            for j, name in enumerate(names):
                means = [r["contenders"][name][kind]["mean"] for r in rows]
                ci = np.asarray([r["contenders"][name][kind]["ci"] for r in rows], dtype=np.float64)
                err = np.abs(np.stack([np.asarray(means) - ci[:, 0], ci[:, 1] - np.asarray(means)]))
                x = np.arange(len(rows)) + (j - (len(names) - 1) / 2) * width
                ax.bar(x, means, width, yerr=np.nan_to_num(err), capsize=2, label=name, color=colors[name])
            ax.axhline(0.0, color="k", lw=0.8)
            ax.set_xticks(np.arange(len(rows)))
            ax.set_xticklabels([r["task"] for r in rows], rotation=15, fontsize=7)
            ax.set_ylabel(f"{kind.split('_')[1]} score  log(gap / gap of tuned Adam)")
            ax.set_title(f"{suite}: {kind.split('_')[1]} score (lower is better; 95% t interval)", fontsize=9)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        path = figures / f"{NAME}_{suite}_scores.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

        fig, axes = plt.subplots(1, len(rows), figsize=(3.6 * len(rows), 3.3), squeeze=False)
        for ax, r in zip(axes[0], rows, strict=True):
            lower = r["reference"]["train"]["lower_bound"]
            for name, style in (("adam", "-"), ("adan", "--"), ("core_minibatch", ":")):
                curve = np.asarray(
                    [np.nan if v is None else v for v in r["contenders"][name]["mean_train_curve"]]
                )
                gap = np.maximum(curve - lower, 1e-12)
                label = (
                    name if name != "adam" else f"adam (lr {r['contenders']['adam']['learning_rate']:.2g})"
                )
                ax.plot(np.arange(gap.size), gap, style, color=colors[name], label=label, lw=1.2)
            ax.axhline(r["reference"]["train"]["final_gap"], color="grey", lw=0.6)
            ax.set_yscale("log")
            ax.set_title(r["task"], fontsize=8)
            ax.set_xlabel("step")
            ax.legend(fontsize=6)
        axes[0][0].set_ylabel("training loss - lower bound (seed mean)")
        fig.tight_layout()
        path = figures / f"{NAME}_{suite}_curves.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


# -- table and main --------------------------------------------------------------------------------------


def _fmt(block: Mapping[str, Any]) -> str:
    lo, hi = block["ci"]
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{block['mean']:+.2f}"
    return f"{block['mean']:+.2f} [{lo:+.2f},{hi:+.2f}]"


def print_table(summary: Mapping[str, Any]) -> None:
    """Scores per task and contender, Adan's steps, and the verdicts."""
    for suite, block in summary["suites"].items():
        print(f"\n== {suite} ({block['num_seeds']} seeds, grid {len(summary['grid'])} rates) ==")
        head = f"{'task':<32} {'optimizer':<15} {'lr':>8} {'final (train)':>22} {'auc (train)':>22}"
        print(head + f" {'final (valid)':>22} div")
        for r in block["tasks"]:
            for name, e in r["contenders"].items():
                lr = "default" if e["learning_rate"] is None else f"{e['learning_rate']:.1e}"
                print(
                    f"{r['task']:<32} {name:<15} {lr:>8} {_fmt(e['train_final']):>22}"
                    f" {_fmt(e['train_auc']):>22} {_fmt(e['eval_final']):>22} {e['diverged']:>3}"
                )
        print(f"\n{'task':<32} {'budget':>6} {'adam steps (mean)':>18} {'adan steps (mean)':>18} never")
        for r in block["tasks"]:
            sp = r["adan_speed"]["train"]
            adam = np.nanmean([np.nan if v is None else v for v in sp["adam_steps"]])
            adan_v = [v for v in sp["adan_steps"] if v is not None]
            adan = f"{np.mean(adan_v):.0f}" if adan_v else "never"
            print(f"{r['task']:<32} {sp['budget']:>6} {adam:>18.0f} {adan:>18} {sp['never']:>5}")
        v = block["verdicts"]
        print(
            "\nsuite mean final score (train): "
            + ", ".join(f"{n} {_fmt(v['suite_mean'][n]['train_final'])}" for n in CONTENDERS)
        )
        print(
            "CoRe mini-batch - tuned baseline (final, train): "
            + ", ".join(f"{b} {_fmt(c)} {c['status']}" for b, c in v["core_vs"].items())
        )
        s = v["adan_speedup"]
        print(
            f"Adan speedup over tuned Adam (geometric mean): {s['geometric_mean']:.2f} "
            f"[{s['ci'][0]:.2f}, {s['ci'][1]:.2f}], never per task {s['never_per_task']}"
        )
        print(f"claim 3 (CoRe default): {v['claim3']};  claim 4 (Adan faster): {v['claim4']}")


def _md_ci(block: Mapping[str, Any]) -> str:
    lo, hi = block["ci"]
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{block['mean']:+.2f}"
    return f"{block['mean']:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def markdown(summary: Mapping[str, Any]) -> str:
    """The result tables as markdown (scores per task, Adan's steps to reach, suite means, verdicts)."""
    lines: list[str] = []
    for suite, block in summary["suites"].items():
        budgets = ", ".join(f"{b['task']} {b['num_steps']} steps" for b in block["budgets"])
        lines += [f"**{suite}** ({block['num_seeds']} seeds; {budgets})", ""]
        lines += [
            "| task | optimizer | lr (valid.) | lr if chosen on train | final score (train) | auc score (train)"
            " | final score (valid.) | valid. accuracy | diverged |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in block["tasks"]:
            for name, e in r["contenders"].items():
                lr = "default" if e["learning_rate"] is None else f"{e['learning_rate']:.2g}"
                lr_t = (
                    ""
                    if e["learning_rate_if_chosen_on_train"] is None
                    else (f"{e['learning_rate_if_chosen_on_train']:.2g}")
                )
                acc = e.get("final_eval_accuracy")
                acc_s = "" if acc is None else f"{acc['mean']:.3f}"
                lines.append(
                    f"| {r['task']} | {name} | {lr} | {lr_t} | {_md_ci(e['train_final'])} |"
                    f" {_md_ci(e['train_auc'])} | {_md_ci(e['eval_final'])} | {acc_s} | {e['diverged']} |"
                )
        v = block["verdicts"]
        lines += [
            "",
            "| suite mean over tasks | final (train) | auc (train) | final (valid.) | auc (valid.) |",
        ]
        lines += ["| --- | --- | --- | --- | --- |"]
        for name in CONTENDERS:
            m = v["suite_mean"][name]
            lines.append(
                f"| {name} | {_md_ci(m['train_final'])} | {_md_ci(m['train_auc'])} |"
                f" {_md_ci(m['eval_final'])} | {_md_ci(m['eval_auc'])} |"
            )
        lines += [
            "",
            "| CoRe mini-batch minus tuned | final score difference (train) | status |",
            "| --- | --- | --- |",
        ]
        for base, c in v["core_vs"].items():
            lines.append(f"| {base} | {_md_ci(c)} | {c['status']} |")
        lines += [
            "",
            "| task | budget | Adam steps to its final loss (train) | Adan steps (train) | Adan never (train)"
            " | Adam steps (valid.) | Adan steps (valid.) | Adan never (valid.) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in block["tasks"]:
            cells = []
            for curve in ("train", "eval"):
                sp = r["adan_speed"][curve]
                adam = [x for x in sp["adam_steps"] if x is not None]
                adan = [x for x in sp["adan_steps"] if x is not None]
                cells += [
                    f"{np.mean(adam):.0f}" if adam else "never",
                    f"{np.mean(adan):.0f}" if adan else "never",
                    f"{sp['never']}/{len(sp['adan_steps'])}",
                ]
            lines.append(
                f"| {r['task']} | {r['adan_speed']['train']['budget']} | " + " | ".join(cells) + " |"
            )
        if all("adan_speed_vs_adam_1e-3" in r for r in block["tasks"]):
            lines += [
                "",
                "| task (secondary: Adam at its default rate 1e-3) | Adam steps (train) | Adan steps (train)"
                " | Adan never (train) |",
                "| --- | --- | --- | --- |",
            ]
            for r in block["tasks"]:
                sp = r["adan_speed_vs_adam_1e-3"]["train"]
                adam = [x for x in sp["adam_steps"] if x is not None]
                adan = [x for x in sp["adan_steps"] if x is not None]
                lines.append(
                    f"| {r['task']} | {np.mean(adam):.0f} | "
                    + (f"{np.mean(adan):.0f}" if adan else "never")
                    + f" | {sp['never']}/{len(sp['adan_steps'])} |"
                )
            per_seed = _suite_mean(
                block["tasks"], lambda r: r["adan_speed_vs_adam_1e-3"]["train"]["log_speedup"]
            )
            mean, lo2, hi2 = t_interval(per_seed)
            lines += [
                "",
                f"Adan's speedup over Adam at 1e-3 (geometric mean): {math.exp(mean):.2f}"
                f" [{math.exp(lo2):.2f}, {math.exp(hi2):.2f}].",
            ]
        s = v["adan_speedup"]
        lo, hi = s["ci"]
        ci = "" if lo is None or hi is None else f" [{lo:.2f}, {hi:.2f}]"
        lines += [
            "",
            f"Adan's speedup over tuned Adam (Adam's steps / Adan's steps, training curve, geometric mean over"
            f" tasks and seeds): {s['geometric_mean']:.2f}{ci}.",
            f"Verdicts on {suite}: claim 3 (CoRe's default) **{v['claim3']}**; claim 4 (Adan faster)"
            f" **{v['claim4']}**.",
            "",
        ]
    return "\n".join(lines)


def _parse_grids(items: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """``--grid`` values: ``"a,b,c"`` (every task, key ``"*"``) or ``"TASK=a,b,c"`` (one task)."""
    grids: dict[str, tuple[float, ...]] = {}
    for item in items:
        name, _, values = item.rpartition("=")
        try:
            rates = tuple(sorted(float(v) for v in values.split(",")))
        except ValueError:
            raise ValueError(f"--grid: expected comma-separated learning rates, got {item!r}") from None
        if not rates or any(not (g > 0 and math.isfinite(g)) for g in rates):
            raise ValueError(f"--grid: expected positive learning rates, got {item!r}")
        grids[name or "*"] = rates
    return grids


def _parse_scales(items: Sequence[str]) -> dict[str, float]:
    scales: dict[str, float] = {}
    for item in items:
        name, _, value = item.rpartition("=")
        scale = float(value)
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"--steps-scale: expected a positive number, got {item!r}")
        scales[name or "*"] = scale
    return scales


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--suite", action="append", help="suite name (repeatable; default cpu-small and mnist)"
    )
    parser.add_argument("--tasks", nargs="*", default=None, help="only these task names of the suites")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per cell (default 5)")
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        help="comma-separated learning rates (default 1e-4..1), or TASK=rates for one task (repeatable)",
    )
    parser.add_argument(
        "--steps-scale",
        action="append",
        default=[],
        help="scale the suites' budgets: a number, or TASK=number for one task (repeatable)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results directory (resumable)")
    parser.add_argument("--figures", type=Path, default=None, help="write the PNG plots here")
    parser.add_argument("--json", type=Path, default=None, help="write the summary JSON here too")
    parser.add_argument(
        "--markdown", type=Path, default=None, help="write the result tables as markdown here"
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny run: the quadratic of cpu-small, 2 seeds, 3 rates"
    )
    args = parser.parse_args(argv)

    suites = args.suite or ["cpu-small", "mnist"]
    try:
        grids = _parse_grids(args.grid)
    except ValueError as err:
        parser.error(str(err))
    grid = grids.pop("*", DEFAULT_GRID)
    scales = _parse_scales(args.steps_scale)
    tasks = args.tasks
    num_seeds = args.seeds
    if args.quick:
        suites = args.suite or ["cpu-small"]
        tasks = tasks or ["quadratic_d10_k100_s0"]
        num_seeds = min(num_seeds, 2)
        grid = grid if args.grid else (1e-3, 1e-2, 1e-1)  # a TASK=rates entry keeps the default here
        scales = scales or {"*": 0.25}
    if num_seeds < 2:
        parser.error("--seeds: at least 2 (intervals need two seeds)")
    grid = tuple(sorted(grid))

    summary: dict[str, Any] = {
        "name": NAME,
        "grid": list(grid),
        "task_grids": {k: list(v) for k, v in grids.items()},
        "steps_scale": scales,
        "eval_split": EVAL_SPLIT,
        "margin": MARGIN,
        "contenders": {n: c[2] for n, c in CONTENDERS.items()},
        "suites": {},
        "cells": {"trained": 0, "skipped": 0},
    }
    start = time.perf_counter()
    for suite_name in suites:
        suite = get_suite(suite_name)
        keys = suite.keys(num_seeds)
        entries = [e for e in suite.entries if not tasks or e.task.name in tasks]
        if not entries:
            parser.error(f"--tasks: none of {tasks} is in suite {suite_name!r}")
        print(
            f"{suite_name}: {len(entries)} tasks x {len(CONTENDERS)} optimizers, {num_seeds} seeds",
            flush=True,
        )
        rows = []
        budgets = []
        for entry in entries:
            steps, every = _budget(entry, scales)
            budgets.append({"task": entry.task.name, "num_steps": steps, "eval_every": every})
            results = {}
            for name, (_, tuned, _) in CONTENDERS.items():
                lrs = grids.get(entry.task.name, grid) if tuned else (FIXED_LR,)
                counts = run_cells(args.out, suite_name, entry.task, steps, every, name, lrs, keys, print)
                for k in counts:
                    summary["cells"][k] += counts[k]
                results[name] = load_cells(
                    args.out, suite_name, entry.task, steps, every, name, lrs, num_seeds
                )
            rows.append(analyse_task(entry.task, results, grids.get(entry.task.name, grid)))
        summary["suites"][suite_name] = {
            "num_seeds": num_seeds,
            "budgets": budgets,
            "tasks": rows,
            "verdicts": verdicts(rows),
        }
    summary["wall_s"] = round(time.perf_counter() - start, 1)
    print_table(summary)
    tag = "-".join(suites)
    _write_json(args.out / f"summary-{tag}.json", _jsonable(summary))
    if args.json:
        _write_json(args.json, _jsonable(summary))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(_jsonable(summary)))
    if args.figures:
        for path in plot(summary, args.figures):
            print(f"wrote {path}")
    print(
        f"cells trained {summary['cells']['trained']}, skipped {summary['cells']['skipped']}; "
        f"{summary['wall_s']} s"
    )
    return 0


def _jsonable(value: Any) -> Any:
    """``value`` with non-finite floats as ``None`` (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return value


if __name__ == "__main__":
    sys.exit(main())
