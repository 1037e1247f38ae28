"""Our strategies against Optuna's TPE sampler, on one evaluation budget and one evaluation function.

What a user would pick instead of this project's search: Optuna's default sampler, TPE (Bergstra et al.
2011; Optuna's ``TPESampler``). Every method minimises the SAME function, the project's own candidate
evaluation: a point of the space is split into signature and numeric values and scored on the suite by
:meth:`search.evaluators.LocalEvaluator.evaluate` with one :class:`search.evaluators.Plan` built as the run
loop builds it (the suite's inner-training keys, tuned-Adam references at each budget, fitness = mean over
tasks and seeds of the final-loss score; 0 ties tuned Adam, lower is better). One evaluator serves all
methods in one process, so compiled training programs stay warm across methods and seeds, and every
candidate costs the same whichever method proposed it (units are padded to the same shape, so a
candidate's fitness does not depend on what it is evaluated with). Before any timing, one point per
combination of the space's choices is evaluated (when there are at most 64: for the CoRe space, the 7
``t_hist`` options), which compiles every training program a search can need, and each strategy runs one
ask/tell; the timings are then of evaluations with warm programs.

Methods (each gets ``--evals`` evaluations per seed, ``--seeds`` search seeds; inner-training keys fixed):

* ``cma_es``, ``random`` (and any other name of ``search.strategies.STRATEGIES``): our ask/tell strategies
  exactly as the run loop drives them: ``make_strategy``, ``init(init_key(seed), mean)``, per generation
  ``generation_keys(seed, g)``, ``ask`` -> decode -> evaluate -> ``tell``. The initial mean is the encoded
  ``--init`` paper point, the std ``--sigma`` (in the space's encoding), ``--population`` per generation.
  A last generation cut by the budget is evaluated only up to the budget.
* ``tpe``: Optuna's ``TPESampler(seed=seed)`` (its defaults: 10 random start-up trials, univariate),
  driven by ``study.ask()`` / ``study.tell()``. Interface: the space's *natural* parameters on the space's
  own scales, which is the interface TPE is designed for: every :class:`~spaces.Choice` is a categorical
  over its options; every other gene is a float ``u`` in ``[0, 1]``, the position on the parameter's own
  scale (uniform in ``log(value)`` for log-scaled values, in ``log(1 - value)`` for decay rates, linear
  otherwise; an ``Int`` is binned on it). The gene handed to ``space.decode`` is ``unsquash(u)``, so a
  TPE point decodes to exactly the value ``u`` names. The same ``--init`` paper point is enqueued as the
  first trial (``study.enqueue_trial``), so TPE starts from the knowledge our strategies start from.
  (Raw encoded genes in ``[-20, 20]`` would be a poor interface for TPE: uniform genes squash to the box
  edges.)

Reported per method: best fitness reached after ``--evals`` evaluations (median, min, max, IQR over
seeds), the best-so-far curve against evaluations (median and min/max band, ``--plot``), the wall time
of the evaluations and the method's own overhead (ask/tell/sampling time outside the evaluations).
Target: the best of our strategies reaches a median best fitness at least as good as TPE's.

    python benchmarks/search_vs_optuna.py --quick
    python benchmarks/search_vs_optuna.py --space core --suite toy --evals 200 --seeds 5 \\
        --json runs/search_vs_optuna.json --plot
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from search.config import StrategyConfig  # noqa: E402
from search.evaluators import Candidate, LocalEvaluator, Plan, scale_budget  # noqa: E402
from search.strategies import STRATEGIES, generation_keys, init_key, make_strategy  # noqa: E402
from spaces import Choice, Fixed, SearchSpace, get_space  # noqa: E402
from spaces.params import squash, unsquash  # noqa: E402


class Objective:
    """The project's candidate evaluation as a function ``points -> fitness`` (see the module docstring).

    Counts evaluations and the seconds spent in them (``calls``, ``seconds``).
    """

    def __init__(
        self,
        space: SearchSpace,
        suite: str,
        *,
        num_seeds: int,
        steps_scale: float,
        tasks: Sequence[str] = (),
        cache_dir: Path | None = None,
    ) -> None:
        import jax

        from inner_tasks import get_suite
        from inner_tasks.scoring import tuned_reference

        self.space = space
        the_suite = get_suite(suite)
        keys = np.asarray(jax.random.key_data(the_suite.keys(num_seeds)), dtype=np.uint32)
        names = [e.task.name for e in the_suite.entries]
        for task in tasks:
            if task not in names:
                raise ValueError(f"--tasks: suite {suite!r} has no task {task!r}; known: {', '.join(names)}")
        budgets = tuple(
            scale_budget(e, steps_scale) for e in the_suite.entries if not tasks or e.task.name in tasks
        )
        references = tuple(
            tuned_reference(
                b.task, b.num_steps, jax.random.wrap_key_data(keys), cache_dir, eval_every=b.eval_every
            )
            for b in budgets
        )
        self.plan = Plan(
            space=space.name,
            fidelity="full",
            budgets=budgets,
            keys=keys,
            references=references,
            x64=bool(jax.config.jax_enable_x64),
        )
        self.evaluator = LocalEvaluator()
        self.calls = 0
        self.seconds = 0.0

    def __call__(self, points: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Fitness of each point (lower is better; failures score ``FAILED_FITNESS``)."""
        candidates = [
            Candidate(i, self.space.signature(p), self.space.numeric(p)) for i, p in enumerate(points)
        ]
        t0 = time.perf_counter()
        outcomes = self.evaluator.evaluate(self.plan, candidates)
        self.seconds += time.perf_counter() - t0
        self.calls += len(points)
        return np.asarray([o.fitness for o in outcomes], dtype=np.float64)


def signature_points(space: SearchSpace, x: np.ndarray, limit: int = 64) -> list[dict[str, Any]]:
    """One point per combination of the space's choices (the other genes from ``x``), or ``[]`` when
    there are more than ``limit`` combinations. Evaluating them once compiles every training program a
    search can need (in spaces whose only structural parameters are choices), outside the timings."""
    choices = [(param, sl) for param, sl in _tpe_layout(space) if isinstance(param, Choice)]
    sizes = [param.size for param, _ in choices]
    if math.prod(sizes) > limit:
        return []
    points, seen = [], set()
    for combo in np.ndindex(*sizes):
        genes = np.array(x, dtype=np.float64)
        for (param, sl), k in zip(choices, combo, strict=True):
            one = np.zeros(param.size)
            one[k] = 1.0
            genes[sl] = one
        point = space.decode(genes)
        if space.signature(point) not in seen:
            seen.add(space.signature(point))
            points.append(point)
    return points


def warm_strategy(name: str, dimension: int, mean: np.ndarray, population: int, sigma: float) -> None:
    """One init/ask/tell of our strategy on made-up fitness, so its jitted programs compile outside the
    timings (``make_strategy`` caches the object, keeping them warm)."""
    cfg = StrategyConfig(name=name, population_size=population, num_generations=1, sigma=sigma)
    strategy = make_strategy(dimension, cfg)
    state = strategy.init(init_key(0), mean)
    for g in range(2):
        ask_key, tell_key = generation_keys(0, g)
        x, asked = strategy.ask(ask_key, state)
        state = strategy.tell(tell_key, asked, x, np.arange(len(x), dtype=np.float64))


def run_strategy(
    name: str,
    objective: Objective,
    mean: np.ndarray,
    *,
    seed: int,
    evals: int,
    population: int,
    sigma: float,
) -> list[float]:
    """One search with our strategy ``name``, as the run loop drives it; the fitness of every evaluation."""
    space = objective.space
    cfg = StrategyConfig(name=name, population_size=population, num_generations=1, sigma=sigma)
    strategy = make_strategy(space.dimension, cfg)
    state = strategy.init(init_key(seed), mean)
    history: list[float] = []
    g = 0
    while len(history) < evals:
        ask_key, tell_key = generation_keys(seed, g)
        x, asked = strategy.ask(ask_key, state)
        take = min(len(x), evals - len(history))
        fitness = objective([space.decode(xi) for xi in x[:take]])
        history.extend(float(f) for f in fitness)
        if take < len(x):  # the budget ends inside this generation: nothing left to tell
            break
        state = strategy.tell(tell_key, asked, x, fitness)
        g += 1
    return history


def _tpe_layout(space: SearchSpace) -> list[tuple[Any, slice]]:
    """The (parameter, gene slice) pairs of the space, in gene order."""
    out, start = [], 0
    for param in space.params:
        out.append((param, slice(start, start + param.size)))
        start += param.size
    return out


def tpe_params_of(space: SearchSpace, x: np.ndarray) -> dict[str, Any]:
    """The TPE parameters (see the module docstring) of encoded genes ``x``."""
    params: dict[str, Any] = {}
    for param, sl in _tpe_layout(space):
        if isinstance(param, Fixed) or param.size == 0:
            continue
        genes = np.asarray(x[sl], dtype=np.float64)
        if isinstance(param, Choice):
            params[param.name] = int(np.argmax(genes))
        else:
            for i, u in enumerate(squash(genes)):
                params[f"{param.name}#{i}"] = float(u)
    return params


def genes_of(space: SearchSpace, suggest: Callable[[str, Any], Any]) -> np.ndarray:
    """Encoded genes from TPE suggestions; ``suggest(name, param)`` returns an option index or a ``u``."""
    x = np.zeros(space.dimension)
    for param, sl in _tpe_layout(space):
        if isinstance(param, Fixed) or param.size == 0:
            continue
        if isinstance(param, Choice):
            genes = np.zeros(param.size)
            genes[int(suggest(param.name, param))] = 1.0
            x[sl] = genes
        else:
            x[sl] = unsquash([suggest(f"{param.name}#{i}", None) for i in range(param.size)])
    return x


def run_tpe(objective: Objective, mean: np.ndarray, *, seed: int, evals: int) -> list[float]:
    """One search with Optuna's TPE sampler over the natural parameters; the fitness of every evaluation."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = objective.space
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(tpe_params_of(space, mean))
    history: list[float] = []
    for _ in range(evals):
        trial = study.ask()

        def suggest(name: str, param: Any, trial: Any = trial) -> Any:
            if param is not None:
                return trial.suggest_categorical(name, list(range(param.size)))
            return trial.suggest_float(name, 0.0, 1.0)

        x = genes_of(space, suggest)
        value = float(objective([space.decode(x)])[0])
        study.tell(trial, value)
        history.append(value)
    return history


def best_so_far(history: Sequence[float]) -> list[float]:
    """The running minimum of ``history``."""
    return [float(v) for v in np.minimum.accumulate(np.asarray(history, dtype=np.float64))]


def summarise(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max and quartiles of ``values``."""
    v = np.asarray(values, dtype=np.float64)
    return {
        "median": float(np.median(v)),
        "min": float(v.min()),
        "max": float(v.max()),
        "q25": float(np.percentile(v, 25)),
        "q75": float(np.percentile(v, 75)),
    }


def plot(results: Mapping[str, Any], path: Path, title: str) -> None:
    """Best-so-far fitness against evaluations: the median over seeds, min/max shaded, one line per method
    (linear axis: fitness is a log-ratio to tuned Adam, already on a log scale; dashed line = tuned Adam)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, r in results.items():
        curves = np.asarray(r["curves"], dtype=np.float64)
        n = np.arange(1, curves.shape[1] + 1)
        ax.plot(n, np.median(curves, axis=0), label=f"{name} (median of {len(curves)})")
        ax.fill_between(n, curves.min(axis=0), curves.max(axis=0), alpha=0.2)
    ax.axhline(0.0, color="gray", lw=0.8, ls="--")  # tuned Adam
    ax.set_xlabel("evaluations")
    ax.set_ylabel("best fitness so far (lower is better; 0 = tuned Adam)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="seconds: 12 evaluations, 1 seed, the adam space on the toy quadratic at a quarter budget",
    )
    parser.add_argument("--space", default=None, help="search space (default core; adam with --quick)")
    parser.add_argument("--init", default="", help="paper point to start from (default: the space's first)")
    parser.add_argument("--suite", default="toy", help="suite (default toy)")
    parser.add_argument("--evals", type=int, default=200, help="evaluations per search")
    parser.add_argument("--seeds", type=int, default=5, help="search seeds per method (0, 1, ...)")
    parser.add_argument("--methods", default="cma_es,random,tpe", help="comma-separated; ours or 'tpe'")
    parser.add_argument("--population", type=int, default=10, help="our strategies' population size")
    parser.add_argument("--sigma", type=float, default=0.3, help="our strategies' initial std (encoding)")
    parser.add_argument("--inner-seeds", type=int, default=2, help="inner-training seeds per task")
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiplies the suite's budgets")
    parser.add_argument("--tasks", default="", help="comma-separated subset of the suite's tasks")
    parser.add_argument("--cache-dir", type=Path, default=None, help="tuned-reference cache directory")
    parser.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--plot", action="store_true", help="write a PNG of the curves next to --json")
    args = parser.parse_args(argv)
    if args.quick:
        args.evals, args.seeds, args.population = 12, 1, 4
        args.inner_seeds, args.steps_scale = 1, 0.25
        args.space = args.space or "adam"
        args.tasks = args.tasks or "quadratic_d10_k100_s0"
    args.space = args.space or "core"
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m != "tpe" and m not in STRATEGIES:
            parser.error(f"--methods: unknown method {m!r}; known: tpe, {', '.join(STRATEGIES)}")
    if args.evals < 1 or args.seeds < 1:
        parser.error("--evals and --seeds must be >= 1")

    import jax
    import optuna

    space = get_space(args.space)
    init = args.init or next(iter(space.paper_points))
    mean = np.asarray(space.encode(space.paper_points[init]), dtype=np.float64)
    t0 = time.perf_counter()
    objective = Objective(
        space,
        args.suite,
        num_seeds=args.inner_seeds,
        steps_scale=args.steps_scale,
        tasks=tasks,
        cache_dir=args.cache_dir,
    )
    setup_s = time.perf_counter() - t0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"space={space.name} (D={space.dimension}, init {init}) suite={args.suite} evals={args.evals} "
        f"seeds={args.seeds} population={args.population} sigma={args.sigma} inner_seeds={args.inner_seeds} "
        f"steps_scale={args.steps_scale} backend={jax.default_backend()} load={load:.1f}",
        flush=True,
    )
    # Warm-up outside every timing: the starting point, then one point per signature (compiles them all).
    t0 = time.perf_counter()
    f0 = float(objective([space.decode(mean)])[0])
    warm = signature_points(space, mean)
    for point in warm:
        objective([point])
    for m in methods:
        if m != "tpe":
            warm_strategy(m, space.dimension, mean, args.population, args.sigma)
    warm_s = time.perf_counter() - t0
    objective.calls, objective.seconds = 0, 0.0
    print(
        f"fitness of the starting point {init}: {f0:.6g} (references {setup_s:.1f} s; "
        f"{len(warm)} signatures and the strategies compiled in {warm_s:.1f} s)",
        flush=True,
    )
    results: dict[str, dict[str, Any]] = {
        m: {"best": [], "curves": [], "eval_s": [], "overhead_s": []} for m in methods
    }
    print(f"{'method':10s} {'seed':>4s} {'best':>11s} {'evals':>5s} {'eval s':>8s} {'overhead s':>10s}")
    for seed in range(args.seeds):  # methods interleaved per seed: all see the same machine load
        for m in methods:
            calls0, secs0 = objective.calls, objective.seconds
            t = time.perf_counter()
            if m == "tpe":
                history = run_tpe(objective, mean, seed=seed, evals=args.evals)
            else:
                history = run_strategy(
                    m,
                    objective,
                    mean,
                    seed=seed,
                    evals=args.evals,
                    population=args.population,
                    sigma=args.sigma,
                )
            wall = time.perf_counter() - t
            eval_s = objective.seconds - secs0
            assert objective.calls - calls0 == len(history) == args.evals
            curve = best_so_far(history)
            r = results[m]
            r["best"].append(curve[-1])
            r["curves"].append(curve)
            r["eval_s"].append(round(eval_s, 3))
            r["overhead_s"].append(round(wall - eval_s, 3))
            print(
                f"{m:10s} {seed:4d} {curve[-1]:11.5g} {len(history):5d} {eval_s:8.1f} {wall - eval_s:10.2f}",
                flush=True,
            )
    for r in results.values():
        r["summary"] = summarise(r["best"])
        r["median_curve"] = [float(v) for v in np.median(np.asarray(r["curves"]), axis=0)]
    ours = [m for m in methods if m != "tpe"]
    best_ours = min(ours, key=lambda m: results[m]["summary"]["median"]) if ours else None
    target = None
    if best_ours is not None and "tpe" in results:
        target = results[best_ours]["summary"]["median"] <= results["tpe"]["summary"]["median"]

    print()
    print(f"best fitness after {args.evals} evaluations, over {args.seeds} seed(s) (lower is better)")
    print(
        f"{'method':10s} {'median':>11s} {'min':>11s} {'max':>11s} {'q25':>11s} {'q75':>11s} {'s/search':>9s}"
    )
    for m, r in results.items():
        s = r["summary"]
        per = float(np.mean(np.asarray(r["eval_s"]) + np.asarray(r["overhead_s"])))
        print(
            f"{m:10s} {s['median']:11.5g} {s['min']:11.5g} {s['max']:11.5g} {s['q25']:11.5g} "
            f"{s['q75']:11.5g} {per:9.1f}"
        )
    if target is not None:
        print(f"target (our best, {best_ours}, median <= TPE median): {'met' if target else 'NOT met'}")

    out = {
        "config": {
            "space": space.name,
            "dimension": space.dimension,
            "init": init,
            "suite": args.suite,
            "evals": args.evals,
            "seeds": args.seeds,
            "methods": methods,
            "population": args.population,
            "sigma": args.sigma,
            "inner_seeds": args.inner_seeds,
            "steps_scale": args.steps_scale,
            "tasks": [b.task.name for b in objective.plan.budgets],
            "quick": bool(args.quick),
            "tpe_interface": "natural parameters: categorical per Choice, u in [0,1] on the space's scale",
        },
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_start": load,
            "load_average_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
            "jax": jax.__version__,
            "optuna": optuna.__version__,
            "backend": jax.default_backend(),
        },
        "start_fitness": f0,
        "setup_s": round(setup_s, 2),
        "warm_signatures": len(warm),
        "warm_s": round(warm_s, 2),
        "methods": results,
        "best_ours": best_ours,
        "target_met": target,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))
        if args.plot:
            png = args.json.with_suffix(".png")
            plot(results, png, f"{space.name} space on the {args.suite} suite: {args.evals} evaluations")
            print(f"plot: {png}")
    elif args.plot:
        print("--plot needs --json (the PNG is written next to it)")
    return 0 if all(math.isfinite(v) for r in results.values() for v in r["best"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
