"""The whole platform on Ray Serve, called over a real gRPC channel by a client that knows only
the .proto files (no Ray metadata): replies, streaming, health, reflection, bad input, corrupt
bytes, a replica killed under load; in both topologies (the services colocated in the ingress,
and one deployment per service)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import grpc
import pytest
from corrupt_requests import call_raw, corrupt_requests, methods_of, request_class_of
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from services.common.rpc_names import GENERATOR_SERVICE, HEALTH_SERVICE, SUPPORT_SERVICE
from services.common.serve_options import COLOCATED, SERVICES
from services.router.forward import FORWARDED_SERVICES
from solace.v1 import (
    common_pb2,
    defense_pb2,
    defense_pb2_grpc,
    generation_pb2,
    generation_pb2_grpc,
    risk_pb2,
    risk_pb2_grpc,
    strategy_pb2,
    strategy_pb2_grpc,
    support_pb2,
    support_pb2_grpc,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEEKER, SUPPORTER = common_pb2.ROLE_SEEKER, common_pb2.ROLE_SUPPORTER


@pytest.fixture(scope="module", params=[COLOCATED, SERVICES])
def topology(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def channel(settings, topology):
    from solace_cli.platform import start_on_free_ports, stop_platform

    platform_settings = start_on_free_ports(settings.with_overrides(serve_topology=topology))
    with grpc.insecure_channel(f"127.0.0.1:{platform_settings.grpc_port}") as ch:
        grpc.channel_ready_future(ch).result(timeout=60)
        yield ch
    stop_platform()


def ask(*turns, **options) -> support_pb2.RespondRequest:
    return support_pb2.RespondRequest(
        conversation=common_pb2.Conversation(
            turns=[common_pb2.Turn(role=r, text=t) for r, t in turns]
        ),
        options=support_pb2.RespondOptions(**options),
    )


def test_respond_answers_with_annotations_and_timings(channel):
    stub = support_pb2_grpc.SupportStub(channel)
    response = stub.Respond(ask((SEEKER, "I lost my job and I can't sleep")), timeout=30)
    assert response.reply.strip()
    assert not response.escalated
    assert response.risk.level in (common_pb2.RISK_LEVEL_NONE, common_pb2.RISK_LEVEL_LOW)
    assert response.defense.level != common_pb2.DEFENSE_LEVEL_UNSPECIFIED
    assert response.strategy.strategy != common_pb2.STRATEGY_UNSPECIFIED
    assert response.generation.strategy != common_pb2.STRATEGY_UNSPECIFIED
    stages = [t.stage for t in response.timings]
    for stage in ("validation", "risk", "defense", "strategy", "generation", "total"):
        assert stage in stages


def test_crisis_is_escalated_without_generated_text(channel):
    stub = support_pb2_grpc.SupportStub(channel)
    response = stub.Respond(
        ask((SEEKER, "I have the pills ready and I am going to kill myself tonight")), timeout=30
    )
    assert response.escalated
    assert response.escalation_id
    assert response.risk.level in (common_pb2.RISK_LEVEL_HIGH, common_pb2.RISK_LEVEL_IMMINENT)
    assert not response.HasField("generation")
    assert response.resources


def test_stream_deltas_add_up_to_the_final_reply(channel):
    stub = support_pb2_grpc.SupportStub(channel)
    chunks = list(
        stub.RespondStream(ask((SEEKER, "My exams are coming and I feel anxious")), timeout=30)
    )
    assert chunks[-1].HasField("final")
    text = "".join(c.text_delta for c in chunks[:-1])
    assert text == chunks[-1].final.reply
    assert len(chunks) > 2


def test_health_and_reflection_on_the_same_port(channel):
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = list(
        stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    )
    names = {s.name for s in replies[0].list_services_response.service}
    assert {"solace.v1.Support", *FORWARDED_SERVICES} <= names
    assert GENERATOR_SERVICE not in names


def _conversation(text: str) -> common_pb2.Conversation:
    return common_pb2.Conversation(turns=[common_pb2.Turn(role=SEEKER, text=text)])


def test_the_classifier_services_answer_on_the_serve_port(channel):
    screened = risk_pb2_grpc.RiskScreeningStub(channel).Screen(
        risk_pb2.ScreenRequest(conversation=_conversation("I'm going to kill myself tonight")),
        timeout=30,
    )
    assert screened.level >= common_pb2.RISK_LEVEL_HIGH
    assert screened.decision.escalate and screened.reasons
    classified = defense_pb2_grpc.DefenseClassifierStub(channel).Classify(
        defense_pb2.ClassifyRequest(conversation=_conversation("It's fine, I don't care")),
        timeout=30,
    )
    assert classified.level != common_pb2.DEFENSE_LEVEL_UNSPECIFIED
    predicted = strategy_pb2_grpc.StrategyPredictorStub(channel).Predict(
        strategy_pb2.PredictRequest(conversation=_conversation("I lost my job today")), timeout=30
    )
    assert predicted.strategy != common_pb2.STRATEGY_UNSPECIFIED
    with pytest.raises(grpc.RpcError) as err:
        risk_pb2_grpc.RiskScreeningStub(channel).Screen(
            risk_pb2.ScreenRequest(conversation=common_pb2.Conversation()), timeout=30
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("conversation.turns")
    # The Generator stays internal.
    with pytest.raises(grpc.RpcError) as err:
        generation_pb2_grpc.GeneratorStub(channel).Generate(
            generation_pb2.GenerateRequest(conversation=_conversation("hi")), timeout=30
        )
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (ask(), "conversation.turns"),
        (ask((SEEKER, "hi"), (7, "who am I")), "conversation.turns[1].role"),
        (ask((SEEKER, "x" * 5000)), "conversation.turns[0].text"),
        (ask(*[(SEEKER, "again")] * 100), "conversation.turns"),
        (ask((SEEKER, "hi"), (SUPPORTER, "hello")), "conversation.turns[1].role"),
        (ask((SEEKER, "hi"), method=99), "options.method"),
    ],
)
def test_malformed_requests_get_invalid_argument_and_server_keeps_serving(channel, request_, field):
    stub = support_pb2_grpc.SupportStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        stub.Respond(request_, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(field + ":")
    assert stub.Respond(ask((SEEKER, "Thanks for listening")), timeout=30).reply


def test_corrupt_bytes_are_invalid_argument_through_serves_proxy(channel):
    # Every RPC on the Serve port: Support's, the forwarded services', health's, reflection's.
    wrong, calls = [], 0
    services = (SUPPORT_SERVICE, *FORWARDED_SERVICES, HEALTH_SERVICE, reflection.SERVICE_NAME)
    for method in methods_of(*services):
        for label, data in corrupt_requests(request_class_of(method), n_random=6, n_truncated=4):
            code, details = call_raw(channel, method, data, timeout=30)
            calls += 1
            if code != grpc.StatusCode.INVALID_ARGUMENT:
                wrong.append(f"{method} {label}: {code.name} {details}")
    assert not wrong, f"{len(wrong)} of {calls} calls:\n" + "\n".join(wrong[:20])
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert support_pb2_grpc.SupportStub(channel).Respond(ask((SEEKER, "hi")), timeout=30).reply


def _replica_pids(deployment: str) -> list[int]:
    """The processes of ``deployment``'s replicas on this machine (Ray titles them)."""
    title = f"ServeReplica:solace:{deployment}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if title in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


# Kept last: it kills a replica of the module's platform (Serve starts another).
def test_a_replica_killed_under_load_is_unavailable_never_internal(channel, topology):
    if topology != SERVICES:
        pytest.skip("once is enough: the ingress of the services topology starts fastest")
    stub = support_pb2_grpc.SupportStub(channel)
    codes: Counter[str] = Counter()
    after_kill: Counter[str] = Counter()
    killed, stop, lock = threading.Event(), threading.Event(), threading.Lock()
    texts = ["I have the pills ready and I am going to kill myself tonight", "I can't sleep"]

    def client(i: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                stub.Respond(ask((SEEKER, texts[(i + n) % 2])), timeout=30)
                code = "OK"
            except grpc.RpcError as err:
                code = err.code().name
            with lock:
                codes[code] += 1
                if killed.is_set():
                    after_kill[code] += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while codes["OK"] < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = _replica_pids("SupportIngress")
    assert pids, "no SupportIngress replica process found"
    os.kill(pids[0], signal.SIGKILL)
    killed.set()
    # Until a replica answers again (the other one, or the one Serve starts instead).
    deadline = time.monotonic() + 90
    while after_kill["OK"] < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(timeout=35)
    print(f"{len(pids)} replicas, one killed; codes {dict(codes)}, after it {dict(after_kill)}")
    assert set(codes) <= {"OK", "UNAVAILABLE"}, dict(codes)
    assert after_kill["OK"] >= 40, dict(after_kill)
