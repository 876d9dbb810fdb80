"""Risk screening of a conversation: the compositional rules combined with a learned classifier.

How the two combine, per seeker turn (the classifier scores the latest ``model_window`` turns in
one batched call, with the parts of a long turn, ``window.segments``; and those turns read
together, ``window.window_text``, as one more row):

- The rules' level is a floor: a classifier can never lower what a rule found.
- The classifier's level comes from ``RiskPolicy`` thresholds on its cumulative calibrated
  probabilities (P(IMMINENT), P(HIGH)+P(IMMINENT), ...), set at a fixed false-escalation budget
  on ESConv validation turns. Where no guard fired, the turn takes the higher of the two, so a
  confident model escalates text the rules do not list.
- Where a guard explained rule evidence away in that turn (idiom, fiction, professional, third
  party, negation, history), the classifier may raise the turn only up to that guard's cap
  (``RiskPolicy.guard_model_caps``): the guard read the sentence more precisely than the model.

Across turns (``rules.conversation_level``): the components of every seeker turn combine again
(ideation in turn 1 + means in turn 3 is HIGH), an earlier turn's level, discounted by
``earlier_turn_discount`` steps, is a floor, and a rising trend raises one step. What the
classifier alone added to an earlier turn is discounted ``model_carry_discount`` steps more
(``carried_level``): a misread "thank you so much" escalates one request, not the rest. The
classifier's reading of the latest seeker turns together raises the conversation like a turn's
reading (the latest turn's guards cap it): a crisis told in parts escalates without a rule that
lists how those parts combine.

The returned distribution agrees with the level (``final_distribution``): the classifier's
calibrated probabilities for the last seeker turn, as they are where their most likely class is
the level; otherwise with the mass below the level folded onto it (a rule's floor or a
threshold raised the level) or the mass above it (a guard capped the model). The level is then
the most likely class. Rules only: one-hot on the level.

Without a classifier, or when it raises ``Unavailable``, the rules alone decide and the verdict
says so (``source == "rules-only"``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from services.common.config import Settings
from services.common.domain import Conversation
from services.common.errors import Unavailable
from services.common.labels import RISK_LEVELS
from services.risk.cssrs import shift_level
from services.risk.rules import (
    RULES_VERSION,
    Reason,
    TurnAnalysis,
    TurnMemo,
    analyse_turns,
    conversation_level,
    level_index,
    max_level,
)
from services.risk.spelling import Speller
from services.risk.window import segments, window_text
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


def model_level(
    probs: Sequence[float], policy: RiskPolicy, corroborated: bool = False
) -> tuple[str, str]:
    """The level one row of classifier probabilities supports, and the evidence in words: the
    highest level whose cumulative probability passes the policy's threshold. ``corroborated``:
    the rules found a suicidal component in the same text, so HIGH needs only
    ``model_high_corroborated``."""
    p = np.asarray(probs, dtype=np.float64)
    imminent = float(p[4])
    high = float(p[3] + p[4])
    moderate = float(p[2:].sum())
    low = float(p[1:].sum())
    if imminent >= policy.model_imminent:
        return "IMMINENT", f"P(IMMINENT)={imminent:.2f}"
    if high >= policy.model_high:
        return "HIGH", f"P(HIGH+)={high:.2f}"
    if corroborated and high >= policy.model_high_corroborated:
        return "HIGH", f"P(HIGH+)={high:.2f} beside the rules' signal"
    if moderate >= policy.model_moderate:
        return "MODERATE", f"P(MODERATE+)={moderate:.2f}"
    if low >= policy.model_low:
        return "LOW", f"P(LOW+)={low:.2f}"
    return "NONE", f"P(LOW+)={low:.2f}"


def carried_level(rules_level: str, level: str, policy: RiskPolicy) -> str:
    """What a turn screened at ``level`` (the rules alone: ``rules_level``) floors later requests
    with before ``earlier_turn_discount``: the part the classifier alone added is lowered
    ``model_carry_discount`` steps more, never below what the rules found."""
    if level_index(level) <= level_index(rules_level):
        return level
    return max_level(rules_level, shift_level(level, -policy.model_carry_discount))


def final_distribution(probs: Sequence[float], level: str) -> tuple[float, ...]:
    """The calibrated probabilities made to agree with ``level``. Where the model's most likely
    class is the level, they are returned as they are. Where it is below (a rule's floor or a
    threshold raised the level), the mass of every class below the level is folded onto it;
    where it is above (a guard capped the model), the mass above the level is folded onto it."""
    q = np.asarray(probs, dtype=np.float64).copy()
    q = q / q.sum()
    k = level_index(level)
    top = int(np.argmax(q))
    if top < k:
        q[k] += q[:k].sum()
        q[:k] = 0.0
    elif top > k:
        q[k] += q[k + 1 :].sum()
        q[k + 1 :] = 0.0
    return tuple(float(x) for x in q)


class RiskScreen:
    """Screens conversations. ``classifier`` is anything with ``probabilities(texts)``; None
    means rules only (see ``load_classifier`` for the packaged ONNX one)."""

    def __init__(
        self,
        settings: Settings,
        classifier: RiskClassifierLike | None = None,
        policy: RiskPolicy | None = None,
        memo: bool = True,
    ) -> None:
        self._settings = settings
        self._classifier = classifier
        # The policy given, else the one the settings name (``safety_config``; empty: defaults).
        self.policy = policy or load_policy(settings.safety_config or None)
        # Earlier turns of a resent conversation are read once (``memo=False``: every request
        # reads every turn, as the evaluation's cold latency row does).
        self._memo = TurnMemo() if memo else None
        # Typo tolerance knows real words from the built encoder's vocabulary; without the
        # encoder the rules read the text as written.
        self._speller = Speller.from_tokenizer(
            Path(settings.models_dir) / "encoder" / "tokenizer.json"
        )

    @property
    def has_classifier(self) -> bool:
        return self._classifier is not None

    def screen(self, conversation: Conversation) -> RiskVerdict:
        policy = self.policy
        started = time.perf_counter()
        analyses = analyse_turns(conversation, policy, self._memo, self._speller)
        rules_ms = (time.perf_counter() - started) * 1000.0
        if not analyses:
            return self._verdict("NONE", [], False, None, RULES_ONLY, {"rules": rules_ms})

        recent = analyses[-policy.model_window :]
        texts = [conversation.turns[a.turn_index].text for a in recent]
        # A long turn's parts go in the same batched call as the turns (``window.segments``).
        parts = [segments(text, policy.model_segment_chars) for text in texts]
        scored, source, model_ms = self._score([*texts, *(p for ps in parts for p in ps)])
        probs = None if scored is None else scored[: len(texts)]
        turn_rows = self._turn_rows(parts, scored)
        # The latest seeker turns read together, when any of them carries a signal (a rule's
        # component or level, or the model's P(LOW+) past ``model_window_gate``): the joined
        # text is new on every request, so reading it for ordinary chat would cost an encoder
        # run per request for nothing.
        window_probs = None
        window = window_text(texts) if probs is not None else None
        if window is not None and self._window_signal(recent, probs):
            extra, _, extra_ms = self._score([window])
            model_ms += extra_ms
            window_probs = None if extra is None else extra[0]
        first_scored = len(analyses) - (0 if probs is None else len(probs))
        levels: list[str] = []
        carried: list[str] = []
        reasons: list[Reason] = []
        for i, analysis in enumerate(analyses):
            rows = turn_rows[i - first_scored] if i >= first_scored else []
            level, turn_reasons = self._combine(analysis, rows)
            levels.append(level)
            carried.append(carried_level(analysis.level, level, policy))
            reasons.extend(turn_reasons)
        level, conversation_reasons = conversation_level(analyses, policy, levels, carried)
        reasons.extend(conversation_reasons)
        if window_probs is not None:
            read, why = self._model_reason(analyses[-1], window_probs, "conversation")
            if why is not None and level_index(read) > level_index(level):
                level = read
                reasons.append(why)

        # Third-party concern counts when voiced in the recent turns, not an hour ago.
        recent = analyses[-policy.trend_window :]
        third_party = any(a.third_party for a in recent)
        last_probs = None if probs is None else probs[-1]
        reasons.sort(key=lambda r: (-level_index(r.level), r.turn_index == -1))
        timings = {"rules": rules_ms, "model": model_ms}
        return self._verdict(level, reasons, third_party, last_probs, source, timings)

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

    @staticmethod
    def _turn_rows(parts: list[list[str]], scored: np.ndarray | None) -> list[list[np.ndarray]]:
        """Per scored turn, its classifier rows: the turn's own, then its parts' (which follow
        all the turns' rows in the batch); none without a classifier."""
        if scored is None:
            return [[] for _ in parts]
        out: list[list[np.ndarray]] = []
        at = len(parts)
        for i, turn_parts in enumerate(parts):
            out.append([scored[i], *scored[at : at + len(turn_parts)]])
            at += len(turn_parts)
        return out

    def _window_signal(self, recent: Sequence[TurnAnalysis], probs: np.ndarray) -> bool:
        gate = self.policy.model_window_gate
        if any(a.components or level_index(a.level) > 0 for a in recent):
            return True
        return bool((probs[:, 1:].sum(axis=1) >= gate).any())

    def _combine(
        self, analysis: TurnAnalysis, rows: Sequence[np.ndarray]
    ) -> tuple[str, list[Reason]]:
        """The turn's level: the rules' floor raised by the classifier's reading of the turn
        (``rows[0]``) or, where it reads higher, of one of the turn's parts (``rows[1:]``)."""
        reasons = list(analysis.reasons)
        level = analysis.level
        best: tuple[str, Reason | None] = ("NONE", None)
        for k, row in enumerate(rows):
            read = self._model_reason(analysis, row, "turn" if k == 0 else "part")
            if read[1] is not None and level_index(read[0]) > level_index(best[0]):
                best = read
        effective, why = best
        if why is None:
            return level, reasons
        reasons.append(why)
        return max_level(level, effective), reasons

    def _model_reason(
        self, analysis: TurnAnalysis, row: np.ndarray, read: str
    ) -> tuple[str, Reason | None]:
        """The level one classifier row supports, capped by the guards that fired in
        ``analysis`` (the turn it was read for, or the latest turn for the conversation row),
        and its reason; (NONE, None) when the model sees nothing."""
        corroborated = level_index(analysis.level) >= level_index("MODERATE")
        m_level, evidence = model_level(row, self.policy, corroborated)
        if level_index(m_level) == 0:
            return "NONE", None
        caps = [self.policy.guard_model_caps.get(g, "IMMINENT") for g in analysis.guards]
        effective = m_level
        detail = {
            "turn": evidence,
            "part": f"{evidence}, a part of the turn read alone",
            "conversation": f"{evidence}, latest seeker turns read together",
        }[read]
        if caps:
            cap = max(caps, key=level_index)
            if level_index(m_level) > level_index(cap):
                effective = cap
                guards = ",".join(sorted(analysis.guards))
                detail = f"{detail}; capped at {cap} by guard(s) {guards}"
        rule = f"model:{self.model_name}" if read == "turn" else f"model:{self.model_name}:{read}"
        return effective, Reason(None, rule, analysis.turn_index, effective, detail)

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
    ) -> RiskVerdict:
        if probs is None:
            one_hot = [0.0] * len(RISK_LEVELS)
            one_hot[level_index(level)] = 1.0
            probabilities = tuple(one_hot)
            name, version = RULES_MODEL_NAME, RULES_VERSION
        else:
            probabilities = final_distribution(probs, level)
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
