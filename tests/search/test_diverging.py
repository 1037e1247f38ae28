"""Diverging and crashing candidates are scored and recorded, never fatal (in-process, local evaluator).

* A generation where EVERY candidate diverges (learning rates scaled by 1e12: the parameters explode to
  inf/NaN in the real training program) completes: each candidate is stored ``diverged`` with the fixed
  penalty, the generation row counts them, the strategy state stays finite, and the next generation runs.
* An optimizer that raises inside ``jit`` (a host callback in its update, run by the compiled training
  program) fails every candidate of a generation: each is re-sent once, then stored ``failed`` with its error
  and the penalty; the generation completes, ``status`` still works, and the run goes on.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

from inner_tasks.scoring import DIVERGED_PENALTY
from inner_tasks.training import train
from search import store as st
from search.config import load_config
from search.evaluators import FAILED_FITNESS, LocalEvaluator, Outcome, Plan, Unit, evaluate_unit
from search.run import Run
from tests.search._helpers import evaluation_table, write_config


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reference-cache")


def exploding(plan: Plan, unit: Unit) -> list[Outcome]:
    """The real evaluation with every learning rate multiplied by 1e12 (the training diverges)."""
    numerics = tuple({**n, "learning_rate": n["learning_rate"] * 1e12} for n in unit.numerics)
    return evaluate_unit(plan, dataclasses.replace(unit, numerics=numerics))


def _raise_on_host(step: jax.Array) -> None:
    raise FloatingPointError("the optimizer blew up inside jit")


def _raising_optimizer() -> optax.GradientTransformation:
    """SGD whose update calls back to the host, where it raises (at run time, inside the compiled program)."""
    sgd = optax.sgd(1e-3)

    def update(updates, state, params=None):
        jax.debug.callback(_raise_on_host, jax.tree_util.tree_leaves(updates)[0].sum())
        return sgd.update(updates, state, params)

    return optax.GradientTransformation(sgd.init, update)


def raising_inside_jit(plan: Plan, unit: Unit) -> list[Outcome]:
    budget = plan.budgets[0]
    train(budget.task, _raising_optimizer(), budget.num_steps, np.asarray(plan.keys), budget.eval_every)
    raise AssertionError("unreachable: the training program must raise")


def _generation(run_dir: Path, g: int) -> dict:
    conn = st.open_readonly(run_dir)
    try:
        row = conn.execute("SELECT * FROM generations WHERE generation = ?", (g,)).fetchone()
    finally:
        conn.close()
    return dict(row)


def _rows(run_dir: Path) -> list[st.Evaluation]:
    store = st.Store(run_dir)
    try:
        return store.evaluations(st.run_status(run_dir)["run_id"])
    finally:
        store.close()


def _state_is_finite(run_dir: Path) -> bool:
    checkpoint = st.load_checkpoint(run_dir)
    assert checkpoint is not None
    return all(np.all(np.isfinite(v)) for v in checkpoint[1].values() if np.issubdtype(v.dtype, np.floating))


def test_a_generation_where_every_candidate_diverges_completes_and_is_recorded(tmp_path, cache):
    cfg = write_config(tmp_path / "tiny.toml", cache, generations=1)
    run_dir = tmp_path / "run"
    Run(load_config(cfg), run_dir, evaluator=LocalEvaluator(evaluate_fn=exploding)).execute(progress=False)
    rows = _rows(run_dir)
    assert len(rows) == 4 and all(r.status == "diverged" for r in rows)
    assert all(r.fitness == DIVERGED_PENALTY and r.attempts == 1 and r.error == "" for r in rows)
    for r in rows:  # every seed of every task flagged, with no finite final gap (recorded as null)
        assert all(all(task["diverged"]) for task in r.scores["tasks"])
        assert all(gap is None for task in r.scores["tasks"] for gap in task["final_gap"])
    gen = _generation(run_dir, 0)
    assert (gen["num_ok"], gen["num_diverged"], gen["num_failed"]) == (0, 4, 0)
    assert gen["best"] == DIVERGED_PENALTY
    assert _state_is_finite(run_dir)  # a flat fitness does not poison the strategy

    # the search goes on from there with the real evaluation
    Run.resume(run_dir, {"strategy.num_generations": 2}, evaluator=LocalEvaluator()).execute(progress=False)
    status = st.run_status(run_dir)
    assert status["state"] == "finished" and status["generations"] == 2
    for x, _, _ in evaluation_table(run_dir).values():  # the genes asked after the flat generation
        assert all(math.isfinite(v) for v in json.loads(x))
    assert status["ok"] == 4 and status["best_fitness"] < DIVERGED_PENALTY
    assert _state_is_finite(run_dir)


def test_an_optimizer_raising_inside_jit_fails_its_candidates_and_the_run_goes_on(tmp_path, cache):
    cfg = write_config(tmp_path / "tiny.toml", cache, generations=1)
    run_dir = tmp_path / "run"
    calls: list[tuple[int, ...]] = []

    def counted(plan: Plan, unit: Unit) -> list[Outcome]:
        calls.append(unit.members)
        return raising_inside_jit(plan, unit)

    evaluator = LocalEvaluator(max_retries=3, evaluate_fn=counted)
    Run(load_config(cfg), run_dir, evaluator=evaluator).execute(progress=False)
    rows = _rows(run_dir)
    assert len(rows) == 4 and all(r.status == "failed" for r in rows)
    assert all(r.fitness == FAILED_FITNESS and r.attempts == 2 for r in rows)  # re-sent once, same error
    # the error surfaces as the runtime error of the compiled program (its text: the callback's traceback)
    kinds = ("JaxRuntimeError", "XlaRuntimeError", "FloatingPointError")
    assert all(r.error.startswith(kinds) and "callback" in r.error.lower() for r in rows), rows[0].error[:300]
    assert all("the optimizer blew up inside jit" in r.error for r in rows), rows[0].error  # the cause kept
    assert sorted(calls) == sorted([(m,) for m in range(4)] * 2)
    gen = _generation(run_dir, 0)
    assert (gen["num_ok"], gen["num_diverged"], gen["num_failed"]) == (0, 0, 4)
    assert gen["best"] is None  # failures are not results
    status = st.run_status(run_dir)
    assert status["state"] == "finished" and status["failed"] == 4 and status["best_fitness"] is None
    assert not (run_dir / "best.json").exists()  # nothing worth exporting yet
    assert _state_is_finite(run_dir)

    Run.resume(run_dir, {"strategy.num_generations": 2}, evaluator=LocalEvaluator()).execute(progress=False)
    status = st.run_status(run_dir)
    assert status["generations"] == 2 and status["ok"] == 4 and status["failed"] == 4
    assert (run_dir / "best.json").is_file()
