"""The engine interface every generation method runs over, and the prompt it is given.

A method is a small program of *steps* (``madp.emotion``, ``empathy.cause``, ``direct.reply``
...). Each step is one ``Prompt``; an ``Engine`` turns prompts into text. Engines know nothing
about methods beyond the step name and the fields of the prompt, so a method runs unchanged on
the embedded composer, an in-process vLLM or any OpenAI-compatible server.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from services.common.domain import SEEKER, Conversation
from services.common.labels import DEFENSE_LEVELS, STRATEGIES

# One line per strategy, as ESConv defines them; LLM engines put it in the system message.
STRATEGY_GUIDANCE: tuple[str, ...] = (
    "Ask one open question about the seeker's problem; end the reply with a question mark.",
    "Restate in other words what the seeker said, so they feel accurately heard.",
    "Name and describe the feeling the seeker expresses.",
    "Share a brief, relevant experience of your own, in the first person.",
    "Affirm the seeker's strengths, motivation and capabilities, and reassure them.",
    "Suggest, without commanding, one concrete and manageable step.",
    "Give one useful, non-medical fact or resource relevant to the problem.",
    "Exchange pleasantries or acknowledge the seeker warmly.",
)


@dataclass(frozen=True, slots=True)
class DecodingOptions:
    """How to decode. Zero values mean the engine's defaults, except ``temperature`` where 0
    means greedy; ``seed`` also drives the composer's phrasing choices."""

    max_tokens: int = 0
    temperature: float = 0.0
    strategy_strength: float = 0.0
    seed: int = 0


def _no_context() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Prompt:
    """One step of a generation method.

    ``step`` is the machine name of the step (``"<method>.<step>"``), ``instruction`` what an
    LLM is asked to do in it. ``strategy`` is an index into ``labels.STRATEGIES`` and is set on
    the steps that write the seeker-facing reply (they must follow it); analysis steps leave it
    ``None``. ``strategy_probabilities`` (8 floats, the StrategyPredictor's mixture) allows soft
    conditioning. ``defense`` is a PsyDefConv label index, ``risk`` a ``labels.RISK_LEVELS`` name.
    ``context`` carries what earlier steps concluded (a plan, retrieved knowledge, the detected
    emotion ...), keyed by a short name.
    """

    step: str
    conversation: Conversation
    instruction: str = ""
    strategy: int | None = None
    strategy_probabilities: tuple[float, ...] | None = None
    defense: int | None = None
    risk: str | None = None
    context: Mapping[str, str] = field(default_factory=_no_context)
    options: DecodingOptions = field(default_factory=DecodingOptions)

    @property
    def writes_reply(self) -> bool:
        """True for the strategy-conditioned step that writes what the seeker reads."""
        return self.strategy is not None

    @property
    def strategy_mixture(self) -> tuple[float, ...] | None:
        """p(s) a reply step is conditioned on, in ``labels.STRATEGIES`` order: the predictor's
        mixture when the prompt carries one, else one-hot on ``strategy``; None for analysis
        steps (decoded untouched)."""
        if self.strategy is None:
            return None
        if self.strategy_probabilities is not None:
            return tuple(self.strategy_probabilities)
        return tuple(float(i == self.strategy) for i in range(len(STRATEGIES)))

    def system_message(self) -> str:
        """The instruction, strategy guidance and context as one system message (chat LLMs)."""
        lines = [
            "You are a warm, non-judgmental emotional-support companion. Never give medical "
            "directives and never describe methods of self-harm.",
        ]
        if self.instruction:
            lines.append(self.instruction)
        if self.strategy is not None:
            lines.append(
                f"Support strategy: {STRATEGIES[self.strategy]}. {STRATEGY_GUIDANCE[self.strategy]}"
                " Reply in one to three short sentences, with no labels or analysis."
            )
        if self.defense is not None:
            lines.append(f"The seeker's defense level (DMRS): {DEFENSE_LEVELS[self.defense]}.")
        if self.risk is not None:
            lines.append(f"The seeker's risk level: {self.risk}.")
        if self.conversation.situation:
            lines.append(f"The seeker's situation: {self.conversation.situation}")
        lines.extend(f"{key.capitalize()}: {value}" for key, value in self.context.items())
        return "\n".join(lines)

    def messages(self) -> list[dict[str, str]]:
        """OpenAI-style chat messages: the system message, then the turns (seeker = user)."""
        out = [{"role": "system", "content": self.system_message()}]
        out.extend(
            {"role": "user" if t.role == SEEKER else "assistant", "content": t.text}
            for t in self.conversation.turns
        )
        return out


class Engine(abc.ABC):
    """A language-model engine: turns prompts into text.

    Contract:

    - ``name`` is the engine's registry name (``"composer"``, ``"vllm"``, ``"openai"``) and
      ``version`` its model id or content hash; both are reported with every reply.
    - ``complete(prompts)`` returns exactly one string per prompt, in the same order. The
      prompts of one call are independent (the agents of one method step), so an engine should
      decode them as one batch. Prompts are frozen and must not be modified.
    - ``stream(prompt)`` yields text deltas of one prompt; joined, they are the text
      ``complete([prompt])[0]`` would give under the same options.
    - An engine may raise any ``Exception`` (a server down, a timeout, a malformed answer). The
      caller treats that, and an empty or unparseable answer, as a failed engine and falls back
      to the composer for the request; engines need not catch their own errors.
    - Engines are shared by concurrent requests: ``complete`` and ``stream`` must be safe to
      call concurrently and keep no per-request state.
    - Steps a reply-writing prompt marks with ``strategy`` must be conditioned on that strategy
      (and may use ``strategy_probabilities`` and ``options.strategy_strength`` for soft
      conditioning); ``options.seed`` makes output reproducible where the engine supports it.
    """

    name: str = ""
    version: str = ""

    @abc.abstractmethod
    async def complete(self, prompts: Sequence[Prompt]) -> list[str]:
        """One completion per prompt, in order."""

    async def stream(self, prompt: Prompt) -> AsyncIterator[str]:
        """Text deltas of one prompt. The default streams the whole completion at once."""
        (text,) = await self.complete([prompt])
        yield text

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op for most engines
        """Release what the engine holds (a client session, GPU memory)."""
