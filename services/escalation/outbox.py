"""The outbox: delivers every stored escalation to the operators' webhook, with retries.

All delivery state lives in the store, so a deliverer can die at any moment and the next one
(after a restart, or on another replica) carries on. Each pass claims due records under a lease,
POSTs each as JSON with an ``Idempotency-Key: <escalation_id>`` header, and marks it delivered
right after a 2xx; a failure schedules the next attempt with exponential backoff and jitter.
Retries never stop: an escalation is not dropped because the webhook was down for a day.

Guarantee: at-least-once to the network, exactly-once to a webhook that acknowledged. Once the
delivered mark is committed the record is never sent again. The one remaining window is a crash
(or a lost database) between the webhook's 2xx and that commit: the record is then sent again
when its lease runs out, with the same ``Idempotency-Key``, so a webhook that remembers the keys
it acknowledged (as the operator webhook contract requires) acts on it once. A lease longer than
the HTTP timeout keeps two replicas from sending one record concurrently.

Run on its own: ``python -m services.escalation.outbox --store URL --webhook URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import uuid
from collections.abc import Mapping
from typing import Any

import aiohttp

from services.common.config import EscalationSettings, Settings, load_settings
from services.common.errors import InvalidArgument, SolaceError
from services.escalation.store import EscalationRecord, EscalationStore, open_store

log = logging.getLogger(__name__)


class OutboxDeliverer:
    """Background delivery of pending escalations from ``store`` to ``webhook_url``.

    ``start()``/``stop()`` run it as an asyncio task beside the router; ``run_once()`` does one
    pass (tests, cron-style use); ``wake()`` makes the loop look now instead of at the next poll,
    so the router can call it right after ``record``.
    """

    def __init__(
        self,
        store: EscalationStore,
        webhook_url: str,
        *,
        owner: str | None = None,
        batch_size: int = 16,
        timeout_s: float = 10.0,
        lease_s: float = 60.0,
        poll_interval_s: float = 1.0,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 300.0,
        headers: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not webhook_url.startswith(("http://", "https://")):
            raise InvalidArgument("escalation_webhook_url", "must be an http(s) URL")
        if lease_s <= timeout_s:
            # A lease shorter than one attempt would let a second replica send the same record
            # while the first is still waiting for the webhook's answer.
            raise InvalidArgument("escalation_lease_s", "must be longer than the HTTP timeout")
        self.store = store
        self.webhook_url = webhook_url
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.lease_s = lease_s
        self.poll_interval_s = poll_interval_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.headers = dict(headers or {})
        self._rng = rng or random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    @classmethod
    def from_settings(
        cls, store: EscalationStore, escalation: EscalationSettings, **kwargs: Any
    ) -> OutboxDeliverer:
        """From the escalation section of the settings; ``kwargs`` (``owner``,
        ``batch_size``, ``headers``, ``rng``) go to the constructor as they are."""
        return cls(
            store,
            escalation.webhook_url,
            timeout_s=escalation.timeout_s,
            lease_s=escalation.lease_s,
            poll_interval_s=escalation.poll_interval_s,
            backoff_base_s=escalation.backoff_base_s,
            backoff_max_s=escalation.backoff_max_s,
            **kwargs,
        )

    def backoff_s(self, attempts: int) -> float:
        """Delay before attempt ``attempts + 1``: exponential, capped, with equal jitter (half
        fixed, half random) so a webhook coming back is not hit by every record at once."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, attempts - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
        return self._session

    async def _deliver(self, record: EscalationRecord) -> bool:
        session = await self._http()
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": record.escalation_id,
        }
        error: str
        try:
            async with session.post(
                self.webhook_url, json=record.payload(), headers=headers
            ) as response:
                if 200 <= response.status < 300:
                    delivered = True
                else:
                    delivered = False
                    error = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            delivered = False
            error = f"{type(exc).__name__}: {exc}"[:300]
        if delivered:
            # Written right after the 2xx: from here on the record is never sent again.
            await self.store.mark_delivered(record.escalation_id)
            log.info("escalation %s delivered (attempt %d)", record.escalation_id, record.attempts)
            return True
        delay = self.backoff_s(record.attempts)
        await self.store.mark_failed(
            record.escalation_id, self.owner, error=error, retry_in_s=delay
        )
        log.warning(
            "escalation %s not delivered (attempt %d: %s); next try in %.1fs",
            record.escalation_id,
            record.attempts,
            error,
            delay,
        )
        return False

    async def run_once(self) -> int:
        """Claim one batch of due records and try each once; returns how many were delivered."""
        records = await self.store.claim_due(
            self.owner, limit=self.batch_size, lease_s=self.lease_s
        )
        if not records:
            return 0
        # return_exceptions: one record's store error must not orphan the others mid-delivery.
        results = await asyncio.gather(*(self._deliver(r) for r in records), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sum(1 for result in results if result is True)

    async def drain(self, *, max_passes: int = 100) -> int:
        """Run passes until nothing due is left (tests and one-shot runs)."""
        total = 0
        for _ in range(max_passes):
            records_before = total
            total += await self.run_once()
            if total == records_before:
                break
        return total

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        store_errors = 0
        while not self._stopping:
            try:
                delivered = await self.run_once()
                store_errors = 0
            except SolaceError as exc:
                # The store is down (Unavailable after its own reconnect attempts): wait and
                # try again; every record is still in the store.
                store_errors += 1
                delay = min(self.backoff_max_s, self.poll_interval_s * 2**store_errors)
                log.error("escalation outbox: store unavailable (%s); retry in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            if delivered >= self.batch_size:
                continue  # a full batch: more may be due right now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
            self._wake.clear()

    def start(self) -> None:
        """Start the background loop on the running event loop."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name="escalation-outbox"
            )
            log.info("escalation outbox started (owner %s)", self.owner)

    async def stop(self) -> None:
        """Stop the loop, close HTTP, and hand back leases so another deliverer retries now."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        with contextlib.suppress(SolaceError):
            await self.store.release_leases(self.owner)


def settings_from_args(args: argparse.Namespace, base: Settings | None = None) -> Settings:
    """``load_settings()`` (defaults < ``SOLACE_CONFIG_FILE`` < ``SOLACE_*``) with the flags
    given on the command line on top."""
    settings = load_settings() if base is None else base
    flags = {
        "escalation_store_url": args.store,
        "escalation_webhook_url": args.webhook,
        "escalation_timeout_s": args.timeout_s,
        "escalation_lease_s": args.lease_s,
        "escalation_poll_interval_s": args.poll_interval_s,
        "escalation_backoff_base_s": args.backoff_base_s,
        "escalation_backoff_max_s": args.backoff_max_s,
    }
    return settings.with_overrides(**{k: v for k, v in flags.items() if v is not None})


async def _main(settings: Settings, *, batch_size: int, once: bool) -> None:
    store = await open_store(
        settings.escalation.store_url,
        models_dir=settings.models_dir,
        include_text=settings.escalation.include_text,
    )
    deliverer = OutboxDeliverer.from_settings(store, settings.escalation, batch_size=batch_size)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if once:
            await deliverer.drain()
            return
        deliverer.start()
        await stop.wait()
    finally:
        await deliverer.stop()
        await store.close()


def main(argv: list[str] | None = None) -> None:
    """Flags override the settings (``load_settings()``: ``SOLACE_ESCALATION_*`` variables and
    ``SOLACE_CONFIG_FILE``); a flag left out keeps the setting."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="escalation_store_url (SOLACE_ESCALATION_STORE_URL)")
    parser.add_argument(
        "--webhook", help="escalation_webhook_url (SOLACE_ESCALATION_WEBHOOK_URL); required"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--timeout-s", type=float, help="escalation_timeout_s")
    parser.add_argument("--lease-s", type=float, help="escalation_lease_s")
    parser.add_argument("--poll-interval-s", type=float, help="escalation_poll_interval_s")
    parser.add_argument("--backoff-base-s", type=float, help="escalation_backoff_base_s")
    parser.add_argument("--backoff-max-s", type=float, help="escalation_backoff_max_s")
    parser.add_argument("--once", action="store_true", help="deliver what is due, then exit")
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    if not settings.escalation.webhook_url:
        parser.error("--webhook (or SOLACE_ESCALATION_WEBHOOK_URL) is required")
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    asyncio.run(_main(settings, batch_size=args.batch_size, once=args.once))


if __name__ == "__main__":
    main()
