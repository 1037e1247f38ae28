"""The run directory: SQLite store (WAL), crash-safe files, checkpoints and the lock.

A run directory holds::

    run.sqlite        runs, generations, evaluations, tuned_references (WAL mode)
    config.toml       the resolved config
    lock              {"pid": ..., "host": ...}; held with flock(2) while a process runs the search
    checkpoints/      gen-000007.npz (strategy state, named arrays) + gen-000007.json (manifest)
    best.json         the best optimizer (optimizers.export format, provenance with a checksum)
    report/           plots and report.md

Crash safety (issue 10): every file is written to a temporary file in the same directory, fsynced and
renamed over the target, then the directory is fsynced. A checkpoint's manifest records the SHA-256 of its
``.npz`` and of its own content; :func:`load_checkpoint` verifies both and falls back to the previous
checkpoint, with a warning, when one is torn. Evaluations are committed to SQLite as they finish and have
the primary key ``(run_id, generation, member, fidelity)``, so none can be stored twice; a resumed run
re-asks the same candidates (the random stream is a function of ``(seed, generation)``) and trains only
those the store lacks.

Readers (``optsearch status``/``report``) open the database read-only; in WAL mode they never block the
writer. Nothing here pickles: arrays go to ``.npz`` with ``allow_pickle=False``, everything else is JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import io
import json
import math
import os
import signal
import socket
import sqlite3
import tempfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DB_NAME",
    "CONFIG_NAME",
    "LOCK_NAME",
    "CHECKPOINT_DIR",
    "Store",
    "Evaluation",
    "RunLock",
    "RunLockedError",
    "atomic_write_bytes",
    "atomic_write_text",
    "save_checkpoint",
    "load_checkpoint",
    "list_checkpoints",
    "list_runs",
    "run_status",
    "open_readonly",
    "FAULT_ENV",
    "fault_point",
]

DB_NAME = "run.sqlite"
CONFIG_NAME = "config.toml"
LOCK_NAME = "lock"
CHECKPOINT_DIR = "checkpoints"
SCHEMA_VERSION = 1
CHECKPOINT_FORMAT = "optsearch-checkpoint"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    state TEXT NOT NULL,
    space TEXT NOT NULL,
    family TEXT NOT NULL,
    suite TEXT NOT NULL,
    strategy TEXT NOT NULL,
    seed INTEGER NOT NULL,
    dimension INTEGER NOT NULL,
    population_size INTEGER NOT NULL,
    num_generations INTEGER NOT NULL,
    config_toml TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    code_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS generations (
    run_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    started REAL NOT NULL,
    finished REAL NOT NULL,
    seconds REAL NOT NULL,
    best REAL,
    median REAL,
    mean REAL,
    best_so_far REAL,
    num_ok INTEGER NOT NULL,
    num_diverged INTEGER NOT NULL,
    num_failed INTEGER NOT NULL,
    mean_x TEXT NOT NULL,
    PRIMARY KEY (run_id, generation)
);
CREATE TABLE IF NOT EXISTS evaluations (
    run_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    member INTEGER NOT NULL,
    fidelity TEXT NOT NULL,
    x TEXT NOT NULL,
    point TEXT NOT NULL,
    signature TEXT NOT NULL,
    scores TEXT NOT NULL,
    fitness REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'diverged', 'failed')),
    error TEXT NOT NULL DEFAULT '',
    wall_time REAL NOT NULL,
    worker TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (run_id, generation, member, fidelity)
);
CREATE TABLE IF NOT EXISTS tuned_references (
    task TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    num_steps INTEGER NOT NULL,
    eval_every INTEGER NOT NULL,
    keys TEXT NOT NULL,
    data TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (fingerprint, num_steps, eval_every, keys)
);
"""


# --- fault injection (tests only) ------------------------------------------------------------------------

#: ``NAME:COUNT`` in this environment variable makes :func:`fault_point` ``NAME`` kill the process (SIGKILL)
#: the COUNT-th time it is reached in that process. Unset (always, outside the crash tests): no effect.
FAULT_ENV = "OPTSEARCH_FAULT_POINT"
_fault_hits: dict[str, int] = {}


def fault_point(name: str) -> None:
    """A named place where the crash tests kill this process with ``kill -9`` (see :data:`FAULT_ENV`)."""
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    target, _, count = wanted.rpartition(":")
    if target != name:
        return
    _fault_hits[name] = _fault_hits.get(name, 0) + 1
    if str(_fault_hits[name]) == count.strip():
        os.kill(os.getpid(), signal.SIGKILL)


# --- crash-safe files ---------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync, rename, fsync dir."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            half = len(data) // 2
            handle.write(data[:half])
            handle.flush()
            fault_point(f"write:{path.name}")  # a torn temporary file
            handle.write(data[half:])
            handle.flush()
            os.fsync(handle.fileno())
        fault_point(f"rename:{path.name}")  # complete, not yet in place
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fault_point(f"renamed:{path.name}")
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def with_checksum(document: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` plus ``"sha256"``: the hash of its canonical JSON without that key."""
    body = {k: v for k, v in document.items() if k != "sha256"}
    return {**body, "sha256": sha256_bytes(_canonical(body))}


def checksum_ok(document: Mapping[str, Any]) -> bool:
    """Whether ``document["sha256"]`` matches its content (see :func:`with_checksum`)."""
    body = {k: v for k, v in document.items() if k != "sha256"}
    try:
        return document.get("sha256") == sha256_bytes(_canonical(body))
    except (TypeError, ValueError):
        return False


# --- checkpoints ----------------------------------------------------------------------------------------------


def _checkpoint_stem(generation: int) -> str:
    return f"gen-{generation:06d}"


def list_checkpoints(run_dir: Path) -> list[int]:
    """The generations with a checkpoint manifest, ascending (not verified)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    out = []
    for path in folder.glob("gen-*.json"):
        with contextlib.suppress(ValueError):
            out.append(int(path.stem.removeprefix("gen-")))
    return sorted(out)


def save_checkpoint(
    run_dir: Path, generation: int, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], keep: int = 3
) -> Path:
    """Write the state after ``generation`` (named arrays + JSON ``meta``); keep the newest ``keep``."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    stem = _checkpoint_stem(generation)
    plain = {k: np.asarray(v) for k, v in arrays.items()}
    for name, value in plain.items():
        if value.dtype.hasobject:
            raise ValueError(f"checkpoint: array {name} has dtype object (it would be pickled); refused")
    buffer = io.BytesIO()
    np.savez(buffer, **plain)
    data = buffer.getvalue()
    atomic_write_bytes(folder / f"{stem}.npz", data)
    manifest = with_checksum(
        {
            "format": CHECKPOINT_FORMAT,
            "version": 1,
            "generation": int(generation),
            "npz": f"{stem}.npz",
            "npz_sha256": sha256_bytes(data),
            "meta": dict(meta),
            "written": time.time(),
        }
    )
    path = atomic_write_text(folder / f"{stem}.json", json.dumps(manifest, indent=1, allow_nan=False))
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        for suffix in (".json", ".npz"):
            (folder / f"{_checkpoint_stem(old)}{suffix}").unlink(missing_ok=True)
    return path


def _read_checkpoint(folder: Path, generation: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    stem = _checkpoint_stem(generation)
    try:
        manifest = json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"manifest unreadable ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != CHECKPOINT_FORMAT:
        raise ValueError("not a checkpoint manifest")
    if not checksum_ok(manifest):
        raise ValueError("manifest checksum mismatch (torn or edited file)")
    if manifest.get("generation") != generation or manifest.get("npz") != f"{stem}.npz":
        raise ValueError("manifest names another generation")
    try:
        data = (folder / f"{stem}.npz").read_bytes()
    except OSError as err:
        raise ValueError(f"arrays unreadable ({err.strerror})") from None
    if sha256_bytes(data) != manifest.get("npz_sha256"):
        raise ValueError("arrays checksum mismatch (torn file)")
    try:  # never unpickles (allow_pickle=False); any malformed content is one ValueError
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with loaded as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (
        ValueError,
        OSError,
        EOFError,
        KeyError,
        NotImplementedError,
        zipfile.BadZipFile,
        zlib.error,
    ) as err:
        raise ValueError(f"arrays unreadable ({type(err).__name__}: {err})") from None
    return arrays, manifest["meta"]


def load_checkpoint(run_dir: Path) -> tuple[int, dict[str, np.ndarray], dict[str, Any]] | None:
    """The newest intact checkpoint as ``(generation, arrays, meta)``, or ``None`` if there is none.

    A torn or corrupt checkpoint is skipped with a ``RuntimeWarning`` naming it, and the previous one used.
    """
    folder = Path(run_dir) / CHECKPOINT_DIR
    for generation in reversed(list_checkpoints(run_dir)):
        try:
            arrays, meta = _read_checkpoint(folder, generation)
        except ValueError as err:
            warnings.warn(
                f"checkpoint {_checkpoint_stem(generation)} in {folder} is unusable: {err}; "
                "falling back to the previous checkpoint",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        return generation, arrays, meta
    return None


# --- the lock --------------------------------------------------------------------------------------------------


class RunLockedError(FileExistsError):
    """Another live process holds the run directory."""


class RunLock:
    """An exclusive lock on a run directory: ``flock`` on ``run_dir/lock``, which records the owner.

    The kernel drops a ``flock`` when its process dies (even by ``kill -9``), so a lock file whose lock is
    free is stale: it is taken over with a warning naming the previous owner.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            owner = _read_owner(self.path)
            raise RunLockedError(
                f"run directory {self.path.parent} is in use by pid {owner.get('pid', '?')} on "
                f"{owner.get('host', '?')} (lock file {self.path}); wait for it to finish or stop it"
            ) from None
        previous = _read_owner(self.path)
        if previous.get("pid") not in (None, os.getpid()):
            warnings.warn(
                f"removed a stale lock of pid {previous.get('pid')} on {previous.get('host', '?')} "
                f"in {self.path.parent} (that process is gone)",
                RuntimeWarning,
                stacklevel=2,
            )
        owner = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, owner.encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _read_owner(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def lock_is_held(run_dir: Path) -> bool:
    """Whether a live process holds ``run_dir``'s lock (checked without taking it for long)."""
    path = Path(run_dir) / LOCK_NAME
    if not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


# --- SQLite ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """One stored evaluation (a row of ``evaluations``)."""

    generation: int
    member: int
    fidelity: str
    x: tuple[float, ...]
    point: dict[str, Any]
    signature: str
    scores: dict[str, Any]
    fitness: float
    status: str
    error: str = ""
    wall_time: float = 0.0
    worker: str = ""
    attempts: int = 1

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Evaluation:
        return cls(
            generation=int(row["generation"]),
            member=int(row["member"]),
            fidelity=row["fidelity"],
            x=tuple(json.loads(row["x"])),
            point=json.loads(row["point"]),
            signature=row["signature"],
            scores=json.loads(row["scores"]),
            fitness=float(row["fitness"]),
            status=row["status"],
            error=row["error"],
            wall_time=float(row["wall_time"]),
            worker=row["worker"],
            attempts=int(row["attempts"]),
        )


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
    else:
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def open_readonly(run_dir: Path) -> sqlite3.Connection:
    """A read-only connection to ``run_dir/run.sqlite`` (never blocks the writer: WAL mode).

    Raises ``FileNotFoundError`` naming the directory when it holds no run.
    """
    path = Path(run_dir) / DB_NAME
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "not a run directory (no run.sqlite)", str(run_dir))
    return _connect(path, readonly=True)


class Store:
    """The writer's handle on ``run.sqlite`` (one per run process)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / DB_NAME
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.conn = _connect(self.path, readonly=False)
        mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"{self.path}: could not switch SQLite to WAL mode (got {mode})")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.executescript(_SCHEMA)
        self.conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # runs

    def create_run(self, run_id: str, **fields: Any) -> None:
        now = time.time()
        row = {"run_id": run_id, "created": now, "updated": now, "state": "running", **fields}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.transaction() as conn:
            conn.execute(f"INSERT INTO runs ({cols}) VALUES ({marks})", tuple(row.values()))

    def run_row(self) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM runs ORDER BY created LIMIT 1").fetchone()
        return dict(row) if row is not None else None

    def update_run(self, run_id: str, **fields: Any) -> None:
        fields = {**fields, "updated": time.time()}
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction() as conn:
            conn.execute(f"UPDATE runs SET {sets} WHERE run_id = ?", (*fields.values(), run_id))

    # evaluations

    def add_evaluations(self, run_id: str, evaluations: Sequence[Evaluation]) -> None:
        """Insert evaluations in one transaction (a duplicate key is an error: nothing is stored twice)."""
        now = time.time()
        rows = [
            (
                run_id,
                e.generation,
                e.member,
                e.fidelity,
                json.dumps([float(v) for v in e.x]),
                _json(e.point),
                e.signature,
                _json(e.scores),
                float(e.fitness),
                e.status,
                e.error,
                float(e.wall_time),
                e.worker,
                int(e.attempts),
                now,
            )
            for e in evaluations
        ]
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO evaluations (run_id, generation, member, fidelity, x, point, signature, scores, "
                "fitness, status, error, wall_time, worker, attempts, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        fault_point("evaluations")  # committed, the generation not yet finished

    def evaluations(self, run_id: str, generation: int | None = None) -> list[Evaluation]:
        if generation is None:
            rows = self.conn.execute(
                "SELECT * FROM evaluations WHERE run_id = ? ORDER BY generation, fidelity, member", (run_id,)
            )
        else:
            rows = self.conn.execute(
                "SELECT * FROM evaluations WHERE run_id = ? AND generation = ? ORDER BY fidelity, member",
                (run_id, generation),
            )
        return [Evaluation.from_row(r) for r in rows]

    # generations

    def add_generation(self, run_id: str, generation: int, **fields: Any) -> None:
        row = {"run_id": run_id, "generation": generation, **fields}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.transaction() as conn:
            conn.execute(f"INSERT OR REPLACE INTO generations ({cols}) VALUES ({marks})", tuple(row.values()))
        fault_point("generation")  # the summary row committed, the checkpoint not yet written

    def completed_generations(self, run_id: str) -> list[int]:
        rows = self.conn.execute(
            "SELECT generation FROM generations WHERE run_id = ? ORDER BY generation", (run_id,)
        )
        return [int(r[0]) for r in rows]

    # tuned references

    def get_reference(self, fingerprint: str, num_steps: int, eval_every: int, keys: str) -> dict | None:
        row = self.conn.execute(
            "SELECT data FROM tuned_references WHERE fingerprint = ? AND num_steps = ? AND eval_every = ? "
            "AND keys = ?",
            (fingerprint, num_steps, eval_every, keys),
        ).fetchone()
        return json.loads(row[0]) if row is not None else None

    def put_reference(
        self, task: str, fingerprint: str, num_steps: int, eval_every: int, keys: str, data: Mapping
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO tuned_references (task, fingerprint, num_steps, eval_every, keys, data, "
                "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (task, fingerprint, num_steps, eval_every, keys, json.dumps(data), time.time()),
            )


# --- reading runs ------------------------------------------------------------------------------------------------


def best_evaluations(conn: sqlite3.Connection, run_id: str, limit: int = 1) -> list[Evaluation]:
    """The best full-budget, non-failed evaluations (ties: earliest generation, then member)."""
    rows = conn.execute(
        "SELECT * FROM evaluations WHERE run_id = ? AND fidelity = 'full' AND status != 'failed' "
        "ORDER BY fitness ASC, generation ASC, member ASC LIMIT ?",
        (run_id, limit),
    )
    return [Evaluation.from_row(r) for r in rows]


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def run_status(run_dir: Path) -> dict[str, Any]:
    """A summary of a run (safe while the run is being written)."""
    run_dir = Path(run_dir)
    conn = open_readonly(run_dir)
    try:
        run = conn.execute("SELECT * FROM runs ORDER BY created LIMIT 1").fetchone()
        if run is None:
            raise FileNotFoundError(errno.ENOENT, "run directory holds no run yet", str(run_dir))
        run_id = run["run_id"]
        gens = [
            dict(r)
            for r in conn.execute(
                "SELECT generation, best, median, num_ok AS ok, num_diverged AS diverged, num_failed AS failed, "
                "seconds, best_so_far FROM generations WHERE run_id = ? ORDER BY generation",
                (run_id,),
            )
        ]
        counts = dict(
            conn.execute(
                "SELECT status, COUNT(*) FROM evaluations WHERE run_id = ? GROUP BY status", (run_id,)
            ).fetchall()
        )
        best = best_evaluations(conn, run_id, 1)
    finally:
        conn.close()
    state = run["state"]
    if state == "running" and not lock_is_held(run_dir):
        state = "interrupted"
    return {
        "run_id": run_id,
        "run_dir": str(run_dir),
        "state": state,
        "space": run["space"],
        "family": run["family"],
        "suite": run["suite"],
        "strategy": run["strategy"],
        "seed": run["seed"],
        "population_size": run["population_size"],
        "generations": len(gens),
        "num_generations": run["num_generations"],
        "evaluations": sum(counts.values()),
        "ok": counts.get("ok", 0),
        "diverged": counts.get("diverged", 0),
        "failed": counts.get("failed", 0),
        "best_fitness": best[0].fitness if best else None,
        "best_generation": best[0].generation if best else None,
        "best_point": best[0].point if best else None,
        "seconds": sum(g["seconds"] for g in gens),
        "generation_table": [{**g, "best": _finite(g["best"]), "median": _finite(g["median"])} for g in gens],
    }


def list_runs(root: Path) -> list[dict[str, Any]]:
    """One summary per run directory directly under ``root`` (unreadable ones are reported as such)."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for sub in sorted(p for p in root.iterdir() if (p / DB_NAME).is_file()):
        try:
            status = run_status(sub)
        except (sqlite3.Error, FileNotFoundError) as err:
            out.append({"run_dir": str(sub), "state": f"unreadable: {err}"})
            continue
        status.pop("generation_table", None)
        status.pop("best_point", None)
        out.append(status)
    return out
