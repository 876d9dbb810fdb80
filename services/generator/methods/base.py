"""What every generation method shares: the task it is given, the step runner that calls the
engine and records the trace and timings, the result type, and the output checks that turn an
unusable engine answer into a fallback.

A method is a small program: ``prepare`` runs its analysis steps through a ``StepRunner`` and
returns the final, strategy-conditioned reply prompt. The core then completes or streams that
prompt, so every method streams its reply without knowing how.
"""

from __future__ import annotations

import abc
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

from services.common.domain import Conversation
from services.common.labels import STRATEGIES
from services.generator.engines.base import DecodingOptions, Engine, Prompt


class TraceStep(NamedTuple):
    """One reasoning step, for audit and research; never part of the reply."""

    name: str
    content: str


class StepTiming(NamedTuple):
    stage: str
    milliseconds: float


@dataclass(frozen=True, slots=True)
class Generation:
    """A written reply and how it was written.

    ``method`` is a ``labels.METHODS`` name (never AUTO), ``strategy`` the index of the strategy
    the reply follows (after any risk constraint). ``fell_back`` is True when the requested
    engine failed and the composer wrote the reply; ``fallback_reason`` says why, without any
    message text.
    """

    text: str
    method: str
    engine: str
    engine_version: str
    strategy: int
    trace: tuple[TraceStep, ...] = ()
    timings: tuple[StepTiming, ...] = ()
    fell_back: bool = False
    fallback_reason: str = ""


@dataclass(frozen=True, slots=True)
class Task:
    """A validated request as a method sees it (strategy already risk-constrained)."""

    conversation: Conversation
    strategy: int
    strategy_probabilities: tuple[float, ...] | None = None
    defense: int | None = None
    risk: str | None = None
    options: DecodingOptions = field(default_factory=DecodingOptions)

    @property
    def strategy_name(self) -> str:
        return STRATEGIES[self.strategy]


class UnusableOutput(Exception):
    """An engine answered, but not with something a method can use (empty, unparseable)."""


class StepRunner:
    """Runs a method's steps on one engine, recording trace steps and per-step timings."""

    def __init__(self, engine: Engine, task: Task) -> None:
        self.engine = engine
        self.task = task
        self.trace: list[TraceStep] = []
        self.timings: list[StepTiming] = []

    def prompt(
        self,
        step: str,
        instruction: str,
        context: Mapping[str, str] | None = None,
        *,
        reply: bool = False,
    ) -> Prompt:
        """A prompt for ``step``; ``reply=True`` marks the strategy-conditioned reply step."""
        task = self.task
        return Prompt(
            step=step,
            conversation=task.conversation,
            instruction=instruction,
            strategy=task.strategy if reply else None,
            strategy_probabilities=task.strategy_probabilities if reply else None,
            defense=task.defense,
            risk=task.risk,
            context=dict(context or {}),
            options=task.options,
        )

    async def complete(self, prompts: Sequence[Prompt], stage: str | None = None) -> list[str]:
        """One batched engine call; each answer must be non-empty. Timed as ``stage`` (default:
        the single prompt's step name)."""
        started = time.perf_counter()
        answers = await self.engine.complete(list(prompts))
        self.time(stage or prompts[0].step, started)
        if len(answers) != len(prompts):
            raise UnusableOutput(
                f"{self.engine.name} returned {len(answers)} answers for {len(prompts)} prompts"
            )
        out = []
        for prompt, answer in zip(prompts, answers, strict=True):
            text = (answer or "").strip() if isinstance(answer, str) else ""
            if not text:
                raise UnusableOutput(f"step {prompt.step} returned no text")
            out.append(text)
        return out

    async def step(self, prompt: Prompt) -> str:
        """Run one analysis step and record its conclusion in the trace."""
        (answer,) = await self.complete([prompt])
        self.note(prompt.step, answer)
        return answer

    def note(self, name: str, content: str) -> None:
        self.trace.append(TraceStep(name, content))

    def time(self, stage: str, started: float) -> None:
        self.timings.append(StepTiming(stage, (time.perf_counter() - started) * 1000.0))


class Method(abc.ABC):
    """A generation method: analysis steps, then one strategy-conditioned reply step."""

    #: The ``labels.METHODS`` name.
    name: ClassVar[str]

    @abc.abstractmethod
    async def prepare(self, run: StepRunner) -> Prompt:
        """Run the analysis steps through ``run``; return the reply prompt (``reply=True``)."""


# Labels of reasoning steps an engine might echo into its reply (chain-of-thought formats such
# as ESCoT's "Emotion: ... Strategy Reason: ... Response: ..."). They never reach the seeker.
_TRACE_LABELS = (
    "emotion",
    "emotions",
    "cause",
    "causes",
    "emotion stimuli",
    "intention",
    "intentions",
    "appraisal",
    "individual appraisal",
    "situation",
    "cognition",
    "behaviour",
    "behavior",
    "plan",
    "strategy",
    "strategy reason",
    "knowledge",
    "initiative",
    "value",
    "analysis",
    "reasoning",
    "thought",
    "thoughts",
)
_TRACE_LINE = re.compile(r"^\s*(?:" + "|".join(_TRACE_LABELS) + r")\s*:", re.IGNORECASE)
_RESPONSE_LABEL = re.compile(r"\b(?:response|reply|supporter|assistant)\s*:\s*", re.IGNORECASE)


def clean_reply(raw: str) -> str:
    """The seeker-facing part of an engine's reply: the text after a final "Response:" label if
    there is one, with reasoning lines and wrapping quotes removed. Raises ``UnusableOutput``
    when nothing is left."""
    text = raw.strip()
    labels = list(_RESPONSE_LABEL.finditer(text))
    if labels:
        text = text[labels[-1].end() :]
    lines = [line for line in text.splitlines() if line.strip() and not _TRACE_LINE.match(line)]
    text = " ".join(" ".join(lines).split()).strip().strip('"“”').strip()
    if not text:
        raise UnusableOutput("the reply step returned no usable text")
    return text


class WhitespaceJoiner:
    """Streamed deltas with ``clean_reply``'s whitespace rule applied as they arrive: each run of
    whitespace (newlines included) becomes one space, and none leads or trails. An LLM writes
    paragraphs; the final reply is one, so without this the deltas a client has shown would not
    be a prefix of it."""

    def __init__(self) -> None:
        self._started = False
        self._space = False

    def feed(self, delta: str) -> str:
        out: list[str] = []
        for piece in re.split(r"(\s+)", delta):
            if not piece:
                continue
            if piece.isspace():
                # Held until a word follows: a reply never ends on the space.
                self._space = self._started
                continue
            if self._space:
                out.append(" ")
                self._space = False
            out.append(piece)
            self._started = True
        return "".join(out)


def first_label(text: str) -> str:
    """An analysis answer without its leading "Label:" (what later steps and traces show)."""
    return re.sub(r"^\s*[A-Za-z ]{2,24}:\s*", "", text, count=1).strip() or text.strip()
