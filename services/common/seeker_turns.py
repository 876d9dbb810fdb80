"""One encoder run per new seeker turn, for every service that needs it.

A request's newest seeker turn is new text. The risk screen embeds it; the defense classifier
embeds it too and, for its evidence, needs the turn's embedding with each clause left out
(occlusion). All of that comes from one run of the encoder (``Encoder.token_states``): the
turn's embedding, and for each clause the normalised mean of the token vectors outside it.
``encode_turn`` does that run and hands the results to a service's ``MemoEmbed``, which shares
them with the other services of the machine (``services.common.shared_embeddings``): the risk
screen, which sees the turn first, encodes it once, and the defense classifier reads the
embedding and the occluded vectors instead of running the encoder again.

The clauses (``clause_spans``) are cut at sentence punctuation, semicolons and commas, and
before "but", "because", "although" and "though"; ``evidence_clauses`` keeps the longest
``MAX_CLAUSES`` of a long turn. Both services call the same functions, so the spans, and with
them the shared keys (``occlusion_key``), agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

# Clauses end at sentence punctuation, a semicolon or a comma, or before "but"/"because".
_CLAUSE_END = re.compile(r"[.!?;,]+\s*|\s+(?=(?:but|because|although|though)\b)", re.IGNORECASE)
MAX_CLAUSES = 8  # a long turn keeps its longest clauses


def clause_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) code-point offsets of the non-blank clauses of ``text``."""
    spans, start = [], 0
    for match in _CLAUSE_END.finditer(text):
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    trimmed = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if any(ch.isalnum() for ch in text[s:e]):
            trimmed.append((s, e))
    return trimmed


def evidence_clauses(text: str) -> list[tuple[int, int]]:
    """The clauses of ``text`` that evidence is chosen from: at most ``MAX_CLAUSES``, the
    longest, in text order."""
    spans = clause_spans(text)
    if len(spans) > MAX_CLAUSES:
        spans = sorted(sorted(spans, key=lambda s: s[0] - s[1])[:MAX_CLAUSES])
    return spans


def pool_outside(
    states: np.ndarray, offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]
) -> list[np.ndarray]:
    """For each [start, end) span: the unit-length mean of the token vectors outside it
    ([CLS] and [SEP] included, as in the encoder's own pooling), the embedding of the text with
    the span dropped, approximately (the tokens outside still saw the span in attention)."""
    bounds = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    special = bounds[:, 0] == bounds[:, 1]
    out = []
    for start, end in spans:
        # A token that overlaps the span at all is part of it.
        keep = special | (bounds[:, 1] <= start) | (bounds[:, 0] >= end)
        vector = states[keep].mean(axis=0)
        out.append((vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32))
    return out


# The shared-embeddings kind of occluded vectors: their keys never collide with a text's.
OCCLUDED = b"occluded"


def occlusion_key(text: str, start: int, end: int) -> str:
    """The shared-embeddings key (kind ``OCCLUDED``) of ``text`` with [start, end) left out."""
    return f"{start}:{end}:{text}"


def encode_turn(encoder: Any, text: str, memo: Any = None) -> list[np.ndarray]:
    """One encoder run for a seeker turn: its occluded embeddings over ``evidence_clauses``
    (empty for a one-clause turn), returned; with a ``MemoEmbed``, the turn's embedding (bit for
    bit the encoder's) is remembered and shared, and the occluded ones are shared."""
    embedding, states, offsets = encoder.token_states(text)
    spans = evidence_clauses(text)
    occluded = pool_outside(states, offsets, spans) if len(spans) > 1 else []
    if memo is not None:
        memo.put(text, embedding)
        for (start, end), vector in zip(spans, occluded, strict=False):
            memo.share(occlusion_key(text, start, end), vector, OCCLUDED)
    return occluded


def shared_occlusions(memo: Any, text: str) -> list[np.ndarray] | None:
    """The occluded embeddings of ``text`` from the machine's shared embeddings, when another
    service's ``encode_turn`` left all of them there; else None."""
    spans = evidence_clauses(text)
    found = []
    for start, end in spans:
        vector = memo.shared_get(occlusion_key(text, start, end), OCCLUDED)
        if vector is None:
            return None
        found.append(vector)
    return found
