"""Defense-level core (no gRPC): the DMRS level of the seeker's last turn, with evidence.

The last seeker turn is embedded by the shared int8 encoder (one encoder call per request),
beside surface cues of the DMRS levels in it (``features.DEFENSE_CUES``); a committed ONNX
head gives a probability per PsyDefConv level (``labels.DEFENSE_LEVELS``). Evidence is found by
occlusion: each clause of the target turn is dropped in turn and the text re-scored; the
clauses whose removal lowers the predicted level's probability most are the spans that
support it. A dropped clause's text is not encoded again: one encoder run gives the turn's
token vectors, and the embedding without a clause is the mean over the tokens outside it
(``Encoder.token_states``), so evidence costs one encoder run whatever the number of clauses.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from services.common.config import Settings
from services.common.domain import Conversation, Scored
from services.common.encoder import get_encoder
from services.common.features import Embed, MemoEmbed, memo_embed
from services.common.heads import ClassifierHead
from services.common.labels import DEFENSE_LEVELS
from services.defense.features import defense_features, defense_target_index

HEAD_PATH = Path(__file__).resolve().parent / "weights" / "head.onnx"
# Clauses end at sentence punctuation, a semicolon or a comma, or before "but"/"because".
_CLAUSE_END = re.compile(r"[.!?;,]+\s*|\s+(?=(?:but|because|although|though)\b)", re.IGNORECASE)
MAX_CLAUSES = 8  # a long turn keeps its longest clauses
MAX_SPANS = 3
OCCLUDED_MEMO = 512  # target turns whose occluded embeddings are kept


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


def occluded_embeddings(
    encoder: Any, text: str, spans: Sequence[tuple[int, int]]
) -> list[np.ndarray]:
    """For each [start, end) span of ``text``: the unit-length mean of the token vectors of
    ``text`` outside the span ([CLS] and [SEP] included, as in the encoder's own pooling), the
    embedding of ``text`` with the span dropped, approximately. One encoder run."""
    _, states, offsets = encoder.token_states(text)
    return pool_outside(states, offsets, spans)


def pool_outside(
    states: np.ndarray, offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]
) -> list[np.ndarray]:
    """``occluded_embeddings`` from token vectors and offsets already computed."""
    bounds = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    special = bounds[:, 0] == bounds[:, 1]
    out = []
    for start, end in spans:
        # A token that overlaps the span at all is part of it.
        keep = special | (bounds[:, 1] <= start) | (bounds[:, 0] >= end)
        vector = states[keep].mean(axis=0)
        out.append((vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32))
    return out


def evidence_clauses(text: str) -> list[tuple[int, int]]:
    """The clauses of ``text`` that evidence is chosen from: at most ``MAX_CLAUSES``, the
    longest, in text order."""
    spans = clause_spans(text)
    if len(spans) > MAX_CLAUSES:
        spans = sorted(sorted(spans, key=lambda s: s[0] - s[1])[:MAX_CLAUSES])
    return spans


class DefenseModel:
    """``classify(conversation) -> Scored`` with ``extras["evidence"]`` spans."""

    def __init__(
        self, settings: Settings, head_path: Path = HEAD_PATH, embed: Embed | None = None
    ) -> None:
        self.encoder = get_encoder(settings)
        self.head = ClassifierHead(head_path, threads=settings.onnx_threads)
        if self.head.labels and self.head.labels != DEFENSE_LEVELS:
            raise ValueError(f"{head_path} was trained for labels {self.head.labels}")
        self.name = self.head.name
        # ``embed`` replaces the encoder (the evaluation passes its embedding cache).
        self._embed = embed if embed is not None else memo_embed(self.encoder, settings)
        self.version = f"{self.head.version}+enc.{self.encoder.version}"
        # A conversation's requests come again with the same target turn (a retry, a stream
        # after a unary call): its occluded embeddings are kept like the memo's vectors.
        self._occluded_memo: dict[str, list[np.ndarray]] = {}
        self._occluded_lock = threading.Lock()

    def _occluded(self, text: str) -> list[np.ndarray]:
        """``occluded_embeddings`` of a target turn over its ``evidence_clauses``, from a small
        memo (the clauses follow from the text, so the text is the key). The run that reads
        the token vectors also gives the turn's embedding, bit for bit the encoder's: it goes
        into the embedding memo, so the level does not encode the turn a second time."""
        with self._occluded_lock:
            known = self._occluded_memo.get(text)
        if known is not None:
            return known
        embedding, states, offsets = self.encoder.token_states(text)
        if isinstance(self._embed, MemoEmbed):
            self._embed.put(text, embedding)
        vectors = pool_outside(states, offsets, evidence_clauses(text))
        with self._occluded_lock:
            if len(self._occluded_memo) >= OCCLUDED_MEMO:
                self._occluded_memo.pop(next(iter(self._occluded_memo)))  # oldest first
            self._occluded_memo[text] = vectors
        return vectors

    def _evidence(
        self, conv: Conversation, level: int, full_prob: float
    ) -> list[tuple[int, int, int, float]]:
        target = defense_target_index(conv)
        if target < 0:
            return []
        text = conv.turns[target].text
        spans = evidence_clauses(text)
        if len(spans) <= 1:
            # Nothing to compare against: the whole turn is the evidence.
            return [(target, spans[0][0], spans[0][1], 1.0)] if spans else []
        variants = [(text[:s] + text[e:]).strip() for s, e in spans]
        occluded = self._occluded(text)
        table = dict(zip(variants, occluded, strict=True))
        # The cues are read from each variant's text; its embedding comes from the table.
        feats = defense_features(
            [conv] * len(variants), lambda texts: np.stack([table[t] for t in texts]), variants
        )
        drops = full_prob - self.head.probabilities(feats)[:, level]
        top = float(drops.max())
        if top <= 0:
            return []
        ranked = sorted(zip(drops.tolist(), spans, strict=True), key=lambda d: -d[0])
        return [
            (target, s, e, round(drop / top, 4)) for drop, (s, e) in ranked[:MAX_SPANS] if drop > 0
        ]

    def predict_batch(
        self, conversations: Sequence[Conversation], evidence: bool = True
    ) -> list[Scored]:
        if not conversations:
            return []
        if evidence:
            # The turns that will need token vectors read them first, in one run that also
            # gives their embeddings (one encoder run per target turn for level and evidence).
            for conv in conversations:
                target = defense_target_index(conv)
                if target >= 0 and len(evidence_clauses(conv.turns[target].text)) > 1:
                    self._occluded(conv.turns[target].text)
        probs = self.head.probabilities(defense_features(conversations, self._embed))
        results = []
        for conv, row in zip(conversations, probs, strict=True):
            level = int(np.argmax(row))
            extras = (
                {"evidence": self._evidence(conv, level, float(row[level]))} if evidence else {}
            )
            results.append(
                Scored(
                    index=level,
                    probabilities=tuple(float(p) for p in row),
                    model_name=self.name,
                    model_version=self.version,
                    extras=extras,
                )
            )
        return results

    def classify(self, conversation: Conversation) -> Scored:
        return self.predict_batch([conversation])[0]
