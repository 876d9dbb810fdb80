"""RiskClassifier: calibrated probabilities over NONE..IMMINENT for each text."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.config import Settings
from services.common.encoder import get_encoder
from services.common.labels import RISK_LEVELS
from services.risk.classifier import ENCODER_PATH, RiskClassifier


@pytest.fixture(scope="module")
def model(model_settings: Settings) -> RiskClassifier:
    return RiskClassifier(model_settings)


def test_rows_are_distributions_over_risk_levels(model: RiskClassifier) -> None:
    probs = model.probabilities(["I had a nice walk today.", "I want to end my life tonight."])
    assert probs.shape == (2, len(RISK_LEVELS))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert model.head.labels == RISK_LEVELS
    assert model.probabilities([]).shape == (0, len(RISK_LEVELS))


def test_explicit_intent_scores_higher_than_small_talk(model: RiskClassifier) -> None:
    calm, crisis = model.probabilities(
        ["Thanks, the new job is going well.", "I have the pills ready and I will kill myself."]
    )
    severe = RISK_LEVELS.index("HIGH")
    assert crisis[severe:].sum() > calm[severe:].sum()


def test_deterministic(model: RiskClassifier) -> None:
    texts = ["Nothing matters anymore."]
    np.testing.assert_array_equal(model.probabilities(texts), model.probabilities(texts))


@pytest.fixture
def encoded(model_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the risk encoder runs on, in order (its ``embed`` wrapped to record them)."""
    encoder = get_encoder(model_settings, ENCODER_PATH)
    seen: list[str] = []
    real = encoder.embed

    def counting(texts):
        seen.extend(texts)
        return real(texts)

    monkeypatch.setattr(encoder, "embed", counting)
    return seen


def test_a_conversations_earlier_turns_are_encoded_once(
    model_settings: Settings, encoded: list[str]
) -> None:
    model = RiskClassifier(model_settings)
    first = model.probabilities(["I failed my exam.", "Everyone will be disappointed."])
    # The next request of the same conversation: the same turns plus a new one.
    again = model.probabilities(
        ["I failed my exam.", "Everyone will be disappointed.", "I can't stop crying."]
    )
    np.testing.assert_array_equal(first, again[:2])
    assert encoded == [
        "I failed my exam.",
        "Everyone will be disappointed.",
        "I can't stop crying.",
    ], "each text encoded once, the new turn only on the second request"


def test_it_runs_its_own_fine_tuned_encoder_not_the_shared_one(
    model: RiskClassifier, model_settings: Settings
) -> None:
    shared = get_encoder(model_settings)
    assert model.encoder is not shared
    assert model.encoder.version != shared.version
    assert model.version.endswith(f"+enc.{model.encoder.version}")


def test_memo_off_runs_the_encoder_every_call(model_settings: Settings, encoded: list[str]) -> None:
    model = RiskClassifier(model_settings, memo=False)
    model.probabilities(["I failed my exam."])
    model.probabilities(["I failed my exam."])
    assert encoded == ["I failed my exam.", "I failed my exam."]
