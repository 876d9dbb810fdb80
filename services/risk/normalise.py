"""Text normalisation for the risk screen: one spelling for slang, misspellings, contractions
and leetspeak, and figurative death/kill phrases (idioms) cut out before any rule reads the text.

Kept apart from the rules so the output screen and the rules read the same normalised text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.risk.spelling import Speller

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
        (r"\b(you|he|she|it|we|they|that|nobody|no one|everyone|someone)'ll\b", r"\1 will"),
        (r"\b(tonight|today|tomorrow|this|now)'s\b", r"\1 is"),
        (r"\bcan'?t\b|\bcannot\b", "can not"),
        (r"\bwon'?t\b", "will not"),
        (r"\b(do|does|did|is|are|was|were|have|has|had|would|could|should|must)n'?t\b", r"\1 not"),
        (r"\bain'?t\b", "am not"),
        # The apostrophes above are optional, so "dont", "cant", "wont" map too.
        (
            r"\bid\b(?= (?:use|do|rather|be|never|like|love|welcome|take|jump|stop|go|want|just))",
            "i would",
        ),
        (r"\bive\b", "i have"),
        (r"\b(?:2day|tday)\b", "today"),
        (r"\b(?:pils|pillz|pilz)\b", "pills"),
        (r"\b(?:b4)\b", "before"),
        (r"\b(?:bday|b-day)\b", "birthday"),
        (r"\b(?:wknd|wkend)\b", "weekend"),
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
        # Bare "unaliving" means oneself; "unaliving him" keeps its object.
        (
            r"\bun-?aliving\b(?! (?:myself|him|her|them|you|someone|people|yourself))",
            "killing myself",
        ),
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
        (r"\b(to|going to|will|want to|might|about to|could) od\b", r"\1 overdose"),
        (r"\blyfe?\b", "life"),
        (r"\b(someone|somebody|people|a friend|a person) i know\b", r"\1 known"),
        (r", (ever|ever again)\b", r" \1"),
    ]
]


def normalise(text: str, speller: Speller | None = None) -> str:
    """Lower-cased text with typos (``speller``, when given), slang, misspellings and
    contractions mapped to one spelling."""
    out = text.lower() if speller is None else speller.correct(text.lower())
    for pattern, repl in _SUBSTITUTIONS:
        out = pattern.sub(repl, out)
    # Re-normalise the forms the misspelling map produced ("overdosd" -> "overdosed").
    out = out.replace("overdosd", "overdosed")
    return re.sub(r"[ \t]+", " ", out)


# --- 2. idioms --------------------------------------------------------------------------------

IDIOM_PATTERN = re.compile(
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
            r"\b(?:kill|killed|killing|kills) (?:myself|me) (?:laughing|with laughter)\b",
            r"\b(?:nearly|almost) killed myself (?:on|tripping|falling|slipping|trying to|at)\b",
            r"\b(?:hurt|cut|burned|burnt) myself (?:at the gym|at work|while|when|playing|lifting|"
            r"running|skiing|shaving|cooking|on the|on a|by accident|accidentally|in the kitchen)",
            r"\b(?:my|the) (?:phone|battery|laptop|car|plant|plants|wifi) (?:is |was )?"
            r"(?:dying|died|dead)\b",
            # Games and sport: a character, a team or a player "dies" or "gets killed".
            r"\b(?:my |our |the )?(?:character|player|team|sim|sims|avatar|champion|hero|squad) "
            r"(?:\w+ )?(?:died|dies|dying|is dead|got killed|was killed|keeps dying)\b",
            r"\b(?:died|dying|killed|die) (?:\d+|two|three|five|ten|twenty|so many|a few|like \d+) "
            r"times\b",
            r"\b(?:we|they|you) (?:got|were|get) (?:absolutely |totally )?(?:killed|murdered|"
            r"destroyed)\b",
            r"\b(?:laughed|laughing|bored|scared) (?:myself )?to death\b",
            r"\b(?:could|would) (?:murder|kill) (?:a|an|some|for a|for an) \w+",
            r"\bkilling (?:it|them|the game)\b",
            r"\bdie hard\b",
            r"\boverdos(?:e|ed|ing) on (?:sugar|chocolate|coffee|caffeine|candy|sweets|carbs|"
            r"netflix|tv|cake|pizza|cheese|sunshine|vitamin \w+)\b",
        ]
    )
)


def strip_idioms(text: str) -> tuple[str, int]:
    """The text with figurative death/kill phrases replaced by a neutral token, and their count."""
    out, count = IDIOM_PATTERN.subn(" idiom ", text)
    return out, count
