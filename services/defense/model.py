"""Defense-level core (no gRPC): the DMRS level of the seeker's last turn, with evidence.

The last seeker turn is embedded by the shared int8 encoder (one encoder call per request),
beside surface cues of the DMRS levels in it (``features.DEFENSE_CUES``); a committed ONNX
head gives a probability per PsyDefConv level (``labels.DEFENSE_LEVELS``). Evidence is found by
occlusion: each clause of the target turn is dropped in turn and the text re-scored; the
clauses whose removal lowers the predicted level's probability most are the spans that
support it. A dropped clause's text is not encoded again: one encoder run gives the turn's
token vectors, and the embedding without a clause is the mean over the tokens outside it
(``services.common.seeker_turns``), so evidence costs one encoder run whatever the number of
clauses, and none when the risk screen left that run's results in the machine's shared
embeddings.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from services.common.config import Settings
from services.common.domain import Conversation, Scored
from services.common.encoder import get_encoder
from services.common.features import Embed, MemoEmbed, memo_embed
from services.common.heads import ClassifierHead
from services.common.labels import DEFENSE_LEVELS
from services.common.seeker_turns import encode_turn, evidence_clauses, shared_occlusions
from services.defense.features import defense_features, defense_target_index

HEAD_PATH = Path(__file__).resolve().parent / "weights" / "head.onnx"
MAX_SPANS = 3
OCCLUDED_MEMO = 512  # target turns whose occluded embeddings are kept


class DefenseModel:
    """``classify(conversation) -> Scored`` with ``extras["evidence"]`` spans."""

    def __init__(
        self, settings: Settings, head_path: Path = HEAD_PATH, embed: Embed | None = None
    ) -> None:
        self.encoder = get_encoder(settings)
        # Evidence reads the encoder's token states: their graph is built now, not by the
        # first request (which would otherwise take most of a second longer).
        self.encoder.load_token_graph()
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
        """The occluded embeddings of a target turn over its ``evidence_clauses``, from a small
        memo (the clauses follow from the text, so the text is the key), else from the
        machine's shared embeddings, else from one encoder run (``encode_turn``), which also
        gives the turn's embedding, bit for bit the encoder's, to the embedding memo: the level
        does not encode the turn a second time."""
        with self._occluded_lock:
            known = self._occluded_memo.get(text)
        if known is not None:
            return known
        memo = self._embed if isinstance(self._embed, MemoEmbed) else None
        # The risk screen, which saw the turn first, usually left them in the machine's shared
        # embeddings (``seeker_turns.encode_turn``), with the turn's own embedding.
        vectors = shared_occlusions(memo, text) if memo is not None and memo.shares else None
        if vectors is None:
            vectors = encode_turn(self.encoder, text, memo)
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
