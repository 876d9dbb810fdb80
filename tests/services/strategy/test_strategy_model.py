"""StrategyModel: a probability for each of the 8 ESConv strategies, fast and deterministic."""

from __future__ import annotations

import pytest

from services.common.config import Settings
from services.common.domain import Conversation, Turn
from services.common.labels import STRATEGIES
from services.strategy.model import StrategyModel

CONV = Conversation(
    situation="I lost my job and I am worried about paying rent.",
    turns=(
        Turn("seeker", "Hi, I'm having a really hard week."),
        Turn("supporter", "I'm sorry to hear that. What happened?"),
        Turn("seeker", "I got laid off on Monday and I don't know what to do next."),
    ),
)


@pytest.fixture(scope="module")
def model(model_settings: Settings) -> StrategyModel:
    return StrategyModel(model_settings)


def test_probabilities_cover_every_strategy(model: StrategyModel) -> None:
    scored = model.predict(CONV)
    assert len(scored.probabilities) == len(STRATEGIES)
    assert sum(scored.probabilities) == pytest.approx(1.0, abs=1e-5)
    assert all(p >= 0 for p in scored.probabilities)
    assert scored.index == max(range(len(STRATEGIES)), key=scored.probabilities.__getitem__)
    assert scored.model_name == "solace-strategy"


def test_deterministic_and_batch_consistent(model: StrategyModel) -> None:
    other = Conversation(turns=(Turn("seeker", "Hello"),))
    single = model.predict(CONV)
    batch = model.predict_batch([other, CONV, CONV])
    assert batch[1].probabilities == single.probabilities
    assert batch[2].probabilities == single.probabilities
    assert model.predict_batch([]) == []


def test_version_names_head_and_encoder(model: StrategyModel, model_settings: Settings) -> None:
    assert model.predict(CONV).model_version == StrategyModel(model_settings).version
    assert "+enc." in model.version


def test_classify_utterance_reads_the_strategy_of_supporter_text(model: StrategyModel) -> None:
    question = model.classify_utterance("How long have you been feeling this way?")
    assert STRATEGIES[question.index] == "Question"
    assert sum(question.probabilities) == pytest.approx(1.0, abs=1e-5)
    assert question.model_name == "solace-strategy-utterance"
    suggestion = model.classify_utterance(
        "Maybe you could try going for a short walk every morning, it might help you sleep."
    )
    assert STRATEGIES[suggestion.index] == "Providing Suggestions"


def test_supporter_turns_change_the_prediction(model: StrategyModel) -> None:
    # Same last seeker turn, different supporter turn before it (embedding and history).
    asked = Conversation(
        situation=CONV.situation,
        turns=(
            *CONV.turns[:1],
            Turn("supporter", "Have you talked to your family about it?"),
            CONV.turns[2],
        ),
    )
    assert model.predict(asked).probabilities != model.predict(CONV).probabilities


def test_given_strategies_replace_the_guessed_history(model: StrategyModel) -> None:
    # The partner echoes the strategy Solace returned: the history then reads that label, and
    # the supporter's words are not sent to the utterance classifier at all.
    read: list[str] = []
    original = model.utterance_probabilities

    def spy(texts):
        read.extend(texts)
        return original(texts)

    def labelled(strategy: str) -> Conversation:
        turns = list(CONV.turns)
        turns[1] = Turn("supporter", turns[1].text, STRATEGIES.index(strategy))
        return Conversation(situation=CONV.situation, turns=tuple(turns))

    model.utterance_probabilities = spy  # type: ignore[method-assign]
    try:
        asked = model.predict(labelled("Question"))
        suggested = model.predict(labelled("Providing Suggestions"))
    finally:
        del model.utterance_probabilities
    assert read == []
    assert asked.probabilities != suggested.probabilities
    assert model.predict(CONV).probabilities not in (asked.probabilities, suggested.probabilities)


def test_history_columns_hold_the_given_label() -> None:
    import numpy as np

    from services.strategy.features import HISTORY_WIDTH, strategy_history

    turns = (
        Turn("seeker", "hi"),
        Turn("supporter", "What happened?", STRATEGIES.index("Question")),
        Turn("supporter", "That sounds hard."),
        Turn("seeker", "It is."),
    )
    guessed = np.full(len(STRATEGIES), 1 / len(STRATEGIES), np.float32)
    row = strategy_history(
        [Conversation(turns=turns)], lambda texts: np.stack([guessed] * len(texts))
    )[0]
    recent, earlier = row[:HISTORY_WIDTH], row[HISTORY_WIDTH : 2 * HISTORY_WIDTH]
    assert recent[: len(STRATEGIES)].tolist() == guessed.tolist()
    assert recent[len(STRATEGIES) :].tolist() == [1.0, 0.0]  # exists, not given
    assert earlier[: len(STRATEGIES)].tolist() == [1.0] + [0.0] * (len(STRATEGIES) - 1)
    assert earlier[len(STRATEGIES) :].tolist() == [1.0, 1.0]  # exists, given
    assert not row[2 * HISTORY_WIDTH :].any()  # no third supporter turn
