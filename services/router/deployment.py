"""The Support ingress as a Ray Serve deployment behind Serve's gRPC proxy.

It reaches the services through their deployments' handles (``serve_topology: services``) or,
colocated, through their servicers built in this process (``LocalClients``): the same
pipeline, spans and metrics either way.

The proxy hands every RPC of the registered services to this class by method name: Support's
``Respond``/``RespondStream``; the classifier services' ``Screen``, ``Classify`` and ``Predict``
(``services/router/forward.py``: a partner app may screen or classify its own messages); and
``grpc.health.v1.Health/Check``/``Watch`` and server reflection, so stock tools (grpcurl,
Kubernetes gRPC probes) work against the Serve port.
Status codes are set on the Serve gRPC context from the one error table (``status_for``).

Requests arrive as bytes (Solace's servicer functions, ``services/router/serve_grpc.py``, keep
the proxy from parsing them) and each RPC parses its own with ``services.common.wire``, inside
its error handling: a request that is not a valid message is INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer
from grpc_reflection.v1alpha.reflection import SERVICE_NAME as REFLECTION_SERVICE
from ray import serve

from services.common import telemetry
from services.common.access import AccessControl
from services.common.config import Settings
from services.common.interceptor import status_for
from services.common.rpc_names import HEALTH_SERVICE, RESPOND, RESPOND_STREAM
from services.common.serve_options import INGRESS
from services.common.wire import decode, size_of
from services.router.clients import HandleClients, LocalClients, ServiceClients
from services.router.forward import BY_METHOD, forward
from services.router.pipeline import SupportPipeline
from services.router.safety import build_safety_layer
from services.router.service_names import PUBLIC_SERVICES
from solace.v1 import support_pb2

log = logging.getLogger("solace.router")
_HEALTH_TTL_S = 1.0
# What health's List names: the server ("") and the services it hosts.
_LISTED = ("", *(n for n in PUBLIC_SERVICES if n not in (HEALTH_SERVICE, REFLECTION_SERVICE)))


class SupportIngressReplica:
    def __init__(self, settings: Settings, handles: dict[str, Any] | None = None) -> None:
        """``handles``: the services' deployment handles by registry name
        (``services/router/app.py``), or ``None`` for the colocated topology."""
        # Replicas export metrics through Ray's per-node agent; traces go to OTLP when the
        # standard OTEL_* variables ask for it (off by default).
        telemetry.export_via_ray()
        telemetry.setup_tracing("solace-router")
        self._clients: ServiceClients
        if handles is None:
            self._clients = LocalClients.build(settings)
        else:
            if settings.serve.serve_grpc_transport:
                # Handles are built where the app is bound (the driver) with that process's
                # default transport; choose it here so the setting holds however the driver
                # was started.
                handles = {n: h.options(_by_reference=False) for n, h in handles.items()}
            self._clients = HandleClients(handles)
        self._safety = build_safety_layer(settings)
        self._pipeline = SupportPipeline(self._clients, self._safety, settings)
        self._access = AccessControl(settings.access)
        self._settings = settings
        self._reflection = ReflectionServicer(PUBLIC_SERVICES)
        self._healthy: tuple[float, bool] = (0.0, False)

    async def Respond(self, raw: bytes | support_pb2.RespondRequest, grpc_context=None):
        metadata = _metadata(grpc_context)
        with telemetry.server_call("router", RESPOND, metadata) as call:
            try:
                key = await self._access.admit(metadata, size_of(raw))
                request = decode(support_pb2.RespondRequest.FromString, raw)
                return await self._pipeline.respond(request, key_name=key)
            except Exception as exc:
                call.code = _set_status(grpc_context, exc)
                return support_pb2.RespondResponse()

    async def RespondStream(
        self, raw: bytes | support_pb2.RespondRequest, grpc_context=None
    ) -> AsyncIterator[support_pb2.RespondChunk]:
        # Counted and timed, but without a span held open across the yields.
        metadata = _metadata(grpc_context)
        start, code = time.perf_counter(), "OK"
        try:
            key = await self._access.admit(metadata, size_of(raw))
            request = decode(support_pb2.RespondRequest.FromString, raw)
            async for chunk in self._pipeline.respond_stream(request, key_name=key):
                yield chunk
        except Exception as exc:
            code = _set_status(grpc_context, exc)
            # A stream's status reaches the client only with an exception: Serve then sends
            # the code set on the context (returning would end the stream OK).
            raise
        finally:
            telemetry.count_request("router", RESPOND_STREAM, code)
            telemetry.observe_stage("router", "total", time.perf_counter() - start, code=code)

    # The forwarded services' RPCs on this port (services/router/forward.py: Screen, Classify,
    # Predict) are methods added below, one per RPC of the registry, each answered here:
    # admitted, parsed, counted and answered with the error table like Respond.

    async def _forward(self, method: str, raw: bytes, grpc_context: Any) -> Any:
        _, rpc = BY_METHOD[method]
        metadata = _metadata(grpc_context)
        with telemetry.server_call("router", rpc.name, metadata) as call:
            try:
                await self._access.admit(metadata, size_of(raw))
                request = decode(rpc.request.FromString, raw)
                return await forward(method, self._clients, request, self._settings)
            except Exception as exc:
                call.code = _set_status(grpc_context, exc)
                return rpc.response()

    async def _serving(self) -> bool:
        checked_at, healthy = self._healthy
        if time.monotonic() - checked_at > _HEALTH_TTL_S:
            healthy = await self._clients.ping(timeout=1.0)
            self._healthy = (time.monotonic(), healthy)
        return healthy

    async def Check(self, raw: bytes | health_pb2.HealthCheckRequest, grpc_context=None):
        try:
            decode(health_pb2.HealthCheckRequest.FromString, raw)
        except Exception as exc:
            _set_status(grpc_context, exc)
            return health_pb2.HealthCheckResponse()
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if await self._serving()
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        return health_pb2.HealthCheckResponse(status=status)

    async def List(self, raw: bytes | health_pb2.HealthListRequest, grpc_context=None):
        try:
            decode(health_pb2.HealthListRequest.FromString, raw)
        except Exception as exc:
            _set_status(grpc_context, exc)
            return health_pb2.HealthListResponse()
        status = (await self.Check(b"")).status
        return health_pb2.HealthListResponse(
            statuses={name: health_pb2.HealthCheckResponse(status=status) for name in _LISTED}
        )

    async def Watch(self, raw: bytes | health_pb2.HealthCheckRequest, grpc_context=None):
        try:
            request = decode(health_pb2.HealthCheckRequest.FromString, raw)
        except Exception as exc:
            _set_status(grpc_context, exc)
            raise  # as in RespondStream
        last = None
        while True:
            status = (await self.Check(request)).status
            if status != last:
                yield health_pb2.HealthCheckResponse(status=status)
                last = status
            await asyncio.sleep(_HEALTH_TTL_S)

    async def ServerReflectionInfo(self, request_iterator, grpc_context=None):
        async def requests():
            async for raw in request_iterator:
                yield decode(reflection_pb2.ServerReflectionRequest.FromString, raw)

        try:
            async for reply in self._reflection.ServerReflectionInfo(requests(), None):
                yield reply
        except Exception as exc:
            _set_status(grpc_context, exc)
            raise  # as in RespondStream

    async def ping(self) -> bool:
        return await self._serving()


def _metadata(grpc_context: Any) -> list[tuple[str, str]]:
    if grpc_context is None:
        return []
    return list(grpc_context.invocation_metadata())


def _set_status(grpc_context: Any, exc: BaseException) -> str:
    """Set the status for ``exc`` on the Serve gRPC context; returns the code's name."""
    code, message = status_for(exc)
    if code.name == "INTERNAL":
        log.exception("unhandled error in the Support ingress", exc_info=exc)
    if grpc_context is not None:
        grpc_context.set_code(code)
        grpc_context.set_details(message)
    return code.name


def _forwarded(method: str) -> Any:
    """The ingress method Serve's proxy calls for forwarded RPC ``method`` (by its name)."""

    async def answer(self: SupportIngressReplica, raw: bytes, grpc_context: Any = None) -> Any:
        return await self._forward(method, raw, grpc_context)

    service, _ = BY_METHOD[method]
    answer.__name__ = method
    answer.__qualname__ = f"{SupportIngressReplica.__qualname__}.{method}"
    answer.__doc__ = f"``{service.full_name}/{method}``, forwarded (services/router/forward.py)."
    return answer


for _method in BY_METHOD:
    setattr(SupportIngressReplica, _method, _forwarded(_method))

# Bound here rather than with a decorator so the replica class stays a plain module
# attribute: Ray then pickles it by reference instead of by value (by value drags in
# whatever the class's closures hold, such as a live batch queue).
SupportIngress = serve.deployment(name=INGRESS)(SupportIngressReplica)
