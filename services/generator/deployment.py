"""Generator as a Ray Serve deployment (the router calls it through a handle)."""

from __future__ import annotations

from ray import serve

from services.common.config import Settings


@serve.deployment(name="GeneratorDeployment")
class GeneratorDeployment:
    def __init__(self, settings: Settings) -> None:
        from services.generator.servicer import build_generator_servicer

        self._servicer = build_generator_servicer(settings)

    async def generate(self, request):
        return await self._servicer.generate(request)

    async def generate_stream(self, request):
        async for chunk in self._servicer.generate_stream(request):
            yield chunk

    async def ping(self) -> bool:
        return True
