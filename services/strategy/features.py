"""Strategy-prediction features: the columns the next-strategy head reads, built the same way
for serving (``services/strategy/model.py``) and training (``solace/training/strategy.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from services.common.domain import SEEKER, SUPPORTER, Conversation
from services.common.encoder import EMBEDDING_DIM
from services.common.features import (
    CONTEXT_TURNS,
    Embed,
    embed_unique,
    last_text,
    lookup,
    mean_embedding,
    recent_texts,
)

# How many earlier supporter turns the strategy-history block describes (most recent first).
HISTORY_TURNS = 3
# texts -> [N, 8] strategy probabilities of supporter utterances (the utterance classifier).
UtteranceProbs = Callable[[Sequence[str]], np.ndarray]
N_STRATEGIES = 8

STRATEGY_FEATURES = {
    "blocks": [
        "situation embedding",
        "last seeker turn embedding",
        "last supporter turn embedding (zero if none)",
        f"normalised mean embedding of the last {CONTEXT_TURNS} turns",
    ],
    "numeric": [
        "turns so far / 20",
        "1 if a supporter turn exists",
        "1 if the last seeker turn has a '?'",
        "1 if the last turn is the supporter's",
        "supporter turns since the last seeker turn / 3",
    ],
    "history": [
        f"for each of the last {HISTORY_TURNS} supporter turns (most recent first): the "
        f"utterance classifier's {N_STRATEGIES} strategy probabilities and 1 if the turn exists"
    ],
}


def _supporter_history(conv: Conversation) -> list[str]:
    """The last ``HISTORY_TURNS`` supporter texts, most recent first."""
    texts = [t.text for t in reversed(conv.turns) if t.role == SUPPORTER]
    return texts[:HISTORY_TURNS]


def strategy_history(convs: Sequence[Conversation], utterance_probs: UtteranceProbs) -> np.ndarray:
    """[N, HISTORY_TURNS * 9]: the predicted strategies of the earlier supporter turns.

    Requests carry no strategy labels, so the history is what the utterance classifier reads
    from the supporter's own words; training uses the same (cross-fitted) predictions.
    """
    histories = [_supporter_history(conv) for conv in convs]
    unique = sorted({t for h in histories for t in h})
    table = dict(zip(unique, utterance_probs(unique), strict=True)) if unique else {}
    width = N_STRATEGIES + 1
    out = np.zeros((len(convs), HISTORY_TURNS * width), np.float32)
    for row, history in enumerate(histories):
        for j, text in enumerate(history):
            out[row, j * width : j * width + N_STRATEGIES] = table[text]
            out[row, j * width + N_STRATEGIES] = 1.0
    return out


def strategy_features(
    convs: Sequence[Conversation], embed: Embed, utterance_probs: UtteranceProbs
) -> np.ndarray:
    """[N, 4*384 + 5 + 27] features predicting the next supporter strategy."""
    texts: list[str] = []
    for conv in convs:
        texts += [
            conv.situation,
            last_text(conv, SEEKER),
            last_text(conv, SUPPORTER),
            *recent_texts(conv),
        ]
    table = embed_unique(texts, embed)
    rows = []
    for conv in convs:
        seeker, supporter = last_text(conv, SEEKER), last_text(conv, SUPPORTER)
        trailing = 0
        for turn in reversed(conv.turns):
            if turn.role != SUPPORTER:
                break
            trailing += 1
        numeric = np.array(
            [
                len(conv.turns) / 20.0,
                float(bool(supporter)),
                float("?" in seeker),
                float(bool(conv.turns) and conv.turns[-1].role == SUPPORTER),
                trailing / 3.0,
            ],
            np.float32,
        )
        rows.append(
            np.concatenate(
                [
                    lookup(table, conv.situation),
                    lookup(table, seeker),
                    lookup(table, supporter),
                    mean_embedding(table, recent_texts(conv)),
                    numeric,
                ]
            )
        )
    base = np.asarray(rows, np.float32).reshape(len(convs), 4 * EMBEDDING_DIM + 5)
    return np.hstack([base, strategy_history(convs, utterance_probs)])
