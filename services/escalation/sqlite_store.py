"""The embedded escalation store: one SQLite file in WAL mode (``services.escalation.store``
has the interface and ``open_store``)."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.common.errors import Unavailable
from services.escalation.store import (
    DELIVERED,
    PENDING,
    Escalation,
    EscalationRecord,
    EscalationStore,
    T,
    utcnow,
)

log = logging.getLogger(__name__)


def _ts(value: datetime) -> str:
    # Fixed-width UTC text so that SQLite compares timestamps correctly as strings.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_ts(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS escalations (
    escalation_id   TEXT PRIMARY KEY,
    request_id      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    risk_level      TEXT NOT NULL,
    reasons         TEXT NOT NULL,
    model_versions  TEXT NOT NULL,
    locale          TEXT NOT NULL DEFAULT '',
    api_key_name    TEXT NOT NULL DEFAULT '',
    message_text    TEXT,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_owner     TEXT,
    lease_until     TEXT,
    last_error      TEXT,
    delivered_at    TEXT
);
CREATE INDEX IF NOT EXISTS escalations_due ON escalations (state, next_attempt_at);
"""


class SqliteEscalationStore(EscalationStore):
    """The embedded store: one SQLite file in WAL mode, one transaction per record.

    ``synchronous=FULL`` because a committed escalation must survive a power cut, not only a
    process crash. Calls run in a worker thread under one lock; ``BEGIN IMMEDIATE`` makes
    claims atomic across processes sharing the file.
    """

    def __init__(self, path: str | Path, *, include_text: bool = False) -> None:
        self.path = Path(path)
        self.include_text = include_text
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        await asyncio.to_thread(self._open_sync)

    def _open_sync(self) -> None:
        with self._lock:
            if self._conn is not None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per call.
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.executescript(_SQLITE_SCHEMA)
            self._conn = conn

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            with self._lock:
                if self._conn is None:
                    raise Unavailable("escalation store is closed")
                try:
                    return fn(self._conn)
                except sqlite3.OperationalError as exc:
                    # Disk full, locked past the busy timeout, unreadable file: the store is down.
                    raise Unavailable(f"escalation store: {exc}") from exc

        if self._conn is None:
            await self.open()
        return await asyncio.to_thread(run)

    @staticmethod
    def _in_tx(conn: sqlite3.Connection, fn: Callable[[], T]) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def record(self, escalation: Escalation) -> str:
        escalation.validate()
        row = (
            escalation.escalation_id,
            escalation.request_id,
            _ts(escalation.created_at),
            escalation.risk_level,
            json.dumps(escalation.reason_dicts()),
            json.dumps(dict(escalation.model_versions)),
            escalation.locale,
            escalation.api_key_name,
            self._text_of(escalation),
            _ts(utcnow()),
        )

        def insert(conn: sqlite3.Connection) -> None:
            self._in_tx(
                conn,
                lambda: conn.execute(
                    "INSERT OR IGNORE INTO escalations (escalation_id, request_id, created_at,"
                    " risk_level, reasons, model_versions, locale, api_key_name, message_text,"
                    " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                ),
            )

        await self._call(insert)
        return escalation.escalation_id

    async def claim_due(
        self, owner: str, *, limit: int = 16, lease_s: float = 60.0
    ) -> list[EscalationRecord]:
        def claim(conn: sqlite3.Connection) -> list[EscalationRecord]:
            def body() -> list[EscalationRecord]:
                now = utcnow()
                ids = [
                    r[0]
                    for r in conn.execute(
                        "SELECT escalation_id FROM escalations WHERE state = 'pending'"
                        " AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)"
                        " ORDER BY next_attempt_at LIMIT ?",
                        (_ts(now), _ts(now), limit),
                    )
                ]
                until = _ts(now + timedelta(seconds=lease_s))
                conn.executemany(
                    "UPDATE escalations SET lease_owner = ?, lease_until = ?,"
                    " attempts = attempts + 1 WHERE escalation_id = ?",
                    [(owner, until, i) for i in ids],
                )
                return [self._get_sync(conn, i) for i in ids]  # type: ignore[misc]

            return self._in_tx(conn, body)

        return await self._call(claim)

    async def mark_delivered(self, escalation_id: str) -> bool:
        def mark(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE escalations SET state = 'delivered', delivered_at = ?, lease_owner = NULL,"
                " lease_until = NULL, last_error = NULL"
                " WHERE escalation_id = ? AND state = 'pending'",
                (_ts(utcnow()), escalation_id),
            )
            return cur.rowcount == 1

        return await self._call(mark)

    async def mark_failed(
        self, escalation_id: str, owner: str, *, error: str, retry_in_s: float
    ) -> None:
        def mark(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE escalations SET next_attempt_at = ?, lease_owner = NULL,"
                " lease_until = NULL, last_error = ?"
                " WHERE escalation_id = ? AND state = 'pending' AND lease_owner = ?",
                (
                    _ts(utcnow() + timedelta(seconds=retry_in_s)),
                    error[:500],
                    escalation_id,
                    owner,
                ),
            )

        await self._call(mark)

    async def release_leases(self, owner: str) -> int:
        def release(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE escalations SET lease_owner = NULL, lease_until = NULL"
                " WHERE lease_owner = ? AND state = 'pending'",
                (owner,),
            )
            return cur.rowcount

        return await self._call(release)

    @staticmethod
    def _get_sync(conn: sqlite3.Connection, escalation_id: str) -> EscalationRecord | None:
        row = conn.execute(
            "SELECT * FROM escalations WHERE escalation_id = ?", (escalation_id,)
        ).fetchone()
        if row is None:
            return None
        return EscalationRecord(
            escalation_id=row["escalation_id"],
            request_id=row["request_id"],
            created_at=_parse_ts(row["created_at"]),  # type: ignore[arg-type]
            risk_level=row["risk_level"],
            reasons=json.loads(row["reasons"]),
            model_versions=json.loads(row["model_versions"]),
            locale=row["locale"],
            api_key_name=row["api_key_name"],
            text=row["message_text"],
            state=row["state"],
            attempts=row["attempts"],
            next_attempt_at=_parse_ts(row["next_attempt_at"]),  # type: ignore[arg-type]
            last_error=row["last_error"],
            delivered_at=_parse_ts(row["delivered_at"]),
            lease_owner=row["lease_owner"],
        )

    async def get(self, escalation_id: str) -> EscalationRecord | None:
        return await self._call(lambda conn: self._get_sync(conn, escalation_id))

    async def count_by_state(self) -> dict[str, int]:
        def count(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute("SELECT state, count(*) FROM escalations GROUP BY state")
            return {PENDING: 0, DELIVERED: 0} | {r[0]: r[1] for r in rows}

        return await self._call(count)

    async def close(self) -> None:
        def close_sync() -> None:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        await asyncio.to_thread(close_sync)
