"""Benchmark one search generation on 1 vs 2 Ray workers (actors) and print the speed-up.

One embedded Ray instance (loopback only, ``num_cpus`` = the most workers) serves both measurements. For
each worker count it creates that many evaluation actors, runs one warm-up generation (each actor compiles
the training programs it needs) and then times ``--repeats`` generations of the same candidates; the
speed-up is ``time(1 worker) / time(2 workers)`` on the best repeat (2.0 is perfect scaling).

    python benchmarks/ray_scaling.py --quick                 # toy task, a few seconds of work
    python benchmarks/ray_scaling.py                          # CoRe space on cpu-small, 8 candidates
    python benchmarks/ray_scaling.py --workers 1 2 4 --json scaling.json

On a 2-core machine two actors compete with the driver and with each other for the cores, so expect
less than 2x; the point of the number is that it is measured, not assumed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from inner_tasks.scoring import tuned_reference  # noqa: E402
from search.config import parse_config  # noqa: E402
from search.evaluators import Candidate, Plan, RayEvaluator, start_ray  # noqa: E402
from search.run import _keys_data, budgets_of  # noqa: E402
from spaces import get_space  # noqa: E402


def make_plan_and_candidates(args: argparse.Namespace) -> tuple[Plan, list[Candidate]]:
    """The evaluation plan of the chosen space/suite and ``--population`` candidates around its init."""
    raw = {
        "space": {"name": args.space, "init": args.init},
        "suite": {"name": args.suite, "num_seeds": args.seeds, "steps_scale": args.steps_scale},
        "strategy": {"population_size": args.population},
    }
    if args.tasks:
        raw["suite"]["tasks"] = list(args.tasks)
    config = parse_config(raw)
    space = get_space(config.space.name)
    keys = _keys_data(config)
    budgets = budgets_of(config)
    references = tuple(
        tuned_reference(b.task, b.num_steps, jax.random.wrap_key_data(keys), eval_every=b.eval_every)
        for b in budgets
    )
    plan = Plan(
        space=space.name,
        fidelity="full",
        budgets=budgets,
        keys=keys,
        references=references,
        chunk_size=1,
        x64=bool(jax.config.jax_enable_x64),
    )
    init = config.space.init
    mean = (
        np.zeros(space.dimension)
        if init == "center"
        else space.encode(space.paper_points[init.removeprefix("paper:")])
    )
    rng = np.random.default_rng(0)
    candidates = []
    for member in range(args.population):
        point = space.decode(mean + args.sigma * rng.standard_normal(space.dimension))
        candidates.append(Candidate(member, space.signature(point), space.numeric(point)))
    return plan, candidates


def time_workers(num_workers: int, plan: Plan, candidates: list[Candidate], repeats: int) -> dict:
    evaluator = RayEvaluator(num_workers, cpus_per_worker=1.0)
    try:
        t0 = time.perf_counter()
        warm = evaluator.evaluate(plan, candidates)
        warmup_s = time.perf_counter() - t0
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            outcomes = evaluator.evaluate(plan, candidates)
            times.append(time.perf_counter() - t0)
        same = [o.fitness for o in outcomes] == [o.fitness for o in warm]
        workers = sorted({o.worker for o in outcomes})
    finally:
        evaluator.close()
    return {
        "workers": num_workers,
        "warmup_s": round(warmup_s, 3),
        "generation_s": round(min(times), 4),
        "generation_mean_s": round(float(np.mean(times)), 4),
        "actors_used": len(workers),
        "deterministic": same,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="toy Rosenbrock, short budget, 4 candidates")
    parser.add_argument("--space", default="core")
    parser.add_argument("--init", default="paper:core_minibatch")
    parser.add_argument("--suite", default="cpu-small")
    parser.add_argument("--tasks", nargs="*", default=None, help="subset of the suite's tasks")
    parser.add_argument("--steps-scale", type=float, default=0.5)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--sigma", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.space, args.init, args.suite = "adam", "paper:default", "toy"
        args.tasks, args.steps_scale, args.population, args.sigma = ["rosenbrock_d2"], 0.2, 4, 0.5
    plan, candidates = make_plan_and_candidates(args)
    print(
        f"space {args.space}, suite {args.suite} ({len(plan.budgets)} tasks, {args.seeds} seeds), "
        f"{len(candidates)} candidates, {len({c.signature for c in candidates})} signatures; "
        f"{os.cpu_count()} CPUs"
    )
    start_ray(num_cpus=max(args.workers))
    import ray

    rows = []
    try:
        for n in args.workers:
            rows.append(time_workers(n, plan, candidates, args.repeats))
            r = rows[-1]
            print(
                f"  {n} worker(s): generation {r['generation_s']:.3f} s (mean {r['generation_mean_s']:.3f} s, "
                f"warm-up with compilation {r['warmup_s']:.1f} s, {r['actors_used']} actors used, "
                f"deterministic: {r['deterministic']})"
            )
    finally:
        ray.shutdown()
    base = rows[0]["generation_s"]
    for r in rows[1:]:
        ratio = base / r["generation_s"]
        r["speedup_vs_first"] = round(ratio, 3)
        print(
            f"speed-up {rows[0]['workers']} -> {r['workers']} workers: {ratio:.2f}x (ideal {r['workers'] / rows[0]['workers']:.0f}x)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
