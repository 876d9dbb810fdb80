"""Building blocks of the classifier features: embedding lookups shared by every service's
feature module (``services/<service>/features.py``), which serving and training both call, so
a model sees exactly the same columns in both places.

``embed`` is any function ``texts -> [N, 384]`` (the serving encoder, or the training cache in
front of it); each batch embeds every distinct text once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from services.common.encoder import EMBEDDING_DIM

Embed = Callable[[Sequence[str]], np.ndarray]


def embed_unique(texts: Sequence[str], embed: Embed) -> dict[str, np.ndarray]:
    """Embeddings of the distinct non-empty texts; the empty text maps to the zero vector."""
    unique = sorted({t for t in texts if t.strip()})
    table = {"": np.zeros(EMBEDDING_DIM, np.float32)}
    if unique:
        vectors = embed(unique)
        table.update(zip(unique, vectors, strict=True))
    return table


def lookup(table: dict[str, np.ndarray], text: str) -> np.ndarray:
    return table[text] if text.strip() else table[""]


class MemoEmbed:
    """``embed`` with a bounded memo of recent texts.

    Successive requests of one conversation repeat its situation and earlier turns, and
    defense evidence re-scores the same context once per occluded clause: those texts are
    encoded once. Safe because the encoder is batch-invariant (same text, same vector).
    """

    def __init__(self, embed: Embed, capacity: int = 4096) -> None:
        self._embed = embed
        self._capacity = capacity
        self._memo: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            for text, vector in zip(missing, self._embed(missing), strict=True):
                if len(self._memo) >= self._capacity:
                    # Oldest first: dicts keep insertion order.
                    self._memo.pop(next(iter(self._memo)))
                self._memo[text] = vector
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        return np.stack([self._memo[t] for t in texts])
