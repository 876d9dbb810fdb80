"""The whole platform on Ray Serve, called over a real gRPC channel by a client that knows only
the .proto files (no Ray metadata): replies, streaming, health, reflection, bad input; in both
topologies (the services colocated in the ingress, and one deployment per service)."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.common.serve_options import COLOCATED, SERVICES
from solace.v1 import common_pb2, support_pb2, support_pb2_grpc

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEEKER, SUPPORTER = common_pb2.ROLE_SEEKER, common_pb2.ROLE_SUPPORTER


@pytest.fixture(scope="module", params=[COLOCATED, SERVICES])
def channel(settings, request):
    from solace.platform import start_on_free_ports, stop_platform

    platform_settings = start_on_free_ports(settings.with_overrides(serve_topology=request.param))
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
    assert "solace.v1.Support" in names


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
