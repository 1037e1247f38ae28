"""``benchmarks/vs_reference.py``: its quick mode times both loops, both learn, and the summary is right.

The quick run is a subprocess: the script pins its process to one CPU and sets torch's thread count,
which must not leak into the test session.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.benchmarks._scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "vs_reference.py"


def _load_benchmark():
    return load_script(SCRIPT, "vs_reference_benchmark")


def _run_quick(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ours/torch" in proc.stdout
    return json.loads(out.read_text())


def _check_payload(payload: dict, names: tuple[str, ...]) -> None:
    config = payload["config"]
    assert config["steps"] == 50 and config["repeats"] == 1 and config["batch_size"] == 128
    assert config["threads"]["torch_threads"] == 1
    assert "intra_op_parallelism_threads=1" in config["threads"]["xla_flags"]
    timings = payload["timings"]
    for key, row in timings.items():
        assert len(row["warm_s"]) == 1
        assert row["median_s"] > 0 and math.isclose(row["steps_per_s"], 50 / row["median_s"])
        assert row["first_call_s"] > 0 and row["compile_s"] >= 0
        assert row["finite"], key
        # every contender learns something in 50 steps of MNIST
        assert row["final_loss"] < row["initial_loss"], key
    assert [row["optimizer"] for row in payload["rows"]] == list(names)
    for row in payload["rows"]:
        name = row["optimizer"]
        assert f"ours/{name}" in timings
        variants = row["torch_variants_steps_per_s"]
        assert len(variants) >= 2 and all(v > 0 for v in variants.values())
        assert row["torch_steps_per_s"] == max(variants.values())
        assert row["ours_over_torch"] > 0
        assert math.isclose(row["ours_over_torch"], row["ours_steps_per_s"] / row["torch_steps_per_s"])
        assert row["target_met"] == (row["ours_over_torch"] >= config["target"])
        assert len(row["ours_over_torch_per_round"]) == 1
        assert math.isclose(row["ours_over_torch_per_round"][0], row["ours_over_torch"])
        # both sides start near log(10) and end clearly lower
        for initial, final in (row["ours_loss"], row["torch_loss"]):
            assert 0.5 < initial < 3.5 and final < initial


@pytest.mark.reference
def test_quick_mode_times_both_loops_for_adam(tmp_path):
    pytest.importorskip("torch")
    payload = _run_quick(tmp_path, "--optimizers", "adam")
    _check_payload(payload, ("adam",))
    if payload["config"]["lopt"]:
        row = payload["rows"][0]
        assert row["lopt_steps_per_s"] > 0 and row["ours_over_lopt"] > 0
        assert row["lopt_loss"][1] < row["lopt_loss"][0]


@pytest.mark.slow
@pytest.mark.reference
def test_quick_mode_all_optimizers(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("core_optimizer")
    if importlib.util.find_spec("timm") is None:  # imported without its package __init__ (torchvision)
        pytest.skip("timm not installed")
    payload = _run_quick(tmp_path, "--no-lopt")
    _check_payload(payload, ("adam", "core", "adan"))


def test_loss_summary_and_comparable():
    bench = _load_benchmark()
    losses = np.concatenate([np.full(10, 2.0), np.linspace(2.0, 0.5, 80), np.full(10, 0.4)])
    out = bench.loss_summary(losses)
    assert out["initial_loss"] == pytest.approx(2.0)
    assert out["final_loss"] == pytest.approx(np.mean(losses[-20:]))
    assert out["learns"]
    assert not bench.loss_summary(np.full(100, 1.0))["learns"]
    assert bench._comparable(0.30, 0.40) and bench._comparable(0.01, 0.05)
    assert not bench._comparable(0.2, 0.5)


def test_summarize_takes_the_fastest_torch_variant():
    bench = _load_benchmark()

    def row(seconds: float, final: float) -> dict:
        return {
            "warm_s": [seconds, 2 * seconds],
            "steps_per_s": 100 / seconds,
            "compile_s": 1.0,
            "initial_loss": 2.3,
            "final_loss": final,
            "learns": final < 1.15,
        }

    timings = {
        "ours/adam": row(1.0, 0.20),
        "torch/adam/loop": row(4.0, 0.22),
        "torch/adam/fused": row(2.5, 0.21),
        "lopt/adam": row(5.0, 0.19),
        "ours/adan": row(2.0, 0.30),
        "torch/adan/loop": row(3.0, 2.0),
    }
    rows = bench.summarize(timings, ("adam", "adan"), target=2.0)
    adam, adan = rows
    assert adam["torch_variant"] == "fused" and adam["ours_over_torch"] == pytest.approx(2.5)
    assert adam["ours_over_torch_per_round"] == pytest.approx([2.5, 2.5])
    assert adam["target_met"] and adam["learns"] and adam["comparable"]
    assert adam["ours_over_lopt"] == pytest.approx(5.0) and adam["lopt_comparable"]
    assert adan["ours_over_torch"] == pytest.approx(1.5) and not adan["target_met"]
    assert not adan["learns"] and not adan["comparable"] and "lopt_steps_per_s" not in adan
