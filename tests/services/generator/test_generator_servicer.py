"""The Generator's proto surface: the screen's safety decision in ``GenerateRequest.decision`` is
obeyed, and a malformed one is INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import pytest

from services.common.config import Settings
from services.common.domain import SEEKER, Conversation, Turn
from services.common.errors import InvalidArgument
from services.generator.engines.composer import safe_reply
from services.generator.servicer import build_generator_servicer
from solace.v1 import common_pb2, generation_pb2, risk_pb2

TEXT = "I lost my job and I'm so worried about rent."


def request(**fields) -> generation_pb2.GenerateRequest:
    return generation_pb2.GenerateRequest(
        conversation=common_pb2.Conversation(
            turns=[common_pb2.Turn(role=common_pb2.ROLE_SEEKER, text=TEXT)]
        ),
        strategy=common_pb2.STRATEGY_PROVIDING_SUGGESTIONS,
        method=common_pb2.GENERATION_METHOD_DIRECT,
        **fields,
    )


@pytest.fixture(scope="module")
def servicer():
    return build_generator_servicer(Settings(default_engine="composer"))


async def test_an_escalating_decision_gets_no_model_text(servicer) -> None:
    decision = risk_pb2.SafetyDecision(
        escalate=True,
        attach_resources=True,
        escalate_at=common_pb2.RISK_LEVEL_MODERATE,
        resources_at=common_pb2.RISK_LEVEL_LOW,
    )
    response = await servicer.generate(
        request(risk_level=common_pb2.RISK_LEVEL_MODERATE, decision=decision)
    )
    assert response.fell_back and "no generated text" in response.fallback_reason
    assert response.text == safe_reply(Conversation((Turn(SEEKER, TEXT),)), "en-US")
    assert response.engine == "composer" and response.strategy == common_pb2.STRATEGY_OTHERS


async def test_the_decisions_strategies_are_followed(servicer) -> None:
    decision = risk_pb2.SafetyDecision(
        attach_resources=True, allowed_strategies=[common_pb2.STRATEGY_QUESTION]
    )
    response = await servicer.generate(request(decision=decision))
    assert response.strategy == common_pb2.STRATEGY_QUESTION
    assert response.text.rstrip().endswith("?")


@pytest.mark.parametrize(
    ("decision", "field"),
    [
        (risk_pb2.SafetyDecision(allowed_strategies=[42]), "decision.allowed_strategies[0]"),
        (risk_pb2.SafetyDecision(attach_resources=True), "decision.allowed_strategies"),
        (
            risk_pb2.SafetyDecision(allowed_strategies=[1], escalate_at=9),
            "decision.escalate_at",
        ),
    ],
)
async def test_a_malformed_decision_names_the_field(servicer, decision, field) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await servicer.generate(request(decision=decision))
    assert caught.value.field == field
