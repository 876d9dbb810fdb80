"""The dev side of the risk screen: rows the trainer held back, screened as a partner app sends
them, on a stub screen (no rules, no model)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.domain import SEEKER, Conversation
from tools.evaluation import risk_dev
from tools.evaluation import risk_sets as rs
from tools.training import risk as risk_training


@dataclass(frozen=True)
class _Verdict:
    level: str
    attach_resources: bool = False


class _Escalates:
    """Screens every conversation HIGH; counts the calls."""

    _settings = None

    def __init__(self) -> None:
        self.calls = 0

    def screen(self, conversation: Conversation) -> _Verdict:
        self.calls += 1
        return _Verdict("HIGH")


def test_dev_items_are_the_held_back_rows_and_none_was_fitted() -> None:
    messages, conversations = risk_dev.dev_items(4000)
    fit_texts, _, held_texts, _ = risk_training.handwritten_rows()
    fitted = set(fit_texts)
    assert messages and conversations
    # Every file of the trainer gives the dev side rows, named by file and row index.
    files = {item.groups[0] for item in [*messages, *conversations]}
    assert files <= set(risk_training.HANDWRITTEN_FILES)
    assert len(files) == len(risk_training.HANDWRITTEN_FILES)
    for item in messages:
        text = item.conversation.last_seeker_text
        assert text not in fitted, item.id
        assert int(item.id.rpartition(":")[2]) % risk_training.HANDWRITTEN_HOLD_EVERY == (
            risk_training.HANDWRITTEN_HOLD_EVERY - 1
        )
    assert {item.conversation.last_seeker_text for item in messages} <= set(held_texts)
    # A conversation is screened whole, seeker and supporter turns, not as one joined text.
    assert any(len(item.conversation.turns) > 2 for item in conversations)
    assert all(item.conversation.turns[-1].role == SEEKER for item in conversations)
    assert {item.expect for item in messages} == {rs.ESCALATE, rs.PASSIVE, rs.NO_ESCALATE}


def test_the_report_counts_every_held_back_row_and_the_esconv_valid_turns(
    tmp_path: Path,
) -> None:
    (tmp_path / "esconv").mkdir()
    (tmp_path / "esconv" / "valid.txt").write_text(
        '{"dialog": [{"speaker": "usr", "text": "hi"}, {"speaker": "sys", "text": "hello"},'
        ' {"speaker": "usr", "text": "my exams"}]}\n',
        encoding="utf-8",
    )
    screen = _Escalates()
    lines = risk_dev.evaluate(screen, tmp_path)  # type: ignore[arg-type]
    messages, conversations = risk_dev.dev_items(4000)
    assert screen.calls == len(messages) + len(conversations) + 2
    text = "\n".join(lines)
    # Everything escalated: recall 1, every hard negative a false escalation, 2 of 2 ESConv.
    negatives = sum(item.expect == rs.NO_ESCALATE for item in messages)
    assert f"0.000 (0/{negatives})" not in text
    assert f"1.000 ({negatives}/{negatives})" in text
    assert "escalated (HIGH+) 2/2" in text


def test_without_esconv_the_report_says_so(tmp_path: Path) -> None:
    lines = risk_dev.evaluate(_Escalates(), tmp_path)  # type: ignore[arg-type]
    assert lines[-1].startswith("ESConv valid seeker turns in context: not found")
