"""``solace serve <service>``: one service as a plain grpc.aio server on its own port, with
health, reflection, the error interceptor, access control and optional TLS."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.common.access import AccessControl
from services.common.config import Settings
from services.common.rpc_names import SUPPORT_SERVICE
from services.common.server import (
    RunningServer,
    ServiceSpec,
    serve_until_signalled,
    start_server,
)

log = logging.getLogger("solace.standalone")


def service_specs(name: str, settings: Settings) -> list[ServiceSpec]:
    """The services ``solace serve <name>`` hosts, built with their models: the one named, and
    with Support the classifier services it forwards (``services.router.forward``)."""
    if name == "support":
        return _support_specs(settings)
    return [_service_spec(name, settings)]


def _service_spec(name: str, settings: Settings) -> ServiceSpec:
    from services.registry import BY_NAME

    if name not in BY_NAME:
        raise ValueError(f"unknown service {name!r}")
    service = BY_NAME[name]
    return ServiceSpec(service.full_name, service.add_to_server, service.build_servicer(settings))


def _support_specs(settings: Settings) -> list[ServiceSpec]:
    from services.router.clients import GrpcClients
    from services.router.forward import FORWARDED, ForwardingServicer
    from services.router.pipeline import SupportPipeline
    from services.router.safety import build_safety_layer
    from services.router.servicer import SupportServicer
    from solace.v1 import support_pb2_grpc

    clients = GrpcClients.from_settings(settings)
    if settings.access.api_keys_file and not settings.access.internal_api_key_file:
        log.warning(
            "API keys are on but SOLACE_INTERNAL_API_KEY_FILE is unset: services that "
            "require keys will refuse the router's calls and every reply will be held"
        )
    pipeline = SupportPipeline(clients, build_safety_layer(settings), settings)
    support = ServiceSpec(
        SUPPORT_SERVICE, support_pb2_grpc.add_SupportServicer_to_server, SupportServicer(pipeline)
    )
    forwarded = [
        ServiceSpec(s.full_name, s.add_to_server, ForwardingServicer(s, clients, settings))
        for s in FORWARDED
    ]
    return [support, *forwarded]


@dataclass
class Standalone:
    """A started standalone server, with its access control and transport mode."""

    name: str
    spec: ServiceSpec  # the service named (Support also hosts the ones it forwards)
    running: RunningServer
    access: AccessControl
    mode: str  # "plaintext", "tls" or "mtls"

    async def stop(self, grace: float | None = None) -> None:
        await self.running.stop(grace)
        await self.access.close()


async def start_standalone(
    name: str, settings: Settings, port: int, host: str | None = None
) -> Standalone:
    """What ``solace serve <name>`` runs, started: the service on ``port`` (0: any free one)
    with access control (API keys, rate limits; the four services also admit the internal key)
    and the server TLS settings."""
    from services.common.tls import server_credentials, server_mode

    specs = service_specs(name, settings)
    access = AccessControl(settings.access, accept_internal=name != "support")
    running = await start_server(
        specs,
        port,
        host=settings.host if host is None else host,
        credentials=server_credentials(settings.tls),
        guard=access.guard,
        max_message_bytes=settings.access.max_request_bytes,
        telemetry_service=name,
    )
    return Standalone(name, specs[0], running, access, server_mode(settings.tls))


async def serve_standalone(name: str, settings: Settings, port: int) -> int:
    from services.common import telemetry

    telemetry.setup_tracing(f"solace-{name}")
    metrics_port = telemetry.start_metrics_server(settings.metrics_port)
    started = await start_standalone(name, settings, port)
    transport = {"plaintext": "plaintext", "tls": "TLS", "mtls": "mutual TLS"}[started.mode]
    print(
        f"Solace {name} ({started.spec.name}) serving on {settings.host}:{started.running.port} "
        f"({transport}; access: "
        f"{'OPEN: no API keys configured' if started.access.is_open else 'API keys'}).",
        flush=True,
    )
    if metrics_port:
        print(f"Prometheus metrics on :{metrics_port}/metrics", flush=True)
    await serve_until_signalled(started.running, settings.shutdown_grace_s)
    telemetry.shutdown_tracing()
    return 0
