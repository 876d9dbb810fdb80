"""The standalone topology with security on: five servers as `solace serve <svc>` starts them
(``start_standalone``: access control, TLS) on real ports, with API keys, and then with mutual
TLS too. The Support router reaches the four services with the internal key (and its client
certificate) and gives a normal screened reply; a caller without a key is UNAUTHENTICATED."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from pki import make_pki  # tests/support

from services.common.auth import hash_key
from services.common.config import Settings
from services.common.tls import channel_credentials
from solace.v1 import (
    common_pb2,
    risk_pb2,
    risk_pb2_grpc,
    support_pb2,
    support_pb2_grpc,
)
from solace_cli.standalone import Standalone, start_standalone

pytestmark = pytest.mark.integration

PARTNER_KEY = "sk_partner_test_key"
INTERNAL_KEY = "sk_internal_test_key"
SERVICES = ("risk", "defense", "strategy", "generator")


def ask(text: str = "I lost my job and I can't sleep") -> support_pb2.RespondRequest:
    return support_pb2.RespondRequest(
        conversation=common_pb2.Conversation(
            turns=[common_pb2.Turn(role=common_pb2.ROLE_SEEKER, text=text)]
        )
    )


def screen_request() -> risk_pb2.ScreenRequest:
    return risk_pb2.ScreenRequest(conversation=ask().conversation)


class Platform:
    def __init__(self, settings: Settings, pki: Path | None) -> None:
        self.settings = settings
        self.pki = pki
        self.servers: dict[str, Standalone] = {}
        self.channels: list[grpc.aio.Channel] = []

    def channel(self, name: str) -> grpc.aio.Channel:
        address = f"localhost:{self.servers[name].running.port}"
        if self.pki is None:
            channel = grpc.aio.insecure_channel(address)
        else:
            channel = grpc.aio.secure_channel(
                address,
                channel_credentials(
                    str(self.pki / "ca.pem"),
                    str(self.pki / "client.pem"),
                    str(self.pki / "client.key"),
                ),
            )
        self.channels.append(channel)
        return channel

    def support(self, name: str = "support") -> support_pb2_grpc.SupportStub:
        return support_pb2_grpc.SupportStub(self.channel(name))

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
        for server in reversed(self.servers.values()):
            await server.stop(0)


@pytest.fixture(params=["api-keys", "api-keys+mtls"])
async def platform(request, settings, tmp_path):
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"keys:\n  - {{name: partner-a, sha256: {hash_key(PARTNER_KEY)}}}\n")
    internal = tmp_path / "internal-key"
    internal.write_text(INTERNAL_KEY + "\n")
    pki = make_pki(tmp_path) if request.param.endswith("mtls") else None
    secured = settings.with_overrides(
        api_keys_file=str(keys),
        internal_api_key_file=str(internal),
        escalation_store_url=f"sqlite:///{tmp_path / 'audit.db'}",
        risk_timeout_ms=1000,
    )
    if pki is not None:
        # One certificate for every server, one for the router's client side (mTLS).
        secured = secured.with_overrides(
            tls_cert_file=str(pki / "server.pem"),
            tls_key_file=str(pki / "server.key"),
            tls_client_ca_file=str(pki / "ca.pem"),
            tls_ca_file=str(pki / "ca.pem"),
            tls_client_cert_file=str(pki / "client.pem"),
            tls_client_key_file=str(pki / "client.key"),
        )
    platform = Platform(secured, pki)
    try:
        for name in SERVICES:
            platform.servers[name] = await start_standalone(name, secured, 0, host="127.0.0.1")
            assert platform.servers[name].mode == ("mtls" if pki else "plaintext")
        secured = secured.with_overrides(
            **{f"{n}_target": f"localhost:{s.running.port}" for n, s in platform.servers.items()}
        )
        platform.settings = secured
        platform.servers["support"] = await start_standalone(
            "support", secured, 0, host="127.0.0.1"
        )
        yield platform
    finally:
        await platform.close()


async def test_support_gives_a_screened_reply_with_security_on(platform):
    response = await platform.support().Respond(
        ask(), metadata=[("x-api-key", PARTNER_KEY)], timeout=30
    )
    assert response.reply and not response.safety_hold
    # Screened by the risk service: a verdict, not the fail-closed hold.
    assert response.risk.level != common_pb2.RISK_LEVEL_UNSPECIFIED
    assert response.defense.level and response.strategy.strategy and response.generation.text


async def test_a_caller_without_a_key_is_unauthenticated(platform):
    for metadata in (None, [("x-api-key", "sk_wrong")]):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await platform.support().Respond(ask(), metadata=metadata, timeout=30)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await risk_pb2_grpc.RiskScreeningStub(platform.channel("risk")).Screen(
                screen_request(), metadata=metadata, timeout=30
            )
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_the_internal_key_opens_the_services_not_support(platform):
    internal = [("x-api-key", INTERNAL_KEY)]
    risk = risk_pb2_grpc.RiskScreeningStub(platform.channel("risk"))
    assert (await risk.Screen(screen_request(), metadata=internal, timeout=30)).level
    # A partner's key works on a service too: partner apps may call one capability.
    partner = [("x-api-key", PARTNER_KEY)]
    assert (await risk.Screen(screen_request(), metadata=partner, timeout=30)).level
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await platform.support().Respond(ask(), metadata=internal, timeout=30)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_router_without_the_internal_key_fails_closed(platform):
    keyless = platform.settings.with_overrides(internal_api_key_file="")
    platform.servers["keyless"] = await start_standalone("support", keyless, 0, host="127.0.0.1")
    response = await platform.support("keyless").Respond(
        ask(), metadata=[("x-api-key", PARTNER_KEY)], timeout=30
    )
    assert response.safety_hold and not response.HasField("generation")
    assert response.resources
