"""The compositional rules screen: C-SSRS components per sentence, combined per turn and across
the conversation, with every step left as an auditable reason.

A seeker turn is read in four steps:

1. ``normalise`` (one spelling for slang, misspellings, contractions) and ``strip_idioms``
   ("this exam is killing me" is cut out and recorded as ``guard:idiom``);
2. every detector of ``components.DETECTORS`` is matched per sentence; each match is checked for
   the modifiers (``modifiers``): negation in its clause, whom it is about (a third person
   raises ``third_party_concern``, not the seeker's level), a fiction / media / study or
   professional frame, and tense (past with a history or recovery marker is history);
3. a short answer ("yes", "yeah tonight", "no") to the supporter's safety question just before
   the turn is read with that question (``qa:*`` components);
4. ``cssrs.combine`` decides the turn's level from its current components.

Across the conversation (``analyse_conversation``): the components of every seeker turn are
combined again, so ideation in turn 1 and means in turn 3 reach HIGH; an earlier turn's own
level, discounted by ``earlier_turn_discount`` steps, stays a floor; a rising trend raises one
step. Reasons carry the component, rule id, turn and sentence index, never the seeker's words.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.common.domain import SEEKER, SUPPORTER, Conversation
from services.risk import modifiers as mod
from services.risk.components import DETECTORS, LINES, TIMES, Detector
from services.risk.cssrs import (
    Component,
    alone_level,
    combine,
    level_index,
    max_level,
    min_level,
    shift_level,
)
from services.risk.normalise import normalise, strip_idioms
from services.risk.spelling import Speller
from services.safety.policy import RiskPolicy

__all__ = [
    "RULES_VERSION",
    "Reason",
    "TurnAnalysis",
    "analyse_conversation",
    "analyse_text",
    "analyse_turns",
    "conversation_level",
    "level_index",
    "max_level",
    "normalise",
    "rising_trend",
    "shift_level",
    "strip_idioms",
]

RULES_VERSION = "rules-2026.12"


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a level was reached. ``line`` is a C-SSRS line name (the ``CssrsLine`` enum suffix,
    e.g. "METHOD") or None; ``source`` a rule id ("rule:method"), guard id or model name;
    ``turn_index`` the conversation index of the turn (-1: the whole conversation); ``level`` the
    level this reason alone supports; ``detail`` a description without the seeker's words;
    ``component`` the C-SSRS component ("MEANS", ...; empty for guards, models and trends);
    ``sentence_index`` the sentence of the turn it was found in (-1: the whole turn)."""

    line: str | None
    source: str
    turn_index: int
    level: str
    detail: str
    component: str = ""
    sentence_index: int = -1


@dataclass(slots=True)
class TurnAnalysis:
    """The rules' reading of one seeker turn."""

    turn_index: int
    level: str = "NONE"
    reasons: list[Reason] = field(default_factory=list)
    guards: set[str] = field(default_factory=set)
    third_party: bool = False
    history: bool = False
    components: list[Component] = field(default_factory=list)


# --- the supporter's safety question and the seeker's short answer ----------------------------

# What a safety question asks about, as the components a "yes" discloses. Questions that name
# suicide or self-harm count on their own; generic follow-ups ("have you thought about how?",
# "do you have a plan?") only after the seeker disclosed ideation, method or self-harm.
_NAMES_SUICIDE = re.compile(
    r"\b(?:kill(?:ing)? yourself|suicide|suicidal|end(?:ing)? (?:your life|it all|things)|take "
    r"your (?:own )?life|taking your (?:own )?life|hurt(?:ing)? yourself|harm(?:ing)? yourself|"
    r"die|dying|not being here|not wanting to be here|act on (?:it|them|those thoughts))\b"
)
_QUESTIONS: list[tuple[re.Pattern[str], tuple[str, ...]]] = [
    (
        re.compile(
            r"\b(?:going to|planning to|plan to|intend to|will you|are you going to) (?:do it|act|"
            r"kill yourself|end (?:your life|it)|hurt yourself|take them|go through with it)\b|"
            r"\b(?:tonight|today|right now)\b"
        ),
        ("INTENT",),
    ),
    (
        re.compile(
            r"\b(?:have|got|made) (?:a|any) plan\b|\bhow (?:you would|would you|you might|you "
            r"would do it|you will|are you going to)\b|\bthought about how\b|"
            r"\ba way (?:to|in mind)\b|"
            r"\bdecided (?:how|when)\b|\b(?:a|"
            r"the) method\b|\bwhen (?:would|will|are) you\b"
        ),
        ("PLAN",),
    ),
    (
        re.compile(
            r"\b(?:access to|have (?:any|the|some)|anything (?:at hand|nearby|around you|in the "
            r"house|close by|you could use)|got (?:any|the))\b.*\b(?:pills|gun|guns|weapon|rope|"
            r"means|medication|hurt yourself|use|kill yourself|harm yourself)\b"
        ),
        ("MEANS",),
    ),
    (
        re.compile(
            r"\b(?:thinking|thought|thoughts|think|considering|feel like|want|wanting|feeling) "
            r"(?:about |of |to )?(?:killing yourself|suicide|ending (?:your life|it|things)|"
            r"taking your (?:own )?life|hurting yourself|harming yourself|dying|not being here|"
            r"kill yourself|end (?:your life|it)|die|hurt yourself|harm yourself)\b|\bsuicidal\b"
        ),
        ("IDEATION",),
    ),
    (
        re.compile(r"\b(?:hurt|hurting|harm|harming|cut|cutting) yourself\b"),
        ("SELF_HARM",),
    ),
]
_SAFE_QUESTION = re.compile(
    r"\bare you (?:safe|somewhere safe)\b|\b(?:feel|feeling|keep yourself) safe\b"
)
_OK_QUESTION = re.compile(r"\bare you (?:okay|ok|alright|all right)\b")
_YES = re.compile(
    r"^\s*(?:yes|yeah|yea|yep|yup|ya|ye|yess|ja|si|oui|mhm|uh huh|i do|i have|i am|i think so|"
    r"kind of|kinda|sort of|maybe|sometimes|a little|probably|always|all the time|every day|"
    r"constantly|honestly yes|i guess|i suppose|i might|i would|possibly|more or less|pretty much|"
    r"definitely|of course|a lot|most days|often|lately)\b"
)
_NO = re.compile(r"^\s*(?:no|nope|nah|not really|not at all|never|i do not|i am not)\b")
_NOT_SAFE = re.compile(
    r"^\s*(?:no|nope|nah|not really|not sure|i do not know|i am not|i do not think so|not "
    r"tonight|not right now|i do not feel safe)\b"
)
# Method words a seeker may answer "how?" with, bare ("Pills.", "the bridge").
_METHOD_WORDS = re.compile(
    r"\b(?:pills|tablets|overdose|od|rope|hang|hanging|noose|gun|shoot|bridge|jump|jumping|roof|"
    r"train|tracks|knife|razor|blade|cut|wrists|drown|drowning|river|sea|car|exhaust|garage|"
    r"bleach|poison|chemicals|starve|starving|insulin|paracetamol|tylenol|revolver|shotgun|rifle|"
    r"pistol|blades|balcony|window|floor|cutter|motorway|cliff|lake|overdose|meds|medication)\b"
)
_SHORT_ANSWER_WORDS = 12
_FILLER = re.compile(r"^\s*(?:(?:honestly|well|um|uh|i mean|lol|like|ok|okay|so|hmm|tbh)[,.]? )+")
_COMMAND_ANSWER = re.compile(
    r"^\s*(?:to|that i should|that i need to|that i have to|that i must) "
    r"(?:hurt|kill|die|cut|take|use|"
    r"jump|end|drown|hang|burn|stop eating|swallow|overdose)"
)
_ASKS_VOICES = re.compile(
    r"\b(?:they|voices?|it|the voice) (?:are |is |keep |keeps )?(?:saying|telling|say|tell|want)\b"
)
_METHOD_ANSWER_WORDS = 30


def _question_components(question: str, answer: str, context: bool) -> list[tuple[str, str]]:
    """(component, rule id) a short answer to the supporter's safety question discloses;
    ``context``: the seeker disclosed ideation, a method or self-harm in an earlier turn."""
    q = normalise(question)
    answer = _FILLER.sub("", answer)
    names = bool(_NAMES_SUICIDE.search(q))
    if _ASKS_VOICES.search(q) and _COMMAND_ANSWER.search(answer):
        return [("COMMAND", "qa:command")]
    words = len(answer.split())
    asks_how = (names or context) and words <= _METHOD_ANSWER_WORDS and _PLAN_Q.search(q)
    if asks_how and _METHOD_WORDS.search(answer) and not _NO.search(answer):
        return [("METHOD", "qa:method")]
    if words > _SHORT_ANSWER_WORDS:
        return []
    asks_safe = _SAFE_QUESTION.search(q) or (context and _OK_QUESTION.search(q))
    if asks_safe and _NOT_SAFE.search(answer):
        return [("UNSAFE", "qa:not_safe")]
    if (names or context) and _WHEN_Q.search(q) and _TIME.search(answer) and not _NO.search(answer):
        return [("INTENT", "qa:intent"), ("TIMING", "qa:timing")]
    if _NO.search(answer) or not _YES.search(answer):
        return []
    for pattern, kinds in _QUESTIONS:
        if pattern.search(q) and (names or context):
            return [(kind, f"qa:{kind.lower()}") for kind in kinds]
    return []


_PLAN_Q = _QUESTIONS[1][0]
_WHEN_Q = re.compile(r"\bwhen\b|\bsoon\b|\b(?:acting|act) on (?:these|those|them|it)\b|\btonight\b")
_TIME = re.compile(rf"\b{TIMES}\b|\b(?:later|soon|this week|next week)\b")


# --- one turn ---------------------------------------------------------------------------------


def _clause_around(sentence: str, m: re.Match[str], prefix: str) -> str:
    tail = sentence[m.end() :]
    cut = mod.CLAUSE_BREAK.search(tail)
    return prefix + m.group() + (tail[: cut.start()] if cut else tail)


def _judge(
    detector: Detector,
    m: re.Match[str],
    sentence: str,
    sentence_index: int,
    frames: dict[str, bool],
    result: TurnAnalysis,
) -> Component | None:
    """One match, checked against the modifiers: the component it supports, or None when a
    modifier explained it away (the modifier's reason is recorded on ``result``)."""
    turn = result.turn_index
    line = LINES[detector.component]
    prefix = mod.clause_prefix(sentence, m.start())
    if detector.component != "TIMING" and (
        mod.negated(prefix)
        or mod.POST_NEGATION.search(sentence[m.end() :])
        or mod.answered_no(sentence[: m.start()], sentence[m.end() :])
    ):
        result.guards.add("negation")
        result.reasons.append(
            Reason(
                line,
                "guard:negation",
                turn,
                "NONE",
                f"negation cancels {detector.rule_id}",
                detector.component,
                sentence_index,
            )
        )
        return None
    who = mod.person(m, prefix)
    if who == "other" and detector.component not in {"TIMING", "OPPORTUNITY"}:
        return None
    clause = _clause_around(sentence, m, prefix)
    for frame, joins in (("fiction", mod.FICTION_OVERRIDE), ("professional", mod.SELF_IN_FRAME)):
        if frames[frame] and not joins.search(clause):
            result.guards.add(frame)
            result.reasons.append(
                Reason(
                    line,
                    f"guard:{frame}",
                    turn,
                    "NONE",
                    f"{frame} frame on {detector.rule_id}",
                    detector.component,
                    sentence_index,
                )
            )
            return None
    if who == "third" and detector.component not in {"TIMING", "OPPORTUNITY", "MEANS"}:
        if detector.component not in {"DISTRESS", "MENTION", "RESOLVE"}:
            result.third_party = True
            result.guards.add("third_party")
            result.reasons.append(
                Reason(
                    line,
                    "rule:third_party",
                    turn,
                    "NONE",
                    f"concern for someone else ({detector.rule_id}); seeker not raised",
                    detector.component,
                    sentence_index,
                )
            )
        return None
    if detector.component == "ATTEMPT" and mod.ROUTINE.search(sentence):
        return None
    lead = " ".join(prefix.split()[-3:])
    past = bool(mod.PAST.search(mod.CONDITIONAL.sub(" ", m.group()))) or bool(
        _PAST_LEAD.search(lead)
    )
    if detector.component == "TIMING" and _PAST_ACT.search(clause):
        return None  # "I bought it this afternoon": the time of a past act, not of the next one
    state = "current"
    if past and (frames["history"] or frames["recovery"]) and not frames["recent"]:
        state = "history"
    elif past and not frames["recent"] and detector.component not in _PAST_STAYS_CURRENT:
        state = "past"
    return Component(
        detector.component, detector.rule_id, turn, sentence_index, detector.strong, state
    )


# Past verbs just before a match that put it in the past ("I tried to kill myself").
_PAST_LEAD = re.compile(
    r"\b(?:used to|tried|attempted|wanted|thought about|was going to|planned|nearly|almost|"
    r"survived)\b"
)
# A time beside a past act dates the act, not the next one.
_PAST_ACT = re.compile(
    r"\b(?:bought|got|ordered|picked up|went|did|saw|found|took|had|was|were|yesterday|last|ago|"
    r"wrote|gave|sent|started|finished)\b"
)
# Acts whose past tense is the crisis itself ("I took all my pills", "I bought a rope").
_PAST_STAYS_CURRENT = frozenset(
    {
        "ATTEMPT",
        "PREPARATION",
        "MEANS",
        "FAREWELL",
        "RESOLVE",
        "PLAN",
        "TIMING",
        "OPPORTUNITY",
        "SELF_HARM",
    }
)


def _history_level(component: Component, policy: RiskPolicy, recovered: bool) -> str:
    """What disclosed history still supports: a past attempt without recovery keeps MODERATE."""
    alone = alone_level(component, policy)
    if component.state == "past":
        return shift_level(alone, -1)
    floor = "MODERATE" if component.kind == "ATTEMPT" and not recovered else "LOW"
    return min_level(floor, alone)


def analyse_text(
    text: str,
    turn_index: int = 0,
    policy: RiskPolicy | None = None,
    history_seen: bool = False,
    question: str = "",
    context: bool = False,
    speller: Speller | None = None,
) -> TurnAnalysis:
    """The rules' level and reasons for one seeker turn. ``question`` is the supporter turn just
    before it (a short answer is read with it); ``history_seen`` tells the turn that an earlier
    turn disclosed history, so "thinking about it again" reads as recurrence; ``context`` that an
    earlier turn disclosed ideation, a method or self-harm (generic follow-ups then count);
    ``speller`` reads misspelt rule words as the words they are one edit from."""
    policy = policy or RiskPolicy()
    result = TurnAnalysis(turn_index=turn_index)
    norm, idioms = strip_idioms(normalise(text, speller))
    if idioms:
        result.guards.add("idiom")
        result.reasons.append(
            Reason(
                None, "guard:idiom", turn_index, "NONE", f"{idioms} figurative phrase(s) ignored"
            )
        )
    recovered = bool(mod.RECOVERY.search(norm))
    found: list[Component] = []
    seen: set[tuple[str, int]] = set()
    for k, sentence_match in enumerate(mod.SENTENCE.finditer(norm)):
        sentence = sentence_match.group()
        frames = {
            "fiction": bool(mod.FICTION.search(sentence)),
            "professional": bool(mod.PROFESSIONAL.search(sentence)),
            "history": bool(mod.HISTORY.search(sentence)),
            "recovery": recovered,
            "recent": bool(mod.RECENT.search(sentence)),
        }
        for detector in DETECTORS:
            for m in detector.pattern.finditer(sentence):
                key = (detector.rule_id, sentence_match.start() + m.start())
                if key in seen:
                    continue
                seen.add(key)
                component = _judge(detector, m, sentence, k, frames, result)
                if component is not None:
                    found.append(component)
    if question:
        for kind, rule_id in _question_components(question, norm, context):
            found.append(Component(kind, rule_id, turn_index, -1, False, "current"))
    current = [c for c in found if c.state == "current"]
    # A time alone says nothing; it counts when something else in the turn is about acting.
    anchored = any(c.kind not in {"TIMING", "DISTRESS", "MENTION"} for c in current) or (
        question and len(norm.split()) <= _SHORT_ANSWER_WORDS
    )
    current = [c for c in current if c.kind != "TIMING" or anchored]
    if (history_seen or any(c.state != "current" for c in found)) and mod.RECURRENCE.search(norm):
        recurrence = Component("IDEATION", "rule:recurrence", turn_index, -1)
        current.append(recurrence)
        found.append(recurrence)
    result.history = any(c.state == "history" for c in found)
    if result.history:
        result.guards.add("history")
    result.components = current

    strongest: dict[tuple[str, str], Reason] = {}
    for c in found:
        if c.state == "current" and c not in current:
            continue
        if c.state == "current":
            level, detail = alone_level(c, policy), f"{c.kind.lower()}, first-person, current"
        else:
            level = _history_level(c, policy, recovered)
            detail = f"{c.kind.lower()}, {c.state}{' (recovered)' if recovered else ''}"
        reason = Reason(
            LINES[c.kind], c.rule_id, turn_index, level, detail, c.kind, c.sentence_index
        )
        kept = strongest.get((c.rule_id, c.kind))
        if kept is None or level_index(level) > level_index(kept.level):
            strongest[(c.rule_id, c.kind)] = reason
    result.reasons.extend(strongest.values())
    result.level = max_level("NONE", *(r.level for r in strongest.values()))
    combined, why = combine(current, policy)
    if why and level_index(combined) > level_index(result.level):
        result.level = combined
        result.reasons.append(_combination_reason(current, combined, why, turn_index))
    result.reasons = _dedupe(result.reasons)
    return result


def _combination_reason(
    components: Sequence[Component], level: str, why: str, turn_index: int
) -> Reason:
    parts = sorted({f"{c.kind}@t{c.turn_index}s{c.sentence_index}" for c in components})
    line = "PLAN"
    source = "rule:imminent" if level == "IMMINENT" else "rule:combination"
    return Reason(line, source, turn_index, level, f"{why}: {' + '.join(parts)}")


def _dedupe(reasons: list[Reason]) -> list[Reason]:
    unique: dict[tuple[str, str | None, str, str], Reason] = {}
    for reason in reasons:
        key = (
            reason.source,
            reason.line,
            reason.component,
            reason.level if reason.source.startswith(("rule:", "qa:")) else "",
        )
        unique.setdefault(key, reason)
    return sorted(unique.values(), key=lambda r: -level_index(r.level))


# Disclosures after which a supporter's generic follow-up question is a safety question.
_CONTEXT_KINDS = frozenset(
    {"WISH_PASSIVE", "WISH_ACTIVE", "DEATH_REF", "IDEATION", "COMMAND", "METHOD", "SELF_HARM"}
)


class TurnMemo:
    """A bounded memo of turn analyses. A partner app resends the whole conversation with every
    request, so without it each request reads every earlier seeker turn again; the rules are
    deterministic in (text, index, question, context, history), so a repeat is the same answer.
    Analyses are read-only once made. Thread-safe: the servicer screens from worker threads.
    In-process only; what it holds goes with the process."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._memo: dict[tuple[str, int, bool, str, bool], TurnAnalysis] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, bool, str, bool]) -> TurnAnalysis | None:
        with self._lock:
            return self._memo.get(key)

    def put(self, key: tuple[str, int, bool, str, bool], analysis: TurnAnalysis) -> None:
        with self._lock:
            if key not in self._memo and len(self._memo) >= self._capacity:
                self._memo.pop(next(iter(self._memo)))  # oldest first
            self._memo[key] = analysis


# --- the conversation -------------------------------------------------------------------------


def analyse_conversation(
    conversation: Conversation, policy: RiskPolicy | None = None, memo: TurnMemo | None = None
) -> tuple[list[TurnAnalysis], str, list[Reason]]:
    """Every seeker turn's analysis (oldest first), the conversation's rules level and the
    conversation-wide reasons (cross-turn combination, earlier-turn floor, trend)."""
    policy = policy or RiskPolicy()
    analyses = analyse_turns(conversation, policy, memo)
    if not analyses:
        return [], "NONE", []
    return analyses, *conversation_level(analyses, policy)


def analyse_turns(
    conversation: Conversation,
    policy: RiskPolicy,
    memo: TurnMemo | None = None,
    speller: Speller | None = None,
) -> list[TurnAnalysis]:
    """Every seeker turn's analysis, oldest first, each read with the supporter turn before it
    and what earlier turns disclosed. ``memo`` (one per policy) answers turns already read."""
    analyses: list[TurnAnalysis] = []
    history = context = False
    question = ""
    for index, turn in enumerate(conversation.turns):
        if turn.role == SUPPORTER:
            question = turn.text
            continue
        if turn.role != SEEKER:
            continue
        key = (turn.text, index, history, question, context)
        analysis = memo.get(key) if memo is not None else None
        if analysis is None:
            analysis = analyse_text(turn.text, index, policy, history, question, context, speller)
            if memo is not None:
                memo.put(key, analysis)
        history = history or analysis.history
        context = context or any(c.kind in _CONTEXT_KINDS for c in analysis.components)
        analyses.append(analysis)
        question = ""
    return analyses


def conversation_level(
    analyses: Sequence[TurnAnalysis],
    policy: RiskPolicy,
    levels: Sequence[str] | None = None,
    carried_levels: Sequence[str] | None = None,
) -> tuple[str, list[Reason]]:
    """The conversation's level from per-turn analyses (``levels`` overrides each turn's level,
    e.g. with a model's; ``carried_levels``, what each turn floors later requests with, defaults
    to ``levels``), and the conversation-wide reasons."""
    levels = list(levels) if levels is not None else [a.level for a in analyses]
    carried_levels = list(carried_levels) if carried_levels is not None else levels
    reasons: list[Reason] = []
    level = levels[-1]
    # Components disclosed in any seeker turn combine with the latest ones.
    everything = [c for a in analyses for c in a.components]
    # The latest turn must add something risk-relevant itself (not only distress), so a
    # disclosure long ago does not hold the level up for the rest of the conversation.
    latest = [c for c in analyses[-1].components if c.kind not in {"DISTRESS", "MENTION"}]
    if len(analyses) > 1 and latest:
        combined, why = combine(everything, policy)
        if level_index(combined) > level_index(level):
            level = combined
            why = why or "an earlier turn's component, still current"
            reasons.append(_combination_reason(everything, combined, f"across turns, {why}", -1))
    earlier = max(carried_levels[:-1], key=level_index, default="NONE")
    carried = shift_level(earlier, -policy.earlier_turn_discount)
    if level_index(carried) > level_index(level):
        level = carried
        reasons.append(
            Reason(
                None,
                "rule:earlier_turn",
                -1,
                carried,
                f"an earlier seeker turn reached {earlier}, discounted",
            )
        )
    trend = rising_trend(levels, level, policy)
    if trend is not None:
        level = trend.level
        reasons.append(trend)
    return level, reasons


def rising_trend(
    levels: Sequence[str], current: str, policy: RiskPolicy | None = None
) -> Reason | None:
    """A trend reason raising ``current`` one step when the seeker's per-turn ``levels`` (oldest
    first) rise steadily or pile up at MODERATE; None when they do not or it would not raise."""
    policy = policy or RiskPolicy()
    window = [level_index(x) for x in levels[-policy.trend_window :]]
    if len(window) < 2:
        return None
    steps = list(itertools.pairwise(window))
    rises = sum(1 for a, b in steps if b > a)
    rising = all(b >= a for a, b in steps) and rises >= policy.trend_min_rises and window[-1] > 0
    piled = sum(1 for x in window if x >= level_index("MODERATE")) >= policy.trend_accumulate
    if not (rising or piled):
        return None
    raised = shift_level(current, 1, ceiling=policy.trend_max_level)
    if level_index(raised) <= level_index(current):
        return None
    what = (
        f"severity rose over {len(window)} seeker turns"
        if rising
        else (f"{policy.trend_accumulate}+ seeker turns at MODERATE or above")
    )
    return Reason(None, "rule:trend", -1, raised, what)
