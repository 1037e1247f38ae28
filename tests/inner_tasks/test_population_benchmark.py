"""``benchmarks/population.py`` measures both paths with one compilation each and none when warm."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from inner_tasks.quadratic import Quadratic


def _load_benchmark():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "population.py"
    spec = importlib.util.spec_from_file_location("population_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_task_reports_both_paths_and_compile_counts():
    bench = _load_benchmark()
    row = bench.bench_task(Quadratic(dim=3, condition_number=2.0, seed=31), 10, 4, 2, 1)
    for path in ("vmap", "loop"):
        assert row[path]["compilations"] == 1
        assert row[path]["recompilations_when_warm"] == 0
        assert row[path]["steps_per_s"] > 0
    assert row["max_rel_diff_vmap_vs_loop"] < 1e-5
    assert row["auto_picks"] == "vmap"
    assert row["vmap_over_loop"] == round(row["loop"]["warm_s"] / row["vmap"]["warm_s"], 2)
