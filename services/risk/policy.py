"""The safety policy's numbers: every threshold the risk screen, the crisis protocol and the output
screen decide with, in one frozen dataclass with embedded defaults.

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
    "third_party": "LOW",
    "negation": "MODERATE",
    "history": "MODERATE",
}


@dataclass(frozen=True)
class RiskPolicy:
    """Thresholds of the safety layer. Levels are names from ``labels.RISK_LEVELS``."""

    # Classifier thresholds on the probabilities of one seeker turn: P(IMMINENT) for IMMINENT,
    # P(HIGH)+P(IMMINENT) for HIGH, P(MODERATE and above) for MODERATE, P(LOW and above) for LOW.
    # The packaged classifier (trained on long Reddit posts with user-level labels) spreads its
    # probability thinly over short chat turns, so these sit at the 99.5th percentile of its
    # scores on ESConv *validation* seeker turns: it only adds a level where it is far outside
    # ordinary distress. Retune with ``solace eval risk`` whenever the model changes.
    model_imminent: float = 0.45
    model_high: float = 0.65
    model_moderate: float = 0.79
    model_low: float = 0.92
    # The most a classifier may raise a turn in which a guard fired (see DEFAULT_GUARD_MODEL_CAPS).
    guard_model_caps: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_GUARD_MODEL_CAPS)
    )
    # The level an explicit first-person wish to kill oneself ("I want to kill myself", "kms",
    # "I'm suicidal") gets. C-SSRS triage would call it active ideation (MODERATE); a chat cannot
    # ask the follow-up questions, so the default escalates.
    explicit_desire_level: str = "HIGH"
    # How many of the latest seeker turns the classifier scores (one batched call).
    model_window: int = 4
    # An earlier turn's level, minus this many steps, is a floor for the conversation: an
    # attempt disclosed two turns ago is not forgotten because the seeker then wrote "ok".
    earlier_turn_discount: int = 1
    # Rising trend: over the last ``trend_window`` seeker turns, a non-decreasing sequence with at
    # least ``trend_min_rises`` increases, or ``trend_accumulate`` turns at MODERATE or above,
    # raises the level one step, but never above ``trend_max_level``.
    trend_window: int = 4
    trend_min_rises: int = 2
    trend_accumulate: int = 3
    trend_max_level: str = "HIGH"
    # Crisis protocol: at ``escalate_at`` no model text is sent; from ``resources_at`` crisis
    # resources are attached and strategies are limited to ``supportive_strategies``.
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
        for name in ("model_imminent", "model_high", "model_moderate", "model_low"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise InvalidArgument(
                    name, f"a probability threshold must be in (0, 1], got {value}"
                )
        known = {s.lower() for s in STRATEGIES}
        for strategy in self.supportive_strategies:
            if strategy.lower() not in known:
                raise InvalidArgument("supportive_strategies", f"unknown strategy {strategy!r}")
        for name in ("model_window", "trend_window", "trend_min_rises", "trend_accumulate"):
            if getattr(self, name) < 1:
                raise InvalidArgument(name, "must be at least 1")

    def with_overrides(self, **changes: Any) -> RiskPolicy:
        return dataclasses.replace(self, **changes)


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
