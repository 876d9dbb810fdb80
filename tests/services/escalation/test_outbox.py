"""The outbox against a real aiohttp webhook, over SQLite and the real PostgreSQL."""

from __future__ import annotations

import asyncio
import random

import pytest

from services.common.errors import InvalidArgument
from services.escalation.outbox import OutboxDeliverer
from services.escalation.store import DELIVERED, Escalation, Reason, open_store


def escalation() -> Escalation:
    return Escalation(
        request_id="req-1",
        risk_level="HIGH",
        reasons=(Reason("intent_with_method", "risk_classifier", "HIGH"),),
        model_versions={"risk": "risk-minilm@1.0.0"},
        text="never sent unless turned on",
    )


def deliverer(store, webhook, **kwargs) -> OutboxDeliverer:
    options = {"timeout_s": 2.0, "lease_s": 5.0, "backoff_base_s": 0.05, "poll_interval_s": 0.05}
    options.update(kwargs)
    return OutboxDeliverer(store, webhook.url, rng=random.Random(0), **options)


async def test_delivers_json_with_idempotency_key_and_no_text(store, webhook) -> None:
    escalation_id = await store.record(escalation())
    outbox = deliverer(store, webhook)
    try:
        assert await outbox.run_once() == 1
    finally:
        await outbox.stop()

    assert webhook.requests == [escalation_id]
    assert webhook.headers[escalation_id]["Idempotency-Key"] == escalation_id
    body = webhook.bodies[escalation_id]
    assert body["escalation_id"] == escalation_id and body["risk_level"] == "HIGH"
    assert body["reasons"][0]["line"] == "intent_with_method"
    assert "text" not in body
    record = await store.get(escalation_id)
    assert record.state == DELIVERED


async def test_retries_with_backoff_after_500(store, webhook, wait_until) -> None:
    webhook.statuses = [500, 503]
    escalation_id = await store.record(escalation())
    outbox = deliverer(store, webhook)
    try:
        assert await outbox.run_once() == 0
        failed = await store.get(escalation_id)
        assert failed.state != DELIVERED and failed.last_error == "HTTP 500"
        assert await outbox.run_once() == 0  # backing off: not due yet
        outbox.start()
        await wait_until(lambda: len(webhook.processed) == 1, timeout=10)
    finally:
        await outbox.stop()

    assert webhook.requests == [escalation_id] * 3
    record = await store.get(escalation_id)
    assert record.state == DELIVERED and record.attempts == 3 and record.last_error is None


async def test_never_redelivered_after_a_2xx_across_a_restart(store_url, webhook) -> None:
    store = await open_store(store_url)
    ids = [await store.record(escalation()) for _ in range(3)]
    first = deliverer(store, webhook)
    assert await first.drain() == 3
    await first.stop()
    await store.close()

    # "Restart": a new process would open the same database and start a new deliverer.
    reopened = await open_store(store_url)
    second = deliverer(reopened, webhook)
    try:
        assert await second.drain() == 0
    finally:
        await second.stop()
        await reopened.close()
    assert sorted(webhook.requests) == sorted(ids)


async def test_unreachable_webhook_keeps_the_record_pending(store) -> None:
    escalation_id = await store.record(escalation())
    outbox = OutboxDeliverer(store, "http://127.0.0.1:9/down", timeout_s=1.0, lease_s=5.0)
    try:
        assert await outbox.run_once() == 0
    finally:
        await outbox.stop()
    record = await store.get(escalation_id)
    assert record.state == "pending" and record.attempts == 1
    assert record.last_error.startswith("Client")


async def test_two_replicas_never_send_one_record_twice(pg_schema_url, webhook) -> None:
    """Two deliverers (two router replicas) over one PostgreSQL: SKIP LOCKED + the lease give
    each record to exactly one of them."""
    stores = [await open_store(pg_schema_url) for _ in range(2)]
    ids = {await stores[0].record(escalation()) for _ in range(20)}
    outboxes = [deliverer(s, webhook, batch_size=3) for s in stores]
    try:
        await asyncio.gather(*(o.drain() for o in outboxes))
    finally:
        for outbox, store in zip(outboxes, stores, strict=True):
            await outbox.stop()
            await store.close()
    assert sorted(webhook.requests) == sorted(ids)


def test_lease_must_outlast_the_http_timeout(tmp_path) -> None:
    from services.escalation.sqlite_store import SqliteEscalationStore

    store = SqliteEscalationStore(tmp_path / "x.db")
    with pytest.raises(InvalidArgument, match="lease"):
        OutboxDeliverer(store, "http://hook", timeout_s=10, lease_s=5)
    with pytest.raises(InvalidArgument, match="URL"):
        OutboxDeliverer(store, "ftp://hook")


def test_backoff_grows_exponentially_with_jitter_up_to_a_cap(tmp_path) -> None:
    from services.escalation.sqlite_store import SqliteEscalationStore

    outbox = OutboxDeliverer(
        SqliteEscalationStore(tmp_path / "x.db"),
        "http://hook",
        backoff_base_s=1,
        backoff_max_s=30,
        rng=random.Random(1),
    )
    for attempts, ceiling in [(1, 1), (2, 2), (3, 4), (5, 16), (6, 30), (40, 30)]:
        delays = [outbox.backoff_s(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


def test_from_settings_reads_the_escalation_fields(tmp_path) -> None:
    from services.common.config import load_settings
    from services.escalation.sqlite_store import SqliteEscalationStore

    settings = load_settings(
        {
            "SOLACE_ESCALATION_WEBHOOK_URL": "https://ops.example/hook",
            "SOLACE_ESCALATION_TIMEOUT_S": "3",
            "SOLACE_ESCALATION_LEASE_S": "9",
            "SOLACE_ESCALATION_POLL_INTERVAL_S": "0.5",
            "SOLACE_ESCALATION_BACKOFF_BASE_S": "2",
            "SOLACE_ESCALATION_BACKOFF_MAX_S": "40",
        }
    )
    store = SqliteEscalationStore(tmp_path / "x.db")
    outbox = OutboxDeliverer.from_settings(store, settings.escalation, batch_size=4)
    assert outbox.webhook_url == "https://ops.example/hook"
    assert (outbox.timeout_s, outbox.lease_s, outbox.poll_interval_s) == (3.0, 9.0, 0.5)
    assert (outbox.backoff_base_s, outbox.backoff_max_s, outbox.batch_size) == (2.0, 40.0, 4)
    # The settings are validated like the constructor's arguments.
    with pytest.raises(InvalidArgument, match="lease"):
        OutboxDeliverer.from_settings(
            store, settings.with_overrides(escalation_lease_s=3.0).escalation
        )
    with pytest.raises(InvalidArgument, match="URL"):
        OutboxDeliverer.from_settings(
            store, settings.with_overrides(escalation_webhook_url="").escalation
        )


def test_cli_flags_override_the_settings() -> None:
    import argparse

    from services.common.config import load_settings
    from services.escalation.outbox import settings_from_args

    base = load_settings(
        {
            "SOLACE_ESCALATION_STORE_URL": "sqlite:///from-env.db",
            "SOLACE_ESCALATION_WEBHOOK_URL": "https://ops.example/env",
            "SOLACE_ESCALATION_LEASE_S": "90",
        }
    )
    names = "store webhook timeout_s lease_s poll_interval_s backoff_base_s backoff_max_s"
    flags = dict.fromkeys(names.split())
    # No flags: the settings as load_settings read them.
    assert settings_from_args(argparse.Namespace(**flags), base) == base
    flags.update(webhook="https://ops.example/flag", lease_s=5.0, timeout_s=2.0)
    chosen = settings_from_args(argparse.Namespace(**flags), base)
    assert chosen.escalation.webhook_url == "https://ops.example/flag"
    assert (chosen.escalation.lease_s, chosen.escalation.timeout_s) == (5.0, 2.0)
    assert chosen.escalation.store_url == "sqlite:///from-env.db"
