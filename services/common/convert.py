"""Proto ⇄ domain translation shared by every servicer, with the input validation every RPC
applies: bad input becomes ``InvalidArgument`` naming the field path
(``conversation.turns[2].role``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from services.common.config import Settings
from services.common.domain import SEEKER, SUPPORTER, Conversation, Turn
from services.common.errors import InvalidArgument, SolaceError
from services.common.labels import RISK_LEVELS, STRATEGIES
from services.safety.policy import SafetyDecision
from solace.v1 import common_pb2, risk_pb2

_ROLES = {common_pb2.ROLE_SEEKER: SEEKER, common_pb2.ROLE_SUPPORTER: SUPPORTER}
_ROLE_VALUES = {v: k for k, v in _ROLES.items()}
_STRATEGY_VALUES = frozenset(
    v.number for v in common_pb2.Strategy.DESCRIPTOR.values if v.number != 0
)


def conversation_from_proto(
    message: common_pb2.Conversation,
    settings: Settings,
    field: str = "conversation",
    require_seeker_last: bool = True,
) -> Conversation:
    """Validate a request's conversation and turn it into the domain type."""
    turns = message.turns
    if not turns:
        raise InvalidArgument(f"{field}.turns", "at least one turn is required")
    if len(turns) > settings.max_turns:
        raise InvalidArgument(
            f"{field}.turns", f"{len(turns)} turns is over the limit of {settings.max_turns}"
        )
    out: list[Turn] = []
    for i, turn in enumerate(turns):
        role = _ROLES.get(turn.role)
        if role is None:
            raise InvalidArgument(
                f"{field}.turns[{i}].role", "must be ROLE_SEEKER or ROLE_SUPPORTER"
            )
        text = turn.text
        if not text.strip():
            raise InvalidArgument(f"{field}.turns[{i}].text", "must not be blank")
        if len(text) > settings.max_text_chars:
            raise InvalidArgument(
                f"{field}.turns[{i}].text",
                f"{len(text)} characters is over the limit of {settings.max_text_chars}",
            )
        strategy = None
        if turn.strategy != common_pb2.STRATEGY_UNSPECIFIED:
            if role != SUPPORTER:
                raise InvalidArgument(
                    f"{field}.turns[{i}].strategy", "only supporter turns carry a strategy"
                )
            if turn.strategy not in _STRATEGY_VALUES:
                raise InvalidArgument(
                    f"{field}.turns[{i}].strategy", f"{turn.strategy} is not a Strategy value"
                )
            strategy = turn.strategy - 1  # proto value i + 1 is label index i
        out.append(Turn(role=role, text=text, strategy=strategy))
    if require_seeker_last and out[-1].role != SEEKER:
        raise InvalidArgument(
            f"{field}.turns[{len(out) - 1}].role", "the last turn must be the seeker's"
        )
    if len(message.situation) > settings.max_situation_chars:
        raise InvalidArgument(
            f"{field}.situation",
            f"{len(message.situation)} characters is over the limit of "
            f"{settings.max_situation_chars}",
        )
    locale = message.locale.strip()
    if len(locale) > 35 or any(not (c.isalnum() or c in "-_") for c in locale):
        raise InvalidArgument(f"{field}.locale", "must be a BCP-47 tag such as en-US")
    return Conversation(
        turns=tuple(out),
        situation=message.situation.strip(),
        locale=locale or settings.default_locale,
    )


def conversation_to_proto(conversation: Conversation) -> common_pb2.Conversation:
    return common_pb2.Conversation(
        turns=[
            common_pb2.Turn(
                role=_ROLE_VALUES[t.role],
                text=t.text,
                strategy=common_pb2.STRATEGY_UNSPECIFIED if t.strategy is None else t.strategy + 1,
            )
            for t in conversation.turns
        ],
        situation=conversation.situation,
        locale=conversation.locale,
    )


def label_scores(
    probabilities: Sequence[float], enum_names: Sequence[str]
) -> list[common_pb2.LabelScore]:
    """Per-label scores; index ``i`` is enum value ``i + 1``."""
    return [
        common_pb2.LabelScore(value=i + 1, label=name, probability=float(p))
        for i, (name, p) in enumerate(zip(enum_names, probabilities, strict=True))
    ]


def probabilities_from_scores(
    scores: Iterable[common_pb2.LabelScore], size: int, field: str
) -> tuple[float, ...] | None:
    """Read a label-score list back into a probability vector (None when empty)."""
    values = [0.0] * size
    seen = False
    for i, score in enumerate(scores):
        if not 1 <= score.value <= size:
            raise InvalidArgument(f"{field}[{i}].value", f"must be between 1 and {size}")
        if not 0.0 <= score.probability <= 1.0:
            raise InvalidArgument(f"{field}[{i}].probability", "must be in [0, 1]")
        values[score.value - 1] = score.probability
        seen = True
    return tuple(values) if seen else None


def decision_to_proto(decision: SafetyDecision) -> risk_pb2.SafetyDecision:
    """The policy's decision as ``ScreenResponse.decision`` / ``GenerateRequest.decision``."""
    allowed = {s.lower() for s in decision.allowed_strategies}
    return risk_pb2.SafetyDecision(
        escalate=decision.escalate,
        attach_resources=decision.attach_resources,
        allowed_strategies=[i + 1 for i, s in enumerate(STRATEGIES) if s.lower() in allowed],
        escalate_at=_risk_value(decision.escalate_at),
        resources_at=_risk_value(decision.resources_at),
    )


def decision_from_proto(message: risk_pb2.SafetyDecision, field: str) -> SafetyDecision:
    """A decision a caller sent back into the domain type. Unknown strategies are
    ``InvalidArgument`` naming ``field.allowed_strategies[i]``; no strategies is allowed only with
    ``escalate`` (nothing is generated then). Thresholds left UNSPECIFIED read as ""."""
    allowed: set[int] = set()
    for i, value in enumerate(message.allowed_strategies):
        if value not in _STRATEGY_VALUES:
            raise InvalidArgument(f"{field}.allowed_strategies[{i}]", f"unknown strategy {value}")
        allowed.add(value - 1)
    if not allowed and not message.escalate:
        raise InvalidArgument(
            f"{field}.allowed_strategies", "must list at least one strategy unless escalate is set"
        )
    names = tuple(s for i, s in enumerate(STRATEGIES) if i in allowed or not allowed)
    return SafetyDecision(
        escalate=message.escalate,
        attach_resources=message.attach_resources,
        allowed_strategies=names,
        constrained=len(names) < len(STRATEGIES),
        escalate_at=_risk_name(message.escalate_at, f"{field}.escalate_at"),
        resources_at=_risk_name(message.resources_at, f"{field}.resources_at"),
    )


def _risk_value(name: str) -> int:
    return RISK_LEVELS.index(name) + 1 if name else common_pb2.RISK_LEVEL_UNSPECIFIED


def _risk_name(value: int, field: str) -> str:
    if value == common_pb2.RISK_LEVEL_UNSPECIFIED:
        return ""
    if not 1 <= value <= len(RISK_LEVELS):
        raise InvalidArgument(field, f"unknown risk level {value}")
    return RISK_LEVELS[value - 1]


def timings(pairs: Iterable[tuple[str, float]]) -> list[common_pb2.StageTiming]:
    return [common_pb2.StageTiming(stage=s, milliseconds=ms) for s, ms in pairs]


R = TypeVar("R")


async def answer_batch(
    requests: Sequence[Any],
    settings: Settings,
    run_batch: Callable[[list[Conversation]], Sequence[Any]],
    respond: Callable[[Any, float], R],
) -> list[R | SolaceError]:
    """Answer a batch of classifier requests with one model call (Ray Serve batches).

    A request that fails validation comes back as its error, in its place; the others are
    answered. ``run_batch`` is the model's batch API (run in a thread: it is CPU-bound);
    ``respond(scored, elapsed_ms)`` builds one response.
    """
    answers: list[R | SolaceError | None] = []
    valid: list[tuple[int, Conversation]] = []
    for i, request in enumerate(requests):
        try:
            valid.append((i, conversation_from_proto(request.conversation, settings)))
            answers.append(None)
        except SolaceError as exc:
            answers.append(exc)
    if valid:
        start = time.perf_counter()
        scored = await asyncio.to_thread(run_batch, [c for _, c in valid])
        elapsed = (time.perf_counter() - start) * 1000
        for (i, _), one in zip(valid, scored, strict=True):
            answers[i] = respond(one, elapsed)
    return [a for a in answers if a is not None]
