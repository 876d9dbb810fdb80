"""DefenseClassifier as a Ray Serve deployment (the router calls it through a handle)."""

from __future__ import annotations

from ray import serve

from services.common.config import Settings


@serve.deployment(name="DefenseDeployment")
class DefenseDeployment:
    def __init__(self, settings: Settings) -> None:
        from services.defense.model import DefenseModel
        from services.defense.servicer import DefenseServicer

        self._servicer = DefenseServicer(DefenseModel(settings), settings)

    async def classify(self, request):
        return await self._servicer.classify(request)

    async def ping(self) -> bool:
        return True
