"""Strategy prediction core (no gRPC): which ESConv strategy the next supporter turn should use.

Two committed ONNX heads sit on the shared int8 sentence encoder:

- the **utterance classifier** (``weights/utterance.onnx``): the strategy a supporter text
  uses, from its own words (``classify_utterance``; also the generation metric "strategy
  adherence");
- the **next-strategy head** (``weights/head.onnx``): the strategy of the next supporter turn,
  from the situation, the recent turns and the strategy history, where the history is the
  utterance classifier's reading of the last supporter turns (requests carry no labels).

Probabilities are in ``labels.STRATEGIES`` order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from services.common.config import Settings
from services.common.domain import Conversation, Scored
from services.common.encoder import get_encoder
from services.common.features import Embed, memo_embed
from services.common.heads import ClassifierHead
from services.common.labels import STRATEGIES
from services.strategy.features import strategy_features

WEIGHTS = Path(__file__).resolve().parent / "weights"
HEAD_PATH = WEIGHTS / "head.onnx"
UTTERANCE_HEAD_PATH = WEIGHTS / "utterance.onnx"


def _scored(row: np.ndarray, name: str, version: str) -> Scored:
    return Scored(
        index=int(row.argmax()),
        probabilities=tuple(float(p) for p in row),
        model_name=name,
        model_version=version,
    )


class StrategyModel:
    """``predict(conversation) -> Scored`` over the 8 ESConv strategies for the next turn, and
    ``classify_utterance(text) -> Scored`` for the strategy a supporter text uses.

    ``embed`` replaces the encoder (the evaluation passes its embedding cache); by default the
    shared encoder behind a memo, so a conversation's earlier turns are encoded once.
    """

    def __init__(
        self,
        settings: Settings,
        head_path: Path = HEAD_PATH,
        utterance_head_path: Path = UTTERANCE_HEAD_PATH,
        embed: Embed | None = None,
    ) -> None:
        self.encoder = get_encoder(settings)
        self.head = ClassifierHead(head_path, threads=settings.onnx_threads)
        self.utterance_head = ClassifierHead(utterance_head_path, threads=settings.onnx_threads)
        for path, head in ((head_path, self.head), (utterance_head_path, self.utterance_head)):
            if head.labels and head.labels != STRATEGIES:
                raise ValueError(f"{path} was trained for labels {head.labels}")
        self.name = self.head.name
        self.utterance_name = self.utterance_head.name
        self._embed = embed if embed is not None else memo_embed(self.encoder, settings)
        # The next-strategy answer depends on both heads and the encoder under them.
        encoder = f"enc.{self.encoder.version}"
        self.version = f"{self.head.version}+{self.utterance_head.version}+{encoder}"
        self.utterance_version = f"{self.utterance_head.version}+{encoder}"

    def utterance_probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """[N, 8] strategy probabilities of supporter utterances."""
        if len(texts) == 0:
            return np.zeros((0, len(STRATEGIES)), np.float32)
        return self.utterance_head.probabilities(self._embed(list(texts)))

    def classify_utterance(self, text: str) -> Scored:
        """The strategy a supporter ``text`` uses, judged from the text alone."""
        row = self.utterance_probabilities([text])[0]
        return _scored(row, self.utterance_name, self.utterance_version)

    def predict_batch(self, conversations: Sequence[Conversation]) -> list[Scored]:
        if not conversations:
            return []
        features = strategy_features(conversations, self._embed, self.utterance_probabilities)
        probs = self.head.probabilities(features)
        return [_scored(row, self.name, self.version) for row in probs]

    def predict(self, conversation: Conversation) -> Scored:
        return self.predict_batch([conversation])[0]
