"""The locustfile and its headless runner, against a fake Support server in this process: every
scenario runs, expected INVALID_ARGUMENT counts as success, a broken safety contract counts as
failure, and the runner's exit status says so (the CI smoke depends on it)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from loadtests import messages
from loadtests.messages import BAD_INPUT, CRISIS, EVERYDAY, fresh_turn
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


def test_every_seeker_turn_is_new_text_as_in_real_traffic():
    """A memo of 4,096 texts per service must not hold the load test's turns: draws of one
    sentence are nearly all distinct, and each still says what the sentence says."""
    rng = random.Random(7)
    sentence = EVERYDAY[1]  # "My girlfriend broke up with me ..."
    drawn = [fresh_turn(sentence, rng) for _ in range(5000)]
    assert len(set(drawn)) > 4800
    assert all(sentence[1:] in turn for turn in drawn)
    assert any(turn.startswith("Honestly, my girlfriend") for turn in drawn)
    assert fresh_turn("I lost my job.", random.Random(1)).count("I lost my job.") == 1


def test_a_conversation_grows_by_the_platforms_replies_and_new_seeker_turns(monkeypatch):
    monkeypatch.setattr(messages, "NEW_CONVERSATION_P", 0.0)
    conversation = messages.Conversation(random.Random(3))
    first, _ = conversation.next_turns(None)
    assert len(first) == 1
    second, _ = conversation.next_turns("That sounds hard. What happened?")
    # Resent whole, as partner apps do: the first turn, the platform's reply, a new turn.
    assert second[:2] == [first[0], "That sounds hard. What happened?"] and len(second) == 3
    assert second[2] not in first
    for _ in range(messages.MAX_SEEKER_TURNS - 2):
        conversation.next_turns("I hear you.")
    at_limit, _ = conversation.next_turns("I hear you.")
    assert len(at_limit) == 1  # a new conversation after the last seeker turn
    assert len(conversation.next_turns(None)[0]) == 1  # and after a call with no reply


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
