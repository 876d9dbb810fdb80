"""The escalation store, against a real SQLite file and the real PostgreSQL of the machine."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.escalation.postgres_store import PostgresEscalationStore
from services.escalation.sqlite_store import SqliteEscalationStore
from services.escalation.store import (
    DELIVERED,
    PENDING,
    Escalation,
    Reason,
    default_sqlite_path,
    open_store,
    store_for_url,
)


def make_escalation(**changes: object) -> Escalation:
    values: dict[str, object] = {
        "request_id": f"req-{uuid.uuid4().hex[:6]}",
        "risk_level": "IMMINENT",
        "reasons": (Reason("plan_or_preparation", "risk_classifier", "IMMINENT"),),
        "model_versions": {"risk": "risk-minilm@1.0.0", "encoder": "all-MiniLM-L6-v2@int8"},
        "locale": "en-US",
        "api_key_name": "partner-a",
        "text": "seeker message that must not be stored by default",
    }
    values.update(changes)
    return Escalation(**values)  # type: ignore[arg-type]


async def test_record_round_trips_without_text_by_default(store) -> None:
    escalation = make_escalation()
    escalation_id = await store.record(escalation)
    assert escalation_id == escalation.escalation_id

    got = await store.get(escalation_id)
    assert got is not None
    assert got.request_id == escalation.request_id
    assert got.risk_level == "IMMINENT"
    assert got.reasons == [
        {"line": "plan_or_preparation", "source": "risk_classifier", "level": "IMMINENT"}
    ]
    assert got.model_versions["risk"] == "risk-minilm@1.0.0"
    assert got.api_key_name == "partner-a"
    assert got.state == PENDING and got.attempts == 0 and got.delivered_at is None
    assert abs((got.created_at - escalation.created_at).total_seconds()) < 0.001
    # Message text is off unless an operator turns it on.
    assert got.text is None
    assert "text" not in got.payload()


async def test_text_is_stored_only_when_turned_on(store_url: str) -> None:
    store = await open_store(store_url, include_text=True)
    try:
        escalation_id = await store.record(make_escalation(text="I have a plan"))
        got = await store.get(escalation_id)
        assert got is not None and got.text == "I have a plan"
        assert got.payload()["text"] == "I have a plan"
    finally:
        await store.close()


async def test_record_is_idempotent_and_durable_across_reopen(store_url: str) -> None:
    escalation = make_escalation()
    first = await open_store(store_url)
    await first.record(escalation)
    await first.record(escalation)  # a retry after a lost acknowledgement
    await first.close()

    second = await open_store(store_url)
    try:
        assert await second.count_by_state() == {PENDING: 1, DELIVERED: 0}
        assert await second.get(escalation.escalation_id) is not None
    finally:
        await second.close()


async def test_claims_lease_each_record_to_one_owner(store) -> None:
    ids = {await store.record(make_escalation()) for _ in range(6)}

    a, b = await asyncio.gather(
        store.claim_due("owner-a", limit=4, lease_s=30),
        store.claim_due("owner-b", limit=4, lease_s=30),
    )
    claimed_a = {r.escalation_id for r in a}
    claimed_b = {r.escalation_id for r in b}
    assert not claimed_a & claimed_b
    assert claimed_a | claimed_b == ids
    assert all(r.attempts == 1 for r in a + b)
    # Everything is leased: nobody else gets anything until the leases run out.
    assert await store.claim_due("owner-c", limit=10) == []


async def test_expired_lease_is_claimable_again(store) -> None:
    escalation_id = await store.record(make_escalation())
    [first] = await store.claim_due("dead-owner", lease_s=0.2)
    assert first.escalation_id == escalation_id
    await asyncio.sleep(0.4)
    [again] = await store.claim_due("new-owner", lease_s=30)
    assert again.escalation_id == escalation_id and again.attempts == 2
    # The dead owner's late failure report must not reschedule the new owner's lease.
    await store.mark_failed(escalation_id, "dead-owner", error="late", retry_in_s=0)
    assert (await store.get(escalation_id)).lease_owner == "new-owner"


async def test_delivered_is_final_and_failed_is_rescheduled(store) -> None:
    ok_id = await store.record(make_escalation())
    failing_id = await store.record(make_escalation())
    await store.claim_due("me", lease_s=30)

    assert await store.mark_delivered(ok_id) is True
    assert await store.mark_delivered(ok_id) is False
    await store.mark_failed(failing_id, "me", error="HTTP 500", retry_in_s=0.3)

    assert await store.claim_due("me") == []  # failing one is backing off
    await asyncio.sleep(0.5)
    [retry] = await store.claim_due("me")
    assert retry.escalation_id == failing_id and retry.last_error == "HTTP 500"
    delivered = await store.get(ok_id)
    assert delivered.state == DELIVERED and delivered.delivered_at is not None
    assert await store.count_by_state() == {PENDING: 1, DELIVERED: 1}


async def test_release_leases_makes_records_due_at_once(store) -> None:
    await store.record(make_escalation())
    await store.claim_due("stopping", lease_s=60)
    assert await store.release_leases("stopping") == 1
    assert len(await store.claim_due("other")) == 1


async def test_bad_escalations_are_rejected(store) -> None:
    with pytest.raises(InvalidArgument, match="risk_level"):
        await store.record(make_escalation(risk_level=""))
    with pytest.raises(InvalidArgument, match="reasons"):
        await store.record(make_escalation(reasons=({"line": "x"},)))


async def test_postgres_store_reconnects_after_losing_its_connection(pg_schema_url: str) -> None:
    """A terminated backend (what a server restart looks like to the client) costs a retry,
    not an escalation."""
    import psycopg

    app = f"solace-test-{uuid.uuid4().hex[:8]}"
    store = await open_store(pg_schema_url, application_name=app)
    try:
        await store.record(make_escalation())
        with psycopg.connect(pg_schema_url.split("?")[0], autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (app,),
            ).fetchone()[0]
        assert killed == 1
        await store.record(make_escalation())
        assert (await store.count_by_state())[PENDING] == 2
    finally:
        await store.close()


def test_urls_choose_the_backend(tmp_path: Path) -> None:
    assert isinstance(store_for_url(f"sqlite:///{tmp_path}/a.db"), SqliteEscalationStore)
    assert store_for_url(f"sqlite:///{tmp_path}/a.db").path == tmp_path / "a.db"
    assert isinstance(store_for_url(str(tmp_path / "b.db")), SqliteEscalationStore)
    default = store_for_url("", models_dir=tmp_path / "models")
    assert default.path == tmp_path / "escalations.db" == default_sqlite_path(tmp_path / "models")

    pg = store_for_url("postgresql://u@db:5432/solace?schema=audit&sslmode=require")
    assert isinstance(pg, PostgresEscalationStore)
    assert pg.schema == "audit" and pg.url == "postgresql://u@db:5432/solace?sslmode=require"

    with pytest.raises(InvalidArgument):
        store_for_url("mysql://db/solace")
    with pytest.raises(InvalidArgument):
        store_for_url("sqlite:///:memory:")
