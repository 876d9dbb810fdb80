"""RiskScreening as a Ray Serve deployment (the router calls it through a handle).

Not batched: ``RiskScreen.screen`` interleaves per-turn C-SSRS rules with the classifier over
a window of each conversation's seeker turns, so batching would first need the screen split
into analyse / score / combine phases; replicas (``serve_options``) scale it instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from ray import serve

from services.common import telemetry
from services.common.config import Settings
from services.common.rpc_names import SCREEN
from services.common.serve_options import RISK
from solace.v1 import risk_pb2


class RiskReplica:
    def __init__(self, settings: Settings) -> None:
        from services.risk.servicer import build_risk_servicer

        self._servicer = build_risk_servicer(settings)
        telemetry.export_via_ray()
        # Server spans of this replica join the router's trace (OTLP only when OTEL_* say so).
        telemetry.setup_tracing("solace-risk")

    async def screen(
        self,
        request: risk_pb2.ScreenRequest,
        trace_metadata: Sequence[tuple[str, str]] | None = None,
    ) -> risk_pb2.ScreenResponse:
        # The router's trace continues here (trace_metadata carries its traceparent).
        with telemetry.server_call("risk", SCREEN, trace_metadata):
            return await self._servicer.screen(request)

    async def ping(self) -> bool:
        return True


# Bound here rather than with a decorator so the replica class stays a plain module
# attribute: Ray then pickles it by reference instead of by value (by value drags in
# whatever the class's closures hold, such as a live batch queue).
RiskDeployment = serve.deployment(name=RISK)(RiskReplica)
