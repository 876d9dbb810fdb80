"""Request policies that sit in front of every method: the safety decision's constraint on
strategies (``services.safety.policy``) and the AUTO method choice. Both are deterministic and
explain themselves in the trace.
"""

from __future__ import annotations

from services.common.domain import Conversation
from services.common.labels import STRATEGIES, strategy_index
from services.generator.lexicon import detect_value
from services.safety.policy import SafetyDecision, allowed_strategy

REFLECTION = strategy_index("Reflection of feelings")
AFFIRMATION = strategy_index("Affirmation and Reassurance")
SUGGESTIONS = strategy_index("Providing Suggestions")


def constrain_to_decision(
    strategy: int, probabilities: tuple[float, ...] | None, decision: SafetyDecision, risk: str
) -> tuple[int, tuple[float, ...] | None, str]:
    """The strategy and mixture the safety decision allows, and a trace note when they changed.

    A strategy outside ``decision.allowed_strategies`` becomes Reflection of feelings (or the
    first allowed one; ``policy.allowed_strategy``), and the mixture keeps only allowed
    strategies (renormalised), so soft conditioning cannot reintroduce the others. ``risk`` is
    only for the note.
    """
    if not decision.constrained:
        return strategy, probabilities, ""
    allowed = {strategy_index(s) for s in decision.allowed_strategies}
    if probabilities is not None:
        kept = [p if i in allowed else 0.0 for i, p in enumerate(probabilities)]
        total = sum(kept)
        probabilities = tuple(p / total for p in kept) if total > 0 else None
    if strategy in allowed:
        return strategy, probabilities, ""
    replacement = strategy_index(
        allowed_strategy(STRATEGIES[strategy], decision.allowed_strategies)
    )
    note = (
        f"risk {risk or 'unknown'}: the safety policy allows only "
        f"{', '.join(decision.allowed_strategies)}; {STRATEGIES[strategy]} "
        f"replaced by {STRATEGIES[replacement]}"
    )
    return replacement, probabilities, note


def choose_method(conversation: Conversation, strategy: int) -> tuple[str, str]:
    """The AUTO policy: (method name, why). First rule that applies wins:

    1. a situation is given → KEMI (it is the retrieval query knowledge needs);
    2. Affirmation and Reassurance and the seeker expresses a value → VALUE_REINFORCEMENT;
    3. Reflection of feelings or Affirmation and Reassurance → EMPATHY_R1 (the chain names
       the emotion and its cause before the reply);
    4. Providing Suggestions → MADP (a plan grounded in situation, thought and behaviour);
    5. otherwise → DIRECT.
    """
    if conversation.situation.strip():
        return "KEMI", "a situation was given, so knowledge can be retrieved for it"
    if strategy == AFFIRMATION and any(
        detect_value(text) for _, text in conversation.seeker_turns()
    ):
        return "VALUE_REINFORCEMENT", "the seeker expresses a value an affirmation can reinforce"
    if strategy in (REFLECTION, AFFIRMATION):
        return "EMPATHY_R1", f"{STRATEGIES[strategy]} builds on the chain of empathy"
    if strategy == SUGGESTIONS:
        return "MADP", "suggestions are grounded in a CBT plan"
    return "DIRECT", f"{STRATEGIES[strategy]} needs no planning"
