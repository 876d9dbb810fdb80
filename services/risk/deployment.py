"""RiskScreening as a Ray Serve deployment (the router calls it through a handle)."""

from __future__ import annotations

from ray import serve

from services.common.config import Settings


@serve.deployment(name="RiskDeployment")
class RiskDeployment:
    def __init__(self, settings: Settings) -> None:
        from services.risk.servicer import build_risk_servicer

        self._servicer = build_risk_servicer(settings)

    async def screen(self, request):
        return await self._servicer.screen(request)

    async def ping(self) -> bool:
        return True
