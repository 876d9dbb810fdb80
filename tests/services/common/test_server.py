"""The server runner on a real port: error table, deadlines, health, reflection, graceful stop."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.common.errors import InvalidArgument, Unauthenticated, Unavailable
from services.common.server import ServiceSpec, start_server
from solace.v1 import common_pb2, strategy_pb2, strategy_pb2_grpc

NAME = "solace.v1.StrategyPredictor"


class Scripted(strategy_pb2_grpc.StrategyPredictorServicer):
    """Answers by the seeker's text: a test can ask for each failure mode."""

    async def Predict(self, request, context):
        text = request.conversation.turns[0].text
        if text == "bad":
            raise InvalidArgument("conversation.turns[0].text", "is bad")
        if text == "down":
            raise Unavailable("the model is down")
        if text == "bug":
            raise RuntimeError("secret internals /etc/passwd")
        if text == "slow":
            await asyncio.sleep(5)
        return strategy_pb2.PredictResponse(strategy=common_pb2.STRATEGY_QUESTION)


def request(text: str) -> strategy_pb2.PredictRequest:
    return strategy_pb2.PredictRequest(
        conversation=common_pb2.Conversation(
            turns=[common_pb2.Turn(role=common_pb2.ROLE_SEEKER, text=text)]
        )
    )


@pytest.fixture
async def server():
    async def guard(details):
        metadata = dict(details.invocation_metadata or ())
        if metadata.get("x-api-key") == "wrong":
            raise Unauthenticated("invalid API key")

    running = await start_server(
        [ServiceSpec(NAME, strategy_pb2_grpc.add_StrategyPredictorServicer_to_server, Scripted())],
        port=0,
        host="127.0.0.1",
        guard=guard,
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    yield running, channel
    await channel.close()
    await running.stop(0)


@pytest.mark.parametrize(
    ("text", "code", "detail"),
    [
        ("bad", grpc.StatusCode.INVALID_ARGUMENT, "conversation.turns[0].text: is bad"),
        ("down", grpc.StatusCode.UNAVAILABLE, "the model is down"),
        ("bug", grpc.StatusCode.INTERNAL, "internal error"),
    ],
)
async def test_errors_map_through_one_table(server, text, code, detail):
    _, channel = server
    stub = strategy_pb2_grpc.StrategyPredictorStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Predict(request(text))
    assert err.value.code() == code
    assert err.value.details() == detail
    # The server keeps serving after every failure.
    assert (await stub.Predict(request("fine"))).strategy == common_pb2.STRATEGY_QUESTION


async def test_client_deadline_is_honoured(server):
    _, channel = server
    stub = strategy_pb2_grpc.StrategyPredictorStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Predict(request("slow"), timeout=0.2)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_guard_refuses_but_health_stays_open(server):
    _, channel = server
    stub = strategy_pb2_grpc.StrategyPredictorStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Predict(request("fine"), metadata=[("x-api-key", "wrong")])
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    health = health_pb2_grpc.HealthStub(channel)
    reply = await health.Check(
        health_pb2.HealthCheckRequest(service=NAME), metadata=[("x-api-key", "wrong")]
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_service(server):
    _, channel = server
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def one():
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    replies = [r async for r in stub.ServerReflectionInfo(one())]
    names = {s.name for s in replies[0].list_services_response.service}
    assert {NAME, "grpc.health.v1.Health"} <= names


async def test_graceful_stop_reports_not_serving(server):
    running, channel = server
    health = health_pb2_grpc.HealthStub(channel)
    await running.health.enter_graceful_shutdown()
    reply = await health.Check(health_pb2.HealthCheckRequest(service=NAME))
    assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
