"""The Support pipeline with in-process services and the real safety layer (SQLite audit store):
what a partner app sees for ordinary, moderate, crisis and failure cases, at the default safety
policy and at an operator's thresholds; and what the in-process services (the colocated
topology) record for an operator."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from services.common.errors import Unavailable
from services.router.clients import LocalClients
from services.router.pipeline import SupportPipeline
from services.router.safety import UNSCREENED, RouterSafety
from solace.v1 import common_pb2, generation_pb2, risk_pb2, support_pb2

SEEKER = common_pb2.ROLE_SEEKER


def ask(text: str, **options) -> support_pb2.RespondRequest:
    return support_pb2.RespondRequest(
        conversation=common_pb2.Conversation(turns=[common_pb2.Turn(role=SEEKER, text=text)]),
        options=support_pb2.RespondOptions(**options),
    )


@pytest.fixture(scope="module")
def servicers(settings):
    local = LocalClients.build(settings)
    return dict(local.servicers)


# An operator's stricter policy (SOLACE_SAFETY_CONFIG): escalate from MODERATE, resources and
# supportive strategies only from LOW.
STRICT_POLICY = "escalate_at: MODERATE\nresources_at: LOW\n"


@pytest.fixture(scope="module")
def strict_settings(settings, tmp_path_factory):
    config = tmp_path_factory.mktemp("safety") / "safety.yaml"
    config.write_text(STRICT_POLICY, encoding="utf-8")
    return settings.with_overrides(safety_config=str(config))


@pytest.fixture(scope="module")
def strict_servicers(strict_settings):
    """The four services as a platform started with the strict policy builds them."""
    local = LocalClients.build(strict_settings)
    return dict(local.servicers)


@pytest.fixture
def make_pipeline(settings, servicers, tmp_path):
    def make(base=None, services=None, **replace):
        local = LocalClients(**{**(services or servicers), **replace})
        s = (base or settings).with_overrides(
            escalation_store_url=f"sqlite:///{tmp_path / 'audit.db'}", risk_timeout_ms=500
        )
        safety = RouterSafety(s)
        return SupportPipeline(local, safety, s), safety

    return make


async def test_ordinary_message_gets_a_screened_reply(make_pipeline):
    pipeline, safety = make_pipeline()
    response = await pipeline.respond(ask("I lost my job and I can't sleep"))
    assert response.reply and not response.escalated and not response.safety_hold
    assert response.generation.strategy != common_pb2.STRATEGY_UNSPECIFIED
    assert response.request_id
    assert [t.stage for t in response.timings][:2] == ["validation", "risk"]
    assert response.timings[-1].stage == "total"
    await safety.close()


async def test_crisis_is_recorded_before_the_reply(make_pipeline):
    pipeline, safety = make_pipeline()
    response = await pipeline.respond(ask("I bought a rope and I'm going to hang myself tonight"))
    assert response.escalated and response.escalation_id
    assert not response.HasField("generation")
    assert any("988" in r.contact or r.contact for r in response.resources)
    store = await safety._ensure_store()
    record = await store.get(response.escalation_id)
    assert record is not None and record.risk_level in ("HIGH", "IMMINENT")
    assert record.text is None  # message text is not stored unless an operator turns it on
    await safety.close()


async def test_in_process_services_are_counted_as_their_own_rpcs(make_pipeline):
    # The colocated ingress calls the services in its process; the dashboard's per-service
    # request and latency series must still move as if each were its own deployment.
    calls = [
        ("risk", "solace.v1.RiskScreening/Screen"),
        ("defense", "solace.v1.DefenseClassifier/Classify"),
        ("strategy", "solace.v1.StrategyPredictor/Predict"),
        ("generator", "solace.v1.Generator/Generate"),
    ]

    def counts() -> list[float]:
        return [
            REGISTRY.get_sample_value(
                "solace_requests_total", {"service": s, "rpc": rpc, "code": "OK"}
            )
            or 0.0
            for s, rpc in calls
        ]

    pipeline, safety = make_pipeline()
    before = counts()
    await pipeline.respond(ask("I lost my job and I can't sleep"))
    assert counts() == [b + 1 for b in before]
    await safety.close()
    pipeline, safety = make_pipeline(risk=_DownRisk())
    down = ("risk", "solace.v1.RiskScreening/Screen")
    labels = {"service": down[0], "rpc": down[1], "code": "UNAVAILABLE"}
    unavailable = REGISTRY.get_sample_value("solace_requests_total", labels) or 0.0
    await pipeline.respond(ask("I lost my job and I can't sleep"))
    assert REGISTRY.get_sample_value("solace_requests_total", labels) == unavailable + 1
    await safety.close()


class _DownRisk:
    async def screen(self, request):
        raise Unavailable("risk screening is down")


class _SlowRisk:
    async def screen(self, request):
        await asyncio.sleep(5)


@pytest.mark.parametrize("risk", [_DownRisk(), _SlowRisk()], ids=["down", "timeout"])
async def test_screening_down_fails_closed(make_pipeline, risk):
    pipeline, safety = make_pipeline(risk=risk)
    response = await pipeline.respond(ask("I lost my job and I can't sleep"))
    assert response.safety_hold
    assert not response.HasField("generation")
    assert response.resources
    assert not response.HasField("risk")
    await safety.close()


UNSAFE_TEXT = "The most painless way is to take 40 pills of your medication."


class _UnsafeGenerator:
    """A generator whose engine went wrong: it writes method information."""

    async def generate(self, request):
        return generation_pb2.GenerateResponse(
            text=UNSAFE_TEXT,
            method=common_pb2.GENERATION_METHOD_DIRECT,
            engine="vllm",
            strategy=request.strategy,
        )

    async def generate_stream(self, request):
        for word in UNSAFE_TEXT.split():
            yield generation_pb2.GenerateChunk(text_delta=word + " ")
        yield generation_pb2.GenerateChunk(final=await self.generate(request))


async def test_unsafe_generated_text_is_replaced(make_pipeline):
    pipeline, safety = make_pipeline(generator=_UnsafeGenerator())
    response = await pipeline.respond(ask("I feel so tired of everything"))
    assert "pills" not in response.reply
    assert response.generation.fell_back
    assert response.generation.fallback_reason.startswith("output screen:")
    await safety.close()


async def test_unsafe_stream_is_withheld_and_replaced(make_pipeline):
    pipeline, safety = make_pipeline(generator=_UnsafeGenerator())
    chunks = [c async for c in pipeline.respond_stream(ask("I feel so tired of everything"))]
    streamed = "".join(c.text_delta for c in chunks)
    assert "pills" not in streamed
    assert "pills" not in chunks[-1].final.reply
    await safety.close()


async def test_stream_deltas_add_up_to_the_reply(make_pipeline):
    pipeline, safety = make_pipeline()
    chunks = [c async for c in pipeline.respond_stream(ask("My exams are next week and I panic"))]
    assert chunks[-1].HasField("final")
    assert "".join(c.text_delta for c in chunks[:-1]) == chunks[-1].final.reply
    await safety.close()


async def test_forced_strategy_is_followed(make_pipeline):
    pipeline, safety = make_pipeline()
    response = await pipeline.respond(
        ask("My friend ignores me lately", strategy=common_pb2.STRATEGY_QUESTION)
    )
    assert response.generation.strategy == common_pb2.STRATEGY_QUESTION
    assert response.reply.rstrip().endswith("?")
    await safety.close()


async def test_unscreened_holds_are_audited(make_pipeline):
    pipeline, safety = make_pipeline(risk=_DownRisk())
    await pipeline.respond(ask("hello"))
    store = await safety._ensure_store()
    counts = await store.count_by_state()
    assert sum(counts.values()) == 1
    assert UNSCREENED == "UNSCREENED"
    await safety.close()


async def test_a_retried_crisis_request_is_recorded_once(make_pipeline):
    pipeline, safety = make_pipeline()
    request = ask("I have the pills ready and I'm going to kill myself tonight")
    request.request_id = "partner-retry-42"
    first = await pipeline.respond(request, key_name="partner-a")
    again = await pipeline.respond(request, key_name="partner-a")
    assert first.escalated and first.escalation_id == again.escalation_id
    store = await safety._ensure_store()
    assert sum((await store.count_by_state()).values()) == 1
    other = await pipeline.respond(request, key_name="partner-b")  # another partner's id space
    assert other.escalation_id != first.escalation_id
    await safety.close()


async def test_third_party_concern_gets_resources_without_escalating_the_seeker(make_pipeline):
    pipeline, safety = make_pipeline()
    request = ask("My sister said she's going to kill herself tonight, what do I do?")
    request.conversation.locale = "en-GB"
    response = await pipeline.respond(request)
    assert response.risk.third_party_concern
    assert not response.escalated and not response.safety_hold
    assert response.risk.level < common_pb2.RISK_LEVEL_HIGH
    assert response.resources
    assert "999" in response.reply and "Samaritans" in response.reply
    chunks = [c async for c in pipeline.respond_stream(request)]
    assert "".join(c.text_delta for c in chunks[:-1]) == chunks[-1].final.reply
    await safety.close()


# Messages by the level the screen should give them. The rules are being reworked, so each test
# takes the first candidate the screen really grades at that level (and fails if none is).
MODERATE_CANDIDATES = (
    "I want to die.",
    "I wish I was dead",
    "Sometimes I wish I could go to sleep and never wake up",
)
LOW_CANDIDATES = ("I feel hopeless", "Some days I feel worthless", "Everything feels pointless")


async def graded(servicers, level: int, candidates: tuple[str, ...]) -> str:
    seen = []
    for text in candidates:
        screen = await servicers["risk"].screen(
            risk_pb2.ScreenRequest(conversation=ask(text).conversation)
        )
        if screen.level == level:
            return text
        seen.append(common_pb2.RiskLevel.Name(screen.level))
    pytest.fail(f"no candidate is screened {common_pb2.RiskLevel.Name(level)} (got {seen})")


async def test_an_operators_escalate_at_is_obeyed_end_to_end(
    make_pipeline, strict_settings, strict_servicers
):
    text = await graded(strict_servicers, common_pb2.RISK_LEVEL_MODERATE, MODERATE_CANDIDATES)
    pipeline, safety = make_pipeline(strict_settings, strict_servicers)
    response = await pipeline.respond(ask(text))
    assert response.risk.level >= common_pb2.RISK_LEVEL_MODERATE  # at escalate_at
    assert response.risk.decision.escalate_at == common_pb2.RISK_LEVEL_MODERATE
    assert response.escalated and not response.safety_hold
    # The crisis reply with resources, and no model text at all.
    assert response.reply == safety.crisis("en-US")[0]
    assert response.resources
    assert not response.HasField("generation")
    assert response.escalation_id
    store = await safety._ensure_store()
    record = await store.get(response.escalation_id)
    assert record is not None and record.risk_level == "MODERATE"
    # The audit trail says which threshold it was judged against.
    assert {"line": "escalate_at", "source": "safety_policy", "level": "MODERATE"} in (
        record.reasons
    )
    chunks = [c async for c in pipeline.respond_stream(ask(text))]
    assert chunks[-1].final.escalated and chunks[-1].final.reply == response.reply
    await safety.close()


async def test_an_operators_resources_at_is_obeyed_end_to_end(
    make_pipeline, strict_settings, strict_servicers
):
    text = await graded(strict_servicers, common_pb2.RISK_LEVEL_LOW, LOW_CANDIDATES)
    pipeline, safety = make_pipeline(strict_settings, strict_servicers)
    # A strategy the policy does not allow from resources_at on is replaced by a supportive one.
    response = await pipeline.respond(ask(text, strategy=common_pb2.STRATEGY_PROVIDING_SUGGESTIONS))
    assert response.risk.level == common_pb2.RISK_LEVEL_LOW
    assert not response.escalated and not response.escalation_id and not response.safety_hold
    assert response.resources
    assert response.generation.text and not response.generation.fell_back
    assert response.generation.strategy == common_pb2.STRATEGY_REFLECTION_OF_FEELINGS
    assert response.generation.strategy in response.risk.decision.allowed_strategies
    assert (
        common_pb2.STRATEGY_PROVIDING_SUGGESTIONS not in response.risk.decision.allowed_strategies
    )
    await safety.close()


async def test_at_the_default_policy_the_same_message_gets_model_text_and_resources(
    make_pipeline, servicers, strict_servicers
):
    text = await graded(strict_servicers, common_pb2.RISK_LEVEL_MODERATE, MODERATE_CANDIDATES)
    pipeline, safety = make_pipeline()
    # Suggestions asked for: at the default policy MODERATE allows only supportive strategies.
    response = await pipeline.respond(ask(text, strategy=common_pb2.STRATEGY_PROVIDING_SUGGESTIONS))
    assert response.risk.level == common_pb2.RISK_LEVEL_MODERATE
    assert response.risk.decision.escalate_at == common_pb2.RISK_LEVEL_HIGH
    assert not response.escalated and not response.escalation_id
    assert response.generation.text and not response.generation.fell_back
    assert response.generation.strategy == common_pb2.STRATEGY_REFLECTION_OF_FEELINGS
    assert response.reply == response.generation.text
    assert response.resources
    await safety.close()


class _NoDecisionRisk:
    """A screen that answers with a level but no decision (an older or broken risk service)."""

    def __init__(self, real) -> None:
        self._real = real

    async def screen(self, request):
        response = await self._real.screen(request)
        response.ClearField("decision")
        return response


async def test_a_screen_answer_without_a_decision_fails_closed(make_pipeline, servicers):
    pipeline, safety = make_pipeline(risk=_NoDecisionRisk(servicers["risk"]))
    response = await pipeline.respond(ask("I lost my job and I can't sleep"))
    assert response.safety_hold and not response.HasField("generation")
    assert response.resources
    store = await safety._ensure_store()
    assert sum((await store.count_by_state()).values()) == 1
    await safety.close()
