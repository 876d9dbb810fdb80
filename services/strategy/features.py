"""Strategy-prediction features: the columns the next-strategy head reads, built the same way
for serving (``services/strategy/model.py``) and training (``tools/training/strategy.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from services.common.domain import SUPPORTER, Conversation, Turn
from services.common.encoder import EMBEDDING_DIM
from services.common.features import Embed, embed_unique, lookup
from services.common.labels import STRATEGIES

# How many earlier supporter turns the strategy-history block describes (most recent first).
HISTORY_TURNS = 3
# texts -> [N, 8] strategy probabilities of supporter utterances (the utterance classifier).
UtteranceProbs = Callable[[Sequence[str]], np.ndarray]
N_STRATEGIES = len(STRATEGIES)

STRATEGY_FEATURES = {
    "blocks": ["situation embedding", "last seeker turn embedding"],
    "numeric": [
        "turns so far / 20",
        "1 if a supporter turn exists",
        "1 if the last seeker turn has a '?'",
        "1 if the last turn is the supporter's",
        "supporter turns since the last seeker turn / 3",
    ],
    "history": [
        f"for each of the last {HISTORY_TURNS} supporter turns (most recent first): "
        f"{N_STRATEGIES} strategy columns (one-hot of the turn's given strategy, else the "
        "utterance classifier's probabilities), 1 if the turn exists, 1 if its strategy was given"
    ],
}
HISTORY_WIDTH = N_STRATEGIES + 2
N_BLOCKS = len(STRATEGY_FEATURES["blocks"])
N_NUMERIC = len(STRATEGY_FEATURES["numeric"])


def _supporter_history(conv: Conversation) -> list[Turn]:
    """The last ``HISTORY_TURNS`` supporter turns, most recent first."""
    return [t for t in reversed(conv.turns) if t.role == SUPPORTER][:HISTORY_TURNS]


def strategy_history(convs: Sequence[Conversation], utterance_probs: UtteranceProbs) -> np.ndarray:
    """[N, HISTORY_TURNS * HISTORY_WIDTH]: the strategies of the earlier supporter turns.

    A turn whose strategy the request gives (``Turn.strategy``, the label Solace returned with
    that reply) contributes its one-hot; otherwise the utterance classifier reads the strategy
    from the supporter's own words, and only those texts are encoded.
    """
    histories = [_supporter_history(conv) for conv in convs]
    unique = sorted({t.text for h in histories for t in h if t.strategy is None})
    table = dict(zip(unique, utterance_probs(unique), strict=True)) if unique else {}
    out = np.zeros((len(convs), HISTORY_TURNS * HISTORY_WIDTH), np.float32)
    for row, history in enumerate(histories):
        for j, turn in enumerate(history):
            start = j * HISTORY_WIDTH
            if turn.strategy is None:
                out[row, start : start + N_STRATEGIES] = table[turn.text]
            else:
                out[row, start + turn.strategy] = 1.0
                out[row, start + N_STRATEGIES + 1] = 1.0
            out[row, start + N_STRATEGIES] = 1.0
    return out


def strategy_features(
    convs: Sequence[Conversation], embed: Embed, utterance_probs: UtteranceProbs
) -> np.ndarray:
    """[N, 2*384 + 5 + 30] features predicting the next supporter strategy.

    Two texts are embedded per conversation (the situation, the GLHG-style global cause, and
    the last seeker turn, the local intention): on ESConv valid the other context blocks we
    tried (last supporter turn, mean of recent turns) added nothing over these plus the
    strategy history, and each costs an encoder pass on a conversation's first request.
    """
    texts: list[str] = []
    for conv in convs:
        texts += [conv.situation, conv.last_seeker_text]
    table = embed_unique(texts, embed)
    rows = []
    for conv in convs:
        seeker = conv.last_seeker_text
        trailing = 0
        for turn in reversed(conv.turns):
            if turn.role != SUPPORTER:
                break
            trailing += 1
        numeric = np.array(
            [
                len(conv.turns) / 20.0,
                float(any(t.role == SUPPORTER for t in conv.turns)),
                float("?" in seeker),
                float(bool(conv.turns) and conv.turns[-1].role == SUPPORTER),
                trailing / 3.0,
            ],
            np.float32,
        )
        rows.append(np.concatenate([lookup(table, conv.situation), lookup(table, seeker), numeric]))
    base = np.asarray(rows, np.float32).reshape(len(convs), N_BLOCKS * EMBEDDING_DIM + N_NUMERIC)
    return np.hstack([base, strategy_history(convs, utterance_probs)])
