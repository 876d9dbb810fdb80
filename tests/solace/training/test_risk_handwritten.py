"""The hand-written training messages: well-formed, and free of the held-out families."""

from __future__ import annotations

import pytest

from services.common.labels import RISK_LEVELS
from solace.training import risk
from solace.training import risk_corpus as rc


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
