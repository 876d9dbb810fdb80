"""Access and limits at the Support router: API keys (hashed at rest, named), UNAUTHENTICATED
without one, and per-key rate limits shared by two router replicas through the real Redis."""

from __future__ import annotations

import os
import uuid

import grpc
import pytest
import redis

from services.common.auth import hash_key
from services.common.server import start_server
from solace.v1 import common_pb2, risk_pb2, risk_pb2_grpc, support_pb2, support_pb2_grpc
from solace_cli.standalone import service_specs

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def ask() -> support_pb2.RespondRequest:
    return support_pb2.RespondRequest(
        conversation=common_pb2.Conversation(
            turns=[common_pb2.Turn(role=common_pb2.ROLE_SEEKER, text="I feel lonely lately")]
        )
    )


@pytest.fixture
async def routers(settings, tmp_path):
    """Two Support routers (replicas) over one set of standalone services, sharing Redis."""
    if not _redis_up():
        if os.environ.get("CI"):
            pytest.fail("Redis is not running at 127.0.0.1:6379 (CI must start it)")
        pytest.skip("Redis is not running at 127.0.0.1:6379")
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "keys:\n"
        f"  - {{name: partner-a, sha256: {hash_key('key-a')}, rate_per_s: 0.01, burst: 5}}\n"
        f"  - {{name: partner-b, sha256: {hash_key('key-b')}}}\n"
    )
    assert "key-a" not in keys.read_text()  # only hashes at rest
    services = {
        n: await start_server(service_specs(n, settings), 0, host="127.0.0.1")
        for n in ("risk", "defense", "strategy", "generator")
    }
    routed = settings.with_overrides(
        api_keys_file=str(keys),
        redis_url=REDIS_URL,
        rate_limit_prefix=f"solace:test:{uuid.uuid4().hex}",
        escalation_store_url=f"sqlite:///{tmp_path / 'audit.db'}",
        **{f"{n}_target": f"127.0.0.1:{s.port}" for n, s in services.items()},
    )
    from services.common.access import AccessControl

    replicas = []
    for _ in range(2):
        specs = service_specs("support", routed)
        replicas.append(
            await start_server(specs, 0, host="127.0.0.1", guard=AccessControl(routed.access).guard)
        )
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{r.port}") for r in replicas]
    yield channels
    for channel in channels:
        await channel.close()
    for server in (*replicas, *services.values()):
        await server.stop(0)


async def test_calls_without_a_valid_key_are_unauthenticated(routers):
    stub = support_pb2_grpc.SupportStub(routers[0])
    for metadata in (None, [("x-api-key", "wrong")]):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Respond(ask(), metadata=metadata, timeout=30)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    reply = await stub.Respond(ask(), metadata=[("authorization", "Bearer key-b")], timeout=30)
    assert reply.reply


async def test_two_replicas_share_one_quota_through_redis(routers):
    allowed = refused = 0
    for i in range(12):
        # Alternate replicas: only a shared bucket limits the total.
        stub = support_pb2_grpc.SupportStub(routers[i % 2])
        try:
            await stub.Respond(ask(), metadata=[("x-api-key", "key-a")], timeout=30)
            allowed += 1
        except grpc.aio.AioRpcError as err:
            assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            refused += 1
    assert allowed == 5  # the burst, across both replicas together
    assert refused == 7
    # Another key has its own quota.
    other = support_pb2_grpc.SupportStub(routers[1])
    assert (await other.Respond(ask(), metadata=[("x-api-key", "key-b")], timeout=30)).reply


async def test_forwarded_services_take_the_same_keys_and_quota_as_support(routers):
    screen = risk_pb2_grpc.RiskScreeningStub(routers[0]).Screen
    request = risk_pb2.ScreenRequest(conversation=ask().conversation)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await screen(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # key-a's burst of 5 is one bucket for every RPC of the port.
    codes = []
    for _ in range(3):
        await screen(request, metadata=[("x-api-key", "key-a")], timeout=30)
    support = support_pb2_grpc.SupportStub(routers[1])
    for _ in range(3):
        try:
            await support.Respond(ask(), metadata=[("x-api-key", "key-a")], timeout=30)
            codes.append("OK")
        except grpc.aio.AioRpcError as exc:
            codes.append(exc.code().name)
    assert codes == ["OK", "OK", "RESOURCE_EXHAUSTED"]
