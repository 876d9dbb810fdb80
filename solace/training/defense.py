"""Trains the defense-level head on PsyDefConv (DMRS levels 0-8 of a seeker turn in context).

Train: the 373 labelled rows of ``train_subset373_flat.csv`` (flattened "seeker: ... supporter:
..." transcripts; the target is the final seeker segment). The model (logistic regression or
shrinkage LDA, which feature blocks, C) is chosen by repeated stratified 5-fold
cross-validation on those rows only; the 472 rows of ``test_label.json`` are scored once.
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
from services.common.heads import ClassifierHead
from services.common.labels import DEFENSE_LEVELS
from services.defense.features import DEFENSE_BLOCKS, DEFENSE_FEATURES, defense_features
from solace.training.cache import CachedEmbedder
from solace.training.common import classification_metrics, weights_dir, write_metrics
from solace.training.onnx_head import fold_scaler, write_head

HEAD_NAME = "solace-defense"
# Candidates compared by cross-validation: (kind, feature blocks, C). "lda" is shrinkage LDA
# (Ledoit-Wolf) with a uniform prior, a strong linear model when rows are few and columns many.
_BLOCK_SETS = (("target", "context"), ("target",), ("target", "context", "cues"))
CANDIDATES: tuple[tuple[str, tuple[str, ...], float], ...] = (
    *(("logreg", blocks, c) for blocks in _BLOCK_SETS for c in (0.003, 0.01, 0.03)),
    ("lda", ("target",), 0.0),
    ("lda", ("target", "cues"), 0.0),
)
CV_REPEATS = (0, 1)
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


def _columns(blocks: tuple[str, ...]) -> np.ndarray:
    return np.concatenate([np.arange(*DEFENSE_BLOCKS[b]) for b in blocks])


def fit_linear(
    kind: str, blocks: tuple[str, ...], c: float, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fit one candidate on the ``blocks`` columns of ``x``; return (W [D, 9], b [9]) over
    every column and level, so softmax(x @ W + b) is exactly what the exported head computes
    (columns outside ``blocks`` and levels absent from ``y`` get zero weight / -30 bias)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    cols = _columns(blocks)
    classes = np.unique(y)
    if kind == "logreg":
        scaler = StandardScaler().fit(x[:, cols])
        model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=0)
        model.fit(scaler.transform(x[:, cols]), y)
        w_sub, b_sub = fold_scaler(model.coef_.T, model.intercept_, scaler.mean_, scaler.scale_)
    else:
        prior = np.full(len(classes), 1.0 / len(classes))
        model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto", priors=prior)
        model.fit(x[:, cols], y)
        w_sub, b_sub = model.coef_.T, model.intercept_
    weight = np.zeros((x.shape[1], len(DEFENSE_LEVELS)))
    bias = np.full(len(DEFENSE_LEVELS), -30.0)
    weight[np.ix_(cols, classes)] = w_sub
    bias[classes] = b_sub
    return weight, bias


def linear_probs(layer: tuple[np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
    z = x @ layer[0] + layer[1]
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _describe(kind: str, blocks: tuple[str, ...], c: float) -> str:
    model = f"logreg C={c}" if kind == "logreg" else "shrinkage LDA"
    return f"{model} on {'+'.join(blocks)}"


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

    # Choice by repeated stratified 5-fold CV macro-F1 on the train rows only.
    selection: dict[str, float] = {}
    for kind, blocks, c in CANDIDATES:
        scores = []
        for seed in CV_REPEATS:
            pred = np.zeros(len(y_tr), int)
            folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
            for fit_idx, val_idx in folds.split(x_tr, y_tr):
                layer = fit_linear(kind, blocks, c, x_tr[fit_idx], y_tr[fit_idx])
                pred[val_idx] = linear_probs(layer, x_tr[val_idx]).argmax(1)
            scores.append(f1_score(y_tr, pred, average="macro"))
        name = _describe(kind, blocks, c)
        selection[name] = round(float(np.mean(scores)), 4)
        print(f"  defense {name}: CV macro-F1 {selection[name]:.4f}")
    kind, blocks, c = max(CANDIDATES, key=lambda cand: selection[_describe(*cand)])
    layer = fit_linear(kind, blocks, c, x_tr, y_tr)
    head = weights_dir("defense") / "head.onnx"
    write_head(head, [layer], DEFENSE_LEVELS, HEAD_NAME, DEFENSE_FEATURES)
    served = ClassifierHead(head)
    majority = np.full_like(y_te, np.bincount(y_tr).argmax())
    metrics = {
        "data": "PsyDefConv: train_subset373_flat.csv (train), test_label.json (test, 472 rows)",
        "model": _describe(kind, blocks, c)
        + (", class_weight=balanced" if kind == "logreg" else ", uniform prior"),
        "samples": {"train": len(y_tr), "test": len(y_te)},
        "selection": {
            "criterion": f"stratified 5-fold CV macro-F1 on train, mean of {len(CV_REPEATS)} "
            "repeats",
            "grid": selection,
        },
        "test": classification_metrics(y_te, served.probabilities(x_te), DEFENSE_LEVELS),
        "test_predicted_counts": np.bincount(
            served.probabilities(x_te).argmax(1), minlength=len(DEFENSE_LEVELS)
        ).tolist(),
        "test_true_counts": np.bincount(y_te, minlength=len(DEFENSE_LEVELS)).tolist(),
        "majority_class_test_macro_f1": round(float(f1_score(y_te, majority, average="macro")), 4),
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    return write_metrics("defense", settings, head, metrics)
