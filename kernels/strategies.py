"""The 8 ESConv support strategies in the order used by the whole project.

Index 0 is "Question" ... index 7 is "Others", the order of ESConv's ``strategy.json``. Every
[.., S] tensor in this room (strategy probabilities, bias-table rows) follows this order.
"""

from __future__ import annotations

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
NUM_STRATEGIES = len(STRATEGIES)

_BY_NAME = {name.lower(): i for i, name in enumerate(STRATEGIES)}


def strategy_index(strategy: str | int) -> int:
    """Index of a strategy given its ESConv name (case-insensitive, brackets allowed) or index."""
    if isinstance(strategy, bool):
        raise ValueError(f"not a strategy: {strategy!r}")
    if isinstance(strategy, int):
        if 0 <= strategy < NUM_STRATEGIES:
            return strategy
        raise ValueError(f"strategy index {strategy} is outside [0, {NUM_STRATEGIES})")
    key = str(strategy).strip().strip("[]").strip().lower()
    if key not in _BY_NAME:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {list(STRATEGIES)}")
    return _BY_NAME[key]
