"""Benchmark the population paths of ``inner_tasks.train_population`` side by side, and compile share.

For each task it trains a population of ``--candidates`` Adam learning rates x ``--seeds`` seeds with
``path="vmap"`` and ``path="loop"``, times the first call (compilation included) and the best of
``--repeats`` warm calls (the two paths interleaved, so both see the same machine load), and reports
inner steps per second (candidates x seeds x steps / seconds), the vmap/loop speed ratio, the number of
compilations each path caused (1 expected, and 0 on warm calls), and whether ``path="auto"`` picks the
faster path (a tie within 10% counts as right). Exit status 1 if it picks the slower one anywhere.

``--one-by-one`` adds the naive alternative: one ``training.train`` call per candidate with a fresh
``optax.adam(lr)`` (its learning rate a compile-time constant), i.e. one compilation per candidate; it is
timed once, compilation included, since that is what it costs a user.

``--search SUITE`` measures the compile share of a default search instead: a 10-generation CMA-ES search
of the CoRe space from its paper point (population 8, local evaluator), run twice in fresh processes that
share a new cache directory: ``cold`` (nothing cached: the tuned-reference grid and every program are
computed) and ``warm`` (the next search: references and compiled programs come from the cache). JAX's
compile-time events (tracing, lowering, backend compilation) are summed through ``jax.monitoring``;
share = compile seconds / wall seconds.

    python benchmarks/population.py --quick          # toy tasks, seconds
    python benchmarks/population.py --suite cpu-small --suite toy --one-by-one
    python benchmarks/population.py --suite mnist --steps 200 --json out.json
    python benchmarks/population.py --search toy --search cpu-small
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import optax  # noqa: E402

import inner_tasks  # noqa: E402
from inner_tasks import training  # noqa: E402


def _adam(hparams):
    return optax.adam(hparams["learning_rate"])


def bench_task(
    task, num_steps: int, num_candidates: int, num_seeds: int, repeats: int, one_by_one: bool = False
) -> dict:
    """Time both paths (and, with ``one_by_one``, the per-candidate-compile loop) on ``task``."""
    numeric = {"learning_rate": np.geomspace(1e-4, 1e-1, num_candidates)}
    keys = training.make_keys(num_seeds)
    eval_every = max(1, num_steps // 5)
    _ = task.datasets  # load data outside the timings
    row = {"task": task.name, "steps": num_steps, "candidates": num_candidates, "seeds": num_seeds}
    results = {}
    for path in ("vmap", "loop"):  # first calls: compilation included
        before = training.compile_count()
        t0 = time.perf_counter()
        results[path] = training.train_population(
            task, _adam, numeric, num_steps, keys, eval_every, path=path
        )
        row[path] = {
            "first_call_s": round(time.perf_counter() - t0, 3),
            "compilations": training.compile_count() - before,
        }
    warm = {"vmap": [], "loop": []}
    before = training.compile_count()
    for _ in range(repeats):  # interleaved, so both paths see the same machine load
        for path in ("vmap", "loop"):
            t0 = time.perf_counter()
            training.train_population(task, _adam, numeric, num_steps, keys, eval_every, path=path)
            warm[path].append(time.perf_counter() - t0)
    recompiled = training.compile_count() - before
    for path in ("vmap", "loop"):
        best = min(warm[path])
        row[path].update(
            warm_s=round(best, 4),
            steps_per_s=round(num_candidates * num_seeds * num_steps / best, 1),
            recompilations_when_warm=recompiled,
        )
    diff = np.nanmax(np.abs(results["vmap"].train_loss - results["loop"].train_loss))
    scale = np.nanmax(np.abs(results["loop"].train_loss))
    row["max_rel_diff_vmap_vs_loop"] = float(diff / scale) if scale > 0 else float(diff)
    row["vmap_over_loop"] = round(row["loop"]["warm_s"] / row["vmap"]["warm_s"], 2)
    row["auto_picks"] = training.choose_path(task, num_candidates, num_seeds)
    row["step_cost"] = training.step_cost(task)
    faster = "vmap" if row["vmap"]["warm_s"] <= row["loop"]["warm_s"] else "loop"
    row["auto_is_faster_or_equal"] = row["auto_picks"] == faster or abs(row["vmap_over_loop"] - 1.0) < 0.1
    if one_by_one:
        before = training.compile_count()
        t0 = time.perf_counter()
        for lr in numeric["learning_rate"]:  # a fresh optimizer object per candidate: its own program
            training.train(task, optax.adam(float(lr)), num_steps, keys, eval_every)
        seconds = time.perf_counter() - t0
        row["one_by_one"] = {
            "total_s": round(seconds, 3),
            "steps_per_s": round(num_candidates * num_seeds * num_steps / seconds, 1),
            "compilations": training.compile_count() - before,
        }
        chosen = row[row["auto_picks"]]["first_call_s"]
        row["chosen_over_one_by_one"] = round(seconds / chosen, 2)  # both with compilation included
    return row


_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
_COMPILE_SECONDS = [0.0]


def _on_duration(name: str, seconds: float, **_: object) -> None:
    if name in _COMPILE_EVENTS:
        _COMPILE_SECONDS[0] += seconds


def search_compile_share(suite: str, generations: int = 10, population: int = 8, steps_scale: float = 0.5):
    """Wall time and compile time of a default CoRe search on ``suite`` in this process (local evaluator).

    The caches (tuned references, compiled programs) are wherever ``$OPTSEARCH_CACHE_DIR`` points.
    """
    import jax

    from search.config import parse_config
    from search.run import Run

    if not getattr(search_compile_share, "_registered", False):
        jax.monitoring.register_event_duration_secs_listener(_on_duration)
        search_compile_share._registered = True
    with tempfile.TemporaryDirectory() as tmp:
        config = parse_config(
            {
                "run": {"name": f"compile-share-{suite}", "seed": 0, "dir": str(Path(tmp) / "run")},
                "space": {"name": "core", "init": "paper:core_minibatch"},
                "suite": {"name": suite, "num_seeds": 1, "steps_scale": steps_scale},
                "strategy": {
                    "name": "cma_es",
                    "population_size": population,
                    "num_generations": generations,
                    "sigma": 0.2,
                },
                "evaluator": {"kind": "local"},
                "output": {"report": False},
            }
        )
        before_s, before_n = _COMPILE_SECONDS[0], training.compile_count()
        t0 = time.perf_counter()
        Run(config).execute(progress=False)
        wall = time.perf_counter() - t0
    compile_s = _COMPILE_SECONDS[0] - before_s
    return {
        "suite": suite,
        "generations": generations,
        "population": population,
        "wall_s": round(wall, 2),
        "compile_s": round(compile_s, 2),
        "compile_share": round(compile_s / wall, 4),
        "training_compilations": training.compile_count() - before_n,
    }


def search_cold_and_warm(suite: str, generations: int) -> list[dict]:
    """The same search twice, each in a fresh process sharing one new cache directory.

    ``cold``: a first search on a machine (no tuned references, no compiled programs on disk); ``warm``:
    the next search (references and compiled programs loaded from the cache; tracing still happens).
    """
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, OPTSEARCH_CACHE_DIR=cache)
        for label in ("cold", "warm"):
            out = Path(cache) / f"{label}.json"
            cmd = [sys.executable, __file__, "--search-one", suite, "--generations", str(generations)]
            subprocess.run([*cmd, "--json", str(out)], env=env, check=True)
            row = json.loads(out.read_text())[0]
            row["cache"] = label
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="two toy tasks (a quadratic, Rosenbrock), 100 steps: seconds"
    )
    parser.add_argument("--suite", action="append", default=None, help="suite(s) to benchmark (default toy)")
    parser.add_argument("--steps", type=int, default=None, help="override each task's step budget")
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved warm calls per path (best kept)")
    parser.add_argument("--exclude", action="append", default=[], help="skip tasks whose name contains this")
    parser.add_argument(
        "--only", action="append", default=[], help="keep only tasks whose name contains this"
    )
    parser.add_argument("--one-by-one", action="store_true", help="also time one compile per candidate")
    parser.add_argument(
        "--search", action="append", default=[], help="compile share of a 10-generation search on SUITE"
    )
    parser.add_argument("--generations", type=int, default=10, help="generations of the --search run")
    parser.add_argument("--search-one", default=None, help=argparse.SUPPRESS)  # one in-process measurement
    parser.add_argument("--json", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    if args.search_one:
        row = search_compile_share(args.search_one, args.generations)
        if args.json:
            args.json.write_text(json.dumps([row], indent=1))
        return 0
    if args.search:
        rows = []
        print(
            f"{'suite':12s} {'cache':>5s} {'gens':>4s} {'wall s':>8s} {'compile s':>9s} {'share':>6s} "
            f"{'programs':>8s}"
        )
        for suite in args.search:
            for r in search_cold_and_warm(suite, args.generations):
                rows.append(r)
                print(
                    f"{suite:12s} {r['cache']:>5s} {r['generations']:4d} {r['wall_s']:8.1f} "
                    f"{r['compile_s']:9.1f} {r['compile_share']:6.1%} {r['training_compilations']:8d}",
                    flush=True,
                )
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
        return 0

    import jax

    if args.quick:
        entries = (inner_tasks.get_suite("toy").entries[0], inner_tasks.get_suite("toy").entries[2])
        steps = args.steps or 100
        repeats = 2
    else:
        entries = [e for name in (args.suite or ["toy"]) for e in inner_tasks.get_suite(name).entries]
        steps = args.steps
        repeats = args.repeats
    print(
        f"backend={jax.default_backend()} devices={jax.device_count()} population={args.candidates}x{args.seeds}"
    )
    header = f"{'task':34s} {'steps':>5s} {'vmap st/s':>11s} {'loop st/s':>11s} {'vmap/loop':>9s} "
    header += f"{'compiles v/l':>12s} {'bytes/step':>10s} {'auto':>5s} {'ok':>3s}"
    print(header)
    rows = []
    seen = set()
    for entry in entries:
        name = entry.task.name
        if (
            entry.task in seen
            or any(p in name for p in args.exclude)
            or not all(p in name for p in args.only)
        ):
            continue
        seen.add(entry.task)
        n = steps or entry.num_steps
        row = bench_task(entry.task, n, args.candidates, args.seeds, repeats, args.one_by_one)
        rows.append(row)
        extra = ""
        if args.one_by_one:
            extra = (
                f"  one-by-one {row['one_by_one']['steps_per_s']:.0f} st/s with "
                f"{row['one_by_one']['compilations']} compiles: chosen path {row['chosen_over_one_by_one']}x"
            )
        print(
            f"{row['task']:34s} {n:5d} {row['vmap']['steps_per_s']:11.0f} {row['loop']['steps_per_s']:11.0f} "
            f"{row['vmap_over_loop']:9.2f} {row['vmap']['compilations']:5d}/{row['loop']['compilations']:<6d} "
            f"{row['step_cost']['bytes']:10.3g} "
            f"{row['auto_picks']:>5s} {'yes' if row['auto_is_faster_or_equal'] else 'NO':>3s}{extra}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0 if all(r["auto_is_faster_or_equal"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
