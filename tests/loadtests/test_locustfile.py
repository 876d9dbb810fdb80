"""The locustfile and its headless runner, against a fake Support server in this process: every
scenario runs, expected INVALID_ARGUMENT counts as success, a broken safety contract counts as
failure, and the runner's exit status says so (the CI smoke depends on it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from loadtests.messages import BAD_INPUT, CRISIS, EVERYDAY
from loadtests.run import read_summary
from services.common.config import load_settings
from services.common.convert import conversation_from_proto
from services.common.errors import InvalidArgument
from solace.v1 import common_pb2, support_pb2, support_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


class FakeSupport(support_pb2_grpc.SupportServicer):
    """Validates like the platform and escalates the load test's crisis messages (unless told
    not to, to show that the load test catches it)."""

    def __init__(self, escalate: bool = True) -> None:
        self.escalate = escalate
        self.settings = load_settings()
        self.traceparents: list[str | None] = []  # what each call carried

    def _answer(self, request, context) -> support_pb2.RespondResponse:
        self.traceparents.append(dict(context.invocation_metadata()).get("traceparent"))
        try:
            conversation_from_proto(request.conversation, self.settings)
            if request.options.method not in common_pb2.GenerationMethod.values():
                raise InvalidArgument("options.method", "unknown generation method")
            if request.options.generation.temperature < 0:
                raise InvalidArgument("options.generation.temperature", "must not be negative")
        except InvalidArgument as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
        text = request.conversation.turns[-1].text
        timings = [common_pb2.StageTiming(stage=s, milliseconds=1.0) for s in ("risk", "total")]
        if text in CRISIS and self.escalate:
            return support_pb2.RespondResponse(
                reply="crisis reply",
                escalated=True,
                escalation_id="e1",
                resources=[common_pb2.CrisisResource(name="line", contact="988")],
                timings=timings,
            )
        return support_pb2.RespondResponse(reply="I hear you.", timings=timings)

    def Respond(self, request, context):
        return self._answer(request, context)

    def RespondStream(self, request, context):
        response = self._answer(request, context)
        yield support_pb2.RespondChunk(text_delta=response.reply)
        yield support_pb2.RespondChunk(final=response)


def serve(servicer: FakeSupport) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    support_pb2_grpc.add_SupportServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def run_load(
    port: int, out: Path, scenario: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            *(sys.executable, "-m", "loadtests.run", "--host", f"127.0.0.1:{port}"),
            *("--users", "2", "--spawn-rate", "2", "--run-time", "3s"),
            *("--scenario", scenario, "--out", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_messages_are_realistic_and_bad_inputs_are_named():
    assert len(EVERYDAY) >= 15 and len(CRISIS) >= 5
    assert len({name for name, _ in BAD_INPUT}) == len(BAD_INPUT)


def test_locustfile_imports_in_a_fresh_process_with_locust_first():
    result = subprocess.run(
        [sys.executable, "-c", "import locust, loadtests.locustfile as f; print(f.SCENARIO)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "mix"


def test_mix_runs_headless_with_reports_and_no_failures(tmp_path):
    server, port = serve(FakeSupport())
    try:
        result = run_load(port, tmp_path, "mix")
    finally:
        server.stop(None)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = read_summary(tmp_path / "locust_stats.csv")
    assert summary.requests > 0 and summary.failures == 0
    assert "p99" in result.stdout and "req/s" in result.stdout
    assert (tmp_path / "report.html").stat().st_size > 0
    stages = json.loads((tmp_path / "stages.json").read_text())
    assert "total" in stages["stages_ms"]


def test_bad_input_counts_invalid_argument_as_success(tmp_path):
    server, port = serve(FakeSupport())
    try:
        result = run_load(port, tmp_path, "bad")
    finally:
        server.stop(None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert read_summary(tmp_path / "locust_stats.csv").failures == 0


def test_a_crisis_not_escalated_fails_the_run(tmp_path):
    server, port = serve(FakeSupport(escalate=False))
    try:
        result = run_load(port, tmp_path, "crisis")
    finally:
        server.stop(None)
    assert result.returncode != 0
    assert "crisis not escalated" in result.stderr
    summary = read_summary(tmp_path / "locust_stats.csv")
    assert summary.failures == summary.requests > 0


@pytest.mark.parametrize("share", [1.0, 0.5])
def test_trace_windows_alternate_sampled_and_untraced_calls_and_record_both(tmp_path, share):
    servicer = FakeSupport()
    server, port = serve(servicer)
    samples_file = tmp_path / "windows.json"
    env = {
        "SOLACE_LOAD_TRACE_WINDOW": "0.5",
        "SOLACE_LOAD_TRACE_SETTLE": "0.1",
        "SOLACE_LOAD_TRACE_FILE": str(samples_file),
        "SOLACE_LOAD_TRACE_SHARE": str(share),
    }
    try:
        result = run_load(port, tmp_path, "everyday", env)
    finally:
        server.stop(None)
    assert result.returncode == 0, result.stdout + result.stderr
    sent = [t for t in servicer.traceparents if t is not None]
    assert sent and len(sent) < len(servicer.traceparents), "some calls traced, some not"
    assert all(t.startswith("00-") for t in sent) and len({len(t) for t in sent}) == 1
    flags = {t.rsplit("-", 1)[1] for t in sent}
    # Every call of a traced window sampled, or (share below 1) some left unsampled.
    assert flags == ({"01"} if share == 1.0 else {"00", "01"})
    assert len({t.split("-")[1] for t in sent}) == len(sent), "a fresh trace per call"
    samples = json.loads(samples_file.read_text())["samples"]
    assert {traced for _, traced, _, _ in samples} == {True, False}
    assert all(traced == (window % 2 == 1) for window, traced, _, _ in samples)
    assert all(client_ms > 0 and server_ms == 1.0 for _, _, client_ms, server_ms in samples)
