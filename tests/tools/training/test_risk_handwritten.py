"""The hand-written training messages: well-formed, and free of the held-out families."""

from __future__ import annotations

import pytest

from services.common.labels import RISK_LEVELS
from services.risk.window import WINDOW_SEPARATOR
from tools.training import risk
from tools.training import risk_corpus as rc


@pytest.fixture(scope="module")
def rows() -> tuple[list[str], list[int], list[str], list[int]]:
    fit, fit_y, held, held_y = risk.handwritten_rows()
    return fit, list(fit_y), held, list(held_y)


def test_every_listed_file_is_read_and_every_level_occurs(rows) -> None:
    fit, fit_y, held, held_y = rows
    assert all((risk.HANDWRITTEN_DIR / name).is_file() for name in risk.HANDWRITTEN_FILES)
    assert len(fit) > 1000 and len(held) > 250
    assert set(fit_y) == set(held_y) == set(range(len(RISK_LEVELS)))
    # Every fifth row of each file is held back: about a fifth overall, none in both.
    assert 0.18 < len(held) / (len(fit) + len(held)) < 0.22
    assert not set(fit) & set(held)


def test_no_held_out_method_or_act_words_in_the_hand_written_rows(rows) -> None:
    fit, _, held, _ = rows
    patterns = rc.held_out_keywords()
    leaks = [(p.pattern, t) for t in fit + held for p in patterns if p.search(t)]
    assert not leaks, leaks[:5]


def test_hand_written_conversations_are_read_as_the_screen_reads_them() -> None:
    window = risk.RiskPolicy().model_window
    fit, fit_y, held, _ = risk.handwritten_conversations(window)
    # The retired frozen sets alone hold about 260 conversations.
    assert len(fit) + len(held) > 200 and len(held) > 40
    # Several seeker turns joined, as services.risk.window joins them; escalate maps to HIGH.
    assert all(WINDOW_SEPARATOR in text for text in fit + held)
    assert RISK_LEVELS.index("HIGH") in set(fit_y) and RISK_LEVELS.index("NONE") in set(fit_y)


def test_retired_frozen_rows_take_the_level_their_expect_names() -> None:
    assert risk._row_level({"expect": "passive", "text": "x"}, "t") == RISK_LEVELS.index("MODERATE")
    assert risk._row_level({"level": "low", "text": "x"}, "t") == RISK_LEVELS.index("LOW")
    with pytest.raises(ValueError, match="no known level"):
        risk._row_level({"expect": "maybe", "text": "x"}, "t")


def test_the_frozen_evaluation_sets_are_not_training_data(rows) -> None:
    from tools.evaluation import risk_sets

    fit, _, held, _ = rows
    trained = set(fit + held)
    for path in risk_sets.FROZEN_SETS:
        assert path.name not in risk.HANDWRITTEN_FILES
        if path.exists():
            messages, _ = risk_sets.frozen_items(path, 4000)
            texts = {item.conversation.turns[-1].text for item in messages}
            # Counted, never printed: a failure must not show frozen items to whoever tunes.
            overlap = len(texts & trained)
            assert overlap == 0, f"{path.name}: {overlap} frozen messages are training rows"
