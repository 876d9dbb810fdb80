"""The composer: Solace's embedded engine and safe fallback. No weights, deterministic,
strategy-conditioned.

It realises every method step from the conversation itself: the lexicons (``lexicon.py``) read
the seeker's feeling, key phrase, thoughts, behaviours and values; the built-in knowledge
(``knowledge.py``) gives the topic, a first-person experience, a suggestion and a fact. A
reply-writing prompt always follows its strategy (the strategy sentence ends the reply, so a
Question ends with "?"). What earlier steps concluded (the value to reinforce, the emotion
the chain found) is woven into that sentence, so the reply stays one strategy; one optional
lead sentence carries only a softer opening for low-adaptive defenses or the runner-up of a
strategy mixture.

Phrasings are chosen by a hash of (conversation, seed, step, strategy): the same request always
gives the same reply, different conversations get different wordings. The composer honours
``seed`` and ignores ``temperature``, ``max_tokens`` (its replies are always 1–3 sentences) and
``strategy_strength`` (its conditioning is hard: the reply always follows the strategy).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from services.common.domain import Conversation
from services.common.labels import STRATEGIES
from services.generator import knowledge, lexicon
from services.generator.engines.base import Engine, Prompt

COMPOSER_VERSION = "composer-2"

# Strategy indices, named once so templates read clearly (order of labels.STRATEGIES).
QUESTION, RESTATEMENT, REFLECTION, SELF_DISCLOSURE = 0, 1, 2, 3
AFFIRMATION, SUGGESTIONS, INFORMATION, OTHERS = 4, 5, 6, 7
assert STRATEGIES[SUGGESTIONS] == "Providing Suggestions"  # guard the order above

# Templates per strategy. Slots: {t} topic, {f} feeling, {p} the seeker's phrase flipped to
# the second person, {e} a first-person experience, {s} a suggestion, {i} a fact.
#
# Wordings follow what ESConv supporters write for each strategy (train split): a restatement
# checks its understanding ("So ..., is that correct?"), a reflection says what the supporter
# can feel or tell ("I can feel how ..."), a self-disclosure starts from "I have been there
# too", an affirmation says the seeker is doing their best and will get through. Each wording
# was checked against the strategy classifier on ESConv train conversations, so that what the
# reply does is also what it reads as; softer wordings that read as another strategy (a
# restatement ending "...and that has been weighing on you" reads as reassurance) were dropped.
TEMPLATES: dict[int, tuple[str, ...]] = {
    QUESTION: (
        "What has been the hardest part of {t} for you?",
        "How have you been coping with {t} so far?",
        "Could you tell me a little more about {t}?",
        "When did you start feeling {f} about {t}?",
        "Is there anyone in your life you've been able to talk to about {t}?",
    ),
    RESTATEMENT: (
        "So {p}, is that right?",
        "I hear you saying that {p}. Is that correct?",
        "So if I understand correctly, {p}?",
        "So {p}, is that correct?",
    ),
    REFLECTION: (
        "I can feel how {f} you are about {t}.",
        "Just from chatting with you, I can tell how {f} {t} has made you.",
        "I can sense how {f} you feel about {t}, and that is completely understandable.",
        "I can feel your pain; {t} has left you feeling so {f}.",
    ),
    SELF_DISCLOSURE: (
        "I went through something similar {e}, and I remember how hard it was to see a way "
        "through.",
        "I have been there too. {e}, I felt really {f} for a while.",
        "I remember feeling {f} myself {e}; it took me a while, but things did get easier.",
        "I've been in a similar position myself: {e}, I felt {f} too.",
    ),
    AFFIRMATION: (
        "It takes real courage to open up about {t}, and you're clearly doing your best to get "
        "through it.",
        "You are doing your best with {t}, and I know you will get through this.",
        "It's completely okay to feel this way about {t}; you're doing the best you can, and "
        "that is enough.",
        "You have already shown real strength in facing {t}, and I know you can keep going.",
    ),
    SUGGESTIONS: (
        "One thing that might help is to {s}.",
        "Perhaps you could {s}, if that feels manageable.",
        "Some people find it helps to {s}; it might be worth a try.",
        "If it feels right, maybe you could {s}.",
    ),
    INFORMATION: (
        "It may help to know that {i}.",
        "Many people don't realise that {i}.",
        "Something worth knowing: {i}.",
    ),
    OTHERS: (
        "Thank you for sharing that with me. I'm here for you.",
        "I really appreciate you telling me this, and I'm glad you reached out.",
        "Thanks for trusting me with this. I'm listening whenever you want to keep talking.",
    ),
}

# When an analysis chain (MADP's emotion agent, Empathy-R1's first link) has named the
# seeker's emotion, the strategy sentence itself carries it. A separate "Feeling anxious makes
# sense." before the reply would make every strategy read as a reflection of feelings.
FEELING_TEMPLATES: dict[int, tuple[str, ...]] = {
    QUESTION: (
        "When did you start feeling {f} about {t}?",
        "What do you think has been making you feel most {f} lately?",
        "Feeling {f} like this is hard; how have you been coping with {t} so far?",
    ),
    RESTATEMENT: ("I hear you saying that {p}, and that it has left you {f}. Is that correct?",),
    SELF_DISCLOSURE: (
        "I have been there too; {e}, I felt {f} as well.",
        "I remember feeling {f} myself {e}; it took me a while, but things did get easier.",
    ),
    AFFIRMATION: (
        "You're doing your best even while feeling {f}, and I know you will get through {t}.",
        "It's okay to feel {f} about {t}; you're doing the best you can, and that is enough.",
    ),
    SUGGESTIONS: ("When you're feeling {f}, one thing that might help is to {s}.",),
}

# Value reinforcement weaves the seeker's value ({v}) into the strategy sentence instead of
# leading with "I can see {v} in you, and that is a real strength": that lead is an
# affirmation, and it turned every other strategy into one. A restatement has no template
# here: it speaks back the seeker's own words about what they value (``_value_phrase``).
VALUE_TEMPLATES: dict[int, tuple[str, ...]] = {
    QUESTION: (
        "Given {v}, what has been the hardest part of {t} for you?",
        "What matters most to you about {t}, given {v}?",
    ),
    REFLECTION: (
        "Just from chatting with you, I can tell how {f} {t} has made you; I can feel {v} in it.",
        "I can feel how {f} you are about {t}. Just from chatting with you, I can tell it "
        "matters so much because of {v}.",
    ),
    SELF_DISCLOSURE: (
        "I went through something similar {e}, and what kept me going was the same thing I "
        "hear in you: {v}.",
    ),
    AFFIRMATION: (
        "I can see {v} in what you've shared, and that is a real strength; I know you'll get "
        "through this.",
        "You're doing your best, and {v} is a real strength that will help you through {t}.",
    ),
    SUGGESTIONS: (
        "Given {v}, one thing that might help is to {s}.",
        "Given {v}, maybe you could {s}.",
    ),
    OTHERS: ("Thank you for sharing this with me, and for letting me see {v}.",),
}

# A greeting with nothing to reflect on gets its own wordings for the strategies whose
# templates need content.
SMALL_TALK: dict[int, tuple[str, ...]] = {
    QUESTION: (
        "How are you feeling today?",
        "What's been on your mind lately?",
        "What would you like to talk about today?",
    ),
    RESTATEMENT: ("It sounds like you're reaching out because you'd like someone to talk to.",),
    REFLECTION: (
        "It sounds like you might have something on your mind, and I'm glad you reached out.",
    ),
    SELF_DISCLOSURE: (
        "I know from my own experience that starting a conversation like this isn't always easy.",
    ),
    OTHERS: (
        "Hello, it's good to hear from you. I'm here whenever you'd like to talk.",
        "Hi there, thank you for reaching out. I'm glad you're here.",
    ),
}

# Opening sentences for seekers at low-adaptive defense levels (PsyDefConv 1 Action, 2 Major
# Image-Distorting, 3 Disavowal): they tend to push back on anything that feels like pressure,
# so the reply first takes the pressure off.
_LOW_ADAPTIVE_DEFENSES = frozenset({1, 2, 3})
SOFTENERS: tuple[str, ...] = (
    "There's no pressure to have it all figured out right now.",
    "You can share as much or as little as you like.",
    "We can take this at whatever pace feels right for you.",
)

# Lead sentences for the runner-up of a strategy mixture; only strategies that read naturally
# before another sentence.
MIXTURE_LEADS: dict[int, str] = {
    REFLECTION: "That sounds really {f}.",
    AFFIRMATION: "You're doing the best you can with a lot.",
    OTHERS: "Thank you for telling me.",
}
_MIXTURE_FLOOR = 0.25

SAFE_REPLIES: dict[str, str] = {
    "en": "Thank you for sharing this with me. I'm here to listen, and you don't have to go "
    "through this alone.",
    "es": "Gracias por contarme esto. Estoy aquí para escucharte y no tienes que pasar por "
    "esto a solas.",
    "fr": "Merci de me confier cela. Je suis là pour t'écouter, et tu n'as pas à traverser "
    "cela seul.",
    "de": "Danke, dass du mir das erzählst. Ich bin da und höre dir zu, und du musst da nicht "
    "allein durch.",
}


def safe_reply(conversation: Conversation | None = None, locale: str = "") -> str:
    """The neutral, supportive reply used when screening rejects generated text.

    It carries no strategy-specific or conversation-specific content, so nothing in it can go
    wrong; ``locale`` (BCP-47, else the conversation's) picks the language, English by default.
    """
    tag = locale or (conversation.locale if conversation else "")
    language = tag.replace("_", "-").split("-")[0].lower()
    return SAFE_REPLIES.get(language, SAFE_REPLIES["en"])


@dataclass(frozen=True, slots=True)
class Scene:
    """What the composer knows about a conversation: the lexicons' reading and the topic."""

    reading: lexicon.Reading
    entry: knowledge.KnowledgeEntry
    digest: bytes


@lru_cache(maxsize=512)
def scene_of(conversation: Conversation) -> Scene:
    seeker = [text for _, text in reversed(conversation.seeker_turns())]
    # The newest turn names the topic when it can; otherwise everything the seeker said.
    entry = knowledge.GENERAL
    for query in (*seeker[:1], " ".join([*seeker, conversation.situation])):
        entry = knowledge.topic_entry(query)
        if entry is not knowledge.GENERAL:
            break
    key = "\x1f".join(f"{t.role}:{t.text}" for t in conversation.turns) + "\x1e"
    key += conversation.situation
    return Scene(
        reading=lexicon.read(conversation, knowledge.ALL_KEYWORDS),
        entry=entry,
        digest=hashlib.blake2b(key.encode(), digest_size=16).digest(),
    )


def _pick(options: Sequence[str], scene: Scene, prompt: Prompt, salt: str) -> str:
    """Deterministic choice by a hash of (conversation, seed, step, strategy, salt)."""
    h = hashlib.blake2b(scene.digest, digest_size=8)
    h.update(f"{prompt.options.seed}|{prompt.step}|{prompt.strategy}|{salt}".encode())
    return options[int.from_bytes(h.digest(), "big") % len(options)]


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:] if text else text


def _feeling(prompt: Prompt, scene: Scene) -> str | None:
    # A chain that already named the emotion (Empathy-R1, MADP) is trusted over a re-read.
    return lexicon.feeling_in(prompt.context.get("emotion", "")) or scene.reading.feeling


def _value_phrase(prompt: Prompt, scene: Scene) -> str:
    """The seeker's phrase to restate: under value reinforcement, the newest sentence in which
    they voiced the value (its lexicon cue), so the restatement gives their value back to them
    in their own words; otherwise the lexicon's key phrase."""
    cue = prompt.context.get("value_cue", "")
    if cue:
        for _, text in reversed(prompt.conversation.seeker_turns()):
            if lexicon.find_cues(lexicon.normalise(text), (cue,)):
                return lexicon.key_phrase(_sentence_with(text, cue))
    return scene.reading.phrase


def _slots(prompt: Prompt, scene: Scene) -> dict[str, str]:
    ctx = prompt.context
    entry = scene.entry
    phrase = _value_phrase(prompt, scene)
    return {
        "t": ctx.get("topic") or entry.topic,
        "f": _feeling(prompt, scene) or lexicon.DEFAULT_FEELING,
        "p": lexicon.flip_pronouns(phrase) if phrase else "you've been going through a lot",
        "e": entry.experience,
        "s": (ctx.get("knowledge") or entry.suggestion).rstrip("."),
        "i": (ctx.get("fact") or entry.information).rstrip("."),
        "v": ctx.get("value_phrase", ""),
    }


def _options(prompt: Prompt, scene: Scene) -> tuple[str, ...]:
    """The wordings for the prompt's strategy, given what the method's earlier steps found."""
    strategy = prompt.strategy
    assert strategy is not None
    if scene.reading.small_talk and strategy in SMALL_TALK:
        return SMALL_TALK[strategy]
    if prompt.context.get("value_phrase") and strategy in VALUE_TEMPLATES:
        return VALUE_TEMPLATES[strategy]
    chain_feeling = lexicon.feeling_in(prompt.context.get("emotion", ""))
    if chain_feeling and strategy in FEELING_TEMPLATES:
        return FEELING_TEMPLATES[strategy]
    options = TEMPLATES[strategy]
    if strategy == QUESTION and _feeling(prompt, scene) is None:
        # "When did you start feeling weighed down" presumes a feeling nobody named.
        options = tuple(o for o in options if "{f}" not in o)
    return options


def _main_sentence(prompt: Prompt, scene: Scene, slots: dict[str, str]) -> str:
    text = _pick(_options(prompt, scene), scene, prompt, "main").format(**slots)
    return " ".join(_sentence(part) for part in re.split(r"(?<=[.!?])\s+", text))


def _lead_sentence(prompt: Prompt, scene: Scene, slots: dict[str, str]) -> str:
    """At most one opening sentence, from the highest-priority signal present.

    What a method concluded (a value, an emotion) is not a lead: it is woven into the strategy
    sentence (``VALUE_TEMPLATES``, ``FEELING_TEMPLATES``), so the reply stays one strategy.
    """
    strategy = prompt.strategy
    if prompt.defense in _LOW_ADAPTIVE_DEFENSES and not scene.reading.small_talk:
        return _pick(SOFTENERS, scene, prompt, "lead")
    probabilities = prompt.strategy_probabilities
    if probabilities and not scene.reading.small_talk:
        ranked = sorted(range(len(probabilities)), key=lambda i: -probabilities[i])
        runner_up = next((i for i in ranked if i != strategy), None)
        if (
            runner_up in MIXTURE_LEADS
            and probabilities[runner_up] >= _MIXTURE_FLOOR
            and not (runner_up == REFLECTION and _feeling(prompt, scene) is None)
        ):
            return MIXTURE_LEADS[runner_up].format(**slots)
    return ""


def compose_reply(prompt: Prompt, scene: Scene) -> str:
    """The strategy-conditioned reply: an optional lead sentence, then the strategy sentence."""
    slots = _slots(prompt, scene)
    lead = _lead_sentence(prompt, scene, slots)
    main = _main_sentence(prompt, scene, slots)
    return f"{_sentence(lead)} {main}" if lead else main


# --- analysis steps -------------------------------------------------------------------------


def _quote(text: str) -> str:
    return f'"{text}"' if text else "(nothing specific yet)"


def _seeker_text(conversation: Conversation) -> str:
    return " ".join(text for _, text in conversation.seeker_turns())


def _sentence_with(text: str, cue: str) -> str:
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if cue in lexicon.normalise(sentence):
            return sentence.strip()
    return cue


def _situation(prompt: Prompt, scene: Scene) -> str:
    return (
        f"Situation: the seeker is dealing with {scene.entry.stressor}; in their words: "
        f"{_quote(scene.reading.phrase)}."
    )


def _emotion(prompt: Prompt, scene: Scene) -> str:
    if scene.reading.feeling:
        return (
            f"Emotion: the seeker feels {scene.reading.feeling} "
            f'(they said "{scene.reading.feeling_cue}").'
        )
    return f"Emotion: no feeling named outright; the seeker seems {lexicon.DEFAULT_FEELING}."


def _cognition(prompt: Prompt, scene: Scene) -> str:
    text = _seeker_text(prompt.conversation)
    found = lexicon.detect_trap(text)
    if not found:
        return "Cognition: no automatic thought stated explicitly."
    trap, cue = found
    return f"Cognition: automatic thought {_quote(_sentence_with(text, cue))}, possibly {trap}."


def _behaviour(prompt: Prompt, scene: Scene) -> str:
    found = lexicon.detect_behaviour(_seeker_text(prompt.conversation))
    if not found:
        return "Behaviour: no behaviour described yet."
    label, cue = found
    return f'Behaviour: {label} (they said "{cue}").'


def _plan(prompt: Prompt, scene: Scene) -> str:
    ctx = prompt.context
    feeling = _feeling(prompt, scene) or lexicon.DEFAULT_FEELING
    parts = [f"acknowledge that the seeker feels {feeling} about {scene.entry.stressor}"]
    cognition = ctx.get("cognition", "")
    if "possibly" in cognition:
        trap = cognition.rsplit("possibly", 1)[1].strip(" .")
        parts.append(f"gently make room for another view of the {trap}")
    behaviour = ctx.get("behaviour", "")
    if behaviour and "no behaviour" not in behaviour:
        parts.append("notice what they are doing to cope, without judgement")
    strategy = ctx.get("strategy", "")
    if strategy:
        parts.append(f"then respond with {strategy}")
    return "Plan: " + "; ".join(parts) + "."


def _cause(prompt: Prompt, scene: Scene) -> str:
    feeling = _feeling(prompt, scene) or "distress"
    return (
        f"Cause: the {feeling} feeling seems to stem from {scene.entry.stressor}; the seeker "
        f"says {_quote(scene.reading.phrase)}."
    )


def _intention(prompt: Prompt, scene: Scene) -> str:
    if scene.reading.wants_advice:
        want = "practical ideas for what to do next"
    elif scene.reading.small_talk:
        want = "to start a conversation and feel welcome"
    else:
        want = "to be heard and understood"
    feeling = _feeling(prompt, scene) or lexicon.DEFAULT_FEELING
    return f"Intention: feeling {feeling} about {scene.entry.stressor}, the seeker wants {want}."


# Mixed-initiative: the strategy decides who leads; "follow" lets the seeker lead.
INITIATIVES: tuple[str, ...] = ("ask", "suggest", "inform", "follow")
_INITIATIVE_OF = {QUESTION: "ask", SUGGESTIONS: "suggest", INFORMATION: "inform"}


def _initiative(prompt: Prompt, scene: Scene) -> str:
    name = prompt.context.get("strategy", "")
    index = STRATEGIES.index(name) if name in STRATEGIES else OTHERS
    choice = _INITIATIVE_OF.get(index, "follow")
    why = {
        "ask": "more detail is needed before helping",
        "suggest": "a concrete next step fits the seeker's problem",
        "inform": "a relevant fact can ease the seeker's worry",
        "follow": "the seeker should lead while they feel heard",
    }[choice]
    return f"{choice}: {why}."


_ANALYSERS: dict[str, Callable[[Prompt, Scene], str]] = {
    "madp.situation": _situation,
    "madp.emotion": _emotion,
    "madp.cognition": _cognition,
    "madp.behaviour": _behaviour,
    "madp.plan": _plan,
    "empathy.emotion": _emotion,
    "empathy.cause": _cause,
    "empathy.intention": _intention,
    "kemi.initiative": _initiative,
}
ANALYSIS_STEPS: frozenset[str] = frozenset(_ANALYSERS)


class ComposerEngine(Engine):
    """The embedded engine: every step is a template realisation, no model weights."""

    name = "composer"
    version = COMPOSER_VERSION

    def compose(self, prompt: Prompt) -> str:
        """One step, synchronously (it takes microseconds, so no thread hop is needed)."""
        scene = scene_of(prompt.conversation)
        analyser = _ANALYSERS.get(prompt.step)
        if analyser is not None:
            return analyser(prompt, scene)
        if prompt.strategy is None:
            raise ValueError(f"the composer has no realisation for step {prompt.step!r}")
        return compose_reply(prompt, scene)

    async def complete(self, prompts: Sequence[Prompt]) -> list[str]:
        return [self.compose(p) for p in prompts]

    async def stream(self, prompt: Prompt) -> AsyncIterator[str]:
        """Word by word (each word with its trailing space), yielding to the loop between."""
        for match in re.finditer(r"\S+\s*", self.compose(prompt)):
            yield match.group()
            await asyncio.sleep(0)
