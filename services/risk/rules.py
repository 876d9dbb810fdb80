"""Explicit, auditable risk rules over the seeker's words, graded on the C-SSRS screening lines.

A turn is read in four steps, each of which leaves a reason an operator can audit (reasons carry
rule ids, never the seeker's words):

1. ``normalise``: lower-case, straight quotes, contractions expanded, letters repeated three or
   more times collapsed, leetspeak inside words undone, and slang/misspellings mapped to one
   spelling ("kms" -> "kill myself", "sucide" -> "suicide", "unalive" -> "kill", "kil" -> "kill").
2. idioms ("this exam is killing me", "dying of embarrassment", "dead tired") are cut out before
   any rule sees the text, and recorded as ``guard:idiom``.
3. every rule pattern is matched per sentence; each match is then checked, in order, for
   negation in its clause ("I would never ..."), a fiction/media frame ("in the movie ..."),
   who it is about (a third person raises ``third_party_concern``, not the seeker's level) and
   tense (past, with a history or recovery marker, is downgraded to a history reason).
4. imminence (a plan/intent/method with a time or means at hand) and recurrence ("thinking about
   it again" after disclosed history) add their own reasons.

Levels follow the proto (LOW passive wish, MODERATE active thoughts, HIGH method/intent,
IMMINENT plan/preparation/attempt in progress), with one documented lean: an explicit
first-person wish to kill oneself takes ``RiskPolicy.explicit_desire_level`` (default HIGH).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.common.labels import RISK_LEVELS
from services.safety.policy import RiskPolicy

RULES_VERSION = "rules-2026.1"

# Shorthands used inside patterns.
_A = r"(?:(?:just|really|honestly|seriously|literally|actually|kind of|sort of|so|even|still|"
_A += r"sometimes|often|always|also|truly|genuinely|simply|badly|desperately|almost|constantly|"
_A += r"finally|probably|definitely|fucking|totally) )*"
_REF = r"(?:myself|himself|herself|themselves|themself|yourself)"
_POSS = r"(?:my|his|her|their|your)"
_PILLS = (
    r"(?:pills|tablets|paracetamol|tylenol|acetaminophen|ibuprofen|aspirin|insulin|xanax|"
    r"sleeping pills|meds|medication|medications|painkillers|antidepressants|opioids|oxy|"
    r"bleach|antifreeze)"
)


def level_index(level: str) -> int:
    return RISK_LEVELS.index(level)


def max_level(*levels: str) -> str:
    return RISK_LEVELS[max((level_index(x) for x in levels), default=0)]


def shift_level(level: str, steps: int, ceiling: str = "IMMINENT") -> str:
    index = min(max(level_index(level) + steps, 0), level_index(ceiling))
    return RISK_LEVELS[index]


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a level was reached. ``line`` is a C-SSRS line name (the ``CssrsLine`` enum suffix,
    e.g. "METHOD") or None; ``source`` a rule id ("rule:method"), guard id or model name;
    ``turn_index`` the conversation index of the turn (-1: the whole conversation); ``level`` the
    level this reason alone supports; ``detail`` a description without the seeker's words."""

    line: str | None
    source: str
    turn_index: int
    level: str
    detail: str


@dataclass(frozen=True, slots=True)
class Rule:
    rule_id: str
    line: str | None
    level: str
    pattern: re.Pattern[str]
    # Explicit desire rules take RiskPolicy.explicit_desire_level instead of ``level``.
    explicit_desire: bool = False


@dataclass(slots=True)
class TurnAnalysis:
    """The rules' reading of one seeker turn."""

    turn_index: int
    level: str = "NONE"
    reasons: list[Reason] = field(default_factory=list)
    guards: set[str] = field(default_factory=set)
    third_party: bool = False
    history: bool = False


def _rule(
    rule_id: str, line: str | None, level: str, *patterns: str, explicit: bool = False
) -> list[Rule]:
    return [Rule(rule_id, line, level, re.compile(p), explicit) for p in patterns]


# --- 1. normalisation -------------------------------------------------------------------------

_SUBSTITUTIONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), r)
    for p, r in [
        (r"[’‘`´]", "'"),
        (r"[“”]", '"'),
        (r"(?<=[a-z])[1!](?=[a-z])", "i"),
        (r"(?<=[a-z])0(?=[a-z])", "o"),
        (r"(?<=[a-z])3(?=[a-z])", "e"),
        (r"([a-z])\1{2,}", r"\1"),
        (r"\bi'?m\b", "i am"),
        (r"\bi'?ve\b", "i have"),
        (r"\bi'll\b", "i will"),
        (r"\bi'd\b", "i would"),
        (r"\b(he|she|it|that|what|there)'s\b", r"\1 is"),
        (r"\b(they|we|you)'re\b", r"\1 are"),
        (r"\bcan'?t\b|\bcannot\b", "can not"),
        (r"\bwon'?t\b", "will not"),
        (r"\b(do|does|did|is|are|was|were|have|has|had|would|could|should|must)n'?t\b", r"\1 not"),
        (r"\bain'?t\b", "am not"),
        (r"\bgonna\b|\bgunna\b|\bfinna\b", "going to"),
        (r"\bwanna\b", "want to"),
        (r"\bgotta\b", "got to"),
        (r"\btryna\b", "trying to"),
        (r"\bngl\b|\bnot going to lie\b|\bnot to lie\b|\bnot gonna lie\b|\btbh\b", "honestly"),
        (r"\bidk\b", "i do not know"),
        (r"\b(?:u)\b", "you"),
        (r"\bur\b", "your"),
        (r"\brn\b", "right now"),
        (r"\b(?:tonite|2nite|2night)\b", "tonight"),
        (r"\b(?:tmrw|tmr|tmrrw|tomoz|2moro|2morrow)\b", "tomorrow"),
        (r"\b(?:bc|cuz|coz)\b", "because"),
        (r"\bmy ?sel+[fv]+e?\b|\bmysef\b|\bmyslef\b|\bmyelf\b|\bmyslf\b", "myself"),
        (r"\bki+l+(ing|ed|s)?\b", r"kill\1"),
        (r"\bkms\b|\bkmys\b", "kill myself"),
        (
            r"\b(i|i am|want to|going to|should|might|could|will|about to|gotta|need to|to) kys\b",
            r"\1 kill myself",
        ),
        (r"\bkys\b", "kill yourself"),
        (r"\bun-?alive\b", "kill"),
        (r"\bun-?aliv(ing|ed)\b", r"kill\1"),
        (r"\bkill(ed|ing)? me ?self\b", r"kill\1 myself"),
        (r"\b(?:off|top|end|rope|neck)(?:ing|ping|ed|ped)? myself\b", "kill myself"),
        (r"\bsewer ?slide\b|\bsudoku\b(?= myself)", "suicide"),
        (
            r"\bsu[aeiouy]{0,2}[cs]{1,2}[iy]?d(?:e)?al\b|\bsu[aeiouy]{0,2}[cs]{1,2}[iy]?dial\b",
            "suicidal",
        ),
        (r"\bsu[aeiouy]{0,2}[cs]{1,2}[iy]?de?\b", "suicide"),
        (r"\bself[- ]?har?m(ing|ed)?\b", r"self harm\1"),
        (r"\b(?:od|o\.d\.)'?(ed|d|ing)\b", r"overdos\1"),
        (r"\boverdosd\b|\boverdoesd\b", "overdosed"),
        (r"\boverdosed\b|\boverdosd\b", "overdosed"),
        (r"\b(to|going to|will|want to|might|about to|could) od\b", r"\1 overdose"),
        (r"\blyfe?\b", "life"),
        (r"\b(someone|somebody|people|a friend|a person) i know\b", r"\1 known"),
        (r", (ever|ever again)\b", r" \1"),
    ]
]


def normalise(text: str) -> str:
    """Lower-cased text with slang, misspellings and contractions mapped to one spelling."""
    out = text.lower()
    for pattern, repl in _SUBSTITUTIONS:
        out = pattern.sub(repl, out)
    # Re-normalise the forms the misspelling map produced ("overdosd" -> "overdosed").
    out = out.replace("overdosd", "overdosed").replace("overdosing", "overdosing")
    return re.sub(r"[ \t]+", " ", out)


# --- 2. idioms --------------------------------------------------------------------------------

_IDIOMS = re.compile(
    "|".join(
        [
            r"\b(?:is|are|was|were|it is|this is|that is|they are|you are|these are|those are|"
            r"keeps|kept|literally|absolutely|honestly|slowly) (?:\w+ )?killing me\b",
            r"\b(?:feet|back|head|legs|knees|neck|shoulders|stomach|tooth|teeth|boss|commute|"
            r"exam|exams|heat|traffic|job|kids|homework|deadline|deadlines|meeting|meetings|"
            r"cramps|hangover|shoes|anxiety) (?:\w+ ){0,2}killing me\b",
            r"\b(?:will|would|is going to|are going to|going to|gonna|is gonna|'ll) (?:literally )?"
            r"kill me\b",
            r"\b(?:kill|shoot) me now\b",
            r"\b(?:dying|die|died|dead) (?:of|from) (?:embarrassment|shame|laughter|laughing|"
            r"boredom|curiosity|heat|thirst|hunger|cringe|jealousy|envy|cuteness|excitement)\b",
            r"\b(?:dying|die|died|dead) (?:laughing|of laughter|inside a little)\b",
            r"\bdie a little(?: bit)?(?: inside)?\b",
            r"\bdying (?:to|for) (?:see|meet|know|try|get|go|hear|tell|find|eat|have|watch|"
            r"visit|read|start|a|an|some|the)\b",
            r"\bdead (?:tired|on my feet|beat|serious|set|wrong|last|centre|center|end|"
            r"weight|quiet|asleep)\b",
            r"\b(?:bored|scared|worried|frightened|freezing|starving|tired|sick|stressed) "
            r"to death\b",
            r"\b(?:would|could) (?:literally )?kill for\b",
            r"\b(?:killed|killing|kills|kill) (?:it|time|the (?:vibe|mood|lights|game|battery)|"
            r"my (?:vibe|mood|battery|phone|buzz))\b",
            r"\bto die for\b",
            r"\bover my dead body\b",
            r"\b(?:i am|i was) (?:so |literally |actually )?dead (?:lol|lmao|haha|xd|💀)",
            r"\b(?:i am|i'm|i was) (?:literally |actually )?dying (?:lol|lmao|haha|xd|💀|of)",
            r"\b(?:crawl|curl) (?:up )?(?:in|into) (?:a )?(?:hole|ball) and die\b",
            r"\bwould rather die than\b",
            r"\b(?:going to|will|gonna|would) die (?:if|when|before|of)\b",
            r"\bkill myself (?:laughing|with laughter)\b",
            r"\b(?:nearly|almost) killed myself (?:on|tripping|falling|slipping|trying to|at)\b",
            r"\b(?:hurt|cut|burned|burnt) myself (?:at the gym|at work|while|when|playing|lifting|"
            r"running|skiing|shaving|cooking|on the|on a|by accident|accidentally|in the kitchen)",
            r"\b(?:my|the) (?:phone|battery|laptop|car|plant|plants|wifi) (?:is |was )?"
            r"(?:dying|died|dead)\b",
        ]
    )
)


def strip_idioms(text: str) -> tuple[str, int]:
    """The text with figurative death/kill phrases replaced by a neutral token, and their count."""
    out, count = _IDIOMS.subn(" idiom ", text)
    return out, count


# --- 3. rules ---------------------------------------------------------------------------------

RULES: list[Rule] = [
    # C-SSRS 1, wish to be dead: explicit (MODERATE) and passive (LOW).
    *_rule(
        "rule:wish_dead",
        "WISH_TO_BE_DEAD",
        "MODERATE",
        rf"\bwant(?:s|ed)? to {_A}(?:die|be dead)\b",
        r"\bwish(?:ed|es)? (?:that )?i (?:was|were|could be|would be) dead\b",
        rf"\b(?:do|does|did) not want to {_A}(?:live|be alive|exist|wake up)"
        r"(?: anymore| any more)?\b",
        rf"\bno longer want(?:s|ed)? to {_A}(?:live|be alive|exist)\b",
        r"\b(?:better off|rather be) dead\b",
        r"\b(?:hope|hoping|pray|praying) (?:that )?(?:i die|to die|i am dead)\b",
        r"\blife is not worth (?:living|it anymore)\b",
        r"\bnothing (?:left )?to live for\b",
        r"\bno (?:reason|point) (?:to live|in living|to keep living|in being alive)\b",
    ),
    *_rule(
        "rule:passive_wish",
        "WISH_TO_BE_DEAD",
        "LOW",
        r"\b(?:go|fall|going|falling) to sleep and (?:never|not) wake up\b",
        r"\b(?:hope|hoping|wish|wishing|want|pray) (?:that )?(?:i )?(?:would |will |could )?"
        r"(?:never|not|do not) wake up\b",
        # "I'd" normalises to "i would", though here it means "I had".
        r"\bwish(?:ed)? i (?:was|were|had|would) never (?:have )?(?:been )?born\b",
        r"\bwish(?:ed)? i (?:did not|could not|would not) exist\b",
        # "disappear"/"vanish" without "forever" too: a seeker wishing to vanish is the classic
        # passive wish; LOW only flags it (resources come at MODERATE).
        rf"\b(?:wish i could|wish i would|want to|wanted to) {_A}(?:disappear|vanish|stop existing|"
        r"cease to exist|not exist|not be here|not be alive)\b",
        r"\b(?:tired|sick) of (?:living|being alive|existing)\b",
        rf"\bwhat is {_A}the point (?:of|in) (?:living|life|being alive|going on|existing)\b",
        rf"\b(?:do|does) not {_A}see (?:the|any) point (?:of|in) (?:living|life|being alive|"
        r"going on|existing|carrying on)\b",
        r"\b(?:everyone|everybody|they|the world|my family|people) (?:would|will) be better off "
        r"(?:without me|if i (?:was|were) (?:dead|gone|not here))\b",
        r"\b(?:no one|nobody) (?:would|will) (?:even )?(?:miss me|notice if i was gone|"
        r"notice if i were gone)\b",
        rf"\b(?:think|thinking|thought) {_A}about (?:not existing|not being here|not being alive|"
        r"being gone)\b",
        r"\b(?:no one|nobody) would (?:care|notice|miss me) if i (?:died|was gone|were gone|"
        r"disappeared|was dead|were dead)\b",
        r"\b(?:do|does) not care if i (?:die|live|wake up)\b",
        r"\b(?:not sure|do not know) (?:if |whether )?i (?:still )?want to (?:live|be alive|"
        r"keep living|go on|keep going)\b",
        rf"\b(?:do|does) not want to {_A}(?:be here|be around) (?:anymore|any more)\b",
        r"\b(?:would|will) be (?:so much |much |a lot )?(?:easier|better) (?:for everyone )?"
        r"if i (?:was|were|am) (?:not|no longer) (?:around|here|alive)\b",
        rf"\b(?:want to|wish i could|just want to) {_A}(?:go to )?sleep (?:forever|for good|"
        r"and never wake)\b",
        rf"\b(?:am|so|just) {_A}done with (?:life|living|being alive|existing)\b",
    ),
    # C-SSRS 2, suicidal thoughts: explicit desire (policy level, default HIGH) and thoughts.
    *_rule(
        "rule:active_thoughts",
        "SUICIDAL_THOUGHTS",
        "HIGH",
        rf"\b(?:want|wants|wanted|wanting|need|needs|feel like|felt like|tempted) to {_A}"
        rf"(?:kill {_REF}|end {_POSS} (?:own )?life|take {_POSS} (?:own )?life|commit suicide|"
        r"end it all)\b",
        rf"\b(?:am|is|are|was|feel|feels|felt|feeling|been|getting) {_A}(?:very |really |so |"
        r"extremely |super |pretty |kinda |a bit )?suicidal\b",
        # Bare "kms" / "kill myself" opening a sentence is the slang exclamation of the wish.
        r"^\s*kill myself\b",
        explicit=True,
    ),
    *_rule(
        "rule:suicidal_thoughts",
        "SUICIDAL_THOUGHTS",
        "MODERATE",
        rf"\b(?:kill|kills|killing|killed) {_REF}\b",
        rf"\b(?:end|ending|take|taking) {_POSS} (?:own )?life\b",
        r"\bend(?:ing)? it all\b",
        r"\bcommit(?:ting)? suicide\b",
        r"\bsuicidal (?:thoughts|ideation|feelings|urges|thinking)\b",
        r"\b(?:thinking|think|thought|thoughts|considering|considered) (?:about |of )?suicide\b",
        # "Ending things" is the common euphemism; thinking about it is active ideation.
        rf"\b(?:thinking|think|thought|thoughts|considering|considered) {_A}(?:about |of )?"
        r"(?:ending|end) (?:things|it|it all|everything)\b",
    ),
    *_rule(
        "rule:death_thoughts",
        "SUICIDAL_THOUGHTS",
        "LOW",
        r"\b(?:thinking|think|thought|thoughts) (?:a lot )?(?:about|of) "
        r"(?:dying|death|being dead)\b",
        r"\bsuicide\b",
        r"\bsuicidal\b",
        r"\bend(?:ing)? everything\b",
    ),
    # Self-harm (no C-SSRS screener line of its own): urges and acts.
    *_rule(
        "rule:self_harm",
        None,
        "HIGH",
        rf"\b(?:hurt|hurting|harm|harming|cut|cutting|burn|burning|starve|starving) {_REF}\b",
        r"\bself harm(?:ing|ed)?\b",
        r"\b(?:been|started|start|keep|kept|am) cutting(?: again)?\b",
        r"\b(?:cut|cutting|burned|burning) (?:again|last night|tonight|today)\b",
    ),
    # C-SSRS 3, method.
    *_rule(
        "rule:method",
        "METHOD",
        "HIGH",
        rf"\bhow (?:many|much) (?:\w+ ){{0,2}}{_PILLS}\b(?: \w+){{0,4}} (?:to die|to overdose|"
        r"to kill|is lethal|would kill|would it take|does it take|is fatal|to end it)\b",
        r"\b(?:lethal|fatal|deadly) (?:dose|amount|overdose)\b",
        r"\b(?:overdos(?:e|ing)|od) on\b",
        r"\b(?:want|going|plan|planning|thinking|think|thought|considering) (?:to |of |about )?"
        r"(?:overdos(?:e|ing)|taking all (?:my|the) pills|jump(?:ing)? off|step(?:ping)? in front)",
        rf"\b(?:hang|hanging|hanged|shoot|shooting|drown|drowning) {_REF}\b",
        rf"\b(?:slit|slitting|slash|slashing|cut|cutting) {_POSS} (?:wrists?|throat|veins?)\b",
        rf"\bgun to {_POSS} head\b",
        # Asking for a way to die is method seeking, whoever it is phrased for.
        rf"\b(?:best|easiest|quickest|fastest|surest|simplest|most painless|least painful|"
        rf"painless|quiet|quietest) (?:way|ways|method|methods) (?:to|of) (?:die|dying|kill {_REF}|"
        rf"end {_POSS} (?:own )?life|commit suicide|end it)\b",
        r"\b(?:die|dying|kill myself|end it) (?:painlessly|quickly and painlessly|without pain)\b",
        r"\b(?:jump|jumps|jumped|jumping) (?:off|from|in front of) (?:a|the|my|this|that) (?:\w+ )?"
        r"(?:bridge|building|roof|rooftop|cliff|balcony|window|train|bus|car|truck|ledge|tower|"
        r"overpass|parking garage)\b",
        r"\b(?:step|stepping|walk|walking|throw|throwing) (?:myself )?in front of (?:a|the) "
        r"(?:train|bus|car|truck)\b",
        r"\bnoose\b",
        r"\b(?:drive|driving|crash|crashing) (?:my car )?(?:into|off) (?:a|the) "
        r"(?:wall|tree|bridge|cliff|barrier|river|lake)\b",
    ),
    *_rule(
        "rule:means_access",
        "METHOD",
        "HIGH",
        rf"\b(?:have|got|bought|buy|buying|saved|saving|stockpiled|stockpiling|collected|"
        rf"collecting|hoarded|hoarding|holding|keeping)(?: up)? (?:a |the |some |enough |my |"
        rf"all my |all the |a lot of |\d+ )?(?:{_PILLS}|rope|gun|razor|razor blades|blades|knife)"
        r"(?: \w+){0,5}? (?:to (?:die|do it|end it|kill myself|overdose)|for (?:it|when|tonight)|"
        r"ready|right here|in front of me|next to me|in my (?:hand|pocket|bag|room|drawer)|"
        r"just in case)",
        rf"\benough {_PILLS} to\b",
        rf"\b(?:stockpil(?:e|es|ed|ing)|hoard(?:ed|ing)?|sav(?:e|ed|ing) up)(?: up)? "
        rf"(?:my |all my |the |some |a lot of )?(?:{_PILLS}|prescriptions?)\b",
        # A firearm the seeker keeps returning to: means at hand, even without stated intent.
        r"\b(?:gun|firearm|pistol|rifle)\b(?: \w+){0,6} (?:keep|kept|keeps) (?:looking at|"
        r"thinking about|holding|staring at) (?:it|the gun|my gun)\b",
        rf"\b(?:{_PILLS}|rope|gun|knife|razor|blade)s? (?:is |are )?(?:right here|next to me|"
        r"in front of me|in my hand)",
    ),
    # C-SSRS 4, intent.
    *_rule(
        "rule:intent",
        "INTENT",
        "HIGH",
        rf"\b(?:going to|will|decided to|made up my mind to|ready to|about to|intend to|"
        rf"plan to|planning to|gonna) {_A}(?:kill {_REF}|end {_POSS} (?:own )?life|end it(?: all)?"
        rf"|commit suicide|take {_POSS} (?:own )?life|"
        r"die (?:tonight|today|this weekend|by suicide)|"
        r"do it tonight|go through with it)\b",
        r"\b(?:going to|will|about to|ready to) (?:take|swallow) "
        r"(?:them all|all of them|all (?:of )?"
        rf"(?:my|the|those) {_PILLS}|the {_PILLS} tonight)\b",
    ),
    # C-SSRS 5, plan.
    *_rule(
        "rule:plan",
        "PLAN",
        "HIGH",
        rf"\b(?:have|made|make|making|got|worked out|figured out|know|came up with|picked|chose|"
        rf"chosen|set) (?:a |the |my |out a |out the )?(?:plan|date|day|time|way|method|spot|place)"
        rf" (?:to|for|on how to|of how to|for how to|for when i) {_A}(?:kill {_REF}|die|end "
        rf"(?:it|{_POSS} (?:own )?life|things|everything)|do it|commit suicide|take {_POSS} "
        r"(?:own )?life|go through with it)\b",
        r"\bsuicide plan\b",
    ),
    # C-SSRS 6, behaviour: preparation and attempts.
    *_rule(
        "rule:preparation",
        "BEHAVIOR",
        "HIGH",
        r"\b(?:suicide|goodbye|farewell) (?:note|letter|letters|video)\b",
        r"\b(?:saying|say|said|texted|texting|wrote|writing) (?:my )?(?:goodbye|goodbyes|farewell) "
        r"to (?:everyone|everybody|all of you|you all|my family|my friends|the world)\b",
        r"\bgiv(?:e|ing|en) away (?:all )?(?:of )?(?:my|his|her|their) (?:stuff|things|belongings|"
        r"possessions|cat|dog|pets?|clothes|games|money)\b",
    ),
    *_rule(
        "rule:attempt",
        "BEHAVIOR",
        "HIGH",
        rf"\b(?:tried|try|trying|attempted|attempt|attempting) (?:to )?(?:kill {_REF}|end {_POSS}"
        rf" (?:own )?life|commit suicide|take {_POSS} (?:own )?life|suicide|overdose|hang {_REF}|"
        r"die)\b",
        r"\bsuicide attempts?\b",
        rf"\b(?:cut|burned|burnt|hurt|harmed) {_REF} (?:again|last night|today|yesterday|tonight|"
        r"this (?:morning|week)|badly|deep)\b",
    ),
    *_rule(
        "rule:attempt_in_progress",
        "BEHAVIOR",
        "IMMINENT",
        rf"\b(?:took|taken|swallowed|ate|downed|drank|am taking|am swallowing) (?:a (?:bunch|lot|"
        rf"handful|bottle|whole bottle|box|pack|packet) of |all (?:of )?(?:my|the|those) |"
        rf"(?:\d{{2,}}|twenty|thirty|forty|fifty|a hundred) |the (?:whole|entire) (?:bottle|box|"
        rf"pack|packet) of |too many |an overdose of |loads of |so many )(?:\w+ ){{0,2}}?"
        rf"{_PILLS}\b",
        r"\b(?:overdosed|took an overdose|have taken an overdose)\b",
        r"\b(?:standing|sitting|stood|sat|am) on (?:the|a|this) (?:edge|ledge|bridge|roof|rooftop|"
        r"railing|tracks|train tracks)\b",
        rf"\b(?:rope|noose|belt) (?:is )?(?:around|on) {_POSS} neck\b",
        rf"\bgun (?:is )?(?:to|against|in) {_POSS} (?:head|mouth)\b",
        r"\bbleeding (?:a lot|badly|out|heavily|everywhere)\b|\bcut (?:too )?deep\b",
        r"\b(?:pills|overdose|tablets) (?:are|is) (?:kicking in|starting to work|working)\b",
        r"\b(?:goodbye|bye) (?:cruel )?(?:world|everyone|everybody|forever)\b",
        r"\bthis is (?:my|the) (?:last|final) (?:message|post|goodbye|night|words)\b",
        r"\bwill not be (?:here|around|alive) (?:tomorrow|much longer|by (?:morning|tomorrow)|"
        r"after tonight)\b",
    ),
    # Distress indicators that on their own are LOW.
    *_rule(
        "rule:hopelessness",
        None,
        "LOW",
        r"\b(?:feel|feeling|felt|am|so) (?:completely |totally |so |really |very )?(?:hopeless|"
        r"worthless|empty inside|numb)\b",
        r"\b(?:am|feel like|feel like i am) (?:a|such a|just a) burden\b",
        r"\bcan not (?:go on|do this anymore|take (?:it|this|much more)(?: anymore)?|keep going|"
        r"cope anymore)\b",
        r"\b(?:give|giving|gave|given) up on (?:life|everything|myself)\b",
        rf"\b(?:do|does) not {_A}see (?:the|any) point (?:of|in) (?:anything|trying|it all)\b",
        r"\bmy life is over\b",
        rf"\bfeel(?:ing)? like {_A}dying\b",
        r"\bthere is no point (?:to|in) anything\b",
        r"\bnothing (?:matters|will (?:ever )?get better)\b",
        r"\b(?:dead|empty) inside\b",
    ),
]

_RECURRENCE = re.compile(
    r"\b(?:thinking|thought|think) (?:about )?(?:it|doing it|that|trying) again\b|"
    r"\b(?:feel|feeling|felt) (?:that way|like that|the same way) again\b|"
    r"\b(?:want|wants) to (?:try|do it) again\b|"
    r"\b(?:the )?(?:thoughts|urges|feelings) (?:are|have|have come|came|keep coming) back\b|"
    r"\brelaps(?:e|ed|ing)\b"
)
_TIMING = re.compile(
    r"\b(?:tonight|today|right now|this (?:evening|weekend|morning|afternoon|week)|"
    r"in (?:an|a few|\d+|a couple of) (?:hours?|minutes?|mins?)|tomorrow|once everyone is asleep|"
    r"when (?:everyone|they) (?:is|are) asleep|after (?:they|everyone) (?:leave|leaves|go|goes))\b"
)
# Fiction and media frames: a match inside such a sentence is about a work, not the seeker.
_FICTION = re.compile(
    r"\b(?:in|from|of) (?:the|a|this|that|my) (?:movie|film|show|tv show|series|book|novel|story|"
    r"song|game|video game|play|episode|anime|manga|comic|poem|script|screenplay|fanfic)\b|"
    r"\b(?:my|the|a|his|her|our) (?:character|characters|protagonist|villain|narrator|oc|"
    r"main character)\b|\blyrics?\b|"
    r"\b(?:writing|wrote|write|reading|watching|watched|read) (?:a|an|the|my) (?:story|book|novel|"
    r"script|screenplay|poem|fanfic|song|scene|essay|paper)\b|"
    r"\bthe (?:song|movie|film|book|show|play|poem) (?:goes|says|where|about|in which)\b|"
    r"\b(?:sings?|sang|singing|quote|quoting|the line)\b|\bhamlet\b|\bromeo\b|"
    r"\b13 reasons why\b|\bthe plot\b|"
    r"\bfor (?:a|my) (?:\w+ )?(?:class|assignment|project|essay|paper|course)\b"
)
_FICTION_OVERRIDE = re.compile(r"\b(?:me too|too|as well|also|like (?:him|her|them))\b")
# Markers that put the evidence in the past, and markers of recovery since.
_HISTORY = re.compile(
    r"\b(?:years? ago|months ago|(?:a )?long time ago|when i was (?:younger|little|a (?:kid|teen|"
    r"teenager|child|student)|in (?:high school|school|college|uni|university|my teens)|\d+)|"
    r"as a (?:teen|teenager|kid|child)|in (?:high school|college|my teens|my twenties|the past)|"
    r"back (?:then|in)|used to|(?:\d+|a few|several|many|two|three|ten) years back|previously|"
    r"in (?:19|20)\d\d|once|in my past|history of)\b"
)
_RECOVERY = re.compile(
    r"\b(?:(?:doing|feeling|much|a lot|so much|way) better(?: now)?|recovered|in recovery|"
    r"(?:\d+|a few|two|three|many|several) (?:days|weeks|months|years) clean|clean for|"
    r"(?:got|getting|have been getting|have gotten) (?:help|treatment|therapy)|not anymore|"
    r"no longer|(?:in )?a (?:good|better|safe) place|"
    r"glad i (?:survived|am (?:still )?here|did not)|"
    r"grateful (?:to be|i am) (?:alive|here)|have not (?:self harmed|cut|felt that way) (?:in|for)|"
    r"(?:those|the) (?:thoughts|feelings) (?:are|have) (?:gone|passed))\b"
)
_RECENT = re.compile(
    r"\b(?:last (?:night|week|weekend|month)|yesterday|recently|(?:a few|two|three|\d+) "
    r"(?:days|hours) ago|this (?:week|month|morning)|earlier today|just now|again)\b"
)
_PAST = re.compile(
    r"\b(?:wanted|wished|was|were|thought|felt|tried|attempted|took|taken|overdosed|cut|burned|burnt|"
    r"hurt|harmed|had|swallowed|wrote|gave|made)\b"
)
# "if i was gone", "wish i were dead" are conditionals, not past tense.
_CONDITIONAL = re.compile(r"\b(?:if|wish|that|as if) i (?:was|were)\b")
_ROUTINE = re.compile(
    r"\b(?:as usual|like usual|as prescribed|like (?:my|the) doctor said|every (?:day|morning|"
    r"night|evening)|on time|like i am supposed to|by mistake)\b"
)
# Negation cues close to a match cancel it ("I would never hurt myself", "no thoughts of ...").
_NEGATION = re.compile(
    r"\b(?:never|not|no|nor|without|none|neither|no longer|nothing like|"
    r"stopped|stop|quit|denies|deny|free of)\b"
)
# Phrases that contain a negation word but do not negate the evidence that follows.
_NOT_NEGATION = re.compile(
    r"\b(?:can not|could not|can not seem to) (?:stop|help|shake|get rid of)\b|"
    r"\b(?:do not|did not) know (?:if|whether|why|how|what)\b|\bnot sure (?:if|whether)?\b|"
    r"\bno one\b|\bnobody\b|\bnot even\b|\bnot just\b|\bdo not think i can\b|"
    r"\bcan not (?:take|do|handle|stand|cope)\b|\bno (?:matter|idea)\b|"
    r"\bdo not see (?:the )?point\b|\bwhy not\b|\bnot okay\b|\bnot ok\b|\bnot fine\b"
)
# A clause ends at punctuation or a conjunction; negation does not reach across it.
_CLAUSE_BREAK = re.compile(r"[,;:\-–—()\"]|\b(?:but|and|because|so|though|although|yet|however)\b")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?\n]*")
# Who a subjectless match is about: the last subject before it in its clause.
_SUBJECT = re.compile(
    r"\b(?P<self>i|me|myself)\b|\b(?P<third>he|she|they|him|them|friend|bestie|bff|sister|"
    r"brother|sibling|mom|mum|mother|dad|father|son|daughter|kid|child|partner|boyfriend|"
    r"girlfriend|bf|gf|wife|husband|roommate|flatmate|cousin|classmate|coworker|colleague|"
    r"teammate|aunt|uncle|grandma|grandpa|grandmother|grandfather|niece|nephew|student|"
    r"neighbou?r|someone known|somebody known|people known|a friend known|a person known)\b|"
    r"\b(?P<other>we|you|everyone|everybody|people|anyone|someone|somebody|nobody)\b"
)
# The reflexive or possessive inside a match says whose life it is about.
_PRONOUN = re.compile(
    r"\b(?:myself|himself|herself|themselves|themself|yourself|my|his|their|your)\b"
    r"|\bher\b(?= (?:own )?life)"
)
_FIRST_PERSON_REF = {"myself", "my"}
_OTHER_REF = {"yourself", "your"}
_NEGATION_WINDOW = 6


def _clause_prefix(sentence: str, start: int) -> str:
    prefix = sentence[:start]
    breaks = list(_CLAUSE_BREAK.finditer(prefix))
    if breaks:
        prefix = prefix[breaks[-1].end() :]
    return prefix


def _negated(clause_prefix: str) -> bool:
    cleaned = _NOT_NEGATION.sub(" ", clause_prefix)
    tokens = cleaned.split()[-_NEGATION_WINDOW:]
    return bool(_NEGATION.search(" ".join(tokens)))


def _person(match: re.Match[str], clause_prefix: str) -> str:
    """ "self", "third" or "other" (addressed to someone else, or generic)."""
    pronoun = _PRONOUN.search(match.group())
    if pronoun:
        word = pronoun.group()
        if word in _FIRST_PERSON_REF:
            return "self"
        return "other" if word in _OTHER_REF else "third"
    last = None
    for subject in _SUBJECT.finditer(clause_prefix):
        last = subject
    if last is None or last.group("self"):
        return "self"
    return "third" if last.group("third") else "other"


def analyse_text(
    text: str,
    turn_index: int = 0,
    policy: RiskPolicy | None = None,
    history_seen: bool = False,
) -> TurnAnalysis:
    """The rules' level and reasons for one seeker turn. ``history_seen`` tells the turn that an
    earlier turn disclosed history, so "thinking about it again" reads as recurrence."""
    policy = policy or RiskPolicy()
    result = TurnAnalysis(turn_index=turn_index)
    norm, idioms = strip_idioms(normalise(text))
    if idioms:
        result.guards.add("idiom")
        result.reasons.append(
            Reason(
                None, "guard:idiom", turn_index, "NONE", f"{idioms} figurative phrase(s) ignored"
            )
        )
    recovery = bool(_RECOVERY.search(norm))
    risk: list[tuple[Reason, str]] = []  # (reason, sentence) for the imminence check
    seen: set[tuple[str, int]] = set()
    for sentence_match in _SENTENCE.finditer(norm):
        sentence = sentence_match.group()
        fiction = bool(_FICTION.search(sentence))
        history_marker = bool(_HISTORY.search(sentence))
        recent = bool(_RECENT.search(sentence))
        for rule in RULES:
            for m in rule.pattern.finditer(sentence):
                key = (rule.rule_id, sentence_match.start() + m.start())
                if key in seen:
                    continue
                seen.add(key)
                reason = _judge(
                    rule,
                    m,
                    sentence,
                    turn_index,
                    policy,
                    fiction,
                    history_marker,
                    recent,
                    recovery,
                    result,
                )
                if reason is not None:
                    risk.append((reason, sentence))
    # Imminence: intent, plan, method or an explicit wish with a time named, or with means at hand.
    serious = [
        (r, s)
        for r, s in risk
        if level_index(r.level) >= level_index("HIGH") and "history" not in r.detail
    ]
    means = any(r.source == "rule:means_access" for r, _ in serious)
    for reason, sentence in serious:
        timed = reason.line in {"INTENT", "PLAN", "METHOD", "SUICIDAL_THOUGHTS"} and bool(
            _TIMING.search(sentence)
        )
        armed = means and reason.source != "rule:means_access"
        if timed or armed:
            why = "a time is named" if timed else "means are at hand"
            risk.append(
                (
                    Reason(
                        "PLAN",
                        "rule:imminent",
                        turn_index,
                        "IMMINENT",
                        f"{reason.source} and {why}",
                    ),
                    sentence,
                )
            )
            break
    if (result.history or history_seen) and _RECURRENCE.search(norm):
        risk.append(
            (
                Reason(
                    "SUICIDAL_THOUGHTS",
                    "rule:recurrence",
                    turn_index,
                    "HIGH",
                    "disclosed history with current recurrence",
                ),
                "",
            )
        )
    # One reason per rule id per turn (its strongest match) keeps the audit trail readable.
    strongest: dict[str, Reason] = {}
    for reason, _ in risk:
        kept = strongest.get(reason.source)
        if kept is None or level_index(reason.level) > level_index(kept.level):
            strongest[reason.source] = reason
    for reason in strongest.values():
        result.reasons.append(reason)
        result.level = max_level(result.level, reason.level)
    # Guards and third-party notes once per (source, line) per turn.
    unique: dict[tuple[str, str | None, str], Reason] = {}
    for reason in result.reasons:
        key = (
            reason.source,
            reason.line,
            reason.level if reason.source.startswith("rule:") else "",
        )
        unique.setdefault(key, reason)
    result.reasons = sorted(unique.values(), key=lambda r: -level_index(r.level))
    return result


def _judge(
    rule: Rule,
    m: re.Match[str],
    sentence: str,
    turn_index: int,
    policy: RiskPolicy,
    fiction: bool,
    history_marker: bool,
    recent: bool,
    recovery: bool,
    result: TurnAnalysis,
) -> Reason | None:
    """One match, checked against the guards: the reason it supports, or None when a guard
    explained it away (the guard's reason is recorded on ``result``)."""
    prefix = _clause_prefix(sentence, m.start())
    if _negated(prefix):
        result.guards.add("negation")
        result.reasons.append(
            Reason(
                rule.line, "guard:negation", turn_index, "NONE", f"negation cancels {rule.rule_id}"
            )
        )
        return None
    person = _person(m, prefix)
    if person == "other":
        return None
    clause_tail = sentence[m.end() :]
    tail_break = _CLAUSE_BREAK.search(clause_tail)
    if tail_break:
        clause_tail = clause_tail[: tail_break.start()]
    clause = prefix + m.group() + clause_tail
    if fiction and not _FICTION_OVERRIDE.search(clause):
        result.guards.add("fiction")
        result.reasons.append(
            Reason(
                rule.line,
                "guard:fiction",
                turn_index,
                "NONE",
                f"fiction/media frame on {rule.rule_id}",
            )
        )
        return None
    if person == "third":
        result.third_party = True
        result.guards.add("third_party")
        result.reasons.append(
            Reason(
                rule.line,
                "rule:third_party",
                turn_index,
                "NONE",
                f"concern for someone else ({rule.rule_id}); seeker not raised",
            )
        )
        return None
    level = policy.explicit_desire_level if rule.explicit_desire else rule.level
    if rule.rule_id == "rule:attempt_in_progress" and _ROUTINE.search(sentence):
        return None
    past = bool(_PAST.search(_CONDITIONAL.sub(" ", m.group()))) or "used to" in " ".join(
        prefix.split()[-3:]
    )
    if past and (history_marker or recovery) and not recent:
        result.history = True
        result.guards.add("history")
        hist_level = "MODERATE" if rule.line == "BEHAVIOR" and not recovery else "LOW"
        hist_level = RISK_LEVELS[min(level_index(hist_level), level_index(level))]
        return Reason(
            rule.line,
            rule.rule_id,
            turn_index,
            hist_level,
            f"history ({'recovered' if recovery else 'past'}), downgraded from {level}",
        )
    if past and not recent and rule.line not in {"BEHAVIOR"}:
        return Reason(
            rule.line,
            rule.rule_id,
            turn_index,
            shift_level(level, -1),
            f"past tense, downgraded from {level}",
        )
    return Reason(rule.line, rule.rule_id, turn_index, level, "first-person, current")


def analyse_turns(
    turns: Sequence[tuple[int, str]], policy: RiskPolicy | None = None
) -> list[TurnAnalysis]:
    """Every seeker turn ((conversation index, text), oldest first), carrying history forward."""
    history = False
    out = []
    for index, text in turns:
        analysis = analyse_text(text, index, policy, history_seen=history)
        history = history or analysis.history
        out.append(analysis)
    return out


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
