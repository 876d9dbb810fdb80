"""EMPATHY_R1: a chain of empathy. Emotions, then their causes, then the seeker's intentions,
then the reply; strictly in order, each step seeing every conclusion before it.

The chain is returned as trace steps; the reply step is told to write only the reply, and
``clean_reply`` strips any reasoning an engine echoes anyway.
"""

from __future__ import annotations

from services.generator.engines.base import Prompt
from services.generator.methods.base import Method, StepRunner, first_label

CHAIN: tuple[tuple[str, str, str], ...] = (
    (
        "empathy.emotion",
        "emotion",
        "In one sentence, name the emotions the help-seeker feels in their last message.",
    ),
    (
        "empathy.cause",
        "cause",
        "In one sentence, say what causes these emotions, in the help-seeker's own terms.",
    ),
    (
        "empathy.intention",
        "intention",
        "In one sentence, say what the help-seeker wants from this conversation.",
    ),
)
REPLY_INSTRUCTION = (
    "Using the emotion, cause and intention above, write only the supporter's next reply; do "
    "not repeat the analysis."
)


class EmpathyR1Method(Method):
    name = "EMPATHY_R1"

    async def prepare(self, run: StepRunner) -> Prompt:
        context: dict[str, str] = {}
        for step, key, instruction in CHAIN:
            # Sequential on purpose: each link reads the ones before it.
            answer = await run.step(run.prompt(step, instruction, context))
            context[key] = first_label(answer)
        return run.prompt("empathy.reply", REPLY_INSTRUCTION, context, reply=True)
