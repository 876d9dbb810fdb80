"""Helpers every trainer shares: fitting and exporting a head, metrics, writing the results."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from services.common.config import Settings
from services.common.encoder import file_version, get_encoder
from tools.training.onnx_head import fold_scaler, write_head

REPO_ROOT = Path(__file__).resolve().parents[2]


def weights_dir(task: str) -> Path:
    return REPO_ROOT / "services" / task / "weights"


def fit_logreg(
    x: np.ndarray,
    y: np.ndarray,
    c: float,
    class_weight: str | dict | None,
    seed: int = 0,
    column_weight: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
):
    """Standardised multinomial logistic regression; returns (scaler, model). ``sample_weight``
    weighs rows (sources of different reliability in one fit).

    ``column_weight`` multiplies standardised columns: a small block of strong features (a few
    dozen cue columns beside 1,500 embedding columns) is penalised less by the one shared C.
    It is folded into the scaler, so the exported head applies it too.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    if column_weight is not None:
        scaler.scale_ = scaler.scale_ / column_weight
    model = LogisticRegression(C=c, max_iter=2000, class_weight=class_weight, random_state=seed)
    model.fit(scaler.transform(x), y, sample_weight=sample_weight)
    return scaler, model


def predict_logreg(fitted, x: np.ndarray) -> np.ndarray:
    scaler, model = fitted
    return model.predict_proba(scaler.transform(x))


def logreg_layer(fitted, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """The fitted model as one dense layer (W [D, K], b [K]) acting on raw features, over all
    ``n_labels`` classes (a class never seen in training gets bias -30: ~0 probability)."""
    scaler, model = fitted
    weight = np.zeros((model.coef_.shape[1], n_labels), np.float64)
    bias = np.full(n_labels, -30.0)
    for column, cls in enumerate(model.classes_):
        weight[:, int(cls)] = model.coef_[column]
        bias[int(cls)] = model.intercept_[column]
    return fold_scaler(weight, bias, scaler.mean_, scaler.scale_)


def dense_probs(layers: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """What ``write_head``'s graph computes (dense layers, ReLU between, softmax), in numpy."""
    h = np.asarray(x, np.float64)
    for i, (weight, bias) in enumerate(layers):
        h = h @ weight + bias
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    h = h - h.max(axis=1, keepdims=True)
    e = np.exp(h)
    return e / e.sum(axis=1, keepdims=True)


def export_logreg(
    fitted,
    path: Path,
    labels: Sequence[str],
    name: str,
    features: dict,
    temperature: float = 1.0,
) -> None:
    """Write the fitted model as an ONNX head over all ``labels`` (absent classes get -inf-ish).

    Temperature scaling (calibration) folds into the logits: softmax(z / temperature).
    """
    w, b = logreg_layer(fitted, len(labels))
    write_head(path, [(w / temperature, b / temperature)], labels, name, features)


def classification_metrics(y: np.ndarray, probs: np.ndarray, labels: Sequence[str]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    pred = probs.argmax(axis=1)
    ids = list(range(len(labels)))
    per_class = f1_score(y, pred, labels=ids, average=None, zero_division=0)
    return {
        "n": len(y),
        "accuracy": round(float(accuracy_score(y, pred)), 4),
        "macro_f1": round(
            float(f1_score(y, pred, labels=ids, average="macro", zero_division=0)), 4
        ),
        "weighted_f1": round(
            float(f1_score(y, pred, labels=ids, average="weighted", zero_division=0)), 4
        ),
        "per_class_f1": {
            label: round(float(v), 4) for label, v in zip(labels, per_class, strict=True)
        },
    }


def write_metrics(task: str, settings: Settings, head: Path, metrics: dict[str, Any]) -> dict:
    """Add provenance to ``metrics`` and write it beside the head."""
    metrics = {
        "task": task,
        "head": head.name,
        "head_version": file_version(head),
        "head_bytes": head.stat().st_size,
        "encoder_version": get_encoder(settings).version,
        "command": f"solace train {task}",
        "python": platform.python_version(),
        "trained_at": time.strftime("%Y-%m-%d"),
        **metrics,
    }
    (head.parent / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
