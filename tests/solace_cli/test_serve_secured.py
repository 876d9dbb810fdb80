"""The standalone topology as an operator runs it, with security on: five `solace serve <svc>`
processes sharing one API keys file and one internal key, the four services on mutual TLS, then
`solace chat --api-key` through Support gets a normal screened reply (not the safety hold), and
without a key it is UNAUTHENTICATED."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from pki import make_pki  # tests/support

from services.common.auth import hash_key
from solace_cli.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOLACE = [sys.executable, "-m", "solace_cli.cli"]
SERVICES = ("risk", "defense", "strategy", "generator")
KEY = "sk_partner_process_test"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    root = tmp_path_factory.mktemp("secured")
    pki = make_pki(root)
    (root / "keys.yaml").write_text(f"keys:\n  - {{name: partner-a, sha256: {hash_key(KEY)}}}\n")
    (root / "internal-key").write_text("sk_internal_process_test\n")
    common = {
        **os.environ,
        "SOLACE_API_KEYS_FILE": str(root / "keys.yaml"),
        "SOLACE_INTERNAL_API_KEY_FILE": str(root / "internal-key"),
        "SOLACE_ESCALATION_STORE_URL": f"sqlite:///{root / 'audit.db'}",
    }
    ports: dict[str, int] = {}
    for name in (*SERVICES, "support"):
        while (port := free_port()) in ports.values():
            pass
        ports[name] = port
    # Each server's output goes to a file (a pipe nobody reads can fill and stall a server),
    # shown when it fails.
    logs = {name: root / f"{name}.log" for name in ports}
    processes = {}
    for name in SERVICES:
        env = {
            **common,
            f"SOLACE_{name.upper()}_PORT": str(ports[name]),
            "SOLACE_TLS_CERT_FILE": str(pki / "server.pem"),
            "SOLACE_TLS_KEY_FILE": str(pki / "server.key"),
            "SOLACE_TLS_CLIENT_CA_FILE": str(pki / "ca.pem"),
        }
        processes[name] = subprocess.Popen(
            [*SOLACE, "serve", name],
            env=env,
            stdout=logs[name].open("w"),
            stderr=subprocess.STDOUT,
        )
    # Support serves plaintext to `solace chat` and calls the services over mutual TLS.
    support_env = {
        **common,
        "SOLACE_GRPC_PORT": str(ports["support"]),
        "SOLACE_TLS_CA_FILE": str(pki / "ca.pem"),
        "SOLACE_TLS_CLIENT_CERT_FILE": str(pki / "client.pem"),
        "SOLACE_TLS_CLIENT_KEY_FILE": str(pki / "client.key"),
        **{f"SOLACE_{n.upper()}_TARGET": f"localhost:{ports[n]}" for n in SERVICES},
    }
    processes["support"] = subprocess.Popen(
        [*SOLACE, "serve", "support"],
        env=support_env,
        stdout=logs["support"].open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        waiting = set(processes)
        while waiting and time.monotonic() < deadline:
            for name in list(waiting):
                if processes[name].poll() is not None:
                    pytest.fail(f"solace serve {name} exited:\n{logs[name].read_text()[-4000:]}")
                if _listening(ports[name]):
                    waiting.discard(name)
            time.sleep(0.5)
        if waiting:
            pytest.fail(f"not listening within 180 s: {sorted(waiting)}")
        # Listening is not serving (a slow start, or another process on a port chosen a moment
        # ago): each server must answer its health check, over its own transport, first.
        for name, port in ports.items():
            if not _serving(port, pki if name != "support" else None, deadline):
                alive = processes[name].poll() is None
                pytest.fail(
                    f"solace serve {name} on {port} not SERVING (process alive: {alive}):\n"
                    f"{logs[name].read_text()[-4000:]}"
                )
        yield ports["support"], common, ports, pki
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _serving(port: int, pki, deadline: float) -> bool:
    """True once the server on ``port`` reports SERVING: plaintext, or mutual TLS with the
    test PKI's client certificate when ``pki`` is given."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from services.common.tls import channel_credentials

    target = f"localhost:{port}"
    while time.monotonic() < deadline:
        channel = (
            grpc.insecure_channel(target)
            if pki is None
            else grpc.secure_channel(
                target,
                channel_credentials(
                    str(pki / "ca.pem"), str(pki / "client.pem"), str(pki / "client.key")
                ),
            )
        )
        try:
            with channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return True
        except grpc.RpcError:
            pass
        time.sleep(0.5)
    return False


def _chat(port: int, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SOLACE, "chat", "--target", f"localhost:{port}", "--json", *extra, "I feel lonely"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_chat_with_a_key_gets_a_screened_reply(secured):
    port, env, _, _ = secured
    out = _chat(port, env, "--api-key", KEY)
    assert out.returncode == 0, out.stderr
    response = json.loads(out.stdout)
    assert response["reply"] and not response.get("safetyHold")
    assert response["risk"]["level"] != "RISK_LEVEL_UNSPECIFIED"
    assert response["generation"]["text"]


def test_chat_without_a_key_is_unauthenticated(secured):
    port, env, _, _ = secured
    out = _chat(port, env)
    assert out.returncode == 1
    assert "UNAUTHENTICATED" in out.stderr


def test_health_reaches_a_mutual_tls_service_with_the_client_tls_settings(secured):
    """`solace health` (and `solace chat`) use the client TLS settings the router uses: a
    service on mutual TLS answers SERVING with them and cannot be reached in plaintext."""
    _, env, ports, pki = secured
    client_tls = {
        "SOLACE_TLS_CA_FILE": str(pki / "ca.pem"),
        "SOLACE_TLS_CLIENT_CERT_FILE": str(pki / "client.pem"),
        "SOLACE_TLS_CLIENT_KEY_FILE": str(pki / "client.key"),
    }
    target = ["health", "--target", f"localhost:{ports['risk']}", "--timeout", "10"]
    out = subprocess.run(
        [*SOLACE, *target], env={**env, **client_tls}, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "SERVING" in out.stdout, out.stderr
    plain = subprocess.run([*SOLACE, *target], env=env, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 1 and "SERVING" not in plain.stdout
