"""KEMI: knowledge-enhanced mixed initiative.

Retrieve the knowledge most relevant to the seeker's situation, decide who takes the initiative
(ask / suggest / inform, or follow the seeker's lead), then write the reply conditioned on both
and on the strategy. Retrieval goes through a ``KnowledgeRetriever``: encoder embeddings over
the HEAL graph and the built-in knowledge (``retrieval.EncoderRetriever``) when that index is
built, keyword overlap over the built-in knowledge otherwise.
"""

from __future__ import annotations

import re
import time

from services.generator.engines.base import Prompt
from services.generator.knowledge import GENERAL, KeywordRetriever, KnowledgeRetriever
from services.generator.methods.base import Method, StepRunner

INITIATIVES: tuple[str, ...] = ("ask", "suggest", "inform", "follow")
INITIATIVE_INSTRUCTION = (
    "Decide who should lead the next turn. Answer with one word, ask, suggest, inform or "
    "follow, then a colon and a short reason."
)
REPLY_INSTRUCTION = (
    "Write the supporter's next reply. Take the decided initiative and use the knowledge where "
    "it fits the strategy."
)
_INITIATIVE = re.compile(r"\b(" + "|".join(INITIATIVES) + r")\b", re.IGNORECASE)


# The initiative a strategy implies, for an answer that names none (a 135M model often does
# not): the step then takes its input from the strategy, the trace says so, and the reply is
# still the model's.
_STRATEGY_INITIATIVE: dict[str, str] = {
    "Question": "ask",
    "Providing Suggestions": "suggest",
    "Information": "inform",
}


def parse_initiative(answer: str) -> str | None:
    """The initiative an answer names first, or None when it names none."""
    match = _INITIATIVE.search(answer)
    return match.group(1).lower() if match else None


def initiative_of_strategy(strategy_name: str) -> str:
    return _STRATEGY_INITIATIVE.get(strategy_name, "follow")


class KemiMethod(Method):
    name = "KEMI"

    def __init__(self, retriever: KnowledgeRetriever | None = None) -> None:
        self.retriever: KnowledgeRetriever = retriever or KeywordRetriever()

    async def prepare(self, run: StepRunner) -> Prompt:
        conversation = run.task.conversation
        seeker = [text for _, text in reversed(conversation.seeker_turns())]
        started = time.perf_counter()
        # The situation and the newest turn first; the whole history only if they match nothing.
        found = await self.retriever.retrieve(" ".join([conversation.situation, *seeker[:1]]))
        if not found:
            found = await self.retriever.retrieve(" ".join([conversation.situation, *seeker]))
        run.time("kemi.retrieve", started)
        if found:
            entry = found[0].entry
            run.note(
                "kemi.retrieve",
                f"{entry.stressor} via {self.retriever.name} "
                f"(matched {', '.join(found[0].matched)}): {entry.suggestion}",
            )
        else:
            entry = GENERAL
            run.note("kemi.retrieve", "no specific knowledge matched; using general support")
        knowledge = {"topic": entry.topic, "knowledge": entry.suggestion, "fact": entry.information}
        # HEAL entries (retrieval.IndexedEntry) also say what seekers in this situation tend to
        # ask for and feel; LLM engines read these from the prompt's context.
        expectations = getattr(entry, "expectations", ())
        affects = getattr(entry, "affects", ())
        if expectations:
            knowledge["seekers often ask"] = expectations[0]
        if affects:
            knowledge["seekers often feel"] = ", ".join(affects[:2])
        answer = await run.step(
            run.prompt(
                "kemi.initiative",
                INITIATIVE_INSTRUCTION,
                {"strategy": run.task.strategy_name, **knowledge},
            )
        )
        initiative = parse_initiative(answer)
        if initiative is None:
            initiative = initiative_of_strategy(run.task.strategy_name)
            run.note(
                "kemi.initiative.rule",
                f"the model named no initiative; {initiative}, from the strategy "
                f"{run.task.strategy_name}",
            )
        return run.prompt(
            "kemi.reply", REPLY_INSTRUCTION, {**knowledge, "initiative": initiative}, reply=True
        )
