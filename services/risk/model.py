"""Risk screening of a conversation: explicit rules combined with an optional classifier.

How the two combine, per seeker turn (the classifier scores the latest ``model_window`` turns in
one batched call):

- The rules' level is a floor: a classifier can never lower what a rule found.
- The classifier's level comes from ``RiskPolicy`` thresholds on its probabilities
  (P(IMMINENT), P(HIGH)+P(IMMINENT), ...). Where no guard fired, the turn takes the higher of the
  two, so a confident model escalates text the rules do not know (fail towards escalation).
- Where a guard explained rule evidence away in that turn (idiom, fiction, third party,
  negation, history), the classifier may raise the turn only up to that guard's cap
  (``RiskPolicy.guard_model_caps``): idioms, fiction and third-party talk are where a model
  over-fires, and the guard has read the sentence more precisely than the model.

Across turns: the last seeker turn weighs most; an earlier turn's level, discounted by
``earlier_turn_discount`` steps, is a floor; then a rising trend raises one step (``rules``).

Without a classifier, or when it raises ``Unavailable``, the rules alone decide and the verdict
says so (``source == "rules-only"``): screening stays available, so the router need not fall
back to a holding reply only because the model is not built.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from services.common.config import Settings
from services.common.domain import Conversation
from services.common.errors import Unavailable
from services.common.labels import RISK_LEVELS
from services.risk.rules import (
    RULES_VERSION,
    Reason,
    TurnAnalysis,
    analyse_turns,
    level_index,
    max_level,
    rising_trend,
    shift_level,
)
from services.safety.policy import RiskPolicy, SafetyDecision, load_policy

__all__ = ["Reason", "RiskClassifierLike", "RiskScreen", "RiskVerdict", "model_level"]

log = logging.getLogger(__name__)

RULES_MODEL_NAME = "solace-risk-rules"
RULES_ONLY = "rules-only"
RULES_AND_MODEL = "rules+model"


@runtime_checkable
class RiskClassifierLike(Protocol):
    """What the screen needs from a classifier: ``probabilities(texts)`` returns an array of
    shape [len(texts), 5] over ``labels.RISK_LEVELS``, rows summing to 1, and may raise
    ``Unavailable``. ``name``/``version`` attributes are optional and only reported."""

    def probabilities(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class RiskVerdict:
    """The screen's answer. ``probabilities`` are the classifier's for the last seeker turn; in
    rules-only mode they are one-hot on the rules' level of that turn."""

    level: str
    probabilities: tuple[float, ...]
    reasons: list[Reason]
    third_party_concern: bool
    model_name: str
    model_version: str
    source: str
    # The crisis protocol for this level, from the screen's policy (``RiskPolicy.decide``);
    # None only on a verdict built without a policy, which the router treats as unscreened.
    decision: SafetyDecision | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


def model_level(probs: Sequence[float], policy: RiskPolicy) -> tuple[str, str]:
    """The level one row of classifier probabilities supports, and the evidence in words."""
    p = np.asarray(probs, dtype=np.float64)
    imminent = float(p[4])
    high = float(p[3] + p[4])
    moderate = float(p[2:].sum())
    low = float(p[1:].sum())
    if imminent >= policy.model_imminent:
        return "IMMINENT", f"P(IMMINENT)={imminent:.2f}"
    if high >= policy.model_high:
        return "HIGH", f"P(HIGH+)={high:.2f}"
    if moderate >= policy.model_moderate:
        return "MODERATE", f"P(MODERATE+)={moderate:.2f}"
    if low >= policy.model_low:
        return "LOW", f"P(LOW+)={low:.2f}"
    return "NONE", f"P(LOW+)={low:.2f}"


class RiskScreen:
    """Screens conversations. ``classifier`` is anything with ``probabilities(texts)``; None
    means rules only (see ``load_classifier`` for the packaged ONNX one)."""

    def __init__(
        self,
        settings: Settings,
        classifier: RiskClassifierLike | None = None,
        policy: RiskPolicy | None = None,
    ) -> None:
        self._settings = settings
        self._classifier = classifier
        # The policy given, else the one the settings name (``safety_config``; empty: defaults).
        self.policy = policy or load_policy(settings.safety_config or None)

    @property
    def has_classifier(self) -> bool:
        return self._classifier is not None

    def screen(self, conversation: Conversation) -> RiskVerdict:
        policy = self.policy
        started = time.perf_counter()
        seeker = conversation.seeker_turns()
        analyses = analyse_turns(seeker, policy)
        rules_ms = (time.perf_counter() - started) * 1000.0
        if not analyses:
            return self._verdict("NONE", [], False, None, RULES_ONLY, {"rules": rules_ms})

        probs, source, model_ms = self._score([text for _, text in seeker[-policy.model_window :]])
        first_scored = len(analyses) - (0 if probs is None else len(probs))
        levels: list[str] = []
        reasons: list[Reason] = []
        for i, analysis in enumerate(analyses):
            row = None if probs is None or i < first_scored else probs[i - first_scored]
            level, turn_reasons = self._combine(analysis, row)
            levels.append(level)
            reasons.extend(turn_reasons)

        last = levels[-1]
        level = last
        earlier = max(levels[:-1], key=level_index, default="NONE")
        carried = shift_level(earlier, -policy.earlier_turn_discount)
        if level_index(carried) > level_index(level):
            level = carried
            reasons.append(
                Reason(
                    None,
                    "rule:earlier_turn",
                    -1,
                    carried,
                    f"an earlier seeker turn reached {earlier}, discounted",
                )
            )
        trend = rising_trend(levels, level, policy)
        if trend is not None:
            level = trend.level
            reasons.append(trend)

        # Third-party concern counts when voiced in the recent turns, not an hour ago.
        recent = analyses[-policy.trend_window :]
        third_party = any(a.third_party for a in recent)
        last_probs = None if probs is None else probs[-1]
        reasons.sort(key=lambda r: (-level_index(r.level), r.turn_index == -1))
        timings = {"rules": rules_ms, "model": model_ms}
        return self._verdict(
            level, reasons, third_party, last_probs, source, timings, rules_level=analyses[-1].level
        )

    def _score(self, texts: list[str]) -> tuple[np.ndarray | None, str, float]:
        if self._classifier is None:
            return None, RULES_ONLY, 0.0
        started = time.perf_counter()
        try:
            probs = np.asarray(self._classifier.probabilities(texts), dtype=np.float64)
        except Unavailable:
            # The rules still screen; the verdict's source tells the operator the model was out.
            log.warning("risk classifier unavailable; screening with rules only")
            return None, RULES_ONLY, (time.perf_counter() - started) * 1000.0
        if probs.shape != (len(texts), len(RISK_LEVELS)):
            raise Unavailable(f"risk classifier returned shape {probs.shape}")
        return probs, RULES_AND_MODEL, (time.perf_counter() - started) * 1000.0

    def _combine(self, analysis: TurnAnalysis, row: np.ndarray | None) -> tuple[str, list[Reason]]:
        reasons = list(analysis.reasons)
        level = analysis.level
        if row is None:
            return level, reasons
        m_level, evidence = model_level(row, self.policy)
        if level_index(m_level) == 0:
            return level, reasons
        caps = [self.policy.guard_model_caps.get(g, "IMMINENT") for g in analysis.guards]
        effective = m_level
        detail = evidence
        if caps:
            cap = max(caps, key=level_index)
            if level_index(m_level) > level_index(cap):
                effective = cap
                detail = (
                    f"{evidence}; capped at {cap} by guard(s) {','.join(sorted(analysis.guards))}"
                )
        reasons.append(
            Reason(None, f"model:{self.model_name}", analysis.turn_index, effective, detail)
        )
        return max_level(level, effective), reasons

    @property
    def model_name(self) -> str:
        if self._classifier is None:
            return RULES_MODEL_NAME
        return str(getattr(self._classifier, "name", "risk-classifier"))

    @property
    def model_version(self) -> str:
        if self._classifier is None:
            return RULES_VERSION
        return f"{getattr(self._classifier, 'version', 'unknown')}+{RULES_VERSION}"

    def _verdict(
        self,
        level: str,
        reasons: list[Reason],
        third_party: bool,
        probs: np.ndarray | None,
        source: str,
        timings: dict[str, float],
        rules_level: str = "NONE",
    ) -> RiskVerdict:
        if probs is None:
            one_hot = [0.0] * len(RISK_LEVELS)
            one_hot[level_index(rules_level)] = 1.0
            probabilities = tuple(one_hot)
            name, version = RULES_MODEL_NAME, RULES_VERSION
        else:
            probabilities = tuple(float(x) for x in probs)
            name, version = self.model_name, self.model_version
        if source == RULES_ONLY and self._classifier is not None:
            reasons = [*reasons, Reason(None, RULES_ONLY, -1, "NONE", "classifier unavailable")]
        elif source == RULES_ONLY:
            reasons = [*reasons, Reason(None, RULES_ONLY, -1, "NONE", "no classifier configured")]
        return RiskVerdict(
            level=level,
            probabilities=probabilities,
            reasons=reasons,
            third_party_concern=third_party,
            model_name=name,
            model_version=version,
            source=source,
            decision=self.policy.decide(level, third_party),
            timings_ms=timings,
        )


def load_classifier(settings: Settings) -> RiskClassifierLike | None:
    """The packaged ONNX classifier, or None when it is not built (the screen then uses rules)."""
    try:
        from services.risk.classifier import RiskClassifier
    except ImportError:
        return None
    try:
        return RiskClassifier(settings)
    except Unavailable:
        log.warning("risk classifier not built; screening with rules only")
        return None
