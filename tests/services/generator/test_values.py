"""Schwartz-value detection: the committed Touché23 head, the lexicon first, and the fallback
to the lexicon when the head or the encoder is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.common.config import Settings
from services.common.heads import ClassifierHead
from services.generator.values import (
    HEAD_PATH,
    SCHWARTZ_VALUES,
    TOUCHE_DIR,
    ValueDetector,
    read_touche,
)


@pytest.fixture(scope="module")
def detector(model_settings: Settings) -> ValueDetector:
    return ValueDetector(model_settings)


def test_committed_head_is_multi_label_over_the_ten_values() -> None:
    head = ClassifierHead(HEAD_PATH)
    assert head.labels == SCHWARTZ_VALUES
    assert head.features["multi_label"] is True
    assert len(head.features["thresholds"]) == len(SCHWARTZ_VALUES)
    probabilities = head.probabilities(np.eye(2, 384, dtype=np.float32))
    assert probabilities.shape == (2, 10)
    assert ((probabilities > 0) & (probabilities < 1)).all()  # sigmoid, not a softmax


def test_lexicon_cue_comes_first(detector: ValueDetector) -> None:
    found = detector.detect("I just want to take care of my family and my kids.")
    assert found is not None and (found.value, found.source) == ("benevolence", "lexicon")
    assert found.evidence == "family"


def test_classifier_covers_what_the_lexicon_misses(detector: ValueDetector) -> None:
    found = detector.detect("I'm scared I'll lose my house and won't have anywhere to live")
    assert found is not None and (found.value, found.source) == ("security", "classifier")
    assert detector.detect("hi") is None  # under the seeker margin
    assert detector.version not in ("", "lexicon")


def test_newest_text_first(detector: ValueDetector) -> None:
    found = detector.detect("I want to make my own choices.", "My family means everything.")
    assert found is not None and found.value == "self-direction"


def test_missing_head_falls_back_to_the_lexicon(model_settings: Settings, tmp_path: Path) -> None:
    missing = ValueDetector(model_settings, head_path=tmp_path / "none.onnx")
    assert missing.scores(["anything"]) is None
    found = missing.detect("I worked so hard and I want to succeed.")
    assert found is not None and (found.value, found.source) == ("achievement", "lexicon")
    assert ValueDetector().detect("I'm scared I'll lose my house") is None  # no cue, no head


def test_touche_test_split_macro_f1(detector: ValueDetector, model_settings: Settings) -> None:
    folder = Path(model_settings.data_dir) / TOUCHE_DIR
    if not (folder / "labels-test.tsv").is_file():
        pytest.skip("Touché23-ValueEval is not in data_dir")
    texts, labels = read_touche(folder, "test")
    scores = detector.scores(texts)
    assert scores is not None
    predicted = scores >= 1.0  # the tuned thresholds, as training measured them
    f1 = []
    for k in range(len(SCHWARTZ_VALUES)):
        tp = float((predicted[:, k] & (labels[:, k] == 1)).sum())
        f1.append(2 * tp / (predicted[:, k].sum() + labels[:, k].sum()))
    # docs/generation.md reports 0.473; predicting every value for every text gives 0.38.
    assert np.mean(f1) >= 0.45
