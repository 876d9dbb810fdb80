"""RiskScreening servicer: translates proto ⇄ domain around ``RiskScreen``; no logic."""

from __future__ import annotations

import asyncio

from services.common.config import Settings
from services.common.convert import (
    conversation_from_proto,
    decision_to_proto,
    label_scores,
    timings,
)
from services.common.labels import RISK_ENUM_NAMES, RISK_LEVELS
from services.risk.model import RiskScreen, RiskVerdict, load_classifier
from solace.v1 import common_pb2, risk_pb2, risk_pb2_grpc


def _level(name: str) -> int:
    return RISK_LEVELS.index(name) + 1


def response_from_verdict(verdict: RiskVerdict) -> risk_pb2.ScreenResponse:
    response = risk_pb2.ScreenResponse(
        level=_level(verdict.level),
        probabilities=label_scores(verdict.probabilities, RISK_ENUM_NAMES),
        reasons=[
            risk_pb2.RiskReason(
                line=risk_pb2.CssrsLine.Value(f"CSSRS_LINE_{r.line}")
                if r.line
                else risk_pb2.CSSRS_LINE_UNSPECIFIED,
                source=r.source,
                turn_index=r.turn_index,
                level=_level(r.level),
                detail=r.detail,
                component=r.component,
                sentence_index=r.sentence_index,
            )
            for r in verdict.reasons
        ],
        third_party_concern=verdict.third_party_concern,
        model=common_pb2.ModelInfo(name=verdict.model_name, version=verdict.model_version),
        timings=timings((f"risk.{k}", v) for k, v in verdict.timings_ms.items()),
    )
    # A verdict without a decision leaves the field unset: the router then fails closed.
    if verdict.decision is not None:
        response.decision.CopyFrom(decision_to_proto(verdict.decision))
    return response


class RiskServicer(risk_pb2_grpc.RiskScreeningServicer):
    def __init__(self, screen: RiskScreen, settings: Settings) -> None:
        self._screen = screen
        self._settings = settings

    async def screen(self, request: risk_pb2.ScreenRequest) -> risk_pb2.ScreenResponse:
        conversation = conversation_from_proto(request.conversation, self._settings)
        verdict = await asyncio.to_thread(self._screen.screen, conversation)
        return response_from_verdict(verdict)

    async def Screen(self, request, context):
        return await self.screen(request)


def build_risk_servicer(settings: Settings) -> RiskServicer:
    return RiskServicer(RiskScreen(settings, load_classifier(settings)), settings)
