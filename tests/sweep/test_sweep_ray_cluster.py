"""A sweep on a real two-node Ray cluster (both nodes on 127.0.0.1), one node lost mid-sweep.

The head (``ray start --head``) and a worker node (``ray start --address``, with its own
custom resource) each offer one CPU; ``robustlaw sweep run --executor ray --address``, in a
process of its own as a user runs it, runs a spec across both; once trials have finished on
the worker node, its raylet is killed. The sweep must still finish every trial exactly once,
with the numbers of a local run. Both nodes are stopped at the end, also when the test fails
(by their process ids, never by a broad ``ray stop``).

The cluster, its driver and the probes share a token of their own (``RAY_AUTH_TOKEN``,
token authentication on), so the test neither reads nor depends on a token of the machine.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import sweep_toy_runner
import yaml
from sweep_toy_runner import toy_spec
from typer.testing import CliRunner

from robustlaw.cli import app
from robustlaw.sweep import expand, load, parse_spec

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")
#: runs in the one test process that runs the other tests that start Ray (ray stop ends them all)
pytestmark = pytest.mark.xdist_group("ray")

RAY = str(Path(sys.executable).with_name("ray"))
#: Seconds each batch sleeps: long enough that both nodes hold tasks when the worker dies.
BATCH_SECONDS = 1.0
#: The worker node's custom resource (a task asking for it would run there only).
WORKER_RESOURCE = "robustlaw_second_node"
#: Seconds a node may take to start and join (the machine may be busy).
JOIN_SECONDS = 240
#: The sweep's driver: the command line with the toy runner registered and shipped by value.
DRIVER = (
    "import ray, sweep_toy_runner; "
    "ray.cloudpickle.register_pickle_by_value(sweep_toy_runner); "
    "from robustlaw.cli import main; main()"
)


def _env(token: str) -> dict[str, str]:
    """The environment of every process of the cluster: its token, the toy runner importable."""
    return {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token,
        "PYTHONPATH": os.pathsep.join([str(Path(sweep_toy_runner.__file__).parent),
                                       os.environ.get("PYTHONPATH", "")]),
    }  # fmt: skip


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    """``ray start --block ...`` in its own session (so its processes can be found)."""
    with log.open("w") as out:
        return subprocess.Popen(
            [RAY, "start", "--block", "--disable-usage-stats", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen) -> None:
    """Stop a ``ray start --block`` and every process it started, by process id."""
    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
    except psutil.NoSuchProcess:
        tree = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # ray start --block stops its processes
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
    for child in tree:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


def _nodes(address: str, env: dict[str, str]) -> list[dict]:
    """The alive nodes of the cluster, asked from a short-lived driver process."""
    code = (
        f"import json, ray; ray.init(address={address!r}, log_to_driver=False); "
        "print(json.dumps([n['Resources'] for n in ray.nodes() if n['Alive']]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
        env=env,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else []


def _wait_for(count: int, address: str, env: dict[str, str], node: subprocess.Popen,
              log: Path) -> None:  # fmt: skip
    """Until the cluster has ``count`` alive nodes (the node's log shown if it dies)."""
    deadline = time.monotonic() + JOIN_SECONDS
    while time.monotonic() < deadline:
        assert node.poll() is None, log.read_text()[-3000:]
        if len(_nodes(address, env)) >= count:
            return
        time.sleep(1)
    raise AssertionError(f"{count} node(s) not up in {JOIN_SECONDS} s: {log.read_text()[-3000:]}")


@pytest.fixture
def cluster(tmp_path):
    """(address, environment, worker's ``ray start`` process): two nodes of one CPU each
    on loopback."""
    env = _env(secrets.token_hex(32))
    port, client, head_agent, worker_agent = _free_ports(4)
    root = Path(tempfile.mkdtemp(prefix="rlray", dir="/tmp"))  # short: socket paths
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1",
              "--object-store-memory", str(80 * 1024**2)]  # fmt: skip
    started = []
    try:
        started.append(_start(["--head", "--port", str(port), "--temp-dir", str(root),
                               "--ray-client-server-port", str(client),
                               "--dashboard-agent-listen-port", str(head_agent),
                               "--include-dashboard", "false", *common],
                              tmp_path / "head.log", env))  # fmt: skip
        _wait_for(1, address, env, started[0], tmp_path / "head.log")
        resources = json.dumps({WORKER_RESOURCE: 1})
        started.append(_start(["--address", address, "--resources", resources,
                               "--dashboard-agent-listen-port", str(worker_agent), *common],
                              tmp_path / "worker.log", env))  # fmt: skip
        _wait_for(2, address, env, started[1], tmp_path / "worker.log")
        yield address, env, started[1]
    finally:
        for process in reversed(started):
            _stop(process)


def _raylet(process: subprocess.Popen) -> psutil.Process:
    (raylet,) = [p for p in psutil.Process(process.pid).children(True) if p.name() == "raylet"]
    return raylet


def _executed_on(log: Path) -> dict[str, list[int]]:
    """Batch hash -> the process ids that ran it (from the toy runner's log)."""
    out: dict[str, list[int]] = {}
    for line in log.read_text().split() if log.exists() else []:
        trial, pid = line.split("@")
        out.setdefault(trial, []).append(int(pid))
    return out


def test_a_sweep_survives_losing_a_node_with_every_trial_once(cluster, tmp_path):
    address, env, worker = cluster
    log = tmp_path / "executed.log"
    raw = toy_spec(
        seeds=[0, 1, 2, 3],
        data={"n": [10, 14, 18]},
        model={"widths": [1, 3], "options": {"sleep": BATCH_SECONDS, "log_pid": str(log)}},
    )
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(raw))
    trials = expand(parse_spec(raw))
    worker_pids = {p.pid for p in psutil.Process(worker.pid).children(True)}
    killed: list[int] = []

    def kill_when_the_worker_node_has_run_a_batch() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            ran = {pid for pids in _executed_on(log).values() for pid in pids}
            fresh = {p.pid for p in psutil.Process(worker.pid).children(True)}
            if ran & (worker_pids | fresh):
                raylet = _raylet(worker)
                killed.append(raylet.pid)
                raylet.kill()
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_the_worker_node_has_run_a_batch, daemon=True)
    killer.start()
    store = tmp_path / "cluster.db"
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, "sweep", "run", str(spec_path), "--store", str(store),
         "--executor", "ray", "--address", address, "--max-retries", "3", "--json",
         "--no-progress"],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    killer.join(timeout=60)
    assert result.returncode == 0, result.stderr[-5000:]
    assert killed, "the worker node never ran a batch"
    assert worker.wait(timeout=60) is not None  # the worker node is gone
    (summary,) = json.loads(result.stdout)
    assert summary["done"] == summary["total"] == len(trials) and summary["failed"] == 0
    frame = load(store)
    assert sorted(frame["trial_hash"]) == sorted(t.hash for t in trials)  # each once
    assert set(frame["status"]) == {"done"}

    local = tmp_path / "local.db"
    again = CliRunner().invoke(app, ["sweep", "run", str(spec_path), "--store", str(local)])
    assert again.exit_code == 0, again.output
    expected = load(local).set_index("trial_hash")
    got = frame.set_index("trial_hash").loc[expected.index]
    for column in ("train_mse", "lip_upper", "lip_lower", "p"):
        assert (got[column] == expected[column]).all(), column
