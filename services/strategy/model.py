"""Strategy prediction core (no gRPC): which ESConv strategy the next supporter turn should use.

The shared int8 sentence encoder embeds a few texts of the conversation (situation, last
seeker and supporter turns, recent turns); a committed ONNX head turns those features into a
probability for each of the 8 strategies, in ``labels.STRATEGIES`` order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from services.common.config import Settings
from services.common.domain import Conversation, Scored
from services.common.encoder import get_encoder
from services.common.features import MemoEmbed, strategy_features
from services.common.heads import ClassifierHead
from services.common.labels import STRATEGIES

HEAD_PATH = Path(__file__).resolve().parent / "weights" / "head.onnx"


class StrategyModel:
    """``predict(conversation) -> Scored`` over the 8 ESConv strategies."""

    def __init__(self, settings: Settings, head_path: Path = HEAD_PATH) -> None:
        self.encoder = get_encoder(settings)
        self.head = ClassifierHead(head_path, threads=settings.onnx_threads)
        if self.head.labels and self.head.labels != STRATEGIES:
            raise ValueError(f"{head_path} was trained for labels {self.head.labels}")
        self.name = self.head.name
        self._embed = MemoEmbed(self.encoder.embed)
        # The answer depends on both the head and the encoder under it.
        self.version = f"{self.head.version}+enc.{self.encoder.version}"

    def predict_batch(self, conversations: Sequence[Conversation]) -> list[Scored]:
        if not conversations:
            return []
        probs = self.head.probabilities(strategy_features(conversations, self._embed))
        return [
            Scored(
                index=int(row.argmax()),
                probabilities=tuple(float(p) for p in row),
                model_name=self.name,
                model_version=self.version,
            )
            for row in probs
        ]

    def predict(self, conversation: Conversation) -> Scored:
        return self.predict_batch([conversation])[0]
