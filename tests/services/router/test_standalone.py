"""Every service as a standalone gRPC server on its own port, with the Support router calling
them over real channels; stopping the risk service makes Support fail closed."""

from __future__ import annotations

import grpc
import pytest

from services.common.server import start_server
from services.router.safety import RouterSafety
from solace.v1 import (
    common_pb2,
    defense_pb2,
    defense_pb2_grpc,
    generation_pb2,
    generation_pb2_grpc,
    risk_pb2,
    risk_pb2_grpc,
    strategy_pb2,
    strategy_pb2_grpc,
    support_pb2,
    support_pb2_grpc,
)
from solace_cli.standalone import service_specs

pytestmark = pytest.mark.integration


@pytest.fixture
async def platform(settings, tmp_path):
    servers = {}
    for name in ("risk", "defense", "strategy", "generator"):
        servers[name] = await start_server(service_specs(name, settings), 0, host="127.0.0.1")
    routed = settings.with_overrides(
        escalation_store_url=f"sqlite:///{tmp_path / 'audit.db'}",
        risk_timeout_ms=1000,
        # A first classifier call on a loaded 2-core machine can pass the 2 s default.
        classify_timeout_ms=10000,
        **{f"{n}_target": f"127.0.0.1:{s.port}" for n, s in servers.items()},
    )
    support = await start_server(service_specs("support", routed), 0, host="127.0.0.1")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{support.port}")
    servers_and_support = {**servers, "support": support}
    yield servers_and_support, support_pb2_grpc.SupportStub(channel), routed
    await channel.close()
    for server in servers_and_support.values():
        await server.stop(0)


def ask(text: str) -> support_pb2.RespondRequest:
    return support_pb2.RespondRequest(
        conversation=common_pb2.Conversation(
            turns=[common_pb2.Turn(role=common_pb2.ROLE_SEEKER, text=text)]
        )
    )


async def test_support_over_standalone_services(platform):
    _, stub, _ = platform
    response = await stub.Respond(ask("I lost my job and I can't sleep"), timeout=30)
    assert response.reply and not response.safety_hold
    assert response.defense.level and response.strategy.strategy and response.generation.text


async def test_stopping_the_risk_service_fails_closed(platform):
    servers, stub, routed = platform
    await servers["risk"].stop(0)
    response = await stub.Respond(ask("I lost my job and I can't sleep"), timeout=30)
    assert response.safety_hold
    assert not response.HasField("generation")
    assert response.resources
    # The hold is recorded in the audit store, as such.
    safety = RouterSafety(routed)
    store = await safety._ensure_store()
    assert sum((await store.count_by_state()).values()) == 1
    await safety.close()


async def test_bad_input_names_the_field_over_grpc(platform):
    _, stub, _ = platform
    request = ask("hi")
    request.conversation.turns.add(role=common_pb2.ROLE_SUPPORTER, text="hello")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Respond(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("conversation.turns[1].role")


async def test_echoed_strategy_reaches_strategy_prediction(platform):
    # A partner app echoes the strategy of each reply on its supporter turn; the strategy
    # service, two hops away, reads the history from that label.
    _, stub, _ = platform
    first = await stub.Respond(ask("I lost my job and I can't sleep"), timeout=30)

    def follow_up(strategy: int) -> support_pb2.RespondRequest:
        request = ask("I lost my job and I can't sleep")
        request.conversation.turns.add(
            role=common_pb2.ROLE_SUPPORTER, text=first.reply, strategy=strategy
        )
        request.conversation.turns.add(role=common_pb2.ROLE_SEEKER, text="It has been weeks.")
        return request

    asked = await stub.Respond(follow_up(common_pb2.STRATEGY_QUESTION), timeout=30)
    suggested = await stub.Respond(follow_up(common_pb2.STRATEGY_PROVIDING_SUGGESTIONS), timeout=30)
    probabilities = [[s.probability for s in r.strategy.probabilities] for r in (asked, suggested)]
    assert probabilities[0] != probabilities[1]

    bad = ask("hi")
    bad.conversation.turns[0].strategy = common_pb2.STRATEGY_QUESTION
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Respond(bad, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("conversation.turns[0].strategy")
    # The server keeps serving after the rejected request.
    assert (await stub.Respond(follow_up(0), timeout=30)).reply


def _conversation(text: str) -> common_pb2.Conversation:
    return common_pb2.Conversation(turns=[common_pb2.Turn(role=common_pb2.ROLE_SEEKER, text=text)])


async def test_the_classifier_services_answer_on_the_support_port(platform):
    servers, _, _ = platform
    async with grpc.aio.insecure_channel(f"127.0.0.1:{servers['support'].port}") as channel:
        screened = await risk_pb2_grpc.RiskScreeningStub(channel).Screen(
            risk_pb2.ScreenRequest(conversation=_conversation("I'm going to kill myself tonight")),
            timeout=30,
        )
        assert screened.level >= common_pb2.RISK_LEVEL_HIGH
        assert screened.decision.escalate and screened.reasons
        classified = await defense_pb2_grpc.DefenseClassifierStub(channel).Classify(
            defense_pb2.ClassifyRequest(conversation=_conversation("It's fine, I don't care")),
            timeout=30,
        )
        assert classified.level != common_pb2.DEFENSE_LEVEL_UNSPECIFIED
        predicted = await strategy_pb2_grpc.StrategyPredictorStub(channel).Predict(
            strategy_pb2.PredictRequest(conversation=_conversation("I lost my job today")),
            timeout=30,
        )
        assert predicted.strategy != common_pb2.STRATEGY_UNSPECIFIED
        # The service's own validation answers, naming the field; the port keeps serving.
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await risk_pb2_grpc.RiskScreeningStub(channel).Screen(
                risk_pb2.ScreenRequest(conversation=common_pb2.Conversation()), timeout=30
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details().startswith("conversation.turns")
        # The Generator is internal: not on the public port.
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await generation_pb2_grpc.GeneratorStub(channel).Generate(
                generation_pb2.GenerateRequest(conversation=_conversation("hi")), timeout=30
            )
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
