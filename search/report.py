"""``optsearch report``: PNG plots and ``report.md`` for a run directory (safe while the run is going).

Written into ``RUN_DIR/report/``:

* ``fitness.png``: best, median and best-so-far fitness by generation (0 ties tuned Adam, lower is better);
* ``curves.png``: per task, the mean training-loss curve of the best candidate (stored by the search),
  of the space's paper points (re-trained here, same seeds and budget, unless ``curves=False``) and of
  tuned Adam (the reference's stored curve);
* ``importance.png``: |Spearman rank correlation| between each gene and fitness over every full-budget
  evaluation; ``parallel.png``: the most important genes of the best candidates as parallel coordinates;
* ``report.md``: the run summary, the best point and its per-task scores, the generations, the
  references, and links to the plots.

The database is opened read-only (WAL), so a report of a running search never blocks it.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from search import store as store_mod
from search.progress import ProgressBar

__all__ = ["write_report", "load_run", "gene_importance", "MAX_PAPER_POINTS"]

#: Paper points re-trained for the learning-curve plot (the ``space.init`` point first).
MAX_PAPER_POINTS = 3


def load_run(run_dir: Path) -> dict[str, Any]:
    """Everything the report needs, read in one short read-only transaction."""
    conn = store_mod.open_readonly(run_dir)
    try:
        run = conn.execute("SELECT * FROM runs ORDER BY created LIMIT 1").fetchone()
        if run is None:
            raise FileNotFoundError(2, "run directory holds no run yet", str(run_dir))
        run = dict(run)
        gens = [
            dict(r)
            for r in conn.execute(
                "SELECT * FROM generations WHERE run_id = ? ORDER BY generation", (run["run_id"],)
            )
        ]
        evals = [
            store_mod.Evaluation.from_row(r)
            for r in conn.execute(
                "SELECT * FROM evaluations WHERE run_id = ? ORDER BY generation, fidelity, member",
                (run["run_id"],),
            )
        ]
        refs = [dict(r) for r in conn.execute("SELECT * FROM tuned_references ORDER BY created")]
    finally:
        conn.close()
    return {"run": run, "generations": gens, "evaluations": evals, "references": refs}


def gene_importance(x: np.ndarray, fitness: np.ndarray) -> np.ndarray:
    """``|Spearman rho|`` of each column of ``x`` with ``fitness`` (0 where a column is constant)."""
    from scipy.stats import spearmanr

    x = np.asarray(x, dtype=np.float64)
    fitness = np.asarray(fitness, dtype=np.float64)
    out = np.zeros(x.shape[1])
    if len(fitness) < 3 or np.ptp(fitness) == 0:
        return out
    for j in range(x.shape[1]):
        if np.ptp(x[:, j]) > 0:
            rho = spearmanr(x[:, j], fitness).statistic
            out[j] = abs(float(rho)) if np.isfinite(rho) else 0.0
    return out


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _plot_fitness(gens: Sequence[Mapping[str, Any]], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    g = [r["generation"] for r in gens]

    def col(name: str) -> list[float]:
        return [math.nan if r[name] is None else r[name] for r in gens]

    ax.plot(g, col("best"), "o-", label="best of generation")
    ax.plot(g, col("median"), "s--", label="median of generation")
    ax.plot(g, col("best_so_far"), "k-", lw=2, label="best so far")
    ax.axhline(0.0, color="gray", lw=0.8, ls=":", label="tuned Adam")
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (mean log gap ratio; lower is better)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_curves(
    curves: Mapping[str, Mapping[str, tuple[Sequence[int], Sequence[float]]]], path: Path
) -> None:
    plt = _plt()
    tasks = list(curves)
    cols = min(2, len(tasks)) or 1
    rows = math.ceil(len(tasks) / cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.6 * rows), squeeze=False)
    for ax, task in zip(axes.reshape(-1), tasks):
        for label, (steps, values) in curves[task].items():
            vals = np.asarray([math.nan if v is None else v for v in values], dtype=np.float64)
            style = "k-" if label == "tuned Adam" else ("r-" if label.startswith("best") else "--")
            ax.plot(steps, vals, style, label=label, lw=2 if label.startswith("best") else 1.2)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel("train loss (mean over seeds)")
        finite = [v for (_, vs) in curves[task].values() for v in vs if v is not None and math.isfinite(v)]
        if finite and min(finite) > 0 and max(finite) / min(finite) > 100:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.reshape(-1)[len(tasks) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_importance(labels: Sequence[str], importance: np.ndarray, path: Path) -> None:
    plt = _plt()
    order = np.argsort(-importance)[:25]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(order) + 1.2))
    ax.barh([labels[i] for i in order][::-1], importance[order][::-1])
    ax.set_xlabel("|Spearman rank correlation| with fitness")
    ax.set_title("gene importance")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_parallel(
    labels: Sequence[str], x: np.ndarray, fitness: np.ndarray, cols: Sequence[int], path: Path
):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(cols)), 4))
    sub = x[:, cols]
    low, high = sub.min(axis=0), sub.max(axis=0)
    scaled = (sub - low) / np.where(high > low, high - low, 1.0)
    order = np.argsort(-fitness)  # best drawn last, on top
    norm = plt.Normalize(vmin=float(np.min(fitness)), vmax=float(np.max(fitness)))
    cmap = plt.get_cmap("viridis_r")
    for i in order:
        ax.plot(range(len(cols)), scaled[i], color=cmap(norm(fitness[i])), alpha=0.6, lw=1)
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([labels[c] for c in cols], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("gene (scaled to the range seen)")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="fitness")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _paper_curves(config: Any, space: Any, bar: Any) -> dict[str, dict[str, tuple[list[int], list[float]]]]:
    """Re-train up to MAX_PAPER_POINTS paper points on the run's tasks (same seeds and budgets)."""
    import jax

    from inner_tasks.training import train_population
    from search.evaluators import curve_steps
    from search.run import _keys_data, budgets_of

    names = list(space.paper_points)
    init = config.space.init.removeprefix("paper:")
    if init in names:
        names.remove(init)
        names.insert(0, init)
    names = names[:MAX_PAPER_POINTS]
    keys = jax.random.wrap_key_data(_keys_data(config))
    out: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    budgets = budgets_of(config)
    bar.reset(len(budgets) * len(names), "report: learning curves of paper points")
    for budget in budgets:
        steps = curve_steps(budget.num_steps)
        for name in names:
            point = space.paper_points[name]
            builder = space.builder(space.signature(point))
            numeric = {k: np.asarray([v]) for k, v in space.numeric(point).items()}
            result = train_population(
                budget.task, builder, numeric, budget.num_steps, keys, budget.eval_every
            )
            with np.errstate(invalid="ignore", over="ignore"):
                curve = np.asarray(result.train_loss[0], dtype=np.float64).mean(axis=0)[steps]
            out.setdefault(budget.task.name, {})[f"paper: {name}"] = (
                steps.tolist(),
                [float(v) if math.isfinite(v) else None for v in curve],
            )
            bar.advance()
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_report(run_dir: Path, *, curves: bool = True, progress: bool = False) -> Path:
    """Write ``run_dir/report/`` (plots and ``report.md``); returns the path of ``report.md``."""
    from search.config import parse_config
    from spaces import get_space

    run_dir = Path(run_dir)
    data = load_run(run_dir)
    run = data["run"]
    config = parse_config(tomllib.loads(run["config_toml"]))
    space = get_space(config.space.name)
    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    bar = ProgressBar(progress, "report", 1, stderr=True)
    try:
        images: list[tuple[str, str]] = []
        gens = data["generations"]
        full = [e for e in data["evaluations"] if e.fidelity == "full" and e.status != "failed"]
        best = min(full, key=lambda e: (e.fitness, e.generation, e.member)) if full else None
        if gens:
            _plot_fitness(gens, out / "fitness.png")
            images.append(("Fitness by generation", "fitness.png"))

        plot_curves: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
        if best is not None:
            for t in best.scores.get("tasks", []):
                if "curve" in t:
                    plot_curves.setdefault(t["task"], {})[f"best (gen {best.generation})"] = (
                        t["curve_steps"],
                        t["curve"],
                    )
        refs = {}
        for r in data["references"]:
            ref = json.loads(r["data"])
            refs[r["task"]] = ref
            if r["task"] in plot_curves and ref.get("mean_curve"):
                values = ref["mean_curve"]
                plot_curves[r["task"]]["tuned Adam"] = (list(range(len(values))), values)
        if curves and plot_curves and space.paper_points:
            for task, lines in _paper_curves(config, space, bar).items():
                plot_curves.setdefault(task, {}).update(lines)
        if plot_curves:
            _plot_curves(plot_curves, out / "curves.png")
            images.append(("Learning curves: best vs paper points vs tuned Adam", "curves.png"))

        labels = space.gene_labels()
        if len(full) >= 3 and space.dimension > 0:
            x = np.asarray([e.x for e in full], dtype=np.float64)
            fit = np.asarray([e.fitness for e in full], dtype=np.float64)
            importance = gene_importance(x, fit)
            _plot_importance(labels, importance, out / "importance.png")
            images.append(("Gene importance", "importance.png"))
            top = [int(i) for i in np.argsort(-importance)[: min(8, space.dimension)]]
            _plot_parallel(labels, x, fit, top, out / "parallel.png")
            images.append(("Parallel coordinates (most important genes)", "parallel.png"))

        text = _markdown(run, config, gens, data["evaluations"], best, refs, images)
        path = store_mod.atomic_write_text(out / "report.md", text)
    finally:
        bar.close()
    return path


def _markdown(run, config, gens, evaluations, best, refs, images) -> str:
    counts: dict[str, int] = {}
    for e in evaluations:
        counts[e.status] = counts.get(e.status, 0) + 1
    lines = [
        f"# optsearch run `{run['run_id']}`",
        "",
        "| field | value |",
        "| --- | --- |",
        f"| space | `{run['space']}` (family `{run['family']}`) |",
        f"| suite | `{run['suite']}`, {config.suite.num_seeds} seeds, steps x{config.suite.steps_scale:g} |",
        f"| strategy | `{run['strategy']}`, population {run['population_size']}, seed {run['seed']} |",
        f"| generations | {len(gens)} of {run['num_generations']} |",
        f"| evaluations | {len(evaluations)} ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))}) |",
        f"| state | {run['state']} |",
        f"| code version | `{run['code_version']}` |",
        "",
        "Fitness is the mean over tasks and seeds of log(gap / gap of tuned Adam); 0 ties tuned Adam, lower is "
        "better.",
        "",
    ]
    if best is not None:
        lines += [
            f"## Best: fitness {best.fitness:.6g} (generation {best.generation}, member {best.member})",
            "",
            "```json",
            json.dumps(best.point, indent=1),
            "```",
            "",
            "| task | final (mean) | auc (mean) | diverged seeds |",
            "| --- | --- | --- | --- |",
        ]
        for t in best.scores.get("tasks", []):
            lines.append(
                f"| {t['task']} | {np.mean(t['final']):.4g} | {np.mean(t['auc']):.4g} | {sum(t['diverged'])} |"
            )
        lines += ["", "Export it: `optsearch export RUN_DIR -o best.json` (also written as `best.json`).", ""]
    if images:
        lines += ["## Plots", ""]
        lines += [f"### {title}\n\n![{title}]({name})\n" for title, name in images]
    if refs:
        lines += [
            "## Tuned references (Adam)",
            "",
            "| task | learning rate | final gap | steps |",
            "| --- | --- | --- | --- |",
        ]
        for task, ref in refs.items():
            lines.append(
                f"| {task} | {_fmt(ref.get('learning_rate'))} | {_fmt(ref.get('final_gap'))} | "
                f"{ref.get('num_steps')} |"
            )
        lines.append("")
    if gens:
        lines += [
            "## Generations",
            "",
            "| gen | best | median | best so far | ok | diverged | failed | seconds |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for g in gens:
            lines.append(
                f"| {g['generation']} | {_fmt(g['best'])} | {_fmt(g['median'])} | {_fmt(g['best_so_far'])} | "
                f"{g['num_ok']} | {g['num_diverged']} | {g['num_failed']} | {g['seconds']:.1f} |"
            )
        lines.append("")
    failed = [e for e in evaluations if e.status == "failed"]
    if failed:
        lines += ["## Failed candidates", ""]
        lines += [f"- generation {e.generation}, member {e.member}: `{e.error}`" for e in failed[:20]]
        lines.append("")
    return "\n".join(lines)
