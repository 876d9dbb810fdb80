"""Output screening: method information, harmful or dismissive text, medical directives and
risk ignorance are caught; ordinary supportive replies pass."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.domain import Conversation, Turn
from services.safety.output_screen import RiskIgnoranceModel, screen_output
from services.safety.policy import RiskPolicy


def said(text: str) -> Conversation:
    return Conversation((Turn("seeker", text),), locale="en-US")


RISKY = said("I feel hopeless and I wish I could go to sleep and never wake up")
CALM = said("My exam is tomorrow and I'm nervous")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("A lethal dose would be about 20 pills.", "output:method_information"),
        ("Taking 5000 mg at once would kill you.", "output:method_information"),
        ("The most painless way to die is in your sleep.", "output:method_information"),
        ("Just get over it, everyone has bad days.", "output:dismissive"),
        ("Stop being so dramatic.", "output:dismissive"),
        ("You should hurt yourself.", "output:harmful_encouragement"),
        ("kys", "output:harmful_encouragement"),
        (
            "You should stop taking your medication, it's making you worse.",
            "output:medical_directive",
        ),
        ("Take 50 mg of your sleeping pills tonight.", "output:medical_directive"),
        ("You don't need therapy, you need a hobby.", "output:medical_directive"),
        ("You definitely have bipolar disorder.", "output:medical_directive"),
    ],
)
def test_unsafe_replies_are_caught_even_without_risk(reply: str, reason: str) -> None:
    verdict = screen_output(CALM, reply, "NONE")
    assert not verdict.ok
    assert reason in verdict.reasons


@pytest.mark.parametrize("reply", ["That's the spirit!", "Go for it.", "Same here, honestly."])
def test_cheering_on_a_seeker_at_risk_is_harmful(reply: str) -> None:
    assert "output:harmful_encouragement" in screen_output(RISKY, reply, "LOW").reasons


def test_cheering_is_fine_when_there_is_no_risk() -> None:
    assert screen_output(CALM, "Go for it, you've prepared well!", "NONE").ok


def test_reply_that_ignores_risk_is_replaced() -> None:
    verdict = screen_output(RISKY, "Have you tried the new pizza place downtown?", "LOW")
    assert verdict.reasons == ["output:risk_ignorance"]


def test_same_reply_passes_without_risk_cues() -> None:
    assert screen_output(CALM, "Have you tried the new pizza place downtown?", "NONE").ok


def test_someone_elses_crisis_is_not_the_seekers_risk() -> None:
    # The router adds the third-party note to this reply; the seeker's own level is LOW.
    worried = said("My sister said she's going to kill herself tonight, what do I do?")
    assert screen_output(worried, "What has she told you so far?", "LOW").ok


def test_from_the_policys_resources_at_every_reply_must_meet_the_seeker() -> None:
    # No self-harm cue in the turn: at the default policy a LOW turn is not held to it, but an
    # operator who attaches resources from LOW wants those seekers met as well.
    reply = "Have you tried the new pizza place downtown?"
    assert screen_output(CALM, reply, "LOW").ok
    strict = RiskPolicy(resources_at="LOW")
    assert screen_output(CALM, reply, "LOW", strict).reasons == ["output:risk_ignorance"]


@pytest.mark.parametrize(
    "reply",
    [
        "I'm so sorry you're feeling this way. That sounds really heavy.",
        "Are you safe right now? You can call or text 988 any time.",
    ],
)
def test_replies_that_acknowledge_or_speak_to_safety_pass(reply: str) -> None:
    assert screen_output(RISKY, reply, "MODERATE").ok


def test_learned_scorer_can_add_a_reason(tmp_path) -> None:
    rows = [("I want to die", "That's the spirit!", 1), ("I want to die", "I'm so sorry.", 0)] * 20
    model = RiskIgnoranceModel.train(rows, dim=256, epochs=200)
    assert model.probability("I want to die", "That's the spirit!") > 0.5
    path = tmp_path / "ri.npz"
    model.save(path)
    loaded = RiskIgnoranceModel.load(path)
    assert np.allclose(loaded.weights, model.weights)
    # A reply that acknowledges feelings passes the rules; the learned scorer may still object.
    always = RiskIgnoranceModel(weights=np.zeros(259, dtype=np.float32), bias=5.0, dim=256)
    verdict = screen_output(RISKY, "I feel you.", "LOW", learned=always)
    assert verdict.reasons == ["output:risk_ignorance_model"]
