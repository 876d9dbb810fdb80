"""Fakes shared by the generator tests (imported by name, as tests have no packages):
conversations and engines that record, fail or stream half an answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

from services.common.domain import SEEKER, SUPPORTER, Conversation, Turn
from services.generator.engines.base import Engine, Prompt
from services.generator.engines.composer import ComposerEngine


def conversation(*seeker_texts: str, situation: str = "", locale: str = "") -> Conversation:
    """Seeker turns with a supporter turn between each pair; the last turn is the seeker's."""
    turns: list[Turn] = []
    for i, text in enumerate(seeker_texts):
        if i:
            turns.append(Turn(SUPPORTER, "I'm listening. Tell me more."))
        turns.append(Turn(SEEKER, text))
    return Conversation(tuple(turns), situation=situation, locale=locale)


class RecordingEngine(Engine):
    """The composer, recording every ``complete`` call as the list of its prompts."""

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.version = "test"
        self.inner = ComposerEngine()
        self.calls: list[list[Prompt]] = []

    async def complete(self, prompts: Sequence[Prompt]) -> list[str]:
        self.calls.append(list(prompts))
        return await self.inner.complete(prompts)

    @property
    def steps(self) -> list[list[str]]:
        return [[p.step for p in call] for call in self.calls]


class ScriptedEngine(Engine):
    """Answers with ``answer(prompt)``; raises what it returns when that is an exception."""

    def __init__(self, name: str, answer: Callable[[Prompt], str | BaseException]) -> None:
        self.name = name
        self.version = "scripted"
        self.answer = answer
        self.calls = 0

    async def complete(self, prompts: Sequence[Prompt]) -> list[str]:
        self.calls += 1
        out = []
        for prompt in prompts:
            answer = self.answer(prompt)
            if isinstance(answer, BaseException):
                raise answer
            out.append(answer)
        return out


class SlowEngine(Engine):
    name = "slow"
    version = "slow"

    async def complete(self, prompts: Sequence[Prompt]) -> list[str]:
        await asyncio.sleep(5)
        return ["too late"] * len(prompts)


class BreakingStreamEngine(Engine):
    """Streams two deltas of the composer's answer, then fails."""

    name = "breaking"
    version = "breaking"

    def __init__(self) -> None:
        self.inner = ComposerEngine()

    async def complete(self, prompts: Sequence[Prompt]) -> list[str]:
        return await self.inner.complete(prompts)

    async def stream(self, prompt: Prompt) -> AsyncIterator[str]:
        yield "Partial "
        yield "answer "
        raise ConnectionError("stream dropped")
