"""DIRECT: one strategy-conditioned step, no planning; the cheapest method."""

from __future__ import annotations

from services.generator.engines.base import Prompt
from services.generator.methods.base import Method, StepRunner

REPLY_INSTRUCTION = "Write the supporter's next reply to the help-seeker."


class DirectMethod(Method):
    name = "DIRECT"

    async def prepare(self, run: StepRunner) -> Prompt:
        return run.prompt("direct.reply", REPLY_INSTRUCTION, reply=True)
