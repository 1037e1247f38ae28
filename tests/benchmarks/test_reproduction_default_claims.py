"""``benchmarks/reproduction/default_claims.py``: its quick run, its resume, and its analysis helpers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from inner_tasks.training import TrainResult
from tests.benchmarks._scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "reproduction" / "default_claims.py"


@pytest.fixture(scope="module")
def dc():
    return load_script(SCRIPT, "default_claims_script")


@pytest.fixture(scope="module")
def quick(dc, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("default_claims")
    args = [
        "--quick",
        "--out",
        str(tmp / "out"),
        "--json",
        str(tmp / "s.json"),
        "--figures",
        str(tmp / "fig"),
    ]
    assert dc.main(args) == 0
    first = json.loads((tmp / "s.json").read_text())
    assert dc.main(args) == 0  # every cell is on disk now: nothing is trained again
    second = json.loads((tmp / "s.json").read_text())
    return tmp, first, second


def test_quick_run_has_every_contender_with_finite_scores(dc, quick):
    _, summary, _ = quick
    block = summary["suites"]["cpu-small"]
    assert len(block["tasks"]) == 1
    grid = summary["grid"]
    for row in block["tasks"]:
        assert set(row["contenders"]) == set(dc.CONTENDERS)
        for name, entry in row["contenders"].items():
            if name in dc.TUNED:
                assert entry["learning_rate"] in grid
            else:
                assert entry["learning_rate"] is None
            for key in ("train_final", "train_auc", "eval_final", "eval_auc"):
                per_seed = entry[key]["per_seed"]
                assert len(per_seed) == block["num_seeds"] == 2
                assert all(math.isfinite(v) for v in per_seed)
        # tuned Adam is the reference: its per-seed final scores are logs of ratios to their own
        # geometric mean, so they average to 0 (no seed diverged at the chosen rate)
        adam = row["contenders"]["adam"]
        assert adam["diverged"] == 0
        assert abs(adam["train_final"]["mean"]) < 1e-9
        assert row["reference"]["train"]["learning_rate"] == adam["learning_rate"]
        speed = row["adan_speed"]["train"]
        for steps in speed["adam_steps"]:  # Adam reaches its own final loss within the budget
            assert steps is not None and 0 <= steps <= speed["budget"]
        assert all(math.isfinite(v) for v in speed["log_speedup"])
    verdict = block["verdicts"]
    assert verdict["claim3"] in ("reproduced", "not reproduced", "inconclusive")
    assert verdict["claim4"] in ("reproduced", "not reproduced", "inconclusive")
    assert verdict["adan_speedup"]["geometric_mean"] > 0
    assert set(verdict["core_vs"]) == set(dc.TUNED)


def test_quick_run_resumes_without_training_and_writes_plots(dc, quick):
    tmp, first, second = quick
    cells_per_task = (len(dc.TUNED) * len(first["grid"]) + len(dc.CONTENDERS) - len(dc.TUNED)) * 2
    assert first["cells"] == {"trained": cells_per_task, "skipped": 0}
    assert second["cells"] == {"trained": 0, "skipped": cells_per_task}
    assert first["suites"] == second["suites"]
    stored = list((tmp / "out" / "cells").rglob("*.json"))
    assert len(stored) == cells_per_task
    assert not list((tmp / "out").rglob("*.tmp"))
    for kind in ("scores", "curves"):
        png = tmp / "fig" / f"default_claims_cpu-small_{kind}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp / "out" / "summary-cpu-small.json").is_file()


def test_a_missing_cell_is_retrained_alone(dc, quick):
    tmp, first, _ = quick
    cells = sorted((tmp / "out" / "cells").rglob("*.json"))
    victim = cells[0]
    before = json.loads(victim.read_text())
    victim.unlink()
    out = tmp / "again.json"
    assert dc.main(["--quick", "--out", str(tmp / "out"), "--json", str(out)]) == 0
    again = json.loads(out.read_text())
    assert again["cells"]["trained"] == 1
    after = json.loads(victim.read_text())
    np.testing.assert_allclose(
        np.asarray(after["train_loss"], float), np.asarray(before["train_loss"], float), rtol=1e-5
    )


def test_trailing_mean_and_steps_to_reach(dc):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 20))
    got = dc.trailing_mean(x, 4)
    assert np.isnan(got[:, :3]).all()
    for t in range(3, 20):
        np.testing.assert_allclose(got[:, t], x[:, t - 3 : t + 1].mean(axis=1))
    curve = np.asarray([[10.0, 8.0, 6.0, 4.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    steps = np.arange(10)
    # window 1 (10% of 10 points): the first point at or below the target
    assert dc.steps_to_reach(curve, steps, np.asarray([4.0]), 1e-12)[0] == 3
    assert dc.steps_to_reach(curve, steps * 5, np.asarray([1.0]), 1e-12)[0] == 25
    assert np.isnan(dc.steps_to_reach(curve, steps, np.asarray([0.5]), 1e-12)[0])


def test_choose_rate_skips_diverged_rates_and_uses_the_validation_curve(dc):
    # rate 0: best train, worst validation; rate 1: best validation; rate 2: better still, but diverged
    train = np.asarray([[[1.0, 0.01]] * 2, [[1.0, 0.1]] * 2, [[1.0, 0.001]] * 2])
    evals = np.asarray([[[1.0, 0.5]] * 2, [[1.0, 0.2]] * 2, [[1.0, 0.05]] * 2])
    diverged = np.asarray([[False, False], [False, False], [True, False]])
    result = TrainResult(train, np.asarray([0, 1]), evals, None, diverged)
    assert dc.choose_rate(result, "eval") == 1
    assert dc.choose_rate(result, "train") == 0


def test_per_task_grids_and_budget_scales_parse(dc):
    grids = dc._parse_grids(["1e-2,1e-3", "task_a=3e-4,1e-4"])
    assert grids == {"*": (1e-3, 1e-2), "task_a": (1e-4, 3e-4)}
    assert dc._parse_scales(["0.25", "task_a=0.1"]) == {"*": 0.25, "task_a": 0.1}
    for bad in (["x=a"], ["0,1e-3"], ["-1e-3"]):
        with pytest.raises(ValueError, match="--grid"):
            dc._parse_grids(bad)
    with pytest.raises(ValueError, match="--steps-scale"):
        dc._parse_scales(["0"])
