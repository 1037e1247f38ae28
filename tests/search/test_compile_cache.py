"""The persistent compilation cache: programs compiled by one process are loaded by the next, with the same
numbers, and ``OPTSEARCH_COMPILE_CACHE=0`` turns it off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROGRAM = r"""
import json, sys
import jax, numpy as np, optax
from search.evaluators import enable_compile_cache
from inner_tasks import training
from inner_tasks.quadratic import Quadratic

events = {}
jax.monitoring.register_event_listener(lambda name, **_: events.__setitem__(name, events.get(name, 0) + 1))
used = enable_compile_cache()
result = training.train_population(
    Quadratic(dim=5, condition_number=10.0, seed=3),
    lambda h: optax.adam(h["learning_rate"]),
    {"learning_rate": np.array([0.01, 0.1])},
    50,
    2,
    10,
)
print(json.dumps({
    "cache": None if used is None else str(used),
    "hits": events.get("/jax/compilation_cache/cache_hits", 0),
    "misses": events.get("/jax/compilation_cache/cache_misses", 0),
    "loss": result.train_loss.tolist(),
}))
"""


def _run(cache_root: Path, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "OPTSEARCH_COMPILE_CACHE"}
    environ.update(OPTSEARCH_CACHE_DIR=str(cache_root), JAX_PLATFORMS="cpu", **env)
    proc = subprocess.run(
        [sys.executable, "-c", _PROGRAM], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_the_compiled_program_and_computes_the_same_numbers(tmp_path):
    first = _run(tmp_path)
    assert first["cache"] == str(tmp_path / "xla")
    assert first["misses"] >= 1, first  # compiled, then stored
    entries = list((tmp_path / "xla").iterdir())
    assert entries, "nothing was written to the compilation cache"
    second = _run(tmp_path)
    assert second["hits"] >= first["misses"], (first, second)  # every program loaded, none compiled
    assert second["misses"] == 0, second
    assert second["loss"] == first["loss"]  # bit for bit


def test_the_cache_can_be_turned_off(tmp_path):
    off = _run(tmp_path, OPTSEARCH_COMPILE_CACHE="0")
    assert off["cache"] is None
    assert not (tmp_path / "xla").exists()
