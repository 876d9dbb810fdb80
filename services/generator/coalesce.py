"""Coalescing of a reply's text deltas before they cross a process boundary.

Every streamed chunk costs the same fixed price on its way to the seeker whatever its size: a
Ray streaming object from the generator replica to the router, a screen of the decoded text in
the router, a chunk through Serve's proxy, a gRPC message. The composer writes a reply in well
under a millisecond and yields it word by word, so a 50-word reply paid that price 50 times
(streams took about twice the CPU of a unary call under load). An LLM engine yields a token
every few tens of milliseconds, and each of those should still go out at once.

So deltas are flushed on a clock: the first delta of a reply at once, then whatever arrived
since the last flush once ``interval_s`` has passed since it; a delta never waits longer than
that interval (a timer flushes it even if the engine stalls), and the end of the reply flushes
what is left before the final item. With tokens slower than the interval, every token is its
own chunk, as before; with the composer, a reply is two text chunks. The same idea as vLLM's
``--stream-interval``, counted in time rather than tokens.

Cancellation: closing the coalesced stream cancels the task that reads the engine's stream, so
a client that goes away still stops decoding.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

T = TypeVar("T")

_END = object()
_STALLED = object()


async def coalesce_text(
    stream: AsyncIterator[str | T], interval_s: float
) -> AsyncIterator[str | T]:
    """``stream``'s items with runs of ``str`` deltas joined (see the module docstring); other
    items pass through in order, after the text before them. ``interval_s <= 0``: unchanged."""
    if interval_s <= 0:
        async for item in stream:
            yield item
        return
    queue: asyncio.Queue = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in stream:
                await queue.put(item)
        except Exception as exc:  # handed to the consumer, which raises it in its own frame
            await queue.put(_Failure(exc))
        else:
            await queue.put(_END)

    loop = asyncio.get_running_loop()
    reader = asyncio.create_task(pump())
    pending: list[str] = []
    last_flush = -float("inf")
    try:
        while True:
            timeout = None
            if pending:
                timeout = max(0.0, last_flush + interval_s - loop.time())
            try:
                item = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                item = _STALLED  # the interval passed with text waiting: it goes out now
            text = isinstance(item, str)
            if text:
                pending.append(item)
            # Text waits only for the clock; anything else (the final item, the end, an error)
            # takes the text before it along first.
            if pending and (not text or loop.time() - last_flush >= interval_s):
                yield "".join(pending)
                pending.clear()
                last_flush = loop.time()
            if text or item is _STALLED:
                continue
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


class _Failure:
    """An exception of the engine's stream, carried to the consumer through the queue."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error
