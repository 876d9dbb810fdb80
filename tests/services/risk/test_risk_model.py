"""The risk screen over whole conversations: the probe set (tests/fixtures/risk_probes.yaml),
rules alone and with a fake classifier, and how the classifier may and may not move a verdict."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml

from services.common.config import Settings, load_settings
from services.common.domain import Conversation, Turn
from services.common.errors import InvalidArgument, Unavailable
from services.risk.model import RiskScreen, RiskVerdict
from services.risk.rules import level_index
from services.risk.window import segments, window_text
from services.safety.policy import RiskPolicy, load_policy

PROBES = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "fixtures" / "risk_probes.yaml").read_text("utf-8")
)
NEVER_ESCALATE = {"distress", "idiom", "negation", "fiction", "third_party", "history"}


class FakeClassifier:
    """Returns the same probability row for every text; counts calls."""

    name = "fake-risk"
    version = "test"

    def __init__(self, row: Sequence[float]) -> None:
        self.row = np.asarray(row, dtype=np.float64)
        self.calls = 0

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return np.tile(self.row, (len(texts), 1))


class DownClassifier:
    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        raise Unavailable("risk model not built")


def conversation(*seeker_turns: str) -> Conversation:
    turns: list[Turn] = []
    for i, text in enumerate(seeker_turns):
        if i:
            turns.append(Turn("supporter", "I hear you. Tell me more."))
        turns.append(Turn("seeker", text))
    return Conversation(tuple(turns), locale="en-US")


def screen(turns: Sequence[str], classifier: object | None = None) -> RiskVerdict:
    return RiskScreen(Settings(), classifier, RiskPolicy()).screen(conversation(*turns))


@pytest.mark.parametrize("probe", PROBES, ids=[p["id"] for p in PROBES])
def test_probe_level_range_rules_only(probe: dict) -> None:
    verdict = screen(probe["turns"])
    assert level_index(probe["min"]) <= level_index(verdict.level) <= level_index(probe["max"])
    assert verdict.third_party_concern == probe.get("third_party", False)
    sources = {r.source for r in verdict.reasons}
    lines = {r.line for r in verdict.reasons}
    assert set(probe.get("rules", [])) <= sources
    if probe.get("lines"):
        assert set(probe["lines"]) & lines
    assert verdict.source == "rules-only"


@pytest.mark.parametrize(
    "probe",
    [p for p in PROBES if p["tags"][0] == "crisis"],
    ids=[p["id"] for p in PROBES if p["tags"][0] == "crisis"],
)
def test_every_crisis_probe_escalates(probe: dict) -> None:
    verdict = screen(probe["turns"])
    assert verdict.decision.escalate and level_index(verdict.level) >= level_index("HIGH")
    assert any(
        r.source.startswith("rule:") and r.level in ("HIGH", "IMMINENT") for r in verdict.reasons
    )


# Plain distress carries no guard, so only the rules-only test covers it.
GUARDED = [
    p for p in PROBES if p["tags"][0] in NEVER_ESCALATE - {"distress"} and "crisis" not in p["tags"]
]


@pytest.mark.parametrize("probe", GUARDED, ids=[p["id"] for p in GUARDED])
def test_guarded_probes_stay_below_high_even_with_an_overconfident_model(probe: dict) -> None:
    # A model that calls everything HIGH may escalate only what no guard explained away;
    # idioms, fiction, negations and third-party talk keep their guard's cap.
    verdict = screen(probe["turns"], FakeClassifier([0.0, 0.0, 0.05, 0.9, 0.05]))
    assert level_index(verdict.level) < level_index("HIGH"), verdict.reasons


def test_confident_model_escalates_what_rules_miss() -> None:
    verdict = screen(
        ["everything is grey and I have made my peace"], FakeClassifier([0, 0, 0.01, 0.01, 0.98])
    )
    assert verdict.level == "IMMINENT"
    assert verdict.source == "rules+model"
    assert verdict.model_name == "fake-risk"
    assert verdict.reasons[0].source == "model:fake-risk"
    assert verdict.probabilities == pytest.approx((0, 0, 0.01, 0.01, 0.98))


def test_an_uncertain_model_beside_a_rules_signal_fails_toward_escalation() -> None:
    # "When I'm gone" is a death reference (MODERATE by the rules); P(HIGH+) halfway between
    # model_high_corroborated and model_high (whatever the trainer set them to), so the turn
    # escalates only because the rules found something.
    policy = RiskPolicy()
    assert policy.model_high_corroborated < policy.model_high
    high = (policy.model_high + policy.model_high_corroborated) / 2
    rest = 1.0 - high
    unsure = FakeClassifier([rest / 2, rest / 4, rest / 4, high * 0.9, high * 0.1])
    verdict = screen(["My cats will be looked after when I'm gone."], unsure)
    assert verdict.level == "HIGH"
    assert any("beside the rules' signal" in r.detail for r in verdict.reasons)
    # The same model on a turn where no rule found anything stays below HIGH.
    assert screen(["everything is grey today"], unsure).level not in ("HIGH", "IMMINENT")


def test_probabilities_agree_with_a_rules_floor() -> None:
    # The model reads NONE; the rules find an attempt under way: the distribution says so.
    verdict = screen(["I just swallowed all my pills"], FakeClassifier([0.7, 0.1, 0.1, 0.06, 0.04]))
    assert verdict.level == "IMMINENT"
    assert verdict.probabilities == pytest.approx((0, 0, 0, 0, 1.0))
    assert max(range(5), key=lambda k: verdict.probabilities[k]) == 4


def test_probabilities_agree_with_a_guard_cap() -> None:
    # An over-confident model on an idiom: capped at the guard's level, and the mass moved there.
    verdict = screen(["this commute is killing me"], FakeClassifier([0, 0, 0.01, 0.01, 0.98]))
    assert verdict.level == "LOW"
    assert max(range(5), key=lambda k: verdict.probabilities[k]) == 1
    assert sum(verdict.probabilities) == pytest.approx(1.0)


def test_model_never_lowers_a_rule_floor() -> None:
    verdict = screen(
        ["I'm going to kill myself tonight"], FakeClassifier([0.97, 0.01, 0.01, 0.005, 0.005])
    )
    assert verdict.level == "IMMINENT"


def test_classifier_scores_recent_turns_in_one_batch() -> None:
    fake = FakeClassifier([1, 0, 0, 0, 0])
    screen(["a", "b", "c", "d", "e", "f"], fake)
    assert fake.calls == 1


def test_unavailable_classifier_falls_back_to_rules_and_says_so() -> None:
    verdict = screen(["I want to kill myself"], DownClassifier())
    assert verdict.level == "HIGH"
    assert verdict.source == "rules-only"
    assert any(r.source == "rules-only" and "unavailable" in r.detail for r in verdict.reasons)


def test_rules_only_probabilities_are_one_hot_on_the_rules_level() -> None:
    verdict = screen(["I wish I was dead"])
    assert verdict.probabilities == (0.0, 0.0, 1.0, 0.0, 0.0)
    assert verdict.decision.attach_resources and not verdict.decision.escalate


def test_third_party_concern_attaches_resources_without_escalating() -> None:
    verdict = screen(["My friend wants to end her life"], FakeClassifier([0, 0, 0, 0.5, 0.5]))
    decision = verdict.decision
    assert verdict.third_party_concern and decision.attach_resources and not decision.escalate


def test_trend_reason_is_conversation_wide() -> None:
    verdict = screen(["work is stressful", "I feel hopeless", "I don't want to live anymore"])
    trend = [r for r in verdict.reasons if r.source == "rule:trend"]
    assert verdict.level == "HIGH" and trend and trend[0].turn_index == -1


def test_turn_indices_point_into_the_conversation() -> None:
    verdict = screen(["hello", "I want to kill myself"])
    rule_reasons = [r for r in verdict.reasons if r.source == "rule:active_thoughts"]
    assert rule_reasons[0].turn_index == 2  # seeker, supporter, seeker


def test_no_seeker_turn_is_none() -> None:
    verdict = RiskScreen(Settings()).screen(Conversation((Turn("supporter", "hi"),)))
    assert verdict.level == "NONE"


def test_policy_file_overrides_and_rejects_unknown_keys(tmp_path: Path) -> None:
    good = tmp_path / "safety.yaml"
    good.write_text("model_high: 0.7\nguard_model_caps: {idiom: NONE}\n")
    settings = load_settings({"SOLACE_SAFETY_CONFIG": str(good)})
    policy = load_policy(settings.safety_config)
    assert policy.model_high == 0.7 and policy.guard_model_caps["idiom"] == "NONE"
    assert policy.guard_model_caps["negation"] == "MODERATE"
    # The screen reads the same file through its settings when no policy is given.
    assert RiskScreen(settings).policy == policy
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_hihg: 0.7\n")
    with pytest.raises(InvalidArgument, match="unknown safety setting"):
        load_policy(load_settings({"SOLACE_SAFETY_CONFIG": str(bad)}).safety_config)


def test_policy_is_read_through_settings_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "safety.yaml"
    file.write_text("model_high: 0.7\n")
    monkeypatch.setenv("SOLACE_SAFETY_CONFIG", str(file))
    # load_policy reads no environment: without a path it is the embedded defaults.
    assert load_policy() == RiskPolicy() and load_policy("") == RiskPolicy()
    assert RiskScreen(Settings()).policy == RiskPolicy()
    # The variable reaches the policy through load_settings, like every setting.
    assert RiskScreen(load_settings()).policy.model_high == 0.7


class PerTextClassifier:
    """A confident IMMINENT row for the texts named, NONE for every other text."""

    name = "per-text"

    def __init__(self, imminent: set[str]) -> None:
        self.imminent = imminent

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        rows = [[0, 0, 0, 0.01, 0.99] if t in self.imminent else [1, 0, 0, 0, 0] for t in texts]
        return np.asarray(rows, dtype=np.float64)


def test_a_model_only_level_floors_later_requests_one_step_lower_than_a_rules_level() -> None:
    classifier = PerTextClassifier({"thank you so much"})
    # The misread turn itself escalates; the requests after it keep resources, not the hold.
    assert screen(["thank you so much"], classifier).level == "IMMINENT"
    after = screen(["thank you so much", "ok, talk tomorrow"], classifier)
    assert after.level == "MODERATE"
    assert after.decision is not None and after.decision.attach_resources
    assert not after.decision.escalate
    # What a rule found is carried as before: an attempt stays escalated on the next "ok".
    attempt = screen(["I swallowed all my pills an hour ago", "ok"], classifier)
    assert attempt.decision is not None and attempt.decision.escalate


class RowsClassifier:
    """A fixed probability row per text (NONE for any other); records every text it reads."""

    name = "rows"

    def __init__(self, rows: dict[str, Sequence[float]]) -> None:
        self.rows = rows
        self.read: list[str] = []

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        self.read.extend(texts)
        return np.asarray([self.rows.get(t, [1, 0, 0, 0, 0]) for t in texts], dtype=np.float64)


IMMINENT_ROW = [0, 0, 0, 0.01, 0.99]
LOW_ROW = [0.3, 0.7, 0, 0, 0]


def test_turns_read_together_escalate_what_no_single_turn_says() -> None:
    # Neither turn alone reads as a crisis to the model (the first as LOW); together they do.
    first, second = "things have been heavy for a while", "I sorted out who gets the dog"
    classifier = RowsClassifier({first: LOW_ROW, window_text([first, second]): IMMINENT_ROW})
    assert screen([second], classifier).level != "IMMINENT"
    verdict = screen([first, second], classifier)
    assert verdict.level == "IMMINENT"
    assert verdict.decision is not None and verdict.decision.escalate
    why = [r for r in verdict.reasons if r.source == "model:rows:conversation"]
    assert why and why[0].turn_index == 2


LONG_POST = (
    "Work has been okay and my manager finally approved the leave I asked for. "
    "The kids have their school play next week and I sewed both costumes myself. "
    "The blue notebook is ready on the shelf for whoever finds it. "
    "Anyway we are all going to the lake on sunday if the weather holds."
)
# No rule reads anything in it; the fake model reads a crisis in whatever text holds it.
CRISIS_PART = "The blue notebook is ready on the shelf for whoever finds it."


def test_a_crisis_sentence_in_a_long_post_is_read_alone() -> None:
    # Read whole, the post is ordinary to the fake model; its third sentence, read as
    # one of the post's parts, is a crisis: the turn takes that part's level.
    parts = segments(LONG_POST, RiskPolicy().model_segment_chars)
    assert any(CRISIS_PART in p for p in parts) and all(p != LONG_POST for p in parts)
    rows = {p: IMMINENT_ROW for p in parts if CRISIS_PART in p}
    classifier = RowsClassifier(rows)
    off = RiskScreen(Settings(), classifier, RiskPolicy(model_segment_chars=0))
    assert level_index(off.screen(conversation(LONG_POST)).level) < level_index("HIGH")
    classifier.read.clear()
    verdict = screen([LONG_POST], classifier)
    assert verdict.level == "IMMINENT" and verdict.decision.escalate
    assert [r.source for r in verdict.reasons if r.source.endswith(":part")] == ["model:rows:part"]
    # One batched call holds the turn and its parts.
    assert classifier.read == [LONG_POST, *parts]


def test_a_guard_in_a_long_post_caps_its_parts() -> None:
    post = LONG_POST.replace(CRISIS_PART, "In the novel the hero swallows the pills tonight.")
    parts = segments(post, RiskPolicy().model_segment_chars)
    classifier = RowsClassifier({p: IMMINENT_ROW for p in parts})
    verdict = screen([post], classifier)
    assert level_index(verdict.level) < level_index("HIGH"), verdict.reasons


def test_turns_without_any_signal_are_not_read_together() -> None:
    # Ordinary chat: no rule fired and the model sees nothing in any turn, so the joined text
    # (new on every request, never a memo hit) is not encoded.
    first, second = "we went to the lake on sunday", "the weather was lovely"
    classifier = RowsClassifier({window_text([first, second]): IMMINENT_ROW})
    verdict = screen([first, second], classifier)
    assert window_text([first, second]) not in classifier.read
    assert verdict.level == "NONE"
    # With the gate at 0 the window is always read (and here, misread).
    always = RiskScreen(Settings(), classifier, RiskPolicy(model_window_gate=0.0))
    assert always.screen(conversation(first, second)).level == "IMMINENT"


def test_a_guard_in_the_latest_turn_caps_the_turns_read_together() -> None:
    first, second = "some days are dark", "I'm not going to kill myself, I promise"
    classifier = RowsClassifier({first: LOW_ROW, window_text([first, second]): IMMINENT_ROW})
    verdict = screen([first, second], classifier)
    assert level_index(verdict.level) < level_index("HIGH"), verdict.reasons
