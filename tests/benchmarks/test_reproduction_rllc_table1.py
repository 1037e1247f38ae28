"""The RLLC Table 1 reproduction script: paper defaults, selection, intervals, quick run, resume, figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tests.benchmarks._scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "reproduction" / "rllc_table1.py"


def _load():
    return load_script(SCRIPT, "rllc_table1")


rt = _load()


def test_defaults_are_the_paper_protocol():
    args = rt.parse_args([])
    assert (args.steps, args.seeds, args.batch_size) == (10_000, 3, 128)
    assert args.row_list == list(rt.ROWS)
    assert len(rt.grid_points("baseline", args.baseline_lrs, args.rllc_c1, args.rllc_c2)) == 15
    assert np.allclose(args.baseline_lrs[:3], [1e-7, 3e-7, 1e-6]) and args.baseline_lrs[-1] == 1.0
    rllc = rt.grid_points("rllc", args.baseline_lrs, args.rllc_c1, args.rllc_c2)
    assert len(rllc) == 18 and {p["learning_law_rate"] for p in rllc} == {0.003, 0.01, 0.03}
    assert set(rt.RLLC_ROWS) == {"rllc_R0.9", "rllc_R0_R0.9", "rllc_R2_0.9", "rllc_C_0.9_2pi3"}
    assert len(rt.PAPER_MNIST_MLP) == 11


def test_t_interval_matches_scipy():
    values = [0.31, 0.27, 0.35]
    mean, lo, hi = rt.t_interval(values)
    ref = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert (lo, hi) == pytest.approx(ref, rel=1e-3)


def test_select_skips_diverged_and_takes_lowest_mean():
    def cells(finals, diverged=False):
        return [{"eval_loss": [1.0, f], "diverged": diverged} for f in finals]

    grid = {"a": cells([0.5, 0.7]), "b": cells([0.4, 0.9]), "c": cells([0.1, 0.1], diverged=True)}
    best, scores = rt.select(grid)
    assert best == "a" and math.isinf(scores["c"])
    assert rt.select({"c": cells([math.nan, 0.1])})[0] is None


def test_row_optimizer_hashes_by_value():
    a = rt.RowOptimizer("linear_memory", rt.ROWS["rllc_R0.9"][1])
    b = rt.RowOptimizer("linear_memory", dict(rt.ROWS["rllc_R0.9"][1]))
    assert a == b and hash(a) == hash(b)
    assert a != rt.RowOptimizer("adam", {})


@pytest.mark.slow  # three quick runs, five compilations: about a minute on an idle 2-core CPU
def test_quick_run_resume_and_figures(tmp_path):
    out, figs, js = tmp_path / "out", tmp_path / "figs", tmp_path / "summary.json"
    argv = [
        "--quick",
        "--rows",
        "adam,rllc_R0_R0.9",
        "--out",
        str(out),
        "--figures",
        str(figs),
        "--json",
        str(js),
    ]
    assert rt.main(argv) == 0
    summary = json.loads(js.read_text())
    assert list(summary["rows"]) == ["adam", "rllc_R0_R0.9"]
    for row, e in summary["rows"].items():
        assert e["grid_points_done"] == e["grid_points"] == 2
        finite = {k: v for k, v in e["valid_loss_by_point"].items() if math.isfinite(v)}
        assert e["chosen"] == min(finite, key=finite.get)
        assert len(e["test_loss"]) == 2 and all(math.isfinite(v) and v > 0 for v in e["test_loss"])
        assert all(0.0 <= a <= 100.0 for a in e["test_accuracy"])
        lo, hi = e["test_loss_ci95"]
        assert lo <= e["test_loss_mean"] <= hi
        # the test rerun repeats the selected grid runs (same keys): same trajectories up to rounding
        assert e["rerun_rel_train_loss_diff"] < 1e-4, row
    assert "minus_adam" in summary["rows"]["rllc_R0_R0.9"]
    for name in ("test_loss", "curves"):
        png = figs / f"rllc_table1_{name}.png"
        assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    phases = summary["this_call"]["phases"]
    assert {(p["row"], p["phase"]) for p in phases if p["trained_runs"]} == {
        (r, ph) for r in ("adam", "rllc_R0_R0.9") for ph in ("grid", "test")
    }

    # resume: nothing left to train, same table
    assert rt.main(argv) == 0
    again = json.loads(js.read_text())
    assert all(p["trained_runs"] == 0 and p["compilations"] == 0 for p in again["this_call"]["phases"])
    assert again["rows"]["adam"]["test_loss"] == summary["rows"]["adam"]["test_loss"]

    # a lost cell is retrained alone (its grid point, all seeds) and comes back with the same numbers
    cell_dir = next(out.glob("digits_*"))
    lost = next((cell_dir / "adam").glob("grid__*__seed1.json"))
    before = json.loads(lost.read_text())
    lost.unlink()
    assert rt.main(argv) == 0
    third = json.loads(js.read_text())
    trained = {(p["row"], p["phase"]): p["trained_runs"] for p in third["this_call"]["phases"]}
    assert trained[("adam", "grid")] == 2 and sum(trained.values()) == 2
    after = json.loads(lost.read_text())
    assert np.allclose(after["eval_loss"], before["eval_loss"], rtol=1e-4)
