"""Extend the papers: a meta-search from each paper point on ``cpu-small``, then held-out evaluation.

For each space (CoRe, Frankenstein, linear memory, Adan) this script

1. runs the project's search (:class:`search.run.Run`, the configuration ``configs/<space>.toml``: CMA-ES
   or separable CMA-ES from the space's paper point on the ``cpu-small`` suite, 2 seeds per task) in
   ``OUT/runs/<space>``; a rerun resumes the run (and ``--generations`` may extend it);
2. exports the best full-budget point (``search.run.export_best``, the same code as ``optsearch export``)
   to ``FOUND/<space>.json`` and checks that ``optimizers.load`` turns it back into an optimizer;
3. scores the paper point and the found point per seed, against tuned Adam (``inner_tasks.scoring``: per
   task and seed ``log(final gap / tuned Adam's final gap)``, lower is better; a seed's fitness is the mean
   over the suite's tasks), on
   * the training suite with the search's own keys (``cpu-small``, 2 seeds: the suite the search saw), and
   * the ``heldout`` suite (other architectures, data and inner seeds) with ``--heldout-seeds`` seeds;
4. reports the gain on each suite, ``gain = fitness(paper) - fitness(found)`` (positive: the found point is
   better), paired per seed, with a 95% t-interval over the seeds, and the meta-generalization gap
   ``train gain - held-out gain``.

Every stage is a cell stored atomically under ``--out`` (the run directory, the exported JSON, one JSON per
``(space, point, suite)`` evaluation), so a rerun skips what is done. ``summary.json`` holds the table.

The defaults are the issue's full budget (the configs' generations: 30 for CoRe, Frankenstein and linear
memory, 25 for Adan); ``--generations`` reduces or extends it. ``--quick`` is a seconds-long smoke test
(2 generations of 4 candidates on the ``toy`` suite's quadratic at a tenth of its budget, held-out
evaluation on two data-free tasks, 2 seeds).

``--no-search`` summarizes what the run stores hold (searches stopped early) without resuming them;
``--heldout-tasks`` restricts the held-out suite; ``--population``, ``--sigma`` and ``--no-fidelity``
change a fresh run's configuration.

    python benchmarks/reproduction/extend.py --quick
    python benchmarks/reproduction/extend.py --space core --generations 6 --figures docs/reproduction/figures
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SPACES = ("core", "frankenstein", "linear_memory", "adan")
DEFAULT_OUT = ROOT / "benchmarks" / "reproduction" / "results" / "extend"
DEFAULT_FOUND = ROOT / "docs" / "found"
TRAIN_SUITE = "cpu-small"
HELDOUT_SUITE = "heldout"
QUICK_TRAIN_TASKS = ("quadratic_d10_k100_s0",)
QUICK_HELDOUT_TASKS = ("quadratic_d50_k1000_s7", "rosenbrock_d6")


@dataclasses.dataclass(frozen=True)
class Settings:
    """What one invocation runs (the full budget, or the reduced or quick one)."""

    out: Path
    found: Path
    generations: dict[str, int | None]
    evaluator: str
    workers: int
    heldout_seeds: int
    train_suite: str
    train_tasks: tuple[str, ...]
    heldout_tasks: tuple[str, ...]
    steps_scale: float
    population: int | None
    quick: bool
    sigma: float | None = None
    fidelity: bool = True
    search: bool = True


# --- small helpers ------------------------------------------------------------------------------------


def _write_json(path: Path, data: Any) -> None:
    """Atomic write (temp file + rename) of ``data`` as JSON."""
    from search.store import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` with its two-sided Student-t interval."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def _config(space: str, settings: Settings) -> Any:
    """``configs/<space>.toml`` with the run directory, evaluator and any reductions applied."""
    from search.config import load_config

    overrides: dict[str, Any] = {
        "run.dir": str(settings.out / "runs" / space),
        "evaluator.kind": settings.evaluator,
        "evaluator.num_workers": settings.workers,
        "output.report": False,
    }
    if settings.generations.get(space) is not None:
        overrides["strategy.num_generations"] = settings.generations[space]
    if settings.quick:
        overrides.update(
            {
                "suite.name": settings.train_suite,
                "suite.tasks": list(settings.train_tasks),
                "suite.steps_scale": settings.steps_scale,
                "fidelity.enabled": False,
            }
        )
    if settings.population is not None:
        overrides["strategy.population_size"] = settings.population
    if settings.sigma is not None:
        overrides["strategy.sigma"] = settings.sigma
    if not settings.fidelity:
        overrides["fidelity.enabled"] = False
    return load_config(ROOT / "configs" / f"{space}.toml", overrides)


# --- stage 1: the search ------------------------------------------------------------------------------


def run_search(space: str, settings: Settings, progress: bool) -> dict[str, Any]:
    """Run (or resume, or extend) the search of ``space``; returns its per-generation history."""
    from search.run import Run
    from search.store import CONFIG_NAME, DB_NAME

    config = _config(space, settings)
    run_dir = settings.out / "runs" / space
    started = time.time()
    if (run_dir / DB_NAME).is_file() and (run_dir / CONFIG_NAME).is_file():
        overrides = {"evaluator.kind": settings.evaluator, "evaluator.num_workers": settings.workers}
        overrides["strategy.num_generations"] = config.strategy.num_generations
        run = Run.resume(run_dir, overrides)
    else:
        run = Run(config, run_dir)
    result = run.execute(progress=progress)
    history = search_history(run_dir)
    history["wall_s_this_call"] = round(time.time() - started, 1)
    history["best_fitness"] = result.best_fitness
    return history


def search_history(run_dir: Path) -> dict[str, Any]:
    """Per generation: best, median and best-so-far fitness and seconds, from the run's store."""
    from search.store import open_readonly

    conn = open_readonly(run_dir)
    try:
        conn.row_factory = sqlite3.Row
        run = conn.execute("SELECT * FROM runs ORDER BY created LIMIT 1").fetchone()
        rows = conn.execute(
            "SELECT generation, best, median, best_so_far, seconds FROM generations WHERE run_id = ? "
            "ORDER BY generation",
            (run["run_id"],),
        ).fetchall()
        candidates = conn.execute(
            "SELECT generation, member, fitness, status FROM evaluations WHERE run_id = ? AND fidelity = 'full' "
            "ORDER BY generation, member",
            (run["run_id"],),
        ).fetchall()
        count = conn.execute(
            "SELECT COUNT(*) FROM evaluations WHERE run_id = ?", (run["run_id"],)
        ).fetchone()[0]
    finally:
        conn.close()
    return {
        "run_id": run["run_id"],
        "strategy": run["strategy"],
        "population_size": run["population_size"],
        "dimension": run["dimension"],
        "suite": run["suite"],
        "evaluations": int(count),
        "generations": [dict(r) for r in rows],
        "candidates": [dict(r) for r in candidates],
        "search_seconds": float(sum(r["seconds"] for r in rows)),
    }


# --- stage 2: export ----------------------------------------------------------------------------------


def export_found(space: str, settings: Settings) -> Path:
    """Export the run's best to ``FOUND/<space>.json`` (same code as ``optsearch export``) and load it."""
    import optimizers
    from search.run import export_best

    path = settings.found / f"{space}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    export_best(settings.out / "runs" / space, path)
    optimizers.load(path)  # raises if the file does not turn back into an optimizer
    return path


# --- stage 3: per-seed evaluation ---------------------------------------------------------------------


def evaluate_per_seed(
    opt: Any, suite_name: str, num_seeds: int, tasks: Sequence[str], steps_scale: float
) -> dict[str, Any]:
    """Train ``opt`` on every task of the suite, score each seed against tuned Adam (cached).

    Returns per-task, per-seed final scores and the per-seed fitness (the mean over tasks), which is what a
    search with ``suite.num_seeds = num_seeds`` records, averaged over seeds.
    """
    from inner_tasks import get_suite
    from inner_tasks.scoring import score, tuned_reference
    from inner_tasks.training import train
    from search.evaluators import scale_budget

    suite = get_suite(suite_name)
    keys = suite.keys(num_seeds)
    per_task: dict[str, list[float]] = {}
    diverged: dict[str, int] = {}
    for entry in suite.entries:
        if tasks and entry.task.name not in tasks:
            continue
        budget = scale_budget(entry, steps_scale)
        reference = tuned_reference(budget.task, budget.num_steps, keys, eval_every=budget.eval_every)
        result = train(budget.task, opt, budget.num_steps, keys, budget.eval_every)
        scores = score(result, budget.task, reference)
        per_task[budget.task.name] = [float(s.final) for s in scores]
        diverged[budget.task.name] = int(sum(s.diverged for s in scores))
    per_seed = np.mean(np.array(list(per_task.values())), axis=0)
    return {
        "suite": suite_name,
        "num_seeds": num_seeds,
        "per_task": per_task,
        "diverged": diverged,
        "per_seed": [float(v) for v in per_seed],
        "fitness": float(per_seed.mean()),
    }


def _requested(space: str, suite_key: str, settings: Settings) -> list[Any]:
    """What a cell was computed for (suite, seeds, task subset, budget scale): a changed request recomputes."""
    if suite_key == "train":
        config = _config(space, settings)
        return [config.suite.name, config.suite.num_seeds, list(config.suite.tasks), config.suite.steps_scale]
    return [HELDOUT_SUITE, settings.heldout_seeds, list(settings.heldout_tasks), settings.steps_scale]


def evaluation_cell(space: str, which: str, suite_key: str, settings: Settings) -> dict[str, Any]:
    """One stored cell: the paper point or the found point of ``space`` on the train or held-out suite."""
    import optimizers
    from spaces import get_space

    path = settings.out / "evals" / f"{space}__{which}__{suite_key}.json"
    found_sha = ""
    if which == "found":  # the cell belongs to one found point: an extended search invalidates it
        doc = json.loads((settings.found / f"{space}.json").read_text(encoding="utf-8"))
        text = json.dumps([doc["family"], doc["hyperparameters"]], sort_keys=True)
        found_sha = hashlib.sha256(text.encode()).hexdigest()[:16]
    if path.is_file():
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("found_sha", "") == found_sha and cached.get("requested") == _requested(
            space, suite_key, settings
        ):
            return cached
    config = _config(space, settings)
    if which == "paper":
        sp = get_space(space)
        opt = sp.build(sp.paper_points[config.space.init.removeprefix("paper:")])
        label = config.space.init
    else:
        opt = optimizers.load(settings.found / f"{space}.json")
        label = str(settings.found / f"{space}.json")
    if suite_key == "train":
        suite, seeds, tasks = config.suite.name, config.suite.num_seeds, config.suite.tasks
        scale = config.suite.steps_scale
    else:
        suite, seeds, tasks = HELDOUT_SUITE, settings.heldout_seeds, settings.heldout_tasks
        scale = settings.steps_scale
    started = time.time()
    data = evaluate_per_seed(opt, suite, seeds, tasks, scale)
    data.update(
        space=space,
        point=which,
        label=label,
        found_sha=found_sha,
        requested=_requested(space, suite_key, settings),
        seconds=round(time.time() - started, 1),
    )
    _write_json(path, data)
    return data


# --- stage 4: summary ---------------------------------------------------------------------------------


def gain(paper: dict[str, Any], found: dict[str, Any]) -> dict[str, float]:
    """Paired per-seed gain ``paper - found`` (positive: found is better) with its 95% t-interval."""
    diffs = np.asarray(paper["per_seed"]) - np.asarray(found["per_seed"])
    mean, low, high = t_interval(diffs)
    return {"mean": mean, "ci_low": low, "ci_high": high, "n": int(diffs.size)}


def verdict(heldout_gain: dict[str, float]) -> str:
    """``beats`` / ``worse`` when the 95% interval excludes 0, ``no difference`` otherwise."""
    if heldout_gain["ci_low"] > 0:
        return "beats the paper point"
    if heldout_gain["ci_high"] < 0:
        return "worse than the paper point"
    return "no significant difference"


def run_space(space: str, settings: Settings, progress: bool) -> dict[str, Any]:
    """All stages for one space; returns its summary row."""
    if settings.search:
        history = run_search(space, settings, progress)
        found_path = export_found(space, settings)
    else:  # summarize what the run's store holds (a search stopped early, or another process's)
        history = search_history(settings.out / "runs" / space)
        found_path = export_found(space, settings)
        provenance = json.loads(found_path.read_text(encoding="utf-8"))["provenance"]
        history["best_fitness"] = provenance["fitness"]
    cells = {
        (which, key): evaluation_cell(space, which, key, settings)
        for key in ("train", "heldout")
        for which in ("paper", "found")
    }
    train_gain = gain(cells["paper", "train"], cells["found", "train"])
    heldout_gain = gain(cells["paper", "heldout"], cells["found", "heldout"])
    return {
        "space": space,
        "search": history,
        "found_json": str(found_path),
        "found_spec": json.loads(found_path.read_text(encoding="utf-8")).get("spec"),
        "train": {
            "paper": cells["paper", "train"]["fitness"],
            "found": cells["found", "train"]["fitness"],
            "found_recorded": history["best_fitness"],
            "gain": train_gain,
        },
        "heldout": {
            "paper": cells["paper", "heldout"]["fitness"],
            "found": cells["found", "heldout"]["fitness"],
            "gain": heldout_gain,
            "per_task_paper": {
                k: float(np.mean(v)) for k, v in cells["paper", "heldout"]["per_task"].items()
            },
            "per_task_found": {
                k: float(np.mean(v)) for k, v in cells["found", "heldout"]["per_task"].items()
            },
        },
        "generalization_gap": train_gain["mean"] - heldout_gain["mean"],
        "verdict": verdict(heldout_gain),
    }


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    """The summary as a readable table."""

    def ci(g: dict[str, float]) -> str:
        return f"{g['mean']:+.3f} [{g['ci_low']:+.3f}, {g['ci_high']:+.3f}]"

    header = (
        f"{'space':<14}{'gens':>5}{'evals':>6}  {'train paper':>11}{'found':>8}  {'train gain (95% CI)':<28}"
        f"{'heldout paper':>13}{'found':>8}  {'heldout gain (95% CI)':<28}{'gap':>7}  verdict"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['space']:<14}{len(r['search']['generations']):>5}{r['search']['evaluations']:>6}  "
            f"{r['train']['paper']:>11.3f}{r['train']['found']:>8.3f}  {ci(r['train']['gain']):<28}"
            f"{r['heldout']['paper']:>13.3f}{r['heldout']['found']:>8.3f}  {ci(r['heldout']['gain']):<28}"
            f"{r['generalization_gap']:>+7.3f}  {r['verdict']}"
        )
    print("gain = fitness(paper) - fitness(found), lower fitness is better; gap = train gain - heldout gain")


def plot(rows: Sequence[dict[str, Any]], figures: Path) -> list[Path]:
    """Best fitness by generation per space, and train gain vs held-out gain per space."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, r in enumerate(rows):
        color = f"C{i}"
        cands = r["search"]["candidates"]
        x = np.arange(1, len(cands) + 1)
        fit = np.array([c["fitness"] for c in cands], dtype=np.float64)
        ax.plot(x, fit, ls="", marker=".", color=color, alpha=0.5)
        ax.step(x, np.minimum.accumulate(fit), where="post", color=color, label=r["space"])
        ax.axhline(r["train"]["paper"], color=color, lw=0.8, ls="--")
        for g in r["search"]["generations"][1:]:  # generation boundaries
            start = sum(1 for c in cands if c["generation"] < g["generation"]) + 0.5
            ax.axvline(start, color=color, lw=0.5, ls=":")
    ax.set_xlabel("candidate (in generation order; dotted: generation boundary)")
    ax.set_ylabel("fitness on cpu-small (lower is better)")
    ax.set_title("best so far (line), each candidate (dots), paper point (dashed)", fontsize=9)
    ax.legend()
    fig.tight_layout()
    paths.append(figures / "extend_search.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    for r in rows:
        tg, hg = r["train"]["gain"], r["heldout"]["gain"]
        yerr = [[hg["mean"] - hg["ci_low"]], [hg["ci_high"] - hg["mean"]]] if hg["n"] > 1 else None
        xerr = [[tg["mean"] - tg["ci_low"]], [tg["ci_high"] - tg["mean"]]] if tg["n"] > 1 else None
        ax.errorbar(tg["mean"], hg["mean"], xerr=xerr, yerr=yerr, fmt="o", capsize=3, label=r["space"])
    lims = ax.get_xlim() + ax.get_ylim()
    lo, hi = min(lims), max(lims)
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--", label="held-out gain = train gain")
    ax.axhline(0, color="black", lw=0.6)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("train gain on cpu-small (95% t-CI over seeds)")
    ax.set_ylabel("held-out gain (95% t-CI over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(figures / "extend_gain.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


# --- command line -------------------------------------------------------------------------------------


def _generations(values: Sequence[str]) -> dict[str, int | None]:
    """``["6"]`` (every space) or ``["core=6", "adan=8"]`` -> generations per space (None: config's)."""
    out: dict[str, int | None] = dict.fromkeys(SPACES)
    for value in values:
        if "=" in value:
            name, _, n = value.partition("=")
            if name not in SPACES:
                raise SystemExit(f"--generations: unknown space {name!r}; known: {', '.join(SPACES)}")
            out[name] = int(n)
        else:
            out = dict.fromkeys(SPACES, int(value))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--space", action="append", choices=SPACES, help="spaces to run (default: all four)")
    parser.add_argument(
        "--generations",
        action="append",
        default=[],
        metavar="N|SPACE=N",
        help="generations for every space, or per space (default: the config's, the full budget)",
    )
    parser.add_argument("--population", type=int, default=None, help="override the config's population size")
    parser.add_argument("--sigma", type=float, default=None, help="override the config's initial sigma")
    parser.add_argument(
        "--no-fidelity", action="store_true", help="score every candidate at the full budget (no screening)"
    )
    parser.add_argument(
        "--no-search",
        action="store_true",
        help="do not run or resume the searches: export and evaluate the best each run's store holds",
    )
    parser.add_argument("--heldout-seeds", type=int, default=10, help="seeds per held-out task (default 10)")
    parser.add_argument(
        "--heldout-tasks",
        nargs="+",
        default=None,
        metavar="TASK",
        help="only these tasks of the heldout suite (default: all seven)",
    )
    parser.add_argument("--evaluator", choices=("local", "ray"), default="local", help="default: local")
    parser.add_argument("--workers", type=int, default=2, help="Ray actors (with --evaluator ray)")
    parser.add_argument("--out", type=Path, default=None, help=f"results directory (default {DEFAULT_OUT})")
    parser.add_argument(
        "--found", type=Path, default=None, help="where the found optimizers go (default docs/found)"
    )
    parser.add_argument("--figures", type=Path, default=None, help="write the PNG plots here")
    parser.add_argument("--json", type=Path, default=None, help="write the summary rows as JSON here")
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke test (see the docstring)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    out = args.out or (DEFAULT_OUT.parent / "extend_quick" if args.quick else DEFAULT_OUT)
    generations = _generations(args.generations)
    if args.quick:
        generations = {s: (g if g is not None else 2) for s, g in generations.items()}
    settings = Settings(
        out=out,
        found=args.found or (out / "found" if args.quick else DEFAULT_FOUND),
        generations=generations,
        evaluator=args.evaluator,
        workers=args.workers,
        heldout_seeds=2 if args.quick and args.heldout_seeds == 10 else args.heldout_seeds,
        train_suite="toy" if args.quick else TRAIN_SUITE,
        train_tasks=QUICK_TRAIN_TASKS if args.quick else (),
        heldout_tasks=tuple(args.heldout_tasks or (QUICK_HELDOUT_TASKS if args.quick else ())),
        steps_scale=0.1 if args.quick else 1.0,
        population=args.population if args.population is not None else (4 if args.quick else None),
        quick=args.quick,
        sigma=args.sigma,
        fidelity=not args.no_fidelity,
        search=not args.no_search,
    )
    rows = []
    for space in args.space or SPACES:
        print(f"== {space}", flush=True)
        row = run_space(space, settings, progress=not args.no_progress)
        rows.append(row)
    print_table(rows)
    summary = {
        "quick": args.quick,
        "settings": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(settings).items()
        },
        "rows": rows,
    }
    _write_json(out / "summary.json", summary)
    if args.json:
        _write_json(args.json, summary)
    if args.figures:
        for path in plot(rows, args.figures):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
