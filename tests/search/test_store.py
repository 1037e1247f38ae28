"""The run directory: atomic files, checksummed checkpoints with fallback, the lock, SQLite in WAL mode."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from search import store as st
from search.store import Evaluation, RunLock, RunLockedError, Store

ROOT = Path(__file__).resolve().parents[2]


def _arrays(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "['es'].mean": rng.standard_normal(5),
        "['es'].C": rng.standard_normal((5, 5)),
        "n": np.int64(seed),
    }


def test_atomic_write_replaces_whole_files_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    st.atomic_write_text(target, "one")
    st.atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_checkpoint_round_trip_is_exact_and_pruned(tmp_path):
    for g in range(5):
        st.save_checkpoint(tmp_path, g, _arrays(g), {"config_hash": "h", "g": g}, keep=2)
    assert st.list_checkpoints(tmp_path) == [3, 4]
    generation, arrays, meta = st.load_checkpoint(tmp_path)
    assert generation == 4 and meta == {"config_hash": "h", "g": 4}
    for k, v in _arrays(4).items():
        np.testing.assert_array_equal(arrays[k], v)
        assert arrays[k].dtype == np.asarray(v).dtype


@pytest.mark.parametrize(
    "damage", ["truncate_npz", "flip_npz", "truncate_manifest", "edit_manifest", "delete_npz"]
)
def test_a_torn_checkpoint_is_detected_and_the_previous_one_used(tmp_path, damage):
    st.save_checkpoint(tmp_path, 0, _arrays(0), {"g": 0})
    st.save_checkpoint(tmp_path, 1, _arrays(1), {"g": 1})
    folder = tmp_path / st.CHECKPOINT_DIR
    npz, manifest = folder / "gen-000001.npz", folder / "gen-000001.json"
    if damage == "truncate_npz":
        npz.write_bytes(npz.read_bytes()[:100])
    elif damage == "flip_npz":
        data = bytearray(npz.read_bytes())
        data[len(data) // 2] ^= 0xFF
        npz.write_bytes(bytes(data))
    elif damage == "truncate_manifest":
        manifest.write_text(manifest.read_text()[:40])
    elif damage == "edit_manifest":
        doc = json.loads(manifest.read_text())
        doc["meta"]["g"] = 7
        manifest.write_text(json.dumps(doc))
    else:
        npz.unlink()
    with pytest.warns(RuntimeWarning, match="gen-000001 .* unusable"):
        generation, arrays, meta = st.load_checkpoint(tmp_path)
    assert generation == 0 and meta == {"g": 0}
    np.testing.assert_array_equal(arrays["['es'].C"], _arrays(0)["['es'].C"])


def test_checkpoints_never_pickle(tmp_path):
    with pytest.raises(ValueError, match="dtype object"):
        st.save_checkpoint(tmp_path, 0, {"obj": np.asarray([{"a": 1}], dtype=object)}, {})
    assert st.load_checkpoint(tmp_path) is None


def test_a_second_lock_on_the_same_run_dir_refuses(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RunLockedError, match=f"in use by pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
        assert st.lock_is_held(tmp_path)
    assert not st.lock_is_held(tmp_path)
    with RunLock(tmp_path):  # free again
        pass


def test_a_stale_lock_of_a_killed_process_is_taken_over_with_a_warning(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from search.store import RunLock
        RunLock({str(tmp_path)!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"pid {proc.pid}"):
            RunLock(tmp_path).acquire()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert json.loads((tmp_path / st.LOCK_NAME).read_text())["pid"] == proc.pid  # left behind by kill -9
    with pytest.warns(RuntimeWarning, match=f"stale lock of pid {proc.pid}"):
        lock = RunLock(tmp_path).acquire()
    lock.release()


def _evaluation(g: int, m: int, fitness: float) -> Evaluation:
    return Evaluation(g, m, "full", (0.1 * m, -1.0 / 3.0), {"lr": 0.1}, "s:{}", {"tasks": []}, fitness, "ok")


def test_store_is_wal_rejects_duplicates_and_reads_back_exact_floats(tmp_path):
    with Store(tmp_path) as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        store.add_evaluations("r", [_evaluation(0, 0, 1 / 3), _evaluation(0, 1, -2.5e-300)])
        with pytest.raises(sqlite3.IntegrityError):
            store.add_evaluations("r", [_evaluation(0, 1, 0.0)])
        rows = store.evaluations("r", 0)
    assert [r.fitness for r in rows] == [1 / 3, -2.5e-300]
    assert rows[0].x == (0.0, -1.0 / 3.0)


def test_readers_are_not_blocked_by_a_writer_holding_a_transaction(tmp_path):
    with Store(tmp_path) as store:
        store.create_run(
            "r",
            name="n",
            space="adam",
            family="adam",
            suite="toy",
            strategy="cma_es",
            seed=0,
            dimension=3,
            population_size=2,
            num_generations=1,
            config_toml="",
            config_hash="h",
            code_version="v",
        )
        store.add_evaluations("r", [_evaluation(0, 0, 1.0)])
        store.conn.execute("BEGIN IMMEDIATE")
        store.conn.execute(
            "INSERT INTO evaluations (run_id, generation, member, fidelity, x, point, signature, scores, fitness, "
            "status, error, wall_time, worker, attempts, created) VALUES "
            "('r', 0, 5, 'full', '[]', '{}', 's', '{}', 0.5, 'ok', '', 0, '', 1, 0)"
        )
        start = time.perf_counter()
        status = st.run_status(tmp_path)  # a separate read-only connection, mid-transaction
        assert time.perf_counter() - start < 5.0
        assert status["evaluations"] == 1 and status["best_fitness"] == 1.0
        store.conn.execute("COMMIT")
        assert st.run_status(tmp_path)["best_fitness"] == 0.5


def test_run_status_of_a_directory_without_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run.sqlite"):
        st.run_status(tmp_path)
