"""DefenseClassifier as a Ray Serve deployment (the router calls it through a handle).

With batching on (the default), concurrent ``classify`` calls to one replica are gathered by
``@serve.batch`` into one model call; size and wait come from settings (``BatchOptions``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ray import serve

from services.common import telemetry
from services.common.config import Settings
from services.common.rpc_names import CLASSIFY
from services.common.serve_options import DEFENSE, BatchOptions, batch_options
from solace.v1 import defense_pb2


class DefenseReplica:
    def __init__(self, settings: Settings, batching: BatchOptions | None = None) -> None:
        from services.defense.servicer import build_defense_servicer

        self._servicer = build_defense_servicer(settings)
        self._batching = batching or batch_options(settings, DEFENSE)
        # The decorator's numbers are placeholders: the queue is per process, so setting it
        # here, before the first request, makes the configured values the ones in force.
        self._classify_batch.set_max_batch_size(self._batching.max_batch_size)
        self._classify_batch.set_batch_wait_timeout_s(self._batching.wait_timeout_s)
        telemetry.export_via_ray()
        # Server spans of this replica join the router's trace (OTLP only when OTEL_* say so).
        telemetry.setup_tracing("solace-defense")

    async def classify(
        self,
        request: defense_pb2.ClassifyRequest,
        trace_metadata: Sequence[tuple[str, str]] | None = None,
    ) -> defense_pb2.ClassifyResponse:
        # Each request keeps its own span and status count, batched or not.
        with telemetry.server_call("defense", CLASSIFY, trace_metadata):
            if not self._batching.enabled:
                return await self._servicer.classify(request)
            answer = await self._classify_batch(request)
            if isinstance(answer, Exception):
                raise answer  # this request's own validation error; its batch-mates were answered
            return answer

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.002)
    async def _classify_batch(
        self, requests: list[defense_pb2.ClassifyRequest]
    ) -> list[defense_pb2.ClassifyResponse | Exception]:
        telemetry.observe_batch("defense", "classify", len(requests))
        return list(await self._servicer.classify_batch(requests))

    async def ping(self) -> bool:
        return True


# Bound here rather than with a decorator so the replica class stays a plain module
# attribute: Ray then pickles it by reference instead of by value (by value drags in
# whatever the class's closures hold, such as a live batch queue).
DefenseDeployment = serve.deployment(name=DEFENSE)(DefenseReplica)
