"""What the load tests send: everyday distress (the bulk of real traffic), crisis disclosures
(which must be escalated, never answered by a model) and malformed requests (which must get
INVALID_ARGUMENT). Written for load testing; no real person's words.

Plain data only (no grpc, no locust), so the locustfile and the tests can both import it.
"""

from __future__ import annotations

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

# Earlier turns, for multi-turn conversations (seeker, supporter, seeker ...).
FOLLOW_UPS: tuple[tuple[str, str], ...] = (
    (
        "That sounds really hard. How long have you been feeling this way?",
        "A few weeks now. It gets worse in the evenings when I'm alone.",
    ),
    (
        "It makes sense that you feel hurt. Have you been able to talk to anyone about it?",
        "Not really, I don't want to bother people with my stuff.",
    ),
    (
        "You're dealing with a lot at once. What has helped you in the past?",
        "Going for walks used to help but I haven't had the energy.",
    ),
)

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
