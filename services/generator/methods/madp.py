"""MADP: multi-agent deductive planning over the CBT elements of the ABC model.

Four agents read the conversation for one element each (situation, emotion, automatic thought,
behaviour). They are independent, so they run as one batched ``engine.complete`` call. A
planner deduces a response plan from their findings, and the responder writes the reply from
the plan under the requested strategy.
"""

from __future__ import annotations

from services.generator.engines.base import Prompt
from services.generator.methods.base import Method, StepRunner, first_label

AGENTS: tuple[tuple[str, str, str], ...] = (
    (
        "madp.situation",
        "situation",
        "You are the situation agent of a CBT team. In one sentence, state the situation the "
        "help-seeker is in, as they describe it.",
    ),
    (
        "madp.emotion",
        "emotion",
        "You are the emotion agent of a CBT team. In one sentence, name the feeling the "
        "help-seeker expresses and the words that show it.",
    ),
    (
        "madp.cognition",
        "cognition",
        "You are the cognition agent of a CBT team. In one sentence, state the automatic "
        "thought behind the help-seeker's words and the thinking trap it may show, if any.",
    ),
    (
        "madp.behaviour",
        "behaviour",
        "You are the behaviour agent of a CBT team. In one sentence, state what the "
        "help-seeker is doing, or has stopped doing, in response.",
    ),
)
PLANNER_INSTRUCTION = (
    "You are the planner of a CBT team. From the agents' findings, deduce in one or two "
    "sentences a plan for the supporter's next reply that uses the given strategy."
)
RESPONDER_INSTRUCTION = (
    "You are the responder of a CBT team. Write the supporter's next reply following the plan."
)


class MadpMethod(Method):
    name = "MADP"

    async def prepare(self, run: StepRunner) -> Prompt:
        prompts = [run.prompt(step, instruction) for step, _, instruction in AGENTS]
        # One call for the four agents: they are independent, so an engine batches them.
        answers = await run.complete(prompts, stage="madp.agents")
        findings: dict[str, str] = {}
        for (step, key, _), answer in zip(AGENTS, answers, strict=True):
            run.note(step, answer)
            findings[key] = first_label(answer)
        plan = await run.step(
            run.prompt(
                "madp.plan", PLANNER_INSTRUCTION, {**findings, "strategy": run.task.strategy_name}
            )
        )
        context = {"emotion": findings["emotion"], "plan": first_label(plan)}
        return run.prompt("madp.responder", RESPONDER_INSTRUCTION, context, reply=True)
