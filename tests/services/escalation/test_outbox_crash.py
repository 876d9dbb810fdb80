"""Nothing is lost and nothing is acted on twice when the deliverer is killed mid-delivery, or
when PostgreSQL restarts while escalations are being recorded and delivered."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from services.escalation.outbox import OutboxDeliverer
from services.escalation.store import DELIVERED, Escalation, Reason, open_store

REPO = Path(__file__).resolve().parents[3]


def escalation(i: int) -> Escalation:
    return Escalation(
        request_id=f"req-{i}",
        risk_level="IMMINENT",
        reasons=(Reason("plan_or_preparation", "risk_classifier", "IMMINENT"),),
        model_versions={"risk": "risk-minilm@1.0.0"},
    )


async def spawn_deliverer(store_url: str, webhook_url: str) -> asyncio.subprocess.Process:
    """``python -m services.escalation.outbox`` in its own process, one record at a time."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.escalation.outbox",
        "--store",
        store_url,
        "--webhook",
        webhook_url,
        "--batch-size",
        "1",
        "--timeout-s",
        "2",
        "--lease-s",
        "3",
        "--poll-interval-s",
        "0.1",
        "--backoff-base-s",
        "0.1",
        cwd=REPO,
        env=env,
    )


@pytest.mark.slow
async def test_sigkill_mid_delivery_loses_nothing_and_acts_once(
    store_url, webhook, wait_until
) -> None:
    store = await open_store(store_url)
    ids = [await store.record(escalation(i)) for i in range(5)]
    webhook.stall_after = 2  # two are acknowledged, the third hangs in the webhook

    first = await spawn_deliverer(store_url, webhook.url)
    try:
        await wait_until(lambda: len(webhook.requests) >= 3 and webhook.in_flight)
        in_flight_at_kill = set(webhook.in_flight)
        first.send_signal(signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
    delivered_before_kill = [i for i in ids if (await store.get(i)).state == DELIVERED]
    assert len(delivered_before_kill) == 2

    # The hung request now completes: the webhook acknowledges a delivery whose sender is dead,
    # so the delivered mark is never written (the documented window).
    webhook.release.set()

    second = await spawn_deliverer(store_url, webhook.url)
    try:
        await wait_until(lambda: len(webhook.processed) == 5 and not webhook.in_flight, timeout=30)

        async def all_marked() -> bool:
            return (await store.count_by_state())[DELIVERED] == 5

        for _ in range(200):
            if await all_marked():
                break
            await asyncio.sleep(0.05)
        assert await all_marked()
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 10) == 0
    finally:
        if second.returncode is None:
            second.kill()
            await second.wait()
        await store.close()

    # Every escalation reached the webhook and was acted on exactly once ...
    assert dict(webhook.processed) == {i: 1 for i in ids}
    # ... the ones acknowledged before the kill were never sent again, and only the one that
    # was in flight at the kill was sent twice (same Idempotency-Key, deduplicated).
    for i in delivered_before_kill:
        assert webhook.requests.count(i) == 1
    resent = {i for i in ids if webhook.requests.count(i) > 1}
    assert resent <= in_flight_at_kill


def _restart_postgres() -> None:
    versions = sorted(os.listdir("/etc/postgresql"))
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"],
        check=True,
        timeout=60,
    )


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("SOLACE_TEST_RESTART_POSTGRES") != "1",
    reason="restarts the machine's shared PostgreSQL; set SOLACE_TEST_RESTART_POSTGRES=1",
)
async def test_postgres_restart_during_delivery_loses_nothing(
    pg_schema_url, webhook, wait_until
) -> None:
    if shutil.which("pg_ctlcluster") is None or not os.path.isdir("/etc/postgresql"):
        pytest.skip("no local PostgreSQL cluster to restart")
    webhook.delay_s = 0.1  # slow enough that the restart lands mid-delivery
    store = await open_store(pg_schema_url, retry_for_s=60)
    ids = [await store.record(escalation(i)) for i in range(20)]
    outbox = OutboxDeliverer(
        store, webhook.url, batch_size=2, timeout_s=2, lease_s=4, backoff_base_s=0.1,
        poll_interval_s=0.1,
    )  # fmt: skip
    outbox.start()
    try:
        await wait_until(lambda: len(webhook.processed) >= 4)
        restart = asyncio.create_task(asyncio.to_thread(_restart_postgres))
        # The router keeps recording while the database restarts: record() waits it out.
        ids += [await store.record(escalation(100 + i)) for i in range(5)]
        await restart
        await wait_until(lambda: len(webhook.processed) == len(ids), timeout=60)
    finally:
        await outbox.stop()
    for _ in range(100):
        if (await store.count_by_state())[DELIVERED] == len(ids):
            break
        await asyncio.sleep(0.1)
    assert (await store.count_by_state())[DELIVERED] == len(ids)
    await store.close()
    assert dict(webhook.processed) == {i: 1 for i in ids}
