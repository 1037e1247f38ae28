"""Scoring against the tuned reference: the formulas, divergence penalties, the on-disk cache."""

from __future__ import annotations

import json
import math

import numpy as np
import optax
import pytest

from inner_tasks import scoring, training
from inner_tasks.quadratic import Quadratic
from inner_tasks.training import TrainResult

TASK = Quadratic(dim=5, condition_number=10.0, seed=21)
GRID = (1e-3, 1e-2, 1e-1, 1.0)


def _reference(**kw):
    base = dict(
        task="t",
        fingerprint="f",
        learning_rate=0.1,
        final_gap=0.01,
        auc_gap=0.5,
        initial_gap=2.0,
        lower_bound=0.0,
        num_steps=20,
        num_seeds=2,
        eval_every=10,
        curve="train",
        grid=GRID,
        grid_final_gaps=(1.0, 0.1, 0.01, math.inf),
    )
    base.update(kw)
    return scoring.Reference(**base)


def _result(curves, diverged=None):
    curves = np.asarray(curves, dtype=np.float32)
    if diverged is None:
        diverged = np.zeros(curves.shape[0], bool)
    return TrainResult(curves, np.array([0, curves.shape[1]]), curves[:, [0, -1]], None, np.asarray(diverged))


def test_score_formula_on_synthetic_curves():
    # 20 steps: the final gap is the mean of the last 2 points
    curve = np.linspace(2.0, 0.0, 20)
    curve[-2:] = [0.03, 0.01]
    ref = _reference()
    (s,) = scoring.score(_result([curve]), TASK, ref)
    assert s.final == pytest.approx(math.log(0.02 / 0.01), rel=1e-5)
    assert s.auc == pytest.approx(math.log(curve.mean() / 0.5), rel=1e-5)
    assert not s.diverged and s.seed == 0 and s.task == TASK.name


def test_divergence_gets_the_fixed_penalty_and_never_raises():
    ref = _reference()
    curves = [[1.0] * 19 + [np.nan], [1.0] * 20]
    scores = scoring.score(_result(curves, [True, False]), TASK, ref)
    assert scores[0].diverged and scores[0].final == scores[0].auc == scoring.DIVERGED_PENALTY
    assert math.isnan(scores[0].final_gap)
    assert not scores[1].diverged and scores[1].final < scoring.DIVERGED_PENALTY
    # an undetected non-finite curve is still scored as diverged
    (s,) = scoring.score(_result([[1.0] * 19 + [np.inf]]), TASK, ref)
    assert s.diverged
    json.dumps([x.to_json() for x in scores])


def test_scores_are_capped_at_the_penalty_and_gaps_floored():
    ref = _reference(final_gap=1e-12, auc_gap=1e-12)
    (s,) = scoring.score(_result([[1e6] * 20]), TASK, ref)
    assert s.final == scoring.DIVERGED_PENALTY and not s.diverged
    # both at (or below) the floor: a tie
    (s,) = scoring.score(_result([[2.0] + [0.0] * 19]), TASK, ref)
    assert s.final == pytest.approx(0.0)


def test_lower_bound_shifts_the_gap():
    class Shifted(Quadratic):
        @property
        def lower_bound(self) -> float:
            return -3.0

    ref = _reference(lower_bound=-3.0, final_gap=0.5)
    (s,) = scoring.score(_result([[0.0] * 18 + [-2.0, -2.0]]), Shifted(), ref)
    assert s.final == pytest.approx(math.log(1.0 / 0.5))


def test_fitness():
    scores = [
        scoring.TaskScore("a", 0, 1.0, 3.0, False, 1, 1),
        scoring.TaskScore("b", 0, -1.0, 1.0, False, 1, 1),
    ]
    assert scoring.fitness(scores) == 0.0
    assert scoring.fitness(scores, "auc") == 2.0
    assert scoring.fitness(scores, "both") == 1.0
    with pytest.raises(ValueError, match="objective"):
        scoring.fitness(scores, "best")


def test_tuned_reference_picks_the_best_rate_and_scores_itself_as_zero(tmp_path):
    keys = training.make_keys(2)
    ref = scoring.tuned_reference(TASK, 30, keys, tmp_path, grid=GRID)
    finite = [g for g in ref.grid_final_gaps if math.isfinite(g)]
    assert ref.final_gap == pytest.approx(min(finite), rel=1e-9)
    assert ref.learning_rate == GRID[int(np.argmin(ref.grid_final_gaps))]
    # re-running Adam at the chosen rate with the same keys scores 0 on average
    result = training.train(TASK, optax.adam(ref.learning_rate), 30, keys)
    scores = scoring.score(result, TASK, ref)
    assert np.mean([s.final for s in scores]) == pytest.approx(0.0, abs=1e-3)
    assert np.mean([s.auc for s in scores]) == pytest.approx(0.0, abs=1e-3)
    # a worse rate scores worse
    worse = scoring.score(training.train(TASK, optax.adam(1e-3), 30, keys), TASK, ref)
    assert np.mean([s.final for s in worse]) > 0.5
    assert len(ref.mean_curve) == 30


def test_reference_cache_hits_and_keys(tmp_path, monkeypatch):
    keys = training.make_keys(2)
    first = scoring.tuned_reference(TASK, 20, keys, tmp_path, grid=GRID)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and files[0].name.startswith(TASK.name)

    def boom(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr(scoring, "_compute_reference", boom)
    assert scoring.tuned_reference(TASK, 20, keys, tmp_path, grid=GRID) == first
    # another budget, other keys, another task config: other cache entries (so they recompute)
    for call in (
        lambda: scoring.tuned_reference(TASK, 21, keys, tmp_path, grid=GRID),
        lambda: scoring.tuned_reference(TASK, 20, training.make_keys(3), tmp_path, grid=GRID),
        lambda: scoring.tuned_reference(
            Quadratic(dim=5, condition_number=10.0, seed=22), 20, keys, tmp_path, grid=GRID
        ),
    ):
        with pytest.raises(AssertionError, match="recomputed"):
            call()


def test_corrupt_cache_entry_is_recomputed(tmp_path):
    keys = training.make_keys(1)
    ref = scoring.tuned_reference(TASK, 10, keys, tmp_path, grid=GRID[:2])
    (path,) = tmp_path.glob("*.json")
    path.write_text("{not json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(path.read_text())
    again = scoring.tuned_reference(TASK, 10, keys, tmp_path, grid=GRID[:2])
    assert again == ref and json.loads(path.read_text())["learning_rate"] == ref.learning_rate


def test_default_cache_dir_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(scoring.CACHE_DIR_ENV, str(tmp_path))
    assert scoring.default_cache_dir() == tmp_path / "references"
    monkeypatch.delenv(scoring.CACHE_DIR_ENV)
    assert scoring.default_cache_dir().parts[-3:] == (".cache", "optsearch", "references")


def test_reference_json_round_trip():
    ref = _reference(mean_curve=(1.0, float("nan")))
    text = json.dumps(ref.to_json())
    back = scoring.Reference.from_json(json.loads(text))
    assert back.grid_final_gaps[-1] == math.inf and math.isnan(back.mean_curve[1])
    assert back.learning_rate == ref.learning_rate
    with pytest.raises(ValueError, match="missing"):
        scoring.Reference.from_json({"task": "x"})
    with pytest.raises(ValueError, match="curve"):
        scoring.tuned_reference(TASK, 10, 1, grid=GRID, curve="valid")
