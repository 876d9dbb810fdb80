"""StrategyPredictor as a Ray Serve deployment (the router calls it through a handle).

With batching on (the default), concurrent ``predict`` calls to one replica are gathered by
``@serve.batch`` into one model call; size and wait come from settings (``BatchOptions``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ray import serve

from services.common import telemetry
from services.common.config import Settings
from services.common.rpc_names import PREDICT
from services.common.serve_options import STRATEGY, BatchOptions, batch_options
from solace.v1 import strategy_pb2


class StrategyReplica:
    def __init__(self, settings: Settings, batching: BatchOptions | None = None) -> None:
        from services.strategy.servicer import build_strategy_servicer

        self._servicer = build_strategy_servicer(settings)
        self._batching = batching or batch_options(settings, STRATEGY)
        # The decorator's numbers are placeholders: the queue is per process, so setting it
        # here, before the first request, makes the configured values the ones in force.
        self._predict_batch.set_max_batch_size(self._batching.max_batch_size)
        self._predict_batch.set_batch_wait_timeout_s(self._batching.wait_timeout_s)
        telemetry.export_via_ray()
        # Server spans of this replica join the router's trace (OTLP only when OTEL_* say so).
        telemetry.setup_tracing("solace-strategy")

    async def predict(
        self,
        request: strategy_pb2.PredictRequest,
        trace_metadata: Sequence[tuple[str, str]] | None = None,
    ) -> strategy_pb2.PredictResponse:
        # Each request keeps its own span and status count, batched or not.
        with telemetry.server_call("strategy", PREDICT, trace_metadata):
            if not self._batching.enabled:
                return await self._servicer.predict(request)
            answer = await self._predict_batch(request)
            if isinstance(answer, Exception):
                raise answer  # this request's own validation error; its batch-mates were answered
            return answer

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.002)
    async def _predict_batch(
        self, requests: list[strategy_pb2.PredictRequest]
    ) -> list[strategy_pb2.PredictResponse | Exception]:
        telemetry.observe_batch("strategy", "predict", len(requests))
        return list(await self._servicer.predict_batch(requests))

    async def ping(self) -> bool:
        return True


# Bound here rather than with a decorator so the replica class stays a plain module
# attribute: Ray then pickles it by reference instead of by value (by value drags in
# whatever the class's closures hold, such as a live batch queue).
StrategyDeployment = serve.deployment(name=STRATEGY)(StrategyReplica)
