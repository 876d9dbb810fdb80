"""The ``openai`` engine against a real HTTP server speaking the completions protocol.

The server is a small aiohttp app written here (vLLM's own OpenAI server is not installed in the
main environment): it implements ``POST /v1/completions`` with JSON and server-sent-event
answers, and records every request body so the test can check the ``logit_bias`` it got.
The run against vLLM's own server is ``test_engine_openai_vllm.py`` (``make test-vllm``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web

from kernels.bias_table import BiasTable, TokenizerIdentity, save_bias_table
from services.common.config import Settings
from services.common.domain import Conversation, Turn
from services.common.labels import strategy_index
from services.generator.engines.base import DecodingOptions, Prompt
from services.generator.engines.openai_engine import (
    LOGIT_BIAS_LIMIT,
    OpenAIEngine,
    strategy_logit_bias,
)
from services.generator.model import GenerationOptions, GenerationRequest, GeneratorCore

VOCAB = 50
CONVERSATION = Conversation(turns=(Turn("seeker", "I lost my job and I feel lost."),))
QUESTION = strategy_index("Question")


class CompletionServer:
    """Answers every prompt with ``reply``; ``fail`` makes it answer 500."""

    def __init__(self, reply: str = "That sounds hard. What happened next?") -> None:
        self.reply = reply
        self.fail = False
        self.bodies: list[dict] = []

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        if self.fail:
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if not body.get("stream"):
            choice = {"index": 0, "text": self.reply, "finish_reason": "stop"}
            return web.json_response({"object": "text_completion", "choices": [choice]})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for word in self.reply.split(" "):
            chunk = {"choices": [{"index": 0, "text": word + " ", "finish_reason": None}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response


@pytest.fixture
async def server() -> AsyncIterator[tuple[CompletionServer, str]]:
    state = CompletionServer()
    app = web.Application()
    app.router.add_post("/v1/completions", state.completions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(0)
    bias = rng.uniform(-5, 5, size=(8, VOCAB)).astype(np.float32)
    identity = TokenizerIdentity("test", VOCAB, "0" * 64)
    path = tmp_path_factory.mktemp("table") / "bias.npz"
    save_bias_table(BiasTable(bias, identity, 1.0, 5.0, (1,) * 8, "test"), path)
    return path, bias


def reply_prompt(**kwargs) -> Prompt:
    return Prompt(step="direct.reply", conversation=CONVERSATION, strategy=QUESTION, **kwargs)


async def test_complete_sends_the_strategy_bias(server, table) -> None:
    state, url = server
    path, bias = table
    engine = OpenAIEngine(url, "tiny", bias_table=path, top_k=10)
    analysis = Prompt(step="kemi.initiative", conversation=CONVERSATION)
    options = DecodingOptions(max_tokens=12, strategy_strength=2.0, seed=7)
    texts = await engine.complete([analysis, reply_prompt(options=options)])
    await engine.close()
    assert texts == [state.reply, state.reply]
    by_step = {("Supporter:" in b["prompt"][-12:]): b for b in state.bodies}
    assert "logit_bias" not in by_step[False]  # analysis steps are not conditioned
    sent = by_step[True]
    assert sent["model"] == "tiny" and sent["max_tokens"] == 12 and sent["seed"] == 7
    expected = 2.0 * bias[QUESTION]
    top = np.argsort(-np.abs(expected))[:10]
    assert set(sent["logit_bias"]) == {str(t) for t in top}
    for token, value in sent["logit_bias"].items():
        assert value == pytest.approx(expected[int(token)], abs=1e-3)


def test_logit_bias_mixes_and_clips(table) -> None:
    _, bias = table
    probabilities = (0.5, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0)
    prompt = reply_prompt(
        strategy_probabilities=probabilities, options=DecodingOptions(strategy_strength=60.0)
    )
    got = strategy_logit_bias(bias, prompt, top_k=VOCAB)
    mixed = 60.0 * (0.5 * bias[0] + 0.5 * bias[4])
    for token, value in got.items():
        assert value == pytest.approx(np.clip(mixed[int(token)], -100, 100), abs=1e-3)
    assert max(abs(v) for v in got.values()) == LOGIT_BIAS_LIMIT


async def test_stream_reads_server_sent_events(server, table) -> None:
    state, url = server
    engine = OpenAIEngine(url + "/v1", "tiny", bias_table=table[0])
    deltas = [d async for d in engine.stream(reply_prompt())]
    await engine.close()
    assert len(deltas) > 1
    assert "".join(deltas).strip() == state.reply
    assert state.bodies[-1]["stream"] is True and state.bodies[-1]["logit_bias"]


async def test_server_error_falls_back_to_the_composer(server) -> None:
    state, url = server
    state.fail = True
    core = GeneratorCore(Settings(default_engine="composer"), {"openai": OpenAIEngine(url, "tiny")})
    request = GenerationRequest(
        conversation=CONVERSATION, strategy=QUESTION, options=GenerationOptions(engine="openai")
    )
    result = await core.generate(request)
    await core.close()
    assert result.fell_back and result.engine == "composer"
    assert "ClientResponseError" in result.fallback_reason
    assert state.bodies  # the server was really asked


async def test_through_the_generator(server) -> None:
    state, url = server
    core = GeneratorCore(Settings(default_engine="composer"), {"openai": OpenAIEngine(url, "tiny")})
    request = GenerationRequest(
        conversation=CONVERSATION,
        strategy=QUESTION,
        method="DIRECT",
        options=GenerationOptions(engine="openai"),
    )
    result = await core.generate(request)
    await core.close()
    assert not result.fell_back and result.engine == "openai"
    assert result.text == state.reply
