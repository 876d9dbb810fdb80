"""The safety policy's decision (``RiskPolicy.decide``): what each level gets at the default and
at an operator's thresholds, and the thresholds an operator may not set."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.common.labels import RISK_LEVELS, STRATEGIES
from services.safety.policy import RiskPolicy, SafetyDecision, allowed_strategy, load_policy

SUPPORTIVE = (
    "Question",
    "Restatement or Paraphrasing",
    "Reflection of feelings",
    "Affirmation and Reassurance",
)


def test_default_policy_escalates_high_and_constrains_moderate() -> None:
    policy = RiskPolicy()
    got = {level: policy.decide(level, False) for level in RISK_LEVELS}
    assert [level for level, d in got.items() if d.escalate] == ["HIGH", "IMMINENT"]
    assert [level for level, d in got.items() if d.attach_resources] == [
        "MODERATE",
        "HIGH",
        "IMMINENT",
    ]
    assert [level for level, d in got.items() if d.constrained] == ["MODERATE"]
    assert got["MODERATE"].allowed_strategies == SUPPORTIVE
    assert got["LOW"].allowed_strategies == STRATEGIES
    # An escalated turn gets no model text at all, so nothing is left to constrain.
    assert got["HIGH"].allowed_strategies == STRATEGIES
    assert got["NONE"] == SafetyDecision(
        escalate=False,
        attach_resources=False,
        allowed_strategies=STRATEGIES,
        constrained=False,
        escalate_at="HIGH",
        resources_at="MODERATE",
    )


def test_third_party_concern_attaches_resources_without_constraining_or_escalating() -> None:
    decision = RiskPolicy().decide("NONE", third_party_concern=True)
    assert decision.attach_resources
    assert not decision.escalate and not decision.constrained
    assert decision.allowed_strategies == STRATEGIES


def test_an_operators_thresholds_move_every_part_of_the_decision() -> None:
    policy = RiskPolicy(
        escalate_at="MODERATE",
        resources_at="LOW",
        supportive_strategies=("question", "Reflection of feelings"),
    )
    low, moderate, none = policy.decide("LOW"), policy.decide("MODERATE"), policy.decide("NONE")
    assert moderate.escalate and moderate.attach_resources
    assert (moderate.escalate_at, moderate.resources_at) == ("MODERATE", "LOW")
    assert low.attach_resources and not low.escalate and low.constrained
    # Names come back canonical and in label order, whatever the operator's spelling.
    assert low.allowed_strategies == ("Question", "Reflection of feelings")
    assert not none.attach_resources and not none.constrained


def test_equal_thresholds_leave_no_constrained_band() -> None:
    policy = RiskPolicy(escalate_at="MODERATE", resources_at="MODERATE")
    assert not any(policy.decide(level).constrained for level in RISK_LEVELS)
    assert policy.decide("MODERATE").escalate


def test_resources_above_the_escalation_threshold_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as raised:
        RiskPolicy(escalate_at="MODERATE", resources_at="HIGH")
    assert raised.value.field == "resources_at"
    # An operator who lowers only escalate_at below the default resources_at hears the same.
    config = tmp_path / "safety.yaml"
    config.write_text("escalate_at: LOW\n")
    with pytest.raises(InvalidArgument, match="resources_at"):
        load_policy(str(config))


def test_decide_refuses_an_unknown_level() -> None:
    with pytest.raises(InvalidArgument, match="unknown risk level"):
        RiskPolicy().decide("SEVERE")


def test_a_disallowed_strategy_is_replaced_by_reflection_or_the_first_allowed() -> None:
    assert allowed_strategy("Information", SUPPORTIVE) == "Reflection of feelings"
    assert allowed_strategy("Question", SUPPORTIVE) == "Question"
    assert allowed_strategy("Information", ("Affirmation and Reassurance", "Question")) == (
        "Question"
    )
