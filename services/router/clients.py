"""The router's view of the services: one ``ServiceClients`` interface and its transports.

- ``HandleClients``: Ray Serve ``DeploymentHandle``s (the default platform);
- ``GrpcClients``: gRPC channels (plaintext, TLS or mTLS) to standalone services;
- ``LocalClients``: the servicers in this process (the colocated ingress, tests, tools).

Every call takes a timeout in seconds; a transport error surfaces as ``Unavailable`` or
``DeadlineExceeded`` so the pipeline can apply the safety policy without knowing the transport.

The calls are named once (``_Calls``, from the registry's RPCs, ``services.registry``); each
transport says only how one unary call and one stream travel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

import grpc

from services.common import telemetry
from services.common.auth import API_KEY_HEADER, read_key_file
from services.common.config import Settings
from services.common.errors import DeadlineExceeded, SolaceError, Unavailable
from services.common.tls import client_channel_credentials
from services.registry import BY_NAME, SERVICES, Rpc, Service
from solace.v1 import defense_pb2, generation_pb2, risk_pb2, strategy_pb2

# ``ServiceClients`` method -> (service, RPC), from the registry.
CALLS: dict[str, tuple[Service, Rpc]] = {
    rpc.call: (service, rpc) for service in SERVICES for rpc in service.rpcs
}


class ServiceClients(Protocol):
    """What the Support pipeline needs from the services."""

    async def screen(
        self, request: risk_pb2.ScreenRequest, timeout: float
    ) -> risk_pb2.ScreenResponse: ...

    async def classify(
        self, request: defense_pb2.ClassifyRequest, timeout: float
    ) -> defense_pb2.ClassifyResponse: ...

    async def predict(
        self, request: strategy_pb2.PredictRequest, timeout: float
    ) -> strategy_pb2.PredictResponse: ...

    async def generate(
        self, request: generation_pb2.GenerateRequest, timeout: float
    ) -> generation_pb2.GenerateResponse: ...

    def generate_stream(
        self, request: generation_pb2.GenerateRequest, timeout: float
    ) -> AsyncIterator[generation_pb2.GenerateChunk]: ...

    async def ping(self, timeout: float) -> bool: ...


async def _bounded(call: Any, timeout: float, what: str) -> Any:
    try:
        return await asyncio.wait_for(call, timeout=timeout)
    except TimeoutError as exc:
        raise DeadlineExceeded(f"{what} did not answer within {timeout * 1000:.0f} ms") from exc
    except SolaceError:
        raise
    except grpc.aio.AioRpcError as exc:
        raise _from_rpc_error(exc, what) from exc
    except Exception as exc:
        # A replica crash, a Ray actor error, a refused connection: the dependency is down.
        raise Unavailable(f"{what} is unavailable ({type(exc).__name__})") from exc


def _from_rpc_error(exc: grpc.aio.AioRpcError, what: str) -> SolaceError:
    from services.common.errors import InvalidArgument

    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
        field, _, message = (exc.details() or "").partition(": ")
        return InvalidArgument(field, message)
    if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(f"{what} did not answer in time")
    return Unavailable(f"{what} is unavailable ({exc.code().name})")


class _Calls:
    """The ``ServiceClients`` calls (``screen``, ``classify``, ...: one per registry RPC, added
    below), each over the transport's ``_unary`` or ``_stream``."""

    async def _unary(self, call: str, request: Any, timeout: float) -> Any:
        raise NotImplementedError

    def _stream(self, call: str, request: Any, timeout: float) -> AsyncIterator[Any]:
        raise NotImplementedError


def _call(name: str, rpc: Rpc) -> Any:
    """The ``_Calls`` method ``name``: ``rpc`` over the transport."""
    if rpc.stream:

        def call(self: _Calls, request: Any, timeout: float) -> AsyncIterator[Any]:
            return self._stream(name, request, timeout)

    else:

        async def call(self: _Calls, request: Any, timeout: float) -> Any:
            return await self._unary(name, request, timeout)

    call.__name__, call.__qualname__ = name, f"_Calls.{name}"
    call.__doc__ = f"``{rpc.name}``{' (a stream)' if rpc.stream else ''}, within ``timeout`` s."
    return call


for _name, (_, _rpc) in CALLS.items():
    setattr(_Calls, _name, _call(_name, _rpc))


class HandleClients(_Calls):
    """Calls the services' Ray Serve deployments through their handles (``handles``: by
    registry name)."""

    def __init__(self, handles: dict[str, Any]) -> None:
        self._handles = {name: handles[name] for name in BY_NAME}

    # Each call carries the W3C trace context to the deployment, which continues the trace.

    async def _unary(self, call, request, timeout):
        service, rpc = CALLS[call]
        with telemetry.client_call(rpc.name) as md:
            method = getattr(self._handles[service.name], rpc.local)
            return await _bounded(method.remote(request, trace_metadata=md), timeout, service.label)

    async def _stream(self, call, request, timeout):
        service, rpc = CALLS[call]
        md = telemetry.inject_metadata()
        handle = self._handles[service.name].options(stream=True)
        stream = getattr(handle, rpc.local).remote(request, trace_metadata=md)
        try:
            async with asyncio.timeout(timeout):
                async for chunk in stream:
                    yield chunk
        except TimeoutError as exc:
            stream.cancel()
            raise DeadlineExceeded(f"{service.label} did not finish in time") from exc
        except SolaceError:
            raise
        except Exception as exc:
            raise Unavailable(f"{service.label} is unavailable ({type(exc).__name__})") from exc

    async def ping(self, timeout):
        calls = [h.ping.remote() for h in self._handles.values()]
        try:
            results = await asyncio.wait_for(asyncio.gather(*calls), timeout=timeout)
        except Exception:
            return False
        return all(results)


class GrpcClients(_Calls):
    """Calls standalone services over gRPC channels (``targets``: address by registry name).

    ``credentials``: TLS (and, with a client certificate, mutual TLS) channel credentials;
    None opens plaintext channels. ``api_key``: sent as ``x-api-key`` on every service call
    (the internal key, which the standalone services accept; docs/safety.md). Health checks
    are never guarded, so ``ping`` sends none.
    """

    def __init__(
        self,
        targets: dict[str, str],
        *,
        credentials: grpc.ChannelCredentials | None = None,
        api_key: str = "",
    ) -> None:
        self._channels = {
            name: grpc.aio.secure_channel(targets[name], credentials)
            if credentials is not None
            else grpc.aio.insecure_channel(targets[name])
            for name in BY_NAME
        }
        self._md: tuple[tuple[str, str], ...] = ((API_KEY_HEADER, api_key),) if api_key else ()
        self._stubs = {s.name: s.stub(self._channels[s.name]) for s in SERVICES}

    @classmethod
    def from_settings(cls, settings: Settings) -> GrpcClients:
        """Channels to each service's ``target`` setting with the client TLS settings
        (``tls_ca_file``, ``tls_client_cert_file``/``tls_client_key_file``) and the internal
        key of ``internal_api_key_file``."""
        path = settings.access.internal_api_key_file
        return cls(
            {s.name: s.target(settings) for s in SERVICES},
            credentials=client_channel_credentials(settings.tls),
            api_key=read_key_file("SOLACE_INTERNAL_API_KEY_FILE", path) if path else "",
        )

    async def _unary(self, call, request, timeout):
        service, rpc = CALLS[call]
        with telemetry.client_call(rpc.name, self._md) as md:
            method = getattr(self._stubs[service.name], rpc.method)
            return await _bounded(
                method(request, timeout=timeout, metadata=md), timeout, service.label
            )

    async def _stream(self, call, request, timeout):
        service, rpc = CALLS[call]
        md = telemetry.inject_metadata(self._md)
        stream = getattr(self._stubs[service.name], rpc.method)(
            request, timeout=timeout, metadata=md
        )
        try:
            async for chunk in stream:
                yield chunk
        except grpc.aio.AioRpcError as exc:
            raise _from_rpc_error(exc, service.label) from exc
        finally:
            stream.cancel()

    async def ping(self, timeout):
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        async def one(channel):
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout
            )
            return reply.status == health_pb2.HealthCheckResponse.SERVING

        try:
            return all(await asyncio.gather(*(one(c) for c in self._channels.values())))
        except Exception:
            return False

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()


@contextlib.contextmanager
def _called_here(service: str, rpc: str) -> Iterator[None]:
    """A call to a service in this process: the caller's span for the RPC, and the service's
    request count and duration without a span of its own."""
    with telemetry.client_call(rpc), telemetry.server_call(service, rpc, span=False):
        yield


class LocalClients(_Calls):
    """Calls the services' servicers living in this process: the colocated Support ingress
    (``LocalClients.build``), tests and single-process tools.

    Each call is one span (the stage's, or the call's own client span, as with the other
    transports) and the service's request count, in-flight gauge and duration as its deployment
    or standalone server would record them, so dashboards read the same whichever topology
    serves. It has no server span: nothing crosses a process, and a second span over the same
    interval cost tracing ~4 spans of ~10 per request (docs/observability.md)."""

    def __init__(self, **servicers: Any) -> None:
        """``servicers``: one per registry name (``risk=...``, ``defense=...``, ...)."""
        self.servicers: dict[str, Any] = {name: servicers[name] for name in BY_NAME}

    @classmethod
    def build(cls, settings: Settings) -> LocalClients:
        """Every registry service's servicer with its models, loaded in this process."""
        return cls(**{s.name: s.build_servicer(settings) for s in SERVICES})

    async def _unary(self, call, request, timeout):
        service, rpc = CALLS[call]
        with _called_here(service.name, rpc.name):
            method = getattr(self.servicers[service.name], rpc.local)
            return await _bounded(method(request), timeout, service.label)

    async def _stream(self, call, request, timeout):
        service, rpc = CALLS[call]
        with telemetry.server_call(service.name, rpc.name, span=False):
            async with asyncio.timeout(timeout):
                async for chunk in getattr(self.servicers[service.name], rpc.local)(request):
                    yield chunk

    async def ping(self, timeout):
        return True
