"""The LJ38 force-call reproduction script: quick mode end to end, resume, and its building blocks."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from tests.benchmarks._scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "reproduction" / "lj38_force_calls.py"


def _load_module():
    """Import the script as a module (its import leaves jax's global configuration alone)."""
    return load_script(SCRIPT, "lj38_force_calls")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """Run ``--quick`` twice in a subprocess on the same output folder; return both summaries."""
    tmp = tmp_path_factory.mktemp("lj38")
    out, figs = tmp / "out", tmp / "figs"
    summaries = []
    for i in range(2):
        js = tmp / f"summary{i}.json"
        cmd = [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--out",
            str(out),
            "--json",
            str(js),
            "--figures",
            str(figs),
        ]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "method" in proc.stdout and "scipy_bfgs" in proc.stdout  # the printed table
        summaries.append(json.loads(js.read_text()))
    return summaries, out, figs


@pytest.mark.slow
def test_quick_mode_rows_and_sanity(quick_run):
    (first, _), out, figs = quick_run[0], quick_run[1], quick_run[2]
    module = _load_module()
    methods = first["methods"]
    assert set(methods) == set(module.ALL_METHODS) | set(module.ASE_METHODS)
    for name, s in methods.items():
        assert s["n"] == (2 if name.startswith("ase_") else 3), name
        assert 0 <= s["converged"] <= s["n"] and s["converged"] + s["failed"] == s["n"]
        if s["converged"]:
            assert s["min"] <= s["median"] <= s["max"] <= 3000
            assert s["min"] <= s["mean"] <= s["max"]
            lo, hi = s["mean_ci95"]
            assert s["converged"] < 2 or lo <= s["mean"] <= hi
            # converged runs end in a bound minimum: at or above the global one, below -150
            assert all(-173.93 <= e <= -150 for e in (s["energy_quantiles"][0], s["energy_quantiles"][-1]))
    # FIRE, SciPy BFGS and CG relax these starts well inside the quick cap of 3,000 calls
    for name in ("fire", "fire_ase", "scipy_bfgs", "scipy_cg", "ase_fire", "ase_bfgs"):
        assert methods[name]["converged"] == methods[name]["n"], name
    # our FIRE is ASE's FIRE: same call counts start by start
    for ours, v in first["ase_validation"].items():
        assert v["same_calls"] == v["n"] == 2, ours
    assert set(first["tuning"]["chosen"]) == {"frankenstein_code", "frankenstein_alg1", "frankenstein_appB"}
    assert first["cells"]["computed"] > 0
    assert (out / "summary.json").exists()
    for name in ("lj38_force_calls_ecdf.png", "lj38_force_calls_energies.png"):
        assert (figs / name).stat().st_size > 1000


@pytest.mark.slow
def test_quick_mode_resumes(quick_run):
    (first, second), out, _ = quick_run
    assert second["cells"]["computed"] == 0
    assert second["cells"]["skipped"] == first["cells"]["computed"]
    assert json.dumps(second["methods"], sort_keys=True) == json.dumps(first["methods"], sort_keys=True)
    assert len(list((out / "cells").glob("*.tmp"))) == 0


def test_numpy_potential_matches_task():
    module = _load_module()
    from inner_tasks.lj_cluster import LJCluster

    task = LJCluster(38, dtype="float32")
    x = np.asarray(task.init(jax.random.key(3)), np.float64)
    e, g = module.lj_numpy(x)
    e_ref = float(task.energy(x.astype(np.float32)))
    g_ref = np.asarray(jax.grad(task.energy)(x.astype(np.float32)), np.float64)
    assert math.isclose(e, e_ref, rel_tol=1e-5)
    assert np.max(np.abs(g - g_ref)) <= 1e-4 * np.max(np.abs(g_ref))


def test_max_atom_move_limits_the_largest_atom_step():
    module = _load_module()
    tx = module.max_atom_move(0.2)
    big = np.array([[3.0, 4.0, 0.0], [0.3, 0.0, 0.0]])  # atom norms 5 and 0.3
    out, _ = tx.update(big, tx.init(big))
    np.testing.assert_allclose(np.asarray(out), big * 0.04, rtol=1e-6)
    small = np.array([[0.1, 0.0, 0.0], [0.0, 0.05, 0.0]])
    out, _ = tx.update(small, tx.init(small))
    np.testing.assert_allclose(np.asarray(out), small, rtol=1e-6)


def test_bootstrap_interval_contains_the_mean_and_shrinks():
    module = _load_module()
    rng = np.random.default_rng(1)
    small, large = rng.exponential(500, 30), rng.exponential(500, 3000)
    lo_s, hi_s = module.bootstrap_mean_ci(small)
    lo_l, hi_l = module.bootstrap_mean_ci(large)
    assert lo_s <= small.mean() <= hi_s and lo_l <= large.mean() <= hi_l
    assert hi_l - lo_l < hi_s - lo_s
