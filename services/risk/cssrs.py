"""How C-SSRS components combine into a risk level: the screener's logic, in one place.

The rules (``services.risk.rules``) find components; this module decides what they mean
together. The same function reads one sentence, one turn or the whole conversation, so
ideation in turn 1 and means in turn 3 combine exactly as if they had been one sentence.

- an attempt under way or just done, intent with a time, a farewell beside any suicidal
  component, or ideation with a method/means/plan/preparation *and* a time: IMMINENT;
- any wish to be dead or ideation with a method, means, opportunity, plan, a time or
  preparation; intent; a plan; a method in a first-person frame; strong preparation (a note,
  stockpiled medication); command hallucinations; current self-injury; a strong farewell; a
  decision plus a time; not being safe: HIGH;
- explicit suicidal desire or thoughts alone: the policy's ``explicit_desire_level``;
- a wish to be dead (active or passive), settled talk of one's own death, weak preparation or
  farewell words alone: MODERATE (resources attached);
- distress, a bare mention, means or a resolve alone: LOW.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.common.labels import RISK_LEVELS
from services.safety.policy import RiskPolicy

# Components that say the seeker wants to be dead or to act: what turns a method into a crisis.
IDEATION_KINDS = frozenset({"WISH_PASSIVE", "WISH_ACTIVE", "DEATH_REF", "IDEATION", "COMMAND"})
# Components that make ideation specific (C-SSRS 3-6).
SPECIFIC_KINDS = frozenset(
    {"METHOD", "MEANS", "OPPORTUNITY", "PLAN", "TIMING", "PREPARATION", "RESOLVE", "INTENT"}
)
CONCRETE_KINDS = frozenset({"METHOD", "MEANS", "OPPORTUNITY", "PLAN", "PREPARATION"})


@dataclass(frozen=True, slots=True)
class Component:
    """One component found in the seeker's words. ``state`` is "current", "past" (past tense,
    no history marker) or "history" (past with a history or recovery marker)."""

    kind: str
    rule_id: str
    turn_index: int
    sentence_index: int
    strong: bool = False
    state: str = "current"


def level_index(level: str) -> int:
    return RISK_LEVELS.index(level)


def max_level(*levels: str) -> str:
    return RISK_LEVELS[max((level_index(x) for x in levels), default=0)]


def min_level(*levels: str) -> str:
    return RISK_LEVELS[min((level_index(x) for x in levels), default=0)]


def shift_level(level: str, steps: int, ceiling: str = "IMMINENT") -> str:
    index = min(max(level_index(level) + steps, 0), level_index(ceiling))
    return RISK_LEVELS[index]


def alone_level(component: Component, policy: RiskPolicy) -> str:
    """The level one current component supports by itself."""
    kind = component.kind
    if kind == "ATTEMPT":
        # In progress or just done (strong); disclosed as an act without a history marker.
        return "IMMINENT" if component.strong else "HIGH"
    if kind in {"INTENT", "PLAN", "METHOD", "COMMAND", "SELF_HARM", "UNSAFE"}:
        return "HIGH"
    if kind == "IDEATION":
        return policy.explicit_desire_level
    if kind in {"PREPARATION", "FAREWELL", "MEANS"} and component.strong:
        return "HIGH"
    if kind in {"PREPARATION", "FAREWELL"}:
        return "MODERATE"
    if kind in {"WISH_PASSIVE", "WISH_ACTIVE", "DEATH_REF"}:
        return "MODERATE"
    if kind in {"DISTRESS", "MENTION", "MEANS", "RESOLVE", "OPPORTUNITY"}:
        return "LOW"
    return "NONE"  # TIMING alone


def combine(components: Iterable[Component], policy: RiskPolicy) -> tuple[str, str]:
    """The level the current components support together, and the C-SSRS rule that gave it
    (empty when no combination raised the strongest single component)."""
    current = [c for c in components if c.state == "current"]
    if not current:
        return "NONE", ""
    kinds = {c.kind for c in current}
    alone = max_level(*(alone_level(c, policy) for c in current))
    ideation = bool(kinds & IDEATION_KINDS)
    # A passive wish with a time ("if I didn't wake up tomorrow") names no time to act.
    active = bool(kinds & (IDEATION_KINDS - {"WISH_PASSIVE"}))
    timed = "TIMING" in kinds
    concrete = bool(kinds & CONCRETE_KINDS)
    suicidal = ideation or bool(kinds & {"INTENT", "METHOD", "PLAN", "RESOLVE"})

    level, why = "NONE", ""
    if "INTENT" in kinds and (timed or "MEANS" in kinds):
        level, why = "IMMINENT", "intent with a time named or means at hand"
    elif "FAREWELL" in kinds and (suicidal or concrete):
        level, why = "IMMINENT", "a farewell beside suicidal ideation or preparation"
    elif active and timed and concrete:
        level, why = "IMMINENT", "ideation with a method, means or preparation and a time"
    elif "RESOLVE" in kinds and ideation and timed:
        level, why = "IMMINENT", "a resolve to act beside ideation, with a time"
    elif ideation and kinds & (SPECIFIC_KINDS if active else SPECIFIC_KINDS - {"TIMING"}):
        level, why = "HIGH", "ideation with a method, means, plan, preparation or time"
    elif any(c.kind == "RESOLVE" and c.strong for c in current) and (timed or concrete):
        level, why = "HIGH", "a decision with a time or means"
    elif "RESOLVE" in kinds and kinds & {"PREPARATION", "PLAN"}:
        level, why = "HIGH", "a resolve to act beside preparation or a plan"
    elif "RESOLVE" in kinds and timed and concrete:
        level, why = "HIGH", "a resolve to act with a time and means or preparation"
    elif "PREPARATION" in kinds and "OPPORTUNITY" in kinds:
        level, why = "HIGH", "preparation with an opportunity"
    elif sum(1 for c in current if c.kind == "PREPARATION") >= 2:
        # One act (a will, a pet rehomed) has everyday readings; several together are the
        # screener's preparatory behaviour.
        level, why = "HIGH", "several preparatory acts together"
    if level_index(level) < level_index(alone) or not why:
        return alone, ""
    return level, why
