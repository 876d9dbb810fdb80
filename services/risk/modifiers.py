"""The modifiers that lower or redirect a component: negation, past and recovered, third party,
fiction / media / study, professional context, routine use. Idioms are cut out earlier
(``normalise.strip_idioms``).

A modifier only applies when it clearly does: negation reaches back a few words inside its
clause, a fiction or professional frame yields to the seeker joining in ("me too", "myself"),
and past tense counts as history only with a history or recovery marker and no recent one.
"""

from __future__ import annotations

import re

RECURRENCE = re.compile(
    r"\b(?:thinking|thought|think) (?:about )?(?:it|doing it|that|trying) again\b|"
    r"\b(?:feel|feeling|felt) (?:that way|like that|the same way) again\b|"
    r"\b(?:want|wants) to (?:try|do it) again\b|"
    r"\b(?:the )?(?:thoughts|urges|feelings) (?:are|have|have come|came|keep coming) back\b|"
    r"\brelaps(?:e|ed|ing)\b"
)
FICTION = re.compile(
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
FICTION_OVERRIDE = re.compile(r"\b(?:me too|too|as well|also|like (?:him|her|them))\b")
# Markers that put the evidence in the past, and markers of recovery since.
HISTORY = re.compile(
    r"\b(?:years? ago|months ago|(?:a )?long time ago|when i was (?:younger|little|a (?:kid|teen|"
    r"teenager|child|student)|in (?:high school|school|college|uni|university|my teens)|\d+|"
    r"(?:thir|four|fif|six|seven|eigh|nine)teen|(?:twenty|thirty|forty|fifty)(?:[ -]\w+)?)|"
    r"as a (?:teen|teenager|kid|child)|in (?:high school|college|my teens|my twenties|the past)|"
    r"back (?:then|in)|used to|(?:\d+|a few|several|many|two|three|ten) years back|previously|"
    r"in (?:19|20)\d\d|once before|once when|in my past|history of)\b"
)
RECOVERY = re.compile(
    r"\b(?:(?:doing|feeling|much|a lot|so much|way) better(?: now)?|recovered|in recovery|"
    r"(?:\d+|a few|two|three|many|several) (?:days|weeks|months|years) clean|clean for|"
    r"(?:got|getting|have been getting|have gotten) (?:help|treatment|therapy)|not anymore|"
    r"no longer|(?:in )?a (?:good|better|safe) place|"
    r"glad i (?:survived|am (?:still )?here|did not)|"
    r"grateful (?:to be|i am) (?:alive|here)|have not (?:self harmed|cut|felt that way) (?:in|for)|"
    r"(?:those|the) (?:thoughts|feelings) (?:are|have) (?:gone|passed))\b"
)
RECENT = re.compile(
    r"\b(?:last (?:night|week|weekend|month)|yesterday|recently|(?:a few|two|three|\d+) "
    r"(?:days|hours) ago|this (?:week|month|morning)|earlier today|just now|again|relapsed|"
    r"relapse)\b"
)
PAST = re.compile(
    r"\b(?:wanted|wished|was|were|thought|felt|tried|attempted|took|taken|overdosed|cut|burned|burnt|"
    r"survived|hurt|harmed|had|swallowed|wrote|gave|made|stood|sat|jumped|drank|walked|drove)\b"
)
# "if i was gone", "wish i were dead" are conditionals, not past tense.
CONDITIONAL = re.compile(r"\b(?:if|wish|that|as if) i (?:was|were)\b")
ROUTINE = re.compile(
    r"\b(?:as usual|like usual|as prescribed|like (?:my|the) doctor said|every (?:day|morning|"
    r"night|evening)|on time|like i am supposed to|by mistake)\b"
)
# Negation cues close to a match cancel it ("I would never hurt myself", "no thoughts of ...").
NEGATION = re.compile(
    r"\b(?:never|not|no|nor|without|none|neither|no longer|nothing like|"
    r"stopped|stop|quit|denies|deny|free of)\b"
)
# Phrases that contain a negation word but do not negate the evidence that follows.
NOT_NEGATION = re.compile(
    r"\b(?:can not|could not|can not seem to) (?:stop|help|shake|get rid of)\b|"
    r"\b(?:do not|did not) know (?:if|whether|why|how|what)\b|\bnot sure (?:if|whether)?\b|"
    r"\bno one\b|\bnobody\b|\bnot even\b|\bnot just\b|\bdo not think i can\b|"
    r"\bcan not (?:take|do|handle|stand|cope)\b|\bno (?:matter|idea)\b|"
    r"\bdo not see (?:the )?point\b|\bwhy not\b|\bnot okay\b|\bnot ok\b|\bnot fine\b"
)
# A clause ends at punctuation or a conjunction; negation does not reach across it.
CLAUSE_BREAK = re.compile(r"[,;:\-–—()\"]|\b(?:but|and|because|so|though|although|yet|however)\b")
# Professional and study frames: a nurse's patients, a pharmacist's shift, a paper on prevention.
PROFESSIONAL = re.compile(
    r"\b(?:as an?|i am an?|i work as an?|work as an?|training as an?|i am training to be an?) "
    r"(?:\w+ )?(?:nurse|doctor|paramedic|pharmacist|therapist|counsell?or|psychiatrist|"
    r"psychologist|social worker|researcher|volunteer|emt|police officer|teacher|medic|"
    r"clinician|carer|gp|chaplain|coroner|firefighter|lifeguard|student nurse)\b|"
    r"\b(?:my|our|a|the) (?:patients?|clients?|callers?|caseload)\b|"
    # A role, not a place: "at work", "on shift", "on the ward", "in A&E" say where someone is
    # ("tonight when my husband is at work I will do it", "I'm in A&E after the pills"), not
    # that the words are about their work.
    r"\b(?:on the crisis line|on the helpline)\b|"
    r"\b(?:research|study|studies|thesis|dissertation|lecture|seminar|training session|"
    r"prevention|statistics|awareness|module|textbook|exam question|case study|"
    r"documentary|article|news|report|headline|podcast)\b"
)
# A frame yields when the seeker is plainly speaking of themselves inside it.
SELF_IN_FRAME = re.compile(
    r"\b(?:myself|my own life|my life|i want to|i am going to|i have been|i keep|i feel|"
    r"me too|i do too|i relate)\b"
)
SENTENCE = re.compile(r"[^.!?\n]+[.!?\n]*")
# Who a subjectless match is about: the last subject before it in its clause.
SUBJECT = re.compile(
    r"\b(?P<self>i|me|myself)\b|\b(?P<third>he|she|they|him|them|friend|bestie|bff|sister|"
    r"brother|sibling|mom|mum|mother|dad|father|son|daughter|kid|child|partner|boyfriend|"
    r"girlfriend|bf|gf|wife|husband|roommate|flatmate|cousin|classmate|coworker|colleague|"
    r"teammate|girl|boy|guy|man|woman|lady|person|aunt|uncle|grandma|grandpa|grandmother|grandfather|niece|nephew|student|patient|"
    r"patients|client|clients|caller|callers|resident|residents|"
    r"neighbou?r|someone known|somebody known|people known|a friend known|a person known)\b|"
    r"\b(?P<other>we|you|everyone|everybody|people|anyone|someone|somebody|nobody)\b"
)
# The reflexive or possessive inside a match says whose life it is about.
PRONOUN = re.compile(
    r"\b(?:myself|himself|herself|themselves|themself|yourself|my|his|their|your)\b"
    r"|\bher\b(?= (?:own )?life)"
)
SELF_OBJECT = re.compile(r"\b(?:me|my body)\b")
SELF_SUBJECT = re.compile(r"\bi\b")
FIRST_PERSON_REF = {"myself", "my"}
OTHER_REF = {"yourself", "your"}
NEGATION_WINDOW = 6
POSSESSIVES = {"my", "his", "their", "your", "her"}
_BODY = re.compile(
    r"(?:own|life|wrists?|throat|veins?|head|neck|mouth|temple|chest|skin|arms?|legs?|thighs?)$"
)
# A negation after the match: "killing myself is not something i would ever do".
POST_NEGATION = re.compile(
    r"^\s*(?:is|are|was) not (?:something|an option|on the table|what i want)|^\s*(?:is|was) never"
)
# Someone asked the seeker about it and the seeker said no ("my therapist asked whether I've
# had thoughts of suicide and honestly, no, I haven't"): the words are the question's.
ASKED = re.compile(r"\b(?:asked|asks|ask|asking) (?:me )?(?:whether|if)\b")
ANSWERED_NO = re.compile(
    r"\b(?:no|nope|not really),? (?:i )?(?:have not|do not|am not|did not|have never|never)\b"
)


def answered_no(prefix: str, rest: str) -> bool:
    """The match sits in a question put to the seeker, answered no in the same sentence."""
    return bool(ASKED.search(prefix)) and bool(ANSWERED_NO.search(rest))


def clause_prefix(sentence: str, start: int) -> str:
    prefix = sentence[:start]
    breaks = list(CLAUSE_BREAK.finditer(prefix))
    if breaks:
        prefix = prefix[breaks[-1].end() :]
    return prefix


def negated(clause_prefix: str) -> bool:
    """A negation within the last few words of the clause, not followed by a new "i" (in
    "i can not sleep i think about ..." the negation belonged to the clause before)."""
    cleaned = NOT_NEGATION.sub(" ", clause_prefix)
    tokens = cleaned.split()[-NEGATION_WINDOW:]
    last_neg = max((i for i, t in enumerate(tokens) if NEGATION.fullmatch(t)), default=-1)
    if last_neg < 0:
        return bool(NEGATION.search(" ".join(tokens)))  # multi-word cues ("no longer")
    # A new subject after the negation starts another clause ("my friend stopped talking to me
    # everyone would be better off ...").
    return not any(SUBJECT.fullmatch(t) for t in tokens[last_neg + 1 :])


def person(match: re.Match[str], clause_prefix: str) -> str:
    """ "self", "third" or "other" (addressed to someone else, or generic)."""
    if SELF_OBJECT.search(match.group()):
        # The seeker as the object ("nobody will find me", "remember me by") is about the seeker,
        # whoever the clause's subject is.
        return "self"
    if SELF_SUBJECT.search(match.group()):
        # The match's own "i" is its subject: in "once my daughter is asleep i am going to do it"
        # and "they will be looked after when i am gone" the prefix's daughter or "they" is
        # someone the seeker names, not who acts.
        return "self"
    pronoun = PRONOUN.search(match.group())
    if pronoun and pronoun.group() in POSSESSIVES:
        # "my balcony" says whose balcony, not who jumped; "my life", "my wrists" say who.
        after = match.group()[pronoun.end() :].split()
        if not after or not _BODY.match(after[0]):
            pronoun = None
    if pronoun:
        word = pronoun.group()
        if word in FIRST_PERSON_REF:
            return "self"
        return "other" if word in OTHER_REF else "third"
    last = None
    for subject in SUBJECT.finditer(clause_prefix):
        last = subject
    if last is None or last.group("self"):
        return "self"
    return "third" if last.group("third") else "other"
