"""StrategyPredictor servicer: translates proto ⇄ domain around ``StrategyModel``; no logic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from services.common.config import Settings
from services.common.convert import (
    answer_batch,
    conversation_from_proto,
    label_scores,
    timings,
)
from services.common.domain import Scored
from services.common.errors import SolaceError
from services.common.labels import STRATEGY_ENUM_NAMES
from services.strategy.model import StrategyModel
from solace.v1 import common_pb2, strategy_pb2, strategy_pb2_grpc


class StrategyServicer(strategy_pb2_grpc.StrategyPredictorServicer):
    def __init__(self, model: StrategyModel, settings: Settings) -> None:
        self._model = model
        self._settings = settings

    async def predict(self, request: strategy_pb2.PredictRequest) -> strategy_pb2.PredictResponse:
        conversation = conversation_from_proto(request.conversation, self._settings)
        start = time.perf_counter()
        scored = await asyncio.to_thread(self._model.predict, conversation)
        return _response(scored, (time.perf_counter() - start) * 1000)

    async def predict_batch(
        self, requests: Sequence[strategy_pb2.PredictRequest]
    ) -> list[strategy_pb2.PredictResponse | SolaceError]:
        """One model call for many requests; see ``convert.answer_batch``."""
        return await answer_batch(requests, self._settings, self._model.predict_batch, _response)

    async def Predict(self, request, context):
        return await self.predict(request)


def _response(scored: Scored, elapsed_ms: float) -> strategy_pb2.PredictResponse:
    return strategy_pb2.PredictResponse(
        strategy=scored.index + 1,
        probabilities=label_scores(scored.probabilities, STRATEGY_ENUM_NAMES),
        model=common_pb2.ModelInfo(name=scored.model_name, version=scored.model_version),
        timings=timings([("strategy.model", elapsed_ms)]),
    )


def build_strategy_servicer(settings: Settings) -> StrategyServicer:
    return StrategyServicer(StrategyModel(settings), settings)
