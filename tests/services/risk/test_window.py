"""What the risk classifier reads besides each turn: the latest seeker turns joined (newest
kept), and a long turn's parts."""

from __future__ import annotations

from services.risk.window import WINDOW_SEPARATOR, segments, window_text


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


def test_a_long_turn_is_read_as_groups_of_whole_sentences() -> None:
    post = (
        "Work has been fine and the kids are doing well at school. "
        "We had a lovely weekend at my sister's place by the sea. "
        "I have the pills saved up and I will take them on friday. "
        "Anyway the garden needs doing"
    )
    parts = segments(post, max_chars=120)
    assert parts == [
        "Work has been fine and the kids are doing well at school. "
        "We had a lovely weekend at my sister's place by the sea.",
        "I have the pills saved up and I will take them on friday. Anyway the garden needs doing",
    ]
    assert all(len(p) <= 120 for p in parts)
    # Lines without punctuation are sentences too.
    assert segments("first line here\nsecond line here\nthird", max_chars=20) == [
        "first line here",
        "second line here",
        "third",
    ]


def test_short_turns_one_sentence_turns_and_off_have_no_parts() -> None:
    assert segments("I'm fine. Really.", max_chars=200) == []
    assert segments("word " * 100, max_chars=200) == []  # one sentence: the turn reads it
    assert segments("A sentence. " * 40, max_chars=0) == []
