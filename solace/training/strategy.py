"""Trains the strategy head on ESConv: the next supporter strategy from the dialogue so far.

Every supporter turn with at least one seeker turn before it is a sample; its input is the
dialogue before it, as a ``Conversation`` (the same type the service receives), so training
and serving build features with the same function (``strategy_features``).
Model selection on ESConv valid; accuracy and macro-F1 reported once on test.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from services.common.config import Settings
from services.common.domain import SEEKER, SUPPORTER, Conversation, Turn
from services.common.features import STRATEGY_FEATURES, strategy_features
from services.common.labels import STRATEGIES, strategy_index
from solace.training.cache import CachedEmbedder
from solace.training.common import (
    classification_metrics,
    export_logreg,
    fit_logreg,
    predict_logreg,
    weights_dir,
    write_metrics,
)

HEAD_NAME = "solace-strategy"
C_GRID = (0.0003, 0.001, 0.003, 0.01)


def load_esconv(path: Path) -> tuple[list[Conversation], np.ndarray]:
    """Samples of one ESConv split: (conversation before a supporter turn, its strategy)."""
    convs, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        dialogue = json.loads(line)
        turns: list[Turn] = []
        seen_seeker = False
        for utt in dialogue["dialog"]:
            role = SEEKER if utt["speaker"] == "usr" else SUPPORTER
            if role == SUPPORTER and seen_seeker:
                convs.append(Conversation(turns=tuple(turns), situation=dialogue["situation"]))
                labels.append(strategy_index(utt["strategy"]))
            seen_seeker |= role == SEEKER
            turns.append(Turn(role=role, text=utt["text"].strip()))
    return convs, np.asarray(labels)


def train_strategy(settings: Settings) -> dict:
    started = time.perf_counter()
    root = Path(settings.data_dir) / "esconv"
    embed = CachedEmbedder(settings)
    splits = {}
    for split in ("train", "valid", "test"):
        convs, y = load_esconv(root / f"{split}.txt")
        splits[split] = (strategy_features(convs, embed), y)
        embed.save()
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = splits["train"], splits["valid"], splits["test"]

    selection = {}
    best = None
    for c in C_GRID:
        fitted = fit_logreg(x_tr, y_tr, c, class_weight=None)
        acc = float((predict_logreg(fitted, x_va).argmax(1) == y_va).mean())
        selection[str(c)] = round(acc, 4)
        print(f"  strategy C={c}: valid accuracy {acc:.4f}")
        if best is None or acc > best[0]:
            best = (acc, c, fitted)
    _, c, fitted = best
    head = weights_dir("strategy") / "head.onnx"
    export_logreg(fitted, head, STRATEGIES, HEAD_NAME, STRATEGY_FEATURES)
    metrics = {
        "data": "ESConv codes_zcj split (seed 13): data_dir/esconv/{train,valid,test}.txt",
        "model": f"multinomial logistic regression on standardised features, C={c}",
        "samples": {"train": len(y_tr), "valid": len(y_va), "test": len(y_te)},
        "selection": {"criterion": "valid accuracy", "grid": selection, "chosen_C": c},
        "valid": classification_metrics(y_va, predict_logreg(fitted, x_va), STRATEGIES),
        "test": classification_metrics(y_te, predict_logreg(fitted, x_te), STRATEGIES),
        "majority_class_test_accuracy": round(
            float((y_te == np.bincount(y_tr).argmax()).mean()), 4
        ),
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    return write_metrics("strategy", settings, head, metrics)
