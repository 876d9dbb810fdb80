"""The one gRPC server interceptor: maps the project's error hierarchy to status codes (the
table in ARCHITECTURE.md), honours client deadlines, and never sends a stack trace to a client.

It also parses every request itself (``services.common.wire``): gRPC is handed each method
without its request deserializer, so bytes that are not a valid message reach the wrapped
handler, which answers INVALID_ARGUMENT; left to gRPC they would be UNKNOWN.

``status_for`` is also used by the Ray Serve ingress, which sets codes on its gRPC context
instead of going through a grpc.aio interceptor.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from services.common import telemetry
from services.common.errors import SolaceError
from services.common.wire import Deserializer, decode

log = logging.getLogger("solace.rpc")

_CODES: dict[str, grpc.StatusCode] = {
    "INVALID_ARGUMENT": grpc.StatusCode.INVALID_ARGUMENT,
    "UNAUTHENTICATED": grpc.StatusCode.UNAUTHENTICATED,
    "RESOURCE_EXHAUSTED": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "DEADLINE_EXCEEDED": grpc.StatusCode.DEADLINE_EXCEEDED,
    "INTERNAL": grpc.StatusCode.INTERNAL,
}


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and client-safe message for an exception raised by a handler."""
    if isinstance(exc, SolaceError):
        if exc.status == "INTERNAL":
            return grpc.StatusCode.INTERNAL, "internal error"
        return _CODES[exc.status], exc.message
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded"
    if is_lost_worker(exc):
        # A replica, actor or node that died under the call: the caller may retry elsewhere.
        return grpc.StatusCode.UNAVAILABLE, "a serving process was lost; retry"
    # Anything else is our own bug: log it here, tell the client nothing about internals.
    return grpc.StatusCode.INTERNAL, "internal error"


def is_lost_worker(exc: BaseException) -> bool:
    """Whether ``exc`` is Ray's word for a process that died (an actor, a worker, a node), or
    Serve's for a deployment with no live replica. Ray is looked up, never imported: a process
    that has not imported it cannot be holding one of its exceptions."""
    ray_errors = sys.modules.get("ray.exceptions")
    if ray_errors is None:
        return False
    lost: tuple[type, ...] = (
        ray_errors.RayActorError,  # ActorDiedError and ActorUnavailableError too
        ray_errors.WorkerCrashedError,
        ray_errors.NodeDiedError,
        ray_errors.LocalRayletDiedError,
    )
    serve_errors = sys.modules.get("ray.serve.exceptions")
    if serve_errors is not None:
        lost += (serve_errors.DeploymentUnavailableError,)
    # Serve wraps an upstream actor's death in a RayServeException with the death as cause.
    seen = 0
    while exc is not None and seen < 4:
        if isinstance(exc, lost):
            return True
        exc, seen = exc.__cause__, seen + 1
    return False


Guard = Callable[[grpc.HandlerCallDetails], Awaitable[None]]


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps unary-unary and unary-stream handlers.

    ``guard`` (optional) runs before every call of a guarded method with the call details
    (metadata included); it raises a ``SolaceError`` to refuse the call (authentication,
    rate limits). Health and reflection are never guarded, so probes keep working.
    """

    def __init__(self, guard: Guard | None = None, service: str = "") -> None:
        self._guard = guard
        # The telemetry label of the hosted service ("risk", "support", ...).
        self._service = service

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method or ""
        guard = None if method.startswith("/grpc.") else self._guard
        parse = handler.request_deserializer
        # Every handler below gets the request's bytes (no request_deserializer) and parses
        # them itself, where a bad message can be answered INVALID_ARGUMENT.
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, guard, details, method, self._service, parse),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, guard, details, method, self._service, parse),
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                _wrap_bidi(handler.stream_stream, method, parse),
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _wrap_client_stream(handler.stream_unary, method, parse),
                response_serializer=handler.response_serializer,
            )
        return handler


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException, method: str) -> None:
    code, message = status_for(exc)
    if code == grpc.StatusCode.INTERNAL:
        log.exception("unhandled error in %s", method, exc_info=exc)
    await context.abort(code, message)


def _wrap_unary(
    behaviour: Callable[..., Any],
    guard: Guard | None,
    details: Any,
    method: str,
    service: str,
    parse: Deserializer | None,
) -> Callable[..., Awaitable[Any]]:
    async def call(raw: Any, context: grpc.aio.ServicerContext) -> Any:
        metadata = details.invocation_metadata
        with telemetry.server_call(service, method, metadata) as record:
            try:
                if guard is not None:
                    await guard(details)
                request = decode(parse, raw)
                remaining = context.time_remaining()
                result = behaviour(request, context)
                if asyncio.iscoroutine(result):
                    # The client's deadline bounds our work: past it, nobody reads the answer.
                    result = await asyncio.wait_for(result, timeout=remaining)
                return result
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                record.code = status_for(exc)[0].name
                await _abort(context, exc, method)

    return call


def _wrap_stream(
    behaviour: Callable[..., AsyncIterator[Any]],
    guard: Guard | None,
    details: Any,
    method: str,
    service: str,
    parse: Deserializer | None,
) -> Callable[..., AsyncIterator[Any]]:
    async def call(raw: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        # Counted and timed; no span is held open across the stream's yields.
        start, code = time.perf_counter(), "OK"
        try:
            if guard is not None:
                await guard(details)
            request = decode(parse, raw)
            async for item in behaviour(request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            code = status_for(exc)[0].name
            await _abort(context, exc, method)
        finally:
            telemetry.count_request(service, method, code)
            telemetry.observe_stage(service, "total", time.perf_counter() - start, code=code)

    return call


async def _decoded(raw_requests: AsyncIterator[Any], parse: Deserializer | None):
    async for raw in raw_requests:
        yield decode(parse, raw)


def _wrap_bidi(
    behaviour: Callable[..., AsyncIterator[Any]], method: str, parse: Deserializer | None
) -> Callable[..., AsyncIterator[Any]]:
    """Bidi streaming (server reflection): each request is parsed as it arrives; a bad one ends
    the call with INVALID_ARGUMENT. Not guarded, not counted: Solace's own RPCs all take one
    request."""

    async def call(raw_requests: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for item in behaviour(_decoded(raw_requests, parse), context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, method)

    return call


def _wrap_client_stream(
    behaviour: Callable[..., Any], method: str, parse: Deserializer | None
) -> Callable[..., Awaitable[Any]]:
    """Client streaming, as ``_wrap_bidi`` (no Solace RPC streams requests today)."""

    async def call(raw_requests: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behaviour(_decoded(raw_requests, parse), context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, method)

    return call
