"""The C-SSRS components the rules look for, one pattern table each, over normalised text.

Each detector names a *component* (wish to be dead, ideation, method, means, intent, plan,
timing, preparation, attempt, farewell, command hallucination, self-injury, ...), not a level:
``services.risk.cssrs`` decides the level from which components appear together, in one
sentence, one turn or across the conversation. Patterns read text after
``normalise.normalise`` and ``normalise.strip_idioms`` (lower case, contractions expanded,
slang and misspellings mapped, idioms cut out).

Strength: a detector marked ``strong`` supports a level on its own (a suicide note, stockpiled
medication); a weak one only counts beside another component ("I paid off my debts" alone is
not a crisis; after "I want to be gone" it is preparation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The components, with the C-SSRS screener line each supports (None: no screener line).
LINES: dict[str, str | None] = {
    "WISH_PASSIVE": "WISH_TO_BE_DEAD",
    "WISH_ACTIVE": "WISH_TO_BE_DEAD",
    "DEATH_REF": "WISH_TO_BE_DEAD",
    "IDEATION": "SUICIDAL_THOUGHTS",
    "COMMAND": "SUICIDAL_THOUGHTS",
    "UNSAFE": "SUICIDAL_THOUGHTS",
    "METHOD": "METHOD",
    "MEANS": "METHOD",
    "OPPORTUNITY": "METHOD",
    "INTENT": "INTENT",
    "RESOLVE": "INTENT",
    "TIMING": "INTENT",
    "PLAN": "PLAN",
    "PREPARATION": "BEHAVIOR",
    "ATTEMPT": "BEHAVIOR",
    "FAREWELL": "BEHAVIOR",
    "SELF_HARM": None,
    "MENTION": None,
    "DISTRESS": None,
}


@dataclass(frozen=True, slots=True)
class Detector:
    component: str
    rule_id: str
    pattern: re.Pattern[str]
    strong: bool = False


def _d(component: str, rule_id: str, *patterns: str, strong: bool = False) -> list[Detector]:
    return [Detector(component, rule_id, re.compile(p), strong) for p in patterns]


# Shorthands used inside patterns.
A = (
    r"(?:(?:just|really|honestly|seriously|literally|actually|kind of|sort of|so|even|still|"
    r"sometimes|often|always|also|truly|genuinely|simply|badly|desperately|almost|constantly|"
    r"finally|probably|definitely|fucking|totally|kinda|gonna|going to|all|now|only) )*"
)
REF = r"(?:myself|himself|herself|themselves|themself|yourself)"
POSS = r"(?:my|his|her|their|your)"
DRUGS = (
    r"(?:pills|pill|tablets|paracetamol|tylenol|acetaminophen|ibuprofen|aspirin|insulin|xanax|"
    r"sleeping pills|sleeping tablets|meds|medication|medications|medicine|painkillers|"
    r"antidepressants|opioids|oxy|oxycodone|fentanyl|heroin|morphine|codeine|tramadol|"
    r"benzos|valium|diazepam|lorazepam|ambien|zopiclone|lithium|seroquel|quetiapine|"
    r"sertraline|prozac|fluoxetine|citalopram|amitriptyline|prescription|prescriptions|"
    r"the bottle|a bottle|the packet|a packet)"
)
POISONS = r"(?:bleach|antifreeze|rat poison|poison|weed killer|pesticide|drain cleaner|chemicals)"
WEAPONS = r"(?:gun|guns|pistol|revolver|rifle|shotgun|firearm|handgun|glock)"
OBJECTS = (
    rf"(?:{DRUGS}|{POISONS}|{WEAPONS}|rope|ropes|noose|belt|cord|razor|razors|razor blades|"
    r"blades|blade|knife|knives|box cutter|stanley knife|charcoal)"
)
HEIGHTS = (
    r"(?:bridge|building|roof|rooftop|cliff|balcony|window|ledge|tower|overpass|parking garage|"
    r"car park|multi storey|multistorey|multi-storey|high rise|tall building|flyover|viaduct|"
    r"top floor|dam)"
)
TIMES = (
    r"(?:tonight|today|right now|tomorrow(?: night| morning)?|this (?:evening|weekend|"
    r"morning|afternoon|week|friday|saturday|sunday|monday|tuesday|wednesday|thursday)|"
    r"(?:on|this|next|by|before|after) (?:monday|tuesday|wednesday|thursday|friday|saturday|"
    r"sunday|the weekend|my birthday|new year|new years|christmas|the anniversary|payday)|"
    r"next (?:week|month)|at (?:midnight|dawn|\d{1,2}(?::\d\d)? ?(?:am|pm)?)|"
    r"in (?:an|a few|\d+|a couple of|two|three) (?:hours?|minutes?|mins?|days?)|"
    r"after (?:my|the) (?:shift|exam|party|funeral|appointment)|"
    r"when (?:my|the) (?:\w+ )?(?:leaves?|leave|go|goes|are away|is away|are asleep|is asleep|"
    r"go to (?:bed|sleep)|goes to (?:bed|sleep))|"
    r"(?:once|when|after) (?:everyone|everybody|they|the house|he|she) (?:is|are|goes|go|leave|"
    r"leaves|falls|fall|has gone|have gone)(?: \w+)?|before (?:morning|dawn|sunrise|the end of "
    r"the (?:week|month|day|year))|by (?:morning|the end of the (?:week|month|day|year)))"
)

# The acts of a method, as the object of intent ("I'm going to ...", "I've decided to ...").
ACTS = (
    rf"(?:cut my (?:wrists?|throat|arms?)|slit my|"
    rf"light (?:a|the) (?:\w+ )?(?:charcoal|barbecue|bbq)|"
    rf"use (?:the |my |a |\w+'s )?(?:\w+ )?(?:{OBJECTS}) on myself|use the (?:{OBJECTS})|"
    rf"take (?:every|all|each) (?:\w+ ){{0,3}}?{DRUGS}|jump|hang myself|shoot myself|drown myself|"
    r"overdose|gas myself|step (?:off|out in front of|in front of)|"
    r"throw myself (?:off|from|in front|"
    r"under)|walk into|drive (?:off|into)|crash (?:my|the) car|stop eating)"
)

# Passive wish to be dead: MODERATE with resources (C-SSRS line 1, passive).
WISH_PASSIVE = _d(
    "WISH_PASSIVE",
    "rule:passive_wish",
    r"\bwelcome it if (?:my heart|i|it all|everything|i just)\b",
    r"\b(?:hope|wish|pray) (?:that )?(?:the morning|tomorrow|the sun|morning) (?:just )?"
    r"(?:does not|"
    r"never|would not|will not) (?:come|rise|arrive)\b",
    r"\bif i (?:got|get|became|fell) (?:ill|sick|hit|cancer|run over)\b(?: \w+){0,5} (?:would not|"
    r"wouldn't) (?:mind|care)\b",
    r"\b(?:do|does|did) not (?:really )?care (?:if|whether) i (?:live|die|wake up|make it)\b",
    r"\b(?:would|will) be (?:so much |much |a lot )?(?:easier|better)(?: for everyone)? if i "
    rf"{A}(?:was|were|am) (?:not|no longer) (?:around|here|alive)\b",
    r"\b(?:go|fall|going|falling|went) to sleep and (?:never|not) (?:wake|woke) up\b",
    r"\b(?:hope|hoping|wish|wishing|want|pray|praying) (?:that )?(?:i )?(?:would |will |could |"
    r"just )?(?:never|not|do not|did not) wake up\b",
    r"\b(?:would|will) be (?:fine|okay|ok|happy|glad|relieved|alright|at peace|grateful) if i "
    rf"{A}(?:did not|never|do not|would not|were to not|was to not) (?:wake|woke) up\b",
    r"\bif i (?:did not|do not|never) (?:wake|woke) up(?: \w+){0,4},? (?:that|it|i) (?:would be|"
    r"is|would not) (?:fine|okay|ok|a relief|mind|care|bad)\b",
    r"\bwish(?:ed)? i (?:was|were|had|would) never (?:have )?(?:been )?born\b",
    r"\bwish(?:ed)? i (?:did not|could not|would not) exist\b",
    rf"\b(?:wish i could|wish i would|want to|wanted to|like to|just want to) {A}(?:disappear|"
    r"vanish|stop existing|cease to exist|not exist|not be here|not be alive|be gone|fade away)"
    r"(?: forever| for good| permanently)?\b",
    rf"\b(?:think|thinking|thought) {A}about (?:not existing|not being here|not being alive|"
    r"being gone|disappearing forever|never waking up)\b",
    r"\b(?:tired|sick|exhausted) of (?:living|being alive|existing|life|it all|being here)\b",
    rf"\bwhat is {A}the point (?:of|in) (?:living|life|being alive|going on|existing|carrying on)",
    rf"\b(?:do|does) not {A}see (?:the|any) point (?:of|in) (?:living|life|being alive|going on|"
    r"existing|carrying on)\b",
    r"\b(?:everyone|everybody|they|the world|my family|people|my kids|my parents) (?:would|will) "
    r"be better off (?:without me|if i (?:was|were|am) (?:dead|gone|not here|not around))\b",
    r"\b(?:no one|nobody) (?:would|will) (?:even )?(?:miss me|notice if i (?:was|were) gone|care "
    r"if i (?:died|was gone|were gone|disappeared))\b",
    r"\b(?:hope|hopes|hoping|wish|wishes|wished|pray|praying) (?:that )?(?:something|a car|a bus|"
    r"a truck|a lorry|"
    r"a train|someone|a stranger|the plane|lightning|a tree|an accident|cancer|the virus|this "
    r"illness) (?:\w+ )?(?:hits|kills|takes|crashes|runs me over|ends|finishes|would hit|would "
    r"kill|will hit|will kill|hit|kill)\b",
    r"\b(?:hope|hoping|wish|pray|praying) (?:that )?i (?:get|got|would get|will get|could get) "
    r"(?:hit|run over|killed|a fatal|cancer|sick and die)\b",
    r"\b(?:hope|hopes|hoping|wish|wishes|wished) (?:that )?(?:the|my) (?:plane|car|bus|train) "
    r"(?:crashes|goes down|would crash|would go down|will crash)\b",
    r"\b(?:would|will|might) be (?:so much |much |a lot )?(?:easier|better|simpler|a relief) "
    r"(?:to be dead|being dead|if i (?:was|were) dead|to just die|to not exist|not to exist)\b",
    r"\bwould not (?:mind|care) (?:dying|if i died|not waking up|if i (?:did not|never) "
    r"(?:wake|woke) up|"
    r"if (?:something|a car|a bus) (?:hit|killed) me|being dead)\b",
    r"\b(?:death|dying|being dead) (?:would be|sounds|seems|feels like) (?:a relief|peaceful|"
    r"easier|nice|better|like a rest|welcome)\b",
    r"\bwould welcome (?:death|dying|the end)\b",
    rf"\b(?:want|wish) (?:it|everything|this|all of this|life) {A}to (?:be over|end|stop) "
    r"(?:forever|for good|permanently)\b",
    rf"\b(?:want to|wish i could|just want to) {A}(?:go to )?sleep (?:forever|for good|and never "
    r"wake)\b",
    rf"\b(?:am|so|just) {A}done with (?:life|living|being alive|existing)\b",
    r"\b(?:not sure|do not know) (?:if |whether )?i (?:still )?want to (?:live|be alive|keep "
    r"living|go on|keep going|be here)\b",
    rf"\b(?:do|does) not want to {A}(?:be here|be around) (?:anymore|any more)\b",
    r"\b(?:would|will) be (?:so much |much |a lot )?(?:easier|better) (?:for everyone )?if i "
    r"(?:was|were|am) (?:not|no longer) (?:around|here|alive)\b",
    r"\bif i died (?:tomorrow|tonight|today)?,? (?:i would not|nobody would|no one would) "
    r"(?:mind|care)\b",
    r"\b(?:would|will) be (?:happier|better off|relieved|fine|freer|better) (?:without me|if i "
    r"(?:was|were|am) (?:dead|gone|not here|not around|never born))\b",
    r"\b(?:hope|hoping|pray|praying) (?:that )?i (?:do not|never|will not|would not) (?:make it "
    r"(?:to|past|through)|live (?:to see|past|to))\b",
    r"\bno point (?:in|to) me (?:being|staying) (?:here|alive|around)\b",
    r"\b(?:wish|wishing|hope|hoping|pray|praying)(?: that)? i (?:would |could |will |might )?"
    r"(?:get|got|catch|caught) (?:sick|ill|cancer|something) and (?:just )?(?:not recover|never "
    r"recover|die|not make it|not wake up)\b",
    r"\b(?:would|had) rather not (?:be alive|exist|be here anymore|wake up|live)\b",
    r"\b(?:ready for|want|wish|pray for) (?:god|the lord|jesus|him) to (?:take me|call me home|"
    r"bring me home)\b",
    r"\b(?:hope|wish|pray) (?:that )?my heart (?:would |will |just )*(?:stop|stops|gives out|"
    r"give out)\b",
    r"\bif i (?:died|was gone|were gone|disappeared|vanished)(?: \w+){0,3},? (?:no one|nobody) "
    r"(?:would|will) (?:even )?(?:notice|care|miss me|mind)\b",
    r"\b(?:let|letting) me (?:just )?die\b",
    r"\b(?:maybe|perhaps) (?:it is|it would be) (?:better|best) if i (?:was|were) (?:gone|dead)\b",
)

# Active wish to be dead (C-SSRS 1): MODERATE with resources.
WISH_ACTIVE = _d(
    "WISH_ACTIVE",
    "rule:wish_dead",
    rf"\b(?:want|wants|wanted|wanting|need|would like|wish) to {A}(?:die|be dead|stop living)\b",
    r"\bwish(?:ed|es)? (?:that )?i (?:was|were|could be|would be) dead\b",
    rf"\b(?:do|does|did) not want to {A}(?:live|be alive|exist|wake up|go on)(?: anymore| any "
    r"more)?\b",
    rf"\bno longer want(?:s|ed)? to {A}(?:live|be alive|exist)\b",
    r"\b(?:better off|rather be) dead\b",
    r"\b(?:hope|hoping|pray|praying) (?:that )?(?:i die|to die|i am dead)\b",
    r"\blife is not worth (?:living|it)\b",
    r"\bnothing (?:left )?to live for\b",
    r"\bno (?:reason|point) (?:to live|in living|to keep living|in being alive|to go on)\b",
    r"\bready to (?:die|go|leave this world)\b",
    r"\bi (?:wanna|want to) be gone\b",
    r"\bbe done with (?:life|living|it all|being alive|existing)\b",
    r"\bwant (?:it|everything|this) (?:all )?to be over\b",
)

# Talk of one's own death as settled ("after I'm gone"): counts beside preparation or means.
DEATH_REF = _d(
    "DEATH_REF",
    "rule:death_reference",
    r"\b(?:after|when|once|if|before) i (?:am|have) (?:gone|dead|no longer here|not here|died)\b",
    r"\b(?:after|when|once) i die\b",
    r"\bwill not (?:need|be needing) (?:it|them|this|any of (?:it|this|them)|my \w+) "
    r"(?:anymore|any more|where i am going|much longer|after)\b",
    r"\bwhere i am going\b",
    r"\b(?:for|to) (?:when|after) i (?:am|have) gone\b",
    r"\bso (?:no one|nobody|they|my family) (?:has|have|will have) to (?:deal with|worry about|"
    r"clean up|pay)\b",
    r"\b(?:one|a) last (?:time|look|walk|goodbye|drink|meal|visit)\b",
    r"\b(?:the|my) (?:end|last day|final day)s? (?:is|are) (?:near|coming|close|here)\b",
    r"\bnot (?:be|going to be) (?:here|around|alive) (?:much longer|for long|next (?:week|year))",
    r"\b(?:they|he|she|someone|somebody|my \w+|you|mum|mom|dad) (?:will|are going to|is going to) "
    r"find (?:me|them|it|the (?:letters?|notes?|envelopes?))\b(?! (?:useful|helpful|funny|easy|"
    r"interesting))",
    r"\b(?:i am|i will|am) not (?:ever )?coming (?:back|home)\b(?! (?:to|from|here|there|until|"
    r"till|for|before|after|tonight|today|tomorrow|this|next|on|at))",
    r"\bwill not be (?:alive|here|around|breathing) (?:by|for|after|on|next|to see|when)\b",
    r"\b(?:no one|nobody) will (?:ever )?find (?:me|my body)\b",
    r"\bsomething to remember me by\b|\bremember me (?:when i am gone|fondly|as i was)\b",
    rf"\b(?:think|thinking|thought|keep thinking) (?:about|of) {A}(?:using|taking|swallowing) "
    r"(?:them|it|those|all of them|all of it)\b",
    r"\b(?:no one|nobody|you|they|everyone|my family|my \w+) (?:will|would) (?:not )?(?:have|need) "
    r"to (?:put up with|deal with|worry about|look after|see|hear from) me\b",
)

# Active suicidal thoughts and desire (C-SSRS 2): the policy's explicit_desire_level.
IDEATION = _d(
    "IDEATION",
    "rule:active_thoughts",
    rf"\b(?:want|wants|wanted|wanting|need|needs|feel like|felt like|tempted|urge|urges|going) to "
    rf"{A}(?:kill {REF}|end {POSS} (?:own )?life|take {POSS} (?:own )?life|commit suicide|end it "
    r"all|end it|end things|end everything|die by suicide)\b",
    rf"\b(?:am|is|are|was|feel|feels|felt|feeling|been|getting|get) {A}(?:very |really |so |"
    r"extremely |super |pretty |kinda |a bit |a little |quite )?suicidal\b",
    r"^\s*(?:kill myself|i should kill myself)\b",
    r"\bi should (?:just )?(?:kill myself|end it|die)\b",
    rf"\b(?:thinking|think|thought|thoughts|considering|considered|obsessing|fantasi[sz]ing|"
    rf"dreaming|planning) {A}(?:about |of )?(?:suicide|killing {REF}|ending {POSS} (?:own )?life|"
    r"taking my (?:own )?life|ending (?:it|things|it all|everything)|not being alive|dying by "
    r"suicide)\b",
    r"\bsuicidal (?:thoughts|ideation|feelings|urges|thinking)\b",
    r"\b(?:check out|switch myself off|turn myself off|log off|clock out|off myself) "
    r"(?:permanently|for good|forever)\b",
    r"\bsuicide (?:has been|is|keeps|has|keeps coming) (?:on|in|into|back) (?:on |in |to )?my "
    r"(?:mind|head|thoughts)\b",
    r"\b(?:mind keeps going|keep thinking|keeps going) (?:to|about) how (?:it|i|my life) (?:could|"
    r"would|might) (?:all )?end\b|\ba way out, a permanent one\b|\bpermanent (?:way out|"
    r"solution|escape)\b",
    rf"\b(?:kill|kills|killing|killed) {REF}\b",
    rf"\b(?:end|ends|ended|ending|take|takes|took|taking) {POSS} (?:own )?life\b",
    r"\bend(?:ing)? it all\b",
    r"\bcommit(?:ting)? suicide\b",
)

# Mentions that name suicide without a first-person state (LOW: resources come at MODERATE).
MENTION = _d(
    "MENTION",
    "rule:mention",
    r"\bsuicide\b",
    r"\bsuicidal\b",
    r"\b(?:thinking|think|thought|thoughts) (?:a lot )?(?:about|of) (?:dying|death|being dead)\b",
)

# Command hallucinations: voices telling the seeker to die or hurt themselves.
COMMAND = _d(
    "COMMAND",
    "rule:command_hallucination",
    r"\b(?:voice|voices|whispers|the devil|demons|a demon|something in my head|someone in my "
    r"head|it in my head)\b(?: \w+){0,6}? (?:tell|tells|telling|told|say|says|saying|said|order|"
    r"orders|ordering|command|commands|commanding|want|wants|scream|screams|screaming|urge|urges|"
    r"whisper|whispers|whispering|keep telling|keeps telling)(?: at)? (?:me )?(?:to |that i "
    r"(?:should|must|need to|have to|deserve to) )?(?:kill myself|die|hurt myself|cut|end it|do it|"
    r"jump|hang myself|take the pills|end my life|harm myself|stop eating|burn myself|drown "
    r"myself|step in front|walk into|go to the bridge|deserve to die)",
    r"\b(?:hear|hearing|heard) (?:a |the )?voices? (?:that )?(?:tell|telling|saying|say|told|"
    r"urging|ordering) (?:me )?(?:to )?(?:kill|die|hurt|cut|end|jump|do it)",
    r"\b(?:voice|voices)\b(?: \w+){0,5}? (?:tell|telling|told|tells|say|says|saying|order|"
    r"ordering|want|wants|will not stop until) (?:me )?(?:to |until )?(?:i )?\w+",
    r"\bvoices? (?:want|wants|wanted) me (?:dead|to die|to hurt myself|to kill myself|gone)\b",
    r"\b(?:voices?|they) (?:say|says|keep saying|tell me) i (?:deserve to die|should die|should "
    r"not be alive|must die|have to die)\b",
)

# Method named (C-SSRS 3) in a first-person, current frame: ideation with a method.
METHOD = _d(
    "METHOD",
    "rule:method",
    rf"\bhow (?:many|much) (?:\w+ ){{0,3}}(?:{DRUGS}|{POISONS})\b(?: \w+){{0,5}} (?:to die|to "
    r"overdose|to kill|is lethal|would kill|would it take|does it take|it would take|it takes|"
    r"would be enough|is fatal|to end it|to not "
    r"wake up|before you die|until you die)\b",
    r"\b(?:lethal|fatal|deadly) (?:dose|amount|overdose|quantity|height)\b",
    r"\bhow (?:long|high|far|tall)\b(?: \w+){0,6} (?:to die|to drown|to bleed out|would kill|"
    r"to kill (?:you|me|someone)|to be fatal|is fatal|before you (?:die|pass out)|to suffocate)\b",
    r"\b(?:overdos(?:e|ing)|od) (?:on|with)\b",
    rf"\b(?:want|going|plan|planning|thinking|think|thought|considering|tempted|urge) (?:to |of "
    rf"|about )?{A}(?:overdos(?:e|ing)|taking (?:all|every one of|the rest of) (?:my|the|those) "
    rf"(?:\w+ )?{DRUGS}|swallowing (?:all|every)|jump(?:ing)? (?:off|from|in front)|step(?:ping)? "
    r"in front|drown(?:ing)? myself|hang(?:ing)? (?:myself|from)|gas(?:sing)? myself|"
    r"crash(?:ing)? (?:my|the) car|"
    r"driv(?:e|ing) (?:off|into)|walk(?:ing)? into the (?:sea|ocean|lake|river|water|traffic)|"
    r"shoot(?:ing)? myself|slit(?:ting)? my|cut(?:ting)? (?:my )?(?:wrists?|throat)|"
    r"starv(?:e|ing) myself)",
    rf"\b(?:hang|hanging|hanged|shoot|shooting|drown|drowning|gas|gassing|poison|poisoning|"
    rf"starve|starving|suffocate|suffocating|electrocute|electrocuting) {REF}\b",
    rf"\b(?:slit|slitting|slash|slashing|cut|cutting|open) {POSS} (?:wrists?|throat|veins?)\b",
    rf"\b(?:gun|barrel|pistol|revolver) (?:to|in|against) {POSS} (?:head|mouth|temple|chest)\b",
    rf"\b(?:best|easiest|quickest|fastest|surest|simplest|most painless|least painful|painless|"
    rf"quiet|quietest|cleanest|most reliable|a|any|good) (?:way|ways|method|methods) (?:to|of) "
    rf"(?:die|dying|go|do it|kill {REF}|end {POSS} (?:own )?life|commit suicide|end it|not wake "
    r"up)\b",
    r"\b(?:die|dying|kill myself|end it) (?:painlessly|quickly and painlessly|without pain|"
    r"quickly|peacefully)\b",
    rf"\b(?:jump|jumps|jumped|jumping|throw myself|fall|falling|leap|leaping) (?:off|from|out of|"
    rf"in front of) (?:a|the|my|this|that|our) (?:\w+ ){{0,2}}?(?:{HEIGHTS}|train|bus|car|truck|"
    r"lorry)\b",
    r"\b(?:step|stepping|walk|walking|throw|throwing|lie|lying|lay|laying) (?:myself )?(?:down )?"
    r"(?:in front of|onto|on) (?:a|the) (?:train|bus|car|truck|lorry|tracks|train tracks|"
    r"railway|motorway|highway)\b",
    r"\bnoose\b",
    r"\b(?:want to|going to|wanted to|urge to) (?:push|stick|drive|plunge|put|stab) "
    r"(?:it|the \w+|a \w+|that \w+) (?:into|through|in) my "
    r"(?:chest|heart|neck|throat|wrists?|stomach)\b",
    r"\b(?:drive|driving|crash|crashing|steer|steering) (?:my car |the car )?(?:into|off) "
    r"(?:a|the) (?:wall|tree|bridge|cliff|barrier|river|lake|sea|oncoming|lorry|truck|pillar|"
    r"road)\b",
    r"\b(?:engine|exhaust|car) (?:running|on) in (?:the|a|my) (?:closed |locked |shut )?garage\b",
    r"\b(?:garage|car)\b(?: \w+){0,6} (?:engine|exhaust) (?:running|on)\b",
    r"\b(?:hose|pipe|tube) (?:from|to|into) the (?:exhaust|window|car)\b",
    rf"\b(?:use|using) (?:the |my |a |his |her |\w+'s )?(?:\w+ )?(?:{WEAPONS}|rope|knife|blade|"
    r"blades|belt|cord|razor) on myself\b",
    rf"\b(?:take|taking|swallow|swallowing|down|downing) (?:everything in the "
    rf"(?:medicine |bathroom )?"
    rf"(?:cabinet|cupboard)|all (?:of )?(?:my|the) (?:\w+ )?{DRUGS} at once|a whole (?:box|bottle|"
    r"pack|packet|strip) of \w+)\b",
    r"\b(?:stop|stopping|stopped|not) eating\b(?: \w+){0,8} until "
    r"(?:my body|i|my heart|it is over)",
    r"\b(?:swerv(?:e|ing)|veer(?:ing)?|steer(?:ing)?) (?:my car |the car )?into (?:a|the|an|"
    r"oncoming)\b",
    r"\bcharcoal\b(?: \w+){0,6} (?:bedroom|my room|windows? shut|closed room|sealed|tent|in the "
    r"car)\b",
    r"\b(?:reading|searching|looking|googling|researching|researched)(?: online)? (?:about |for |"
    r"up |into )?(?:which ways work|"
    r"the (?:most )?painless way|ways to die|how to die|methods|which (?:pills|method|way))\b",
    r"\bhave not eaten (?:in|for) \w+ (?:days|weeks)\b",
    r"\brun(?:ning)? (?:the|my) (?:car|engine) in (?:the|a|my) (?:closed |locked |shut )?garage\b",
    r"\bcar exhaust\b|\bcarbon monoxide\b|\bburn(?:ing)? charcoal\b|\bcharcoal (?:in|and)\b",
    rf"\b(?:drink|drinking|swallow|swallowing|mix|mixing) (?:some |the )?{POISONS}\b",
    r"\b(?:walk|walking|swim|swimming|wade|wading) (?:out )?(?:into|out into|far into) the "
    r"(?:sea|ocean|lake|river|water|waves)(?: and (?:not|never) (?:come|coming) back| until)?\b",
    r"\b(?:stop|stopped|stopping) eating (?:until|till|so) (?:i|it)\b",
    r"\b(?:not eat|starve) (?:until|till) i (?:die|disappear|am gone)\b",
    r"\b(?:tie|tying|tied|hang|hanging) (?:a |the )?(?:rope|belt|cord|sheet) (?:to|from|around|on|"
    r"over) (?:the|a|my) (?:beam|rafter|banister|door|ceiling|tree|hook|neck|closet rod|pipe)\b",
    r"\b(?:google|googled|googling|search|searched|searching|look up|looked up|looking up|"
    r"research|researched|researching|reading about|read about) (?:\w+ ){0,2}(?:ways to die|how "
    r"to (?:die|kill myself|overdose|hang|tie a noose|end it)|lethal doses?|suicide methods|how "
    r"many (?:\w+ ){1,4}(?:it )?(?:takes|would take)|painless ways)\b",
)

# Means at hand or access: weak alone ("I have pills"), strong beside any ideation.
MEANS = _d(
    "MEANS",
    "rule:means_access",
    rf"\b(?:have|has|got|bought|buy|buying|ordered|saved|keep|kept|hid|hidden|hide|stashed|"
    rf"collected|holding|found|took|grabbed|sitting with|brought|picked up) (?:a |an |the |some |"
    rf"enough |my |all my |all the |a lot of |a bag of |a box of |a new |\d+ |two |three )?"
    rf"(?:[\w']+ ){{0,4}}{OBJECTS}\b",
    rf"\b(?:keeps?|kept|hides?|stores?) (?:a|the|his|her|their|an old|some) (?:\w+ ){{0,2}}"
    rf"{OBJECTS} (?:in|under|on|at|behind|inside|upstairs|downstairs)\b",
    r"\b(?:live|living|am|i am) on the \w+ floor\b|\bwindow opens all the way\b|\b(?:my|the) "
    r"balcony is (?:so |really |very )?high\b",
    rf"\b(?:my|his|her|the|our) (?:\w+'s |dad's |father's |uncle's |brother's |grandpa's |"
    rf"husband's )?{WEAPONS}s? (?:is|are|sits|lies|stays|lives) (?:still )?(?:in|under|on|at|by|"
    r"behind|inside|upstairs|downstairs|right)\b",
    rf"\b(?:\w+'s) {WEAPONS}s?\b",
    rf"\b(?:there is|there are|there is a|there are some) (?:a |an |some |the |enough )?"
    rf"(?:\w+ ){{0,3}}{OBJECTS} (?:in|under|on|at|behind|inside|upstairs|downstairs|within reach|"
    r"near)\b",
    rf"\b{DRUGS} (?:are|is) (?:on|in|under|by|next to) (?:my|the)\b",
    rf"\b(?:the|my|a) (?:\w+ )?(?:{WEAPONS}|rope|ropes|noose)s? (?:is|are) "
    r"(?:still )?(?:in|under|on|at|behind|inside|upstairs|downstairs) (?:the|my)\b",
    r"\b(?:beam|rafter|banister|hook|loft hatch|pipe)\b(?: \w+){0,4} (?:would|could|will) (?:take|"
    r"hold) my weight\b",
    r"\b(?:level crossing|railway|train line|bridge|cliff|cliffs|multi storey)\b(?: \w+){0,4} "
    r"(?:from|near|next to|behind|across from) (?:my|our) (?:door|house|flat|home|work)\b",
    rf"\benough {DRUGS}\b|\b{DRUGS} (?:saved|stashed|hidden|ready|lined up)\b",
    rf"\bknow (?:where|how to get to) (?:\w+ ){{0,2}}(?:keeps?|hides?|puts?|stores?|kept|hid) "
    rf"(?:the |his |her |their )?(?:{OBJECTS}|key|keys|safe|cabinet)\b",
    r"\b(?:the )?(?:key|code|combination) (?:to|for) (?:the|his|her|my dad's|the) (?:gun|"
    r"safe|cabinet|locker)\b",
    rf"\b{OBJECTS} (?:is |are )?(?:right here|next to me|in front of me|in my (?:hand|hands|pocket|"
    r"bag|room|drawer|car|lap))\b",
    rf"\b(?:going|driving|walking|heading|taking the bus|taking a taxi) (?:up )?to (?:the|a) "
    rf"(?:\w+ )?(?:{HEIGHTS}|cliffs|railway|train tracks|tracks)\b(?! (?:club|party|café|cafe|"
    r"restaurant|bar|game|match|to watch|to see|for (?:lunch|dinner|drinks|a walk)))",
    r"\b(?:access to|can get|could get|easy to get) (?:a |the |some )?(?:gun|guns|pills|rope|"
    r"firearm|poison|a high place|the roof)\b",
)

# Means kept ready for the act: preparatory behaviour, HIGH alone.
MEANS_READY = _d(
    "MEANS",
    "rule:means_ready",
    rf"\b{OBJECTS}\b(?: \w+){{0,6}}? (?:is |are |all )?(?:ready|to (?:die|do it|end it|kill myself|"
    r"overdose|use on myself)|for (?:it|when i|tonight|the end)|just in case|lined up|counted out|"
    r"set up|waiting|right here|next to me|in front of me|in my (?:hand|hands|lap|pocket))\b",
    rf"\b{WEAPONS}\b(?: \w+){{0,6}} (?:keep|kept|keeps) (?:looking at|thinking about|holding|"
    r"staring at|touching|checking) (?:it|the gun|my gun)\b",
    rf"\b(?:holding|have|got|am holding) (?:the|a|my|\w+'s) (?:loaded )?{WEAPONS}\b(?: \w+){{0,5}} "
    r"(?:loaded|right now|in my hand|in my mouth|cocked)\b",
    rf"\benough {DRUGS} to (?:die|kill|do it|end it|overdose|not wake up)\b",
)

# Alone, with no one to interrupt: an opportunity, counted like means beside ideation.
OPPORTUNITY = _d(
    "OPPORTUNITY",
    "rule:opportunity",
    r"\b(?:home |house )?alone (?:until|till|for) (?:the weekend|tomorrow|monday|tuesday|"
    r"wednesday|thursday|friday|saturday|sunday|next week|the night|days|a week|\w+ (?:days|"
    r"nights))\b",
    r"\b(?:no one|nobody) (?:is|will be) (?:home|here|around) (?:until|till|tonight|this weekend|"
    r"to stop me)\b",
    r"\b(?:no one|nobody) (?:can|could|will|would) stop me\b",
    r"\b(?:everyone|they|my parents|my wife|my husband|my partner) (?:is|are|will be) (?:away|out|"
    r"gone) (?:until|till|for|tonight|this weekend)\b",
)

# Intent to act (C-SSRS 4): strong alone.
INTENT = _d(
    "INTENT",
    "rule:intent",
    rf"\b(?:going to|will|decided to|made up my mind to|ready to|about to|intend to|plan to|"
    rf"planning to|gonna) {A}(?:kill {REF}|end {POSS} (?:own )?"
    rf"life|end it(?: all)?|commit suicide|take {POSS} (?:own )?life|die (?:tonight|today|this "
    r"weekend|by suicide|soon)|do it tonight|go through with it)\b",
    rf"\b(?:going to|will|about to|ready to|plan to|gonna|decided to|made up my mind to) {A}"
    rf"(?:take|swallow|down) (?:them all|everything|"
    rf"all of them|every (?:last )?one|all (?:of )?(?:my|the|those|these) (?:\w+ )?{DRUGS}|the "
    rf"(?:\w+ )?{DRUGS}|the rest of (?:my|the) (?:\w+ )?{DRUGS})\b",
    rf"\b(?:going to|will|about to|ready to|plan to|gonna|decided to|made up my mind to|i am) {A}"
    rf"{ACTS}",
    r"\b(?:killing myself|ending my life|ending it|doing it) (?:tonight|today|tomorrow|this "
    r"weekend|on \w+day|soon|now)\b",
    r"\b(?:tonight|today|tomorrow|this) (?:is|will be) the (?:night|day)\b",
    r"\b(?:tonight|today|tomorrow|now|this weekend) i (?:take|swallow|do|end|finish) (?:it|them|"
    r"everything|it all|them all)\b",
    r"\bi am going to do it\b|\bi will do it\b(?= (?:tonight|today|this|soon|now|when|after))",
)

# Resolve without a named act ("I've made up my mind", "it's happening"): beside ideation it is
# intent; with a time named it is a decision plus a time.
RESOLVE_STRONG = _d(
    "RESOLVE",
    "rule:resolve",
    r"\b(?:i have|i|have) (?:made up my mind|decided|made my decision|made the decision|made "
    r"peace with (?:it|my decision))\b(?! to (?!(?:do it|end|go through|kill|die|leave this)))",
    r"\bmy mind is made up\b",
    r"\b(?:no|there is no) (?:turning|going) back\b",
    r"\bit (?:is|will be) happening\b|\bit will happen (?:on|tonight|this|next|at)\b",
    r"\bthis is it\b",
    r"\b(?:nothing|no one|nobody) (?:is going to|will|can) (?:change my mind|talk me out)\b",
    r"\bi am not (?:going to be|gonna be) (?:here|around) (?:for|much|after|by)\b",
    r"\bthe date is set\b",
)
RESOLVE_WEAK = _d(
    "RESOLVE",
    "rule:resolve_act",
    rf"\bi am {A}(?:doing|going to do|going through with) it\b",
    r"\b(?:going|ready) to go through with it\b",
    r"\bit ends (?:tonight|today|tomorrow|on|this|soon|here|now)\b",
    r"\bi know what i (?:have to|need to|am going to) do\b",
    r"\b(?:thinking about|think about|going to|gonna|want to|planning on) do(?:ing)? it\b",
    r"\bi (?:have|set|picked|chose) (?:a|the) date\b",
    r"\bit is (?:nearly|almost|about|finally) time\b",
)

# A time named: only ever counts beside another component (see cssrs).
TIMING = _d("TIMING", "rule:timing", rf"\b{TIMES}\b")

# Plan (C-SSRS 5): strong alone.
PLAN = _d(
    "PLAN",
    "rule:plan",
    rf"\b(?:have|made|make|making|got|worked out|figured out|know|came up with|picked|chose|"
    rf"chosen|set|planned|planning) (?:a |the |my |out a |out the |it all )?(?:plan|date|day|"
    rf"time|way|method|spot|place|exactly how|how i)(?: \w+){{0,3}}? (?:to|for|on how to|of how "
    rf"to|for how to|for when i|i am going to|i will) {A}(?:kill {REF}|die|end (?:it|{POSS} "
    rf"(?:own )?life|things|everything)|do it|commit suicide|take {POSS} (?:own )?life|go through "
    r"with it|jump|hang|overdose|drown)\b",
    r"\bsuicide plan\b|\bplan to (?:kill|end) (?:myself|my life|it)\b",
    rf"\bmy plan is (?:the|to use the|to use my|my) (?:\w+ )?(?:{HEIGHTS}|{WEAPONS}|{DRUGS}|rope|"
    r"belt|train|tracks|knife|blade|razor)\b",
    r"\b(?:i have|have|made|got) (?:a|the) plan\b(?=.*\b(?:die|kill|end|pills|rope|bridge|jump|"
    r"it)\b)",
    r"\b(?:planned|planning) (?:it|everything|the whole thing) out\b",
    r"\bi know (?:exactly )?(?:how|where|when) i (?:am going to|will|would) do it\b",
)

# Preparatory behaviour (C-SSRS 6): strong acts escalate alone; weak ones beside ideation.
# A last post or message that says where its writer is going instead: leaving a forum, a job or a
# town ("this is my last post here, I'm moving to a different forum"), not a farewell.
MOVING_ON = (
    r"(?!.*\b(?:moving|switching|migrating|going|heading) (?:over )?to (?:a |an |the )?"
    r"(?:different|another|new|other) (?:forum|site|server|app|platform|account|group|"
    r"subreddit|channel|community|discord|job|school|team|city|country|house|flat|apartment)\b)"
)

NOTES = r"(?:note|notes|letter|letters|video|message|messages|email|emails|post)"
# "My last message to my ex got left on read": the latest one, not a final one.
MOST_RECENT = (
    r"(?! (?:to (?:my |the |a )?[\w']+ )?(?:got|was|went|has been|had|is still|sat|never got|"
    r"just got|still has)\b)"
)
# Collecting a prescription is the errand at the pharmacy, a parent's or one's own; saving or
# collecting the pills themselves is the act.
ERRAND = r"(?!collect(?:ed|ing|s)? (?:[\w']+ ){0,3}?(?:repeat )?prescriptions?\b)"

PREPARATION_STRONG = _d(
    "PREPARATION",
    "rule:preparation",
    rf"\b(?:suicide|goodbye|farewell|final) {NOTES}\b(?! from){MOVING_ON}",
    # "last" alone is also the latest: only the final sense counts.
    rf"\blast {NOTES}\b(?! from){MOVING_ON}{MOST_RECENT}",
    r"\b(?:saying|say|said|texted|texting|wrote|writing|write|written|sent|sending) (?:my )?"
    r"(?:goodbye|goodbyes|farewell|farewells) (?:to (?:everyone|everybody|all of you|you all|my "
    r"family|my friends|the world|everything)|letters?|notes?|messages?)\b",
    rf"\b{ERRAND}(?:stockpil(?:e|es|ed|ing)|hoard(?:ed|ing)?|sav(?:e|ed|ing)|collect(?:ed|ing)?|"
    rf"stash(?:ed|ing)?|squirrel(?:ed|ing)? away|skipp(?:ed|ing) (?:taking )?)(?: up)? (?:my |all "
    rf"my |the |some |a lot of |enough |up my |every )?(?:[\w']+ ){{0,4}}?"
    rf"(?:{DRUGS}|prescriptions?|doses)"
    r"\b",
    r"\b(?:put|putting|get|getting|got|sorted|sorting|set|setting) (?:all )?(?:my |of my )?"
    r"(?:affairs|things|life|accounts|papers|estate) (?:in order|sorted|straight)\b",
    r"\btying up (?:all )?(?:the |my )?loose ends\b",
    r"\b(?:timing|timed|checking|checked|worked out|looked up) (?:the )?(?:trains|train times|when "
    r"the (?:trains?|express) (?:comes?|passes|goes)|how often the trains?)\b",
    r"\b(?:checked|tested|made sure|checking|testing) (?:that |if |whether )?(?:the|a|my) (?:\w+ )?"
    r"(?:beam|rafter|banister|hook|pipe|branch|railing|knot|noose|rope) (?:holds|will hold|would "
    r"hold|can hold|is strong enough|takes my weight|will take my weight)\b",
    r"\b(?:hiding|hid|saving|keeping|pocketing) (?:a few|some|one|two|my|a) (?:\w+ )?"
    r"(?:every|each) "
    r"(?:day|night|dose)\b|\binstead of taking them\b",
)
PREPARATION_WEAK = _d(
    "PREPARATION",
    "rule:preparation_act",
    r"\bgiv(?:e|ing|en|ve) away (?:all |most )?(?:of )?(?:my|his|her|their) (?:\w+ )?(?:stuff|"
    r"things|belongings|possessions|cat|cats|dog|dogs|pets?|clothes|games|money|guitar|books|"
    r"plants|bike|jewellery|jewelry|records|collection|savings|car)\b",
    r"\bgiving (?:all )?(?:my|away my) (?:\w+ )?(?:things|stuff|belongings|possessions) away\b",
    r"\bgave (?:my|all my|away my) (?:\w+ )?(?:cat|dog|pets?|things|stuff|guitar|console) "
    r"(?:away|to)\b",
    r"\b(?:found|finding|find) (?:a |new )?(?:new )?homes? for (?:my|all my) (?:cat|cats|dog|dogs|"
    r"pets?|rabbit|bird|fish|hamster)\b",
    r"\b(?:paid|paying|pay|clearing|cleared|settling|settled) (?:off )?(?:all )?(?:of )?(?:my )?"
    r"(?:debts?|loans?|credit cards?|what i owe)\b(?= (?:so|before|for when|because i will|"
    r"now that|then|while i still))",
    r"\b(?:scheduled|scheduling|schedule|set up|setting up|timed|queued|queuing) (?:a |an |the |"
    r"some |my )?(?:\w+ )?(?:messages?|emails?|posts?|texts?|tweets?|letters?)\b",
    r"\b(?:wrote|writing|updated|updating|made|making|finished|signed|redid|redoing|drew up|"
    r"drawing up) (?:my|a|out my) (?:will|last will|testament)\b",
    r"\bmy (?:last )?will is (?:done|written|sorted|signed|ready|finished|made)\b",
    r"\b(?:wrote|writing|write|left|leaving|leave|written) (?:a |the |some )?(?:letters?|notes?|"
    r"cards?) (?:for|to) (?:my |each of my |everyone|everybody|all|each|the people|mum|mom|dad|"
    r"my \w+)\b",
    r"\b(?:cancel(?:l)?ed|cancel(?:l)?ing|deleted|deleting|closed|closing|shut down) (?:all )?"
    r"(?:of )?(?:my )?(?:\w+ )?(?:subscriptions?|accounts?|social media|phone contract|"
    r"memberships?|appointments?|bank accounts?|profiles?)\b",
    r"\b(?:made|making|wrote|writing) (?:a )?(?:list|arrangements|plans) (?:of who gets|for who "
    r"gets|for my funeral|for the funeral|for my (?:cat|dog|pets|kids))\b",
    r"\bwho gets (?:my|what)\b|\bmy funeral\b",
    r"\b(?:picked|chosen|chose|found|scouted) (?:the|a|my) (?:\w+ )?(?:spot|place|location)\b"
    r"(?! (?:for|to) (?!(?:it|when|the end|doing it)\b))",
    rf"\b(?:bought|buying|ordered|ordering|got|getting|picked up|purchased) (?:a |an |the |some |"
    rf"enough |new |more )?(?:\w+ )?(?:{WEAPONS}|rope|ropes|noose|charcoal|hose|razor blades|"
    rf"blades|{POISONS}|ammunition|bullets|shells)\b",
)

# Attempt under way or just done (C-SSRS 6): IMMINENT.
ATTEMPT = _d(
    "ATTEMPT",
    "rule:attempt_in_progress",
    rf"\b(?:took|taken|swallowed|ate|downed|drank|drunk|am taking|am swallowing|have taken|just "
    rf"took|already took|already swallowed|popped) (?:a (?:bunch|lot|handful|bottle|whole bottle|"
    rf"box|pack|packet|strip) of |all (?:of )?(?:my|the|those|these) |(?:(?:like|about|around|"
    rf"maybe|roughly|nearly|almost|over|at least|more than) )?(?:\d{{2,}}|twenty|thirty|"
    rf"forty|fifty|sixty|a hundred|[a-z]+ty) |the (?:whole|entire|rest of the) (?:bottle|box|pack|"
    rf"packet|strip) (?:of )?|too many |an overdose of |loads of |so many |every (?:last )?|the "
    rf"rest of (?:my|the) |what was left (?:of|in) (?:my |the )?(?:\w+ )?|everything in (?:the|"
    rf"my) )(?:\w+ ){{0,2}}?(?:{DRUGS}|{POISONS}|bottle|box|cabinet|packet)\b",
    r"\b(?:already|just) (?:swallowed|overdosed|slit|jumped)\b",
    # A whole supply taken, however it is named ("my mum's whole prescription of oxycodone").
    rf"\b(?:swallowed|downed|injected|took|drank|have taken|have swallowed) (?:[\w']+ ){{0,4}}?"
    rf"(?:whole|entire) (?:[\w']+ ){{0,3}}?{DRUGS}\b",
    r"\b(?:already|just) (?:took|drank|taken|had) (?:them all|all of them|it all|everything|"
    r"the lot|the pills|my pills|the tablets|the rest|too many)\b",
    rf"\b(?:drank|swallowed|drunk|have drunk|just drank) (?:some |the |a (?:glass|cup|bottle) of )?"
    rf"{POISONS}\b",
    r"\b(?:overdosed|took an overdose|have taken an overdose|am overdosing)\b(?! (?:\w+ ){0,4}"
    r"(?:years|months|when i was|in (?:19|20)))",
    r"\b(?:standing|sitting|stood|sat|am|i am|perched|leaning) (?:on|at|over) (?:the|a|this|my) "
    r"(?:edge|ledge|bridge|roof|rooftop|railing|tracks|train tracks|cliff|balcony railing|"
    r"parapet)\b",
    rf"\b(?:rope|noose|belt|cord) (?:is )?(?:around|on|over) {POSS} neck\b",
    r"\b(?:the )?(?:rope|noose) is (?:tied|ready|up|hanging|set up)\b",
    rf"\b(?:gun|pistol|revolver) (?:is )?(?:loaded and )?(?:to|against|in) {POSS} (?:head|mouth|"
    r"temple)\b",
    r"\b(?:holding|have|got) (?:a |the |my )?(?:loaded )?(?:gun|pistol|revolver) (?:to|against) "
    r"my\b",
    r"\bbleeding (?:a lot|badly|out|heavily|everywhere)\b|\bcut (?:too )?deep\b",
    r"\b(?:pills|overdose|tablets|poison|bleach) (?:are|is) (?:kicking in|starting to work|"
    r"working|taking effect)\b",
    r"\b(?:starting to|beginning to|already) (?:feel|get) (?:sleepy|drowsy|dizzy|numb|weird|woozy|"
    r"sick|faint)\b(?: \w+){0,3} (?:from|after|since) (?:the )?(?:pills|tablets|overdose|taking)",
    r"\b(?:sitting|sat|am|i am) in the (?:car|garage)\b(?: \w+){0,4} (?:engine|exhaust) "
    r"(?:running|on)\b",
    r"\bengine (?:is )?running\b(?: \w+){0,5} (?:garage|closed|shut|sealed)\b",
    rf"\b(?:have|i have|just|already) (?:cut|slit|slashed|opened) {POSS} "
    r"(?:wrists?|throat|veins?)\b",
    r"\b(?:i have|i) (?:done|did) it\b(?: \w+){0,4} too late\b|\bit is too late (?:now|to stop|"
    r"for me)\b",
    r"\btook something\b(?: \w+){0,6} (?:feel|feeling|strange|weird|dizzy|sleepy|numb)\b",
    r"\b(?:platform edge|edge of the platform|edge of the roof|edge of the cliff)\b",
    r"\bcharcoal is (?:lit|burning|going)\b|\bshut myself in\b(?: \w+){0,4} (?:car|garage|room|"
    r"tent|fumes)?",
    r"\b(?:i did|i have done) something\b(?: \w+){0,6} "
    r"(?:working|kicking in|too late|can not undo)\b",
    rf"\b(?:taking|swallowing|downing) (?:the |my |all the |all my )?(?:\w+ )?{DRUGS} "
    r"(?:now|right now|"
    r"one after another|one by one|as we speak)\b",
    r"\b(?:walking|standing|sitting|lying) (?:along|on|in|across) (?:the )?"
    r"(?:hard shoulder|middle of "
    r"the motorway|railway line|train tracks|tracks)\b",
    r"\b(?:will not|can not) stop (?:the )?bleeding\b",
    rf"\b(?:emptied|tipped|poured) (?:out )?(?:the|a|my) (?:\w+ )?(?:cabinet|bottle|box|packet|tub|"
    rf"{DRUGS})\b(?: \w+){{0,6}} (?:swallowed|took them|downed|ate them)\b",
    r"\bcut my (?:wrists?|throat)\b",
    r"\b(?:water|river|sea) is (?:up to|at|over) my (?:chest|neck|chin|waist)\b",
    r"\b(?:i am|am) (?:in the water|on the tracks|on the bridge|on the roof|at the bridge|at the "
    r"edge)\b",
)

# An attempt disclosed in the past tense: HIGH when recent, history with a history marker.
PAST_ATTEMPT = _d(
    "ATTEMPT",
    "rule:attempt",
    rf"\b(?:tried|attempted|try|trying|attempting) (?:to )?(?:kill {REF}|end {POSS} (?:own )?life|"
    rf"commit suicide|take {POSS} (?:own )?life|suicide|overdose|hang {REF}|die|end it)\b",
    r"\bsuicide attempts?\b",
    rf"\b(?:cut|burned|burnt|hurt|harmed) {REF} (?:again|last night|today|yesterday|tonight|this "
    r"(?:morning|week)|badly|deep)\b",
)

# Farewell acts: strong ones escalate alone; all of them are IMMINENT beside ideation.
FAREWELL_STRONG = _d(
    "FAREWELL",
    "rule:farewell",
    # Not a leaving-for-now: "goodbye everyone, I'm off on holiday" is no farewell act.
    r"\b(?:goodbye|bye|farewell) (?:cruel )?(?:world|everyone|everybody|forever|all|for good)\b"
    r"(?!.*\b(?:holiday|vacation|trip|see you|back (?:on|in|next|soon)|for (?:a|two|three|\d+) "
    r"(?:weeks?|days?|months?)|for now|for the (?:night|day|weekend)|logging off|until|till)\b)",
    r"\bthis is (?:my|the) (?:last|final) (?:message|post|goodbye|night|words|thing|time|text|"
    rf"entry)\b{MOVING_ON}",
    r"\b(?:the )?(?:last|final) (?:thing|message|words?|post|text) i (?:will|am going to|ever) "
    r"(?:write|send|say|post|type)\b",
    r"\b(?:will not|never) (?:hear from|see|bother|talk to) (?:me|you) again\b",
    r"\bby the time (?:you|anyone|someone|they|somebody) (?:read|reads|see|sees|find|finds|get|"
    r"gets) (?:this|me|it)\b",
    r"\bif (?:anyone|someone|somebody|you) (?:reads|read|finds|find|sees|see) this\b",
    r"\bwill not be (?:around|here) to (?:say|see|tell)\b",
    r"\bsee you (?:on the other side|in the next life|in another life)\b",
    r"\bwill not be (?:here|around|alive) (?:tomorrow|much longer|by (?:morning|tomorrow)|after "
    r"tonight|in the morning|next week)\b",
    r"\b(?:i love you all|love you all)(?: so much)?,? (?:goodbye|bye|i am sorry)\b",
    # "my last weekend alive": a farewell told as a date, not a wish ("... as a teenager" is not).
    r"\b(?:my|the) (?:last|final) (?:day|night|week|weekend|month|birthday|christmas|summer)s? "
    r"(?:alive|on (?:this )?earth|breathing)\b(?! as (?:a|an|the)\b)",
)
FAREWELL_WEAK = _d(
    "FAREWELL",
    "rule:farewell_words",
    r"\btell (?:my |her |him |them |everyone |mum |mom |dad )?(?:\w+ )?(?:that )?(?:i am sorry|i "
    r"love (?:her|him|them|you)|goodbye|i said goodbye)\b",
    r"\b(?:please )?(?:forgive me|do not blame yourself|it is not your fault)\b",
    r"\b(?:texted|called|rang|phoned|messaged|wrote to|visited|went to see) (?:[\w']+ ){1,3}to "
    r"say (?:goodbye|bye|sorry|i am sorry)\b",
    r"\b(?:thank you|thanks) for (?:everything|trying|all you have done)(?:,| and)? (?:goodbye|"
    r"bye|i am sorry|sorry)\b",
    r"\b(?:please )?(?:take care of|look after|feed) (?:my|the) (?:cat|cats|dog|dogs|kids|"
    r"children|plants|mum|mom|family|pets?) (?:for me|when|after|once)\b",
    r"\bi am sorry for everything\b",
    r"\b(?:it was not|it is not|was not) (?:her|his|their|your) fault\b",
)

# Non-suicidal self-injury, current: HIGH (no C-SSRS screener line of its own).
SELF_HARM = _d(
    "SELF_HARM",
    "rule:self_harm",
    rf"\b(?:hurt|hurting|harm|harming|cut|cutting|burn|burning|starve|starving|hit|hitting|"
    rf"punch|punching|scratch|scratching|bite|biting) {REF}\b",
    r"\bself harm(?:ing|ed)?\b",
    r"\b(?:been|started|start|keep|kept|am|was) cutting(?: again)?\b",
    r"\b(?:cut|cutting|burned|burning) (?:again|last night|tonight|today)\b",
    r"\b(?:razor|blade|lighter|knife)s? (?:to|on|against|across) my (?:arm|arms|skin|wrist|wrists|"
    r"thigh|thighs|leg|legs)\b",
    r"\b(?:urge|urges|need|want) to (?:cut|burn|hurt myself|bleed)\b",
    r"\b(?:cut|cutting|burned|burnt|burning|scratched|carved|carving) (?:my )?"
    r"(?:arms?|thighs?|legs?|"
    r"skin|stomach|hips?|wrists?)\b",
    r"\buntil (?:my \w+|it|they) (?:bleed|bleeds|bled|bleeding)\b",
    r"\b(?:hit|hitting|bang|banging|scratch|scratching|pick|picking|burn|burning|carve|carving|"
    r"punch|punching) (?:my )?(?:head|skin|arms?|legs?|wrists?|thighs?|face|fists?)\b(?: \w+){0,4} "
    r"until (?:it|they|i|my skin) (?:bleed|bleeds|bled|bruise|bruises|bruised|bleeding)\b",
)

# Distress that on its own is LOW.
DISTRESS = _d(
    "DISTRESS",
    "rule:hopelessness",
    r"\b(?:feel|feeling|felt|am|so) (?:completely |totally |so |really |very )?(?:hopeless|"
    r"worthless|empty inside|numb|trapped)\b",
    r"\b(?:am|feel like|feel like i am) (?:a|such a|just a) burden\b",
    r"\bcan not (?:go on|do this anymore|take (?:it|this|much more)(?: anymore)?|keep going|cope "
    r"anymore)\b",
    r"\b(?:give|giving|gave|given) up on (?:life|everything|myself)\b",
    rf"\b(?:do|does) not {A}see (?:the|any) point (?:of|in) (?:anything|trying|it all)\b",
    r"\bmy life is over\b",
    rf"\bfeel(?:ing)? like {A}dying\b",
    r"\bthere is no point (?:to|in) anything\b",
    r"\bnothing (?:matters|will (?:ever )?get better)\b",
    r"\b(?:dead|empty) inside\b",
    r"\bno way out\b",
)

DETECTORS: list[Detector] = [
    *WISH_PASSIVE,
    *WISH_ACTIVE,
    *DEATH_REF,
    *IDEATION,
    *MENTION,
    *COMMAND,
    *METHOD,
    *MEANS,
    *(Detector(d.component, d.rule_id, d.pattern, True) for d in MEANS_READY),
    *OPPORTUNITY,
    *INTENT,
    *(Detector(d.component, d.rule_id, d.pattern, True) for d in RESOLVE_STRONG),
    *RESOLVE_WEAK,
    *TIMING,
    *PLAN,
    *(Detector(d.component, d.rule_id, d.pattern, True) for d in PREPARATION_STRONG),
    *PREPARATION_WEAK,
    *(Detector(d.component, d.rule_id, d.pattern, True) for d in ATTEMPT),
    *PAST_ATTEMPT,
    *(Detector(d.component, d.rule_id, d.pattern, True) for d in FAREWELL_STRONG),
    *FAREWELL_WEAK,
    *SELF_HARM,
    *DISTRESS,
]
