"""StrategyPredictor as a Ray Serve deployment (the router calls it through a handle)."""

from __future__ import annotations

from ray import serve

from services.common.config import Settings


@serve.deployment(name="StrategyDeployment")
class StrategyDeployment:
    def __init__(self, settings: Settings) -> None:
        from services.strategy.model import StrategyModel
        from services.strategy.servicer import StrategyServicer

        self._servicer = StrategyServicer(StrategyModel(settings), settings)

    async def predict(self, request):
        return await self._servicer.predict(request)

    async def ping(self) -> bool:
        return True
