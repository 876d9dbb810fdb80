"""The generation methods as programs of steps: MADP batches its four agents, Empathy-R1 runs
its chain in order and keeps it out of the reply, KEMI retrieves and takes initiative, value
reinforcement names a value, and every method's reply follows the strategy."""

from __future__ import annotations

import re

import pytest
from generator_fakes import RecordingEngine, ScriptedEngine, conversation

from services.common.config import Settings
from services.common.labels import METHODS, strategy_index
from services.generator.engines.composer import ComposerEngine
from services.generator.knowledge import KeywordRetriever
from services.generator.lexicon import VALUE_PHRASES
from services.generator.methods.policy import choose_method
from services.generator.model import GenerationOptions, GenerationRequest, GeneratorCore

# These tests are about the composer and the core around it (the platform default is the
# llama.cpp engine, tested in test_engine_llamacpp.py).
COMPOSER = Settings(default_engine="composer")

QUESTION = strategy_index("Question")
REFLECTION = strategy_index("Reflection of feelings")
AFFIRMATION = strategy_index("Affirmation and Reassurance")
SUGGESTIONS = strategy_index("Providing Suggestions")
INFORMATION = strategy_index("Information")

JOB = conversation("I lost my job and I'm so worried. I keep thinking I will never find work.")
SUGGESTION_PHRASING = re.compile(
    r"might help|perhaps you could|maybe you could|some people find", re.IGNORECASE
)


def core_with(engine) -> GeneratorCore:
    return GeneratorCore(COMPOSER, {engine.name: engine})


def request(conv, strategy: int, method: str, engine: str = "recording") -> GenerationRequest:
    return GenerationRequest(conv, strategy, method, options=GenerationOptions(engine=engine))


async def test_madp_runs_its_four_agents_in_one_batched_call() -> None:
    engine = RecordingEngine()
    result = await core_with(engine).generate(request(JOB, SUGGESTIONS, "MADP"))
    assert engine.steps == [
        ["madp.situation", "madp.emotion", "madp.cognition", "madp.behaviour"],
        ["madp.plan"],
        ["madp.responder"],
    ]
    plan_prompt = engine.calls[1][0]
    assert {"situation", "emotion", "cognition", "behaviour"} <= set(plan_prompt.context)
    responder = engine.calls[2][0]
    assert responder.strategy == SUGGESTIONS and "plan" in responder.context
    assert [t.stage for t in result.timings] == ["madp.agents", "madp.plan", "madp.responder"]
    assert "fortune telling" in dict(result.trace)["madp.cognition"]
    assert SUGGESTION_PHRASING.search(result.text)
    assert result.method == "MADP" and result.engine == "recording" and not result.fell_back


async def test_empathy_r1_steps_in_order_each_seeing_the_previous() -> None:
    engine = RecordingEngine()
    result = await core_with(engine).generate(request(JOB, REFLECTION, "EMPATHY_R1"))
    assert engine.steps == [
        ["empathy.emotion"],
        ["empathy.cause"],
        ["empathy.intention"],
        ["empathy.reply"],
    ]
    contexts = [set(call[0].context) for call in engine.calls]
    assert contexts == [
        set(),
        {"emotion"},
        {"emotion", "cause"},
        {"emotion", "cause", "intention"},
    ]
    assert [name for name, _ in result.trace] == [
        "empathy.emotion",
        "empathy.cause",
        "empathy.intention",
    ]
    assert "anxious" in result.text


async def test_empathy_r1_trace_never_leaks_into_the_reply() -> None:
    engine = RecordingEngine()
    result = await core_with(engine).generate(request(JOB, AFFIRMATION, "EMPATHY_R1"))
    for _, content in result.trace:
        assert content not in result.text
    assert not re.search(r"\b(Emotion|Cause|Intention):", result.text)


async def test_chain_format_from_an_llm_is_cut_down_to_the_response() -> None:
    def answer(prompt):
        if prompt.step == "empathy.reply":
            return (
                "Emotion: anxious\nCause: job loss\nIntention: reassurance\n"
                "Response: That sounds really frightening. What worries you most right now?"
            )
        return f"{prompt.step.split('.')[1].capitalize()}: something"

    engine = ScriptedEngine("chatty", answer)
    result = await core_with(engine).generate(request(JOB, QUESTION, "EMPATHY_R1", "chatty"))
    assert result.text == "That sounds really frightening. What worries you most right now?"
    assert not result.fell_back


async def test_kemi_retrieves_job_knowledge_for_a_lost_job() -> None:
    retrieved = await KeywordRetriever().retrieve("I lost my job", k=3)
    assert retrieved[0].entry.stressor == "job loss"

    engine = RecordingEngine()
    result = await core_with(engine).generate(
        request(conversation("I lost my job."), SUGGESTIONS, "KEMI")
    )
    trace = dict(result.trace)
    assert "job loss" in trace["kemi.retrieve"]
    assert trace["kemi.initiative"].startswith("suggest")
    assert engine.calls[-1][0].context["initiative"] == "suggest"
    assert retrieved[0].entry.suggestion in result.text
    assert [t.stage for t in result.timings] == ["kemi.retrieve", "kemi.initiative", "kemi.reply"]


async def test_kemi_retrieves_from_the_situation() -> None:
    conv = conversation("I don't know what to do.", situation="My exams start next week.")
    result = await core_with(RecordingEngine()).generate(request(conv, INFORMATION, "KEMI"))
    assert "exam stress" in dict(result.trace)["kemi.retrieve"]
    assert "study" in result.text


async def test_kemi_takes_the_initiative_from_the_strategy_when_the_model_names_none() -> None:
    # A small model often answers the initiative step without any of its four words: the step
    # takes its input from the strategy, the trace says so, and the reply is still the model's.
    def answer(prompt):
        return "hmm, hard to say" if prompt.step == "kemi.initiative" else "Fine."

    engine = ScriptedEngine("vague", answer)
    result = await core_with(engine).generate(request(JOB, QUESTION, "KEMI", "vague"))
    assert not result.fell_back and result.engine == "vague"
    assert result.text == "Fine."
    assert "ask, from the strategy Question" in dict(result.trace)["kemi.initiative.rule"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("I worked so hard for this promotion and I want to succeed in my career.", "achievement"),
        ("I just want to take care of my family and my kids.", "benevolence"),
        ("I want to make my own choices, not live the way my parents decide.", "self-direction"),
    ],
)
async def test_value_reinforcement_names_the_seekers_value(text: str, value: str) -> None:
    result = await core_with(RecordingEngine()).generate(
        request(conversation(text), AFFIRMATION, "VALUE_REINFORCEMENT")
    )
    assert dict(result.trace)["value.detect"].startswith(value)
    assert VALUE_PHRASES[value] in result.text


@pytest.mark.parametrize("strategy", [QUESTION, SUGGESTIONS])
async def test_value_reinforcement_weaves_the_value_into_the_strategy_sentence(
    strategy: int,
) -> None:
    conv = conversation("I just want to take care of my family and my kids.")
    result = await core_with(RecordingEngine()).generate(
        request(conv, strategy, "VALUE_REINFORCEMENT")
    )
    # One sentence that both follows the strategy and names the value: a separate value
    # sentence would read as an affirmation whatever the strategy.
    assert VALUE_PHRASES["benevolence"] in result.text
    assert len(re.findall(r"[.!?](?:\s|$)", result.text)) == 1
    if strategy == QUESTION:
        assert result.text.endswith("?")
    else:
        assert SUGGESTION_PHRASING.search(result.text)


async def test_value_reinforcement_restates_the_seekers_own_value_words() -> None:
    conv = conversation("I just want to take care of my family. Work has been so stressful lately.")
    result = await core_with(RecordingEngine()).generate(
        request(conv, strategy_index("Restatement or Paraphrasing"), "VALUE_REINFORCEMENT")
    )
    assert "you just want to take care of your family" in result.text


async def test_value_reinforcement_never_reinforces_power() -> None:
    conv = conversation("I want to be in charge and have authority over everyone.")
    result = await core_with(RecordingEngine()).generate(
        request(conv, QUESTION, "VALUE_REINFORCEMENT")
    )
    assert not dict(result.trace)["value.detect"].startswith("power")
    assert result.text.endswith("?")


@pytest.mark.parametrize("method", [m for m in METHODS if m != "AUTO"])
async def test_every_method_follows_the_strategy(method: str) -> None:
    core = GeneratorCore(COMPOSER)
    question = await core.generate(GenerationRequest(JOB, QUESTION, method))
    assert question.text.endswith("?")
    suggestion = await core.generate(GenerationRequest(JOB, SUGGESTIONS, method))
    assert SUGGESTION_PHRASING.search(suggestion.text)
    reflection = await core.generate(GenerationRequest(JOB, REFLECTION, method))
    assert "anxious" in reflection.text
    for result in (question, suggestion, reflection):
        assert result.method == method and result.engine == "composer"


@pytest.mark.parametrize(
    ("situation", "strategy", "seeker", "expected"),
    [
        ("I was laid off.", QUESTION, "I feel lost.", "KEMI"),
        ("", REFLECTION, "I feel so lonely.", "EMPATHY_R1"),
        ("", AFFIRMATION, "I feel so lonely.", "EMPATHY_R1"),
        ("", AFFIRMATION, "I miss my family so much.", "VALUE_REINFORCEMENT"),
        ("", SUGGESTIONS, "I can't sleep.", "MADP"),
        ("", QUESTION, "I can't sleep.", "DIRECT"),
        ("", INFORMATION, "I can't sleep.", "DIRECT"),
    ],
)
def test_auto_policy(situation: str, strategy: int, seeker: str, expected: str) -> None:
    name, why = choose_method(conversation(seeker, situation=situation), strategy)
    assert name == expected and why


async def test_auto_records_its_choice_in_the_trace() -> None:
    core = GeneratorCore(COMPOSER)
    result = await core.generate(GenerationRequest(JOB, SUGGESTIONS, "AUTO"))
    assert result.method == "MADP"
    assert result.trace[0].name == "policy.method" and "MADP" in result.trace[0].content


async def test_methods_run_end_to_end_on_the_composer_engine_object() -> None:
    composer = ComposerEngine()
    core = GeneratorCore(COMPOSER, {"composer": composer})
    assert core.composer is composer
    for method in METHODS:
        result = await core.generate(GenerationRequest(JOB, AFFIRMATION, method))
        assert result.text and result.engine_version == composer.version


@pytest.mark.parametrize(
    "deltas",
    [
        ["I'm sorry", " to hear that.\n\n", "What happened", "?\n"],
        ["  Leading", "  spaces\tand\n", "tabs ", " ", "end"],
        ["one", "\n", "\n", "two"],
    ],
)
def test_streamed_deltas_add_up_to_the_cleaned_reply(deltas: list[str]) -> None:
    from services.generator.methods.base import WhitespaceJoiner, clean_reply

    joiner = WhitespaceJoiner()
    assert "".join(joiner.feed(d) for d in deltas) == clean_reply("".join(deltas))
