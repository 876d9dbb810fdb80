"""Trains the risk head: probabilities over NONE/LOW/MODERATE/HIGH/IMMINENT for one text.

Data:
- Gaur et al. 2019 C-SSRS Reddit (500 users, user-level labels). Every post of a user gets the
  user's label (a weak, post-level label) and the mapping is Supportive->NONE,
  Indicator->LOW, Ideation->MODERATE, Behavior->HIGH, Attempt->IMMINENT. Users are split
  60/20/20 (stratified by label) into train / calibration / test, so no user's posts are on
  both sides.
- SDCNL (r/depression vs r/SuicideWatch) joins the training side only: r/depression ->
  LOW (distress without stated suicidality), r/SuicideWatch -> MODERATE (ideation), the
  closest C-SSRS reading of each subreddit.

Calibration: one temperature, fitted on the calibration users by log-loss, folded into the
head's logits. Posts are long: the encoder keeps the first ``max_seq_len`` tokens.
"""

from __future__ import annotations

import ast
import csv
import itertools
import re
import sys
import time
from pathlib import Path

import numpy as np

from services.common.config import Settings
from services.common.labels import RISK_LEVELS
from solace.training.cache import CachedEmbedder
from solace.training.common import (
    classification_metrics,
    export_logreg,
    fit_logreg,
    predict_logreg,
    weights_dir,
    write_metrics,
)

HEAD_NAME = "solace-risk"
CSSRS_TO_RISK = {
    "Supportive": "NONE",
    "Indicator": "LOW",
    "Ideation": "MODERATE",
    "Behavior": "HIGH",
    "Attempt": "IMMINENT",
}
C_GRID = (0.01, 0.03, 0.1)


def _posts(cell: str) -> list[str]:
    """The user's posts from the Python-list string; some cells are cut off mid-list."""
    try:
        return [str(p) for p in ast.literal_eval(cell)]
    except (SyntaxError, ValueError):
        # A truncated list: split on the separators and keep what is there.
        body = cell.strip().lstrip("[").rstrip("]")
        return [p.strip().strip("'\"") for p in re.split(r"""['"],\s*['"]""", body)]


def load_cssrs(path: Path) -> tuple[list[str], np.ndarray, np.ndarray, list[int]]:
    """(posts, post labels, post user ids, user labels)."""
    csv.field_size_limit(sys.maxsize)
    posts, labels, users, user_labels = [], [], [], []
    with path.open(encoding="utf-8", newline="") as handle:
        for uid, row in enumerate(csv.DictReader(handle)):
            level = RISK_LEVELS.index(CSSRS_TO_RISK[row["Label"].strip()])
            user_labels.append(level)
            for post in _posts(row["Post"]):
                if post.strip():
                    posts.append(post.strip())
                    labels.append(level)
                    users.append(uid)
    return posts, np.asarray(labels), np.asarray(users), user_labels


def load_sdcnl(path: Path) -> tuple[list[str], np.ndarray]:
    csv.field_size_limit(sys.maxsize)
    texts, labels = [], []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            text = f"{row['title'].strip()}. {row['selftext'].strip()}".strip(" .")
            if text:
                texts.append(text)
                level = "MODERATE" if int(float(row["is_suicide"])) == 1 else "LOW"
                labels.append(RISK_LEVELS.index(level))
    return texts, np.asarray(labels)


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    best_t, best_loss = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.25), np.log(4.0), 61)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = -float(logp[np.arange(len(y)), y].mean())
        if loss < best_loss:
            best_t, best_loss = float(t), loss
    return best_t


def _ece(probs: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(
                float((pred[inside] == y[inside]).mean()) - conf[inside].mean()
            )
    return round(float(total), 4)


def _logits(fitted, x: np.ndarray) -> np.ndarray:
    scaler, model = fitted
    return model.decision_function(scaler.transform(x))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _high_recall(y: np.ndarray, pred: np.ndarray) -> float:
    high = y >= RISK_LEVELS.index("HIGH")
    return round(float((pred[high] >= RISK_LEVELS.index("HIGH")).mean()), 4) if high.any() else 0.0


def train_risk(settings: Settings) -> dict:
    from sklearn.model_selection import train_test_split

    started = time.perf_counter()
    root = Path(settings.data_dir)
    posts, y_posts, users, user_labels = load_cssrs(
        root / "cssrs_reddit_gaur2019" / "500_Reddit_users_posts_labels.csv"
    )
    sd_texts, sd_y = load_sdcnl(root / "sdcnl" / "training-set.csv")
    embed = CachedEmbedder(settings)
    x_posts = embed(posts)
    x_sd = embed(sd_texts)
    embed.save()

    uids = np.arange(len(user_labels))
    u_train, u_rest = train_test_split(uids, test_size=0.4, stratify=user_labels, random_state=0)
    rest_labels = [user_labels[u] for u in u_rest]
    u_cal, u_test = train_test_split(u_rest, test_size=0.5, stratify=rest_labels, random_state=0)
    tr, cal, te = (np.isin(users, part) for part in (u_train, u_cal, u_test))
    x_tr = np.concatenate([x_posts[tr], x_sd])
    y_tr = np.concatenate([y_posts[tr], sd_y])

    selection, best = {}, None
    for c in C_GRID:
        fitted = fit_logreg(x_tr, y_tr, c, class_weight="balanced")
        probs = predict_logreg(fitted, x_posts[cal])
        from sklearn.metrics import f1_score

        score = float(f1_score(y_posts[cal], probs.argmax(1), average="macro"))
        selection[str(c)] = round(score, 4)
        print(f"  risk C={c}: calibration-users post macro-F1 {score:.4f}")
        if best is None or score > best[0]:
            best = (score, c, fitted)
    _, c, fitted = best
    temperature = _fit_temperature(_logits(fitted, x_posts[cal]), y_posts[cal])

    probs_te = _softmax(_logits(fitted, x_posts[te]) / temperature)
    uncal_te = _softmax(_logits(fitted, x_posts[te]))
    post_metrics = classification_metrics(y_posts[te], probs_te, RISK_LEVELS)
    post_metrics["recall_high_or_imminent"] = _high_recall(y_posts[te], probs_te.argmax(1))
    post_metrics["ece"] = _ece(probs_te, y_posts[te])
    post_metrics["ece_before_temperature"] = _ece(uncal_te, y_posts[te])
    # User level: the user's posts averaged, which is the granularity of the C-SSRS labels.
    test_users = sorted(set(users[te].tolist()))
    user_probs = np.stack([probs_te[users[te] == u].mean(axis=0) for u in test_users])
    user_y = np.asarray([user_labels[u] for u in test_users])
    user_metrics = classification_metrics(user_y, user_probs, RISK_LEVELS)
    user_metrics["recall_high_or_imminent"] = _high_recall(user_y, user_probs.argmax(1))

    head = weights_dir("risk") / "head.onnx"
    export_logreg(
        fitted,
        head,
        RISK_LEVELS,
        HEAD_NAME,
        {"blocks": ["text embedding"]},
        temperature=temperature,
    )
    metrics = {
        "data": "C-SSRS Reddit (Gaur 2019) posts with user labels + SDCNL training-set",
        "label_mapping": {
            **CSSRS_TO_RISK,
            "sdcnl is_suicide=0": "LOW",
            "sdcnl is_suicide=1": "MODERATE",
        },
        "model": f"logistic regression, class_weight=balanced, C={c}, T={temperature:.3f}",
        "split": "C-SSRS users 60/20/20 (train/calibration/test, stratified, seed 0)",
        "samples": {
            "train_posts": int(tr.sum()) + len(sd_y),
            "calibration_posts": int(cal.sum()),
            "test_posts": int(te.sum()),
            "test_users": len(test_users),
        },
        "selection": {"criterion": "post macro-F1 on calibration users", "grid": selection},
        "test_posts": post_metrics,
        "test_users": user_metrics,
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    return write_metrics("risk", settings, head, metrics)
