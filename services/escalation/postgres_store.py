"""The cluster escalation store: PostgreSQL, shared by every router replica and deliverer
(``services.escalation.store`` has the interface and ``open_store``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from services.common.errors import Unavailable
from services.escalation.store import (
    DELIVERED,
    PENDING,
    Escalation,
    EscalationRecord,
    EscalationStore,
    T,
)

log = logging.getLogger(__name__)


class PostgresEscalationStore(EscalationStore):
    """The cluster store: PostgreSQL shared by every router replica and deliverer.

    One autocommit connection, one statement per operation, so each ``record`` is its own
    committed transaction. A lost connection (server restart, failover, network) is reopened
    and the operation retried for up to ``retry_for_s`` seconds before ``Unavailable`` is
    raised; every operation is idempotent, so a retry after an unacknowledged commit is safe.
    Claims use ``FOR UPDATE SKIP LOCKED`` plus a lease, so replicas never send a record at once.
    """

    _MIGRATION_LOCK = 0x501ACE  # pg_advisory_xact_lock key: one migrator at a time

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        include_text: bool = False,
        application_name: str = "solace-escalations",
        retry_for_s: float = 15.0,
        connect_timeout_s: int = 5,
    ) -> None:
        import psycopg  # noqa: F401  (fail at construction, not at the first escalation)
        from psycopg import sql

        self.url = url
        self.schema = schema
        self.include_text = include_text
        self.application_name = application_name
        self.retry_for_s = retry_for_s
        self.connect_timeout_s = connect_timeout_s
        self._conn: Any = None
        self._lock = asyncio.Lock()
        self._closed = False
        table = sql.Identifier(schema, "escalations") if schema else sql.Identifier("escalations")
        self._sql = {name: sql.SQL(text).format(table=table) for name, text in _PG_QUERIES.items()}
        self._schema_sql = (
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            if schema
            else None
        )

    async def _connect(self) -> Any:
        import psycopg
        from psycopg.rows import dict_row

        conn = await psycopg.AsyncConnection.connect(
            self.url,
            autocommit=True,
            row_factory=dict_row,
            application_name=self.application_name,
            connect_timeout=self.connect_timeout_s,
        )
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._MIGRATION_LOCK,))
                if self._schema_sql is not None:
                    await conn.execute(self._schema_sql)
                await conn.execute(self._sql["create_table"])
                await conn.execute(self._sql["create_index"])
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _run(self, op: Callable[[Any], Awaitable[T]]) -> T:
        import psycopg

        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_for_s
        delay = 0.1
        async with self._lock:
            while True:
                if self._closed:
                    raise Unavailable("escalation store is closed")
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = await self._connect()
                    return await op(self._conn)
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    await self._drop()
                    if loop.time() + delay > deadline:
                        raise Unavailable(f"escalation store: {type(exc).__name__}") from exc
                    log.warning(
                        "escalation store connection lost (%s); retrying in %.1fs",
                        type(exc).__name__,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # The connection is already broken; closing it can fail and there is nothing to save.
            with contextlib.suppress(Exception):
                await conn.close()

    async def open(self) -> None:
        async def noop(conn: Any) -> None:
            return None

        await self._run(noop)

    async def _fetch(self, name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        async def op(conn: Any) -> list[dict[str, Any]]:
            cur = await conn.execute(self._sql[name], params)
            return await cur.fetchall() if cur.description else []

        return await self._run(op)

    async def _rowcount(self, name: str, params: Mapping[str, Any]) -> int:
        async def op(conn: Any) -> int:
            cur = await conn.execute(self._sql[name], params)
            return cur.rowcount

        return await self._run(op)

    async def record(self, escalation: Escalation) -> str:
        from psycopg.types.json import Jsonb

        escalation.validate()
        await self._rowcount(
            "insert",
            {
                "escalation_id": escalation.escalation_id,
                "request_id": escalation.request_id,
                "created_at": escalation.created_at,
                "risk_level": escalation.risk_level,
                "reasons": Jsonb(escalation.reason_dicts()),
                "model_versions": Jsonb(dict(escalation.model_versions)),
                "locale": escalation.locale,
                "api_key_name": escalation.api_key_name,
                "message_text": self._text_of(escalation),
            },
        )
        return escalation.escalation_id

    async def claim_due(
        self, owner: str, *, limit: int = 16, lease_s: float = 60.0
    ) -> list[EscalationRecord]:
        rows = await self._fetch("claim", {"owner": owner, "limit": limit, "lease_s": lease_s})
        return sorted((_pg_record(r) for r in rows), key=lambda r: r.next_attempt_at)

    async def mark_delivered(self, escalation_id: str) -> bool:
        return await self._rowcount("delivered", {"escalation_id": escalation_id}) == 1

    async def mark_failed(
        self, escalation_id: str, owner: str, *, error: str, retry_in_s: float
    ) -> None:
        await self._rowcount(
            "failed",
            {
                "escalation_id": escalation_id,
                "owner": owner,
                "error": error[:500],
                "retry_in_s": retry_in_s,
            },
        )

    async def release_leases(self, owner: str) -> int:
        return await self._rowcount("release", {"owner": owner})

    async def get(self, escalation_id: str) -> EscalationRecord | None:
        rows = await self._fetch("get", {"escalation_id": escalation_id})
        return _pg_record(rows[0]) if rows else None

    async def count_by_state(self) -> dict[str, int]:
        rows = await self._fetch("count", {})
        return {PENDING: 0, DELIVERED: 0} | {r["state"]: r["n"] for r in rows}

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            await self._drop()


def _pg_record(row: Mapping[str, Any]) -> EscalationRecord:
    return EscalationRecord(
        escalation_id=row["escalation_id"],
        request_id=row["request_id"],
        created_at=row["created_at"],
        risk_level=row["risk_level"],
        reasons=row["reasons"],
        model_versions=row["model_versions"],
        locale=row["locale"],
        api_key_name=row["api_key_name"],
        text=row["message_text"],
        state=row["state"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
        lease_owner=row["lease_owner"],
    )


_PG_QUERIES = {
    "create_table": """
        CREATE TABLE IF NOT EXISTS {table} (
            escalation_id   TEXT PRIMARY KEY,
            request_id      TEXT NOT NULL,
            created_at      TIMESTAMPTZ NOT NULL,
            risk_level      TEXT NOT NULL,
            reasons         JSONB NOT NULL,
            model_versions  JSONB NOT NULL,
            locale          TEXT NOT NULL DEFAULT '',
            api_key_name    TEXT NOT NULL DEFAULT '',
            message_text    TEXT,
            state           TEXT NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'delivered')),
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            lease_owner     TEXT,
            lease_until     TIMESTAMPTZ,
            last_error      TEXT,
            delivered_at    TIMESTAMPTZ
        )""",
    "create_index": """
        CREATE INDEX IF NOT EXISTS escalations_due ON {table} (next_attempt_at)
        WHERE state = 'pending'""",
    # ON CONFLICT DO NOTHING: a retry after a commit whose acknowledgement was lost is a no-op.
    "insert": """
        INSERT INTO {table} (escalation_id, request_id, created_at, risk_level, reasons,
                             model_versions, locale, api_key_name, message_text)
        VALUES (%(escalation_id)s, %(request_id)s, %(created_at)s, %(risk_level)s, %(reasons)s,
                %(model_versions)s, %(locale)s, %(api_key_name)s, %(message_text)s)
        ON CONFLICT (escalation_id) DO NOTHING""",
    # Server time (now()) for every lease and schedule, so replicas' clocks never disagree.
    "claim": """
        UPDATE {table} SET lease_owner = %(owner)s,
                           lease_until = now() + make_interval(secs => %(lease_s)s),
                           attempts = attempts + 1
        WHERE escalation_id IN (
            SELECT escalation_id FROM {table}
            WHERE state = 'pending' AND next_attempt_at <= now()
              AND (lease_until IS NULL OR lease_until <= now())
            ORDER BY next_attempt_at
            LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED)
        RETURNING *""",
    "delivered": """
        UPDATE {table} SET state = 'delivered', delivered_at = now(), lease_owner = NULL,
                           lease_until = NULL, last_error = NULL
        WHERE escalation_id = %(escalation_id)s AND state = 'pending'""",
    "failed": """
        UPDATE {table} SET next_attempt_at = now() + make_interval(secs => %(retry_in_s)s),
                           lease_owner = NULL, lease_until = NULL, last_error = %(error)s
        WHERE escalation_id = %(escalation_id)s AND state = 'pending'
          AND lease_owner = %(owner)s""",
    "release": """
        UPDATE {table} SET lease_owner = NULL, lease_until = NULL
        WHERE lease_owner = %(owner)s AND state = 'pending'""",
    "get": "SELECT * FROM {table} WHERE escalation_id = %(escalation_id)s",
    "count": "SELECT state, count(*) AS n FROM {table} GROUP BY state",
}
