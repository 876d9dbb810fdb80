"""The composer engine: every strategy is recognisable in its reply, replies are specific to
the conversation, deterministic per seed, short, and the safe reply is neutral."""

from __future__ import annotations

import re

import pytest
from generator_fakes import conversation

from services.common.labels import STRATEGIES, strategy_index
from services.generator.engines.base import DecodingOptions, Prompt
from services.generator.engines.composer import ComposerEngine, safe_reply
from services.generator.knowledge import KNOWLEDGE
from services.generator.lexicon import EMOTIONS, flip_pronouns

QUESTION = strategy_index("Question")
RESTATEMENT = strategy_index("Restatement or Paraphrasing")
REFLECTION = strategy_index("Reflection of feelings")
SELF_DISCLOSURE = strategy_index("Self-disclosure")
AFFIRMATION = strategy_index("Affirmation and Reassurance")
SUGGESTIONS = strategy_index("Providing Suggestions")
INFORMATION = strategy_index("Information")
OTHERS = strategy_index("Others")

JOB = conversation("I lost my job last week and I'm so worried about paying rent.")
BREAKUP = conversation("My girlfriend broke up with me and I feel so lonely.")
EXAMS = conversation("Hi.", "I have exams next week and I am stressed, I always fail everything.")
SLEEP = conversation("I can't sleep at night anymore and I'm exhausted at work.")
CONVERSATIONS = (JOB, BREAKUP, EXAMS, SLEEP)

composer = ComposerEngine()


def reply(conv, strategy: int, seed: int = 0, **prompt_fields) -> str:
    return composer.compose(
        Prompt(
            "direct.reply",
            conv,
            strategy=strategy,
            options=DecodingOptions(seed=seed),
            **prompt_fields,
        )
    )


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


@pytest.mark.parametrize("conv", CONVERSATIONS, ids=["job", "breakup", "exams", "sleep"])
@pytest.mark.parametrize("strategy", range(len(STRATEGIES)), ids=STRATEGIES)
def test_every_reply_is_short_warm_and_never_commands(conv, strategy: int) -> None:
    text = reply(conv, strategy)
    assert 1 <= len(sentences(text)) <= 3
    assert not re.search(r"\byou (should|must|need to|have to)\b", text, re.IGNORECASE)
    assert not re.search(r"\b(medication|pills|dose|overdose|kill)\b", text, re.IGNORECASE)


@pytest.mark.parametrize("conv", CONVERSATIONS, ids=["job", "breakup", "exams", "sleep"])
def test_question_asks_a_question(conv) -> None:
    text = reply(conv, QUESTION)
    assert text.endswith("?")


def test_restatement_speaks_the_seekers_words_back() -> None:
    for seed in range(8):
        text = reply(JOB, RESTATEMENT, seed=seed)
        # Checks its understanding, as ESConv supporters do ("So ..., is that correct?").
        assert re.search(r"^So |^I hear you saying", text)
        assert re.search(r"(right|correct)\?$", text) or text.endswith("?")
        # The seeker's own content, with pronouns flipped.
        assert "you lost your job last week" in text
        assert not re.search(r"\b(I|my)\b", re.sub(r"^I hear|If I|if I", "", text))


def test_restatement_restates_what_the_seeker_said_not_a_pleasantry() -> None:
    conv = conversation(
        "My sister stopped talking to me after our argument.",
        "Thanks for listening, have a good day.",
    )
    assert "your sister stopped talking to you" in reply(conv, RESTATEMENT)


def test_pronouns_flip_for_restatement() -> None:
    assert flip_pronouns("I was scared my boss hates me") == "you were scared your boss hates you"
    assert flip_pronouns("I'm tired and we argue") == "you're tired and you argue"


@pytest.mark.parametrize(
    ("text", "feeling"),
    [
        ("I'm so worried about my exams next week.", "anxious"),
        ("My girlfriend broke up with me and I feel so lonely.", "lonely"),
        ("I'm furious at my boss for what he said.", "angry"),
        ("Honestly everything feels hopeless since my dad died.", "hopeless"),
        ("I'm so embarrassed about what happened at the party.", "ashamed"),
        ("There is just too much to do and I'm overwhelmed.", "overwhelmed"),
        ("I've been crying every day, I'm so sad.", "sad"),
    ],
)
def test_reflection_names_the_seekers_feeling(text: str, feeling: str) -> None:
    out = reply(conversation(text), REFLECTION)
    assert feeling in EMOTIONS
    assert re.search(rf"\b{feeling}\b", out), out
    others = [f for f in EMOTIONS if f != feeling and re.search(rf"\b{f}\b", out)]
    assert not others


@pytest.mark.parametrize("conv", CONVERSATIONS, ids=["job", "breakup", "exams", "sleep"])
def test_self_disclosure_shares_a_first_person_experience(conv) -> None:
    text = reply(conv, SELF_DISCLOSURE)
    assert re.search(r"\bI\b", text)
    assert re.search(r"\b(I went through|I remember|I felt|when I|When I)\b", text)


@pytest.mark.parametrize("conv", CONVERSATIONS, ids=["job", "breakup", "exams", "sleep"])
def test_affirmation_affirms_strengths(conv) -> None:
    text = reply(conv, AFFIRMATION)
    assert re.search(r"courage|strength|doing your best|says a lot about you|keep going", text)


def test_suggestion_is_concrete_topic_appropriate_and_not_a_command() -> None:
    text = reply(JOB, SUGGESTIONS)
    assert re.search(
        r"might help|perhaps you could|maybe you could|some people find", text, re.IGNORECASE
    )
    job = next(e for e in KNOWLEDGE if e.stressor == "job loss")
    assert job.suggestion in text
    sleep = next(e for e in KNOWLEDGE if e.stressor == "sleep trouble")
    assert sleep.suggestion in reply(SLEEP, SUGGESTIONS)


def test_information_gives_a_relevant_fact() -> None:
    exams = next(e for e in KNOWLEDGE if e.stressor == "exam stress")
    text = reply(EXAMS, INFORMATION)
    assert exams.information in text
    assert "?" not in text


@pytest.mark.parametrize("conv", CONVERSATIONS, ids=["job", "breakup", "exams", "sleep"])
def test_others_acknowledges(conv) -> None:
    assert re.search(r"[Tt]hank|appreciate|glad|here for you", reply(conv, OTHERS))


def test_greeting_gets_small_talk() -> None:
    hello = conversation("hi, how are you?")
    assert reply(hello, QUESTION).endswith("?")
    assert re.search(r"[Hh]ello|[Hh]i there", reply(hello, OTHERS))


def test_the_eight_strategies_give_eight_different_replies() -> None:
    assert len({reply(JOB, s) for s in range(len(STRATEGIES))}) == len(STRATEGIES)


def test_same_input_and_seed_give_the_same_reply() -> None:
    for strategy in range(len(STRATEGIES)):
        assert reply(JOB, strategy, seed=7) == reply(JOB, strategy, seed=7)
    # A fresh engine agrees too: nothing depends on process state.
    fresh = ComposerEngine().compose(
        Prompt("direct.reply", JOB, strategy=QUESTION, options=DecodingOptions(seed=7))
    )
    assert fresh == reply(JOB, QUESTION, seed=7)


def test_seed_varies_the_phrasing() -> None:
    assert len({reply(JOB, REFLECTION, seed=s) for s in range(12)}) > 1


@pytest.mark.parametrize("strategy", range(len(STRATEGIES)), ids=STRATEGIES)
def test_different_conversations_give_different_replies(strategy: int) -> None:
    replies = {reply(c, strategy) for c in CONVERSATIONS}
    assert len(replies) >= (2 if strategy == OTHERS else len(CONVERSATIONS))


def test_a_chain_emotion_is_carried_by_the_strategy_sentence_not_a_lead() -> None:
    # MADP and Empathy-R1 hand over the emotion they found; a separate "Feeling anxious makes
    # sense." before the reply would make every strategy read as a reflection.
    for strategy in (QUESTION, AFFIRMATION, SUGGESTIONS, SELF_DISCLOSURE):
        text = reply(JOB, strategy, context={"emotion": "the seeker feels anxious"})
        assert len(sentences(text)) == 1 or strategy == SELF_DISCLOSURE, text
        assert "anxious" in text
    assert reply(JOB, QUESTION, context={"emotion": "anxious"}).endswith("?")


def test_mixture_runner_up_leads_and_the_strategy_still_ends_the_reply() -> None:
    mixture = (0.5, 0.0, 0.4, 0.0, 0.0, 0.0, 0.0, 0.1)
    text = reply(JOB, QUESTION, strategy_probabilities=mixture)
    assert len(sentences(text)) == 2
    assert "anxious" in sentences(text)[0]
    assert text.endswith("?")


def test_low_adaptive_defense_softens_the_opening() -> None:
    plain = reply(JOB, SUGGESTIONS)
    softened = reply(JOB, SUGGESTIONS, defense=3)  # Disavowal
    assert softened.endswith(plain)
    assert re.search(r"no pressure|as much or as little|whatever pace", softened)


async def test_stream_is_word_by_word_and_joins_to_the_completion() -> None:
    prompt = Prompt("direct.reply", BREAKUP, strategy=RESTATEMENT)
    deltas = [d async for d in composer.stream(prompt)]
    assert len(deltas) > 3
    assert "".join(deltas) == (await composer.complete([prompt]))[0]


async def test_analysis_steps_are_realised_and_unknown_steps_refused() -> None:
    steps = [
        "madp.situation",
        "madp.emotion",
        "madp.cognition",
        "madp.behaviour",
        "empathy.emotion",
        "empathy.cause",
        "empathy.intention",
    ]
    answers = await composer.complete([Prompt(s, EXAMS) for s in steps])
    assert all(answers)
    assert "exam" in answers[0]
    assert "stressed" in answers[1]
    assert "all-or-nothing" in answers[2]
    with pytest.raises(ValueError, match="no realisation"):
        composer.compose(Prompt("unknown.step", EXAMS))


def test_safe_reply_is_neutral_and_localised() -> None:
    english = safe_reply(JOB, "en-GB")
    assert "job" not in english and "?" not in english
    assert re.search(r"here to listen", english)
    assert safe_reply(JOB, "es-MX") != english
    assert safe_reply(None, "xx-YY") == english
    assert safe_reply(conversation("hola", locale="es-ES")).startswith("Gracias")


def test_prompt_renders_chat_messages_for_llm_engines() -> None:
    prompt = Prompt(
        "kemi.reply",
        BREAKUP,
        instruction="Write the reply.",
        strategy=SUGGESTIONS,
        risk="LOW",
        context={"knowledge": "spend time with a friend"},
    )
    messages = prompt.messages()
    system = messages[0]["content"]
    assert messages[0]["role"] == "system" and "Write the reply." in system
    assert "Providing Suggestions" in system and "spend time with a friend" in system
    assert [m["role"] for m in messages[1:]] == ["user"]
    assert messages[1]["content"] == BREAKUP.turns[0].text
