"""Generator as a Ray Serve deployment (the router calls it through a handle)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from ray import serve

from services.common import telemetry
from services.common.config import Settings
from services.common.rpc_names import GENERATE, GENERATE_STREAM
from services.common.serve_options import GENERATOR
from solace.v1 import generation_pb2


class GeneratorReplica:
    def __init__(self, settings: Settings) -> None:
        from services.generator.servicer import build_generator_servicer

        self._servicer = build_generator_servicer(settings)
        telemetry.export_via_ray()
        # Server spans of this replica join the router's trace (OTLP only when OTEL_* say so).
        telemetry.setup_tracing("solace-generator")

    async def generate(
        self,
        request: generation_pb2.GenerateRequest,
        trace_metadata: Sequence[tuple[str, str]] | None = None,
    ) -> generation_pb2.GenerateResponse:
        # The router's trace continues here (trace_metadata carries its traceparent).
        with telemetry.server_call("generator", GENERATE, trace_metadata):
            return await self._servicer.generate(request)

    async def generate_stream(
        self,
        request: generation_pb2.GenerateRequest,
        trace_metadata: Sequence[tuple[str, str]] | None = None,
    ) -> AsyncIterator[generation_pb2.GenerateChunk]:
        with telemetry.server_call("generator", GENERATE_STREAM, trace_metadata):
            async for chunk in self._servicer.generate_stream(request):
                yield chunk

    async def ping(self) -> bool:
        return True


# Bound here rather than with a decorator so the replica class stays a plain module
# attribute: Ray then pickles it by reference instead of by value (by value drags in
# whatever the class's closures hold, such as a live batch queue).
GeneratorDeployment = serve.deployment(name=GENERATOR)(GeneratorReplica)
