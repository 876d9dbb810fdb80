"""VALUE_REINFORCEMENT: find a Schwartz basic value the seeker expresses and reinforce it.

A small lexicon over the 10 basic values (``lexicon.VALUES``) finds the value the seeker's words
express most; the reply affirms it in plain words while following the strategy. Only values a
supporter can affirm without endorsing harm are reinforced (power is not). When the seeker
expresses none, reaching out is itself taken as self-direction.
"""

from __future__ import annotations

import time

from services.generator.engines.base import Prompt
from services.generator.lexicon import VALUE_PHRASES, detect_value
from services.generator.methods.base import Method, StepRunner

DEFAULT_VALUE = "self-direction"


def reply_instruction(value: str) -> str:
    return (
        f"Write the supporter's next reply. Reinforce the seeker's value of {value} "
        f"({VALUE_PHRASES[value]}) in plain words."
    )


class ValueReinforcementMethod(Method):
    name = "VALUE_REINFORCEMENT"

    async def prepare(self, run: StepRunner) -> Prompt:
        conversation = run.task.conversation
        started = time.perf_counter()
        seeker = [text for _, text in reversed(conversation.seeker_turns())]
        found = None
        for text in (*seeker, conversation.situation):  # newest words first
            found = detect_value(text)
            if found:
                break
        run.time("value.detect", started)
        if found:
            value, cue = found
            run.note("value.detect", f'{value} (the seeker said "{cue}")')
        else:
            value = DEFAULT_VALUE
            run.note("value.detect", f"no value stated; reaching out is read as {value}")
        context = {"value": value, "value_phrase": VALUE_PHRASES[value]}
        return run.prompt("value.reply", reply_instruction(value), context, reply=True)
