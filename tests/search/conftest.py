"""Fixtures of the search tests that run the real CLI in subprocesses (as a user would)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.search._helpers import write_config

ROOT = Path(__file__).resolve().parents[2]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of an ``optsearch`` subprocess: this checkout on the path, no progress bars."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OPTSEARCH_NO_PROGRESS"] = "1"
    env.update(extra)
    return env


def run_cli(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "search", *args],
        cwd=ROOT,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


#: The subprocess runs: 12 generations of 4 on two toy tasks (long enough to be interrupted midway).
CLI_RUN = {"population": 4, "generations": 12, "tasks": ("rosenbrock_d2", "lj7")}


@pytest.fixture(scope="session")
def cli_cache(tmp_path_factory) -> Path:
    """A reference cache used only by subprocess runs (float32 drivers, like a user's)."""
    return tmp_path_factory.mktemp("cli-cache")


def cli_config(path: Path, cache: Path, evaluator: str = "local") -> Path:
    write_config(
        path,
        cache,
        population=CLI_RUN["population"],
        generations=CLI_RUN["generations"],
        evaluator=evaluator,
        tasks=CLI_RUN["tasks"],
        steps_scale=0.5,
        num_seeds=2,
    )
    return path


@pytest.fixture(scope="session")
def cli_reference_run(tmp_path_factory, cli_cache) -> Path:
    """An uninterrupted ``optsearch run --evaluator local`` in a subprocess: the run others must equal."""
    folder = tmp_path_factory.mktemp("cli-reference")
    cfg = cli_config(folder / "tiny.toml", cli_cache)
    proc = run_cli("run", str(cfg), "--run-dir", str(folder / "run"), "--evaluator", "local")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder / "run"
