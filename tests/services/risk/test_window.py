"""The conversation text the risk classifier reads: the latest seeker turns, newest kept."""

from __future__ import annotations

from services.risk.window import WINDOW_SEPARATOR, window_text


def test_turns_are_joined_oldest_first() -> None:
    assert window_text(["first", "second", "third"]) == WINDOW_SEPARATOR.join(
        ["first", "second", "third"]
    )


def test_one_turn_is_no_conversation() -> None:
    assert window_text(["only this"]) is None
    assert window_text([]) is None


def test_the_oldest_turns_go_first_when_the_budget_is_spent() -> None:
    turns = ["a" * 300, "b" * 60, "c" * 30]
    assert window_text(turns, max_chars=100) == WINDOW_SEPARATOR.join(["b" * 60, "c" * 30])


def test_a_latest_turn_longer_than_the_budget_reads_alone() -> None:
    # The turn's own classifier row reads it; no window that would cut it.
    assert window_text(["earlier", "x" * 500], max_chars=100) is None
