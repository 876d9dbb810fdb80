"""GeneratorCore: validation names the field, the safety decision (the screen's, or the one the
settings' policy makes when none is sent) constrains or withholds, a failing engine falls back to
the composer (one answer and streamed), and streams end with the result."""

from __future__ import annotations

import dataclasses

import pytest
from generator_fakes import (
    BreakingStreamEngine,
    RecordingEngine,
    ScriptedEngine,
    SlowEngine,
    conversation,
)

from services.common.config import Settings
from services.common.domain import SEEKER, SUPPORTER, Conversation, Turn
from services.common.errors import InvalidArgument
from services.common.labels import STRATEGIES, strategy_index
from services.generator.engines.composer import safe_reply
from services.generator.methods.base import Generation
from services.generator.model import GenerationOptions, GenerationRequest, GeneratorCore
from services.safety.policy import RiskPolicy, SafetyDecision

# These tests are about the composer and the core around it (the platform default is the
# llama.cpp engine, tested in test_engine_llamacpp.py).
COMPOSER = Settings(default_engine="composer")

QUESTION = strategy_index("Question")
REFLECTION = strategy_index("Reflection of feelings")
SUGGESTIONS = strategy_index("Providing Suggestions")
INFORMATION = strategy_index("Information")

JOB = conversation("I lost my job and I'm so worried about rent.")
# The strategies the default safety policy allows at MODERATE.
SUPPORTIVE = frozenset(strategy_index(s) for s in RiskPolicy().supportive_strategies)


def on(engine_name: str, strategy: int = QUESTION, method: str = "DIRECT", **fields):
    return GenerationRequest(
        JOB, strategy, method, options=GenerationOptions(engine=engine_name), **fields
    )


async def collect(stream) -> tuple[list[str], Generation]:
    items = [item async for item in stream]
    assert isinstance(items[-1], Generation)
    assert all(isinstance(i, str) for i in items[:-1])
    return items[:-1], items[-1]


async def test_an_engine_that_raises_falls_back_to_the_composer() -> None:
    broken = ScriptedEngine("openai", lambda prompt: RuntimeError("connection refused: <text>"))
    core = GeneratorCore(COMPOSER, {"openai": broken})
    result = await core.generate(on("openai", method="MADP"))
    expected = await GeneratorCore(COMPOSER).generate(on("composer", method="MADP"))
    assert broken.calls == 1
    assert result.fell_back and result.engine == "composer"
    assert result.fallback_reason == "engine 'openai' failed with RuntimeError"
    assert result.text == expected.text and result.text.endswith("?")


async def test_an_empty_answer_falls_back() -> None:
    core = GeneratorCore(COMPOSER, {"vllm": ScriptedEngine("vllm", lambda prompt: "  ")})
    result = await core.generate(on("vllm"))
    assert result.fell_back and "no text" in result.fallback_reason


async def test_a_slow_engine_times_out_and_falls_back() -> None:
    core = GeneratorCore(Settings(generation_timeout_ms=50), {"slow": SlowEngine()})
    result = await core.generate(on("slow"))
    assert result.fell_back and "timed out" in result.fallback_reason
    assert result.text.endswith("?")


async def test_a_known_engine_this_server_does_not_run_is_answered_by_the_composer() -> None:
    result = await GeneratorCore(COMPOSER).generate(on("vllm"))
    assert result.fell_back and result.engine == "composer"
    assert "not configured" in result.fallback_reason


async def test_healthy_engine_is_used_and_reported() -> None:
    engine = RecordingEngine()
    result = await GeneratorCore(COMPOSER, {"recording": engine}).generate(on("recording"))
    assert not result.fell_back and result.fallback_reason == ""
    assert (result.engine, result.engine_version) == ("recording", "test")
    assert engine.calls[0][0].options.max_tokens > 0  # zero means the default, resolved here


async def test_moderate_risk_constrains_the_strategy() -> None:
    engine = RecordingEngine()
    core = GeneratorCore(COMPOSER, {"recording": engine})
    mixture = (0.1, 0.0, 0.2, 0.0, 0.0, 0.6, 0.1, 0.0)
    result = await core.generate(
        on("recording", SUGGESTIONS, strategy_probabilities=mixture, risk_level="MODERATE")
    )
    assert result.strategy == REFLECTION
    assert result.trace[0].name == "policy.risk"
    assert "Providing Suggestions" in result.trace[0].content
    assert "anxious" in result.text
    reply_prompt = engine.calls[-1][0]
    assert reply_prompt.strategy == REFLECTION and reply_prompt.risk == "MODERATE"
    probabilities = reply_prompt.strategy_probabilities
    assert probabilities is not None and sum(probabilities) == pytest.approx(1.0)
    assert all(p == 0 for i, p in enumerate(probabilities) if i not in SUPPORTIVE)


@pytest.mark.parametrize("strategy", sorted(SUPPORTIVE))
async def test_moderate_risk_keeps_supportive_strategies(strategy: int) -> None:
    result = await GeneratorCore(COMPOSER).generate(
        GenerationRequest(JOB, strategy, "DIRECT", risk_level="MODERATE")
    )
    assert result.strategy == strategy
    assert not any(step.name == "policy.risk" for step in result.trace)


@pytest.mark.parametrize("risk", ["HIGH", "IMMINENT", "RISK_LEVEL_HIGH"])
async def test_crisis_risk_withholds_generated_text(risk: str) -> None:
    engine = RecordingEngine()
    core = GeneratorCore(COMPOSER, {"recording": engine})
    result = await core.generate(on("recording", INFORMATION, method="MADP", risk_level=risk))
    assert engine.calls == []
    assert result.text == safe_reply(JOB, "en-US")
    assert result.fell_back and "no generated text" in result.fallback_reason


async def test_stream_sends_deltas_then_the_final_generation() -> None:
    core = GeneratorCore(COMPOSER)
    request = on("composer", REFLECTION, method="EMPATHY_R1")
    deltas, final = await collect(core.generate_stream(request))
    assert len(deltas) > 3 and "".join(deltas) == final.text
    whole = await core.generate(request)
    assert dataclasses.replace(final, timings=()) == dataclasses.replace(whole, timings=())
    assert [t.stage for t in final.timings] == [t.stage for t in whole.timings]


async def test_stream_falls_back_before_any_delta() -> None:
    broken = ScriptedEngine("openai", lambda prompt: ConnectionError("down"))
    core = GeneratorCore(COMPOSER, {"openai": broken})
    deltas, final = await collect(core.generate_stream(on("openai", SUGGESTIONS, "KEMI")))
    assert final.fell_back and final.engine == "composer"
    assert "".join(deltas) == final.text


async def test_stream_that_breaks_midway_ends_with_the_composers_whole_reply() -> None:
    core = GeneratorCore(COMPOSER, {"breaking": BreakingStreamEngine()})
    deltas, final = await collect(core.generate_stream(on("breaking")))
    # Deltas are whitespace-tidied as they stream: a space is sent before the next word.
    assert deltas == ["Partial", " answer"]
    assert final.fell_back and "ConnectionError" in final.fallback_reason
    assert final.text.endswith("?") and final.engine == "composer"


async def test_stream_at_crisis_risk_sends_only_the_safe_reply() -> None:
    deltas, final = await collect(
        GeneratorCore(COMPOSER).generate_stream(on("composer", risk_level="IMMINENT"))
    )
    assert deltas == [final.text] and final.text == safe_reply(JOB, "en-US")


async def test_same_request_same_reply_and_seed_is_honoured() -> None:
    core = GeneratorCore(COMPOSER)
    replies = set()
    for seed in range(8):
        request = dataclasses.replace(
            on("composer", REFLECTION), options=GenerationOptions(seed=seed)
        )
        first, second = await core.generate(request), await core.generate(request)
        assert first.text == second.text
        replies.add(first.text)
    assert len(replies) > 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"options": GenerationOptions(engine="gpt-17")}, "options.engine"),
        ({"strategy": None}, "strategy"),
        ({"strategy": len(STRATEGIES)}, "strategy"),
        ({"method": "MAGIC"}, "method"),
        ({"strategy_probabilities": (0.5, 0.5)}, "strategy_probabilities"),
        ({"strategy_probabilities": (0.0,) * 8}, "strategy_probabilities"),
        ({"defense": 9}, "defense_level"),
        ({"risk_level": "SEVERE"}, "risk_level"),
        ({"options": GenerationOptions(temperature=-1.0)}, "options.temperature"),
        ({"conversation": Conversation(())}, "conversation.turns"),
        (
            {"conversation": Conversation((Turn(SEEKER, "hi"), Turn(SUPPORTER, "hello")))},
            "conversation.turns[1].role",
        ),
        ({"conversation": Conversation((Turn(SEEKER, "   "),))}, "conversation.turns[0].text"),
    ],
)
async def test_invalid_argument_names_the_field(change: dict, field: str) -> None:
    core = GeneratorCore(COMPOSER)
    request = dataclasses.replace(GenerationRequest(JOB, QUESTION), **change)
    with pytest.raises(InvalidArgument) as caught:
        await core.generate(request)
    assert caught.value.field == field
    with pytest.raises(InvalidArgument):
        async for _ in core.generate_stream(request):
            pass


async def test_enum_style_names_are_accepted() -> None:
    result = await GeneratorCore(COMPOSER).generate(
        GenerationRequest(
            JOB, QUESTION, "GENERATION_METHOD_UNSPECIFIED", risk_level="RISK_LEVEL_UNSPECIFIED"
        )
    )
    assert result.method == "DIRECT"  # AUTO picked DIRECT for a Question without a situation


def _decision(policy: RiskPolicy, level: str, **changes) -> SafetyDecision:
    return dataclasses.replace(policy.decide(level), **changes)


async def test_a_decision_that_escalates_withholds_text_whatever_the_level() -> None:
    engine = RecordingEngine()
    core = GeneratorCore(COMPOSER, {"recording": engine})
    # MODERATE alone would be answered (default policy); the screen's decision says escalate.
    decision = _decision(RiskPolicy(), "MODERATE", escalate=True, escalate_at="MODERATE")
    result = await core.generate(
        on("recording", REFLECTION, risk_level="MODERATE", decision=decision)
    )
    assert engine.calls == []
    assert result.text == safe_reply(JOB, "en-US")
    assert result.fell_back and "no generated text" in result.fallback_reason
    assert "escalate_at MODERATE" in result.fallback_reason


async def test_a_decision_more_lenient_than_the_generators_policy_fails_closed() -> None:
    engine = RecordingEngine()
    core = GeneratorCore(COMPOSER, {"recording": engine})
    # IMMINENT with a decision that does not escalate: the default policy escalates IMMINENT,
    # so no model text goes out whatever the request says.
    lenient = _decision(RiskPolicy(), "IMMINENT", escalate=False, escalate_at="")
    result = await core.generate(
        on("recording", REFLECTION, risk_level="IMMINENT", decision=lenient)
    )
    assert engine.calls == []
    assert result.text == safe_reply(JOB, "en-US")
    assert result.fell_back and "no generated text" in result.fallback_reason
    assert "escalate_at HIGH" in result.fallback_reason


async def test_the_decisions_allowed_strategies_win_over_the_level() -> None:
    engine = RecordingEngine()
    core = GeneratorCore(COMPOSER, {"recording": engine})
    only_questions = SafetyDecision(
        escalate=False,
        attach_resources=True,
        allowed_strategies=("Question",),
        constrained=True,
        escalate_at="HIGH",
        resources_at="LOW",
    )
    mixture = (0.1, 0.0, 0.2, 0.0, 0.0, 0.6, 0.1, 0.0)
    result = await core.generate(
        on(
            "recording",
            SUGGESTIONS,
            strategy_probabilities=mixture,
            risk_level="LOW",
            decision=only_questions,
        )
    )
    assert result.strategy == QUESTION
    assert engine.calls[-1][0].strategy_probabilities == (1.0, 0, 0, 0, 0, 0, 0, 0)


def _strict_settings(tmp_path) -> Settings:
    config = tmp_path / "safety.yaml"
    config.write_text("escalate_at: MODERATE\nresources_at: LOW\n", encoding="utf-8")
    return Settings(safety_config=str(config))


async def test_without_a_decision_the_policy_from_the_settings_decides(tmp_path) -> None:
    engine = RecordingEngine()
    core = GeneratorCore(_strict_settings(tmp_path), {"recording": engine})
    # A partner calling the Generator directly: escalate_at MODERATE withholds MODERATE ...
    withheld = await core.generate(on("recording", REFLECTION, risk_level="MODERATE"))
    assert engine.calls == [] and withheld.text == safe_reply(JOB, "en-US")
    assert withheld.fell_back and "no generated text" in withheld.fallback_reason
    # ... and resources_at LOW already limits LOW to the supportive strategies.
    constrained = await core.generate(on("recording", SUGGESTIONS, risk_level="LOW"))
    assert constrained.strategy == REFLECTION and engine.calls
    # The default policy answers the same MODERATE request.
    answered = await GeneratorCore(COMPOSER, {"recording": RecordingEngine()}).generate(
        on("recording", REFLECTION, risk_level="MODERATE")
    )
    assert not answered.fell_back and answered.strategy == REFLECTION
