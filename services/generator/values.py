"""Schwartz-value detection for the VALUE_REINFORCEMENT method.

A small multi-label head over the shared sentence encoder (all-MiniLM-L6-v2, 384-d) gives one
probability per Schwartz basic value; it is committed as ``weights/values.onnx`` (a ``Gemm`` and
a ``Sigmoid``: independent values, not a softmax) and served by ``services.common.heads``. Each
value has its own decision threshold, tuned on the validation split and stored in the head's
``features`` metadata.

The head is trained on Touché23-ValueEval (SemEval-2023 Task 4), whose arguments carry 20 value
categories of Schwartz's refined theory. They map onto the 10 basic values as the original
value survey groups its items ("humble" is a tradition item, "preserving my public image" a
power item)::

    Self-direction: thought/action -> self-direction
    Power: dominance/resources, Face -> power
    Security: personal/societal -> security
    Conformity: rules/interpersonal -> conformity
    Tradition, Humility -> tradition
    Benevolence: caring/dependability -> benevolence
    Universalism: concern/nature/tolerance/objectivity -> universalism
    Stimulation, Hedonism, Achievement -> themselves

Touché arguments are debate premises, not help-seekers' words, and the head carries that
domain: on "I just want to take care of my family and my kids" it says security, not
benevolence. So for each text ``ValueDetector`` first asks the lexicon (``lexicon.detect_value``,
whose cues are seekers' words and which can quote them back); the head answers the texts the
lexicon has no cue for, which is where it adds coverage. Without the head or the encoder, the
lexicon alone decides. Training (needs ``scikit-learn``, the build
extra) is ``python -m services.generator.values train``; it prints the test macro-F1 reported in
``docs/generation.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.common.config import Settings, load_settings
from services.generator.lexicon import REINFORCEABLE, VALUES, detect_value

log = logging.getLogger("solace.generator.values")

HEAD_PATH = Path(__file__).resolve().parent / "weights" / "values.onnx"
HEAD_NAME = "solace-values"
SCHWARTZ_VALUES: tuple[str, ...] = tuple(
    VALUES
)  # the lexicon's order: self-direction ... universalism
CATEGORY_TO_VALUE: dict[str, str] = {
    "Self-direction: thought": "self-direction",
    "Self-direction: action": "self-direction",
    "Stimulation": "stimulation",
    "Hedonism": "hedonism",
    "Achievement": "achievement",
    "Power: dominance": "power",
    "Power: resources": "power",
    "Face": "power",
    "Security: personal": "security",
    "Security: societal": "security",
    "Tradition": "tradition",
    "Humility": "tradition",
    "Conformity: rules": "conformity",
    "Conformity: interpersonal": "conformity",
    "Benevolence: caring": "benevolence",
    "Benevolence: dependability": "benevolence",
    "Universalism: concern": "universalism",
    "Universalism: nature": "universalism",
    "Universalism: tolerance": "universalism",
    "Universalism: objectivity": "universalism",
}
TOUCHE_DIR = "touche23_valueeval"
# The thresholds are tuned for F1 on debate premises; on a seeker's turn the head must clear its
# threshold by half again before it names a value ("hi" reaches 1.24x for security, a plain
# "I'm scared I'll lose my house" 2.6x), because affirming a value the seeker never expressed
# rings false.
SEEKER_MARGIN = 1.5


@dataclass(frozen=True, slots=True)
class DetectedValue:
    """A reinforceable value the seeker expressed. ``evidence`` is the lexicon cue the seeker
    used, or "" for the classifier; ``score`` is the head's probability over its threshold
    (it names a value from ``SEEKER_MARGIN`` up), 0 for the lexicon."""

    value: str
    source: str
    evidence: str = ""
    score: float = 0.0


class ValueDetector:
    """Finds the reinforceable value a text expresses most: a lexicon cue when the text has one,
    else the head when it is over threshold. ``settings`` None (or a missing head or encoder)
    means lexicon only."""

    def __init__(self, settings: Settings | None = None, head_path: Path = HEAD_PATH) -> None:
        self._settings = settings
        self._head_path = head_path
        self._model: tuple[Any, Any, np.ndarray] | None = None
        self._unusable = settings is None
        self.version = "lexicon"

    def _load(self) -> tuple[Any, Any, np.ndarray] | None:
        if self._model is None and not self._unusable:
            from services.common.encoder import get_encoder
            from services.common.errors import Unavailable
            from services.common.features import memo_embed
            from services.common.heads import ClassifierHead

            assert self._settings is not None
            try:
                head = ClassifierHead(self._head_path, self._settings.onnx_threads)
                encoder = get_encoder(self._settings)
            except Unavailable as exc:
                # Value detection must never fail a reply: the lexicon answers instead.
                log.warning("value head unavailable, using the lexicon: %s", exc)
                self._unusable = True
                return None
            order = [head.labels.index(v) for v in SCHWARTZ_VALUES]
            thresholds = np.asarray(head.features["thresholds"], dtype=np.float32)[order]
            # The seeker's newest turn is usually in the machine's shared embeddings already
            # (the risk screen encoded it); the memo keeps a conversation's earlier turns.
            self._model = (head, memo_embed(encoder, self._settings, capacity=1024), thresholds)
            self._order = order
            self.version = head.version
        return self._model

    def scores(self, texts: Sequence[str]) -> np.ndarray | None:
        """[N, 10] probability / threshold per value in ``SCHWARTZ_VALUES`` order (> 1 means
        detected); None when the head is not available."""
        model = self._load()
        if model is None:
            return None
        head, embed, thresholds = model
        probabilities = head.probabilities(embed(list(texts)))[:, self._order]
        return probabilities / thresholds

    def detect(self, *texts: str) -> DetectedValue | None:
        """The value of the first text (newest first) that expresses a reinforceable one."""
        texts = tuple(t for t in texts if t and t.strip())
        for text in texts:
            found = detect_value(text)
            if found:
                return DetectedValue(found[0], "lexicon", evidence=found[1])
            ratios = self.scores([text])
            if ratios is not None:
                best = max(REINFORCEABLE, key=lambda v: ratios[0, SCHWARTZ_VALUES.index(v)])
                score = float(ratios[0, SCHWARTZ_VALUES.index(best)])
                if score >= SEEKER_MARGIN:
                    return DetectedValue(best, "classifier", score=score)
        return None

    async def adetect(self, *texts: str) -> DetectedValue | None:
        """``detect`` in a worker thread (the encoder runs a model)."""
        return await asyncio.to_thread(self.detect, *texts)


# --- training -------------------------------------------------------------------------------


def read_touche(folder: Path, split: str) -> tuple[list[str], np.ndarray]:
    """(premises, [N, 10] 0/1 basic-value labels) of one split (training/validation/test)."""
    import csv

    def rows(name: str) -> list[dict[str, str]]:
        with (folder / f"{name}-{split}.tsv").open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))

    arguments = {r["Argument ID"]: r for r in rows("arguments")}
    texts, labels = [], []
    for row in rows("labels"):
        texts.append(arguments[row["Argument ID"]]["Premise"])
        target = np.zeros(len(SCHWARTZ_VALUES), dtype=np.int64)
        for category, value in CATEGORY_TO_VALUE.items():
            if row[category] == "1":
                target[SCHWARTZ_VALUES.index(value)] = 1
        labels.append(target)
    return texts, np.stack(labels)


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = float((y & pred).sum())
    denominator = float(y.sum() + pred.sum())
    return 2 * tp / denominator if denominator else 0.0


def write_sigmoid_head(path: Path, weight: np.ndarray, bias: np.ndarray, features: dict) -> None:
    """``features [N, D] -> probabilities [N, K]`` as Gemm + Sigmoid, with the metadata that
    ``ClassifierHead`` reads."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    dim, count = weight.shape
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["features", "W", "b"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
        ],
        HEAD_NAME,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", dim])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", count])],
        initializer=[
            numpy_helper.from_array(weight.astype(np.float32), "W"),
            numpy_helper.from_array(bias.astype(np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    meta = {
        "labels": json.dumps(list(SCHWARTZ_VALUES)),
        "name": HEAD_NAME,
        "features": json.dumps(features),
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def train(settings: Settings, out: Path = HEAD_PATH, c: float = 1.0) -> dict[str, Any]:
    """Fit one logistic regression per basic value on the training split, tune each threshold
    for F1 on validation, write the head and return the test metrics."""
    from sklearn.linear_model import LogisticRegression

    from services.common.encoder import get_encoder

    folder = Path(settings.data_dir) / TOUCHE_DIR
    encoder = get_encoder(settings)
    started = time.perf_counter()
    splits = {}
    for split in ("training", "validation", "test"):
        texts, labels = read_touche(folder, split)
        splits[split] = (encoder.embed(texts), labels)
    embed_s = time.perf_counter() - started

    x_train, y_train = splits["training"]
    weights, biases, thresholds = [], [], []
    grid = np.round(np.arange(0.05, 0.95, 0.01), 2)
    for k in range(len(SCHWARTZ_VALUES)):
        # Balanced classes: stimulation and hedonism are 3-5% positives; unweighted, their
        # probabilities never reach a usable threshold.
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
        model.fit(x_train, y_train[:, k])
        weights.append(model.coef_[0])
        biases.append(model.intercept_[0])
        x_val, y_val = splits["validation"]
        p_val = model.predict_proba(x_val)[:, 1]
        scores = [_f1(y_val[:, k], (p_val >= t).astype(np.int64)) for t in grid]
        thresholds.append(float(grid[int(np.argmax(scores))]))
    weight, bias = np.stack(weights, axis=1), np.asarray(biases)

    x_test, y_test = splits["test"]
    probabilities = 1.0 / (1.0 + np.exp(-(x_test @ weight + bias)))
    predicted = (probabilities >= np.asarray(thresholds)).astype(np.int64)
    per_value = {
        v: round(_f1(y_test[:, k], predicted[:, k]), 3) for k, v in enumerate(SCHWARTZ_VALUES)
    }
    metrics = {
        "test_macro_f1": round(float(np.mean(list(per_value.values()))), 3),
        "test_f1": per_value,
        "test_rows": len(y_test),
        "thresholds": dict(zip(SCHWARTZ_VALUES, thresholds, strict=True)),
        "embed_seconds": round(embed_s, 1),
    }
    features = {
        "input": "all-MiniLM-L6-v2 int8 ONNX sentence embedding (384, unit length)",
        "multi_label": True,
        "thresholds": thresholds,
        "trained_on": "Touché23-ValueEval premises (training split), 20 categories -> 10 values",
        "encoder_version": encoder.version,
        "C": c,
    }
    write_sigmoid_head(out, weight, bias, features)
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the Schwartz-value head.")
    parser.add_argument("action", choices=["train"])
    parser.add_argument("--out", default=str(HEAD_PATH))
    parser.add_argument("-C", type=float, default=1.0, help="inverse L2 strength")
    args = parser.parse_args(argv)
    print(json.dumps(train(load_settings(), Path(args.out), args.C), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
