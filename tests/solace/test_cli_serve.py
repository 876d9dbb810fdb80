"""The commands a user types: `solace serve` in a subprocess, `solace health`, `solace chat`
(plain and --json), and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from solace.ports import free_port, listeners

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOLACE = [sys.executable, "-m", "solace.cli"]


@pytest.fixture(scope="module")
def served():
    port = free_port()
    env = {
        **os.environ,
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


def test_sigterm_stops_the_platform(served):
    process, port, _ = served
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=90) == 0
    output = process.stdout.read()
    assert f"serving Support on 0.0.0.0:{port}" in output
    assert "Stopping Solace" in output
