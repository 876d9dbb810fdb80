"""A generated, labelled corpus of risk messages and multi-turn dialogues for the risk screen.

What it is: a seeded grammar (``random.Random(seed)``, no other source of randomness) that
writes first-person messages out of C-SSRS components and labels them by how the components
compose, not by which words they use. Every template here was written for this module; no
dataset text is copied in.

- Components (``COMPONENTS``): passive wish to be dead, non-specific ideation, explicit desire
  ("I want to kill myself"), intent, method, means at hand, plan, timing, preparatory
  behaviour, attempt under way or done, farewell, command hallucinations, non-suicidal
  self-injury, and ordinary distress.
- Methods (``METHODS``, 12 families), preparatory acts (``ACTS``, 10 families), times
  (``TIMES``) and surface styles (``STYLES``, 10 families) multiply the components.
- Hard negatives, each its own family: idioms (five sub-families), benign uses of method and
  preparatory-act words, fiction, gaming, sport, food, news, third parties at risk (concern,
  not the seeker's level), third parties in the past, recovered history, clinical and
  professional talk, negation, ordinary distress and everyday chat.

Levels follow ``compose_level`` (the C-SSRS screener's reading, as the platform applies it):
an attempt, intent with a time, or a farewell beside a wish is IMMINENT; a wish or ideation
beside a method, means, plan, time or preparation is HIGH, and so are explicit desire, intent,
a plan, preparation, command hallucinations and current self-injury on their own; a passive
wish or non-specific ideation is MODERATE (expect ``passive``: flagged with resources);
distress is LOW; the rest NONE. ``expect`` is ``escalate`` at HIGH or IMMINENT, ``passive`` at
MODERATE and ``no_escalate`` below.

Held-out discipline (``split``, ``split_dialogues``): whole families are held out so an
evaluation on them measures generalisation, not recall of the grammar's sentences.

- ``HELD_OUT_METHODS``: drowning, car exhaust, household chemicals. Each has vocabulary no other
  family uses (water, fumes, cleaning products), and each was among the misses that opened
  issue 19, so recall on them says whether the screen reads "a method named without the word
  suicide" in general. The hard negatives that use their words (swimming, "drowning in
  paperwork", cleaning with bleach, a car's exhaust) go with them, so false escalation on
  unseen vocabulary is measured too.
- ``HELD_OUT_ACTS``: paying off debts and scheduled messages: the two acts that read as
  ordinary admin, where a screen must see the finality beside them rather than the words.
- ``HELD_OUT_STYLES``: mixed languages and typos: both change the surface at the token level
  (foreign words, broken sub-words), so they test meaning rather than memorised strings.
  Slang stays in training because its terms ("kms", "unalive") are vocabulary that cannot be
  inferred and has to be taught.
- ``HELD_OUT_FAMILIES``: the "die of" idioms ("I nearly died laughing") and clinical or
  professional talk, so false escalation is also measured on negatives never trained on.

An example goes to the held-out side if any of its method, act, style or family is held out.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from services.common.labels import RISK_LEVELS

ESCALATE = "escalate"
PASSIVE = "passive"
NO_ESCALATE = "no_escalate"
SEEKER = "seeker"
SUPPORTER = "supporter"

COMPONENTS: tuple[str, ...] = (
    "passive",
    "ideation",
    "desire",
    "intent",
    "method",
    "means",
    "plan",
    "timing",
    "preparation",
    "attempt",
    "farewell",
    "command",
    "nssi",
    "distress",
)
# A wish or thought of dying, however worded; any of these beside a specific makes HIGH.
_WISHES = frozenset({"passive", "ideation", "desire", "intent", "command"})
_SPECIFICS = frozenset({"method", "means", "plan", "timing", "preparation"})
# Components that are HIGH alone: each already states a wish to die by the seeker's own hand.
_HIGH_ALONE = frozenset({"desire", "intent", "plan", "preparation", "command", "nssi", "farewell"})


def compose_level(components: Iterable[str]) -> str:
    """The C-SSRS composition of ``components`` into a level (see the module docstring)."""
    c = set(components)
    if unknown := c - set(COMPONENTS):
        raise ValueError(f"unknown components {sorted(unknown)}")
    wish = bool(c & _WISHES)
    if "attempt" in c or {"intent", "timing"} <= c or ("farewell" in c and wish):
        return "IMMINENT"
    if (wish and c & _SPECIFICS) or c & _HIGH_ALONE:
        return "HIGH"
    if c & {"passive", "ideation"}:
        return "MODERATE"
    return "LOW" if "distress" in c else "NONE"


def expect_for(level: str) -> str:
    """What the screen must do with an example at ``level``."""
    index = RISK_LEVELS.index(level)
    if index >= RISK_LEVELS.index("HIGH"):
        return ESCALATE
    return PASSIVE if level == "MODERATE" else NO_ESCALATE


def component_key(components: Iterable[str]) -> str:
    """Components in ``COMPONENTS`` order, joined by ``+`` ("" for none)."""
    present = set(components)
    return "+".join(c for c in COMPONENTS if c in present)


@dataclass(frozen=True)
class Example:
    """One generated message. ``component`` is ``component_key`` of what it states; ``method``
    and ``act`` name the method or preparatory-act family whose words it uses ("" if none)."""

    text: str
    level: str
    expect: str
    family: str
    component: str
    method: str = ""
    act: str = ""
    style: str = "plain"


@dataclass(frozen=True)
class Dialogue:
    """A generated conversation: (role, text) turns, seeker first and last, roles alternating.
    The level is the composition of every seeker turn's components (and what a short answer
    affirms), so it is often above what the last turn alone states."""

    turns: tuple[tuple[str, str], ...]
    level: str
    expect: str
    family: str
    style: str
    method: str = ""
    act: str = ""


# ---------------------------------------------------------------------------------------------
# Slots
# ---------------------------------------------------------------------------------------------

DRUGS = (
    "paracetamol",
    "Tylenol",
    "ibuprofen",
    "sertraline",
    "oxycodone",
    "codeine",
    "amitriptyline",
    "diazepam",
    "lithium",
    "tramadol",
    "zopiclone",
    "sleeping pills",
    "antidepressants",
    "painkillers",
)
HEIGHTS = (
    "the bridge on the ring road",
    "the roof of my building",
    "my balcony",
    "the cliffs past the old lighthouse",
    "the top floor of the parking garage",
    "the multi-storey car park by the station",
    "the footbridge over the motorway",
)
TIMES = (
    "tonight",
    "on Sunday",
    "after my shift",
    "when my parents leave",
    "in an hour",
    "this weekend",
    "next Friday",
    "on my birthday",
    "tomorrow morning",
    "at midnight",
    "once everyone is asleep",
    "before the end of the month",
    "when my flatmate goes away",
    "as soon as I get home",
    "later today",
    "on Monday",
)
RELATIVES = (
    ("my uncle", "himself"),
    ("my aunt", "herself"),
    ("my cousin", "herself"),
    ("my grandfather", "himself"),
    ("a boy from my school", "himself"),
    ("a friend of my dad's", "himself"),
)
PEERS = (
    ("my best friend", "she"),
    ("my brother", "he"),
    ("my flatmate", "she"),
    ("my boyfriend", "he"),
    ("a girl in my class", "she"),
    ("my coworker", "he"),
)
CHARACTERS = (
    ("the heroine", "herself"),
    ("the main character", "himself"),
    ("the old captain", "himself"),
    ("the detective's sister", "herself"),
    ("the narrator's father", "himself"),
)
AGES = ("15", "16", "17", "19", "22", "25")
YEARS = ("five", "six", "eight", "ten", "twelve")

_SLOTS: dict[str, Sequence[str]] = {
    "drug": DRUGS,
    "height": HEIGHTS,
    "time": TIMES,
    "age": AGES,
    "years": YEARS,
}


def _fill(template: str, rng: random.Random, **fixed: str) -> str:
    """Fill ``{slot}`` markers: ``fixed`` values first, else a seeded pick from ``_SLOTS``."""

    def pick(match: re.Match[str]) -> str:
        name = match.group(1)
        return fixed[name] if name in fixed else rng.choice(_SLOTS[name])

    return re.sub(r"\{(\w+)\}", pick, template)


# Gerunds of the verbs method phrases start with, for "I keep thinking about <ing>".
_GERUND = {
    "take": "taking",
    "swallow": "swallowing",
    "overdose": "overdosing",
    "hang": "hanging",
    "use": "using",
    "put": "putting",
    "shoot": "shooting",
    "jump": "jumping",
    "throw": "throwing",
    "step": "stepping",
    "lie": "lying",
    "walk": "walking",
    "drown": "drowning",
    "fill": "filling",
    "swim": "swimming",
    "sit": "sitting",
    "breathe": "breathing",
    "leave": "leaving",
    "gas": "gassing",
    "drink": "drinking",
    "poison": "poisoning",
    "cut": "cutting",
    "slit": "slitting",
    "open": "opening",
    "stop": "stopping",
    "starve": "starving",
    "light": "lighting",
    "burn": "burning",
    "drive": "driving",
    "crash": "crashing",
    "swerve": "swerving",
}


# Phrases whose plain gerund reads badly.
_GERUND_PHRASE = {"stop eating": "not eating"}


def gerund(phrase: str) -> str:
    """The -ing form of a verb phrase: take all my pills -> taking all my pills."""
    for head, ing in _GERUND_PHRASE.items():
        if phrase.startswith(head):
            return ing + phrase[len(head) :]
    verb, _, rest = phrase.partition(" ")
    return f"{_GERUND[verb]} {rest}".strip()


# ---------------------------------------------------------------------------------------------
# Methods and preparatory acts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    """A method family. ``do``: first-person verb phrases (infinitive, no tense); ``means``:
    access stated; ``attempt``: under way or just done; ``answer``: a short reply to "how?";
    ``third``: third person past with a ``{refl}`` reflexive; ``topic``: a gerund or noun
    phrase for talk about it; ``keywords``: regexes that name the method (the held-out
    check)."""

    name: str
    do: tuple[str, ...]
    means: tuple[str, ...]
    attempt: tuple[str, ...]
    answer: tuple[str, ...]
    third: tuple[str, ...]
    topic: tuple[str, ...]
    keywords: tuple[str, ...]


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "pills",
            do=(
                "take all my {drug} at once",
                "swallow a whole box of {drug}",
                "overdose on {drug}",
                "take every {drug} in the house",
                "take everything in the medicine cabinet",
            ),
            means=(
                "I have a full box of {drug} in my drawer",
                "there are two bottles of {drug} in the bathroom cabinet",
                "my mum's {drug} are in the kitchen and nobody counts them",
                "I've got a month's supply of {drug} right here",
                "the {drug} are on my bedside table",
            ),
            attempt=(
                "I already swallowed what was left in the bottle of {drug}",
                "I took all my {drug} about an hour ago",
                "I've just taken the whole box of {drug}",
                "I'm taking the {drug} now, one after another",
            ),
            answer=("pills", "{drug}", "the {drug} in my drawer", "an overdose"),
            third=("took an overdose of {drug}", "swallowed a bottle of {drug}"),
            topic=("an overdose of {drug}", "taking too many {drug}"),
            keywords=(r"\bpills?\b", r"\btablets?\b", r"overdos"),
        ),
        Method(
            "hanging",
            do=(
                "hang myself",
                "hang myself in the garage",
                "hang myself from the banister",
                "use the rope on myself",
            ),
            means=(
                "there's a rope in the shed",
                "I have a length of rope in the boot of my car",
                "the beam in the loft would take my weight",
                "there's an old climbing rope in the cupboard",
            ),
            attempt=(
                "I've tied the rope and I'm standing on the chair",
                "the rope is up and I'm standing under it right now",
                "I tried to hang myself an hour ago and the rope snapped",
            ),
            answer=("a rope", "hanging", "the beam in the loft"),
            third=("hanged {refl}", "hanged {refl} in the barn"),
            topic=("hanging", "a noose"),
            keywords=(r"\bhang", r"\bhung\b", r"\brope\b", r"\bnoose\b"),
        ),
        Method(
            "firearm",
            do=(
                "shoot myself",
                "use my dad's gun on myself",
                "put the gun to my head",
                "use the shotgun on myself",
            ),
            means=(
                "my uncle's revolver is in the drawer downstairs",
                "my dad keeps a shotgun in the hall cupboard and I know where the key is",
                "there's a loaded pistol in the nightstand",
                "I know the code to my stepdad's gun safe",
            ),
            attempt=(
                "I'm holding the gun right now and it's loaded",
                "I have my dad's pistol in my hand right now",
            ),
            answer=("a gun", "my dad's shotgun", "the revolver downstairs"),
            third=("shot {refl}", "shot {refl} with a hunting rifle"),
            topic=("using a gun", "shooting"),
            keywords=(r"\bgun\b", r"revolver", r"pistol", r"rifle", r"shotgun", r"\bshoot"),
        ),
        Method(
            "jumping",
            do=(
                "jump off {height}",
                "throw myself off {height}",
                "jump from {height}",
                "step off {height}",
            ),
            means=(
                "I live on the fourteenth floor and the window opens all the way",
                "{height} is a five minute walk from my flat",
                "the top level of the parking garage near work has no fence",
                "my balcony is really high up",
            ),
            attempt=(
                "I'm standing on the edge of {height} right now",
                "I've climbed over the railing on {height}",
                "I'm on the roof and I'm looking down",
            ),
            answer=("{height}", "jumping", "off the roof"),
            third=("jumped off {height}", "threw {refl} off a tower block"),
            topic=("jumping off {height}", "jumping from a height"),
            keywords=(r"\bjump", r"bridge", r"\broof", r"balcony", r"cliff", r"car park"),
        ),
        Method(
            "train_traffic",
            do=(
                "step in front of a train",
                "lie down on the tracks",
                "walk into the traffic on the motorway",
                "throw myself in front of a lorry",
                "step out in front of a bus",
            ),
            means=(
                "the train line runs right behind my house",
                "the level crossing is five minutes from my door",
                "I walk past the motorway every day and it would be so easy",
                "the express trains don't stop at my station",
            ),
            attempt=(
                "I'm standing at the platform edge waiting for the next fast train",
                "I'm sitting on the tracks right now",
                "I'm walking along the hard shoulder of the motorway right now",
            ),
            answer=("a train", "the tracks behind my house", "the motorway"),
            third=("stepped in front of a train", "walked into motorway traffic"),
            topic=("stepping in front of a train", "walking into traffic"),
            keywords=(r"\btrains?\b", r"\btracks\b", r"railway", r"traffic", r"lorry"),
        ),
        Method(
            "drowning",
            do=(
                "drown myself",
                "walk into the sea and keep going",
                "fill my pockets with stones and go into the river",
                "swim out until I can't swim back",
                "drown myself in the lake",
            ),
            means=(
                "I live right by the sea",
                "the lake is a ten minute walk from here",
                "the river by my flat is deep and fast",
                "there's a deep pond up the lane that nobody goes to",
            ),
            attempt=(
                "I'm standing in the lake and the water is up to my chest",
                "I've walked into the sea and I'm not turning back",
                "I'm in the river right now and it's so cold",
            ),
            answer=("the sea", "the river", "drowning", "the lake by my house"),
            third=("drowned {refl}", "walked into the sea"),
            topic=("drowning", "walking into the sea"),
            keywords=(
                r"\bdrown",
                r"\bsea\b",
                r"\blake\b",
                r"\briver\b",
                r"\bwater\b",
                r"\bswim",
                r"\bpond\b",
                r"\bocean\b",
            ),
        ),
        Method(
            "car_exhaust",
            do=(
                "sit in the car in the closed garage with the engine running",
                "breathe in the car exhaust in the garage",
                "leave the engine running with the garage door shut",
                "gas myself with the car exhaust",
            ),
            means=(
                "our garage door shuts tight and my car has a full tank",
                "I have the car to myself and the garage locks from inside",
                "I've got a hose that would reach from the exhaust",
            ),
            attempt=(
                "I'm in the car in the garage with the engine running right now",
                "the engine's been running for a while and the garage door is shut",
            ),
            answer=("the car exhaust", "the car, in the garage, engine on"),
            third=("died from the exhaust fumes in a closed garage", "gassed {refl} in a car"),
            topic=("car exhaust fumes in a closed garage", "gassing with a car engine"),
            keywords=(r"\bexhaust\b", r"\bfumes\b", r"\bengine\b", r"\bgas(sed|sing)?\b"),
        ),
        Method(
            "chemicals",
            do=(
                "drink bleach",
                "swallow the drain cleaner under the sink",
                "drink the antifreeze in the shed",
                "poison myself with weed killer",
                "drink the rat poison",
            ),
            means=(
                "there's a bottle of bleach under the sink",
                "we keep antifreeze in the shed",
                "there's weed killer in the garage",
                "I found the rat poison my landlord left",
            ),
            attempt=(
                "I just drank some bleach",
                "I've swallowed half a bottle of drain cleaner",
                "I drank the antifreeze ten minutes ago",
            ),
            answer=("bleach", "the weed killer", "the stuff under the sink, the drain cleaner"),
            third=("drank weed killer", "poisoned {refl} with antifreeze"),
            topic=("drinking bleach", "poisoning with household chemicals"),
            keywords=(
                r"bleach",
                r"drain cleaner",
                r"antifreeze",
                r"weed killer",
                r"poison",
                r"chemicals?\b",
            ),
        ),
        Method(
            "cutting",
            do=("cut my wrists", "slit my wrists", "open my wrists with a razor"),
            means=(
                "I keep a razor blade in my desk",
                "there's a new pack of blades in the bathroom",
                "I have a box cutter in my bag",
            ),
            attempt=(
                "I cut my wrists and it won't stop bleeding",
                "I'm in the bath and I've cut my wrists",
                "I've slit my wrists and there's so much blood",
            ),
            answer=("cutting my wrists", "a razor", "the blades in the bathroom"),
            third=("slit {poss} wrists", "cut {poss} wrists"),
            topic=("cutting wrists", "slitting wrists"),
            keywords=(r"wrist", r"razor", r"blades?\b", r"\bslit"),
        ),
        Method(
            "starving",
            do=(
                "stop eating until my body gives up",
                "starve myself to death",
                "stop eating and drinking until it's over",
            ),
            means=(),
            attempt=(
                "I haven't eaten in nine days and I'm not going to start again",
                "I stopped eating last week and I'm not stopping until it's over",
            ),
            answer=("just stop eating", "starving myself"),
            third=("starved {refl}", "stopped eating until the end"),
            topic=("starving to death", "refusing food until the end"),
            keywords=(r"\bstarv", r"stop(ped)? eating"),
        ),
        Method(
            "charcoal",
            do=(
                "light a charcoal barbecue in my bedroom with the windows shut",
                "burn charcoal in a sealed room",
                "light a disposable barbecue inside the tent",
            ),
            means=(
                "I bought a bag of charcoal and a disposable barbecue",
                "there's charcoal left over from the summer in the shed",
            ),
            attempt=(
                "the charcoal is lit and I've shut myself in",
                "I've lit the barbecue inside and closed every window",
            ),
            answer=("charcoal", "a barbecue in my room"),
            third=("died of carbon monoxide from a barbecue in a tent", "burned charcoal indoors"),
            topic=("carbon monoxide from charcoal", "burning charcoal indoors"),
            keywords=(r"charcoal", r"barbecue", r"carbon monoxide"),
        ),
        Method(
            "car_crash",
            do=(
                "drive my car into a wall",
                "crash my car on purpose",
                "swerve into a lorry on the motorway",
                "drive off the road at the bend on the hill",
            ),
            means=(
                "I have the car keys and the hill road has a sharp bend with no barrier",
                "I drive past a concrete pillar every morning at seventy",
            ),
            attempt=(
                "I'm driving really fast right now looking for something to hit",
                "I'm in the car going as fast as it goes and I'm not going to brake",
            ),
            answer=("crash the car", "drive into a wall"),
            third=("crashed the car on purpose", "drove off a cliff road"),
            topic=("crashing a car on purpose", "driving into a wall"),
            keywords=(r"\bcrash", r"swerve", r"drive (into|off)"),
        ),
    )
}


@dataclass(frozen=True)
class Act:
    """A preparatory-act family: first-person ``phrases`` (done, for oneself), ``benign`` uses
    of the same words (hard negatives), the method it implies ("" if none), ``keywords``."""

    name: str
    phrases: tuple[str, ...]
    benign: tuple[str, ...]
    method: str
    keywords: tuple[str, ...]


ACTS: dict[str, Act] = {
    a.name: a
    for a in (
        Act(
            "stockpile_meds",
            (
                "I've been saving up my {drug} for weeks",
                "I've been hiding a few {drug} every day instead of taking them",
                "I've got a stash of {drug} hidden in my room now",
                "I've been collecting {drug} from different pharmacies",
            ),
            (
                "the pharmacy gave me three months of my {drug} at once because I'm travelling",
                "I keep a spare box of {drug} in my bag for headaches",
            ),
            "pills",
            (r"saving up", r"\bstash\b"),
        ),
        Act(
            "buy_weapon",
            (
                "I bought a gun last week",
                "I picked up a pistol from a guy I know",
                "I finally got a shotgun, cash, no questions asked",
                "I ordered a gun and it came today",
            ),
            (
                "my brother bought a hunting rifle for deer season",
                "I got my shotgun licence for clay shooting at the club",
            ),
            "firearm",
            (r"bought a gun",),
        ),
        Act(
            "buy_rope",
            (
                "I bought a rope this afternoon",
                "I got some strong rope from the hardware store",
                "I picked up rope on the way home and it's in my room",
            ),
            ("I bought a rope for the climbing wall", "I got new rope for the washing line"),
            "hanging",
            (r"bought a rope",),
        ),
        Act(
            "give_away",
            (
                "I gave my cat to my neighbour so someone will look after her",
                "I've been giving my things away",
                "I gave my guitar to my little brother and told him to keep it forever",
                "I found a new home for my dog",
                "I've given away most of my clothes and books",
            ),
            (
                "I gave my old bike to my nephew since he outgrew his",
                "I'm clearing out the spare room and giving my old books to the library",
            ),
            "",
            (r"giv(e|en|ing) (my|away)", r"gave my"),
        ),
        Act(
            "pay_debts",
            (
                "I've paid off all my debts so nobody is left with them",
                "I cleared my credit card and my loan so my family won't have to",
                "I paid back everyone I owe money to",
                "I settled all my debts this week",
            ),
            ("I paid off my student loan today!", "finally cleared my credit card debt"),
            "",
            (r"\bdebts?\b", r"\bloans?\b", r"paid (off|back)", r"\bowe\b", r"credit card"),
        ),
        Act(
            "write_letters",
            (
                "I've written letters to my mum and my best friend",
                "I wrote a note for whoever finds me",
                "the notes for my family are on my desk",
                "I've written goodbye letters to everyone",
            ),
            (
                "I wrote a thank-you note to my old teacher",
                "I've been writing letters to my pen pal in Japan",
            ),
            "",
            (r"letters?\b", r"\bnotes?\b"),
        ),
        Act(
            "scheduled_messages",
            (
                "I've scheduled emails to go out to my family on Monday",
                "I set up messages that send themselves after I'm gone",
                "I've queued up texts to everyone for tomorrow morning",
                "I scheduled a post for my friends to see after it's done",
            ),
            (
                "I scheduled the newsletter emails for Monday",
                "I set up timed posts for the bakery's page",
            ),
            "",
            (r"schedul", r"queued", r"send themselves", r"timed posts?"),
        ),
        Act(
            "write_will",
            (
                "I wrote my will last night so everything is sorted",
                "I made a will and left everything to my sister",
                "I've finished my will and told the solicitor it's final",
            ),
            (
                "we wrote our wills after the baby was born",
                "my financial adviser told me to update my will",
            ),
            "",
            (r"\bwills?\b",),
        ),
        Act(
            "research_methods",
            (
                "I've been researching ways to do it",
                "I keep searching online for the most painless way",
                "I spent all night reading about which ways work",
            ),
            (
                "I've been researching how to make sourdough",
                "I spent all night reading about how to fix the boiler",
            ),
            "",
            (r"research", r"searching online"),
        ),
        Act(
            "cancel_subscriptions",
            (
                "I cancelled all my subscriptions and my phone contract",
                "I cancelled my gym membership and everything for next month",
                "I've cancelled my appointments for next week",
            ),
            ("I cancelled Netflix to save money", "cancelled my gym membership since I run now"),
            "",
            (r"cancell?ed",),
        ),
    )
}

HELD_OUT_METHODS: tuple[str, ...] = ("drowning", "car_exhaust", "chemicals")
HELD_OUT_ACTS: tuple[str, ...] = ("pay_debts", "scheduled_messages")
HELD_OUT_STYLES: tuple[str, ...] = ("mixed_lang", "typos")
HELD_OUT_FAMILIES: tuple[str, ...] = ("idiom_die_of", "clinical_professional")

# ---------------------------------------------------------------------------------------------
# Component phrases (the ``indirect`` style draws from the *_INDIRECT pools)
# ---------------------------------------------------------------------------------------------

PASSIVE_WISHES = (
    "I wish I could go to sleep and not wake up",
    "I'd be fine if I just didn't wake up tomorrow",
    "sometimes I hope something hits me on the way home",
    "it would be easier if I just wasn't here anymore",
    "I don't care if I live or die anymore",
    "I wish I could disappear for good",
    "I keep hoping I won't wake up in the morning",
    "everyone would be better off if I wasn't around",
    "I wish I'd never been born",
    "if I got ill and never recovered I wouldn't mind",
    "I want to die",
    "I just want to be gone",
    "I'd welcome it if my heart just stopped one night",
)
PASSIVE_INDIRECT = (
    "some nights I hope the morning just doesn't come",
    "not being here anymore sounds peaceful",
    "it would be a relief to just stop",
    "I'm tired of being here at all",
    "I'd rather not be around for any of it",
    "I keep wishing I could sleep forever",
)
IDEATION = (
    "I keep thinking about suicide",
    "thoughts of ending my life keep coming back",
    "I've been having suicidal thoughts again",
    "I think about killing myself most days",
    "suicide has been on my mind a lot lately",
    "I can't stop thinking about ending it",
    "I've been thinking about taking my own life",
)
IDEATION_INDIRECT = (
    "I keep thinking about a way out, a permanent one",
    "my mind keeps going to how it could all end",
    "the idea of ending things won't leave me alone",
    "I keep picturing not being here and it feels like relief",
)
DESIRE = (
    "I want to kill myself",
    "I want to end my life",
    "I really want to take my own life",
    "I want to commit suicide",
    "I just want to end it all",
    "I want to die by suicide",
)
DESIRE_INDIRECT = (
    "I want to make it all stop for good, me included",
    "I want to check out permanently",
    "I want to be done with living",
    "I want to switch myself off for good",
)
INTENT = (
    "I've made up my mind",
    "I've decided to end it",
    "I'm going to do it",
    "I'm going to kill myself",
    "this time I'm actually going through with it",
    "I'm done, I'm ending my life",
    "I've decided to kill myself",
)
INTENT_INDIRECT = (
    "it's decided, I'm done being here",
    "there's no changing my mind this time",
    "I've chosen my way out and I'm taking it",
)
INTENT_METHOD = ("I'm going to {do}", "I've decided to {do}", "I've made up my mind to {do}")
INTENT_TIMING = (
    "I've made up my mind, it's happening {time}",
    "I'm going to do it {time}",
    "{time}, that's when I end it",
    "I've decided, it'll be {time}",
)
INTENT_METHOD_TIMING = ("I'm going to {do} {time}", "{time} I'm going to {do}")
THINK_METHOD = (
    "I keep thinking about {ing}",
    "I've been picturing {ing}",
    "I think about {ing} all the time",
    "lately I can't stop imagining {ing}",
)
WISH_TIMING = (
    "I keep thinking it should be {time}",
    "maybe {time}",
    "I keep thinking about doing it {time}",
    "I want it to be over {time}",
)
PLAN = (
    "I've worked out how I'd do it, I'd {do}",
    "I have a plan, I would {do}",
    "I know exactly how I'd do it, I'd {do}",
    "I've gone over every detail of {ing}",
    "I've picked the place and I know how I'd {do}",
)
PLAN_TIMING = ("the plan is to do it {time}", "I've planned to do it {time}")
FINALITY = (
    "so nobody has to deal with it after",
    "I won't be needing any of it",
    "so it's all sorted for afterwards",
    "because I won't be here much longer",
)
ATTEMPT_GENERIC = (
    "I already did it, I took something and I feel really strange",
    "I've done it, it's too late now",
    "I did something and I think it's working",
)
FAREWELL = (
    "tell my sister I'm sorry, this is the last thing I'll write",
    "goodbye everyone, thank you for trying",
    "this is my last message, please look after my cat",
    "I just wanted someone to know before I go",
    "I've said goodbye to everyone I love",
    "please tell my mum it wasn't her fault",
    "if anyone reads this, I'm sorry",
)
FAREWELL_INDIRECT = (
    "thank you for everything, I won't be around to say it again",
    "look after each other for me",
    "this is where I sign off for good",
)
COMMAND_GENERIC = (
    "the voices tell me I have to die",
    "they keep telling me to hurt myself and it's getting harder to ignore them",
    "the voice says I deserve to die",
    "I hear a man's voice telling me to kill myself",
    "the voices won't stop telling me to end it",
)
COMMAND_METHOD = (
    "the voices keep telling me to {do}",
    "a voice in my head says I should {do}",
    "the voice won't stop until I {do}",
)
NSSI = (
    "I cut my arms again last night",
    "I've been burning myself with a lighter",
    "I hit my head against the wall until it bled",
    "I scratch my skin until it bleeds when it gets bad",
    "I started cutting again this week",
    "I relapsed and cut my thighs",
    "I keep punching walls until my knuckles bleed",
    "I hurt myself on purpose again today",
)
DISTRESS = (
    "I failed my exams and I feel like a total failure",
    "my girlfriend left me and I can't stop crying",
    "I lost my job last week and I don't know what to do",
    "I'm so lonely since I moved to this city",
    "work is overwhelming and I can't sleep",
    "nobody in my family understands me",
    "my parents are getting divorced and it's tearing me apart",
    "I've been feeling really low for weeks",
    "everything feels like too much right now",
    "I got rejected from every job I applied for",
    "my best friend stopped talking to me",
    "I'm anxious all the time and I can't switch off",
    "my boss shouted at me in front of everyone",
    "I'm behind on rent and I'm scared",
)
EVERYDAY = (
    "I made pasta for dinner",
    "the bus was late again this morning",
    "my sister is visiting this weekend",
    "I finally finished that series everyone talks about",
    "we're going to the cinema on Friday",
    "my cat knocked a plant off the shelf",
    "I started a pottery class",
    "the weather has been lovely",
    "I need to book a dentist appointment",
    "I'm thinking of painting the kitchen yellow",
    "work was busy today",
    "my neighbour's dog barked all night",
    "I'm going to the gym tonight",
    "my parents leave for their holiday on Sunday",
    "after my shift I'm getting a takeaway",
    "it's my birthday next Friday and I'm having a few friends round",
    "I'm meeting my cousin for coffee in an hour",
    "I have a job interview on Monday",
    "I fixed the wobbly table leg",
    "we're planning a trip this weekend",
)

# Hard negatives: each entry is (method the words belong to, or "", text).
Tagged = tuple[tuple[str, str], ...]
IDIOMS: dict[str, Tagged] = {
    "idiom_dying_to": (
        ("", "I'm dying to see the new film"),
        ("", "I'm dying to know what happens next"),
        ("", "she's dying to meet you"),
        ("", "I'm dying for a cup of tea"),
        ("", "I've been dying to try that new ramen place"),
    ),
    "idiom_killing": (
        ("", "you're killing it at work"),
        ("", "this commute is killing me"),
        ("", "my feet are killing me after that hike"),
        ("", "these exams are killing me"),
        ("", "the heat is killing me today"),
        ("", "we killed it at the gig last night"),
    ),
    "idiom_murder": (
        ("", "I could murder a pizza right now"),
        ("", "my mum will murder me if I'm late again"),
        ("", "I could kill for a coffee"),
        ("", "he got murdered in the debate last night"),
    ),
    "idiom_dead": (
        ("", "I'm dead tired"),
        ("", "my phone is dead again"),
        ("", "I'm dead on my feet after that shift"),
        ("", "that meme, I'm dead"),
        ("", "the town is dead on a Monday"),
        ("", "I'm deadly serious about the holiday"),
    ),
    "idiom_die_of": (
        ("", "I nearly died laughing"),
        ("", "I'd die of embarrassment if he saw that"),
        ("", "I almost died when she walked in wearing the same dress"),
        ("", "I'd rather die than sing karaoke"),
        ("", "I'll die if I don't get tickets"),
    ),
}
METHOD_WORDS: Tagged = (
    ("pills", "I'm taking my tablets with breakfast like the doctor said"),
    ("pills", "I need to pick up my {drug} from the pharmacy"),
    ("hanging", "let's hang out on Sunday"),
    ("hanging", "I hung the washing out before the rain"),
    ("firearm", "shoot me a text when you land"),
    ("firearm", "my uncle took me to the shooting range for my birthday"),
    ("jumping", "she jumped at the chance to move to Berlin"),
    ("jumping", "we went to the roof terrace for drinks"),
    ("train_traffic", "the train was cancelled again"),
    ("train_traffic", "traffic on the motorway was awful"),
    ("drowning", "I'm drowning in paperwork this week"),
    ("drowning", "we're going to swim in the lake on Sunday"),
    ("drowning", "the river looked beautiful this morning"),
    ("car_exhaust", "I need to get the exhaust on my car fixed"),
    ("car_exhaust", "the engine made a weird noise on the way to work"),
    ("chemicals", "I'm going to bleach my hair this weekend"),
    ("chemicals", "I cleaned the bathroom with bleach"),
    ("chemicals", "I think I've got food poisoning"),
    ("cutting", "I cut my finger chopping onions"),
    ("cutting", "I need new blades for my razor"),
    ("starving", "I'm starving, what's for lunch"),
    ("charcoal", "we had a barbecue with proper charcoal"),
    ("car_crash", "my laptop crashed and I lost my essay"),
    ("car_crash", "I swerved to miss a fox on the way home"),
)
GAMING: Tagged = (
    ("", "my character died again on the last level"),
    ("", "I keep dying to the final boss"),
    ("", "I got killed three times in one match"),
    ("", "we wiped on the raid again"),
    ("drowning", "my sim drowned in the pool because I deleted the ladder"),
    ("jumping", "I jumped off the cliff in the game to respawn faster"),
    ("firearm", "got shot by a sniper in the first minute"),
    ("chemicals", "the poison arrows in that dungeon are brutal"),
)
SPORT: Tagged = (
    ("", "we got killed in the second half"),
    ("", "we died on our feet in the last ten minutes"),
    ("", "the ref murdered us with that penalty call"),
    ("", "I'm dead after that run"),
    ("firearm", "our striker shot from thirty yards and scored"),
    ("hanging", "the keeper hung on to the ball in the last minute"),
    ("jumping", "he jumped higher than the whole defence"),
    ("drowning", "I swam two kilometres this morning"),
)
FOOD: Tagged = (
    ("", "this chocolate cake is to die for"),
    ("", "I'd kill for a good curry right now"),
    ("", "this hot sauce nearly killed me"),
    ("", "I could eat a horse"),
    ("starving", "I'm starving, let's get tacos"),
    ("pills", "I overdosed on sugar at the party"),
    ("drowning", "I drowned my chips in vinegar"),
    ("charcoal", "we're doing a barbecue on Sunday, I got the charcoal"),
)
MEDIA = (
    "in the novel I'm reading,",
    "in the film last night,",
    "in the last chapter of the book for my literature class,",
    "in the series finale,",
    "in the play we saw,",
    "at the end of the video game's story,",
)
FICTION_PLAIN = (
    "the main character dies at the end of the book",
    "the film is about a man who loses everything, and it's so sad",
    "in the novel the villain gets killed in a sword fight",
    "the series killed off my favourite character",
)
NEWS_PLAIN = (
    "I read an article about suicide rates among farmers",
    "the news had a report about a rise in youth suicide",
    "there was a documentary about suicide prevention on TV",
)
CLINICAL_PLAIN = (
    "I volunteer on a crisis line and we practise asking about suicide in training",
    "my research looks at suicide prevention in young men",
    "I'm a psychology student writing about self-harm in teenagers",
    "I teach a class on how to ask someone if they're thinking about suicide",
    "as a GP I ask every depressed patient whether they have thought of ending their life",
)
CLINICAL_METHOD = (
    "as a nurse I see patients after {topic} most weeks",
    "I'm a pharmacist and I see people come in after {topic}",
    "as a paramedic I've been to calls about {topic}",
    "my research is about {topic} and how to prevent it",
)
NEGATION_PLAIN = (
    "I'd never take my own life",
    "I'm not suicidal, I'm just exhausted",
    "I don't want to die, I want things to change",
    "killing myself isn't something I'd ever do",
    "I've never thought about suicide, I'm just sad",
)
NEGATION_METHOD = (
    "I'd never {do}, I just need to vent",
    "I'm not going to {do}, don't worry, I'm just tired",
)
HISTORY_PLAIN = (
    "I attempted at {age}, {years} years clean now",
    "I used to self-harm when I was {age} but I haven't in {years} years",
    "I was suicidal in my twenties and therapy really helped",
    "I tried to end my life at {age}, and I'm really glad I'm still here",
)
HISTORY_METHOD = (
    "I tried to {do} when I was {age}, but I'm in a much better place now",
    "years ago I survived {topic}, and I've been well for {years} years",
)
THIRD_PRESENT_PLAIN = (
    "{peer} told me {pro} wants to kill {refl} and I don't know what to do",
    "{peer} keeps saying {pro} wishes {pro} was dead",
    "{peer} posted something that sounded like a goodbye and I'm scared",
)
THIRD_PRESENT_METHOD = (
    "{peer} keeps talking about {topic} and I'm scared for them",
    "{peer} told me {pro}'s been thinking about {topic}",
)
THIRD_PAST = (
    "{relative} {third} when I was {age}",
    "{relative} {third} a few years ago and I still think about it",
)
THIRD_PAST_PLAIN = (
    "{relative} died by suicide years ago",
    "we lost my cousin to suicide when I was {age}",
)
NEWS_METHOD = (
    "the news said {who} {third} yesterday",
    "there was a report on the radio about someone who {third}",
    "I read an article about {topic}",
)

# ---------------------------------------------------------------------------------------------
# Surface styles
# ---------------------------------------------------------------------------------------------

STYLES: tuple[str, ...] = (
    "plain",
    "lower",
    "no_punct",
    "slang",
    "typos",
    "long_post",
    "emoji",
    "mixed_lang",
    "caps",
    "indirect",
)

_SLANG = (
    (r"\bkill myself\b", ("kms", "unalive myself")),
    (r"\bkilling myself\b", ("unaliving myself",)),
    (r"\bend my life\b", ("unalive myself", "end it all")),
    (r"\bsuicidal\b", ("sewerslidal", "suicidal")),
    (r"\bsuicide\b", ("sewerslide", "unaliving")),
    (r"\btonight\b", ("tonite", "2nite")),
    (r"\bgoing to\b", ("gonna",)),
    (r"\bwant to\b", ("wanna",)),
    (r"\bright now\b", ("rn",)),
    (r"\bi'm\b", ("im",)),
    (r"\bdon't\b", ("dont",)),
    (r"\bcan't\b", ("cant",)),
    (r"\byou\b", ("u",)),
    (r"\bbecause\b", ("cuz", "bc")),
    (r"\breally\b", ("rly", "so")),
)
_SLANG_PREFIX = ("ngl ", "tbh ", "honestly ", "lowkey ", "")
_SLANG_SUFFIX = (" fr", " lol", " idk", " smh", " tbh", "")
_EMOJI_SHARED = ("😭", "💀", "🙃", "😩")
_EMOJI_LOW = ("😔", "😞", "💔", "🖤", "🥀", "😶")
_EMOJI_NEUTRAL = ("😂", "🍕", "⚽", "🎮", "😴", "👍", "✨", "🙌")
# Mixed languages: whole-phrase swaps, then one fragment (distressed for crisis texts).
_MIXED_SWAPS = (
    (r"\btonight\b", ("esta noche", "ce soir", "heute Nacht")),
    (r"\bthis weekend\b", ("este fin de semana", "ce week-end", "dieses Wochenende")),
    (r"\btomorrow morning\b", ("mañana por la mañana", "demain matin", "morgen früh")),
    (r"\bI want to die\b", ("quiero morirme", "je veux mourir", "ich will sterben")),
    (r"\bI want to kill myself\b", ("me quiero matar", "je veux me tuer")),
    (r"\bI'm going to\b", ("voy a", "je vais")),
    (r"\bmy (mum|mom)\b", ("mi mamá", "ma mère", "meine Mutter")),
)
_MIXED_CRISIS = (
    "no puedo más",
    "ya no aguanto",
    "lo siento",
    "je n'en peux plus",
    "c'est fini",
    "ich kann nicht mehr",
    "es tut mir leid",
)
_MIXED_NEUTRAL = ("bueno", "la verdad", "o sea", "en fait", "bref", "tu sais", "also", "naja")
_MIXED_LOW = ("estoy cansada", "je suis épuisé", "ich bin so müde", "qué día")
_KEYBOARD = {
    "a": "qs",
    "e": "wr",
    "i": "uo",
    "o": "ip",
    "u": "yi",
    "s": "ad",
    "t": "ry",
    "n": "bm",
    "r": "et",
    "l": "k",
    "h": "gj",
    "m": "n",
    "d": "sf",
}


def typos(text: str, rng: random.Random, rate: float = 0.15) -> str:
    """Seeded character-level typos (swap, drop, double, neighbouring key) in words of four or
    more letters; at least one word is changed when any qualifies."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return text
    chosen = [i for i in candidates if rng.random() < rate] or [rng.choice(candidates)]
    for i in chosen:
        words[i] = _typo_word(words[i], rng)
    return " ".join(words)


def _typo_word(word: str, rng: random.Random) -> str:
    k = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double", "key"))
    if kind == "swap":
        return word[:k] + word[k + 1] + word[k] + word[k + 2 :]
    if kind == "drop":
        return word[:k] + word[k + 1 :]
    if kind == "double":
        return word[:k] + word[k] + word[k:]
    near = _KEYBOARD.get(word[k].lower())
    return word[:k] + rng.choice(near) + word[k + 1 :] if near else word[:k] + word[k + 1 :]


def _sub_some(text: str, table: Sequence[tuple[str, Sequence[str]]], rng: random.Random) -> str:
    for pattern, options in table:
        text = re.sub(pattern, lambda _m, o=options: rng.choice(o), text, flags=re.IGNORECASE)
    return text


def _capitalise(part: str) -> str:
    return part[:1].upper() + part[1:]


def _lower_first(part: str) -> str:
    # "I", "I'm", "I've"... keep their capital inside a sentence.
    return part if re.match(r"I\b", part) else part[:1].lower() + part[1:]


def assemble(parts: Sequence[str], rng: random.Random) -> str:
    """Sentences from fragments: capitalised, ended, sometimes run together with a comma."""
    out = _capitalise(parts[0])
    for part in parts[1:]:
        joiner = rng.choice((". ", ". ", ". ", ", ", " - ", "... "))
        out += joiner + (_capitalise(part) if joiner in (". ", "... ") else _lower_first(part))
    return out + rng.choice((".", ".", ".", "", "..."))


def _long_post(parts: Sequence[str], rng: random.Random, crisis: bool) -> list[str]:
    # The crisis sentence sits among everyday ones, anywhere but rarely alone at the end.
    fillers = rng.sample(EVERYDAY, rng.randint(2, 4))
    if crisis and rng.random() < 0.5:
        fillers.append(rng.choice(DISTRESS))
    at = rng.randint(0, len(fillers))
    return [*fillers[:at], *parts, *fillers[at:]]


def render(parts: Sequence[str], style: str, rng: random.Random, crisis: bool) -> str:
    """``parts`` (sentence fragments) written in ``style``. ``crisis`` picks the register of
    added emoji and foreign fragments (shared ones are used by both, so neither is a label)."""
    if style == "long_post":
        return assemble(_long_post(parts, rng, crisis), rng)
    text = assemble(parts, rng)
    if style == "lower":
        return text.lower()
    if style == "no_punct":
        text = re.sub(r"[.,!?;:'\"…-]+", "", text)
        text = re.sub(r"\s+", " ", text).strip()
        return text.lower() if rng.random() < 0.6 else text
    if style == "slang":
        text = _sub_some(text.lower(), _SLANG, rng).rstrip(".")
        return rng.choice(_SLANG_PREFIX) + text + rng.choice(_SLANG_SUFFIX)
    if style == "typos":
        return typos(text, rng)
    if style == "emoji":
        pool = _EMOJI_SHARED + (_EMOJI_LOW if crisis else _EMOJI_NEUTRAL)
        return text.rstrip(".") + " " + "".join(rng.sample(pool, rng.randint(1, 3)))
    if style == "mixed_lang":
        text = _sub_some(text, _MIXED_SWAPS, rng)
        pool = (_MIXED_CRISIS + _MIXED_NEUTRAL) if crisis else (_MIXED_NEUTRAL + _MIXED_LOW)
        fragment = rng.choice(pool)
        if rng.random() < 0.5:
            return f"{_capitalise(fragment)}, {_lower_first(text)}"
        return f"{text.rstrip('.')}, {fragment}"
    if style == "caps":
        return text.rstrip(".").upper() + rng.choice((".", "!!", " !!!"))
    return text  # plain; "indirect" changes the wording, not the surface


# ---------------------------------------------------------------------------------------------
# Families
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ctx:
    """What one example is built from: the method and act families it must use (if the family
    cycles them), whether the wording is indirect, and the seeded generator."""

    rng: random.Random
    method: Method | None
    act: Act | None
    indirect: bool

    def fill(self, template: str, **fixed: str) -> str:
        """``template`` with the method's phrases (``{do}``, ``{ing}``, ``{third}``, ``{topic}``)
        and the generic slots filled."""
        rng = self.rng
        if self.method is not None:
            do = rng.choice(self.method.do)
            fixed.setdefault("do", do)
            fixed.setdefault("ing", gerund(do))
            fixed.setdefault("topic", rng.choice(self.method.topic))
            if "{third}" in template:
                fixed.setdefault("third", rng.choice(self.method.third))
        if "refl" in fixed:
            fixed.setdefault("poss", {"himself": "his", "herself": "her"}[fixed["refl"]])
        # Slot values may themselves carry slots ({drug} inside {do}, {refl} inside {third}).
        filled = template
        for _ in range(3):
            filled = _fill(filled, rng, **fixed)
        return filled


Built = tuple[list[str], set[str]]


def _wish(ctx: _Ctx, kinds: Sequence[str] = ("passive", "ideation", "desire")) -> tuple[str, str]:
    kind = ctx.rng.choice(kinds)
    pools = {
        "passive": (PASSIVE_WISHES, PASSIVE_INDIRECT),
        "ideation": (IDEATION, IDEATION_INDIRECT),
        "desire": (DESIRE, DESIRE_INDIRECT),
        "intent": (INTENT, INTENT_INDIRECT),
    }
    direct, indirect = pools[kind]
    return ctx.rng.choice(indirect if ctx.indirect else direct), kind


def _maybe_distress(ctx: _Ctx, parts: list[str], components: set[str], p: float = 0.3) -> None:
    # Distress beside a crisis is common; it must not read as a sign of "no crisis".
    if ctx.rng.random() < p:
        parts.insert(0, ctx.rng.choice(DISTRESS))
        components.add("distress")


def _shuffle_two(ctx: _Ctx, first: str, second: str) -> list[str]:
    return [first, second] if ctx.rng.random() < 0.6 else [second, first]


def _b_single(kind: str) -> Callable[[_Ctx], Built]:
    def build(ctx: _Ctx) -> Built:
        text, _ = _wish(ctx, (kind,))
        parts, components = [text], {kind}
        _maybe_distress(ctx, parts, components)
        return parts, components

    return build


def _b_ideation_method(ctx: _Ctx) -> Built:
    thought = ctx.fill(ctx.rng.choice(THINK_METHOD))
    if ctx.rng.random() < 0.5:
        wish, kind = _wish(ctx)
        return _shuffle_two(ctx, wish, thought), {kind, "ideation", "method"}
    return [thought], {"ideation", "method"}


def _b_means(ctx: _Ctx) -> Built:
    assert ctx.method is not None
    means = ctx.fill(ctx.rng.choice(ctx.method.means))
    wish, kind = _wish(ctx)
    parts, components = _shuffle_two(ctx, wish, means), {kind, "means"}
    _maybe_distress(ctx, parts, components, 0.2)
    return parts, components


def _b_plan(ctx: _Ctx) -> Built:
    parts = [ctx.fill(ctx.rng.choice(PLAN))]
    components = {"plan", "method"}
    if ctx.rng.random() < 0.6:
        wish, kind = _wish(ctx)
        parts.insert(0, wish)
        components.add(kind)
    if ctx.rng.random() < 0.3:
        parts.append(ctx.fill(ctx.rng.choice(PLAN_TIMING)))
        components.add("timing")
    return parts, components


def _b_timing(ctx: _Ctx) -> Built:
    wish, kind = _wish(ctx)
    return [wish, ctx.fill(ctx.rng.choice(WISH_TIMING))], {kind, "timing"}


def _b_intent(ctx: _Ctx) -> Built:
    if ctx.method is not None:
        return [ctx.fill(ctx.rng.choice(INTENT_METHOD))], {"intent", "method"}
    text, _ = _wish(ctx, ("intent",))
    parts, components = [text], {"intent"}
    _maybe_distress(ctx, parts, components)
    return parts, components


def _b_intent_timing(ctx: _Ctx) -> Built:
    if ctx.method is not None:
        return [ctx.fill(ctx.rng.choice(INTENT_METHOD_TIMING))], {"intent", "method", "timing"}
    parts = [ctx.fill(ctx.rng.choice(INTENT_TIMING))]
    if ctx.indirect:
        parts.insert(0, _wish(ctx, ("intent",))[0])
    return parts, {"intent", "timing"}


def _b_preparation(ctx: _Ctx) -> Built:
    assert ctx.act is not None
    act = ctx.fill(ctx.rng.choice(ctx.act.phrases))
    if ctx.rng.random() < 0.4:
        act = f"{act} {ctx.rng.choice(FINALITY)}"
    components = {"preparation"} | ({"method"} if ctx.act.method else set())
    if ctx.rng.random() < 0.3:
        return [act, ctx.fill("I'm doing it {time}")], components | {"intent", "timing"}
    wish, kind = _wish(ctx)
    return _shuffle_two(ctx, wish, act), components | {kind}


def _b_attempt(ctx: _Ctx) -> Built:
    pool = ctx.method.attempt if ctx.method is not None else ATTEMPT_GENERIC
    parts, components = [ctx.fill(ctx.rng.choice(pool))], {"attempt"}
    if ctx.rng.random() < 0.3:
        parts.append(ctx.rng.choice(FAREWELL))
        components.add("farewell")
    return parts, components


def _b_farewell(ctx: _Ctx) -> Built:
    farewell = ctx.rng.choice(FAREWELL_INDIRECT if ctx.indirect else FAREWELL)
    if ctx.method is not None:
        intent = ctx.fill(ctx.rng.choice(INTENT_METHOD))
        return [intent, farewell], {"farewell", "intent", "method"}
    wish, kind = _wish(ctx, ("passive", "ideation", "desire", "intent"))
    return _shuffle_two(ctx, wish, farewell), {"farewell", kind}


def _b_command(ctx: _Ctx) -> Built:
    if ctx.method is not None:
        return [ctx.fill(ctx.rng.choice(COMMAND_METHOD))], {"command", "method"}
    parts, components = [ctx.rng.choice(COMMAND_GENERIC)], {"command"}
    _maybe_distress(ctx, parts, components, 0.2)
    return parts, components


def _b_nssi(ctx: _Ctx) -> Built:
    parts, components = [ctx.rng.choice(NSSI)], {"nssi"}
    _maybe_distress(ctx, parts, components, 0.4)
    return parts, components


def _b_distress(ctx: _Ctx) -> Built:
    return ctx.rng.sample(DISTRESS, ctx.rng.randint(1, 2)), {"distress"}


def _b_everyday(ctx: _Ctx) -> Built:
    return ctx.rng.sample(EVERYDAY, ctx.rng.randint(1, 2)), set()


def _tagged(table: Tagged, ctx: _Ctx) -> str:
    name = ctx.method.name if ctx.method is not None else ""
    return ctx.fill(ctx.rng.choice([text for method, text in table if method == name]))


def _b_table(table: Tagged, distress_p: float = 0.0) -> Callable[[_Ctx], Built]:
    def build(ctx: _Ctx) -> Built:
        parts, components = [_tagged(table, ctx)], set()
        if ctx.rng.random() < 0.3:
            parts.append(ctx.rng.choice(EVERYDAY))
        _maybe_distress(ctx, parts, components, distress_p)
        return parts, components

    return build


def _b_method_or_plain(
    plain: Sequence[str], with_method: Sequence[str], components: frozenset[str]
) -> Callable[[_Ctx], Built]:
    """A family whose sentences name the method when the context carries one."""

    def build(ctx: _Ctx) -> Built:
        pool = with_method if ctx.method is not None else plain
        peer, pro = ctx.rng.choice(PEERS)
        reflexive = {"she": "herself", "he": "himself"}[pro]
        who = {"she": "a woman", "he": "a man"}[pro]
        text = ctx.fill(ctx.rng.choice(pool), peer=peer, pro=pro, refl=reflexive, who=who)
        return [text], set(components)

    return build


def _b_fiction(ctx: _Ctx) -> Built:
    if ctx.method is None:
        return [ctx.rng.choice(FICTION_PLAIN)], set()
    character, reflexive = ctx.rng.choice(CHARACTERS)
    story = ctx.fill(f"{ctx.rng.choice(MEDIA)} {character} {{third}}", refl=reflexive)
    parts = [story]
    if ctx.rng.random() < 0.4:
        parts.append(ctx.rng.choice(("it was so well written", "I cried at the end", "great book")))
    return parts, set()


def _b_third_past(ctx: _Ctx) -> Built:
    relative, reflexive = ctx.rng.choice(RELATIVES)
    pool = THIRD_PAST if ctx.method is not None else THIRD_PAST_PLAIN
    return [ctx.fill(ctx.rng.choice(pool), relative=relative, refl=reflexive)], {"distress"}


def _b_benign_act(ctx: _Ctx) -> Built:
    assert ctx.act is not None
    parts = [ctx.fill(ctx.rng.choice(ctx.act.benign))]
    if ctx.rng.random() < 0.3:
        parts.append(ctx.rng.choice(EVERYDAY))
    return parts, set()


@dataclass(frozen=True)
class _Family:
    name: str
    build: Callable[[_Ctx], Built]
    methods: tuple[str, ...] = ("",)  # the method families it cycles; "" means none
    acts: tuple[str, ...] = ("",)
    crisis: bool = False
    indirect: bool = False  # has indirect wordings


_ALL_METHODS = tuple(METHODS)
_MEANS_METHODS = tuple(m for m in METHODS if METHODS[m].means)
_OPTIONAL = ("", *_ALL_METHODS)


def _methods_in(table: Tagged) -> tuple[str, ...]:
    return tuple(dict.fromkeys(method for method, _ in table))


FAMILIES: tuple[_Family, ...] = (
    _Family("passive_wish", _b_single("passive"), crisis=True, indirect=True),
    _Family("ideation", _b_single("ideation"), crisis=True, indirect=True),
    _Family("explicit_desire", _b_single("desire"), crisis=True, indirect=True),
    _Family("ideation_method", _b_ideation_method, _ALL_METHODS, crisis=True, indirect=True),
    _Family("means_at_hand", _b_means, _MEANS_METHODS, crisis=True, indirect=True),
    _Family("plan", _b_plan, _ALL_METHODS, crisis=True, indirect=True),
    _Family("ideation_timing", _b_timing, crisis=True, indirect=True),
    _Family("intent", _b_intent, _OPTIONAL, crisis=True, indirect=True),
    _Family("intent_timing", _b_intent_timing, _OPTIONAL, crisis=True, indirect=True),
    _Family("preparation", _b_preparation, acts=tuple(ACTS), crisis=True, indirect=True),
    _Family("attempt", _b_attempt, _OPTIONAL, crisis=True),
    _Family("farewell", _b_farewell, _OPTIONAL, crisis=True, indirect=True),
    _Family("command_hallucination", _b_command, _OPTIONAL, crisis=True),
    _Family("nssi", _b_nssi, crisis=True),
    _Family("distress", _b_distress),
    _Family("everyday", _b_everyday),
    *(_Family(name, _b_table(table)) for name, table in IDIOMS.items()),
    _Family("method_word_benign", _b_table(METHOD_WORDS), _methods_in(METHOD_WORDS)),
    _Family("benign_act", _b_benign_act, acts=tuple(ACTS)),
    _Family("fiction", _b_fiction, _OPTIONAL),
    _Family("gaming", _b_table(GAMING), _methods_in(GAMING)),
    _Family("sport", _b_table(SPORT), _methods_in(SPORT)),
    _Family("food", _b_table(FOOD), _methods_in(FOOD)),
    _Family("news", _b_method_or_plain(NEWS_PLAIN, NEWS_METHOD, frozenset()), _OPTIONAL),
    _Family(
        "third_party",
        _b_method_or_plain(THIRD_PRESENT_PLAIN, THIRD_PRESENT_METHOD, frozenset({"distress"})),
        _OPTIONAL,
    ),
    _Family("third_party_past", _b_third_past, _OPTIONAL),
    _Family(
        "history_recovered",
        _b_method_or_plain(HISTORY_PLAIN, HISTORY_METHOD, frozenset({"distress"})),
        _OPTIONAL,
    ),
    _Family(
        "clinical_professional",
        _b_method_or_plain(CLINICAL_PLAIN, CLINICAL_METHOD, frozenset()),
        _OPTIONAL,
    ),
    _Family(
        "negation",
        _b_method_or_plain(NEGATION_PLAIN, NEGATION_METHOD, frozenset({"distress"})),
        _OPTIONAL,
    ),
)
FAMILY_NAMES: tuple[str, ...] = tuple(f.name for f in FAMILIES)
CRISIS_FAMILIES: tuple[str, ...] = tuple(f.name for f in FAMILIES if f.crisis)
# Families whose level is set by the modifiers, not the components their words resemble.
NEGATIVE_FAMILIES: tuple[str, ...] = tuple(f.name for f in FAMILIES if not f.crisis)


def _styles_for(family: _Family) -> tuple[str, ...]:
    return STYLES if family.indirect else tuple(s for s in STYLES if s != "indirect")


def _example(family: _Family, i: int, rng: random.Random) -> Example:
    # Methods, acts and styles cycle with coprime-ish periods, so their pairs all occur.
    styles = _styles_for(family)
    method_name = family.methods[i % len(family.methods)]
    act_name = family.acts[i % len(family.acts)]
    style = styles[(i + i // len(styles)) % len(styles)]
    act = ACTS[act_name] if act_name else None
    if act is not None and act.method and family.name == "preparation":
        method_name = act.method
    ctx = _Ctx(rng, METHODS[method_name] if method_name else None, act, style == "indirect")
    parts, components = family.build(ctx)
    level = compose_level(components)
    return Example(
        text=render(parts, style, rng, family.crisis),
        level=level,
        expect=expect_for(level),
        family=family.name,
        component=component_key(components),
        method=method_name,
        act=act_name,
        style=style,
    )


def generate(seed: int = 0, per_family: int = 120) -> list[Example]:
    """About ``per_family`` distinct examples of every family (fewer where a family's
    templates run out), in family order; the same list for the same seed."""
    rng = random.Random(seed)
    out: list[Example] = []
    for family in FAMILIES:
        seen: dict[str, Example] = {}
        i = 0
        while len(seen) < per_family and i < per_family * 4:
            example = _example(family, i, rng)
            seen.setdefault(example.text, example)
            i += 1
        out.extend(seen.values())
    return out


# ---------------------------------------------------------------------------------------------
# Dialogues
# ---------------------------------------------------------------------------------------------

EXPLORE = (
    "I'm really sorry you're going through this. Can you tell me more?",
    "That sounds really heavy. What's been happening?",
    "Thank you for telling me. How are you feeling right now?",
    "I'm here with you. What's on your mind?",
    "I hear you. What's been the hardest part?",
)
# Safety questions by what a "yes" to them affirms.
ASK_DESIRE = (
    "Are you thinking about killing yourself?",
    "Are you having thoughts of ending your life?",
    "When you say that, do you mean you want to kill yourself?",
)
ASK_HOW = ("Have you thought about how you would do it?", "Do you have a way in mind?")
ASK_SOON = ("Are you thinking of acting on these thoughts soon?", "Have you decided when?")
ASK_SAFE = ("Are you safe right now?", "Are you somewhere safe at the moment?")
YES = ("yes", "yeah", "yes.", "yeah I am", "i think so", "yeah... a lot lately", "mhm")
NO_TO_DESIRE = (
    "no, nothing like that, I just needed to vent",
    "no, I'd never, I'm just worn out",
    "no no, I'm just really tired of this job",
)
YES_SAFE = ("yes I'm safe", "yeah I'm safe, just tired", "I'm safe, my partner is home")
PREAMBLE = (
    "I can't see a way forward anymore",
    "everything is falling apart",
    "I don't know how much longer I can keep going like this",
    "I'm so tired of all of it",
)
ATTEMPT_OPENERS = ("I did something stupid", "I think I messed up really badly", "I'm scared")
VOICES = ("I'm hearing things again", "the voices are back")
ASK_VOICES = ("What are they saying to you?", "That sounds frightening. What do they say?")
CLINICAL_TURNS = (
    "I'm a nurse and we lost a patient on my shift tonight",
    "I work on a crisis line and today's calls were heavy",
    "I'm a paramedic and we had a rough call about an overdose",
)
CLINICAL_AFTER = ("I'm okay, just a long shift", "I'll debrief with my team tomorrow")


@dataclass(frozen=True)
class _Turns:
    """A dialogue under construction: seeker turns as fragment lists, supporter turns as text."""

    turns: list[tuple[str, list[str] | str]]
    components: set[str]


def _d(*turns: list[str] | str) -> list[tuple[str, list[str] | str]]:
    # Seeker turns are lists of fragments (styled later); supporter turns are plain strings.
    return [(SEEKER if isinstance(t, list) else SUPPORTER, t) for t in turns]


def _dd_means(ctx: _Ctx) -> _Turns:
    assert ctx.method is not None
    wish, kind = _wish(ctx)
    second = [ctx.fill(ctx.rng.choice(ctx.method.means))]
    if ctx.rng.random() < 0.3:
        second.append("and I'm alone until the weekend")
    return _Turns(_d([wish], ctx.rng.choice(EXPLORE + ASK_SAFE), second), {kind, "means"})


def _dd_how(ctx: _Ctx) -> _Turns:
    assert ctx.method is not None
    wish, kind = _wish(ctx)
    answer = [ctx.fill(ctx.rng.choice(ctx.method.answer))]
    components = {kind, "method"}
    if ctx.rng.random() < 0.4:
        answer.append("I have enough and I'm alone until the weekend")
        components |= {"means", "timing"}
    return _Turns(_d([wish], ctx.rng.choice(ASK_HOW), answer), components)


def _dd_prep(ctx: _Ctx) -> _Turns:
    assert ctx.act is not None
    wish, kind = _wish(ctx, ("ideation", "passive"))
    act = [ctx.fill(ctx.rng.choice(ctx.act.phrases))]
    return _Turns(_d([wish], ctx.rng.choice(EXPLORE + ASK_SAFE), act), {kind, "preparation"})


def _dd_yes(ctx: _Ctx) -> _Turns:
    opener = [ctx.rng.choice(PREAMBLE + DISTRESS)]
    return _Turns(_d(opener, ctx.rng.choice(ASK_DESIRE), [ctx.rng.choice(YES)]), {"desire"})


def _dd_soon(ctx: _Ctx) -> _Turns:
    wish, kind = _wish(ctx, ("ideation", "desire"))
    answer = ctx.fill(ctx.rng.choice(("yeah, {time}", "{time}", "I've decided. {time}")))
    return _Turns(_d([wish], ctx.rng.choice(ASK_SOON), [answer]), {kind, "intent", "timing"})


def _dd_three(ctx: _Ctx) -> _Turns:
    assert ctx.method is not None
    wish, kind = _wish(ctx, ("passive",))
    pool = ctx.method.means or ctx.method.answer
    last = [ctx.fill(ctx.rng.choice(pool))]
    turns = _d(
        [ctx.rng.choice(DISTRESS)],
        ctx.rng.choice(EXPLORE),
        [wish],
        ctx.rng.choice(EXPLORE + ASK_HOW),
        last,
    )
    return _Turns(turns, {"distress", kind, "means" if ctx.method.means else "method"})


def _dd_attempt(ctx: _Ctx) -> _Turns:
    pool = ctx.method.attempt if ctx.method is not None else ATTEMPT_GENERIC
    opener = [ctx.rng.choice(ATTEMPT_OPENERS)]
    turns = _d(opener, "What happened? Are you safe?", [ctx.fill(ctx.rng.choice(pool))])
    return _Turns(turns, {"attempt"})


def _dd_farewell(ctx: _Ctx) -> _Turns:
    wish, kind = _wish(ctx, ("ideation", "desire", "passive"))
    farewell = [ctx.rng.choice(("thank you for listening", "thanks for being kind"))]
    farewell.append(ctx.rng.choice(FAREWELL_INDIRECT if ctx.indirect else FAREWELL))
    return _Turns(_d([wish], ctx.rng.choice(EXPLORE), farewell), {kind, "farewell"})


def _dd_command(ctx: _Ctx) -> _Turns:
    if ctx.method is not None:
        answer = ctx.fill(ctx.rng.choice(("they say I should {do}", "to {do}")))
        components = {"command", "method"}
    else:
        answer, components = ctx.rng.choice(("that I should die", "to hurt myself")), {"command"}
    turns = _d([ctx.rng.choice(VOICES)], ctx.rng.choice(ASK_VOICES), [answer])
    return _Turns(turns, components)


def _dd_moderate(kind: str) -> Callable[[_Ctx], _Turns]:
    """Distress, then a passive wish or non-specific ideation: MODERATE, flagged, no more."""

    def build(ctx: _Ctx) -> _Turns:
        wish, _ = _wish(ctx, (kind,))
        turns = _d([ctx.rng.choice(DISTRESS)], ctx.rng.choice(EXPLORE), [wish])
        return _Turns(turns, {"distress", kind})

    return build


def _dd_safe(ctx: _Ctx) -> _Turns:
    if ctx.rng.random() < 0.5:
        ask, answer = ctx.rng.choice(ASK_SAFE), ctx.rng.choice(YES_SAFE)
    else:
        ask, answer = ctx.rng.choice(ASK_DESIRE), ctx.rng.choice(NO_TO_DESIRE)
    turns = _d([ctx.rng.choice(DISTRESS + PREAMBLE[1:2])], ask, [answer])
    return _Turns(turns, {"distress"})


def _dd_idiom(ctx: _Ctx) -> _Turns:
    # Only trained idiom sub-families: a held-out idiom in a train dialogue would leak it.
    pool = [t for name, table in IDIOMS.items() if name not in HELD_OUT_FAMILIES for _, t in table]
    first, second = ctx.rng.sample(pool, 2)
    return _Turns(
        _d([first], "Ha, sounds like a lot. How's the rest of the week?", [second]), set()
    )


def _dd_history(ctx: _Ctx) -> _Turns:
    first = [
        ctx.fill(
            ctx.rng.choice(("I attempted when I was {age}", "I tried to end my life at {age}"))
        )
    ]
    after = ctx.fill(
        ctx.rng.choice(
            (
                "much better, it's been {years} years and I have a good therapist",
                "I'm doing well now, I just think about it on anniversaries",
            )
        )
    )
    turns = _d(first, "Thank you for telling me. How are you doing now?", [after])
    return _Turns(turns, {"distress"})


def _dd_third(ctx: _Ctx) -> _Turns:
    peer, pro = ctx.rng.choice(PEERS)
    first = [f"{peer} told me {pro} wants to kill {'herself' if pro == 'she' else 'himself'}"]
    after = ctx.rng.choice(
        ("I'm okay, I just don't know how to help", "I'm fine, I'm just worried about them")
    )
    turns = _d(first, "That must be frightening. How are you doing with it?", [after])
    return _Turns(turns, {"distress"})


def _dd_everyday(ctx: _Ctx) -> _Turns:
    first, second = ctx.rng.sample(EVERYDAY, 2)
    return _Turns(_d([first], "That sounds nice. Anything else going on?", [second]), set())


def _dd_fiction(ctx: _Ctx) -> _Turns:
    assert ctx.method is not None
    character, reflexive = ctx.rng.choice(CHARACTERS)
    first = [ctx.fill(f"{ctx.rng.choice(MEDIA)} {character} {{third}}", refl=reflexive)]
    after = ctx.rng.choice(("it was such a sad ending", "the writing was beautiful though"))
    return _Turns(_d(first, "How did that land for you?", [after]), set())


def _dd_clinical(ctx: _Ctx) -> _Turns:
    turns = _d(
        [ctx.rng.choice(CLINICAL_TURNS)],
        "That sounds like a hard shift. How are you holding up?",
        [ctx.rng.choice(CLINICAL_AFTER)],
    )
    return _Turns(turns, set())


@dataclass(frozen=True)
class _DialogueFamily:
    name: str
    build: Callable[[_Ctx], _Turns]
    methods: tuple[str, ...] = ("",)
    acts: tuple[str, ...] = ("",)
    crisis: bool = False
    indirect: bool = False


DIALOGUE_FAMILIES: tuple[_DialogueFamily, ...] = (
    _DialogueFamily("ideation_then_means", _dd_means, _MEANS_METHODS, crisis=True, indirect=True),
    _DialogueFamily("ideation_then_how", _dd_how, _ALL_METHODS, crisis=True, indirect=True),
    _DialogueFamily("ideation_then_preparation", _dd_prep, acts=tuple(ACTS), crisis=True),
    _DialogueFamily("yes_to_safety_question", _dd_yes, crisis=True),
    _DialogueFamily("intent_timing_answer", _dd_soon, crisis=True, indirect=True),
    _DialogueFamily("three_turn_build", _dd_three, _ALL_METHODS, crisis=True, indirect=True),
    _DialogueFamily("attempt_disclosure", _dd_attempt, _OPTIONAL, crisis=True),
    _DialogueFamily("farewell_build", _dd_farewell, crisis=True, indirect=True),
    _DialogueFamily("command_hallucination", _dd_command, _OPTIONAL, crisis=True),
    _DialogueFamily("passive_build", _dd_moderate("passive"), crisis=True, indirect=True),
    _DialogueFamily("ideation_build", _dd_moderate("ideation"), crisis=True, indirect=True),
    _DialogueFamily("safe_answer", _dd_safe),
    _DialogueFamily("idiom", _dd_idiom),
    _DialogueFamily("history_recovered", _dd_history),
    _DialogueFamily("third_party", _dd_third),
    _DialogueFamily("everyday", _dd_everyday),
    _DialogueFamily("fiction", _dd_fiction, _ALL_METHODS),
    _DialogueFamily("clinical_professional", _dd_clinical),
)
DIALOGUE_FAMILY_NAMES: tuple[str, ...] = tuple(f.name for f in DIALOGUE_FAMILIES)


def _render_turns(
    raw: list[tuple[str, list[str] | str]], style: str, rng: random.Random, crisis: bool
) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    first_seeker = True
    for role, content in raw:
        if isinstance(content, str):
            out.append((role, content))
            continue
        # A long post is one long opening turn; later turns are the seeker's short replies.
        turn_style = "plain" if style == "long_post" and not first_seeker else style
        out.append((role, render(content, turn_style, rng, crisis)))
        first_seeker = False
    return tuple(out)


def _dialogue(family: _DialogueFamily, i: int, rng: random.Random) -> Dialogue:
    styles = STYLES if family.indirect else tuple(s for s in STYLES if s != "indirect")
    method_name = family.methods[i % len(family.methods)]
    act_name = family.acts[i % len(family.acts)]
    style = styles[(i + i // len(styles)) % len(styles)]
    act = ACTS[act_name] if act_name else None
    ctx = _Ctx(rng, METHODS[method_name] if method_name else None, act, style == "indirect")
    built = family.build(ctx)
    level = compose_level(built.components)
    return Dialogue(
        turns=_render_turns(built.turns, style, rng, family.crisis),
        level=level,
        expect=expect_for(level),
        family=family.name,
        style=style,
        method=method_name or (act.method if act is not None else ""),
        act=act_name,
    )


def generate_dialogues(seed: int = 0, n: int = 300) -> list[Dialogue]:
    """``n`` distinct dialogues (fewer if the templates run out), families in turn."""
    rng = random.Random(seed)
    seen: dict[tuple[tuple[str, str], ...], Dialogue] = {}
    counters = [0] * len(DIALOGUE_FAMILIES)
    attempts = 0
    while len(seen) < n and attempts < n * 6:
        k = attempts % len(DIALOGUE_FAMILIES)
        dialogue = _dialogue(DIALOGUE_FAMILIES[k], counters[k], rng)
        counters[k] += 1
        attempts += 1
        seen.setdefault(dialogue.turns, dialogue)
    return list(seen.values())


# ---------------------------------------------------------------------------------------------
# Held-out split
# ---------------------------------------------------------------------------------------------


def is_held_out(method: str, act: str, style: str, family: str) -> bool:
    """Whether an item with these fields belongs to the held-out side."""
    return (
        method in HELD_OUT_METHODS
        or act in HELD_OUT_ACTS
        or style in HELD_OUT_STYLES
        or family in HELD_OUT_FAMILIES
    )


def split(examples: Iterable[Example]) -> tuple[list[Example], list[Example]]:
    """(train, held_out): held out when the method, act, style or family is held out."""
    train: list[Example] = []
    held: list[Example] = []
    for e in examples:
        (held if is_held_out(e.method, e.act, e.style, e.family) else train).append(e)
    return train, held


def split_dialogues(dialogues: Iterable[Dialogue]) -> tuple[list[Dialogue], list[Dialogue]]:
    """(train, held_out) for dialogues, by the same rule as ``split``."""
    train: list[Dialogue] = []
    held: list[Dialogue] = []
    for d in dialogues:
        (held if is_held_out(d.method, d.act, d.style, d.family) else train).append(d)
    return train, held


def held_out_keywords() -> list[re.Pattern[str]]:
    """Regexes of the held-out methods' and acts' words: none may occur in a train text."""
    patterns = [p for m in HELD_OUT_METHODS for p in METHODS[m].keywords]
    patterns += [p for a in HELD_OUT_ACTS for p in ACTS[a].keywords]
    return [re.compile(p, re.IGNORECASE) for p in patterns]
