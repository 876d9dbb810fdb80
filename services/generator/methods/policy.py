"""Request policies that sit in front of every method: the risk constraint on strategies and
the AUTO method choice. Both are deterministic and explain themselves in the trace.
"""

from __future__ import annotations

from services.common.domain import Conversation
from services.common.labels import STRATEGIES, strategy_index
from services.generator.lexicon import detect_value

QUESTION = strategy_index("Question")
RESTATEMENT = strategy_index("Restatement or Paraphrasing")
REFLECTION = strategy_index("Reflection of feelings")
AFFIRMATION = strategy_index("Affirmation and Reassurance")
SUGGESTIONS = strategy_index("Providing Suggestions")

# At MODERATE risk a reply listens and supports; it does not advise, inform, self-disclose or
# make small talk (the safety policy in ARCHITECTURE.md).
SUPPORTIVE_STRATEGIES: frozenset[int] = frozenset({QUESTION, RESTATEMENT, REFLECTION, AFFIRMATION})
CONSTRAINED_RISK = "MODERATE"


def constrain_for_risk(
    strategy: int, probabilities: tuple[float, ...] | None, risk: str | None
) -> tuple[int, tuple[float, ...] | None, str]:
    """The strategy and mixture allowed at ``risk``, and a trace note when they changed.

    At MODERATE a non-supportive strategy becomes Reflection of feelings, and the mixture keeps
    only supportive strategies (renormalised), so soft conditioning cannot reintroduce them.
    """
    if risk != CONSTRAINED_RISK:
        return strategy, probabilities, ""
    if probabilities is not None:
        kept = [p if i in SUPPORTIVE_STRATEGIES else 0.0 for i, p in enumerate(probabilities)]
        total = sum(kept)
        probabilities = tuple(p / total for p in kept) if total > 0 else None
    if strategy in SUPPORTIVE_STRATEGIES:
        return strategy, probabilities, ""
    note = (
        f"risk MODERATE allows only supportive strategies; {STRATEGIES[strategy]} "
        f"replaced by {STRATEGIES[REFLECTION]}"
    )
    return REFLECTION, probabilities, note


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
