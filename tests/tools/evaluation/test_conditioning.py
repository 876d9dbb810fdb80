"""``solace eval conditioning``'s scoring, on fixed texts (no model): what counts as looping,
and how the table's shares are counted."""

from __future__ import annotations

from services.common.labels import strategy_index
from tools.evaluation.conditioning import MODES, loops, prompts, score

QUESTION = strategy_index("Question")
SUGGESTION = strategy_index("Providing Suggestions")


def test_looping_is_a_trigram_three_times_or_a_word_eight_times() -> None:
    assert loops("What? How? How? How? How? How? How? How? How?")  # "how" eight times
    assert loops("I hear you. I hear you. I hear you, really.")  # "i hear you" three times
    assert not loops("I hear you. I hear you. That sounds so hard, what happened next?")
    assert not loops("That must be hard. How long has it been going on?")
    assert not loops("")


def test_the_shares_count_replies_on_target_and_not_looping() -> None:
    batch = prompts(["one", "two"], [QUESTION, SUGGESTION], max_tokens=50)
    assert [p.strategy for p in batch] == [QUESTION, SUGGESTION, QUESTION, SUGGESTION]
    texts = ["How are you?", "Maybe rest.", "how how how how how how how how", "Sleep well."]
    read = [QUESTION, SUGGESTION, QUESTION, QUESTION]
    scores = score("m", batch, texts, read, [4, 3, 8, 2])
    assert (scores.replies, scores.on_target, scores.looping, scores.both) == (4, 3, 1, 2)
    assert scores.per_strategy == {QUESTION: 1, SUGGESTION: 1} and scores.mean_tokens == 4.25


def test_the_modes_start_from_the_prompt_alone() -> None:
    assert next(iter(MODES)) == "prompt only" and MODES["prompt only"] is None
    assert MODES["constant 1"].half_life == 0 and MODES["constant 1"].max_repeats == 0
