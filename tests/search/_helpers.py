"""Shared helpers of the search tests: tiny configs on the toy suite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

TINY = """
[run]
name = "{name}"
seed = {seed}

[space]
name = "adam"
init = "paper:default"

[suite]
name = "toy"
num_seeds = {num_seeds}
tasks = {tasks}
steps_scale = {steps_scale}

[strategy]
name = "{strategy}"
population_size = {population}
num_generations = {generations}
sigma = 0.5

[evaluator]
kind = "{evaluator}"
num_workers = 2

[fidelity]
enabled = {fidelity}

[output]
cache_dir = "{cache}"
report = {report}
curves = false
"""


def write_config(
    path: Path,
    cache: Path,
    *,
    name: str = "tiny",
    seed: int = 0,
    strategy: str = "cma_es",
    population: int = 4,
    generations: int = 3,
    evaluator: str = "local",
    fidelity: bool = False,
    report: bool = False,
    tasks: tuple[str, ...] = ("rosenbrock_d2",),
    steps_scale: float = 0.1,
    num_seeds: int = 1,
) -> Path:
    path.write_text(
        TINY.format(
            name=name,
            seed=seed,
            strategy=strategy,
            population=population,
            generations=generations,
            evaluator=evaluator,
            fidelity="true" if fidelity else "false",
            cache=str(cache),
            report="true" if report else "false",
            tasks="[" + ", ".join(f'"{t}"' for t in tasks) + "]",
            steps_scale=repr(float(steps_scale)),
            num_seeds=num_seeds,
        )
    )
    return path


def evaluation_table(run_dir: Path) -> dict[tuple[int, int, str], tuple[str, float, str]]:
    """(generation, member, fidelity) -> (x JSON, fitness, status) of every stored evaluation."""
    conn = sqlite3.connect(f"file:{run_dir / 'run.sqlite'}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT generation, member, fidelity, x, fitness, status FROM evaluations"
        ).fetchall()
    finally:
        conn.close()
    return {(g, m, f): (x, fit, s) for g, m, f, x, fit, s in rows}
