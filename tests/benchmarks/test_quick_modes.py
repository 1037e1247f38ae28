"""Each benchmark script runs in its ``--quick`` mode and reports what it promises (CI smoke runs).

The figures themselves are not checked here (they are ratios on a noisy machine, recorded in
docs/benchmarks.md); these tests check that the scripts run end to end and that their rows are complete
and sane.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def test_optimizer_step_quick_times_every_requested_family_against_its_floor(tmp_path):
    out = tmp_path / "step.json"
    _run("optimizer_step.py", "--quick", "--only", "adam", "adan", "core", "--json", str(out))
    result = json.loads(out.read_text())
    assert 65_536 <= result["num_params"] < 66_000  # the tree rounds each tensor's shape
    names = [row["name"] for row in result["rows"]]
    assert set(names) == {"adam", "adan", "core", "core (balance on)"}  # --only keeps a family's variants
    for row in result["rows"]:
        assert row["ms"] > 0 and row["vs_floor"] > 0 and row["vs_adam"] > 0
        assert row["reads"] >= 1 and row["writes"] >= 1  # at least the gradient in and the update out
    adam = next(r for r in result["rows"] if r["name"] == "adam")
    # gradient, mu, nu in; update, mu, nu out (counted in parameter-sized arrays, small tensors round off)
    assert (adam["reads"], adam["writes"]) == pytest.approx((3.0, 3.0), abs=0.05)


def test_population_quick_picks_the_faster_path_and_counts_compilations(tmp_path):
    out = tmp_path / "population.json"
    _run("population.py", "--quick", "--one-by-one", "--candidates", "4", "--seeds", "2", "--json", str(out))
    rows = json.loads(out.read_text())
    assert len(rows) == 2
    for row in rows:
        assert row["vmap"]["compilations"] == 1 and row["loop"]["compilations"] == 1
        assert row["one_by_one"]["compilations"] == 4  # one program per candidate
        assert row["auto_is_faster_or_equal"]
        assert row["max_rel_diff_vmap_vs_loop"] < 1e-5


def test_population_search_mode_reports_the_compile_share(tmp_path):
    out = tmp_path / "share.json"
    _run("population.py", "--search", "toy", "--generations", "1", "--json", str(out))
    cold, warm = json.loads(out.read_text())
    assert (cold["cache"], warm["cache"]) == ("cold", "warm")
    for row in (cold, warm):
        assert row["suite"] == "toy" and row["generations"] == 1
        assert 0 < row["compile_s"] <= row["wall_s"] * 1.05  # compile time is part of the wall time
        assert 0 < row["compile_share"] <= 1.05
    # cold: the tuned-reference grid and the candidates' programs; warm: references come from the cache
    assert cold["training_compilations"] > warm["training_compilations"] >= 1
    assert warm["compile_s"] < cold["compile_s"]


def test_fused_step_traffic_quick_prints_a_row_per_optimizer():
    proc = _run("fused_step_traffic.py", "--quick")
    lines = [
        line for line in proc.stdout.splitlines() if line and not line.startswith(("backend", "optimizer"))
    ]
    assert len(lines) >= 3
    for line in lines:
        fields = line.split()
        assert float(fields[-1]) > 0  # milliseconds


@pytest.mark.slow
def test_ray_scaling_quick_measures_one_and_two_workers(tmp_path):
    out = tmp_path / "ray.json"
    _run("ray_scaling.py", "--quick", "--json", str(out))
    rows = json.loads(out.read_text())["rows"]
    assert {r["workers"] for r in rows} >= {1, 2}
    for row in rows:
        assert row["deterministic"]  # the same candidates score the same on every worker count
        assert row["actors_used"] == row["workers"]
        assert row["generation_s"] > 0
