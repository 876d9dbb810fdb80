"""The generated risk corpus: deterministic, balanced, labelled by composition, and split so
that held-out families never reach the training side."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from services.common.labels import RISK_LEVELS
from tools.training import risk_corpus as rc


@pytest.fixture(scope="module")
def examples() -> list[rc.Example]:
    return rc.generate(0)


@pytest.fixture(scope="module")
def dialogues() -> list[rc.Dialogue]:
    return rc.generate_dialogues(0)


def _at_least(level: str, floor: str) -> bool:
    return RISK_LEVELS.index(level) >= RISK_LEVELS.index(floor)


def test_the_same_seed_gives_the_same_corpus(examples, dialogues) -> None:
    assert rc.generate(0) == examples
    assert rc.generate_dialogues(0) == dialogues
    assert rc.generate(1) != examples
    assert rc.generate_dialogues(1) != dialogues


def test_a_few_thousand_distinct_examples_balanced_across_families(examples) -> None:
    assert 2000 <= len(examples) <= 8000
    assert len({e.text for e in examples}) == len(examples)
    per_family = Counter(e.family for e in examples)
    assert set(per_family) == set(rc.FAMILY_NAMES)
    assert min(per_family.values()) >= 0.8 * max(per_family.values())


def test_every_method_act_and_style_family_occurs(examples, dialogues) -> None:
    assert len(rc.METHODS) >= 12 and len(rc.ACTS) >= 8
    assert {e.method for e in examples} - {""} == set(rc.METHODS)
    assert {e.act for e in examples} - {""} == set(rc.ACTS)
    assert {e.style for e in examples} == set(rc.STYLES)
    assert {d.family for d in dialogues} == set(rc.DIALOGUE_FAMILY_NAMES)
    assert {d.style for d in dialogues} == set(rc.STYLES)
    # Every method occurs in the families that state one, crisis and negative alike.
    for family in ("ideation_method", "plan", "attempt", "fiction", "negation"):
        named = {e.method for e in examples if e.family == family} - {""}
        assert named == set(rc.METHODS), family


@pytest.mark.parametrize(
    ("components", "level"),
    [
        ((), "NONE"),
        (("distress",), "LOW"),
        (("passive",), "MODERATE"),
        (("ideation",), "MODERATE"),
        (("desire",), "HIGH"),
        (("passive", "means"), "HIGH"),
        (("ideation", "preparation"), "HIGH"),
        (("ideation", "timing"), "HIGH"),
        (("command",), "HIGH"),
        (("nssi", "distress"), "HIGH"),
        (("intent", "timing"), "IMMINENT"),
        (("farewell", "passive"), "IMMINENT"),
        (("attempt",), "IMMINENT"),
    ],
)
def test_compose_level_follows_the_cssrs_reading(components, level) -> None:
    assert rc.compose_level(components) == level


def test_compose_level_rejects_unknown_components() -> None:
    with pytest.raises(ValueError):
        rc.compose_level(["despair"])


def test_every_label_is_the_composition_of_its_components(examples) -> None:
    for e in examples:
        components = e.component.split("+") if e.component else []
        assert e.level == rc.compose_level(components), e
        assert e.expect == rc.expect_for(e.level), e


@pytest.mark.parametrize(
    ("family", "floor", "ceiling"),
    [
        ("passive_wish", "MODERATE", "MODERATE"),
        ("ideation", "MODERATE", "MODERATE"),
        ("explicit_desire", "HIGH", "HIGH"),
        ("ideation_method", "HIGH", "IMMINENT"),
        ("means_at_hand", "HIGH", "IMMINENT"),
        ("plan", "HIGH", "IMMINENT"),
        ("preparation", "HIGH", "IMMINENT"),
        ("command_hallucination", "HIGH", "IMMINENT"),
        ("nssi", "HIGH", "HIGH"),
        ("intent_timing", "IMMINENT", "IMMINENT"),
        ("attempt", "IMMINENT", "IMMINENT"),
        ("farewell", "IMMINENT", "IMMINENT"),
    ],
)
def test_crisis_families_sit_in_their_levels(examples, family, floor, ceiling) -> None:
    levels = {e.level for e in examples if e.family == family}
    assert levels
    assert all(_at_least(lv, floor) and _at_least(ceiling, lv) for lv in levels), levels


def test_hard_negatives_never_escalate(examples) -> None:
    for e in examples:
        if e.family in rc.NEGATIVE_FAMILIES:
            assert e.level in ("NONE", "LOW") and e.expect == rc.NO_ESCALATE, e
        else:
            assert e.expect in (rc.ESCALATE, rc.PASSIVE), e
    passive = {e.family for e in examples if e.expect == rc.PASSIVE}
    assert passive == {"passive_wish", "ideation"}


def test_held_out_families_never_reach_train(examples) -> None:
    train, held = rc.split(examples)
    assert len(train) + len(held) == len(examples)
    for e in train:
        assert e.method not in rc.HELD_OUT_METHODS
        assert e.act not in rc.HELD_OUT_ACTS
        assert e.style not in rc.HELD_OUT_STYLES
        assert e.family not in rc.HELD_OUT_FAMILIES
    assert all(rc.is_held_out(e.method, e.act, e.style, e.family) for e in held)
    # Each held-out axis is measured on both sides of the label.
    for name in rc.HELD_OUT_METHODS:
        assert {e.expect for e in held if e.method == name} >= {rc.ESCALATE, rc.NO_ESCALATE}
    for name in rc.HELD_OUT_ACTS:
        assert {e.expect for e in held if e.act == name} >= {rc.ESCALATE, rc.NO_ESCALATE}
    for name in rc.HELD_OUT_STYLES:
        assert {e.expect for e in held if e.style == name} == {
            rc.ESCALATE,
            rc.PASSIVE,
            rc.NO_ESCALATE,
        }
    assert {e.family for e in held} >= set(rc.HELD_OUT_FAMILIES)
    assert len(train) > len(held)


def test_no_held_out_method_or_act_words_in_any_train_text(examples, dialogues) -> None:
    train, _ = rc.split(examples)
    train_dialogues, _ = rc.split_dialogues(dialogues)
    patterns = rc.held_out_keywords()
    texts = [e.text for e in train] + [t for d in train_dialogues for _, t in d.turns]
    leaks = [(p.pattern, t) for t in texts for p in patterns if p.search(t)]
    assert not leaks, leaks[:5]


def test_the_keyword_check_is_not_vacuous(examples) -> None:
    # Plain held-out method examples of the method-stating families do carry their words.
    stating = ("ideation_method", "plan", "attempt", "intent_timing")
    checked = 0
    for e in examples:
        if e.method in rc.HELD_OUT_METHODS and e.style == "plain" and e.family in stating:
            assert [p for p in rc.held_out_keywords() if p.search(e.text)], e
            checked += 1
    assert checked >= 10


def test_dialogues_alternate_and_start_and_end_with_the_seeker(dialogues) -> None:
    assert len(dialogues) == 300
    for d in dialogues:
        roles = [role for role, _ in d.turns]
        assert roles[0] == roles[-1] == rc.SEEKER
        assert all(a != b for a, b in itertools.pairwise(roles))
        assert set(roles) <= {rc.SEEKER, rc.SUPPORTER}
        assert d.expect == rc.expect_for(d.level)


def test_dialogue_crises_build_across_turns(dialogues) -> None:
    by_family: dict[str, set[str]] = {}
    for d in dialogues:
        by_family.setdefault(d.family, set()).add(d.level)
    for family in ("ideation_then_means", "ideation_then_how", "ideation_then_preparation"):
        assert all(_at_least(lv, "HIGH") for lv in by_family[family]), family
    assert by_family["yes_to_safety_question"] == {"HIGH"}
    assert by_family["intent_timing_answer"] == {"IMMINENT"}
    assert by_family["passive_build"] == by_family["ideation_build"] == {"MODERATE"}
    for family in ("safe_answer", "idiom", "history_recovered", "third_party", "everyday"):
        assert by_family[family] <= {"NONE", "LOW"}, family
    # A short "yes" is the whole last turn: the level comes from the question it answers.
    yes = [d for d in dialogues if d.family == "yes_to_safety_question" and d.style == "plain"]
    assert yes and all(len(d.turns[-1][1]) < 30 for d in yes)


def test_dialogue_split_holds_out_at_least_fifty(dialogues) -> None:
    train, held = rc.split_dialogues(dialogues)
    assert len(held) >= 50
    assert {d.expect for d in held} == {rc.ESCALATE, rc.PASSIVE, rc.NO_ESCALATE}
    for d in train:
        assert not rc.is_held_out(d.method, d.act, d.style, d.family)


def test_typos_are_seeded_and_change_the_text() -> None:
    text = "I have been thinking about everything tonight"
    first = rc.typos(text, random.Random(3))
    assert first == rc.typos(text, random.Random(3))
    assert first != text
    assert rc.typos("ok no", random.Random(0)) == "ok no"


def test_every_method_phrase_has_a_gerund() -> None:
    for method in rc.METHODS.values():
        for phrase in method.do:
            # gerund() raises KeyError for a verb it does not know.
            assert "ing" in rc.gerund(phrase).split(" ")[1 if phrase.startswith("stop") else 0]
