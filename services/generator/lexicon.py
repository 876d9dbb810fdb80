"""Small hand-written lexicons the composer and the methods read a conversation with: the
seeker's feeling, their key phrase (with pronouns flipped for restatement), automatic thoughts,
behaviours and the Schwartz values they express.

Deliberately small and transparent: they make the composer's replies specific to the
conversation without any weights, and every match can be explained in a trace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from services.common.domain import Conversation

# Feeling (the word a reflection names) → cue words and phrases that signal it. Feelings are
# adjectives so that "you're feeling {feeling}" reads naturally.
EMOTIONS: dict[str, tuple[str, ...]] = {
    "anxious": (
        "anxious",
        "anxiety",
        "worried",
        "worry",
        "worrying",
        "nervous",
        "panic",
        "panicking",
        "uneasy",
        "on edge",
        "freaking out",
        "tense",
    ),
    "sad": (
        "sad",
        "sadness",
        "down",
        "depressed",
        "depression",
        "unhappy",
        "crying",
        "cry",
        "miserable",
        "heartbroken",
        "upset",
        "blue",
        "tears",
    ),
    "angry": ("angry", "anger", "mad", "furious", "pissed", "rage", "resent", "hate", "livid"),
    "lonely": (
        "lonely",
        "loneliness",
        "alone",
        "isolated",
        "no friends",
        "no one to talk to",
        "nobody cares",
        "left out",
    ),
    "ashamed": ("ashamed", "shame", "embarrassed", "embarrassing", "humiliated", "humiliation"),
    "overwhelmed": (
        "overwhelmed",
        "overwhelming",
        "too much",
        "swamped",
        "drowning",
        "can't cope",
        "cannot cope",
        "so much to do",
    ),
    "hopeless": (
        "hopeless",
        "no hope",
        "pointless",
        "no point",
        "give up",
        "giving up",
        "nothing will change",
        "never get better",
        "worthless",
    ),
    "scared": ("scared", "afraid", "fear", "terrified", "frightened", "fearful"),
    "frustrated": ("frustrated", "frustrating", "stuck", "fed up", "annoyed", "irritated"),
    "guilty": ("guilty", "guilt", "my fault", "blame myself", "regret"),
    "hurt": ("hurt", "betrayed", "betrayal", "rejected", "cheated"),
    "stressed": ("stressed", "stress", "stressful", "pressure", "under pressure"),
    "exhausted": ("exhausted", "tired", "drained", "burnt out", "burned out", "worn out"),
    "jealous": ("jealous", "jealousy", "envious"),
    "confused": ("confused", "confusing", "don't know what to do", "unsure", "torn"),
}

# When no cue matches, a reflection still has to name something gentle and true to most
# seekers who reach out.
DEFAULT_FEELING = "weighed down"

# Automatic-thought patterns (CBT thinking traps) → cues in the seeker's words.
THINKING_TRAPS: dict[str, tuple[str, ...]] = {
    "all-or-nothing thinking": ("always", "never", "everything", "nothing ever", "completely"),
    "self-blame": ("my fault", "blame myself", "i ruined", "i messed up", "because of me"),
    "labelling": (
        "i'm a failure",
        "i am a failure",
        "i'm stupid",
        "i am stupid",
        "i'm useless",
        "i am useless",
        "i'm worthless",
        "i am worthless",
        "i'm a loser",
    ),
    "fortune telling": (
        "going to fail",
        "will fail",
        "won't ever",
        "will never",
        "what if",
        "no way i",
    ),
    "mind reading": ("everyone thinks", "they think i", "nobody likes", "no one likes", "hates me"),
    "should statements": ("i should", "i shouldn't", "i must", "i have to"),
}

# Behaviours (what the seeker does or stopped doing) → cues.
BEHAVIOURS: dict[str, tuple[str, ...]] = {
    "sleeping poorly": (
        "can't sleep",
        "cannot sleep",
        "insomnia",
        "awake all night",
        "up all night",
    ),
    "withdrawing from others": (
        "stay in my room",
        "stopped going out",
        "avoid people",
        "avoiding",
        "isolating",
        "don't want to see anyone",
        "stay home",
    ),
    "crying often": ("crying", "cry all the time", "keep crying"),
    "overworking": ("working all the time", "work late", "overtime", "can't stop working"),
    "procrastinating": ("procrastinat", "putting it off", "can't start", "can't focus"),
    "not eating well": ("not eating", "can't eat", "stopped eating", "eating too much"),
    "arguing": ("arguing", "argue", "fight", "fighting", "yelled", "shouting"),
    "searching for work": ("applying", "applications", "interviews", "job hunting", "job search"),
    "reaching out": ("talk to", "talked to", "reaching out", "asked for help"),
}

# The 10 basic values of Schwartz's theory → cues, and how a reply names each one to the
# seeker. ``REINFORCEABLE`` lists those a supporter can affirm without endorsing harm
# (power is left out: affirming dominance or status is not support).
VALUES: dict[str, tuple[str, ...]] = {
    "self-direction": (
        "my own",
        "decide",
        "choose",
        "choice",
        "independent",
        "freedom",
        "my way",
        "creative",
        "figure it out",
        "on my own",
    ),
    "stimulation": ("adventure", "excitement", "exciting", "travel", "new things", "challenge"),
    "hedonism": ("fun", "enjoy", "enjoyed", "pleasure", "relax", "hobby", "hobbies"),
    "achievement": (
        "succeed",
        "success",
        "goal",
        "goals",
        "career",
        "promotion",
        "grades",
        "exam",
        "exams",
        "pass",
        "degree",
        "do well",
        "accomplish",
        "ambition",
        "hard work",
        "work hard",
    ),
    "power": ("control", "status", "respect", "authority", "wealth", "rich", "in charge"),
    "security": (
        "safe",
        "safety",
        "stable",
        "stability",
        "secure",
        "security",
        "rent",
        "bills",
        "savings",
        "job security",
        "health",
        "afford",
    ),
    "conformity": ("rules", "expected", "expect", "expectations", "obey", "proper", "polite"),
    "tradition": ("faith", "religion", "church", "tradition", "culture", "customs", "pray"),
    "benevolence": (
        "family",
        "friend",
        "friends",
        "kids",
        "children",
        "care about",
        "help them",
        "partner",
        "loyal",
        "love",
        "mom",
        "dad",
        "mother",
        "father",
        "sister",
        "brother",
        "wife",
        "husband",
    ),
    "universalism": (
        "fair",
        "fairness",
        "unfair",
        "justice",
        "equality",
        "environment",
        "the world",
        "everyone deserves",
        "nature",
    ),
}
VALUE_PHRASES: dict[str, str] = {
    "self-direction": "your wish to make your own choices and find your own way",
    "stimulation": "your openness to new experiences and challenges",
    "hedonism": "the care you give to enjoying life and looking after your own wellbeing",
    "achievement": "your drive to work hard and do well",
    "power": "your wish to have a say in what happens to you",
    "security": "how much you value stability and safety for yourself and those you love",
    "conformity": "how seriously you take your commitments to the people around you",
    "tradition": "how much your roots and beliefs mean to you",
    "benevolence": "how deeply you care about the people close to you",
    "universalism": "your strong sense of fairness and care for others",
}
REINFORCEABLE: tuple[str, ...] = tuple(v for v in VALUES if v != "power")

_GREETINGS = frozenset(
    "hi hello hey hiya howdy thanks thank you good morning afternoon evening ok okay yes "  # noqa: SIM905
    "no sure bye goodbye too how are".split()
)
_ADVICE_CUES = (
    "what should i do",
    "what can i do",
    "any advice",
    "advice",
    "how do i",
    "how can i",
    "what do i do",
    "help me",
    "any ideas",
    "suggestions",
)

_WORD = re.compile(r"[A-Za-z']+")


def normalise(text: str) -> str:
    """Lower-case, straight apostrophes, single spaces: the form every cue is matched in."""
    return " ".join(text.replace("’", "'").replace("‘", "'").lower().split())


@lru_cache(maxsize=1024)
def _cue_pattern(cue: str) -> re.Pattern[str]:
    # Cues ending in a word fragment ("procrastinat") match any continuation.
    tail = r"" if cue.endswith("at") else r"\b"
    return re.compile(r"(?<![a-z'])" + re.escape(cue) + tail)


def find_cues(text: str, cues: tuple[str, ...]) -> list[str]:
    """The cues that occur in ``text`` (already normalised), in lexicon order."""
    # A cue's pattern can only match where the cue is a substring: the plain substring test
    # rules out most cues at C speed, and only the rest pay for the word-boundary regex (this
    # was a seventh of the generator's CPU under load).
    return [cue for cue in cues if cue in text and _cue_pattern(cue).search(text)]


def _best(text: str, lexicon: dict[str, tuple[str, ...]]) -> tuple[str, str] | None:
    """(label, first cue) of the label whose cues match most words; ties go to lexicon order.

    Counting words, not cues, lets a specific phrase ("will never") outweigh a bare word
    ("never") that another label shares.
    """
    best: tuple[int, str, str] | None = None
    for label, cues in lexicon.items():
        hits = find_cues(text, cues)
        score = sum(len(cue.split()) for cue in hits)
        if hits and (best is None or score > best[0]):
            best = (score, label, max(hits, key=lambda cue: len(cue.split())))
    return None if best is None else (best[1], best[2])


def detect_feeling(*texts: str) -> tuple[str, str] | None:
    """(feeling, cue) from the first text that names one; ``texts`` go newest first, so the
    seeker's latest words win over earlier ones."""
    for text in texts:
        found = _best(normalise(text), EMOTIONS)
        if found:
            return found
    return None


def feeling_in(text: str) -> str | None:
    """The lexicon feeling a piece of text names, if any (reads another step's output)."""
    found = detect_feeling(text)
    return found[0] if found else None


def detect_trap(text: str) -> tuple[str, str] | None:
    return _best(normalise(text), THINKING_TRAPS)


def detect_behaviour(text: str) -> tuple[str, str] | None:
    return _best(normalise(text), BEHAVIOURS)


def detect_value(text: str) -> tuple[str, str] | None:
    """(value, cue) of the reinforceable Schwartz value the text expresses most, if any."""
    lexicon = {v: VALUES[v] for v in REINFORCEABLE}
    return _best(normalise(text), lexicon)


def is_small_talk(text: str) -> bool:
    """True for a greeting or pleasantry with no content ("hi, how are you?")."""
    words = _WORD.findall(normalise(text))
    return not words or (len(words) <= 6 and all(w in _GREETINGS for w in words))


def asks_for_advice(text: str) -> bool:
    return bool(find_cues(normalise(text), _ADVICE_CUES))


# First person → second person. "was"/"am" only change after "I" (handled in ``flip_pronouns``).
_FLIP: dict[str, str] = {
    "i": "you",
    "me": "you",
    "my": "your",
    "mine": "yours",
    "myself": "yourself",
    "i'm": "you're",
    "im": "you're",
    "i've": "you've",
    "i'll": "you'll",
    "i'd": "you'd",
    "we": "you",
    "us": "you",
    "our": "your",
    "ours": "yours",
    "ourselves": "yourselves",
    "we're": "you're",
    "we've": "you've",
    "we'll": "you'll",
    "we'd": "you'd",
}
_AFTER_I: dict[str, str] = {"am": "are", "was": "were", "wasn't": "weren't"}


def flip_pronouns(phrase: str) -> str:
    """Speak the seeker's words back to them: "I lost my job" → "you lost your job"."""
    out: list[str] = []
    previous = ""
    for token in re.findall(r"[A-Za-z']+|[^A-Za-z']+", phrase.replace("’", "'")):
        lowered = token.lower()
        if lowered in _FLIP:
            token = _FLIP[lowered]
        elif previous in {"i", "we"} and lowered in _AFTER_I:
            token = _AFTER_I[lowered]
        if token.strip():
            previous = lowered
        out.append(token)
    return "".join(out)


_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\s*\n+\s*")
_CLAUSE_BREAK = re.compile(r",\s+|\s+(?:but|and|because|so)\s+")
_FIRST_PERSON = re.compile(r"\b(i|i'm|im|i've|my|me|we|our)\b")
_SECOND_PERSON = re.compile(r"\byou(r|rs|'re|'ve)?\b")
_MAX_WORDS = 16


# Pleasantries and chat words: restating "you have a blessed day" or "lol" back to a seeker
# tells them nothing about their situation.
_PLEASANTRY = re.compile(
    r"\b(thanks?|thank you|bye|goodbye|have a (?:good|great|nice|blessed) \w+|lol|haha|"
    r"you too|take care|appreciate it|welcome)\b"
)


def _phrase_candidates(text: str, topic_cues: tuple[str, ...]) -> list[tuple[int, int, str]]:
    """(score, -position, sentence) for each sentence of ``text`` worth restating."""
    candidates: list[tuple[int, int, str]] = []
    for position, raw in enumerate(_SENTENCE.split(text.strip())):
        sentence = raw.strip().strip("\"'")
        lowered = normalise(sentence)
        words = _WORD.findall(lowered)
        if len(words) < 3 or is_small_talk(sentence):
            continue
        score = 0
        if _FIRST_PERSON.search(lowered):
            score += 2
        if detect_feeling(lowered) or find_cues(lowered, topic_cues):
            score += 2
        if sentence.endswith("?"):
            score -= 3
        if _SECOND_PERSON.search(lowered):
            score -= 2
        if _PLEASANTRY.search(lowered):
            score -= 3
        candidates.append((score, -position, sentence))
    return candidates


def key_phrase(text: str, topic_cues: tuple[str, ...] = ()) -> str:
    """The seeker's most telling statement in ``text``, trimmed to one clause.

    Prefers declarative first-person sentences that mention a feeling or a topic cue, and
    avoids questions, pleasantries and sentences addressed to the supporter ("can you help
    me"), because a restatement of those reads oddly.
    """
    candidates = _phrase_candidates(text, topic_cues)
    # Earlier sentences win ties: seekers tend to lead with what happened.
    phrase = max(candidates)[2] if candidates else text.strip()
    return _trim(phrase)


def telling_turn(texts: list[str], topic_cues: tuple[str, ...] = (), lookback: int = 3) -> str:
    """The newest of the seeker's ``texts`` (newest first) that says something about their
    situation, looking back at most ``lookback`` turns; else the newest that is not small talk.

    A last turn such as "ok, I will try that" has nothing to restate, while the turn before it
    usually holds what the seeker is going through.
    """
    talk = [t for t in texts if not is_small_talk(t)]
    for text in talk[:lookback]:
        candidates = _phrase_candidates(text, topic_cues)
        if candidates and max(candidates)[0] > 0:
            return text
    return talk[0] if talk else ""


# Openers that carry no content and read oddly in "It sounds like you're saying ...".
_OPENER = re.compile(
    r"^(?:(?:well|so|actually|honestly|basically|like|um+|uh+|also|and|but|for example|"
    r"you know|i mean|ok|okay|yeah|yes|no)\b[,.]?\s*)+",
    re.IGNORECASE,
)
# Words a hard cut must not end on ("... cooked us for").
_DANGLING_WORDS = (
    "a an the and or but so to for of with in on at by from about that which who my your "
    "our their his her its is are was were be been am i you we they he she it as if than "
    "because when while just really very before after until"
)
_DANGLING = frozenset(_DANGLING_WORDS.split())


def _trim(phrase: str) -> str:
    phrase = _OPENER.sub("", phrase.strip()).rstrip(".!?;:,").strip() or phrase.strip()
    words = phrase.split()
    if len(words) > _MAX_WORDS:
        # Cut at the first clause boundary that leaves a meaningful clause, else hard-cut
        # and drop the function words a cut leaves dangling.
        for match in _CLAUSE_BREAK.finditer(phrase):
            if 4 <= len(phrase[: match.start()].split()) <= _MAX_WORDS:
                phrase = phrase[: match.start()]
                break
        else:
            kept = words[:_MAX_WORDS]
            while len(kept) > 4 and kept[-1].lower().strip(",;:") in _DANGLING:
                kept.pop()
            phrase = " ".join(kept).rstrip(",;:")
    if phrase and not re.match(r"I\b|I'", phrase):
        phrase = phrase[0].lower() + phrase[1:]
    return phrase


@dataclass(frozen=True, slots=True)
class Reading:
    """What the lexicons read in a conversation: the basis of every composer realisation."""

    last: str
    feeling: str | None
    feeling_cue: str | None
    phrase: str
    small_talk: bool
    wants_advice: bool


def read(conversation: Conversation, topic_cues: tuple[str, ...] = ()) -> Reading:
    """Read the seeker's side of the conversation (newest turn first, then the situation)."""
    seeker_texts = [text for _, text in reversed(conversation.seeker_turns())]
    last = seeker_texts[0] if seeker_texts else ""
    found = detect_feeling(*seeker_texts, conversation.situation)
    # Restate the newest turn that says something about the seeker; fall back to the situation.
    source = telling_turn(seeker_texts, topic_cues) or conversation.situation
    return Reading(
        last=last,
        feeling=found[0] if found else None,
        feeling_cue=found[1] if found else None,
        phrase=key_phrase(source, topic_cues) if source else "",
        small_talk=is_small_talk(last) and not conversation.situation,
        wants_advice=asks_for_advice(last),
    )
