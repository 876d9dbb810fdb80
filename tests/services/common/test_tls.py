"""TLS and mutual TLS on a real grpc.aio server, with a throwaway CA made at test time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from pki import make_pki  # tests/support

from services.common.config import Settings, TlsSettings, load_settings
from services.common.errors import InvalidArgument
from services.common.tls import (
    channel_credentials,
    client_channel_credentials,
    server_credentials,
    server_mode,
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca.pem, server.{pem,key} (localhost, 127.0.0.1), client.{pem,key}; never committed."""
    return make_pki(tmp_path_factory.mktemp("pki"))


async def _serve(settings: Settings) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    creds = server_credentials(settings.tls)
    assert creds is not None
    port = server.add_secure_port("127.0.0.1:0", creds)
    await server.start()
    return server, port


async def _check(channel: grpc.aio.Channel) -> int:
    async with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=3)
        return reply.status


def _secure(port: int, creds: grpc.ChannelCredentials) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(f"localhost:{port}", creds)


@pytest.fixture
async def tls_server(pki: Path) -> AsyncIterator[int]:
    settings = Settings().with_overrides(
        tls_cert_file=str(pki / "server.pem"), tls_key_file=str(pki / "server.key")
    )
    assert server_mode(settings.tls) == "tls"
    server, port = await _serve(settings)
    yield port
    await server.stop(None)


@pytest.fixture
async def mtls_server(pki: Path) -> AsyncIterator[int]:
    settings = load_settings(
        {
            "SOLACE_TLS_CERT_FILE": str(pki / "server.pem"),
            "SOLACE_TLS_KEY_FILE": str(pki / "server.key"),
            "SOLACE_TLS_CLIENT_CA_FILE": str(pki / "ca.pem"),
        }
    )
    assert server_mode(settings.tls) == "mtls"
    server, port = await _serve(settings)
    yield port
    await server.stop(None)


async def test_tls_client_connects_and_plaintext_fails(tls_server: int, pki: Path) -> None:
    creds = channel_credentials(ca_file=str(pki / "ca.pem"))
    assert await _check(_secure(tls_server, creds)) == health_pb2.HealthCheckResponse.SERVING

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _check(grpc.aio.insecure_channel(f"127.0.0.1:{tls_server}"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_client_that_does_not_trust_the_ca_fails(tls_server: int) -> None:
    # System roots only: the throwaway CA is not among them.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _check(_secure(tls_server, channel_credentials()))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mtls_requires_a_client_certificate(mtls_server: int, pki: Path) -> None:
    without_cert = channel_credentials(ca_file=str(pki / "ca.pem"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _check(_secure(mtls_server, without_cert))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

    with_cert = client_channel_credentials(
        TlsSettings(
            ca_file=str(pki / "ca.pem"),
            client_cert_file=str(pki / "client.pem"),
            client_key_file=str(pki / "client.key"),
        )
    )
    assert with_cert is not None
    status = await _check(_secure(mtls_server, with_cert))
    assert status == health_pb2.HealthCheckResponse.SERVING


def test_incomplete_settings_are_rejected(pki: Path) -> None:
    assert server_mode(Settings().tls) == "plaintext"
    assert server_credentials(Settings().tls) is None
    assert client_channel_credentials(Settings().tls) is None
    with pytest.raises(InvalidArgument):
        server_credentials(TlsSettings(cert_file=str(pki / "server.pem")))
    with pytest.raises(InvalidArgument):
        server_credentials(TlsSettings(client_ca_file=str(pki / "ca.pem")))
    with pytest.raises(InvalidArgument, match="cannot read"):
        server_credentials(TlsSettings(cert_file="/nope.pem", key_file="/nope.key"))
