"""The one gRPC server interceptor: maps the project's error hierarchy to status codes (the
table in ARCHITECTURE.md), honours client deadlines, and never sends a stack trace to a client.

``status_for`` is also used by the Ray Serve ingress, which sets codes on its gRPC context
instead of going through a grpc.aio interceptor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from services.common import telemetry
from services.common.errors import SolaceError

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
    # Anything else is our own bug: log it here, tell the client nothing about internals.
    return grpc.StatusCode.INTERNAL, "internal error"


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
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, guard, details, method, self._service),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, guard, details, method, self._service),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException, method: str) -> None:
    code, message = status_for(exc)
    if code == grpc.StatusCode.INTERNAL:
        log.exception("unhandled error in %s", method, exc_info=exc)
    await context.abort(code, message)


def _wrap_unary(
    behaviour: Callable[..., Any], guard: Guard | None, details: Any, method: str, service: str
) -> Callable[..., Awaitable[Any]]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        metadata = details.invocation_metadata
        with telemetry.server_call(service, method, metadata) as record:
            try:
                if guard is not None:
                    await guard(details)
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
) -> Callable[..., AsyncIterator[Any]]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        # Counted and timed; no span is held open across the stream's yields.
        start, code = time.perf_counter(), "OK"
        try:
            if guard is not None:
                await guard(details)
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
