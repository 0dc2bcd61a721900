"""A real two-node Ray cluster on 127.0.0.1 for the tests: ``ray start --head --block`` plus a second
``ray start --address ... --block``, each a child process of the test session with its own temp dir, stopped
by PID (never ``ray stop``, which would stop every Ray process on the machine). Every process of the cluster
carries a unique ``RAGLOOM_RAY_CLUSTER`` token in its environment, which is how a test finds (only) its
own workers, e.g. to kill one mid-index.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))


@dataclass
class LocalCluster:
    address: str
    token: str
    temp_dir: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def pids_of(self, title: str) -> list[int]:
        """PIDs of this cluster's processes whose command line contains ``title`` (e.g. an actor class)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if title not in cmd:
                    continue
                if f"RAGLOOM_RAY_CLUSTER={self.token}".encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def stop(self) -> None:
        for proc in self.procs[::-1]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs[::-1]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for pid in self.pids_of(""):  # leftovers of our cluster only (the token is unique to it)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _env(token: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["RAGLOOM_RAY_CLUSTER"] = token
    env["RAY_AUTH_MODE"] = "disabled"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


def _node_args(ports: list[int]) -> list[str]:
    client, agent, agent_grpc, runtime_env, metrics = ports
    return [
        "--num-cpus", "1", "--block", "--disable-usage-stats",
        "--ray-client-server-port", str(client),
        "--dashboard-agent-listen-port", str(agent),
        "--dashboard-agent-grpc-port", str(agent_grpc),
        "--runtime-env-agent-port", str(runtime_env),
        "--metrics-export-port", str(metrics),
    ]  # fmt: skip


def start_cluster(nodes: int = 2, timeout: float = 90.0) -> LocalCluster:
    """Start the head and ``nodes - 1`` more nodes; return once the cluster shows ``nodes`` CPUs."""
    token = uuid.uuid4().hex
    temp_dir = tempfile.mkdtemp(prefix="rlray-", dir="/tmp")  # short: Ray's unix sockets live under it
    ports = _free_ports(1 + 5 * nodes)
    address = f"127.0.0.1:{ports[0]}"
    env = _env(token)
    head = [RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(ports[0])]
    head += ["--include-dashboard=false", "--temp-dir", temp_dir, *_node_args(ports[1:6])]
    cluster = LocalCluster(address, token, temp_dir)
    log = open(Path(temp_dir) / "nodes.log", "ab")  # noqa: SIM115 - lives as long as the cluster
    cluster.procs.append(subprocess.Popen(head, env=env, stdout=log, stderr=log))
    try:
        _wait_cpus(address, 1, timeout, env)
        for n in range(1, nodes):
            more = [RAY, "start", "--address", address, "--node-ip-address", "127.0.0.1"]
            more += _node_args(ports[1 + 5 * n : 6 + 5 * n])
            cluster.procs.append(subprocess.Popen(more, env=env, stdout=log, stderr=log))
        _wait_cpus(address, nodes, timeout, env)
    except Exception:
        cluster.stop()
        raise
    return cluster


def _wait_cpus(address: str, cpus: int, timeout: float, env: dict[str, str]) -> None:
    probe = (
        "import ray,sys; ray.init(address=sys.argv[1], log_to_driver=False); "
        "print(int(ray.cluster_resources().get('CPU', 0)))"
    )
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        out = subprocess.run(
            [sys.executable, "-c", probe, address], env=env, capture_output=True, text=True, timeout=timeout
        )
        last = (out.stdout + out.stderr)[-500:]
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(cpus)]:
            return
        time.sleep(1.0)
    raise RuntimeError(f"the local Ray cluster at {address} did not reach {cpus} CPUs: {last}")
