"""What the load tests send: everyday distress (the bulk of real traffic), crisis disclosures
(which must be escalated, never answered by a model) and malformed requests (which must get
INVALID_ARGUMENT). Written for load testing; no real person's words.

Real traffic is conversations: a partner app resends the whole conversation with each new
seeker turn, so every request carries one turn the platform has never seen, and the services'
embedding memos only spare the earlier ones. ``fresh_turn`` therefore varies each seeker turn
with an opener, a duration and a closing clause (over a million distinct opening turns, where
a service's memo holds 4,096 texts), so that a load test pays for encoding the newest turn as
production does. Sending the bare sentences again and again measures the memos instead.

Plain data, a pure function and a conversation's state (no grpc, no locust), so the locustfile
and the tests can both import it.
"""

from __future__ import annotations

import random

# One seeker turn each, in the register of ESConv help-seekers: work, study, relationships,
# loneliness, family, health worries, grief, sleep.
EVERYDAY: tuple[str, ...] = (
    "I lost my job last month and I can't sleep, I keep thinking about the bills.",
    "My girlfriend broke up with me last week and the flat feels so empty now.",
    "I'm stressed about my exams, I keep procrastinating and then I panic at night.",
    "My best friend stopped answering my messages and I don't know what I did wrong.",
    "I feel like I'm failing at everything at work, my manager keeps pointing out mistakes.",
    "Since I moved to a new city I don't really have anyone to talk to on weekends.",
    "My parents argue all the time and I end up in the middle trying to calm them down.",
    "I've been so tired lately, I drag myself through the day and nothing feels fun anymore.",
    "My dog died on Sunday and everyone says it's just a pet but I can't stop crying.",
    "I got rejected from the master's programme I really wanted and I feel stupid for hoping.",
    "My coworkers go to lunch without me and I pretend I don't care but it hurts.",
    "I have a presentation on Friday and every time I think about it my heart races.",
    "I'm a new mum and I love my baby but I feel overwhelmed and guilty all the time.",
    "My landlord is selling the flat and I have six weeks to find somewhere I can afford.",
    "I keep comparing myself to my friends online and I feel like I'm behind in life.",
    "My dad was diagnosed with diabetes and I'm worried he won't change how he eats.",
    "I had a fight with my sister at Christmas and we haven't spoken since.",
    "I work night shifts and I feel disconnected from everyone in my life.",
    "I was passed over for a promotion again and I'm starting to think I'm not good enough.",
    "Honestly it's fine, everyone has problems, I just need to stop complaining about mine.",
)

# Situations paired with some conversations (ESConv's "situation" field).
SITUATIONS: tuple[str, ...] = (
    "Job loss and money worries",
    "Breakup with a long-term partner",
    "Exam stress and procrastination",
    "Conflict with a close friend",
    "Loneliness after moving",
)

# A seeker's later turns in a conversation (after the supporter's reply).
FOLLOW_UP_TURNS: tuple[str, ...] = (
    "A few weeks now. It gets worse in the evenings when I'm alone.",
    "Not really, I don't want to bother people with my stuff.",
    "Going for walks used to help but I haven't had the energy.",
    "Maybe. I just feel stuck and I don't see how it changes.",
    "I tried talking to my mum but she changed the subject.",
    "I think I'm scared that it won't get better.",
    "Yes, that's exactly it, I feel like I should be able to handle it.",
    "I don't know, I guess I could try writing things down.",
    "My friend said I'm overreacting and now I feel worse.",
    "Thanks, it helps a bit to say it out loud.",
    "I sleep maybe four hours and then I lie awake thinking.",
    "I used to love painting but I haven't touched it in months.",
)

# Varying a seeker turn: an opener before it and a closing clause after it ("" = none).
OPENERS: tuple[str, ...] = (
    "",
    "Honestly, ",
    "I don't know, ",
    "So ",
    "Well, ",
    "To be honest, ",
    "It's just that ",
    "Um, ",
    "I guess ",
    "Okay so ",
    "Sorry, ",
    "The thing is, ",
)
CLOSERS: tuple[str, ...] = (
    "",
    " It keeps coming back.",
    " I don't really know what to do.",
    " Nobody at home knows.",
    " It's worse at night.",
    " I'm tired of feeling this way.",
    " My friends don't get it.",
    " I try to keep busy but it doesn't help.",
    " I haven't told anyone.",
    " Sorry for rambling.",
    " I feel so alone with it.",
    " I keep crying for no reason.",
    " Everyone else seems fine.",
    " I can't focus on anything.",
    " It just keeps going round in my head.",
    " I feel like such a burden.",
    " Part of me thinks I'm being silly.",
    " I wish someone would notice.",
    " I'm trying to stay positive.",
    " I don't even know why I'm telling you this.",
    " It's exhausting.",
    " I just want it to stop.",
    " Some days are okay though.",
    " I'm not sure anyone can help.",
)


# How long it has been, after the sentence: with a number, so that turns rarely repeat.
DURATIONS: tuple[str, ...] = (
    " It's been {n} {unit}.",
    " This started {n} {unit} ago.",
    " For {n} {unit} now.",
)
UNITS: tuple[str, ...] = ("days", "weeks", "months")


def fresh_turn(sentence: str, rng: random.Random | None = None) -> str:
    """``sentence`` with a random opener, a duration and a closing clause: as a new turn of real
    traffic, text the platform's memos have most likely not seen (12 × 261 × 24 ≈ 75,000
    variants of each sentence; a service's memo holds 4,096 texts)."""
    rng = rng or random
    opener = rng.choice(OPENERS)
    if opener and not (sentence.startswith("I ") or sentence.startswith("I'")):
        sentence = sentence[0].lower() + sentence[1:]
    duration = rng.choice(DURATIONS).format(n=rng.randint(2, 30), unit=rng.choice(UNITS))
    return f"{opener}{sentence}{duration}{rng.choice(CLOSERS)}"


# Disclosures of suicidal intent, a method or a plan: the platform must escalate every one.
CRISIS: tuple[str, ...] = (
    "I have the pills ready and I am going to kill myself tonight.",
    "I've decided to end my life, I wrote the letters and I know how I'm going to do it.",
    "I bought a rope today and I'm going to hang myself this weekend when nobody is home.",
    "I'm standing on the bridge right now and I'm going to jump.",
    "I want to kill myself and I've been saving up my medication to overdose.",
    "Tonight I'm going to take all the sleeping pills, I've already said goodbye to everyone.",
)

#: Malformed requests as (case name, request fields) for ``RespondRequest``; each must be
#: answered with INVALID_ARGUMENT. Role 1 is the seeker, 2 the supporter, 7 undefined.
BAD_INPUT: tuple[tuple[str, dict], ...] = (
    ("no_turns", {"turns": []}),
    ("blank_text", {"turns": [(1, "   ")]}),
    ("unknown_role", {"turns": [(1, "hello"), (7, "who am I")]}),
    ("last_turn_supporter", {"turns": [(1, "hi"), (2, "hello, how are you?")]}),
    ("text_too_long", {"turns": [(1, "I feel sad. " * 500)]}),
    ("too_many_turns", {"turns": [(1, "again")] * 100}),
    ("unknown_method", {"turns": [(1, "I feel anxious")], "method": 99}),
    ("bad_locale", {"turns": [(1, "I feel anxious")], "locale": "not a locale!"}),
    ("negative_temperature", {"turns": [(1, "I feel anxious")], "temperature": -1.0}),
)


# Conversations of the everyday scenario: at most this many seeker turns, and a new one starts
# with this probability before that (real sessions end early as often as late).
MAX_SEEKER_TURNS = 4
NEW_CONVERSATION_P = 0.3
SITUATION_P = 0.2


class Conversation:
    """One load-test user's ongoing everyday conversation: its turns so far (seeker, supporter,
    seeker, ...) and its situation."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.turns: list[str] = []
        self.situation = ""
        self._rng = rng or random.Random()

    def next_turns(self, reply: str | None) -> tuple[list[str], str]:
        """(turns, situation) of the request for the seeker's next turn. ``reply``, the
        platform's answer to the previous request (None when there was none), continues the
        conversation as the supporter's turn; a new conversation starts when there is no
        reply, after ``MAX_SEEKER_TURNS``, or at random."""
        rng = self._rng
        seeker_turns = (len(self.turns) + 1) // 2
        if (
            reply is None
            or not self.turns
            or seeker_turns >= MAX_SEEKER_TURNS
            or rng.random() < NEW_CONVERSATION_P
        ):
            self.turns = [fresh_turn(rng.choice(EVERYDAY), rng)]
            self.situation = rng.choice(SITUATIONS) if rng.random() < SITUATION_P else ""
        else:
            self.turns = [*self.turns, reply, fresh_turn(rng.choice(FOLLOW_UP_TURNS), rng)]
        return list(self.turns), self.situation
