"""benchmarks/reproduction/extend.py: the quick mode end to end, its resume, and the exported optimizers.

The quick mode runs the real pipeline (search from the paper point, export, per-seed scoring on a train and
a held-out task set) at toy size; the assertions check properties that a broken pipeline would violate:
the exported best re-scores to exactly the fitness its search recorded (same keys, same program), the
gains are the paired differences of the stored per-seed fitnesses, a rerun trains nothing new, and every
committed ``docs/found/*.json`` loads with ``optimizers.load`` and takes a finite update step.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import optimizers
from tests.benchmarks._scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "reproduction" / "extend.py"
FOUND = ROOT / "docs" / "found"


def _module():
    return load_script(SCRIPT, "reproduction_extend")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One quick run (Adan, the smallest space) and a second, identical invocation that must resume it."""
    extend = _module()
    out = tmp_path_factory.mktemp("extend")
    argv = ["--quick", "--space", "adan", "--out", str(out), "--no-progress"]
    assert extend.main([*argv, "--json", str(out / "first.json"), "--figures", str(out / "fig")]) == 0
    first = json.loads((out / "first.json").read_text())
    cells = {p.name: p.stat().st_mtime_ns for p in (out / "evals").glob("*.json")}
    assert extend.main([*argv, "--json", str(out / "second.json")]) == 0
    second = json.loads((out / "second.json").read_text())
    return extend, out, first, second, cells


def test_quick_rows_are_complete_and_consistent(quick):
    extend, out, first, _, _ = quick
    rows = {r["space"]: r for r in first["rows"]}
    assert set(rows) == {"adan"}
    for space, r in rows.items():
        gens = r["search"]["generations"]
        assert [g["generation"] for g in gens] == [0, 1]
        assert r["search"]["evaluations"] == 2 * 4
        best = [g["best_so_far"] for g in gens]
        assert best[1] <= best[0] and math.isfinite(best[1])
        # the exported best re-scores, with the search's keys, to the fitness its search recorded
        assert r["train"]["found"] == pytest.approx(r["train"]["found_recorded"], abs=1e-5)
        assert r["train"]["found"] == pytest.approx(best[-1], abs=1e-5)
        for key in ("train", "heldout"):
            paper = json.loads((out / "evals" / f"{space}__paper__{key}.json").read_text())
            found = json.loads((out / "evals" / f"{space}__found__{key}.json").read_text())
            assert len(paper["per_seed"]) == len(found["per_seed"]) == 2
            diffs = np.asarray(paper["per_seed"]) - np.asarray(found["per_seed"])
            g = r[key]["gain"]
            assert g["mean"] == pytest.approx(float(diffs.mean()))
            assert g["ci_low"] <= g["mean"] <= g["ci_high"]
            assert all(math.isfinite(v) for v in paper["per_seed"] + found["per_seed"])
        assert set(rows[space]["heldout"]["per_task_found"]) == set(extend.QUICK_HELDOUT_TASKS)
        assert r["generalization_gap"] == pytest.approx(
            r["train"]["gain"]["mean"] - r["heldout"]["gain"]["mean"]
        )
        assert r["verdict"] == extend.verdict(r["heldout"]["gain"])
        found = optimizers.load(out / "found" / f"{space}.json")
        assert found is not None
    for name in ("extend_search.png", "extend_gain.png"):
        assert (out / "fig" / name).stat().st_size > 1000


def test_quick_rerun_resumes_without_training(quick):
    _, out, first, second, cells = quick
    assert {p.name: p.stat().st_mtime_ns for p in (out / "evals").glob("*.json")} == cells
    assert len(cells) == 4
    for a, b in zip(first["rows"], second["rows"], strict=True):
        assert b["search"]["evaluations"] == a["search"]["evaluations"]
        assert b["search"]["generations"] == a["search"]["generations"]
        assert b["heldout"]["gain"] == a["heldout"]["gain"]


def test_t_interval_covers_the_mean_and_shrinks():
    extend = _module()
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 1.0, 40)
    mean, low, high = extend.t_interval(x[:10])
    assert low < mean < high
    _, low40, high40 = extend.t_interval(x)
    assert high40 - low40 < high - low
    assert extend.verdict({"mean": 1.0, "ci_low": 0.5, "ci_high": 1.5, "n": 10}).startswith("beats")
    assert extend.verdict({"mean": 0.1, "ci_low": -0.5, "ci_high": 0.7, "n": 10}).startswith("no ")


def test_found_optimizers_load_and_step():
    paths = sorted(FOUND.glob("*.json"))
    assert paths, f"no optimizers in {FOUND}: run benchmarks/reproduction/extend.py"
    for path in paths:
        _load_and_step(path)


def _load_and_step(path: Path) -> None:
    """``optimizers.load`` the file and apply one update step to a small pytree: finite, non-zero."""
    document = json.loads(path.read_text())
    assert document["provenance"]["space"] == path.stem
    assert document["provenance"]["suite"] == "cpu-small"
    opt = optimizers.load(path)
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    grads = {"w": jnp.full((3, 2), 0.5), "b": jnp.array([1.0, -1.0])}
    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    for u in (updates["w"], updates["b"]):
        assert bool(jnp.all(jnp.isfinite(u)))
    assert float(jnp.abs(updates["w"]).sum()) > 0
