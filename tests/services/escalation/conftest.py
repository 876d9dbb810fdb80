"""Fixtures for the escalation tests: a real PostgreSQL schema per test (dropped afterwards), a
SQLite file, and a real aiohttp webhook on an ephemeral port that remembers every request.

PostgreSQL is expected at ``SOLACE_TEST_POSTGRES_URL`` (default 127.0.0.1:5432, database
``test``). Absent, the tests fail on CI (``CI`` set) and skip elsewhere, saying why.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from services.escalation.store import EscalationStore, open_store

PG_URL = os.environ.get("SOLACE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _missing(service: str, exc: Exception) -> None:
    message = (
        f"{service} is not reachable ({type(exc).__name__}: {exc}); start it as "
        "/work/shared/docs/ENVIRONMENT.md 'Services on the machine' says"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL store URL with a schema of its own, dropped when the test ends."""
    psycopg = pytest.importorskip("psycopg")
    schema = f"solace_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_URL, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        _missing("PostgreSQL", exc)
    yield f"{PG_URL}?schema={schema}"
    with psycopg.connect(PG_URL, connect_timeout=10, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs against both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'escalations.db'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[EscalationStore]:
    s = await open_store(store_url, application_name=f"solace-test-{uuid.uuid4().hex[:8]}")
    yield s
    await s.close()


class Webhook:
    """An operator webhook that dedups by ``Idempotency-Key``, as the contract asks.

    ``requests`` lists the key of every request that arrived (duplicates included);
    ``processed`` counts how often each key was acted on (at most once, by dedup);
    ``statuses`` are answered, in order, before the webhook starts acknowledging;
    requests past ``stall_after`` wait until ``release`` is set.
    """

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.bodies: dict[str, dict] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.processed: Counter[str] = Counter()
        self.statuses: list[int] = []
        self.stall_after: int | None = None
        self.delay_s = 0.0
        self.release = asyncio.Event()
        self.in_flight: set[str] = set()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        body = await request.json()
        self.requests.append(key)
        self.bodies[key] = body
        self.headers[key] = dict(request.headers)
        self.in_flight.add(key)
        try:
            if self.stall_after is not None and len(self.requests) > self.stall_after:
                await self.release.wait()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.statuses:
                return web.Response(status=self.statuses.pop(0))
            if key not in self.processed:
                self.processed[key] += 1
            return web.json_response({"ok": True})
        finally:
            self.in_flight.discard(key)


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/escalations", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hook.url = f"http://127.0.0.1:{port}/escalations"
    yield hook
    hook.release.set()
    await runner.cleanup()


async def _wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
def wait_until() -> Callable[..., object]:
    """``await wait_until(lambda: cond, timeout)``: poll until true, fail after the timeout."""
    return _wait_until
