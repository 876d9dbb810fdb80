"""Streamed text deltas joined on a clock: fast engines send few chunks, slow ones every token,
nothing waits longer than the interval, errors and cancellation still reach both ends."""

from __future__ import annotations

import asyncio

import pytest

from services.generator.coalesce import coalesce_text


async def timed(items, gaps_s):
    """``items`` with ``gaps_s[i]`` seconds of engine time before item i."""
    for item, gap in zip(items, gaps_s, strict=True):
        await asyncio.sleep(gap)
        yield item


async def collect(stream):
    return [item async for item in stream]


async def test_a_fast_engines_words_become_two_chunks_then_the_final():
    words = [f"w{i} " for i in range(50)]
    out = await collect(coalesce_text(timed([*words, {"final": 1}], [0.0] * 51), 0.05))
    assert out == ["w0 ", "".join(words[1:]), {"final": 1}]


async def test_tokens_slower_than_the_interval_each_go_out_alone():
    tokens = ["a", "b", "c", "d"]
    out = await collect(coalesce_text(timed(tokens, [0.03] * 4), 0.01))
    assert out == tokens


async def test_text_waiting_behind_a_stalled_engine_goes_out_after_the_interval():
    loop = asyncio.get_running_loop()
    seen: list[tuple[str, float]] = []
    start = loop.time()
    # "a" at once, "b" 1 ms later (held), then the engine stalls for 0.3 s before "c".
    async for item in coalesce_text(timed(["a", "b", "c"], [0.0, 0.001, 0.3]), 0.02):
        seen.append((item, loop.time() - start))
    assert [text for text, _ in seen] == ["a", "b", "c"]
    assert seen[1][1] < 0.15, "the held delta did not wait for the stalled engine"


async def test_zero_interval_passes_every_delta_through():
    items = ["a", "b", {"final": 1}]
    assert await collect(coalesce_text(timed(items, [0.0] * 3), 0.0)) == items


async def test_an_engine_error_reaches_the_consumer_after_the_text_before_it():
    async def failing():
        yield "partial "
        raise RuntimeError("engine down")

    out = []
    with pytest.raises(RuntimeError, match="engine down"):
        async for item in coalesce_text(failing(), 0.05):
            out.append(item)
    assert out == ["partial "]


async def test_closing_the_stream_stops_the_engine():
    state = {"produced": 0, "closed": False}

    async def endless():
        try:
            while True:
                state["produced"] += 1
                yield "x"
                await asyncio.sleep(0.001)
        finally:
            state["closed"] = True

    stream = coalesce_text(endless(), 0.01)
    assert await anext(stream) == "x"
    await stream.aclose()
    produced = state["produced"]
    await asyncio.sleep(0.05)
    assert state["closed"] and state["produced"] == produced, "decoding stopped with the client"


async def test_the_generator_streams_a_composed_reply_in_a_few_chunks(settings):
    from services.generator.servicer import build_generator_servicer
    from solace.v1 import common_pb2, generation_pb2

    request = generation_pb2.GenerateRequest(
        conversation=common_pb2.Conversation(
            turns=[common_pb2.Turn(role=common_pb2.ROLE_SEEKER, text="My exams start soon.")]
        ),
        strategy=common_pb2.STRATEGY_QUESTION,
    )
    chunks = [c async for c in build_generator_servicer(settings).generate_stream(request)]
    deltas = [c.text_delta for c in chunks if not c.HasField("final")]
    final = chunks[-1].final
    assert "".join(deltas) == final.text and len(final.text.split()) > 5
    assert len(deltas) <= 3, "a reply composed at once is not sent word by word"
    unjoined = settings.with_overrides(stream_flush_ms=0.0)
    word_by_word = [c async for c in build_generator_servicer(unjoined).generate_stream(request)]
    assert len(word_by_word) - 1 == len(final.text.split())
