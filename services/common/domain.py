"""Plain domain types shared by core logic (no gRPC, no protobuf): the conversation a request
is about and the limits every entry point enforces."""

from __future__ import annotations

from dataclasses import dataclass, field

SEEKER = "seeker"
SUPPORTER = "supporter"


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn: ``role`` is ``"seeker"`` or ``"supporter"``; ``strategy`` is the index in
    ``labels.STRATEGIES`` of the strategy a supporter turn used, when the caller knows it."""

    role: str
    text: str
    strategy: int | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    """The dialogue so far, oldest turn first; the last turn is the seeker's."""

    turns: tuple[Turn, ...]
    situation: str = ""
    locale: str = ""

    @property
    def last_seeker_text(self) -> str:
        for turn in reversed(self.turns):
            if turn.role == SEEKER:
                return turn.text
        return ""

    def seeker_turns(self) -> list[tuple[int, str]]:
        """(index, text) of every seeker turn, oldest first."""
        return [(i, t.text) for i, t in enumerate(self.turns) if t.role == SEEKER]


@dataclass(frozen=True, slots=True)
class Scored:
    """A classifier's answer: the winning label index and the probability of every label."""

    index: int
    probabilities: tuple[float, ...]
    model_name: str
    model_version: str
    extras: dict = field(default_factory=dict)
