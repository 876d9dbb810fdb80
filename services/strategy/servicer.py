"""StrategyPredictor servicer: translates proto ⇄ domain around ``StrategyModel``; no logic."""

from __future__ import annotations

import asyncio
import time

from services.common.config import Settings
from services.common.convert import conversation_from_proto, label_scores, timings
from services.common.labels import STRATEGY_ENUM_NAMES
from services.strategy.model import StrategyModel
from solace.v1 import common_pb2, strategy_pb2, strategy_pb2_grpc

SERVICE_NAME = strategy_pb2.DESCRIPTOR.services_by_name["StrategyPredictor"].full_name


class StrategyServicer(strategy_pb2_grpc.StrategyPredictorServicer):
    def __init__(self, model: StrategyModel, settings: Settings) -> None:
        self._model = model
        self._settings = settings

    async def predict(self, request: strategy_pb2.PredictRequest) -> strategy_pb2.PredictResponse:
        conversation = conversation_from_proto(request.conversation, self._settings)
        start = time.perf_counter()
        scored = await asyncio.to_thread(self._model.predict, conversation)
        elapsed = (time.perf_counter() - start) * 1000
        return strategy_pb2.PredictResponse(
            strategy=scored.index + 1,
            probabilities=label_scores(scored.probabilities, STRATEGY_ENUM_NAMES),
            model=common_pb2.ModelInfo(name=scored.model_name, version=scored.model_version),
            timings=timings([("strategy.model", elapsed)]),
        )

    async def Predict(self, request, context):
        return await self.predict(request)
