"""Built-in support knowledge: common stressors and helpful response ideas, written by the
Solace project for its composer and for KEMI's retrieval step.

Each entry pairs a stressor with how a supporter can talk about it: the topic in the seeker's
terms, a brief first-person experience (self-disclosure), a gentle concrete step (suggestion)
and a non-medical fact or resource (information). ``KeywordRetriever`` ranks entries by keyword
overlap with the seeker's words; a later issue swaps in encoder retrieval over the HEAL graph
behind the same ``KnowledgeRetriever`` protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.generator.lexicon import find_cues, normalise


@dataclass(frozen=True, slots=True)
class KnowledgeEntry:
    """One stressor and how to respond to it.

    ``topic`` is a second-person noun phrase ("losing your job"), ``experience`` a first-person
    clause ("when I lost a job a few years ago"), ``suggestion`` an infinitive phrase without
    "to", ``information`` a clause that follows "It may help to know that".
    """

    stressor: str
    keywords: tuple[str, ...]
    topic: str
    experience: str
    suggestion: str
    information: str


@dataclass(frozen=True, slots=True)
class Retrieved:
    entry: KnowledgeEntry
    score: float
    matched: tuple[str, ...]


class KnowledgeRetriever(Protocol):
    """Finds the knowledge most relevant to a query (the situation plus the seeker's words)."""

    name: str

    async def retrieve(self, query: str, k: int = 1) -> list[Retrieved]:
        """At most ``k`` entries, best first; empty when nothing is relevant. Async because
        encoder retrieval runs a model; a retriever that blocks should use a thread."""
        ...


GENERAL = KnowledgeEntry(
    stressor="general distress",
    keywords=(),
    topic="everything you're dealing with",
    experience="when I was going through a hard stretch of my own",
    suggestion="pick one small, kind thing to do for yourself today, like a short walk or a "
    "call with someone you trust",
    information="talking things through with someone you trust is one of the most reliable "
    "ways people find relief, and many areas have free, confidential listening lines",
)

KNOWLEDGE: tuple[KnowledgeEntry, ...] = (
    KnowledgeEntry(
        stressor="job loss",
        keywords=(
            "lost my job",
            "lost job",
            "laid off",
            "fired",
            "let go",
            "unemployed",
            "unemployment",
            "redundant",
            "redundancy",
            "job",
            "jobless",
        ),
        topic="losing your job",
        experience="when I lost a job a few years ago",
        suggestion="break the job search into small daily steps and let a former colleague "
        "know you're looking",
        information="many people lose a job at some point in their careers, and employment "
        "services often offer free help with CVs and interview practice",
    ),
    KnowledgeEntry(
        stressor="work stress",
        keywords=(
            "work",
            "boss",
            "manager",
            "coworker",
            "coworkers",
            "colleague",
            "colleagues",
            "workload",
            "deadline",
            "deadlines",
            "office",
            "shift",
            "overtime",
        ),
        topic="the pressure at work",
        experience="when I had a manager who kept piling work on me",
        suggestion="write down your tasks and talk with your manager about which ones matter "
        "most this week",
        information="workplace stress is one of the most common stressors adults report, and "
        "many employers offer free, confidential employee assistance programmes",
    ),
    KnowledgeEntry(
        stressor="job search and interviews",
        keywords=(
            "interview",
            "interviews",
            "applying",
            "application",
            "applications",
            "hired",
            "rejection",
            "job hunting",
            "job search",
        ),
        topic="the job search",
        experience="when I was sending out applications and hearing nothing back",
        suggestion="practise answers to two common interview questions with a friend",
        information="most job seekers get many rejections before an offer, so a rejection "
        "usually says more about the numbers than about you",
    ),
    KnowledgeEntry(
        stressor="exam stress",
        keywords=(
            "exam",
            "exams",
            "test",
            "tests",
            "finals",
            "study",
            "studying",
            "revision",
            "grades",
            "grade",
            "school",
            "college",
            "university",
            "class",
            "homework",
        ),
        topic="your exams",
        experience="when I was preparing for my final exams",
        suggestion="study in short, focused blocks with breaks in between, and start with the "
        "topic that worries you most",
        information="research on learning shows that short, spaced study sessions work better "
        "than long cramming sessions",
    ),
    KnowledgeEntry(
        stressor="breakup",
        keywords=(
            "breakup",
            "break up",
            "broke up",
            "broken up",
            "ex",
            "girlfriend",
            "boyfriend",
            "dumped",
            "relationship",
            "split up",
            "cheated",
        ),
        topic="the breakup",
        experience="when a long relationship of mine ended",
        suggestion="spend some time this week with a friend who makes you feel like yourself",
        information="the ache after a breakup usually eases gradually over weeks and months, "
        "and staying connected with friends is one of the things that helps most",
    ),
    KnowledgeEntry(
        stressor="divorce and separation",
        keywords=(
            "divorce",
            "divorced",
            "separation",
            "separated",
            "husband",
            "wife",
            "marriage",
            "custody",
            "co-parent",
        ),
        topic="the changes in your marriage",
        experience="when my parents separated and everything at home changed",
        suggestion="write down the practical questions on your mind and take them one at a time",
        information="many communities have family mediation services and support groups for "
        "people going through separation",
    ),
    KnowledgeEntry(
        stressor="friendship conflict",
        keywords=(
            "friend",
            "friends",
            "best friend",
            "friendship",
            "falling out",
            "fell out",
            "ignored me",
            "ignoring me",
        ),
        topic="what's happening with your friend",
        experience="when a close friend and I stopped talking for a while",
        suggestion="send your friend a short, honest message about how you'd like things to be "
        "between you",
        information="most friendships go through rough patches, and a calm conversation often "
        "clears up misunderstandings on both sides",
    ),
    KnowledgeEntry(
        stressor="loneliness",
        keywords=(
            "lonely",
            "alone",
            "isolated",
            "no friends",
            "no one to talk to",
            "nobody",
            "new city",
            "moved",
        ),
        topic="feeling so alone",
        experience="when I moved to a new city and didn't know anyone",
        suggestion="try one low-pressure way to be around people, like a class, a club or a "
        "volunteering group",
        information="loneliness is very common, and shared-interest groups and volunteering are "
        "among the easiest ways people build new connections",
    ),
    KnowledgeEntry(
        stressor="sleep trouble",
        keywords=(
            "sleep",
            "sleeping",
            "insomnia",
            "awake",
            "can't sleep",
            "nightmares",
            # Not bare "night", "bed" or "tired": they come up in many stories about other things.
            "asleep",
            "sleepless",
            "at night",
        ),
        topic="your trouble sleeping",
        experience="when worry kept me awake most nights for a few weeks",
        suggestion="keep a regular wake-up time and put screens away for half an hour before bed",
        information="worries often feel bigger at night than in the morning, and a steady "
        "routine is one of the best-known ways to help sleep settle",
    ),
    KnowledgeEntry(
        stressor="money worries",
        keywords=(
            "money",
            "debt",
            "debts",
            "bills",
            "rent",
            "loan",
            "loans",
            "afford",
            "broke",
            "finances",
            "financial",
            "paycheck",
            "savings",
        ),
        topic="the money worries",
        experience="when I was behind on rent and didn't know how I'd catch up",
        suggestion="list your bills by due date and contact one lender about a payment plan",
        information="free, non-profit debt advice services exist in many countries, and lenders "
        "often agree to payment plans when asked early",
    ),
    KnowledgeEntry(
        stressor="grief",
        keywords=(
            "died",
            "passed away",
            "death",
            "funeral",
            "grief",
            "grieving",
            "lost my mom",
            "lost my dad",
            "lost my mother",
            "lost my father",
            "lost my grandmother",
            "lost my grandfather",
            "lost someone",
            "miss her",
            "miss him",
        ),
        topic="losing someone you love",
        experience="when my grandmother passed away",
        suggestion="set aside a quiet moment to remember them, perhaps by writing down a memory "
        "you treasure",
        information="grief comes in waves and has no fixed timeline, and many communities offer "
        "free bereavement support groups",
    ),
    KnowledgeEntry(
        stressor="pet loss",
        keywords=("dog", "cat", "pet", "puppy", "kitten"),
        topic="losing your pet",
        experience="when my dog died after fourteen years with us",
        suggestion="make a small keepsake or photo album of your favourite moments together",
        information="grief for a pet is real grief, and some animal charities run pet-loss "
        "support lines",
    ),
    KnowledgeEntry(
        stressor="family conflict",
        keywords=(
            "family",
            "parents",
            "mom",
            "dad",
            "mother",
            "father",
            "sister",
            "brother",
            "siblings",
            "in-laws",
            "home",
        ),
        topic="the situation with your family",
        experience="when my family and I kept clashing over my choices",
        suggestion="choose a calm moment to tell one family member how you feel, starting with "
        '"I feel" rather than "you always"',
        information="family tension is one of the most common reasons people seek support, and "
        "family counselling services exist in many areas",
    ),
    KnowledgeEntry(
        stressor="parental expectations",
        keywords=(
            "expect",
            "expectations",
            "disappoint",
            "disappointed in me",
            "pressure from",
            "my parents want",
        ),
        topic="living up to what others expect of you",
        experience="when I felt I had to meet my parents' expectations about my future",
        suggestion="write down what you want for yourself, separate from what others expect",
        information="many people feel torn between family expectations and their own goals, and "
        "talking it through often reveals more room for compromise than it first seems",
    ),
    KnowledgeEntry(
        stressor="health worries",
        keywords=(
            "sick",
            "illness",
            "ill",
            "diagnosis",
            "diagnosed",
            "health",
            "pain",
            "hospital",
            "surgery",
            "chronic",
        ),
        topic="the worries about your health",
        experience="when I was waiting on news about my health",
        suggestion="write down your questions so you have them ready for the people caring for you",
        information="many hospitals and charities run support groups where people facing "
        "similar health news share what helps them",
    ),
    KnowledgeEntry(
        stressor="caregiving",
        keywords=("caring for", "caregiver", "carer", "look after", "looking after", "taking care"),
        topic="caring for someone you love",
        experience="when I was looking after a relative who needed a lot of help",
        suggestion="ask one person you trust to cover a few hours so you can rest",
        information="carers often forget their own needs, and many areas have carers' "
        "associations offering respite and advice",
    ),
    KnowledgeEntry(
        stressor="pandemic isolation",
        keywords=("covid", "pandemic", "lockdown", "quarantine", "virus", "vaccine"),
        topic="everything the pandemic has changed",
        experience="when the lockdowns kept me at home for months",
        suggestion="set up a regular video call with someone you miss",
        information="many people felt more anxious and isolated during the pandemic, and "
        "regular contact with others is one of the things that helped most",
    ),
    KnowledgeEntry(
        stressor="bullying",
        keywords=(
            "bully",
            "bullied",
            "bullying",
            "harass",
            "harassed",
            "harassment",
            "mocked",
            "teased",
        ),
        topic="the way you're being treated",
        experience="when I was picked on at school",
        suggestion="keep a note of what happens and share it with someone you trust who can help",
        information="schools and workplaces are expected to act on bullying and harassment, and "
        "anti-bullying organisations offer free, confidential advice",
    ),
    KnowledgeEntry(
        stressor="self-esteem",
        keywords=(
            "ugly",
            "not good enough",
            "failure",
            "worthless",
            "confidence",
            "insecure",
            "hate myself",
            "body",
            "weight",
        ),
        topic="how you've been seeing yourself",
        experience="when I kept comparing myself with everyone around me",
        suggestion="jot down three things you did well this week, however small",
        information="harsh self-talk is very common, and people often find that speaking to "
        "themselves as they would to a friend slowly changes how they feel",
    ),
    KnowledgeEntry(
        stressor="procrastination and motivation",
        keywords=(
            "procrastinate",
            "procrastinating",
            "motivation",
            "unmotivated",
            "lazy",
            "can't focus",
            "can't concentrate",
            "putting off",
        ),
        topic="struggling to get started",
        experience="when I kept putting off a project until it felt impossible",
        suggestion="pick the smallest next step and give it just ten minutes",
        information="starting with a short, timed task is a well-known way to get past the "
        "hardest part, which is usually beginning",
    ),
    KnowledgeEntry(
        stressor="moving and change",
        keywords=(
            "moving",
            "move",
            "relocate",
            "relocating",
            "new job",
            "new school",
            "change",
            "changes",
        ),
        topic="all the changes you're facing",
        experience="when I moved away from everything I knew",
        suggestion="keep one familiar routine going while everything else is new",
        information="big life changes are stressful even when they are good ones, and it is "
        "normal to need a few months to settle",
    ),
    KnowledgeEntry(
        stressor="holiday stress",
        keywords=("holidays", "holiday", "christmas", "thanksgiving", "new year"),
        topic="the holidays coming up",
        experience="when I spent a holiday season feeling out of step with everyone",
        suggestion="plan one small thing for the holidays that you would actually enjoy",
        information="many people find the holidays hard, and it is fine to keep them simple "
        "and celebrate in your own way",
    ),
)


class KeywordRetriever:
    """Ranks entries by keyword overlap with the query.

    A keyword of n words scores n: "lost my job" outranks the bare "job" another entry shares,
    so the most specific stressor wins.
    """

    name = "keyword"

    def __init__(self, entries: Sequence[KnowledgeEntry] = KNOWLEDGE) -> None:
        self._entries = tuple(entries)

    async def retrieve(self, query: str, k: int = 1) -> list[Retrieved]:
        return self.search(query, k)

    def search(self, query: str, k: int = 1) -> list[Retrieved]:
        """``retrieve``, synchronously: keyword matching takes microseconds."""
        text = normalise(query)
        scored: list[tuple[float, int, Retrieved]] = []
        for order, entry in enumerate(self._entries):
            matched = tuple(find_cues(text, entry.keywords))
            if matched:
                score = float(sum(len(m.split()) for m in matched))
                scored.append((score, -order, Retrieved(entry, score, matched)))
        scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [item[2] for item in scored[:k]]


_DEFAULT = KeywordRetriever()


def topic_entry(query: str) -> KnowledgeEntry:
    """The best entry for a query, or the general one when nothing matches."""
    found = _DEFAULT.search(query, 1)
    return found[0].entry if found else GENERAL


ALL_KEYWORDS: tuple[str, ...] = tuple(k for entry in KNOWLEDGE for k in entry.keywords)
