"""The explicit risk rules: normalisation of slang and misspellings, each guard, and the
rule ids and C-SSRS lines the reasons name. Rules only, no classifier."""

from __future__ import annotations

import pytest

from services.common.domain import Conversation, Turn
from services.risk.rules import (
    analyse_conversation,
    analyse_text,
    normalise,
    rising_trend,
    strip_idioms,
)
from services.safety.policy import RiskPolicy


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("i wanna kms", "i want to kill myself"),
        ("im gonna kil myslef", "i am going to kill myself"),
        ("thinking about unaliving myself", "thinking about killing myself"),
        ("i feel sucidal", "i feel suicidal"),
        ("commit suicde", "commit suicide"),
        ("KIIIILL MYSELF", "kill myself"),
        ("k1ll mys3lf", "kill myself"),
        ("I can't go on", "i can not go on"),
    ],
)
def test_normalise_maps_slang_and_misspellings_to_one_spelling(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_idioms_are_cut_out_before_rules_see_the_text() -> None:
    text, count = strip_idioms(normalise("This exam is killing me and I'm dead tired"))
    assert count == 2
    assert "killing" not in text and "dead" not in text


@pytest.mark.parametrize(
    ("text", "rule_id", "line", "level"),
    [
        ("I'm going to kill myself", "rule:intent", "INTENT", "HIGH"),
        ("I have a plan to end my life", "rule:plan", "PLAN", "HIGH"),
        ("how many pills would it take to die", "rule:method", "METHOD", "HIGH"),
        ("I tried to kill myself yesterday", "rule:attempt", "BEHAVIOR", "HIGH"),
        ("I just swallowed all my pills", "rule:attempt_in_progress", "BEHAVIOR", "IMMINENT"),
        ("I wish I was dead", "rule:wish_dead", "WISH_TO_BE_DEAD", "MODERATE"),
        (
            "I want to go to sleep and never wake up",
            "rule:passive_wish",
            "WISH_TO_BE_DEAD",
            "MODERATE",
        ),
        ("I keep thinking about suicide", "rule:active_thoughts", "SUICIDAL_THOUGHTS", "HIGH"),
    ],
)
def test_each_cssrs_line_has_a_named_rule(text: str, rule_id: str, line: str, level: str) -> None:
    analysis = analyse_text(text, turn_index=3)
    matching = [r for r in analysis.reasons if r.source == rule_id]
    assert matching, [r.source for r in analysis.reasons]
    assert matching[0].line == line
    assert matching[0].level == level
    assert matching[0].turn_index == 3


def test_reasons_never_carry_the_seekers_words() -> None:
    text = "I'm going to kill myself tonight with the pills in my drawer"
    for reason in analyse_text(text).reasons:
        assert "pills" not in reason.detail and "drawer" not in reason.detail


def test_a_time_named_with_intent_is_imminent() -> None:
    analysis = analyse_text("i'm going to end it all tonight")
    assert analysis.level == "IMMINENT"
    assert any(r.source == "rule:imminent" and r.line == "PLAN" for r in analysis.reasons)


@pytest.mark.parametrize(
    "text",
    ["I would never hurt myself", "I'm not going to kill myself", "no thoughts of suicide at all"],
)
def test_negation_cancels_and_says_so(text: str) -> None:
    analysis = analyse_text(text)
    assert analysis.level == "NONE"
    assert "negation" in analysis.guards
    assert any(r.source == "guard:negation" for r in analysis.reasons)


def test_negation_does_not_reach_across_a_clause() -> None:
    assert analyse_text("I'm not suicidal but I want to kill myself").level == "HIGH"


def test_cannot_stop_is_not_a_negation() -> None:
    assert analyse_text("I can't stop thinking about killing myself").level == "HIGH"


def test_history_with_recovery_is_downgraded_but_recorded() -> None:
    analysis = analyse_text("Years ago I attempted suicide, but I'm doing much better now")
    assert analysis.level == "LOW"
    assert analysis.history
    assert any(r.line == "BEHAVIOR" and "history" in r.detail for r in analysis.reasons)


def test_recurrence_after_history_is_current_risk() -> None:
    analysis = analyse_text(
        "I tried to kill myself years ago and lately I'm thinking about it again"
    )
    assert analysis.level == "HIGH"


def test_fiction_frame_cancels_unless_the_seeker_joins_in() -> None:
    assert analyse_text("In the movie the hero wants to kill himself").level == "NONE"
    mixed = "In the movie she wants to kill herself and I want to kill myself too"
    assert analyse_text(mixed).level == "HIGH"


def test_third_party_is_flagged_without_raising_the_seeker() -> None:
    analysis = analyse_text("My friend wants to end her life")
    assert analysis.third_party
    assert analysis.level == "NONE"
    assert any(r.source == "rule:third_party" for r in analysis.reasons)


@pytest.mark.parametrize(
    "text",
    [
        "Once my daughter is asleep tonight I'm going to do it.",
        "My cats will be looked after when I'm gone.",
    ],
)
def test_a_person_named_before_the_seekers_own_i_is_not_who_acts(text: str) -> None:
    # The clause's "i" is the subject of the match: the daughter or the cats are only named.
    analysis = analyse_text(text)
    assert not analysis.third_party
    assert analysis.level != "NONE"
    assert not any(r.source == "rule:third_party" for r in analysis.reasons)


def test_explicit_desire_level_is_policy() -> None:
    strict = RiskPolicy(explicit_desire_level="MODERATE")
    assert analyse_text("I want to kill myself", policy=strict).level == "MODERATE"


def test_rising_trend_raises_one_step_and_no_further_than_the_cap() -> None:
    policy = RiskPolicy()
    reason = rising_trend(["NONE", "LOW", "MODERATE"], "MODERATE", policy)
    assert reason is not None and reason.level == "HIGH" and reason.turn_index == -1
    assert rising_trend(["NONE", "LOW", "LOW"], "LOW", policy) is None
    assert rising_trend(["HIGH", "HIGH", "HIGH"], "HIGH", policy) is None


def test_reasons_name_the_component_and_sentence() -> None:
    analysis = analyse_text("Work was awful. I want to die and there is a rope in the garage.", 2)
    means = [r for r in analysis.reasons if r.component == "MEANS"]
    assert means and means[0].sentence_index == 1 and means[0].turn_index == 2
    combined = [r for r in analysis.reasons if r.source == "rule:combination"]
    assert combined and combined[0].level == "HIGH"
    assert "MEANS@t2s1" in combined[0].detail and "WISH_ACTIVE@t2s1" in combined[0].detail


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # A wish to be dead alone is MODERATE; beside means, a time or preparation it is HIGH.
        ("I want to die", "MODERATE"),
        ("I want to die and the pills are in my bag", "HIGH"),
        # A decision with a time, no suicide word.
        ("My mind is made up, it's happening on Sunday", "HIGH"),
        # An attempt under way is IMMINENT; intent with a time is IMMINENT.
        ("I already swallowed the rest of the tablets", "IMMINENT"),
        ("I'm going to end my life tonight", "IMMINENT"),
        # A passive wish with a time is still only a wish: MODERATE with resources.
        ("It would be fine if I didn't wake up tomorrow", "MODERATE"),
        # Means alone is not a crisis; a time alone says nothing.
        ("I have pills for my headache", "LOW"),
        ("See you on Sunday at the match", "NONE"),
    ],
)
def test_components_combine_per_cssrs(text: str, level: str) -> None:
    assert analyse_text(text).level == level


def _conversation(*texts: str) -> Conversation:
    roles = ("seeker", "supporter")
    return Conversation(tuple(Turn(roles[i % 2], t) for i, t in enumerate(texts)))


def test_components_of_earlier_turns_combine_with_later_ones() -> None:
    conversation = _conversation(
        "I keep wanting to die", "Have you thought about how?", "Pills. I have enough."
    )
    analyses, level, _ = analyse_conversation(conversation)
    assert analyses[-1].level != "NONE" and level in ("HIGH", "IMMINENT")


def test_a_yes_is_read_with_the_supporters_safety_question() -> None:
    asked = _conversation("Work is hell", "Are you thinking of killing yourself?", "yeah")
    assert analyse_conversation(asked)[1] == "HIGH"
    denied = _conversation("Work is hell", "Are you thinking of killing yourself?", "no")
    assert analyse_conversation(denied)[1] == "NONE"
    # A generic question is not a safety question when nothing risky came before it.
    generic = _conversation("I lost my job", "Do you have a plan for next week?", "yes")
    assert analyse_conversation(generic)[1] == "NONE"


def test_not_being_safe_after_a_safety_question_escalates() -> None:
    unsafe = _conversation("I can't do this", "Are you safe right now?", "no")
    assert analyse_conversation(unsafe)[1] == "HIGH"


def test_a_professional_frame_does_not_raise_the_seeker() -> None:
    analysis = analyse_text("On my shift at the hospital a patient had overdosed on insulin")
    assert analysis.level in ("NONE", "LOW")
    nurse = analyse_text("As a nurse I know how to overdose and I want to kill myself")
    assert nurse.level in ("HIGH", "IMMINENT")


@pytest.mark.parametrize(
    "text",
    [
        "On shift there's a voice telling me to climb into the baler and I've started doing it",
        "tonight when my husband is at work I'm going to take all the pills I've saved",
    ],
)
def test_a_place_of_work_is_no_professional_frame(text: str) -> None:
    # Where someone is ("at work", "on shift") does not make the words about their work: the
    # frame would explain the crisis away and cap the classifier with it.
    analysis = analyse_text(text)
    assert "professional" not in analysis.guards
    assert analysis.level in ("HIGH", "IMMINENT")


@pytest.mark.parametrize(
    ("text", "at_least"),
    [
        ("took like 40 paracetamol an hour ago and now im scared", "IMMINENT"),
        ("I've got all my nan's morphine, tonight's the night", "HIGH"),
        ("The rope is in the loft. I checked the beam holds.", "HIGH"),
        ("I've written letters for my kids. They'll find them on the kitchen table.", "HIGH"),
        ("I looked up how many of my insulin pens it would take", "HIGH"),
        ("I've been researching the most painless way to go", "HIGH"),
        ("My will is done and I've cancelled my dentist appointment", "HIGH"),
        ("no one will have to put up with me after this weekend", "MODERATE"),
        ("part of me wishes the plane would crash", "MODERATE"),
        ("I keep thinking it would be easier to be dead", "MODERATE"),
        ("If I died tomorrow nobody would notice", "MODERATE"),
        ("I have a stash of my mum's sleeping tablets and I think about using them", "HIGH"),
        ("ive saved up 3 months of my lithium. tonight i take it all", "IMMINENT"),
        ("I texted my ex to say goodbye and that I'm sorry. It's nearly time.", "HIGH"),
        ("I'm driving to the cliffs after work and I'm not coming back", "HIGH"),
        ("my plan is the bridge on friday night", "HIGH"),
        ("I've been timing the trains behind my house", "HIGH"),
        ("I emptied the cabinet into my hand and swallowed", "IMMINENT"),
        ("I wont be alive by sunday, I promise you that", "HIGH"),
        ("I bought a hose. I know what I'm going to do with it.", "HIGH"),
        ("giving my stuff away so they have something to remember me by", "HIGH"),
        ("my family would be happier if I were dead", "MODERATE"),
        ("I hope I don't make it to 30", "MODERATE"),
        ("honestly wouldn't mind if I never woke up", "MODERATE"),
        ("an hour ago i downed my dad's entire supply of tramadol", "IMMINENT"),
        ("tomorrow is my last day alive and I wanted someone to know", "HIGH"),
        ("this is my last post. i am going to a better place", "HIGH"),
        ("i stood on the roof tonight and nearly jumped", "IMMINENT"),
    ],
)
def test_indirect_crisis_phrasings_reach_their_level(text: str, at_least: str) -> None:
    order = ["NONE", "LOW", "MODERATE", "HIGH", "IMMINENT"]
    assert order.index(analyse_text(text).level) >= order.index(at_least)


@pytest.mark.parametrize(
    "text",
    [
        "goodbye everyone, I'm off on holiday for two weeks!",
        "bye all, back on Monday",
        "I'm not coming back to this restaurant, the food was cold",
        "we're driving to the cliffs for a walk on Sunday",
        "I'm off to the bridge club this afternoon",
        "I picked the spot for our picnic",
        "my last day on this earth as a teenager, turning twenty tomorrow!",
        "I took the whole course of antibiotics like the GP said",
        "killed myself laughing at the wedding speech",
        "this is my last post on here, i'm switching to a new forum for my knitting stuff",
        "my last message to my ex got left on read, it's been three days",
        "I collect my mum's repeat prescription every month, any tips for keeping track?",
    ],
)
def test_a_goodbye_for_now_is_no_farewell(text: str) -> None:
    assert analyse_text(text).level in {"NONE", "LOW"}


@pytest.mark.parametrize(
    "text",
    [
        "When I was sixteen I overdosed. I'm in my thirties now and doing well.",
        "When I was 20 I stood on a bridge one night. I have two kids and a dog now.",
    ],
)
def test_an_act_dated_by_an_age_is_history(text: str) -> None:
    assert analyse_text(text).level not in {"HIGH", "IMMINENT"}


def test_a_question_put_to_the_seeker_and_answered_no_is_no_disclosure() -> None:
    assert analyse_text(
        "the nurse asked if I'd had thoughts of killing myself and no, I haven't. just tired"
    ).level in {"NONE", "LOW"}
    # Answered yes, or no beside means at hand, it still counts.
    assert analyse_text(
        "the nurse asked if I'd had thoughts of killing myself and I said yes"
    ).level in {
        "HIGH",
        "IMMINENT",
    }


@pytest.mark.parametrize(
    "text",
    [
        "I've written my last message to my sister and it's in the drawer",
        "I've been collecting my tablets for weeks",
        "I collected my prescription today and I'm saving every pill for friday",
        "my suicide note was written last night",
        "the goodbye letter is still on my desk for them to find",
    ],
)
def test_a_final_message_or_a_saved_supply_still_escalates(text: str) -> None:
    assert analyse_text(text).level in {"HIGH", "IMMINENT"}
