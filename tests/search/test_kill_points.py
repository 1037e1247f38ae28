"""``kill -9`` of a real ``optsearch run`` subprocess at many distinct points, then ``optsearch resume``.

Each case starts ``python -m search run`` (the tiny two-task config of ``conftest.CLI_RUN``: 12 generations of
4, local evaluator) and kills it with SIGKILL at one precise point, chosen with the fault-injection hook of
:func:`search.store.fault_point` (``OPTSEARCH_FAULT_POINT=NAME:COUNT``: the COUNT-th time the process reaches
NAME it sends itself SIGKILL), or at a random moment. The test checks that the kill landed where it was
meant to (the files and rows left behind), then runs ``optsearch resume`` (as often as needed) and compares
the result with the uninterrupted reference run of the same config:

* the evaluations table: every ``(generation, member)`` exactly once, same genes, fitness and status, bit for
  bit;
* the generation summaries (best, median, mean, counts, mean genes);
* the final strategy state (the newest checkpoint's arrays);
* ``best.json`` (hyperparameters and the provenance's fitness).
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from search import store as st
from tests.search._helpers import evaluation_table
from tests.search.conftest import CLI_RUN, ROOT, cli_config, cli_env, run_cli

pytestmark = pytest.mark.slow

POPULATION = CLI_RUN["population"]
GENERATIONS = CLI_RUN["generations"]
TOTAL = POPULATION * GENERATIONS


def _stem(g: int) -> str:
    return f"gen-{g:06d}"


def _count(run_dir: Path, table: str = "evaluations") -> int:
    try:
        conn = sqlite3.connect(f"file:{run_dir / st.DB_NAME}?mode=ro", uri=True, timeout=1.0)
        try:
            return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _generation_rows(run_dir: Path) -> list[tuple]:
    """The generation summaries without their timestamps."""
    conn = sqlite3.connect(f"file:{run_dir / st.DB_NAME}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT generation, best, median, mean, best_so_far, num_ok, num_diverged, num_failed, mean_x "
            "FROM generations ORDER BY generation"
        ).fetchall()
    finally:
        conn.close()


def _temp_files(folder: Path, name: str) -> list[Path]:
    """The temporary files :func:`search.store.atomic_write_bytes` leaves when killed while writing ``name``."""
    return sorted(folder.glob(f".{name}.*.tmp")) if folder.is_dir() else []


def _start(cfg: Path, run_dir: Path, fault: str = "") -> subprocess.Popen:
    env = cli_env(**({st.FAULT_ENV: fault} if fault else {}))
    return subprocess.Popen(
        [sys.executable, "-m", "search", "run", str(cfg), "--run-dir", str(run_dir), "--evaluator", "local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _killed_by_fault(cfg: Path, run_dir: Path, fault: str) -> None:
    """``optsearch run`` with the fault point armed; it must die by SIGKILL."""
    proc = _start(cfg, run_dir, fault)
    try:
        _, err = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, (
        f"{fault}: not killed there (rc {proc.returncode}): {err[-3000:]}"
    )


def _killed_at_random(cfg: Path, run_dir: Path, rng: random.Random) -> int:
    """``optsearch run`` killed after a random number of stored evaluations plus a random delay.

    The delay is short: with its programs in the compilation cache the tiny run's last generations take
    well under a second, and the kill must land before it finishes.
    """
    target = rng.randrange(1, TOTAL - POPULATION)
    delay = rng.uniform(0.0, 0.02)
    proc = _start(cfg, run_dir)
    try:
        deadline = time.monotonic() + 400
        while _count(run_dir) < target:
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return target


def _resume(run_dir: Path, fault: str = "") -> subprocess.CompletedProcess:
    extra = {st.FAULT_ENV: fault} if fault else {}
    return run_cli("resume", str(run_dir), "--evaluator", "local", **extra)


def _assert_equals_reference(run_dir: Path, reference: Path) -> None:
    table = evaluation_table(run_dir)
    assert len(table) == TOTAL  # the primary key forbids a second copy; none is missing
    assert table == evaluation_table(reference)  # same genes, same fitness, same status, bit for bit
    assert _generation_rows(run_dir) == _generation_rows(reference)
    status, expected = st.run_status(run_dir), st.run_status(reference)
    assert status["state"] == "finished" and status["generations"] == GENERATIONS
    assert status["best_fitness"] == expected["best_fitness"]
    assert status["best_point"] == expected["best_point"]
    final, ref_final = st.load_checkpoint(run_dir), st.load_checkpoint(reference)
    assert final is not None and ref_final is not None and final[0] == ref_final[0] == GENERATIONS - 1
    assert sorted(final[1]) == sorted(ref_final[1])
    for name in final[1]:
        np.testing.assert_array_equal(final[1][name], ref_final[1][name], err_msg=name)
    best = json.loads((run_dir / "best.json").read_text())
    ref_best = json.loads((reference / "best.json").read_text())
    assert best["hyperparameters"] == ref_best["hyperparameters"]
    assert best["provenance"]["fitness"] == ref_best["provenance"]["fitness"]
    assert st.checksum_ok(best["provenance"])


# --- what each fault point must have left behind --------------------------------------------------------------


def _left_at_birth(run_dir: Path) -> None:
    assert (run_dir / st.CONFIG_NAME).is_file() and _count(run_dir, "runs") == 0
    assert _count(run_dir) == 0


def _left_mid_generation(evaluations: int) -> Callable[[Path], None]:
    def check(run_dir: Path) -> None:
        assert _count(run_dir) == evaluations
        assert _count(run_dir, "generations") == (evaluations - 1) // POPULATION  # its generation unfinished

    return check


def _left_after_generation_row(g: int) -> Callable[[Path], None]:
    def check(run_dir: Path) -> None:
        assert _count(run_dir, "generations") == g + 1 and _count(run_dir) == (g + 1) * POPULATION
        assert max(st.list_checkpoints(run_dir)) == g - 1  # the row is committed, the checkpoint is not

    return check


def _left_torn_temp(g: int, suffix: str) -> Callable[[Path], None]:
    def check(run_dir: Path) -> None:
        folder = run_dir / st.CHECKPOINT_DIR
        temps = _temp_files(folder, f"{_stem(g)}{suffix}")
        assert len(temps) == 1, temps
        assert not (folder / f"{_stem(g)}.json").exists()
        assert max(st.list_checkpoints(run_dir)) == g - 1
        if suffix == ".npz":  # half written: not a valid archive
            assert not (folder / f"{_stem(g)}.npz").exists()
            assert temps[0].stat().st_size < (folder / f"{_stem(g - 1)}.npz").stat().st_size
        else:  # the manifest complete but not renamed; the arrays already in place
            assert (folder / f"{_stem(g)}.npz").is_file()
            assert st.checksum_ok(json.loads(temps[0].read_text()))

    return check


def _left_checkpoint_done(g: int) -> Callable[[Path], None]:
    def check(run_dir: Path) -> None:
        assert max(st.list_checkpoints(run_dir)) == g
        assert _count(run_dir, "generations") == g + 1
        best = json.loads((run_dir / "best.json").read_text())
        assert best["provenance"]["generation"] <= g  # best.json is still the one of an earlier generation

    return check


#: (case id, OPTSEARCH_FAULT_POINT, check of what the kill left, damage done before resuming)
FAULT_CASES = [
    ("at-birth-config-written", "renamed:config.toml:1", _left_at_birth, None),
    ("mid-generation-0-after-3-evaluations", "evaluations:3", _left_mid_generation(3), None),
    ("mid-generation-5-after-2-evaluations", "evaluations:22", _left_mid_generation(22), None),
    ("after-generation-row-before-checkpoint", "generation:4", _left_after_generation_row(3), None),
    ("mid-checkpoint-arrays-write", f"write:{_stem(5)}.npz:1", _left_torn_temp(5, ".npz"), None),
    ("checkpoint-manifest-not-renamed", f"rename:{_stem(7)}.json:1", _left_torn_temp(7, ".json"), None),
    ("checkpoint-done-before-best-json", f"renamed:{_stem(8)}.json:1", _left_checkpoint_done(8), None),
    ("last-evaluation-stored", f"evaluations:{TOTAL}", _left_mid_generation(TOTAL), None),
    (
        "newest-checkpoint-torn-on-disk",
        f"renamed:{_stem(9)}.json:1",
        _left_checkpoint_done(9),
        "truncate-newest-npz",
    ),
]


@pytest.mark.parametrize(
    ("fault", "check", "damage"), [c[1:] for c in FAULT_CASES], ids=[c[0] for c in FAULT_CASES]
)
def test_kill_9_at_a_fault_point_then_resume_equals_the_uninterrupted_run(
    tmp_path, cli_cache, cli_reference_run, fault, check, damage
):
    cfg = cli_config(tmp_path / "tiny.toml", cli_cache)
    run_dir = tmp_path / "run"
    _killed_by_fault(cfg, run_dir, fault)
    check(run_dir)
    assert (run_dir / st.LOCK_NAME).exists() and not st.lock_is_held(run_dir)  # a stale lock
    if damage == "truncate-newest-npz":  # a torn file on disk (e.g. a lost page): detected, previous one used
        newest = max(st.list_checkpoints(run_dir))
        npz = run_dir / st.CHECKPOINT_DIR / f"{_stem(newest)}.npz"
        npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    resumed = _resume(run_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "stale lock" in resumed.stderr
    if damage == "truncate-newest-npz":
        assert f"checkpoint {_stem(newest)}" in resumed.stderr and "unusable" in resumed.stderr
    _assert_equals_reference(run_dir, cli_reference_run)


def test_killed_again_while_resuming_then_resumed_equals_the_uninterrupted_run(
    tmp_path, cli_cache, cli_reference_run
):
    """Two kills in a row: the run mid-generation 2, then its resume mid-generation 6."""
    cfg = cli_config(tmp_path / "tiny.toml", cli_cache)
    run_dir = tmp_path / "run"
    _killed_by_fault(cfg, run_dir, "evaluations:10")
    assert _count(run_dir) == 10
    second = _resume(run_dir, "evaluations:15")  # counts restart in the new process: 10 + 15 stored
    assert second.returncode == -signal.SIGKILL, second.stderr[-3000:]
    assert _count(run_dir) == 25
    third = _resume(run_dir)
    assert third.returncode == 0, third.stderr[-3000:]
    _assert_equals_reference(run_dir, cli_reference_run)


@pytest.mark.parametrize("seed", [1])
def test_kill_9_at_a_random_moment_then_resume_equals_the_uninterrupted_run(
    tmp_path, cli_cache, cli_reference_run, seed
):
    cfg = cli_config(tmp_path / "tiny.toml", cli_cache)
    run_dir = tmp_path / "run"
    target = _killed_at_random(cfg, run_dir, random.Random(seed))
    done = _count(run_dir)
    assert target <= done < TOTAL, "the kill must land before the run finished"
    resumed = _resume(run_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _assert_equals_reference(run_dir, cli_reference_run)
