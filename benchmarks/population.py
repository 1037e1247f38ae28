"""Benchmark the two population paths of ``inner_tasks.train_population`` side by side.

For each task it trains a population of ``--candidates`` Adam learning rates x ``--seeds`` seeds with
``path="vmap"`` and ``path="loop"``, times the first call (compilation included) and the best of
``--repeats`` warm calls (the two paths interleaved, so both see the same machine load), and reports
inner steps per second (candidates x seeds x steps / seconds), the vmap/loop speed ratio, the number of
compilations each path caused (1 expected, and 0 on warm calls), and whether ``path="auto"`` picks the
faster path (a tie within 10% counts as right). Exit status 1 if it picks the slower one anywhere.

    python benchmarks/population.py --quick          # toy tasks, seconds
    python benchmarks/population.py --suite cpu-small --suite toy
    python benchmarks/population.py --suite mnist --steps 200 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import optax  # noqa: E402

import inner_tasks  # noqa: E402
from inner_tasks import training  # noqa: E402


def _adam(hparams):
    return optax.adam(hparams["learning_rate"])


def bench_task(task, num_steps: int, num_candidates: int, num_seeds: int, repeats: int) -> dict:
    """Time both paths on ``task``; returns a row of measurements."""
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
    return row


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
    parser.add_argument("--json", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)

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
        row = bench_task(entry.task, n, args.candidates, args.seeds, repeats)
        rows.append(row)
        print(
            f"{row['task']:34s} {n:5d} {row['vmap']['steps_per_s']:11.0f} {row['loop']['steps_per_s']:11.0f} "
            f"{row['vmap_over_loop']:9.2f} {row['vmap']['compilations']:5d}/{row['loop']['compilations']:<6d} "
            f"{row['step_cost']['bytes']:10.3g} "
            f"{row['auto_picks']:>5s} {'yes' if row['auto_is_faster_or_equal'] else 'NO':>3s}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0 if all(r["auto_is_faster_or_equal"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
