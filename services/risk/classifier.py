"""The risk model (no gRPC): calibrated probabilities over ``labels.RISK_LEVELS`` for texts.

One input of the risk screen: the rules in this service decide the level; this model adds a
learned estimate per text (shared int8 encoder + committed ONNX head), calibrated on held-out
users by a temperature folded into the head.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from services.common.config import Settings
from services.common.encoder import get_encoder
from services.common.features import Embed, MemoEmbed, memo_embed
from services.common.heads import ClassifierHead
from services.common.labels import RISK_LEVELS
from services.common.seeker_turns import encode_turn

HEAD_PATH = Path(__file__).resolve().parent / "weights" / "head.onnx"


class RiskClassifier:
    """``probabilities(texts) -> [N, 5]`` in NONE, LOW, MODERATE, HIGH, IMMINENT order."""

    def __init__(
        self, settings: Settings, head_path: Path = HEAD_PATH, embed: Embed | None = None
    ) -> None:
        self.encoder = get_encoder(settings)
        # ``embed`` replaces the encoder call (the evaluation passes its embedding cache). The
        # screen scores a conversation's last ``model_window`` seeker turns on every request, and
        # a partner app resends the whole conversation each time, so without the memo every
        # earlier turn is encoded again (the encoder was over half of this replica's CPU under
        # load); with it, a request encodes only its new turn.
        self._embed = embed if embed is not None else memo_embed(self.encoder, settings)
        self.head = ClassifierHead(head_path, threads=settings.onnx_threads)
        if self.head.labels and self.head.labels != RISK_LEVELS:
            raise ValueError(f"{head_path} was trained for labels {self.head.labels}")
        self.name = self.head.name
        self.version = f"{self.head.version}+enc.{self.encoder.version}"

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, len(RISK_LEVELS)), np.float32)
        embed = self._embed
        if isinstance(embed, MemoEmbed) and embed.shares and not embed.knows(texts[-1]):
            # The newest seeker turn, which the screen sees before any other service: its one
            # encoder run also leaves the defense classifier's occluded embeddings in the
            # machine's shared embeddings (``seeker_turns.encode_turn``), so that service does
            # not run the encoder on it again.
            encode_turn(self.encoder, texts[-1], embed)
        return self.head.probabilities(embed(list(texts)))
