"""The conversation classifiers as Ray Serve deployments: one class, bound once per classifier
service (``DefenseDeployment``, ``StrategyDeployment``) with that service's registry name.

With batching on (the default), concurrent ``infer`` calls to one replica are gathered by
``@serve.batch`` into one model call; size and wait come from settings (``BatchOptions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ray import serve

from services.common import telemetry
from services.common.config import Settings
from services.common.serve_options import BatchOptions, batch_options
from services.registry import BY_NAME


class ClassifierReplica:
    def __init__(self, service: str, settings: Settings, batching: BatchOptions | None = None):
        entry = BY_NAME[service]
        self._service = service
        self._rpc = entry.rpcs[0]
        self._servicer = entry.build_servicer(settings)
        self._batching = batching or batch_options(settings.serve, entry.deployment)
        # A batch queue of this replica's own, with the configured size and wait (the class
        # serves two deployments, and tests run both in one process).
        self._infer_batch = serve.batch(
            max_batch_size=self._batching.max_batch_size,
            batch_wait_timeout_s=self._batching.wait_timeout_s,
        )(self._run_batch)
        telemetry.export_via_ray()
        # Server spans of this replica join the router's trace (OTLP only when OTEL_* say so).
        telemetry.setup_tracing(f"solace-{service}")

    async def infer(self, request: Any, trace_metadata: Sequence[tuple[str, str]] | None = None):
        # Each request keeps its own span and status count, batched or not.
        with telemetry.server_call(self._service, self._rpc.name, trace_metadata):
            if not self._batching.enabled:
                return await self._servicer.infer(request)
            answer = await self._infer_batch(request)
            if isinstance(answer, Exception):
                raise answer  # this request's own validation error; its batch-mates were answered
            return answer

    async def _run_batch(self, requests: list[Any]) -> list[Any]:
        telemetry.observe_batch(self._service, self._rpc.call, len(requests))
        return list(await self._servicer.infer_batch(requests))

    async def ping(self) -> bool:
        return True


# Bound here rather than with a decorator so the replica class stays a plain module
# attribute: Ray then pickles it by reference instead of by value (by value drags in
# whatever the class's closures hold, such as a live batch queue). The app names each binding.
ClassifierDeployment = serve.deployment(name="ClassifierDeployment")(ClassifierReplica)
