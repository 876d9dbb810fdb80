"""Solace on a real two-node Ray cluster on this machine, and what losing a node costs.

``LocalRayCluster`` starts nodes with ``ray start`` (a head, then workers that join it by
address, each with its own ``--temp-dir``, ports and custom resources), so Serve sees two
nodes exactly as it would see two machines. It never runs ``ray stop``, which kills every Ray
process on the machine, other people's included: each node is started in its own session
(process group), and a node is killed by signalling that group, plus any straggler whose
command line names the node's own temp dir.

``failover(settings)`` deploys Solace with one replica of every deployment on each node, sends
traffic (a share of it crisis messages), SIGKILLs the worker node mid-traffic, restarts it,
waits for Serve to report every replica RUNNING again, and reports errors, the longest gap
between answers, and whether every escalation was recorded exactly once. ``run`` prints that
report; ``tests/cluster/test_two_nodes.py`` asserts on it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from services.common.config import Settings
from services.common.serve_options import SERVICES
from solace_cli.ports import free_port

HEAD_RESOURCE, WORKER_RESOURCE = "head", "worker_node"
_RAY = str(Path(sys.executable).with_name("ray"))

CRISIS = "I have the pills ready and I am going to kill myself tonight"
MESSAGES = (
    "I lost my job and I can't sleep",
    "My girlfriend broke up with me last week and I feel so lonely",
    "I'm stressed about my exams, I keep procrastinating",
    "My best friend stopped talking to me and I don't know why",
)


@dataclass
class _Node:
    name: str
    temp_dir: Path
    pgid: int
    args: list[str]
    env: dict[str, str]


class LocalRayCluster:
    """Ray nodes started by ``ray start`` on this machine, killed only by their own ids."""

    def __init__(self, root: Path | None = None) -> None:
        # Short paths: Ray's Unix sockets live under the temp dir (107-byte limit).
        self.root = Path(root or tempfile.mkdtemp(prefix="solace-rc-", dir="/tmp"))
        self.address = ""
        self.nodes: dict[str, _Node] = {}

    def _start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> _Node:
        temp_dir = self.root / name
        # Every port explicit and free: two nodes share one IP here, and a default port
        # (dashboard agent 52365, client server 10001, ...) could also be another user's.
        ports = [
            f"--node-manager-port={free_port()}",
            f"--object-manager-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
        ]
        full = [_RAY, "start", f"--temp-dir={temp_dir}", "--disable-usage-stats", *ports, *args]
        node_env = {**os.environ, "RAY_AUTH_MODE": "disabled", **(env or {})}
        # A new session: the ray start process leads a process group that every daemon it
        # starts (raylet, agents, and the raylet's workers) inherits.
        proc = subprocess.Popen(
            full,
            env=node_env,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start ({name}) failed:\n{out[-3000:]}")
        node = _Node(name, temp_dir, proc.pid, args, env or {})
        self.nodes[name] = node
        return node

    def start_head(self, num_cpus: float = 1, resources: dict[str, float] | None = None) -> str:
        from ray._private.services import get_node_ip_address

        port = free_port()
        # Serve's proxy sends to the ingress replica on its own node when there is one; off,
        # so that half the traffic enters through the worker's ingress and a kill hits it.
        env = {"RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING": "0"}
        self._start(
            "head",
            [
                "--head",
                f"--port={port}",
                f"--num-cpus={num_cpus}",
                f"--resources={json.dumps(resources or {HEAD_RESOURCE: 1})}",
                "--include-dashboard=false",
                f"--dashboard-port={free_port()}",
                f"--ray-client-server-port={free_port()}",
            ],
            env,
        )
        self.address = f"{get_node_ip_address()}:{port}"
        return self.address

    def start_worker(
        self,
        name: str = "worker",
        num_cpus: float = 1,
        resources: dict[str, float] | None = None,
    ) -> None:
        # Serve puts a proxy on every node with replicas; on one machine the worker's proxy
        # needs its own ports (Ray's per-worker-node override; the head keeps the real ones).
        env = {
            "RAY_SERVE_WORKER_PROXY_GRPC_PORT": str(free_port()),
            "RAY_SERVE_WORKER_PROXY_HTTP_PORT": str(free_port()),
        }
        self._start(
            name,
            [
                f"--address={self.address}",
                f"--num-cpus={num_cpus}",
                f"--resources={json.dumps(resources or {WORKER_RESOURCE: 1})}",
            ],
            env,
        )

    def restart(self, name: str) -> None:
        node = self.nodes[name]
        self._start(name, node.args, node.env)

    def pids(self, name: str) -> set[int]:
        """Live processes of one node: its process group, and anything naming its temp dir."""
        node = self.nodes[name]
        marker = str(node.temp_dir).encode()
        found: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            # Fields after the ")" of the command name: state, ppid, pgrp, ...
            state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
            if state == "Z":
                continue
            if int(pgrp) == node.pgid or marker in cmdline:
                found.add(int(entry.name))
        found.discard(os.getpid())
        return found

    def kill(self, name: str) -> int:
        """SIGKILL every process of node ``name`` (a machine losing power); returns how many."""
        pids = self.pids(name)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def stop(self) -> None:
        """Kill every node this object started, workers first, then the head."""
        for name in sorted(self.nodes, key=lambda n: n == "head"):
            self.kill(name)


@dataclass
class Outcome:
    sent_at: float
    done_at: float
    ok: bool
    retried: bool = False
    code: str = "OK"
    crisis: bool = False
    escalated: bool = False
    escalation_id: str = ""
    request_id: str = ""
    degraded: bool = False


@dataclass
class FailoverReport:
    replicas_per_node: dict[str, int]
    outcomes: list[Outcome] = field(default_factory=list)
    killed_at: float = 0.0
    restarted_at: float = 0.0
    recovered_s: float = -1.0
    records: dict[str, int] = field(default_factory=dict)  # request_id -> records in the store
    escalation_ids: set[str] = field(default_factory=set)

    @property
    def answered(self) -> int:
        return sum(o.ok for o in self.outcomes)

    @property
    def errors(self) -> int:
        return sum(not o.ok for o in self.outcomes)

    @property
    def first_attempt_errors(self) -> int:
        return sum(o.retried or not o.ok for o in self.outcomes)

    @property
    def longest_gap_s(self) -> float:
        done = sorted(o.done_at for o in self.outcomes if o.ok)
        return max((b - a for a, b in itertools.pairwise(done)), default=0.0)

    def escalated(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.ok and o.escalated]

    def lost(self) -> list[Outcome]:
        """Escalated replies whose escalation id is not in the audit store."""
        return [o for o in self.escalated() if o.escalation_id not in self.escalation_ids]

    def duplicated(self) -> dict[str, int]:
        """Crisis requests with more than one escalation record (a retry recorded twice)."""
        return {r: n for r, n in self.records.items() if n > 1}

    def summary(self) -> str:
        window = max((o.done_at for o in self.outcomes), default=0) - min(
            (o.sent_at for o in self.outcomes), default=0
        )
        return "\n".join(
            [
                f"replicas per node before the kill: {self.replicas_per_node}",
                f"requests: {len(self.outcomes)} in {window:.1f} s; answered {self.answered}, "
                f"errors after one client retry {self.errors}, "
                f"failed first attempts {self.first_attempt_errors}, "
                f"degraded answers (holding/safe reply) {sum(o.degraded for o in self.outcomes)}",
                f"longest gap between answers: {self.longest_gap_s:.2f} s",
                f"escalations: {len(self.escalated())} escalated replies, "
                f"{sum(self.records.values())} audit records, lost {len(self.lost())}, "
                f"request ids recorded more than once {len(self.duplicated())}",
                f"worker restarted {self.restarted_at - self.killed_at:.1f} s after the kill; "
                f"all replicas RUNNING {self.recovered_s:.1f} s after the restart",
            ]
        )


def _replicas_by_node() -> dict[str, int]:
    """ALIVE Serve replicas per node, named by the node's custom resource (from the GCS: the
    state API would need the dashboard, which these nodes do not start)."""
    import ray
    from ray._private.state import actors

    names = {
        node["NodeID"]: HEAD_RESOURCE if HEAD_RESOURCE in node["Resources"] else WORKER_RESOURCE
        for node in ray.nodes()
        if node["Alive"]
    }
    counts: dict[str, int] = {}
    for actor in actors().values():
        if actor["State"] == "ALIVE" and actor["ActorClassName"].startswith("ServeReplica:"):
            key = names.get(actor["Address"]["NodeID"], "unknown")
            counts[key] = counts.get(key, 0) + 1
    return counts


def _all_running(app: str, expected: int) -> bool:
    from ray import serve

    status = serve.status().applications.get(app)
    if status is None:
        return False
    running = 0
    for deployment in status.deployments.values():
        running += deployment.replica_states.get("RUNNING", 0)
        if deployment.status != "HEALTHY":
            return False
    return running == expected


def _client(
    target: str, stop: threading.Event, outcomes: list[Outcome], lock: threading.Lock, seed: int
) -> None:
    import grpc

    from solace.v1 import common_pb2, support_pb2, support_pb2_grpc

    retryable = {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
    }
    with grpc.insecure_channel(target) as channel:
        stub = support_pb2_grpc.SupportStub(channel)
        i = seed
        while not stop.is_set():
            crisis = i % 6 == 0
            text = CRISIS if crisis else MESSAGES[i % len(MESSAGES)]
            i += 1
            request = support_pb2.RespondRequest(
                request_id=uuid.uuid4().hex,
                conversation=common_pb2.Conversation(
                    turns=[common_pb2.Turn(role=common_pb2.ROLE_SEEKER, text=text)]
                ),
            )
            sent = time.monotonic()
            outcome = Outcome(sent, sent, False, crisis=crisis, request_id=request.request_id)
            for attempt in range(2):
                try:
                    reply = stub.Respond(request, timeout=10)
                except grpc.RpcError as exc:
                    outcome.code = exc.code().name
                    if attempt == 0 and exc.code() in retryable:
                        # The same request id: a partner app's retry after a lost answer.
                        outcome.retried = True
                        continue
                    break
                outcome.ok, outcome.code = True, "OK"
                outcome.escalated = reply.escalated
                outcome.escalation_id = reply.escalation_id
                outcome.degraded = reply.safety_hold or reply.generation.fell_back
                break
            outcome.done_at = time.monotonic()
            with lock:
                outcomes.append(outcome)


def _audit(path: Path) -> tuple[dict[str, int], set[str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT request_id, escalation_id FROM escalations WHERE risk_level != 'UNSCREENED'"
        ).fetchall()
    counts: dict[str, int] = {}
    for request_id, _ in rows:
        counts[request_id] = counts.get(request_id, 0) + 1
    return counts, {e for _, e in rows}


def failover(
    settings: Settings,
    clients: int = 3,
    before_s: float = 8.0,
    down_s: float = 12.0,
    recover_timeout_s: float = 120.0,
    cluster: LocalRayCluster | None = None,
) -> FailoverReport:
    """Two nodes, one replica of everything on each; kill the worker under traffic; restore."""
    import ray

    from services.router.app import APP_NAME
    from solace_cli.platform import start_platform, stop_platform

    owned = cluster is None
    cluster = cluster or LocalRayCluster()
    audit = cluster.root / "audit.db"
    try:
        address = cluster.start_head(num_cpus=1)
        cluster.start_worker(num_cpus=1)
        settings = settings.with_overrides(
            ray_address=address,
            grpc_port=free_port(),
            http_port=free_port(),
            # Two replicas of each of the five deployments at 0.2 CPU: exactly one CPU per
            # node, and at most one replica of a deployment per node, so each node has one.
            serve_topology=SERVICES,
            replicas=2,
            max_replicas_per_node=1,
            replica_num_cpus=0.2,
            # One SQLite file both nodes write (one machine); WAL serialises the writers.
            escalation_store_url=f"sqlite:///{audit}",
        )
        start_platform(settings)
        import grpc

        target = f"127.0.0.1:{settings.grpc_port}"
        with grpc.insecure_channel(target) as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
        deadline = time.monotonic() + 120
        while not _all_running(APP_NAME, 10) and time.monotonic() < deadline:
            time.sleep(1)
        report = FailoverReport(replicas_per_node=_replicas_by_node())

        stop, lock = threading.Event(), threading.Lock()
        threads = [
            threading.Thread(target=_client, args=(target, stop, report.outcomes, lock, n))
            for n in range(clients)
        ]
        for t in threads:
            t.start()
        try:
            time.sleep(before_s)
            report.killed_at = time.monotonic()
            cluster.kill("worker")
            time.sleep(down_s)
            report.restarted_at = time.monotonic()
            cluster.restart("worker")
            deadline = time.monotonic() + recover_timeout_s
            while time.monotonic() < deadline:
                if _all_running(APP_NAME, 10):
                    report.recovered_s = time.monotonic() - report.restarted_at
                    break
                time.sleep(1)
            time.sleep(3)  # a little traffic on the restored replicas
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        report.replicas_per_node = {
            **{f"{k} (before)": v for k, v in report.replicas_per_node.items()},
            **{f"{k} (after)": v for k, v in _replicas_by_node().items()},
        }
        report.records, report.escalation_ids = _audit(audit)
        return report
    finally:
        try:
            if ray.is_initialized():
                stop_platform()
        except Exception:  # the cluster is torn down next either way
            pass
        cluster.stop()
        if owned:
            shutil.rmtree(cluster.root, ignore_errors=True)


def run(settings: Settings) -> str:
    report = failover(settings)
    return (
        f"Solace on a two-node Ray cluster on one machine ({time.strftime('%Y-%m-%d')}), "
        "worker node SIGKILLed under traffic, then restarted\n" + report.summary()
    )
