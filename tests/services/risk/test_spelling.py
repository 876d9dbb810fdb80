"""Typo tolerance: misspelt rule words are read as the rule word; real words never change."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.config import Settings
from services.risk.rules import analyse_text
from services.risk.spelling import Speller

TOKENIZER = Path(Settings().models_dir) / "encoder" / "tokenizer.json"
KNOWN = frozenset({"after", "having", "talking", "night", "bills", "banging", "round", "would"})


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("i want to kill mysefl", "i want to kill myself"),  # adjacent letters swapped
        ("all my tabelts tonihgt", "all my tablets tonight"),
        ("jumpign off the brigde", "jumping off the bridge"),
        ("an overdsoe of paracetmol", "an overdose of paracetamol"),  # a letter dropped
    ],
)
def test_a_misspelt_rule_word_is_read_as_the_rule_word(typed: str, read: str) -> None:
    assert Speller(KNOWN).correct(typed) == read


def test_known_words_are_never_corrected() -> None:
    # One edit from "rafter", "shaving", "taking", "nights", "pills", "hanging", "around".
    text = "after having talking night bills banging round"
    assert Speller(KNOWN).correct(text) == text


def test_without_a_tokenizer_there_is_no_speller(tmp_path: Path) -> None:
    assert Speller.from_tokenizer(tmp_path / "tokenizer.json") is None


def test_a_typo_no_longer_hides_a_crisis_from_the_rules() -> None:
    speller = Speller(KNOWN)
    assert analyse_text("gonna take all my tabelts tonihgt").level == "NONE"
    assert analyse_text("gonna take all my tabelts tonihgt", speller=speller).level == "IMMINENT"


@pytest.mark.skipif(not TOKENIZER.is_file(), reason="the encoder is not built (make models)")
def test_the_encoder_vocabulary_gives_the_known_words() -> None:
    speller = Speller.from_tokenizer(TOKENIZER)
    assert speller is not None
    assert speller.correct("after having a night out") == "after having a night out"
    assert speller.correct("i want to kill mysefl") == "i want to kill myself"
