"""The risk model (no gRPC): calibrated probabilities over ``labels.RISK_LEVELS`` for texts.

One input of the risk screen: the rules in this service decide the level; this model adds a
learned estimate per text. It runs its own encoder, MiniLM fine-tuned for the five levels
(``weights/encoder.onnx``, int8, read with the built shared encoder's tokenizer; see
``tools.training.risk_encoder``), and a linear head with the calibration temperature folded in
(``weights/head.onnx``). The defense and strategy heads keep the shared encoder.

Besides each seeker turn, the screen gives it the conversation's latest seeker turns joined into
one text (``services.risk.window``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from services.common.config import Settings
from services.common.encoder import get_encoder
from services.common.errors import Unavailable
from services.common.features import Embed, memo_embed
from services.common.heads import ClassifierHead
from services.common.labels import RISK_LEVELS

WEIGHTS = Path(__file__).resolve().parent / "weights"
HEAD_PATH = WEIGHTS / "head.onnx"
ENCODER_PATH = WEIGHTS / "encoder.onnx"


class RiskClassifier:
    """``probabilities(texts) -> [N, 5]`` in NONE, LOW, MODERATE, HIGH, IMMINENT order."""

    def __init__(
        self,
        settings: Settings,
        head_path: Path = HEAD_PATH,
        embed: Embed | None = None,
        memo: bool = True,
        encoder_path: Path = ENCODER_PATH,
    ) -> None:
        if not encoder_path.is_file():
            raise Unavailable(f"the risk encoder is missing ({encoder_path}); solace train risk")
        self.encoder = get_encoder(settings, encoder_path)
        # ``embed`` replaces the encoder call (it must embed with ``self.encoder``). The screen
        # scores a conversation's last ``model_window`` seeker turns on every request, and a
        # partner app resends the whole conversation each time, so without the memo every
        # earlier turn is encoded again; with it, a request encodes only its new turn.
        # ``memo=False``: every call runs the encoder (benchmarks, cold evaluation rows).
        if embed is None:
            embed = memo_embed(self.encoder, settings) if memo else self.encoder.embed
        self._embed = embed
        self.head = ClassifierHead(head_path, threads=settings.onnx_threads)
        if self.head.labels and self.head.labels != RISK_LEVELS:
            raise ValueError(f"{head_path} was trained for labels {self.head.labels}")
        self.name = self.head.name
        self.version = f"{self.head.version}+enc.{self.encoder.version}"

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, len(RISK_LEVELS)), np.float32)
        return self.head.probabilities(self._embed(list(texts)))
