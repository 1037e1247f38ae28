"""benchmarks/search_vs_optuna.py: the TPE interface round-trips, the budget is respected, and the quick
mode runs all three methods on the same evaluation function."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.benchmarks._scripts import load_script

pytest.importorskip("optuna")

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "search_vs_optuna.py"


def _load() -> Any:
    return load_script(_PATH, "search_vs_optuna")


bench = _load()


class _Sphere:
    """A cheap stand-in objective: distance of the decoded adam point from a target, counted."""

    def __init__(self) -> None:
        from spaces import get_space

        self.space = get_space("adam")
        self.calls = 0

    def __call__(self, points):
        self.calls += len(points)
        return np.asarray(
            [(math.log10(p["learning_rate"]) + 2.0) ** 2 + (p["b1"] - 0.5) ** 2 for p in points], dtype=float
        )


def test_tpe_parameters_round_trip_the_paper_point_of_a_space_with_choices():
    from spaces import get_space

    space = get_space("core")
    for name, point in space.paper_points.items():
        x = np.asarray(space.encode(point))
        params = bench.tpe_params_of(space, x)
        assert params["t_hist"] == space.params[-1].options.index(point["t_hist"]), name
        assert all(0.0 <= v <= 1.0 for k, v in params.items() if k != "t_hist")
        back = space.decode(bench.genes_of(space, lambda key, param, params=params: params[key]))
        want = space.decode(x)
        assert back["t_hist"] == want["t_hist"]
        for key, value in want.items():
            assert back[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_signature_points_cover_every_choice_once():
    from spaces import get_space

    space = get_space("core")
    points = bench.signature_points(space, np.asarray(space.encode(space.paper_points["core_minibatch"])))
    assert len({space.signature(p) for p in points}) == len(points) == len(space.params[-1].options)
    assert bench.signature_points(get_space("frankenstein"), np.zeros(37), limit=64) == []


def test_our_strategies_and_tpe_spend_exactly_the_budget_and_are_reproducible():
    mean = np.asarray(_Sphere().space.encode(_Sphere().space.paper_points["default"]))
    for name in ("cma_es", "random"):
        runs = []
        for _ in range(2):
            objective = _Sphere()
            runs.append(bench.run_strategy(name, objective, mean, seed=3, evals=10, population=4, sigma=0.3))
            assert objective.calls == len(runs[-1]) == 10  # 2 full generations + 2 of the third
        assert runs[0] == runs[1]
    objective = _Sphere()
    history = bench.run_tpe(objective, mean, seed=1, evals=15)
    assert objective.calls == len(history) == 15
    start = objective([objective.space.decode(mean)])[0]
    assert history[0] == pytest.approx(start, rel=1e-9)  # the enqueued starting point comes first
    assert min(history) < start  # TPE finds something better than the start on this easy function
    assert bench.run_tpe(_Sphere(), mean, seed=1, evals=15) == history


def test_quick_mode_runs_every_method_on_the_same_function(tmp_path):
    out = tmp_path / "svo.json"
    assert bench.main(["--quick", "--json", str(out), "--cache-dir", str(tmp_path / "refs")]) == 0
    data = json.loads(out.read_text())
    cfg = data["config"]
    assert set(data["methods"]) == {"cma_es", "random", "tpe"}
    assert math.isfinite(data["start_fitness"])
    for name, r in data["methods"].items():
        assert len(r["best"]) == len(r["curves"]) == cfg["seeds"]
        for curve, best in zip(r["curves"], r["best"], strict=True):
            assert len(curve) == cfg["evals"]
            assert all(math.isfinite(v) for v in curve), name
            assert all(b <= a for a, b in zip(curve, curve[1:])), name  # best so far never rises
            assert best == curve[-1]
        assert all(s > 0 for s in r["eval_s"]) and all(s >= 0 for s in r["overhead_s"])
        assert r["summary"]["min"] <= r["summary"]["median"] <= r["summary"]["max"]
    # TPE's first trial is the starting point itself, scored by the same function
    assert data["methods"]["tpe"]["curves"][0][0] == pytest.approx(data["start_fitness"], rel=1e-9)
    assert data["best_ours"] in ("cma_es", "random")
    assert isinstance(data["target_met"], bool)
    ours = data["methods"][data["best_ours"]]["summary"]["median"]
    assert data["target_met"] == (ours <= data["methods"]["tpe"]["summary"]["median"])
