"""The commands a user types: `solace serve` in a subprocess, `solace health`, `solace chat`
(plain and --json), and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from solace_cli.ports import free_port, listeners

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOLACE = [sys.executable, "-m", "solace_cli.cli"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    port = free_port()
    env = {
        **os.environ,
        # Sharing on, in a folder of this test's own: the file must not outlive the platform.
        "SOLACE_SHARED_EMBEDDINGS_DIR": str(tmp_path_factory.mktemp("shm")),
        "SOLACE_GRPC_PORT": str(port),
        "SOLACE_HTTP_PORT": str(free_port()),
        "SOLACE_RAY_METRICS_PORT": str(free_port()),
    }
    process = subprocess.Popen(
        [*SOLACE, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        probe = subprocess.run(
            [*SOLACE, "health", "--port", str(port)], env=env, capture_output=True
        )
        if probe.returncode == 0:
            break
        if process.poll() is not None:
            ports = (port, int(env["SOLACE_HTTP_PORT"]), int(env["SOLACE_RAY_METRICS_PORT"]))
            pytest.fail(f"{process.stdout.read()}\nlistening now:\n{listeners(*ports)}")
        time.sleep(2)
    else:
        process.kill()
        pytest.fail("solace serve did not become SERVING within 180 s")
    yield process, port, env
    if process.poll() is None:
        process.kill()


def test_health_exits_zero_only_when_serving(served):
    _, port, env = served
    assert subprocess.run([*SOLACE, "health", "--port", str(port)], env=env).returncode == 0
    assert subprocess.run([*SOLACE, "health", "--port", str(free_port())], env=env).returncode == 1


def test_chat_prints_reply_annotations_and_timings(served):
    _, port, env = served
    out = subprocess.run(
        [*SOLACE, "chat", "--port", str(port), "I lost my job and I can't sleep"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for label in ("risk", "defense", "strategy", "timings"):
        assert f"  {label}" in out
    as_json = json.loads(
        subprocess.run(
            [*SOLACE, "chat", "--json", "--port", str(port), "I lost my job and I can't sleep"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert as_json["reply"] and as_json["risk"]["level"].startswith("RISK_LEVEL_")
    assert {t["stage"] for t in as_json["timings"]} >= {"risk", "generation", "total"}


def test_shared_embeddings_are_owner_only_while_serving(served):
    _, port, env = served
    subprocess.run([*SOLACE, "chat", "--port", str(port), "hello"], env=env, check=True)
    files = list(Path(env["SOLACE_SHARED_EMBEDDINGS_DIR"]).iterdir())
    assert files and all(f.stat().st_mode & 0o777 == 0o600 for f in files)


def test_sigterm_stops_the_platform_and_removes_shared_embeddings(served):
    process, port, env = served
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=90) == 0
    output = process.stdout.read()
    assert f"serving Support on 0.0.0.0:{port}" in output
    assert "Stopping Solace" in output
    assert list(Path(env["SOLACE_SHARED_EMBEDDINGS_DIR"]).iterdir()) == []


def test_standalone_services_leave_no_shared_embeddings_when_stopped(tmp_path):
    """Two standalone services on the shared encoder share one file; it stays while either runs
    and goes when the last one stops. (The risk screen runs its own fine-tuned encoder.)"""
    env = {**os.environ, "SOLACE_SHARED_EMBEDDINGS_DIR": str(tmp_path)}
    ports = {"defense": free_port(), "strategy": free_port()}
    processes = {
        name: subprocess.Popen(
            [*SOLACE, "serve", name, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, port in ports.items()
    }
    try:
        deadline = time.monotonic() + 120
        for port in ports.values():
            while subprocess.run([*SOLACE, "health", "--port", str(port)], env=env).returncode:
                assert time.monotonic() < deadline, "a standalone service did not start"
                time.sleep(1)
        (shared,) = tmp_path.iterdir()
        assert shared.stat().st_mode & 0o777 == 0o600
        processes["defense"].send_signal(signal.SIGTERM)
        assert processes["defense"].wait(timeout=60) == 0
        assert shared.exists()  # strategy still has it
        processes["strategy"].send_signal(signal.SIGTERM)
        assert processes["strategy"].wait(timeout=60) == 0
        assert list(tmp_path.iterdir()) == []
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
