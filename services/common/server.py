"""The one gRPC server runner every standalone Solace service uses: grpc.aio with
``grpc.health.v1``, server reflection, the error-mapping interceptor, optional TLS, and a
graceful stop on SIGTERM/SIGINT (health goes NOT_SERVING, in-flight RPCs get a grace period).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from services.common.interceptor import ErrorMappingInterceptor, Guard
from services.common.rpc_names import HEALTH_SERVICE

log = logging.getLogger("solace.server")


@dataclass(frozen=True)
class ServiceSpec:
    """One gRPC service to host: its full name, its generated ``add_*_to_server`` and servicer."""

    name: str
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any


@dataclass
class RunningServer:
    """A started server; ``port`` is the bound port (useful when asked for port 0)."""

    server: grpc.aio.Server
    port: int
    health: HealthServicer
    services: tuple[str, ...]

    async def stop(self, grace: float | None = None) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def start_server(
    services: Sequence[ServiceSpec],
    port: int,
    host: str = "0.0.0.0",
    credentials: grpc.ServerCredentials | None = None,
    guard: Guard | None = None,
    max_message_bytes: int = 4 * 1024 * 1024,
    telemetry_service: str = "",
) -> RunningServer:
    """Start a grpc.aio server hosting ``services`` plus health and reflection."""
    server = grpc.aio.server(
        interceptors=[ErrorMappingInterceptor(guard, telemetry_service)],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    for spec in services:
        spec.add_to_server(spec.servicer, server)
    names = tuple(spec.name for spec in services)
    reflection.enable_server_reflection(
        (
            *names,
            HEALTH_SERVICE,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    address = f"{host}:{port}"
    bound = (
        server.add_secure_port(address, credentials)
        if credentials is not None
        else server.add_insecure_port(address)
    )
    await server.start()
    serving = health_pb2.HealthCheckResponse.SERVING
    await health.set("", serving)
    for name in names:
        await health.set(name, serving)
    return RunningServer(server=server, port=bound, health=health, services=names)


async def serve_until_signalled(running: RunningServer, grace_s: float) -> None:
    """Block until SIGTERM or SIGINT, then stop gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: health NOT_SERVING, %.1fs grace for in-flight calls", grace_s)
    await running.stop(grace_s)
