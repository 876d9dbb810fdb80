"""Defense-level features: the columns the DMRS head reads (target-turn embedding, two numeric
columns, surface cues), built the same way for serving (``services/defense/model.py``) and training
(``tools/training/defense.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from services.common.domain import SEEKER, Conversation
from services.common.encoder import EMBEDDING_DIM
from services.common.features import Embed, embed_unique, lookup

# Surface cues of the DMRS levels in the target turn (the handbook's markers, as regular
# expressions): each gives a 0/1 column; a few also give a per-word rate.
DEFENSE_CUES: dict[str, str] = {
    "short reply": r"^\W*(hi|hello|hey|bye|goodbye|thanks?|thank you|ok(ay)?|yes|no|yeah|yep|nope"
    r"|sure)\b\W*$",
    "thanks": r"\b(thanks?|thank you|appreciate)\b",
    "farewell": r"\b(bye|goodbye|good night|take care)\b",
    "anticipation": r"\b(i will|i'll|i am going to|i'm going to|i plan|i should|i can try"
    r"|give (it|that) a try|good idea|great idea)\b",
    "self-observation": r"\b(i reali[sz]e|i guess i|i tend to|i know i|i notice|i admit"
    r"|my fault|i was wrong)\b",
    "humour": r"(haha|\blol\b|lmao|:\)|:-\)|funny|joke|\bhehe)",
    "absolutes": r"\b(always|never|everyone|everybody|nobody|no one|nothing|everything"
    r"|all the time)\b",
    "blame": r"\b(their fault|his fault|her fault|blame|because of (him|her|them)|she's the one"
    r"|he's the one|not my fault)\b",
    "minimising": r"\b(it's fine|its fine|i'm fine|im fine|no big deal|not a big deal"
    r"|doesn't matter|whatever|i don't care|i dont care|not that bad)\b",
    "help-rejecting": r"\b(yeah but|yes but|i tried|i've tried|tried everything|won't work"
    r"|doesn't work|no use|pointless|nothing works)\b",
    "devaluing": r"\b(stupid|idiot|useless|worthless|pathetic|hate|terrible|awful|worst|evil"
    r"|selfish|crazy)\b",
    "idealising": r"\b(perfect|amazing|best|wonderful|incredible)\b",
    "intellectualising": r"\b(logically|rationally|objectively|statistic\w*|analy\w+|situation"
    r"|financial\w*|economy|pandemic|covid|in general|technically|basically)\b",
    "anxiety": r"\b(worr\w+|anxious|anxiety|scared|afraid|panic\w*|overthink\w*|stress\w*"
    r"|nervous)\b",
    "numbing": r"\b(numb|don't remember|can't remember|blank|don't know why"
    r"|don't feel anything)\b",
    "negative affect": r"\b(sad|depress\w*|lonely|alone|hurt|cry\w*|upset|angry|mad"
    r"|frustrat\w+)\b",
    "agreement": r"\b(you'?re right|that'?s true|true|i agree|makes sense|good point|exactly)\b",
    "question": r"\?",
    "exclamation": r"!",
    "first person": r"\b(i|me|my|myself|i'm|im|i've|i'd)\b",
    "third person": r"\b(he|she|they|him|her|them|his|their)\b",
    "negation": r"\b(not|no|never|don't|dont|can't|cant|won't|wont|isn't|didn't)\b",
}
_CUE_PATTERNS = {name: re.compile(rx, re.IGNORECASE) for name, rx in DEFENSE_CUES.items()}
_RATE_CUES = ("first person", "third person", "negation", "absolutes", "devaluing")
N_DEFENSE_CUES = len(DEFENSE_CUES) + len(_RATE_CUES) + 1


def defense_cues(text: str) -> np.ndarray:
    """[N_DEFENSE_CUES] cue columns of one target turn: presence, rates, log word count."""
    words = max(1, len(text.split()))
    present, rates = [], []
    for name, pattern in _CUE_PATTERNS.items():
        hits = len(pattern.findall(text))
        present.append(float(hits > 0))
        if name in _RATE_CUES:
            rates.append(min(1.0, 5.0 * hits / words))
    return np.asarray([*present, *rates, np.log1p(words) / 5.0], np.float32)


DEFENSE_FEATURES = {
    "blocks": ["target (last seeker) turn embedding"],
    "numeric": ["log1p(characters of the target) / 6", "seeker turns so far / 10"],
    "cues": [f"DMRS surface cues of the target turn: {', '.join(DEFENSE_CUES)}"],
}
# Column ranges of the blocks, for trainers that fit on a subset (unused columns get 0 weight).
# Only the target turn is embedded: one encoder call per request keeps the level within the
# 5 ms p50 budget (each further turn costs about 2.5 ms on a 2-core machine), and embeddings
# of the supporter turn and the recent context did not raise CV macro-F1 (docs/models/defense.md).
DEFENSE_BLOCKS = {
    "target": (0, EMBEDDING_DIM),
    "numeric": (EMBEDDING_DIM, EMBEDDING_DIM + 2),
    "cues": (EMBEDDING_DIM + 2, EMBEDDING_DIM + 2 + N_DEFENSE_CUES),
}


def defense_target_index(conv: Conversation) -> int:
    """Index of the turn the defense level is about: the last seeker turn (-1 if none)."""
    for i in range(len(conv.turns) - 1, -1, -1):
        if conv.turns[i].role == SEEKER:
            return i
    return -1


def defense_features(
    convs: Sequence[Conversation],
    embed: Embed,
    target_texts: Sequence[str] | None = None,
) -> np.ndarray:
    """[N, 384 + 2 + N_DEFENSE_CUES] features for the defense level of each conversation's
    last seeker turn (blocks in ``DEFENSE_BLOCKS``).

    ``target_texts`` replaces the target turn's text (used to score occluded variants).
    """
    texts, seekers = [], []
    for i, conv in enumerate(convs):
        target = defense_target_index(conv)
        text = conv.turns[target].text if target >= 0 else ""
        texts.append(target_texts[i] if target_texts is not None else text)
        seekers.append(sum(1 for t in conv.turns if t.role == SEEKER))
    table = embed_unique(texts, embed)
    rows = []
    for text, n_seeker in zip(texts, seekers, strict=True):
        numeric = np.array([np.log1p(len(text)) / 6.0, n_seeker / 10.0], np.float32)
        rows.append(np.concatenate([lookup(table, text), numeric, defense_cues(text)]))
    return np.asarray(rows, np.float32).reshape(len(texts), DEFENSE_BLOCKS["cues"][1])
