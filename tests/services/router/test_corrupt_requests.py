"""Bytes that are not a valid request, sent to every RPC of every standalone server (the five
services, health and reflection): INVALID_ARGUMENT each time, never UNKNOWN or INTERNAL, and
the server still SERVING and answering afterwards. The same fuzz through Ray Serve's proxy is
in test_platform.py."""

from __future__ import annotations

import grpc
import pytest
from corrupt_requests import acall_raw, corrupt_requests, methods_of, request_class_of
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.rpc_names import HEALTH_SERVICE
from services.common.server import start_server
from solace.v1 import common_pb2, support_pb2, support_pb2_grpc
from solace_cli.standalone import service_specs

pytestmark = pytest.mark.integration

SERVICES = ("risk", "defense", "strategy", "generator")


@pytest.fixture
async def servers(settings, tmp_path):
    running = {}
    for name in SERVICES:
        running[name] = await start_server(service_specs(name, settings), 0, host="127.0.0.1")
    routed = settings.with_overrides(
        escalation_store_url=f"sqlite:///{tmp_path / 'audit.db'}",
        **{f"{n}_target": f"127.0.0.1:{s.port}" for n, s in running.items()},
    )
    running["support"] = await start_server(service_specs("support", routed), 0, host="127.0.0.1")
    yield running
    for server in running.values():
        await server.stop(0)


async def test_corrupt_bytes_are_invalid_argument_on_every_standalone_rpc(servers):
    wrong: list[str] = []
    calls = 0
    for name, server in servers.items():
        methods = methods_of(*server.services, HEALTH_SERVICE, reflection.SERVICE_NAME)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            for method in methods:
                for label, data in corrupt_requests(request_class_of(method)):
                    code, details = await acall_raw(channel, method, data, timeout=10)
                    calls += 1
                    if code != grpc.StatusCode.INVALID_ARGUMENT:
                        wrong.append(f"{name} {method} {label}: {code.name} {details}")
            health = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
    assert not wrong, f"{len(wrong)} of {calls} calls:\n" + "\n".join(wrong[:20])
    # Every server still does its work: Support, through all four services.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{servers['support'].port}") as channel:
        request = support_pb2.RespondRequest(
            conversation=common_pb2.Conversation(
                turns=[common_pb2.Turn(role=common_pb2.ROLE_SEEKER, text="I can't sleep")]
            )
        )
        response = await support_pb2_grpc.SupportStub(channel).Respond(request, timeout=30)
    assert response.reply and not response.safety_hold
    assert response.generation.text


async def test_details_name_the_field_sent_with_the_wrong_wire_type(servers):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{servers['risk'].port}") as channel:
        cases = dict(corrupt_requests(request_class_of("/solace.v1.RiskScreening/Screen")))
        code, details = await acall_raw(
            channel,
            "/solace.v1.RiskScreening/Screen",
            cases["wire_type[conversation.turns[0].text]"],
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert details.startswith("conversation.turns[0].text:")
        code, details = await acall_raw(channel, "/solace.v1.RiskScreening/Screen", b"\xff\xff")
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert details.startswith("request: is not a valid solace.v1.ScreenRequest")
