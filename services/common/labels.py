"""The label sets Solace speaks in, in one canonical order shared by models, kernels and protos.

Index ``i`` of each tuple is the model's output column ``i`` and the proto enum value ``i + 1``
(every proto enum reserves 0 for ``*_UNSPECIFIED``).
"""

from __future__ import annotations

# ESConv strategy names exactly as they appear in the dataset's "strategy" field.
STRATEGIES: tuple[str, ...] = (
    "Question",
    "Restatement or Paraphrasing",
    "Reflection of feelings",
    "Self-disclosure",
    "Affirmation and Reassurance",
    "Providing Suggestions",
    "Information",
    "Others",
)
STRATEGY_ENUM_NAMES: tuple[str, ...] = (
    "STRATEGY_QUESTION",
    "STRATEGY_RESTATEMENT_OR_PARAPHRASING",
    "STRATEGY_REFLECTION_OF_FEELINGS",
    "STRATEGY_SELF_DISCLOSURE",
    "STRATEGY_AFFIRMATION_AND_REASSURANCE",
    "STRATEGY_PROVIDING_SUGGESTIONS",
    "STRATEGY_INFORMATION",
    "STRATEGY_OTHERS",
)

# PsyDefConv labels 0..8 (DMRS levels); index == PsyDefConv integer label.
DEFENSE_LEVELS: tuple[str, ...] = (
    "No Defense",
    "Action",
    "Major Image-Distorting",
    "Disavowal",
    "Minor Image-Distorting",
    "Neurotic",
    "Obsessional",
    "High-Adaptive",
    "Needs More Information",
)
DEFENSE_ENUM_NAMES: tuple[str, ...] = (
    "DEFENSE_LEVEL_NO_DEFENSE",
    "DEFENSE_LEVEL_ACTION",
    "DEFENSE_LEVEL_MAJOR_IMAGE_DISTORTING",
    "DEFENSE_LEVEL_DISAVOWAL",
    "DEFENSE_LEVEL_MINOR_IMAGE_DISTORTING",
    "DEFENSE_LEVEL_NEUROTIC",
    "DEFENSE_LEVEL_OBSESSIONAL",
    "DEFENSE_LEVEL_HIGH_ADAPTIVE",
    "DEFENSE_LEVEL_NEEDS_MORE_INFORMATION",
)

# Risk levels in increasing severity.
RISK_LEVELS: tuple[str, ...] = ("NONE", "LOW", "MODERATE", "HIGH", "IMMINENT")
RISK_ENUM_NAMES: tuple[str, ...] = tuple(f"RISK_LEVEL_{name}" for name in RISK_LEVELS)

METHODS: tuple[str, ...] = (
    "AUTO",
    "DIRECT",
    "MADP",
    "EMPATHY_R1",
    "KEMI",
    "VALUE_REINFORCEMENT",
)
METHOD_ENUM_NAMES: tuple[str, ...] = tuple(f"GENERATION_METHOD_{name}" for name in METHODS)


def strategy_index(name: str) -> int:
    """Index of an ESConv strategy name (case-insensitive), raising KeyError when unknown."""
    lowered = name.strip().lower()
    for i, candidate in enumerate(STRATEGIES):
        if candidate.lower() == lowered:
            return i
    raise KeyError(name)


def risk_at_least(level: str, floor: str) -> bool:
    """True when ``level`` is as severe as ``floor`` or more."""
    return RISK_LEVELS.index(level) >= RISK_LEVELS.index(floor)
