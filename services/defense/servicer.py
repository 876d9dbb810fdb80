"""DefenseClassifier servicer: translates proto ⇄ domain around ``DefenseModel``; no logic."""

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
from services.common.labels import DEFENSE_ENUM_NAMES
from services.defense.model import DefenseModel
from solace.v1 import common_pb2, defense_pb2, defense_pb2_grpc


class DefenseServicer(defense_pb2_grpc.DefenseClassifierServicer):
    def __init__(self, model: DefenseModel, settings: Settings) -> None:
        self._model = model
        self._settings = settings

    async def classify(self, request: defense_pb2.ClassifyRequest) -> defense_pb2.ClassifyResponse:
        conversation = conversation_from_proto(request.conversation, self._settings)
        start = time.perf_counter()
        scored = await asyncio.to_thread(self._model.classify, conversation)
        return _response(scored, (time.perf_counter() - start) * 1000)

    async def classify_batch(
        self, requests: Sequence[defense_pb2.ClassifyRequest]
    ) -> list[defense_pb2.ClassifyResponse | SolaceError]:
        """One model call for many requests; see ``convert.answer_batch``."""
        return await answer_batch(requests, self._settings, self._model.predict_batch, _response)

    async def Classify(self, request, context):
        return await self.classify(request)


def _response(scored: Scored, elapsed_ms: float) -> defense_pb2.ClassifyResponse:
    evidence = [
        defense_pb2.EvidenceSpan(turn_index=t, start=s, end=e, weight=float(w))
        for t, s, e, w in scored.extras.get("evidence", ())
    ]
    return defense_pb2.ClassifyResponse(
        level=scored.index + 1,
        probabilities=label_scores(scored.probabilities, DEFENSE_ENUM_NAMES),
        evidence=evidence,
        model=common_pb2.ModelInfo(name=scored.model_name, version=scored.model_version),
        timings=timings([("defense.model", elapsed_ms)]),
    )


def build_defense_servicer(settings: Settings) -> DefenseServicer:
    return DefenseServicer(DefenseModel(settings), settings)
