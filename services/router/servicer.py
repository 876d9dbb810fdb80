"""Support servicer for the standalone router (a plain grpc.aio server): translates gRPC calls
into ``SupportPipeline`` calls; the interceptor maps errors to status codes."""

from __future__ import annotations

from services.common.access import key_name_of
from services.router.pipeline import SupportPipeline
from solace.v1 import support_pb2_grpc


class SupportServicer(support_pb2_grpc.SupportServicer):
    def __init__(self, pipeline: SupportPipeline) -> None:
        self._pipeline = pipeline

    async def Respond(self, request, context):
        return await self._pipeline.respond(request, key_name=key_name_of(context))

    async def RespondStream(self, request, context):
        async for chunk in self._pipeline.respond_stream(request, key_name=key_name_of(context)):
            yield chunk
