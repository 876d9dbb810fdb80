"""Generator servicer: translates proto ⇄ domain around ``GeneratorCore``; no logic."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.common.config import Settings
from services.common.convert import (
    conversation_from_proto,
    decision_from_proto,
    probabilities_from_scores,
    timings,
)
from services.common.labels import METHODS, RISK_LEVELS, STRATEGIES
from services.generator.coalesce import coalesce_text
from services.generator.methods.base import Generation
from services.generator.model import GenerationOptions, GenerationRequest, GeneratorCore
from solace.v1 import common_pb2, generation_pb2, generation_pb2_grpc


def request_from_proto(
    request: generation_pb2.GenerateRequest, settings: Settings
) -> GenerationRequest:
    conversation = conversation_from_proto(request.conversation, settings)
    # Enum values outside the known range are passed through as raw indices so the core's
    # own checks name the field (method, strategy, defense_level, risk_level).
    method = (
        METHODS[request.method - 1]
        if 1 <= request.method <= len(METHODS)
        else ("AUTO" if request.method == 0 else f"#{request.method}")
    )
    options = request.options
    return GenerationRequest(
        conversation=conversation,
        strategy=request.strategy - 1 if request.strategy else None,
        method=method,
        strategy_probabilities=probabilities_from_scores(
            request.strategy_probabilities, len(STRATEGIES), "strategy_probabilities"
        ),
        defense=request.defense_level - 1 if request.defense_level else None,
        risk_level=(
            RISK_LEVELS[request.risk_level - 1]
            if 1 <= request.risk_level <= len(RISK_LEVELS)
            else None
        ),
        options=GenerationOptions(
            engine=options.engine,
            max_tokens=options.max_tokens,
            temperature=options.temperature,
            strategy_strength=options.strategy_strength,
            seed=options.seed,
        ),
        decision=(
            decision_from_proto(request.decision, "decision")
            if request.HasField("decision")
            else None
        ),
    )


def response_from_generation(generation: Generation) -> generation_pb2.GenerateResponse:
    return generation_pb2.GenerateResponse(
        text=generation.text,
        method=common_pb2.GenerationMethod.Value(f"GENERATION_METHOD_{generation.method}"),
        engine=generation.engine,
        strategy=generation.strategy + 1,
        trace=[common_pb2.ReasoningStep(name=s.name, content=s.content) for s in generation.trace],
        fell_back=generation.fell_back,
        fallback_reason=generation.fallback_reason,
        model=common_pb2.ModelInfo(name=generation.engine, version=generation.engine_version),
        timings=timings(generation.timings),
    )


class GeneratorServicer(generation_pb2_grpc.GeneratorServicer):
    def __init__(self, core: GeneratorCore, settings: Settings) -> None:
        self._core = core
        self._settings = settings

    async def generate(
        self, request: generation_pb2.GenerateRequest
    ) -> generation_pb2.GenerateResponse:
        generation = await self._core.generate(request_from_proto(request, self._settings))
        return response_from_generation(generation)

    async def generate_stream(
        self, request: generation_pb2.GenerateRequest
    ) -> AsyncIterator[generation_pb2.GenerateChunk]:
        items = self._core.generate_stream(request_from_proto(request, self._settings))
        # Joined on a clock before they cross to the router: each chunk costs the same fixed
        # price however short it is, and the composer yields a reply word by word.
        async for item in coalesce_text(items, self._settings.stream_flush_ms / 1000):
            if isinstance(item, str):
                yield generation_pb2.GenerateChunk(text_delta=item)
            else:
                yield generation_pb2.GenerateChunk(final=response_from_generation(item))

    async def Generate(self, request, context):
        return await self.generate(request)

    async def GenerateStream(self, request, context):
        async for chunk in self.generate_stream(request):
            yield chunk


def build_generator_servicer(settings: Settings) -> GeneratorServicer:
    return GeneratorServicer(GeneratorCore(settings), settings)
