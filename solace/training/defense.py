"""Trains the defense-level head on PsyDefConv (DMRS levels 0-8 of a seeker turn in context).

Train: the 373 labelled rows of ``train_subset373_flat.csv`` (flattened "seeker: ... supporter:
..." transcripts; the target is the final seeker segment). Hyper-parameters by stratified
5-fold cross-validation on those rows only; the 472 rows of ``test_label.json`` are scored once.
"""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import numpy as np

from services.common.config import Settings
from services.common.domain import SEEKER, SUPPORTER, Conversation, Turn
from services.common.features import DEFENSE_FEATURES, defense_features
from services.common.labels import DEFENSE_LEVELS
from solace.training.cache import CachedEmbedder
from solace.training.common import (
    classification_metrics,
    export_logreg,
    fit_logreg,
    predict_logreg,
    weights_dir,
    write_metrics,
)

HEAD_NAME = "solace-defense"
C_GRID = (0.003, 0.01, 0.03, 0.1)
_SPEAKER = re.compile(r"(?:^|\s)(seeker|supporter):\s")


def parse_flat(text: str) -> Conversation:
    """'supporter: Hello seeker: Hi ...' -> turns (the last seeker segment is the target)."""
    marks = list(_SPEAKER.finditer(text))
    turns = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        turns.append(Turn(role=mark.group(1), text=text[mark.end() : end].strip()))
    # The target is the final seeker segment: anything after it is not part of the input.
    while turns and turns[-1].role != SEEKER:
        turns.pop()
    return Conversation(turns=tuple(turns))


def load_train(path: Path) -> tuple[list[Conversation], np.ndarray]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [parse_flat(r["text"]) for r in rows], np.asarray([int(r["true_label"]) for r in rows])


def load_test(path: Path) -> tuple[list[Conversation], np.ndarray]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    convs = []
    for row in rows:
        turns = [
            Turn(role=SEEKER if t["speaker"] == "seeker" else SUPPORTER, text=t["text"].strip())
            for t in row["dialogue"]
        ]
        convs.append(Conversation(turns=tuple(turns)))
    return convs, np.asarray([int(r["label"]) for r in rows])


def train_defense(settings: Settings) -> dict:
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    started = time.perf_counter()
    root = Path(settings.data_dir) / "psydefconv"
    embed = CachedEmbedder(settings)
    convs_tr, y_tr = load_train(root / "train_subset373_flat.csv")
    convs_te, y_te = load_test(root / "test_label.json")
    x_tr = defense_features(convs_tr, embed)
    x_te = defense_features(convs_te, embed)
    embed.save()

    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    selection = {}
    for c in C_GRID:
        oof = np.zeros((len(y_tr), len(DEFENSE_LEVELS)))
        for fit_idx, val_idx in folds.split(x_tr, y_tr):
            fitted = fit_logreg(x_tr[fit_idx], y_tr[fit_idx], c, class_weight="balanced")
            probs = predict_logreg(fitted, x_tr[val_idx])
            oof[np.ix_(val_idx, fitted[1].classes_)] = probs
        selection[str(c)] = round(float(f1_score(y_tr, oof.argmax(1), average="macro")), 4)
        print(f"  defense C={c}: 5-fold CV macro-F1 {selection[str(c)]:.4f}")
    c = float(max(selection, key=selection.__getitem__))
    fitted = fit_logreg(x_tr, y_tr, c, class_weight="balanced")
    head = weights_dir("defense") / "head.onnx"
    export_logreg(fitted, head, DEFENSE_LEVELS, HEAD_NAME, DEFENSE_FEATURES)
    majority = np.full_like(y_te, np.bincount(y_tr).argmax())
    metrics = {
        "data": "PsyDefConv: train_subset373_flat.csv (train), test_label.json (test, 472 rows)",
        "model": f"logistic regression, class_weight=balanced, standardised features, C={c}",
        "samples": {"train": len(y_tr), "test": len(y_te)},
        "selection": {"criterion": "5-fold stratified CV macro-F1 on train", "grid": selection},
        "test": classification_metrics(y_te, predict_logreg(fitted, x_te), DEFENSE_LEVELS),
        "majority_class_test_macro_f1": round(float(f1_score(y_te, majority, average="macro")), 4),
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    return write_metrics("defense", settings, head, metrics)
