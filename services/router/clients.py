"""The router's view of the four services: one ``ServiceClients`` interface and its transports.

- ``HandleClients``: Ray Serve ``DeploymentHandle``s (the default platform);
- ``GrpcClients``: gRPC channels (plaintext, TLS or mTLS) to standalone services;
- ``LocalClients``: the servicers in this process (the colocated ingress, tests, tools).

Every call takes a timeout in seconds; a transport error surfaces as ``Unavailable`` or
``DeadlineExceeded`` so the pipeline can apply the safety policy without knowing the transport.
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
from services.common.rpc_names import CLASSIFY, GENERATE, GENERATE_STREAM, PREDICT, SCREEN
from services.common.tls import client_channel_credentials
from solace.v1 import (
    defense_pb2,
    defense_pb2_grpc,
    generation_pb2,
    generation_pb2_grpc,
    risk_pb2,
    risk_pb2_grpc,
    strategy_pb2,
    strategy_pb2_grpc,
)


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


class HandleClients:
    """Calls the services' Ray Serve deployments through their handles."""

    def __init__(self, risk: Any, defense: Any, strategy: Any, generator: Any) -> None:
        self._risk, self._defense, self._strategy, self._generator = (
            risk,
            defense,
            strategy,
            generator,
        )

    # Each call carries the W3C trace context to the deployment, which continues the trace.

    async def screen(self, request, timeout):
        with telemetry.client_call(SCREEN) as md:
            call = self._risk.screen.remote(request, trace_metadata=md)
            return await _bounded(call, timeout, "risk screening")

    async def classify(self, request, timeout):
        with telemetry.client_call(CLASSIFY) as md:
            return await _bounded(
                self._defense.classify.remote(request, trace_metadata=md), timeout, "defense"
            )

    async def predict(self, request, timeout):
        with telemetry.client_call(PREDICT) as md:
            return await _bounded(
                self._strategy.predict.remote(request, trace_metadata=md), timeout, "strategy"
            )

    async def generate(self, request, timeout):
        with telemetry.client_call(GENERATE) as md:
            call = self._generator.generate.remote(request, trace_metadata=md)
            return await _bounded(call, timeout, "generation")

    async def generate_stream(self, request, timeout):
        md = telemetry.inject_metadata()
        stream = self._generator.options(stream=True).generate_stream.remote(
            request, trace_metadata=md
        )
        try:
            async with asyncio.timeout(timeout):
                async for chunk in stream:
                    yield chunk
        except TimeoutError as exc:
            stream.cancel()
            raise DeadlineExceeded("generation did not finish in time") from exc
        except SolaceError:
            raise
        except Exception as exc:
            raise Unavailable(f"generation is unavailable ({type(exc).__name__})") from exc

    async def ping(self, timeout):
        calls = [
            h.ping.remote() for h in (self._risk, self._defense, self._strategy, self._generator)
        ]
        try:
            results = await asyncio.wait_for(asyncio.gather(*calls), timeout=timeout)
        except Exception:
            return False
        return all(results)


class GrpcClients:
    """Calls standalone services over gRPC channels (one per service address).

    ``credentials``: TLS (and, with a client certificate, mutual TLS) channel credentials;
    None opens plaintext channels. ``api_key``: sent as ``x-api-key`` on every service call
    (the internal key, which the standalone services accept; docs/safety.md). Health checks
    are never guarded, so ``ping`` sends none.
    """

    def __init__(
        self,
        risk: str,
        defense: str,
        strategy: str,
        generator: str,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        api_key: str = "",
    ) -> None:
        addresses = (risk, defense, strategy, generator)
        self._channels = [
            grpc.aio.secure_channel(a, credentials)
            if credentials is not None
            else grpc.aio.insecure_channel(a)
            for a in addresses
        ]
        self._md: tuple[tuple[str, str], ...] = ((API_KEY_HEADER, api_key),) if api_key else ()
        self._risk = risk_pb2_grpc.RiskScreeningStub(self._channels[0])
        self._defense = defense_pb2_grpc.DefenseClassifierStub(self._channels[1])
        self._strategy = strategy_pb2_grpc.StrategyPredictorStub(self._channels[2])
        self._generator = generation_pb2_grpc.GeneratorStub(self._channels[3])

    @classmethod
    def from_settings(cls, settings: Settings) -> GrpcClients:
        """Channels to ``settings.target(<service>)`` with the client TLS settings
        (``tls_ca_file``, ``tls_client_cert_file``/``tls_client_key_file``) and the internal
        key of ``internal_api_key_file``."""
        path = settings.internal_api_key_file
        return cls(
            *(settings.target(s) for s in ("risk", "defense", "strategy", "generator")),
            credentials=client_channel_credentials(settings),
            api_key=read_key_file("SOLACE_INTERNAL_API_KEY_FILE", path) if path else "",
        )

    async def screen(self, request, timeout):
        with telemetry.client_call(SCREEN, self._md) as md:
            call = self._risk.Screen(request, timeout=timeout, metadata=md)
            return await _bounded(call, timeout, "risk screening")

    async def classify(self, request, timeout):
        with telemetry.client_call(CLASSIFY, self._md) as md:
            call = self._defense.Classify(request, timeout=timeout, metadata=md)
            return await _bounded(call, timeout, "defense")

    async def predict(self, request, timeout):
        with telemetry.client_call(PREDICT, self._md) as md:
            call = self._strategy.Predict(request, timeout=timeout, metadata=md)
            return await _bounded(call, timeout, "strategy")

    async def generate(self, request, timeout):
        with telemetry.client_call(GENERATE, self._md) as md:
            call = self._generator.Generate(request, timeout=timeout, metadata=md)
            return await _bounded(call, timeout, "generation")

    async def generate_stream(self, request, timeout):
        md = telemetry.inject_metadata(self._md)
        call = self._generator.GenerateStream(request, timeout=timeout, metadata=md)
        try:
            async for chunk in call:
                yield chunk
        except grpc.aio.AioRpcError as exc:
            raise _from_rpc_error(exc, "generation") from exc
        finally:
            call.cancel()

    async def ping(self, timeout):
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        async def one(channel):
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout
            )
            return reply.status == health_pb2.HealthCheckResponse.SERVING

        try:
            return all(await asyncio.gather(*(one(c) for c in self._channels)))
        except Exception:
            return False

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


@contextlib.contextmanager
def _called_here(service: str, rpc: str) -> Iterator[None]:
    """A call to a service in this process: the caller's span for the RPC, and the service's
    request count and duration without a span of its own."""
    with telemetry.client_call(rpc), telemetry.server_call(service, rpc, span=False):
        yield


class LocalClients:
    """Calls the services' servicers living in this process: the colocated Support ingress
    (``LocalClients.build``), tests and single-process tools.

    Each call is one span (the stage's, or the call's own client span, as with the other
    transports) and the service's request count, in-flight gauge and duration as its deployment
    or standalone server would record them, so dashboards read the same whichever topology
    serves. It has no server span: nothing crosses a process, and a second span over the same
    interval cost tracing ~4 spans of ~10 per request (docs/observability.md)."""

    def __init__(self, risk: Any, defense: Any, strategy: Any, generator: Any) -> None:
        self.risk, self.defense, self.strategy, self.generator = risk, defense, strategy, generator

    @classmethod
    def build(cls, settings: Settings) -> LocalClients:
        """The four servicers with their models, loaded in this process."""
        from services.defense.servicer import build_defense_servicer
        from services.generator.servicer import build_generator_servicer
        from services.risk.servicer import build_risk_servicer
        from services.strategy.servicer import build_strategy_servicer

        return cls(
            build_risk_servicer(settings),
            build_defense_servicer(settings),
            build_strategy_servicer(settings),
            build_generator_servicer(settings),
        )

    async def screen(self, request, timeout):
        with _called_here("risk", SCREEN):
            return await _bounded(self.risk.screen(request), timeout, "risk screening")

    async def classify(self, request, timeout):
        with _called_here("defense", CLASSIFY):
            return await _bounded(self.defense.classify(request), timeout, "defense")

    async def predict(self, request, timeout):
        with _called_here("strategy", PREDICT):
            return await _bounded(self.strategy.predict(request), timeout, "strategy")

    async def generate(self, request, timeout):
        with _called_here("generator", GENERATE):
            return await _bounded(self.generator.generate(request), timeout, "generation")

    async def generate_stream(self, request, timeout):
        with telemetry.server_call("generator", GENERATE_STREAM, span=False):
            async with asyncio.timeout(timeout):
                async for chunk in self.generator.generate_stream(request):
                    yield chunk

    async def ping(self, timeout):
        return True
