"""Privacy: with default settings, the seeker's words never reach logs, metric labels or trace
attributes, for ordinary, crisis and failing requests alike."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY, generate_latest

from services.common import telemetry
from services.common.server import start_server
from services.router.safety import RouterSafety
from solace.v1 import common_pb2, support_pb2, support_pb2_grpc
from solace_cli.standalone import service_specs

# Distinctive words that cannot appear in any reply template, label or log line by chance.
MESSAGES = (
    "My landlord Bartholomew Quixley evicted me and I feel worthless",
    "Zanzibarian thoughts: I bought pills and I will kill myself tonight",
    "Glimmerstone exam tomorrow, my friend Orvella says I'm hopeless",
)
MARKERS = ("Bartholomew", "Quixley", "Zanzibarian", "Glimmerstone", "Orvella")


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    telemetry.setup_tracing("solace-privacy-test", exporter=exporter)
    yield exporter
    telemetry.shutdown_tracing()


async def test_message_text_stays_out_of_logs_metrics_and_traces(settings, tmp_path, spans, caplog):
    import grpc

    caplog.set_level(logging.DEBUG)
    servers = {
        name: await start_server(service_specs(name, settings), 0, host="127.0.0.1")
        for name in ("risk", "defense", "strategy", "generator")
    }
    routed = settings.with_overrides(
        escalation_store_url=f"sqlite:///{tmp_path / 'audit.db'}",
        **{f"{n}_target": f"127.0.0.1:{s.port}" for n, s in servers.items()},
    )
    support = await start_server(
        service_specs("support", routed), 0, host="127.0.0.1", telemetry_service="support"
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{support.port}") as channel:
        stub = support_pb2_grpc.SupportStub(channel)
        for text in MESSAGES:
            request = support_pb2.RespondRequest(
                conversation=common_pb2.Conversation(
                    turns=[common_pb2.Turn(role=common_pb2.ROLE_SEEKER, text=text)]
                )
            )
            response = await stub.Respond(request, timeout=30)
            assert response.reply
            chunks = [c async for c in stub.RespondStream(request, timeout=30)]
            assert chunks[-1].HasField("final")
        # A failing dependency must not leak either.
        await servers["risk"].stop(0)
        response = await stub.Respond(request, timeout=30)
        assert response.safety_hold
    await support.stop(0)
    for server in servers.values():
        await server.stop(0)

    captured = {
        "logs": "\n".join(r.getMessage() + str(r.args) for r in caplog.records),
        "metrics": generate_latest(REGISTRY).decode(),
        "trace attributes": "\n".join(
            f"{s.name} {dict(s.attributes or {})} {[dict(e.attributes or {}) for e in s.events]}"
            for s in spans.get_finished_spans()
        ),
    }
    assert spans.get_finished_spans(), "tracing was on: spans were recorded"
    for where, text in captured.items():
        for marker in MARKERS:
            assert marker not in text, f"{marker!r} leaked into {where}"

    # The escalation and the hold were audited; the records hold no text by default.
    safety = RouterSafety(routed)
    store = await safety._ensure_store()
    assert sum((await store.count_by_state()).values()) >= 2
    assert not any(m.encode() in (tmp_path / "audit.db").read_bytes() for m in MARKERS)
    await safety.close()
