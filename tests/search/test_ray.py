"""Real Ray: the embedded instance (loopback only, no dashboard, token auth on), dead and failing workers,
and a real local two-node cluster (127.0.0.2 + 127.0.0.3) that ``optsearch run --address`` joins.

Each test stops what it started: embedded instances are shut down by the evaluator, the cluster's
``ray start --block`` processes get SIGTERM (which stops their nodes) and any process left holding the
cluster's private temp dir is killed by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from search import store as st
from search.config import load_config
from search.evaluators import RayEvaluator, evaluate_unit
from search.run import Run
from tests.search._helpers import evaluation_table, write_config
from tests.search.conftest import cli_config, cli_env, run_cli

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).parent / "ray")


def _loopback(address: str) -> bool:
    return address.startswith("127.") or address.startswith("::ffff:127.") or address == "::1"


def dies_once(plan, unit):
    """Kills its worker process the first time it sees member 1 (a marker file remembers)."""
    marker = Path(os.environ["OPTSEARCH_TEST_MARKER"])
    if 1 in unit.members and not marker.exists():
        marker.write_text("died")
        os._exit(1)
    return evaluate_unit(plan, unit)


def raises_on_member_3(plan, unit):
    if 3 in unit.members:
        raise ArithmeticError("member 3 is cursed")
    return evaluate_unit(plan, unit)


def test_embedded_ray_binds_loopback_only_without_dashboard_and_with_token_auth(tmp_path):
    evaluator = RayEvaluator(1)
    try:
        import ray

        node = ray._private.worker._global_node
        assert node.node_ip_address == "127.0.0.1"
        assert not node.address_info.get("webui_url")  # no dashboard UI (Ray keeps a headless stats module)
        for info in node.all_processes.get("dashboard", []):
            assert "--disable-frontend" in psutil.Process(info.process.pid).cmdline()
        assert os.environ.get("RAY_AUTH_MODE") == "token"
        ids = evaluator.worker_ids()
        assert ids[0].startswith("127.0.0.1:")
        pids = {int(ids[0].split(":")[1])}
        for infos in node.all_processes.values():
            pids |= {info.process.pid for info in infos}
        listening = [
            c.laddr.ip
            for pid in pids
            if psutil.pid_exists(pid)
            for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert listening, "no listening socket found"
        assert all(_loopback(ip) for ip in listening), listening
    finally:
        evaluator.close()
    assert not ray.is_initialized()


def test_a_dead_worker_loses_only_its_candidate_which_is_resent(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTSEARCH_TEST_MARKER", str(tmp_path / "marker"))
    cache = tmp_path / "cache"
    cfg = write_config(tmp_path / "tiny.toml", cache, generations=1, evaluator="ray")
    evaluator = RayEvaluator(2, max_retries=2, evaluate_fn=dies_once)
    try:
        Run(load_config(cfg), tmp_path / "run", evaluator=evaluator).execute(progress=False)
        assert evaluator.restarts == 1
    finally:
        evaluator.close()
    rows = st.Store(tmp_path / "run").evaluations(st.run_status(tmp_path / "run")["run_id"])
    assert [r.status for r in rows] == ["ok"] * 4
    assert [r.attempts for r in rows] == [1, 2, 1, 1]
    assert (tmp_path / "marker").read_text() == "died"


def test_a_candidate_failing_twice_on_ray_is_recorded_failed_and_the_run_goes_on(tmp_path):
    cfg = write_config(tmp_path / "tiny.toml", tmp_path / "cache", generations=2, evaluator="ray")
    evaluator = RayEvaluator(2, max_retries=2, evaluate_fn=raises_on_member_3)
    try:
        result = Run(load_config(cfg), tmp_path / "run", evaluator=evaluator).execute(progress=False)
    finally:
        evaluator.close()
    rows = st.Store(tmp_path / "run").evaluations(result.run_id)
    failed = [(r.generation, r.member, r.attempts) for r in rows if r.status == "failed"]
    assert failed == [(0, 3, 2), (1, 3, 2)]
    assert all("ArithmeticError: member 3 is cursed" in r.error for r in rows if r.status == "failed")
    assert st.run_status(tmp_path / "run")["state"] == "finished"


def test_embedded_ray_run_from_the_cli_equals_the_local_evaluator(tmp_path, cli_cache, cli_reference_run):
    cfg = cli_config(tmp_path / "tiny.toml", cli_cache, evaluator="ray")
    proc = run_cli("run", str(cfg), "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert evaluation_table(tmp_path / "run") == evaluation_table(cli_reference_run)
    workers = {
        r.worker for r in st.Store(tmp_path / "run").evaluations(st.run_status(tmp_path / "run")["run_id"])
    }
    assert len(workers) == 2 and all(w.startswith("127.0.0.1:") for w in workers)


# --- a real two-node cluster ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_args(temp_dir: str) -> list[str]:
    return [
        "--num-cpus=1",
        f"--memory={1500 * 1024**2}",
        f"--object-store-memory={100 * 1024**2}",
        "--disable-usage-stats",
        "--block",
        f"--temp-dir={temp_dir}",
        f"--dashboard-agent-listen-port={_free_port()}",
        f"--metrics-export-port={_free_port()}",
        f"--runtime-env-agent-port={_free_port()}",
    ]


def _start_node(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen(
        [RAY, "start", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 240
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "block forever" in line:
            return proc
        if time.monotonic() > deadline:
            break
    proc.kill()
    proc.wait()
    raise RuntimeError("ray start failed:\n" + "".join(lines[-30:]))


def _stop(procs: list[subprocess.Popen], temp_dir: str) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # Anything of this cluster still alive (it holds our private temp dir) is ours: stop it by pid.
    time.sleep(1)
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(temp_dir in part for part in (p.info["cmdline"] or [])):
                p.kill()
        except psutil.Error:
            pass
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture
def two_node_cluster():
    """A head on 127.0.0.2 and a worker node on 127.0.0.3, one CPU each (Ray's default token auth)."""
    temp_dir = tempfile.mkdtemp(prefix="osr", dir="/tmp")  # short: Ray's socket paths must stay < 108 bytes
    port = _free_port()
    env = cli_env(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1")
    env.pop("RAY_AUTH_MODE", None)
    procs: list[subprocess.Popen] = []
    try:
        procs.append(
            _start_node(
                [
                    "--head",
                    "--node-ip-address=127.0.0.2",
                    f"--port={port}",
                    "--include-dashboard=false",
                    f"--ray-client-server-port={_free_port()}",
                    *_node_args(temp_dir),
                ],
                env,
            )
        )
        procs.append(
            _start_node(
                [f"--address=127.0.0.2:{port}", "--node-ip-address=127.0.0.3", *_node_args(temp_dir)],
                dict(env, RAY_AUTH_MODE="token"),  # a node joining a token cluster says so (ALGORITHMS.md)
            )
        )
        yield f"127.0.0.2:{port}"
    finally:
        _stop(procs, temp_dir)


def test_optsearch_run_joins_a_two_node_cluster_with_address(
    tmp_path, two_node_cluster, cli_cache, cli_reference_run
):
    cfg = cli_config(tmp_path / "tiny.toml", cli_cache, evaluator="ray")
    proc = run_cli(
        "run", str(cfg), "--run-dir", str(tmp_path / "run"), "--address", two_node_cluster, "--workers", "2"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = st.Store(tmp_path / "run").evaluations(st.run_status(tmp_path / "run")["run_id"])
    nodes = {r.worker.split(":")[0] for r in rows}
    assert nodes == {"127.0.0.2", "127.0.0.3"}  # one actor per node (one CPU each)
    assert evaluation_table(tmp_path / "run") == evaluation_table(cli_reference_run)
