"""VALUE_REINFORCEMENT: find a Schwartz basic value the seeker expresses and reinforce it.

A ``values.ValueDetector`` finds the value the seeker's words express most: a classifier over
the sentence encoder trained on Touché23-ValueEval when it is available, the small lexicon over
the 10 basic values (``lexicon.VALUES``) otherwise or when the classifier is unsure. The reply
names it in plain words inside the strategy sentence (a question asks what matters to the
seeker given that value, a suggestion builds on it, an affirmation affirms it), so the reply
still does what the strategy asks. Only values a
supporter can affirm without endorsing harm are reinforced (power is not). When the seeker
expresses none, reaching out is itself taken as self-direction.
"""

from __future__ import annotations

import time

from services.generator.engines.base import Prompt
from services.generator.lexicon import VALUE_PHRASES
from services.generator.methods.base import Method, StepRunner
from services.generator.values import ValueDetector

DEFAULT_VALUE = "self-direction"


def reply_instruction(value: str) -> str:
    return (
        f"Write the supporter's next reply. Reinforce the seeker's value of {value} "
        f"({VALUE_PHRASES[value]}) in plain words."
    )


class ValueReinforcementMethod(Method):
    name = "VALUE_REINFORCEMENT"

    def __init__(self, detector: ValueDetector | None = None) -> None:
        # Without a detector built from the settings, the lexicon alone decides.
        self.detector = detector or ValueDetector()

    async def prepare(self, run: StepRunner) -> Prompt:
        conversation = run.task.conversation
        started = time.perf_counter()
        seeker = [text for _, text in reversed(conversation.seeker_turns())]
        # Newest words first.
        found = await self.detector.adetect(*seeker, conversation.situation)
        run.time("value.detect", started)
        if found:
            value = found.value
            if found.source == "lexicon":
                run.note("value.detect", f'{value} (the seeker said "{found.evidence}")')
            else:
                run.note(
                    "value.detect", f"{value} (value classifier, {found.score:.1f}x threshold)"
                )
        else:
            value = DEFAULT_VALUE
            run.note("value.detect", f"no value stated; reaching out is read as {value}")
        context = {"value": value, "value_phrase": VALUE_PHRASES[value]}
        if found and found.evidence:
            # The seeker's own cue word lets a restatement give the value back in their words.
            context["value_cue"] = found.evidence
        return run.prompt("value.reply", reply_instruction(value), context, reply=True)
