"""Reproduce Table 1 of the RLLC paper, MNIST MLP column: baselines vs linear-memory optimizers with RLLC.

Paper: Szegedy, Czifra, Kőrösi-Szabó, *Dynamic Memory Based Adaptive Optimization*, arXiv:2402.15262,
Table 1 and App. C.2. Protocol (the defaults of this script): the MNIST MLP 784-128-128-128-10
(``inner_tasks.ImageMLP``), batch 128, 10,000 iterations, no learning-rate schedule, 3 seeds; the
baselines (Adam, SGD, momentum SGD with μ = 0.9) sweep the learning rate over {1e-7, 3e-7, ..., 0.3, 1}
(15 values); each LM-RLLC configuration (the ``linear_memory`` presets ``rllc_R0.9``, ``rllc_R0_R0.9``,
``rllc_R2_0.9``, ``rllc_C_0.9_2pi3``) sweeps c1 over {0.001, ..., 0.3} x c2 over {0.003, 0.01, 0.03}.

What is measured, per row (optimizer):

1. **grid**: every (grid point x seed) cell of the row is trained as one population by
   ``inner_tasks.training.train_population`` (one compiled program, traced hyperparameters), with the
   validation split evaluated every ``--eval-every`` steps. Seed ``s`` is the key ``fold_in(key(0), s)``,
   which fixes the initialisation and the batch sequence, so every row sees the same seeds.
2. **selection**: the grid point with the lowest final validation loss, averaged over seeds (points
   where a seed diverged, per ``train_population``'s rule, are never chosen).
3. **test**: the chosen point's seeds are trained again with the test split evaluated (the same keys,
   so the same trajectories up to floating-point reassociation; the script records the largest
   train-loss difference between the two runs). Test loss and accuracy are those of the final
   parameters; their 95% intervals are Student-t intervals over seeds, and each LM-RLLC row's
   difference to Adam is a paired t interval (same seeds).

Results are stored per cell (row x phase x grid point x seed) as JSON files under ``--out``, each
written atomically; a rerun skips the cells already there, so an interrupted run resumes. ``summary.json``
holds the table. ``--figures DIR`` writes ``rllc_table1_test_loss.png`` (test loss per row with 95%
intervals) and ``rllc_table1_curves.png`` (training and test curves of each row's chosen point).

    python benchmarks/reproduction/rllc_table1.py --quick                # tiny: digits, 40 steps
    python benchmarks/reproduction/rllc_table1.py --figures docs/reproduction/figures   # paper protocol
    python benchmarks/reproduction/rllc_table1.py --steps 500 --eval-every 50 --path loop \
        --baseline-lrs 1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1,3e-1,1   # the reduced run of the docs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import optax  # noqa: E402

import inner_tasks  # noqa: E402
import optimizers  # noqa: E402
from inner_tasks import training  # noqa: E402

NAME = "rllc_table1"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / NAME

#: App. C.2, "Benchmark optimizers": learning rate grid.
PAPER_BASELINE_LRS: tuple[float, ...] = tuple(m * 10.0**e for e in range(-7, 0) for m in (1.0, 3.0)) + (1.0,)
#: App. C.2, "Our optimizers": learning rate (c1) and learning-law learning rate (c2) grids.
PAPER_RLLC_C1: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
PAPER_RLLC_C2: tuple[float, ...] = (0.003, 0.01, 0.03)

#: Table 1, MNIST MLP column (test loss, test accuracy %), rows 1-11 in the paper's order. The row labels
#: are lost in the surviving text (shared spec §5.2): rows 1-3 are the baselines, rows 4-11 LM-RLLC.
PAPER_MNIST_MLP: tuple[tuple[float, float], ...] = (
    (0.0882, 98.16),
    (0.0856, 98.22),
    (0.0758, 97.83),
    (0.0844, 98.21),
    (0.0888, 98.26),
    (0.0829, 98.23),
    (0.0801, 98.17),
    (0.0861, 98.21),
    (0.0877, 98.23),
    (0.0797, 98.22),
    (0.0873, 98.09),
)

_LM = optimizers.REGISTRY["linear_memory"].presets

#: Row name -> (registry family, fixed hyperparameters, grid kind). Baselines use the registry's defaults
#: for what the paper does not give (momentum 0.9, Adam's betas 0.9 / 0.999, eps 1e-8).
ROWS: dict[str, tuple[str, dict[str, Any], str]] = {
    "adam": ("adam", {}, "baseline"),
    "sgd": ("sgd", {}, "baseline"),
    "momentum": ("momentum", {"momentum": 0.9}, "baseline"),
    "rllc_R0.9": ("linear_memory", dict(_LM["rllc_R0.9"]), "rllc"),
    "rllc_R0_R0.9": ("linear_memory", dict(_LM["rllc_R0_R0.9"]), "rllc"),
    "rllc_R2_0.9": ("linear_memory", dict(_LM["rllc_R2_0.9"]), "rllc"),
    "rllc_C_0.9_2pi3": ("linear_memory", dict(_LM["rllc_C_0.9_2pi3"]), "rllc"),
}
RLLC_ROWS = tuple(r for r, (_, _, g) in ROWS.items() if g == "rllc")
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


class RowOptimizer:
    """``make_opt`` of one row: builds the row's optimizer from traced numeric hyperparameters.

    Hashes by value (family and fixed hyperparameters), so ``train_population`` reuses one compiled
    program per row and phase.
    """

    def __init__(self, family: str, fixed: Mapping[str, Any]):
        self.family = family
        self.fixed = dict(fixed)
        self._key = (family, json.dumps(self.fixed, sort_keys=True))

    def __call__(self, hparams: Mapping[str, Any]) -> optax.GradientTransformation:
        return optimizers.build({"family": self.family, **self.fixed, **hparams})

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RowOptimizer) and other._key == self._key


# -- cells ------------------------------------------------------------------------------------------------


def point_key(point: Mapping[str, float]) -> str:
    """File-name key of a grid point, e.g. ``learning_rate=0.001,learning_law_rate=0.01``."""
    return ",".join(f"{k}={v:.6g}" for k, v in point.items())


def grid_points(kind: str, baseline_lrs: Sequence[float], c1: Sequence[float], c2: Sequence[float]):
    """The row's grid as a list of hyperparameter dicts."""
    if kind == "baseline":
        return [{"learning_rate": float(lr)} for lr in baseline_lrs]
    return [{"learning_rate": float(a), "learning_law_rate": float(b)} for a in c1 for b in c2]


def _cell_path(cell_dir: Path, row: str, phase: str, point: Mapping[str, float], seed: int) -> Path:
    return cell_dir / row / f"{phase}__{point_key(point)}__seed{seed}.json"


def _write_atomic(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, allow_nan=True)
    os.replace(tmp, path)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _floats(x: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(x, np.float64).ravel()]


def run_phase(
    task: Any,
    row: str,
    phase: str,
    points: list[dict[str, float]],
    seeds: Sequence[int],
    num_steps: int,
    eval_every: int,
    cell_dir: Path,
    path: str,
) -> dict[str, Any]:
    """Train the missing cells of ``points x seeds`` for ``row`` as one population; return timing info.

    ``phase`` is ``"grid"`` (validation split evaluated) or ``"test"`` (test split evaluated). The
    population holds every point with at least one missing seed, trained on all seeds (one call, one
    compiled program); only the missing cells are written.
    """
    missing = [(p, s) for p in points for s in seeds if not _cell_path(cell_dir, row, phase, p, s).exists()]
    if not missing:
        return {"trained_runs": 0, "wall_s": 0.0, "compilations": 0}
    todo = [p for p in points if any(q == p for q, _ in missing)]
    family, fixed, _ = ROWS[row]
    make_opt = RowOptimizer(family, fixed)
    numeric = {name: np.asarray([p[name] for p in todo], np.float64) for name in todo[0]}
    all_keys = training.make_keys(max(seeds) + 1)
    keys = all_keys[np.asarray(list(seeds))]
    split = "outer_valid" if phase == "grid" else "test"
    before = training.compile_count()
    result = training.train_population(
        task, make_opt, numeric, num_steps, keys, eval_every, path=path, eval_split=split
    )
    blocks = result.eval_steps
    for i, p in enumerate(todo):
        for j, s in enumerate(seeds):
            cell = _cell_path(cell_dir, row, phase, p, s)
            if cell.exists():
                continue
            tl = result.train_loss[i, j].astype(np.float64)
            block_means = [float(np.mean(tl[a:b])) for a, b in zip(blocks[:-1], blocks[1:], strict=True)]
            acc = (
                result.eval_accuracy[i, j]
                if result.eval_accuracy is not None
                else np.full(len(blocks), np.nan)
            )
            _write_atomic(
                cell,
                {
                    "row": row,
                    "phase": phase,
                    "split": "valid" if phase == "grid" else "test",
                    "point": p,
                    "seed": int(s),
                    "num_steps": num_steps,
                    "eval_steps": [int(v) for v in blocks],
                    "eval_loss": _floats(result.eval_loss[i, j]),
                    "eval_accuracy": _floats(acc),
                    "train_loss_block_mean": block_means,
                    "train_loss_first": float(tl[0]),
                    "train_loss_sum": float(np.sum(tl)),
                    "diverged": bool(result.diverged[i, j]),
                    "population_wall_s": float(result.wall_time),
                    "population_size": [len(todo), len(seeds)],
                    "path": result.path,
                },
            )
    return {
        "trained_runs": len(todo) * len(seeds),
        "wall_s": float(result.wall_time),
        "compilations": training.compile_count() - before,
        "path": result.path,
    }


def load_cells(cell_dir: Path, row: str, phase: str, points, seeds) -> dict[str, list[dict]]:
    """``point_key -> [cell per seed]`` for the points whose every seed is done."""
    out = {}
    for p in points:
        cells = [_read(_cell_path(cell_dir, row, phase, p, s)) for s in seeds]
        if all(c is not None for c in cells):
            out[point_key(p)] = cells
    return out


def select(grid: Mapping[str, list[dict]]) -> tuple[str | None, dict[str, float]]:
    """The point with the lowest seed-mean final validation loss (diverged points excluded)."""
    scores = {}
    for key, cells in grid.items():
        finals = [c["eval_loss"][-1] for c in cells]
        ok = not any(c["diverged"] for c in cells) and all(math.isfinite(v) for v in finals)
        scores[key] = float(np.mean(finals)) if ok else math.inf
    finite = {k: v for k, v in scores.items() if math.isfinite(v)}
    return (min(finite, key=finite.get) if finite else None), scores


def t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and the 95% Student-t interval ``(mean, low, high)`` of ``values`` (over seeds)."""
    v = np.asarray(values, np.float64)
    mean = float(np.mean(v))
    if v.size < 2:
        return mean, math.nan, math.nan
    half = T95.get(v.size - 1, 1.96) * float(np.std(v, ddof=1)) / math.sqrt(v.size)
    return mean, mean - half, mean + half


# -- main flow --------------------------------------------------------------------------------------------


def build_task(args: argparse.Namespace) -> Any:
    """The MNIST MLP of the paper (or the tiny quick-mode stand-in)."""
    if args.quick:
        return inner_tasks.ImageMLP(dataset="digits", hidden=(32,), batch_size=32)
    return inner_tasks.ImageMLP(dataset="mnist", batch_size=args.batch_size)


def summarize(
    task: Any, args: argparse.Namespace, rows: Sequence[str], cell_dir: Path, grids: Mapping[str, list]
) -> dict[str, Any]:
    """The table: per row the chosen point, validation score, test loss / accuracy with 95% t intervals."""
    seeds = list(range(args.seeds))
    table: dict[str, Any] = {}
    for row in rows:
        grid = load_cells(cell_dir, row, "grid", grids[row], seeds)
        best, scores = select(grid)
        entry: dict[str, Any] = {
            "grid_points_done": len(grid),
            "grid_points": len(grids[row]),
            "valid_loss_by_point": scores,
            "chosen": best,
        }
        if best is not None:
            point = next(p for p in grids[row] if point_key(p) == best)
            tests = load_cells(cell_dir, row, "test", [point], seeds).get(best)
            entry["chosen_point"] = point
            # a hyperparameter at the end of its grid axis: the optimum may lie outside the grid
            entry["chosen_at_grid_edge"] = [
                name
                for name, value in point.items()
                if len({q[name] for q in grids[row]}) > 1
                and value in (min(q[name] for q in grids[row]), max(q[name] for q in grids[row]))
            ]
            if tests is not None:
                loss = [c["eval_loss"][-1] for c in tests]
                acc = [100.0 * c["eval_accuracy"][-1] for c in tests]
                m, lo, hi = t_interval(loss)
                am, alo, ahi = t_interval(acc)
                drift = max(
                    abs(t["train_loss_sum"] - g["train_loss_sum"]) / max(abs(g["train_loss_sum"]), 1e-12)
                    for t, g in zip(tests, grid[best], strict=True)
                )
                entry.update(
                    test_loss=loss,
                    test_accuracy=acc,
                    test_loss_mean=m,
                    test_loss_ci95=[lo, hi],
                    test_accuracy_mean=am,
                    test_accuracy_ci95=[alo, ahi],
                    valid_loss_mean=scores[best],
                    rerun_rel_train_loss_diff=drift,
                )
        table[row] = entry
    if "adam" in table and "test_loss" in table["adam"]:
        ref = np.asarray(table["adam"]["test_loss"])
        for row in rows:
            if row == "adam" or "test_loss" not in table[row]:
                continue
            diff = np.asarray(table[row]["test_loss"]) - ref
            m, lo, hi = t_interval(diff)
            verdict = "beats Adam" if hi < 0 else ("worse than Adam" if lo > 0 else "not distinguishable")
            table[row]["minus_adam"] = {"mean": m, "ci95": [lo, hi], "verdict": verdict}
    return {
        "name": NAME,
        "task": task.name,
        "num_steps": args.steps,
        "eval_every": args.eval_every,
        "seeds": args.seeds,
        "batch_size": task.batch_size,
        "baseline_lrs": list(args.baseline_lrs),
        "rllc_c1": list(args.rllc_c1),
        "rllc_c2": list(args.rllc_c2),
        "interval": "95% Student-t over seeds; minus_adam: paired t over seeds",
        "paper_mnist_mlp": [list(r) for r in PAPER_MNIST_MLP],
        "rows": table,
    }


def print_table(summary: Mapping[str, Any]) -> None:
    """Readable table of ``summary``."""
    print(
        f"\n{summary['task']}, {summary['num_steps']} steps, {summary['seeds']} seeds "
        f"(95% t intervals over seeds)"
    )
    head = f"{'row':16s} {'grid':>6s} {'chosen point':34s} {'valid':>7s} {'test loss [95% CI]':>26s}"
    head += f" {'test acc % [95% CI]':>24s} {'minus Adam [95% CI]':>28s}"
    print(head)
    for row, e in summary["rows"].items():
        done = f"{e['grid_points_done']}/{e['grid_points']}"
        chosen = (e.get("chosen") or "-").replace("learning_rate", "lr").replace("learning_law_rate", "c2")
        if "test_loss_mean" in e:
            lo, hi = e["test_loss_ci95"]
            alo, ahi = e["test_accuracy_ci95"]
            text = f"{e['valid_loss_mean']:7.4f} {e['test_loss_mean']:8.4f} [{lo:7.4f},{hi:7.4f}]"
            text += f" {e['test_accuracy_mean']:7.2f} [{alo:6.2f},{ahi:6.2f}]"
            if "minus_adam" in e:
                d = e["minus_adam"]
                text += f" {d['mean']:+8.4f} [{d['ci95'][0]:+.4f},{d['ci95'][1]:+.4f}]"
        else:
            text = "(not finished)"
        print(f"{row:16s} {done:>6s} {chosen:34s} {text}")
    losses = [r[0] for r in summary["paper_mnist_mlp"]]
    print(
        f"paper (Table 1, MNIST MLP): baseline rows 1-3 test loss {losses[0]:.4f} {losses[1]:.4f} "
        f"{losses[2]:.4f}; LM-RLLC rows 4-11 {min(losses[3:]):.4f}..{max(losses[3:]):.4f}"
    )


def plot(summary: Mapping[str, Any], cell_dir: Path, figures: Path, seeds: Sequence[int]) -> list[str]:
    """Write the two figures; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures.mkdir(parents=True, exist_ok=True)
    rows = [r for r, e in summary["rows"].items() if "test_loss" in e]
    written = []
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for i, row in enumerate(rows):
        e = summary["rows"][row]
        lo, hi = e["test_loss_ci95"]
        m = e["test_loss_mean"]
        color = "tab:blue" if row in RLLC_ROWS else "tab:gray"
        ax.errorbar([i], [m], yerr=[[m - lo], [hi - m]], fmt="o", color=color, capsize=4)
        ax.scatter([i] * len(e["test_loss"]), e["test_loss"], s=10, color="k", alpha=0.5, zorder=3)
    if "adam" in rows:
        ax.axhline(
            summary["rows"]["adam"]["test_loss_mean"], color="tab:red", ls=":", lw=1, label="ours: Adam mean"
        )
    ax.set_xticks(range(len(rows)), rows, rotation=25, ha="right")
    ax.set_ylabel("final test loss")
    ax.set_title(f"{summary['task']}, {summary['num_steps']} steps: mean and 95% t interval over seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = figures / f"{NAME}_test_loss.png"
    fig.savefig(out, dpi=120)
    plt.close(fig)
    written.append(str(out))

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for row in rows:
        e = summary["rows"][row]
        cells = load_cells(cell_dir, row, "test", [e["chosen_point"]], seeds)[e["chosen"]]
        steps = np.asarray(cells[0]["eval_steps"])
        train = np.mean([c["train_loss_block_mean"] for c in cells], axis=0)
        test = np.asarray([c["eval_loss"] for c in cells])
        ls = "-" if row in RLLC_ROWS else "--"
        label = f"{row} ({e['chosen'].replace('learning_rate', 'lr').replace('learning_law_rate', 'c2')})"
        ax1.plot(steps[1:], train, ls, label=label)
        line = ax2.plot(steps, test.mean(axis=0), ls, label=label)[0]
        ax2.fill_between(steps, test.min(axis=0), test.max(axis=0), color=line.get_color(), alpha=0.15)
    ax1.set_yscale("log")
    ax1.set_xlabel("step")
    ax1.set_ylabel("training loss (mean over each evaluation interval)")
    ax2.set_xlabel("step")
    ax2.set_ylabel("test loss (seed mean, band: min-max)")
    ax2.set_yscale("log")
    ax1.legend(fontsize=7)
    fig.suptitle("Chosen learning rate of each row")
    fig.tight_layout()
    out = figures / f"{NAME}_curves.png"
    fig.savefig(out, dpi=120)
    plt.close(fig)
    written.append(str(out))
    return written


def _float_list(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny: 8x8 digits MLP, 40 steps, 2 seeds, 2-point grids (seconds)",
    )
    parser.add_argument("--steps", type=int, default=10_000, help="training iterations (paper: 10,000)")
    parser.add_argument("--eval-every", type=int, default=None, help="evaluation interval (default steps/20)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (paper: 3)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (paper: 128)")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {list(ROWS)}")
    parser.add_argument(
        "--baseline-lrs",
        type=_float_list,
        default=list(PAPER_BASELINE_LRS),
        help="baseline lr grid (App. C.2)",
    )
    parser.add_argument("--rllc-c1", type=_float_list, default=list(PAPER_RLLC_C1), help="LM-RLLC c1 grid")
    parser.add_argument("--rllc-c2", type=_float_list, default=list(PAPER_RLLC_C2), help="LM-RLLC c2 grid")
    parser.add_argument(
        "--path", choices=training.PATHS, default="vmap", help="train_population path (default vmap)"
    )
    parser.add_argument("--out", type=Path, default=None, help=f"results directory (default {DEFAULT_OUT})")
    parser.add_argument("--figures", type=Path, default=None, help="write the PNG figures here")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary JSON here")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.seeds = 40, 2
        args.baseline_lrs, args.rllc_c1, args.rllc_c2 = [0.01, 0.1], [0.003, 0.03], [0.01]
    args.eval_every = args.eval_every or max(1, args.steps // 20)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"--rows: unknown rows {unknown}; known: {list(ROWS)}")
    args.row_list = rows
    if args.out is None:
        args.out = DEFAULT_OUT.parent / (NAME + "_quick") if args.quick else DEFAULT_OUT
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    task = build_task(args)
    _ = task.datasets
    cell_dir = args.out / f"{task.name}_T{args.steps}_every{args.eval_every}"
    seeds = list(range(args.seeds))
    grids = {
        row: grid_points(ROWS[row][2], args.baseline_lrs, args.rllc_c1, args.rllc_c2) for row in args.row_list
    }
    log = []
    start = time.perf_counter()
    for row in args.row_list:
        info = run_phase(
            task, row, "grid", grids[row], seeds, args.steps, args.eval_every, cell_dir, args.path
        )
        log.append({"row": row, "phase": "grid", **info})
        grid = load_cells(cell_dir, row, "grid", grids[row], seeds)
        best, _ = select(grid)
        if best is not None:
            point = next(p for p in grids[row] if point_key(p) == best)
            info_t = run_phase(
                task, row, "test", [point], seeds, args.steps, args.eval_every, cell_dir, args.path
            )
            log.append({"row": row, "phase": "test", **info_t})
        if info["trained_runs"]:
            print(
                f"[{time.perf_counter() - start:7.1f}s] {row}: {info['trained_runs']} runs x {args.steps} steps "
                f"in {info['wall_s']:.1f}s ({info['compilations']} compilation), chosen {best}",
                flush=True,
            )
    summary = summarize(task, args, args.row_list, cell_dir, grids)
    summary["this_call"] = {"wall_s": time.perf_counter() - start, "phases": log}
    print_table(summary)
    if args.figures:
        summary["figures"] = plot(summary, cell_dir, args.figures, seeds)
        print("figures:", ", ".join(summary["figures"]))
    _write_atomic(args.out / "summary.json", summary)
    if args.json:
        _write_atomic(args.json, summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
