"""The platform's default engine end to end: Support answers with text the llama.cpp model
(SmolLM2-135M-Instruct, built by ``solace models build``) wrote, streams it token by token, and
never calls it for a crisis. Every other test pins the composer (tests/conftest.py)."""

from __future__ import annotations

import pytest

from services.common.config import load_settings
from services.router.clients import LocalClients
from services.router.pipeline import SupportPipeline
from services.router.safety import RouterSafety
from solace.v1 import common_pb2, support_pb2

pytestmark = pytest.mark.integration


def ask(text: str) -> support_pb2.RespondRequest:
    return support_pb2.RespondRequest(
        conversation=common_pb2.Conversation(
            turns=[common_pb2.Turn(role=common_pb2.ROLE_SEEKER, text=text)]
        ),
        options=support_pb2.RespondOptions(method=common_pb2.GENERATION_METHOD_DIRECT),
    )


@pytest.fixture(scope="module")
def default_settings(tmp_path_factory):
    settings = load_settings(
        escalation_store_url=f"sqlite:///{tmp_path_factory.mktemp('audit') / 'audit.db'}"
    )
    assert settings.default_engine == "llamacpp"
    return settings


@pytest.fixture(scope="module")
def clients(default_settings):
    # Without the built GGUF or llama-cpp-python the replies fall back to the composer, and
    # the tests below fail with that fallback's reason.
    return LocalClients.build(default_settings)


@pytest.fixture
async def pipeline(default_settings, clients):
    safety = RouterSafety(default_settings)
    yield SupportPipeline(clients, safety, default_settings)
    await safety.close()


async def test_the_default_reply_is_written_by_the_model(pipeline):
    response = await pipeline.respond(ask("I failed my driving test for the third time today"))
    assert not response.escalated and not response.safety_hold
    assert response.generation.engine == "llamacpp"
    assert not response.generation.fell_back, response.generation.fallback_reason
    assert response.reply == response.generation.text
    assert len(response.reply.split()) >= 3


async def test_the_model_streams_its_reply(pipeline):
    chunks = [c async for c in pipeline.respond_stream(ask("My best friend moved away"))]
    final = chunks[-1].final
    assert final.generation.engine == "llamacpp" and not final.generation.fell_back
    # The model writes paragraphs; the deltas are tidied as they stream, so they still add up.
    assert "".join(c.text_delta for c in chunks[:-1]) == final.reply


async def test_a_crisis_never_reaches_the_model(pipeline):
    response = await pipeline.respond(ask("I have the pills in my hand and I'm taking them now"))
    assert response.escalated
    assert not response.HasField("generation")
