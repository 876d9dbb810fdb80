"""The safety policy: every threshold the risk screen, the crisis protocol and the output screen
decide with, in one frozen dataclass with embedded defaults, and the one place the crisis
thresholds are compared (``RiskPolicy.decide``).

The risk screen grades a conversation; ``decide`` turns that level into a ``SafetyDecision``
(escalate, attach resources, which strategies a reply may use). The screen computes it once from
the operator's policy and returns it with the verdict (``ScreenResponse.decision``); the router
and the generator obey that decision, and a generator called without one computes it here from
the same policy. Nothing else compares risk levels against the crisis thresholds.

An operator overrides any field with a YAML mapping in the file named by the ``safety_config``
setting (``SOLACE_SAFETY_CONFIG``, read by ``load_settings`` like every setting; callers pass
``load_policy(settings.safety_config)``). Unknown keys are rejected, so a typo never silently
keeps a default. The shared ``Settings`` only carries process-wide knobs and the file's path; the
safety numbers live here so they can be reviewed as one policy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from services.common.errors import InvalidArgument
from services.common.labels import RISK_LEVELS, STRATEGIES

# Strategies that stay with the seeker's feelings rather than steering them; MODERATE risk limits
# generation to these (suggestions and information can read as dismissive to someone in danger).
DEFAULT_SUPPORTIVE_STRATEGIES: tuple[str, ...] = (
    "Question",
    "Restatement or Paraphrasing",
    "Reflection of feelings",
    "Affirmation and Reassurance",
)

# How far a classifier may raise a turn in which a guard explained rule evidence away. Idioms,
# fiction and third-party talk are exactly where a bag-of-words-ish model over-fires, so it may
# not escalate them; negation and history keep MODERATE so resources still reach the seeker.
DEFAULT_GUARD_MODEL_CAPS: dict[str, str] = {
    "idiom": "LOW",
    "fiction": "LOW",
    "professional": "LOW",
    "third_party": "LOW",
    "negation": "MODERATE",
    "history": "MODERATE",
}


@dataclass(frozen=True)
class SafetyDecision:
    """What the safety policy decides for one screened conversation.

    ``escalate``: no model text; the crisis reply, ``escalated = true`` and a durable escalation
    record. ``attach_resources``: crisis resources go with the reply. ``allowed_strategies``:
    the ESConv strategy names a reply may follow, in ``labels.STRATEGIES`` order (all eight
    unless ``constrained``). ``escalate_at`` and ``resources_at`` are the thresholds it was
    judged against, for the audit trail ("" when a caller sent a decision without them).
    """

    escalate: bool
    attach_resources: bool
    allowed_strategies: tuple[str, ...]
    constrained: bool
    escalate_at: str
    resources_at: str


# The strategy a disallowed one is replaced by, when the decision allows it: it stays with the
# seeker's feelings, so it fits any constrained turn.
FALLBACK_STRATEGY = "Reflection of feelings"


def allowed_strategy(strategy: str, allowed: tuple[str, ...] | list[str]) -> str:
    """``strategy`` when ``allowed`` contains it (case-insensitive), else Reflection of feelings
    when allowed, else the first allowed strategy in ``labels.STRATEGIES`` order."""
    names = {s.lower() for s in allowed}
    if strategy.lower() in names:
        return strategy
    if not names:
        raise InvalidArgument("allowed_strategies", "must name at least one strategy")
    if FALLBACK_STRATEGY.lower() in names:
        return FALLBACK_STRATEGY
    return next(s for s in STRATEGIES if s.lower() in names)


@dataclass(frozen=True)
class RiskPolicy:
    """Thresholds of the safety layer. Levels are names from ``labels.RISK_LEVELS``."""

    # Classifier thresholds on the probabilities of one seeker turn: P(IMMINENT) for IMMINENT,
    # P(HIGH)+P(IMMINENT) for HIGH, P(MODERATE and above) for MODERATE, P(LOW and above) for LOW.
    # The packaged classifier (MiniLM fine-tuned for the five levels, ``docs/models/risk.md``)
    # adds a level only past these: the 99.9th percentile of its scores on ESConv *validation*
    # seeker turns and conversation windows (the latest seeker turns read together,
    # services/risk/window.py) for IMMINENT and HIGH, the 99.5th for MODERATE and LOW,
    # as ``solace train risk`` prints them (``policy_thresholds`` in
    # services/risk/weights/metrics.json). Retune whenever the model changes. ``model_high``
    # is below its percentile (0.95 for this model): chosen on the dev side (``solace eval risk
    # --dev``), where 0.90 escalates the 10 of 2,956 ESConv valid turns in context that the
    # previous model did and recovers recall (held-back messages 0.891 -> 0.924).
    model_imminent: float = 0.57
    model_high: float = 0.90
    model_moderate: float = 0.89
    model_low: float = 0.99
    # P(HIGH+) that escalates a turn in which the rules already found a suicidal component
    # (their level MODERATE or above): an uncertain model beside a rule's signal fails toward
    # escalation. Chosen on the dev side only (ESConv valid in context and the held-back
    # hand-written rows; docs/models/risk.md); at model_high or above it changes nothing.
    model_high_corroborated: float = 0.80
    # The most a classifier may raise a turn in which a guard fired (see DEFAULT_GUARD_MODEL_CAPS).
    guard_model_caps: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_GUARD_MODEL_CAPS)
    )
    # The level an explicit first-person wish to kill oneself ("I want to kill myself", "kms",
    # "I'm suicidal") gets. C-SSRS triage would call it active ideation (MODERATE); a chat cannot
    # ask the follow-up questions, so the default escalates.
    explicit_desire_level: str = "HIGH"
    # How many of the latest seeker turns the classifier scores (one batched call); it also
    # reads them joined (services/risk/window.py) when one of them carries a rule's component
    # or level, or its own P(LOW+) reaches ``model_window_gate`` (0: always).
    model_window: int = 4
    model_window_gate: float = 0.5
    # A seeker turn longer than this many characters is also read as consecutive groups of
    # sentences of at most this length (services/risk/window.py ``segments``; 0: off): one
    # sentence of crisis in a long post is otherwise diluted by the rest. The turn's guards cap
    # each part's reading as they cap the turn's.
    model_segment_chars: int = 200
    # An earlier turn's level, minus this many steps, is a floor for the conversation: an
    # attempt disclosed two turns ago is not forgotten because the seeker then wrote "ok".
    earlier_turn_discount: int = 1
    # A level the classifier alone reached (no rule found as much in that turn) is lowered this
    # many steps more before it floors later requests: one misread turn ("thank you so much"
    # read as a farewell) then escalates that request, not the rest of the conversation, while
    # a model-only HIGH still keeps crisis resources (MODERATE) on the turns after it.
    model_carry_discount: int = 1
    # Rising trend: over the last ``trend_window`` seeker turns, a non-decreasing sequence with at
    # least ``trend_min_rises`` increases, or ``trend_accumulate`` turns at MODERATE or above,
    # raises the level one step, but never above ``trend_max_level``.
    trend_window: int = 4
    trend_min_rises: int = 2
    trend_accumulate: int = 3
    trend_max_level: str = "HIGH"
    # Crisis protocol (``decide``): at ``escalate_at`` and above no model text is sent; from
    # ``resources_at`` (or on a third-party concern) crisis resources are attached; from
    # ``resources_at`` up to below ``escalate_at`` replies are limited to ``supportive_strategies``.
    escalate_at: str = "HIGH"
    resources_at: str = "MODERATE"
    supportive_strategies: tuple[str, ...] = DEFAULT_SUPPORTIVE_STRATEGIES
    # Output screening: the risk-ignorance check runs when the seeker's level is at least this.
    risk_ignorance_from: str = "LOW"

    def __post_init__(self) -> None:
        for name in ("explicit_desire_level", "trend_max_level", "escalate_at", "resources_at"):
            _check_level(name, getattr(self, name))
        _check_level("risk_ignorance_from", self.risk_ignorance_from)
        for guard, level in self.guard_model_caps.items():
            _check_level(f"guard_model_caps.{guard}", level)
        for name in (
            "model_imminent",
            "model_high",
            "model_high_corroborated",
            "model_moderate",
            "model_low",
        ):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise InvalidArgument(
                    name, f"a probability threshold must be in (0, 1], got {value}"
                )
        if not 0.0 <= self.model_window_gate <= 1.0:
            raise InvalidArgument(
                "model_window_gate", f"must be in [0, 1] (0: always), got {self.model_window_gate}"
            )
        known = {s.lower() for s in STRATEGIES}
        for strategy in self.supportive_strategies:
            if strategy.lower() not in known:
                raise InvalidArgument("supportive_strategies", f"unknown strategy {strategy!r}")
        if not self.supportive_strategies:
            raise InvalidArgument("supportive_strategies", "must name at least one strategy")
        if _index(self.resources_at) > _index(self.escalate_at):
            raise InvalidArgument(
                "resources_at",
                f"{self.resources_at} is above escalate_at {self.escalate_at}; resources must "
                "start at or below the escalation threshold",
            )
        for name in ("model_window", "trend_window", "trend_min_rises", "trend_accumulate"):
            if getattr(self, name) < 1:
                raise InvalidArgument(name, "must be at least 1")
        for name in ("earlier_turn_discount", "model_carry_discount", "model_segment_chars"):
            if getattr(self, name) < 0:
                raise InvalidArgument(name, "must be at least 0")

    def decide(self, level: str, third_party_concern: bool = False) -> SafetyDecision:
        """The crisis protocol for a conversation screened at ``level`` (a ``RISK_LEVELS``
        name). The only place the crisis thresholds are compared.

        Escalate at ``escalate_at`` and above. Resources from ``resources_at``, or whenever the
        seeker voices concern for someone else (that does not raise the seeker's own level, and
        does not constrain the reply). Strategies are limited to ``supportive_strategies`` from
        ``resources_at`` up to below ``escalate_at``; an escalated turn gets no model text.
        """
        _check_level("level", level)
        at = _index(level)
        escalate = at >= _index(self.escalate_at)
        constrained = not escalate and at >= _index(self.resources_at)
        if constrained:
            supportive = {s.lower() for s in self.supportive_strategies}
            allowed = tuple(s for s in STRATEGIES if s.lower() in supportive)
        else:
            allowed = STRATEGIES
        return SafetyDecision(
            escalate=escalate,
            attach_resources=at >= _index(self.resources_at) or third_party_concern,
            allowed_strategies=allowed,
            constrained=constrained,
            escalate_at=self.escalate_at,
            resources_at=self.resources_at,
        )

    def with_overrides(self, **changes: Any) -> RiskPolicy:
        return dataclasses.replace(self, **changes)


def _index(level: str) -> int:
    return RISK_LEVELS.index(level)


def _check_level(name: str, level: str) -> None:
    if level not in RISK_LEVELS:
        raise InvalidArgument(name, f"unknown risk level {level!r}; use one of {RISK_LEVELS}")


def load_policy(path: str | None = None) -> RiskPolicy:
    """The embedded defaults, overridden by the YAML at ``path`` (``settings.safety_config``);
    no path or an empty one: the defaults."""
    if not path:
        return RiskPolicy()
    loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(loaded, dict):
        raise InvalidArgument(str(path), "the safety config must hold a mapping")
    known = {f.name for f in fields(RiskPolicy)}
    values: dict[str, Any] = {}
    for key, raw in loaded.items():
        if key not in known:
            raise InvalidArgument(f"{path}:{key}", "unknown safety setting")
        if key == "guard_model_caps":
            if not isinstance(raw, dict):
                raise InvalidArgument(f"{path}:{key}", "must be a mapping of guard to level")
            values[key] = {**DEFAULT_GUARD_MODEL_CAPS, **{str(k): str(v) for k, v in raw.items()}}
        elif key == "supportive_strategies":
            values[key] = tuple(str(s) for s in raw)
        else:
            default = getattr(RiskPolicy(), key)
            try:
                values[key] = type(default)(raw)
            except (TypeError, ValueError) as exc:
                raise InvalidArgument(f"{path}:{key}", f"cannot read {raw!r}") from exc
    return RiskPolicy(**values)
