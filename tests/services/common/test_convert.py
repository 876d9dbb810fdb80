"""Request validation shared by every RPC: INVALID_ARGUMENT names the field."""

from __future__ import annotations

import pytest

from services.common.convert import conversation_from_proto, conversation_to_proto, label_scores
from services.common.errors import InvalidArgument
from services.common.labels import STRATEGY_ENUM_NAMES
from solace.v1 import common_pb2

SEEKER, SUPPORTER = common_pb2.ROLE_SEEKER, common_pb2.ROLE_SUPPORTER


def conv(*turns, **kw):
    return common_pb2.Conversation(turns=[common_pb2.Turn(role=r, text=t) for r, t in turns], **kw)


def test_valid_conversation_becomes_domain(settings):
    result = conversation_from_proto(
        conv((SEEKER, "hi"), (SUPPORTER, "hello"), (SEEKER, "I feel low")), settings
    )
    assert [t.role for t in result.turns] == ["seeker", "supporter", "seeker"]
    assert result.last_seeker_text == "I feel low"
    assert result.locale == settings.default_locale


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (conv(), "conversation.turns"),
        (conv((SEEKER, "a"), (0, "b"), (SEEKER, "c")), "conversation.turns[1].role"),
        (conv((SEEKER, "   ")), "conversation.turns[0].text"),
        (conv((SEEKER, "x" * 4001)), "conversation.turns[0].text"),
        (conv(*[(SEEKER, "x")] * 65), "conversation.turns"),
        (conv((SEEKER, "hi"), (SUPPORTER, "hello")), "conversation.turns[1].role"),
        (conv((SEEKER, "hi"), locale="en US; drop"), "conversation.locale"),
        (
            common_pb2.Conversation(turns=[common_pb2.Turn(role=SEEKER, text="hi", strategy=1)]),
            "conversation.turns[0].strategy",
        ),
        (
            common_pb2.Conversation(
                turns=[
                    common_pb2.Turn(role=SUPPORTER, text="hello", strategy=99),
                    common_pb2.Turn(role=SEEKER, text="hi"),
                ]
            ),
            "conversation.turns[0].strategy",
        ),
    ],
)
def test_bad_input_names_the_field(settings, message, field):
    with pytest.raises(InvalidArgument) as err:
        conversation_from_proto(message, settings)
    assert err.value.field == field


def test_supporter_strategies_survive_the_round_trip(settings):
    message = common_pb2.Conversation(
        turns=[
            common_pb2.Turn(role=SEEKER, text="hi"),
            common_pb2.Turn(
                role=SUPPORTER, text="How are you?", strategy=common_pb2.STRATEGY_QUESTION
            ),
            common_pb2.Turn(role=SUPPORTER, text="I'm here."),
            common_pb2.Turn(role=SEEKER, text="I feel low"),
        ]
    )
    result = conversation_from_proto(message, settings)
    # Label index 0 is STRATEGY_QUESTION (proto value 1); unset stays unknown.
    assert [t.strategy for t in result.turns] == [None, 0, None, None]
    assert [t.strategy for t in conversation_to_proto(result).turns] == [
        0,
        common_pb2.STRATEGY_QUESTION,
        0,
        0,
    ]


def test_label_scores_use_enum_values():
    scores = label_scores([0.5, 0.5, 0, 0, 0, 0, 0, 0], STRATEGY_ENUM_NAMES)
    assert scores[0].value == common_pb2.STRATEGY_QUESTION
    assert scores[0].label == "STRATEGY_QUESTION"
    assert abs(sum(s.probability for s in scores) - 1) < 1e-6
