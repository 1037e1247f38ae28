"""``kill -9`` in the middle of a real ``optsearch run`` subprocess, then ``optsearch resume``: every
evaluation exactly once and the same best, bit for bit, as an uninterrupted run."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from search import store as st
from search.cli import main
from search.report import write_report
from tests.search._helpers import evaluation_table
from tests.search.conftest import CLI_RUN, ROOT, cli_config, cli_env, run_cli

pytestmark = pytest.mark.slow


def _count(run_dir) -> int:
    try:
        conn = sqlite3.connect(f"file:{run_dir / 'run.sqlite'}?mode=ro", uri=True, timeout=1.0)
        try:
            return conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def test_kill_9_mid_run_then_resume_gives_every_evaluation_once_and_the_same_best(
    tmp_path, cli_cache, cli_reference_run, capsys
):
    total = CLI_RUN["population"] * CLI_RUN["generations"]
    cfg = cli_config(tmp_path / "tiny.toml", cli_cache)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "search", "run", str(cfg), "--run-dir", str(run_dir), "--evaluator", "local"],
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 500
        checked_status = False
        while _count(run_dir) < 6:
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.monotonic() < deadline
            if not checked_status and _count(run_dir) >= 1:
                assert main(["status", str(run_dir), "--format", "json"]) == 0  # while it is written
                assert json.loads(capsys.readouterr().out)["state"] == "running"
                checked_status = True
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = _count(run_dir)
    assert 6 <= done < total, "the kill must land before the run finished"
    status = st.run_status(run_dir)
    assert status["state"] == "interrupted"  # its row says running, but nobody holds the lock
    assert (run_dir / st.LOCK_NAME).exists()  # a stale lock, left by kill -9
    write_report(run_dir, curves=False)  # a report of an interrupted run works
    assert (run_dir / "report" / "report.md").is_file()

    resumed = run_cli("resume", str(run_dir), "--evaluator", "local")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "stale lock" in resumed.stderr

    table = evaluation_table(run_dir)
    reference = evaluation_table(cli_reference_run)
    assert len(table) == total  # the primary key forbids a second copy; none is missing
    assert table == reference  # same genes, same fitness, bit for bit
    assert st.run_status(run_dir)["best_fitness"] == st.run_status(cli_reference_run)["best_fitness"]
    best = json.loads((run_dir / "best.json").read_text())
    assert (
        best["hyperparameters"]
        == json.loads((cli_reference_run / "best.json").read_text())["hyperparameters"]
    )
