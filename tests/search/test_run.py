"""The run loop with the local evaluator: run directory contents, export/load equality, exact resume,
failures recorded and survived, multi-fidelity, refusing a busy or used directory."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers
from inner_tasks import get_suite
from inner_tasks.training import train
from search import store as st
from search.cli import main
from search.config import load_config
from search.evaluators import LocalEvaluator, evaluate_unit
from search.run import Run, budgets_of
from search.store import RunLock, RunLockedError
from spaces import get_space
from tests.search._helpers import evaluation_table, write_config


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reference-cache")


@pytest.fixture(scope="module")
def finished(tmp_path_factory, cache) -> Path:
    """One uninterrupted tiny run (3 generations of 4), with the report."""
    folder = tmp_path_factory.mktemp("finished")
    cfg = write_config(folder / "tiny.toml", cache, report=True)
    assert main(["run", str(cfg), "--run-dir", str(folder / "run"), "--no-progress"]) == 0
    return folder / "run"


def test_a_run_leaves_a_complete_run_directory(finished):
    names = {p.name for p in finished.iterdir()}
    assert {"run.sqlite", "config.toml", "checkpoints", "best.json", "report"} <= names
    assert "lock" not in names
    assert {"fitness.png", "importance.png", "parallel.png", "curves.png", "report.md"} <= {
        p.name for p in (finished / "report").iterdir()
    }
    table = evaluation_table(finished)
    assert sorted(table) == [(g, m, "full") for g in range(3) for m in range(4)]
    status = st.run_status(finished)
    assert status["state"] == "finished" and status["generations"] == 3
    assert status["best_fitness"] == min(fit for _, fit, _ in table.values())
    assert st.list_checkpoints(finished) == [0, 1, 2]
    assert "## Best: fitness" in (finished / "report" / "report.md").read_text()


def test_status_and_list_runs_through_the_cli(finished, capsys):
    assert main(["status", str(finished), "--format", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["evaluations"] == 12 and len(status["generation_table"]) == 3
    assert main(["list", "runs", "--root", str(finished.parent), "--format", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["run_dir"] for r in runs] == [str(finished)]


def test_export_then_load_gives_the_optimizer_the_search_evaluated(finished, tmp_path, capsys):
    out = tmp_path / "best.json"
    assert main(["export", str(finished), "-o", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["format"] == "optsearch-optimizer"
    assert st.checksum_ok(document["provenance"])
    loaded = optimizers.load(out)

    # The same transform: updates equal those of the builder the search trained with (traced numerics).
    space = get_space("adam")
    point = document["provenance"]["point"]
    searched = space.builder(space.signature(point))(
        {k: jnp.asarray(v) for k, v in space.numeric(point).items()}
    )
    params = {"w": jnp.linspace(-1.0, 1.0, 7, dtype=jnp.float32), "b": jnp.ones((2, 3), jnp.float32)}
    state_a, state_b = loaded.init(params), searched.init(params)
    for step in range(20):
        grads = jax.tree.map(lambda p, k=step + 1: jnp.sin(p * k), params)
        ua, state_a = loaded.update(grads, state_a, params)
        ub, state_b = searched.update(grads, state_b, params)
        for a, b in zip(jax.tree.leaves(ua), jax.tree.leaves(ub)):
            assert a.dtype == b.dtype == jnp.float32
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-9)
        params = optax.apply_updates(params, ua)

    # And re-training the loaded optimizer scores what the store recorded.
    config = load_config(finished / "config.toml")
    budget = budgets_of(config)[0]
    keys = get_suite("toy").keys(1)
    result = train(budget.task, loaded, budget.num_steps, keys, budget.eval_every)
    from inner_tasks.scoring import Reference, score

    conn = st.open_readonly(finished)
    ref = Reference.from_json(json.loads(conn.execute("SELECT data FROM tuned_references").fetchone()[0]))
    conn.close()
    rescored = score(result, budget.task, ref)[0].final
    assert rescored == pytest.approx(document["provenance"]["fitness"], abs=1e-5)

    # A second rank exports the runner-up.
    assert main(["export", str(finished), "--rank", "2", "-o", str(tmp_path / "second.json")]) == 0
    second = json.loads((tmp_path / "second.json").read_text())["provenance"]
    assert second["fitness"] >= document["provenance"]["fitness"]


class _Interrupt(LocalEvaluator):
    """Evaluates ``budget`` candidates, then raises KeyboardInterrupt mid-generation (a crash)."""

    def __init__(self, budget: int):
        super().__init__(evaluate_fn=self._evaluate)
        self.budget = budget

    def _evaluate(self, plan, unit):
        if self.budget <= 0:
            raise KeyboardInterrupt
        self.budget -= len(unit.members)
        return evaluate_unit(plan, unit)


@pytest.mark.parametrize("stop_after", [6, 8])  # mid-generation 1, and exactly at its end
def test_resume_after_an_interruption_is_exact(finished, tmp_path, cache, stop_after):
    cfg = write_config(tmp_path / "tiny.toml", cache)
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        Run(load_config(cfg), run_dir, evaluator=_Interrupt(stop_after)).execute(progress=False)
    assert st.run_status(run_dir)["state"] == "interrupted"
    assert len(evaluation_table(run_dir)) == stop_after
    if (
        stop_after == 8
    ):  # also tear generation 1's checkpoint: resume falls back to generation 0's and replays 1
        (run_dir / "checkpoints" / "gen-000001.npz").write_bytes(b"torn")
    counting = _Interrupt(10**9)
    with pytest.warns(RuntimeWarning) if stop_after == 8 else _nothing():
        result = Run.resume(run_dir, evaluator=counting).execute(progress=False)
    assert result.evaluated == 12 - stop_after  # nothing repeated, nothing lost
    assert evaluation_table(run_dir) == evaluation_table(finished)  # bit-identical genes and fitness
    assert result.best_fitness == st.run_status(finished)["best_fitness"]
    assert (
        json.loads((run_dir / "best.json").read_text())["hyperparameters"]
        == json.loads((finished / "best.json").read_text())["hyperparameters"]
    )


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_resume_can_extend_a_finished_run(tmp_path, cache, finished):
    cfg = write_config(tmp_path / "tiny.toml", cache, generations=2)
    run_dir = tmp_path / "run"
    Run(load_config(cfg), run_dir).execute(progress=False)
    assert main(["resume", str(run_dir), "--generations", "3", "--evaluator", "local", "--no-progress"]) == 0
    assert evaluation_table(run_dir) == evaluation_table(finished)
    assert "num_generations = 3" in (run_dir / "config.toml").read_text()


def test_a_used_or_busy_run_directory_is_refused(finished, tmp_path, cache, capsys):
    cfg = write_config(tmp_path / "tiny.toml", cache)
    assert main(["run", str(cfg), "--run-dir", str(finished)]) == 2
    assert "already holds a run (continue it with: optsearch resume" in capsys.readouterr().err
    with RunLock(finished):
        with pytest.raises(RunLockedError, match="is in use by pid"):
            Run.resume(finished).execute(progress=False)
        assert main(["resume", str(finished), "--evaluator", "local"]) == 2
        assert "is in use by pid" in capsys.readouterr().err


def test_a_candidate_that_crashes_twice_the_same_way_is_recorded_failed(tmp_path, cache):
    calls: list[tuple[int, ...]] = []

    def flaky(plan, unit):
        calls.append(unit.members)
        if 2 in unit.members:
            raise FloatingPointError("boom on member 2")
        return evaluate_unit(plan, unit)

    cfg = write_config(tmp_path / "tiny.toml", cache, generations=1)
    run_dir = tmp_path / "run"
    Run(load_config(cfg), run_dir, evaluator=LocalEvaluator(max_retries=3, evaluate_fn=flaky)).execute(
        progress=False
    )
    rows = st.Store(run_dir).evaluations(st.run_status(run_dir)["run_id"])
    failed = [r for r in rows if r.status == "failed"]
    assert [r.member for r in failed] == [2]
    assert failed[0].error == "FloatingPointError: boom on member 2" and failed[0].attempts == 2
    assert calls.count((2,)) == 2  # retried once, then recorded
    assert all(r.status != "failed" for r in rows if r.member != 2)
    assert st.run_status(run_dir)["state"] == "finished"


def test_multi_fidelity_screens_everyone_and_promotes_the_best_half(tmp_path, cache):
    cfg = write_config(tmp_path / "tiny.toml", cache, generations=2, fidelity=True)
    run_dir = tmp_path / "run"
    Run(load_config(cfg), run_dir).execute(progress=False)
    table = evaluation_table(run_dir)
    for g in range(2):
        screen = {m: fit for (gg, m, f), (_, fit, _) in table.items() if gg == g and f == "screen"}
        full = {m for (gg, m, f) in table if gg == g and f == "full"}
        assert sorted(screen) == [0, 1, 2, 3]
        assert full == set(sorted(screen, key=lambda m: (screen[m], m))[:2])
    conn = st.open_readonly(run_dir)
    steps = sorted(r[0] for r in conn.execute("SELECT num_steps FROM tuned_references"))
    conn.close()
    assert steps == [8, 30]  # the screen budget (0.25 of 30 steps) has its own reference


def test_evaluate_rescored_the_exported_best_and_paper_points(finished, cache, capsys):
    best = json.loads((finished / "best.json").read_text())["provenance"]
    common = ["--suite", "toy", "--tasks", "rosenbrock_d2", "--steps-scale", "0.1", "--seeds", "1"]
    common += ["--cache-dir", str(cache), "--no-progress", "--format", "json"]
    assert main(["evaluate", str(finished / "best.json"), *common]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["family"] == "adam" and [t["task"] for t in out["tasks"]] == ["rosenbrock_d2"]
    assert out["fitness"] == pytest.approx(best["fitness"], abs=1e-5)

    assert main(["evaluate", "kingma2014", *common]) == 0
    paper = json.loads(capsys.readouterr().out)
    assert paper["family"] == "adam:kingma2014" and paper["point"]["learning_rate"] == 1e-3

    point = json.dumps(best["point"])
    assert main(["evaluate", point, "--space", "adam", *common]) == 0
    assert json.loads(capsys.readouterr().out)["fitness"] == pytest.approx(best["fitness"], abs=1e-5)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["evaluate", "default", "--suite", "toy"], "a paper point of several spaces"),
        (["evaluate", "nothing_like_it", "--suite", "toy"], "not a paper point of any space"),
        (["evaluate", "kingma2014", "--suite", "toy", "--tasks", "nope"], "--tasks: suite 'toy' has no task"),
        (["evaluate", "kingma2014", "--suite", "nope"], "unknown suite 'nope'"),
        (["evaluate", '{"learning_rate": 0.1}', "--suite", "toy"], "--space: required"),
    ],
)
def test_evaluate_user_errors(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


@pytest.mark.parametrize("what", ["spaces", "suites", "strategies"])
def test_list_registries(capsys, what):
    from inner_tasks import SUITES
    from search.strategies import STRATEGIES
    from spaces import SPACES

    expected = {"spaces": SPACES, "suites": SUITES, "strategies": STRATEGIES}[what]
    assert main(["list", what, "--format", "json"]) == 0
    assert [d["name"] for d in json.loads(capsys.readouterr().out)] == list(expected)
    assert main(["list", what]) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in expected)


def test_a_run_killed_before_its_first_row_can_be_started_again(tmp_path, cache):
    run_dir = tmp_path / "run"
    st.Store(run_dir).close()  # what a kill right after creating the database leaves
    cfg = write_config(tmp_path / "tiny.toml", cache, generations=1)
    result = Run(load_config(cfg), run_dir).execute(progress=False)
    assert result.generations == 1 and result.evaluated == 4


def test_report_retrains_the_paper_points_for_the_learning_curves(finished, capsys):
    from search.evaluators import curve_steps
    from search.progress import ProgressBar
    from search.report import _paper_curves

    config = load_config(finished / "config.toml")
    curves = _paper_curves(config, get_space("adam"), ProgressBar(False, "report", 1))
    assert set(curves) == {"rosenbrock_d2"}
    lines = curves["rosenbrock_d2"]
    assert set(lines) == {"paper: default", "paper: kingma2014"}  # the init point first, then the others
    steps = curve_steps(budgets_of(config)[0].num_steps).tolist()
    for got_steps, values in lines.values():
        assert got_steps == steps and all(v is not None and v > 0 for v in values)
    assert main(["report", str(finished)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {finished / 'report' / 'report.md'}"
