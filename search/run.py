"""The run loop: ask -> decode -> evaluate on the suite -> store -> tell -> checkpoint, every generation.

:class:`Run` owns one run directory (see :mod:`search.store` for its layout). Each generation ``g``:

1. ``ask`` with keys that are a pure function of ``(run.seed, g)``
   (:func:`search.strategies.generation_keys`), from the state checkpointed after ``g - 1``;
2. decode every vector to a point of the space, and split it into signature and numeric values;
3. evaluate the candidates the store does not hold yet (all of them, unless the run was interrupted in
   this generation), storing each one as soon as it finishes;
4. ``tell`` the fitness of all candidates (stored ones are read back: exactly the same floats);
5. write the generation's summary row, the checkpoint and ``best.json``.

So a run interrupted anywhere (``kill -9`` included) and resumed evaluates every candidate exactly once and
ends with the same best as an uninterrupted run (bit for bit on CPU: the programs that train a candidate
have a fixed shape, see :mod:`search.evaluators`).

Multi-fidelity (``[fidelity] enabled``): candidates are first scored on ``screen_fraction`` of every
budget (fidelity ``"screen"``, against tuned references at that budget); the best ``promote_fraction``
are scored at the full budget. The strategy is told the full-budget fitness of promoted candidates and,
for the others, their screening fitness shifted above the worst promoted one, so every promoted
candidate ranks first and the screening order is kept (successive halving with one rung).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from search import store as store_mod
from search.config import (
    Config,
    check_references,
    config_hash,
    config_to_toml,
    load_config,
    resolve_inside,
)
from search.evaluators import (
    Candidate,
    Outcome,
    Plan,
    TaskBudget,
    enable_compile_cache,
    make_evaluator,
    scale_budget,
)
from search.store import Evaluation, RunLock, Store
from search.strategies import (
    generation_keys,
    init_key,
    make_strategy,
    state_from_arrays,
    state_to_arrays,
)

__all__ = ["Run", "RunResult", "export_best", "code_version", "budgets_of", "RESUME_OVERRIDES"]

#: The only settings ``resume`` may change: where candidates are trained and how many generations.
RESUME_OVERRIDES = frozenset(
    {"evaluator.kind", "evaluator.address", "evaluator.num_workers", "strategy.num_generations"}
)


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What :meth:`Run.execute` returns."""

    run_id: str
    run_dir: Path
    generations: int
    best_fitness: float
    best_point: Mapping[str, Any] | None
    evaluated: int  # candidates trained by this call (not read back from the store)


def code_version() -> str:
    """``<package version>+<hash of the sources of optimizers, spaces, inner_tasks and search>``."""
    from search import version

    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in ("optimizers", "spaces", "inner_tasks", "search"):
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return f"{version()}+{digest.hexdigest()[:12]}"


def budgets_of(config: Config, fidelity: str = "full") -> tuple[TaskBudget, ...]:
    """The suite's tasks (the ``suite.tasks`` subset, if any) with budgets scaled for ``fidelity``."""
    from inner_tasks import get_suite

    suite = get_suite(config.suite.name)
    scale = config.suite.steps_scale
    if fidelity == "screen":
        scale *= config.fidelity.screen_fraction
    return tuple(
        scale_budget(entry, scale)
        for entry in suite.entries
        if not config.suite.tasks or entry.task.name in config.suite.tasks
    )


def _keys_data(config: Config) -> np.ndarray:
    import jax

    from inner_tasks import get_suite

    keys = get_suite(config.suite.name).keys(config.suite.num_seeds)
    return np.asarray(jax.random.key_data(keys), dtype=np.uint32)


class Run:
    """One search (see the module docstring). ``Run(config).execute()`` or ``Run.resume(dir).execute()``."""

    def __init__(
        self,
        config: Config,
        run_dir: Path | None = None,
        config_path: Path | None = None,
        *,
        evaluator: Any = None,
        _resuming: bool = False,
    ) -> None:
        check_references(config)
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else config.run_dir()
        self.config_path = config_path
        self._evaluator = evaluator
        self._resuming = _resuming
        if not _resuming and _holds_a_run(self.run_dir):
            raise FileExistsError(
                17,
                f"already holds a run (continue it with: optsearch resume {self.run_dir})",
                str(self.run_dir),
            )
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise NotADirectoryError(20, "run directory is a file", str(self.run_dir))

    @classmethod
    def resume(
        cls, run_dir: Path, overrides: Mapping[str, Any] | None = None, *, evaluator: Any = None
    ) -> Run:
        """Continue the run in ``run_dir`` from its newest intact checkpoint and its store."""
        run_dir = Path(run_dir)
        if not (run_dir / store_mod.DB_NAME).is_file() or not (run_dir / store_mod.CONFIG_NAME).is_file():
            raise FileNotFoundError(2, "not a run directory (no run.sqlite / config.toml)", str(run_dir))
        overrides = dict(overrides or {})
        for key in overrides:
            if key not in RESUME_OVERRIDES:
                raise ValueError(
                    f"{key}: cannot be changed on resume; allowed: {', '.join(sorted(RESUME_OVERRIDES))}"
                )
        overrides["run.dir"] = str(run_dir)
        config = load_config(run_dir / store_mod.CONFIG_NAME, overrides)
        return cls(config, run_dir, evaluator=evaluator, _resuming=True)

    # -- the loop ------------------------------------------------------------------------------------------

    def execute(self, progress: bool = True) -> RunResult:
        """Run (or continue) the search to ``strategy.num_generations``; returns the summary."""
        with RunLock(self.run_dir):
            store = Store(self.run_dir)
            try:
                return self._execute(store, progress)
            finally:
                store.close()

    def _execute(self, store: Store, progress: bool) -> RunResult:
        import jax

        from spaces import get_space

        config = self.config
        enable_compile_cache()  # the driver compiles the strategy and the tuned references
        space = get_space(config.space.name)
        strategy = make_strategy(space.dimension, config.strategy)
        chash = config_hash(config)
        run_id = self._open_run(store, space, chash)
        self.run_id = run_id

        mean = self._initial_mean(space)
        state = strategy.init(init_key(config.run.seed), mean)
        start = 0
        checkpoint = store_mod.load_checkpoint(self.run_dir)
        if checkpoint is not None:
            generation, arrays, meta = checkpoint
            if meta.get("config_hash") != chash:
                raise ValueError(
                    f"{self.run_dir}: checkpoint was written by another configuration "
                    f"(hash {meta.get('config_hash')!r}, config.toml gives {chash!r})"
                )
            state = state_from_arrays(state, arrays)
            start = generation + 1

        num_generations = config.strategy.num_generations
        x64 = bool(jax.config.jax_enable_x64)
        ui = _Progress(progress, num_generations, config.strategy.population_size)
        evaluator = self._evaluator
        evaluated = 0
        try:
            ui.start(start, self._best_so_far(store, run_id))
            plans = None
            for g in range(start, num_generations):
                if plans is None:
                    plans = self._plans(store, space, x64, ui)
                    if evaluator is None:
                        ui.message("starting evaluator")
                        evaluator = make_evaluator(config.evaluator, x64=x64)
                started = time.time()
                ask_key, tell_key = generation_keys(config.run.seed, g)
                x, asked = strategy.ask(ask_key, state)
                fitness, outcomes, n_new = self._evaluate_generation(
                    store, run_id, space, g, x, plans, evaluator, ui
                )
                evaluated += n_new
                state = strategy.tell(tell_key, asked, x, fitness)
                self._finish_generation(store, run_id, g, started, outcomes, strategy.mean(state))
                store_mod.save_checkpoint(
                    self.run_dir,
                    g,
                    state_to_arrays(state),
                    {
                        "config_hash": chash,
                        "run_id": run_id,
                        "strategy": strategy.name,
                        "dimension": space.dimension,
                        "population_size": strategy.population_size,
                    },
                    keep=config.output.keep_checkpoints,
                )
                self._write_best(store, run_id, space)
                ui.generation_done(g, self._best_so_far(store, run_id))
        except BaseException:
            store.update_run(run_id, state="interrupted")
            raise
        finally:
            ui.stop()
            if evaluator is not None and evaluator is not self._evaluator:
                evaluator.close()
        store.update_run(run_id, state="finished", num_generations=num_generations)
        self._write_best(store, run_id, space)
        if config.output.report and evaluated:
            from search.report import write_report

            write_report(self.run_dir, curves=config.output.curves, progress=progress)
        best = store_mod.best_evaluations(store.conn, run_id, 1)
        return RunResult(
            run_id=run_id,
            run_dir=self.run_dir,
            generations=len(store.completed_generations(run_id)),
            best_fitness=best[0].fitness if best else math.inf,
            best_point=best[0].point if best else None,
            evaluated=evaluated,
        )

    # -- pieces --------------------------------------------------------------------------------------------

    def _open_run(self, store: Store, space: Any, chash: str) -> str:
        config = self.config
        row = store.run_row()
        if row is None:  # a fresh run, or one killed before its first row: start it (again)
            store_mod.atomic_write_text(self.run_dir / store_mod.CONFIG_NAME, config_to_toml(config))
            run_id = f"{config.run.name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
            store.create_run(
                run_id,
                name=config.run.name,
                space=space.name,
                family=space.family,
                suite=config.suite.name,
                strategy=config.strategy.name,
                seed=config.run.seed,
                dimension=space.dimension,
                population_size=config.strategy.population_size,
                num_generations=config.strategy.num_generations,
                config_toml=config_to_toml(config),
                config_hash=chash,
                code_version=code_version(),
            )
            return run_id
        if row["config_hash"] != chash:
            raise ValueError(
                f"{self.run_dir}: config.toml no longer matches the run's configuration (edited by hand?)"
            )
        store.update_run(row["run_id"], state="running", num_generations=config.strategy.num_generations)
        text = config_to_toml(config)
        path = self.run_dir / store_mod.CONFIG_NAME
        if path.read_text(encoding="utf-8") != text:  # resume changed the evaluator or extended the run
            store_mod.atomic_write_text(path, text)
        return row["run_id"]

    def _initial_mean(self, space: Any) -> np.ndarray:
        init = self.config.space.init
        if init == "center":
            return np.zeros(space.dimension)
        return np.asarray(space.encode(space.paper_points[init.removeprefix("paper:")]), dtype=np.float64)

    def _reference(self, store: Store, budget: TaskBudget, keys: np.ndarray, ui: _Progress) -> Any:
        import jax

        from inner_tasks.scoring import Reference, tuned_reference

        keys_text = ",".join(str(int(v)) for v in keys.reshape(-1))
        fingerprint = budget.task.fingerprint()
        data = store.get_reference(fingerprint, budget.num_steps, budget.eval_every, keys_text)
        if data is not None:
            return Reference.from_json(data)
        ui.message(f"tuned reference: {budget.task.name} ({budget.num_steps} steps)")
        cache_dir = (
            resolve_inside(self.run_dir, self.config.output.cache_dir, key="output.cache_dir")
            if self.config.output.cache_dir
            else None
        )
        reference = tuned_reference(
            budget.task,
            budget.num_steps,
            jax.random.wrap_key_data(keys),
            cache_dir,
            eval_every=budget.eval_every,
        )
        store.put_reference(
            budget.task.name, fingerprint, budget.num_steps, budget.eval_every, keys_text, reference.to_json()
        )
        return reference

    def _plans(self, store: Store, space: Any, x64: bool, ui: _Progress) -> dict[str, Plan]:
        config = self.config
        keys = _keys_data(config)
        fidelities = ("screen", "full") if config.fidelity.enabled else ("full",)
        plans = {}
        for fidelity in fidelities:
            budgets = budgets_of(config, fidelity)
            references = tuple(self._reference(store, b, keys, ui) for b in budgets)
            plans[fidelity] = Plan(
                space=space.name,
                fidelity=fidelity,
                budgets=budgets,
                keys=keys,
                references=references,
                auc_weight=config.suite.auc_weight,
                path=config.evaluator.path,
                chunk_size=config.evaluator.chunk_size,
                x64=x64,
            )
        return plans

    def _evaluate_generation(
        self,
        store: Store,
        run_id: str,
        space: Any,
        g: int,
        x: np.ndarray,
        plans: Mapping[str, Plan],
        evaluator: Any,
        ui: _Progress,
    ) -> tuple[np.ndarray, list[Evaluation], int]:
        points = [space.decode(xi) for xi in x]
        signatures = [space.signature(p) for p in points]
        numerics = [space.numeric(p) for p in points]
        stored = {(e.fidelity, e.member): e for e in store.evaluations(run_id, g)}
        for e in stored.values():
            if e.x != tuple(float(v) for v in x[e.member]):
                raise RuntimeError(
                    f"resume: generation {g} member {e.member} was stored with other genes than the strategy "
                    "asks now (the random stream is not reproducible here)"
                )
        n_new = 0

        def run_fidelity(fidelity: str, members: Sequence[int]) -> dict[int, Evaluation]:
            nonlocal n_new
            have = {m: stored[(fidelity, m)] for m in members if (fidelity, m) in stored}
            todo = [Candidate(m, signatures[m], numerics[m]) for m in members if m not in have]
            if todo:

                def on_done(outcomes: list[Outcome]) -> None:
                    rows = [
                        Evaluation(
                            generation=g,
                            member=o.member,
                            fidelity=fidelity,
                            x=tuple(float(v) for v in x[o.member]),
                            point=points[o.member],
                            signature=signatures[o.member],
                            scores={"tasks": o.scores},
                            fitness=o.fitness,
                            status=o.status,
                            error=o.error,
                            wall_time=o.wall_time,
                            worker=o.worker,
                            attempts=o.attempts,
                        )
                        for o in outcomes
                    ]
                    store.add_evaluations(run_id, rows)
                    for r in rows:
                        have[r.member] = r
                    ui.candidate_done(fidelity, [r.fitness for r in rows if r.status != "failed"], len(rows))

                ui.candidates_start(g, fidelity, len(members), len(members) - len(todo))
                evaluator.evaluate(plans[fidelity], todo, progress=ui.in_flight, on_done=on_done)
                n_new += len(todo)
            return have

        population = list(range(len(points)))
        if "screen" not in plans:
            full = run_fidelity("full", population)
            fitness = np.asarray([full[m].fitness for m in population], dtype=np.float64)
            return fitness, [full[m] for m in population], n_new
        screen = run_fidelity("screen", population)
        order = sorted(population, key=lambda m: (screen[m].fitness, m))
        keep = max(1, math.ceil(self.config.fidelity.promote_fraction * len(population)))
        promoted = sorted(order[:keep])
        full = run_fidelity("full", promoted)
        fitness = np.empty(len(population), dtype=np.float64)
        worst_full = max(full[m].fitness for m in promoted)
        rest = [m for m in population if m not in full]
        if rest:
            low = min(screen[m].fitness for m in rest)
            for m in rest:
                fitness[m] = worst_full + 1.0 + (screen[m].fitness - low)
        for m in promoted:
            fitness[m] = full[m].fitness
        rows = [full[m] if m in full else screen[m] for m in population]
        return fitness, rows, n_new

    def _finish_generation(
        self,
        store: Store,
        run_id: str,
        g: int,
        started: float,
        rows: Sequence[Evaluation],
        mean_x: np.ndarray,
    ) -> None:
        full = [r.fitness for r in rows if r.fidelity == "full" and r.status != "failed"]
        best_so_far = self._best_so_far(store, run_id)
        finished = time.time()
        store.add_generation(
            run_id,
            g,
            started=started,
            finished=finished,
            seconds=finished - started,
            best=min(full) if full else None,
            median=float(np.median(full)) if full else None,
            mean=float(np.mean(full)) if full else None,
            best_so_far=best_so_far,
            num_ok=sum(r.status == "ok" for r in rows),
            num_diverged=sum(r.status == "diverged" for r in rows),
            num_failed=sum(r.status == "failed" for r in rows),
            mean_x=_json_list(mean_x),
        )

    @staticmethod
    def _best_so_far(store: Store, run_id: str) -> float | None:
        best = store_mod.best_evaluations(store.conn, run_id, 1)
        return best[0].fitness if best else None

    def _write_best(self, store: Store, run_id: str, space: Any) -> None:
        best = store_mod.best_evaluations(store.conn, run_id, 1)
        if best:
            _export(self.run_dir / "best.json", best[0], space, run_id, self.config)


def _holds_a_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` has a store with a run in it (a store without one is a run killed at birth)."""
    if not (run_dir / store_mod.DB_NAME).is_file():
        return False
    try:
        conn = store_mod.open_readonly(run_dir)
        try:
            return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] > 0
        finally:
            conn.close()
    except Exception:  # noqa: BLE001 - unreadable: treat as taken, never overwrite it
        return True


def _json_list(x: np.ndarray) -> str:
    import json

    return json.dumps([float(v) for v in np.asarray(x).reshape(-1)])


def _export(path: Path, evaluation: Evaluation, space: Any, run_id: str, config: Config) -> Path:
    import optimizers

    spec = space.to_spec(evaluation.point)
    checked = optimizers.validate_spec(spec, fill_defaults=True)
    provenance = store_mod.with_checksum(
        {
            "run_id": run_id,
            "generation": evaluation.generation,
            "member": evaluation.member,
            "fitness": evaluation.fitness,
            "status": evaluation.status,
            "space": space.name,
            "point": evaluation.point,
            "signature": evaluation.signature,
            "suite": config.suite.name,
            "num_seeds": config.suite.num_seeds,
            "code_version": code_version(),
            "spec": _plain(checked),
        }
    )
    return optimizers.export(spec, path, provenance=provenance)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def export_best(run_dir: Path, output: Path, rank: int = 1) -> Path:
    """Export the ``rank``-th best full-budget optimizer of a run (1 = best) to ``output``."""
    from spaces import get_space

    if rank < 1:
        raise ValueError(f"--rank: must be >= 1, got {rank}")
    conn = store_mod.open_readonly(Path(run_dir))
    try:
        run = conn.execute("SELECT run_id, config_toml FROM runs ORDER BY created LIMIT 1").fetchone()
        if run is None:
            raise FileNotFoundError(2, "run directory holds no run yet", str(run_dir))
        ranked = store_mod.best_evaluations(conn, run["run_id"], rank)
    finally:
        conn.close()
    if len(ranked) < rank:
        raise ValueError(f"--rank: the run has {len(ranked)} successful evaluations, fewer than {rank}")
    import tomllib

    from search.config import parse_config

    config = parse_config(tomllib.loads(run["config_toml"]))
    return _export(Path(output), ranked[rank - 1], get_space(config.space.name), run["run_id"], config)


# --- progress ---------------------------------------------------------------------------------------------


class _Progress:
    """rich progress bars on stderr: generations, candidates done / in flight, best so far, ETA."""

    def __init__(self, enabled: bool, num_generations: int, population_size: int) -> None:
        self.enabled = enabled and os.environ.get("OPTSEARCH_NO_PROGRESS", "") == ""
        self.num_generations = num_generations
        self.population_size = population_size
        self.best: float | None = None
        self._progress = None

    def start(self, done: int, best: float | None) -> None:
        self.best = best
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        self._gen = self._progress.add_task(
            "generations", total=self.num_generations, completed=done, info=self._best_text()
        )
        self._cand = self._progress.add_task("candidates", total=self.population_size, info="")

    def _best_text(self) -> str:
        return "best so far: -" if self.best is None else f"best so far: {self.best:.4g}"

    def message(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._cand, description=text)

    def candidates_start(self, g: int, fidelity: str, total: int, done: int) -> None:
        if self._progress is not None:
            label = f"generation {g}" + (" (screen)" if fidelity == "screen" else "")
            self._progress.reset(self._cand, total=total, completed=done, description=label, info="")

    def in_flight(self, done: int, in_flight: int, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._cand, info=f"{in_flight} in flight")

    def candidate_done(self, fidelity: str, fitnesses: Sequence[float], count: int) -> None:
        if fidelity == "full" and fitnesses:
            low = min(fitnesses)
            self.best = low if self.best is None else min(self.best, low)
        if self._progress is not None:
            self._progress.advance(self._cand, count)
            self._progress.update(self._gen, info=self._best_text())

    def generation_done(self, g: int, best: float | None) -> None:
        self.best = best
        if self._progress is not None:
            self._progress.update(self._gen, completed=g + 1, info=self._best_text())

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
