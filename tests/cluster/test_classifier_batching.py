"""The batched classifier deployment (one class, bound for defense and for strategy), run
in-process (no Ray cluster): concurrent requests share one model call, an invalid request fails
alone with INVALID_ARGUMENT naming its field, and batched answers equal unbatched ones."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from ray import serve

from services.classifier.deployment import ClassifierDeployment
from services.common import telemetry
from services.common.config import Settings
from services.common.errors import InvalidArgument
from services.common.serve_options import BatchOptions
from solace.v1 import common_pb2, defense_pb2, strategy_pb2

SEEKER, SUPPORTER = common_pb2.ROLE_SEEKER, common_pb2.ROLE_SUPPORTER
TEXTS = (
    "I lost my job and I can't sleep",
    "It's fine, I don't care anyway, everyone leaves",
    "My exams are coming and I feel anxious",
    "I keep cleaning the house over and over",
    "My friend stopped talking to me",
)


@pytest.fixture(scope="module")
def model_settings(settings: Settings) -> Settings:
    from solace_cli.modelbuild import build_models

    build_models(settings)
    return settings


@pytest.fixture
def replica_context(monkeypatch):
    """Serve's batch queue reads the replica's max_ongoing_requests; outside Ray, fake it."""
    context = SimpleNamespace(_deployment_config=SimpleNamespace(max_ongoing_requests=64))
    monkeypatch.setattr(serve, "get_replica_context", lambda: context)


def conversation(*turns: tuple[int, str]) -> common_pb2.Conversation:
    return common_pb2.Conversation(turns=[common_pb2.Turn(role=r, text=t) for r, t in turns])


def batch_count(service: str, stage: str) -> float:
    for metric in telemetry.BATCH_SIZE.collect():
        for sample in metric.samples:
            if (
                sample.name.endswith("_count")
                and sample.labels.get("service") == service
                and sample.labels.get("stage") == stage
            ):
                return sample.value
    return 0.0


@pytest.mark.parametrize(
    ("request_type", "service", "stage"),
    [
        (defense_pb2.ClassifyRequest, "defense", "classify"),
        (strategy_pb2.PredictRequest, "strategy", "predict"),
    ],
)
def test_one_bad_request_fails_alone_and_the_batch_is_answered(
    model_settings, replica_context, request_type, service, stage
):
    replica_class = ClassifierDeployment.func_or_class
    # A long wait so every request below lands in one batch even on a loaded machine.
    replica = replica_class(service, model_settings, BatchOptions(True, 16, 0.2))
    unbatched = replica_class(service, model_settings, BatchOptions(enabled=False))
    method = "infer"
    good = [request_type(conversation=conversation((SEEKER, t))) for t in TEXTS]
    bad = request_type(conversation=conversation((SEEKER, "hi"), (SUPPORTER, "hello")))

    async def run():
        call = getattr(replica, method)
        before = batch_count(service, stage)
        results = await asyncio.gather(
            *(call(r) for r in [*good[:2], bad, *good[2:]]), return_exceptions=True
        )
        batches = batch_count(service, stage) - before
        expected = [await getattr(unbatched, method)(r) for r in good]
        return results, batches, expected

    results, batches, expected = asyncio.run(run())
    error = results.pop(2)
    assert isinstance(error, InvalidArgument)
    assert error.field == "conversation.turns[1].role"
    assert batches == 1  # six requests, one model call, observed in solace_batch_size
    for got, want in zip(results, expected, strict=True):
        assert not isinstance(got, BaseException), got
        for field in ("level", "strategy"):
            if hasattr(want, field):
                assert getattr(got, field) == getattr(want, field)
        assert [p.probability for p in got.probabilities] == pytest.approx(
            [p.probability for p in want.probabilities], abs=1e-5
        )
