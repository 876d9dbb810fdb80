"""The ``openai`` engine against vLLM's own OpenAI-compatible server, a real implementation of
``/v1/completions`` (JSON and server-sent events, ``logit_bias``, ``seed``).

The server runs as a subprocess (``python -m vllm.entrypoints.openai.api_server``) over the tiny
random Llama of ``tiny_llama``, once for the module. The bias table is built by
``kernels.bias_table.build_bias_table`` with the model's tokenizer from a small synthetic ESConv
file in which "Question" turns use ``w300`` (most) and ``w301``, so the table's top-biased
"Question" token is known, and the test reads it from the table, not from a constant.

Decoding is greedy (temperature 0, seed 7), so every assertion is exact:

- tokens flow: unary and streamed completions are non-empty, the stream arrives in several
  pieces, and the pieces join to exactly the unary completion;
- hard conditioning at λ = 20 puts a bias of about +90 on the table's top token and at least
  +20 less on every other one; a random model's logits differ by well under 1, so every greedy
  token of the conditioned reply is that top token, while the unconditioned reply to the same
  prompt contains none of the tokens the strategy pushes;
- an unconditioned request (an analysis step: no ``logit_bias``) decoded in the same server
  batch as a conditioned one answers exactly as the same request alone through an engine with
  no bias table.

Runs where vLLM is installed (``.venv``, ``make test-vllm``); skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("vllm", reason="vllm not installed")

from tiny_llama import build_tiny_llama

from kernels.bias_table import build_bias_table, save_bias_table
from kernels.strategies import STRATEGIES
from services.common.domain import Conversation, Turn
from services.generator.engines.base import DecodingOptions, Prompt
from services.generator.engines.openai_engine import OpenAIEngine
from solace_cli.ports import free_port

QUESTION = STRATEGIES.index("Question")
STRENGTH = 20.0
MAX_TOKENS = 12
SEED = 7
START_TIMEOUT_S = 120.0
CONVERSATION = Conversation(turns=(Turn("seeker", "w5 w6 w7 w8"),))


@dataclass(frozen=True)
class Served:
    """The running server's root URL and the bias table built for its tokenizer."""

    url: str
    table: Path
    bias: np.ndarray  # [S, V], as saved


def _synthetic_esconv(path: Path) -> None:
    """ESConv-shaped JSONL: "Question" turns use w300 three times and w301 once per turn, every
    other strategy words of its own; all share w7 (a token with a neutral bias)."""
    turns = []
    for index, name in enumerate(STRATEGIES):
        words = "w300 w301 w300 w300 w7" if index == QUESTION else f"w{20 + index} w{40 + index} w7"
        turns.append({"speaker": "usr", "text": "w5 w6"})
        turns.append({"speaker": "sys", "strategy": name, "text": words})
    # Forty copies: enough counts that the smoothed log-odds of w300 reach a few units.
    path.write_text("".join(json.dumps({"dialog": turns}) + "\n" for _ in range(40)))


def _log_tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    # ProcessLookupError: the whole group is already gone.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group (the API server and the EngineCore process it
    spawns; signalled even when the server itself already died, so no orphan is left), then
    SIGKILL whatever is left after 20 s."""
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("tiny-llama")
    build_tiny_llama(folder)
    corpus = folder / "train.txt"
    _synthetic_esconv(corpus)
    table = build_bias_table(AutoTokenizer.from_pretrained(folder), corpus)
    table_path = save_bias_table(table, folder / "bias.npz")

    port = free_port()
    log = folder / "server.log"
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB; the default is sized for real models
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "HF_HUB_OFFLINE": "1",  # the model is a local folder; never reach for the hub
    }
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(folder),
        "--served-model-name",
        "tiny",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--enforce-eager",  # no graph compilation, which would add ~14 s to the start on CPU
        "--max-model-len",
        "256",
        "--dtype",
        "float32",  # a random model's greedy choices are near ties: keep them batch-stable
        "--seed",
        "0",
    ]
    with open(log, "wb") as sink:
        # A session of its own, so teardown can signal the server and its EngineCore child.
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"vLLM server exited with {process.returncode}:\n{_log_tail(log)}")
            try:
                with urllib.request.urlopen(url + "/v1/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass  # not listening yet
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM server not up after {START_TIMEOUT_S:.0f} s:\n{_log_tail(log)}")
            time.sleep(0.5)
        yield Served(url, table_path, table.bias)
    finally:
        _stop(process)


def reply(strategy: int = QUESTION, strength: float = STRENGTH) -> Prompt:
    options = DecodingOptions(max_tokens=MAX_TOKENS, strategy_strength=strength, seed=SEED)
    return Prompt(
        step="direct.reply", conversation=CONVERSATION, strategy=strategy, options=options
    )


def analysis() -> Prompt:
    options = DecodingOptions(max_tokens=MAX_TOKENS, seed=SEED)
    return Prompt(step="kemi.initiative", conversation=CONVERSATION, options=options)


def token_ids(text: str) -> list[int]:
    """The word-level tokenizer's ids of a completion (word ``w{i}`` is token ``i``)."""
    return [int(word[1:]) for word in text.split()]


async def test_tokens_flow_unary_and_streamed(served: Served) -> None:
    engine = OpenAIEngine(served.url, "tiny", bias_table=served.table)
    try:
        (text,) = await engine.complete([reply()])
        pieces = [piece async for piece in engine.stream(reply())]
    finally:
        await engine.close()
    assert len(token_ids(text)) == MAX_TOKENS
    assert len(pieces) > 1  # really streamed, not one final chunk
    assert "".join(pieces) == text  # greedy: the stream is the same completion


async def test_hard_conditioning_follows_the_table(served: Served) -> None:
    conditioned_engine = OpenAIEngine(served.url, "tiny", bias_table=served.table)
    plain_engine = OpenAIEngine(served.url, "tiny")  # no table: conditioned by the prompt only
    try:
        (conditioned,) = await conditioned_engine.complete([reply()])
        (unconditioned,) = await plain_engine.complete([reply()])
    finally:
        await conditioned_engine.close()
        await plain_engine.close()
    row = STRENGTH * served.bias[QUESTION]
    order = np.argsort(-row)
    top, runner_up = int(order[0]), int(order[1])
    assert top == 300  # the synthetic corpus made it so; guards the premise of the next checks
    assert row[top] - row[runner_up] > 10  # a gap no logit of a random model can bridge
    assert token_ids(conditioned) == [top] * MAX_TOKENS
    pushed = {int(t) for t in np.flatnonzero(row > 0)}
    assert not pushed & set(token_ids(unconditioned))


async def test_unconditioned_request_matches_the_baseline(served: Served) -> None:
    plain_engine = OpenAIEngine(served.url, "tiny")
    engine = OpenAIEngine(served.url, "tiny", bias_table=served.table)
    try:
        (baseline,) = await plain_engine.complete([analysis()])
        # One complete() call sends both requests at once: the server decodes them together.
        conditioned, untouched = await engine.complete([reply(), analysis()])
        assert engine.request_body(analysis()).get("logit_bias") is None
    finally:
        await plain_engine.close()
        await engine.close()
    assert token_ids(baseline)
    assert untouched == baseline
    assert conditioned != baseline
