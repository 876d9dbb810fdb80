"""The audit store of escalations: one durable row per HIGH/IMMINENT verdict, written before the
reply is returned, and the delivery state the outbox works from.

Two backends behind one interface: ``SqliteEscalationStore`` (the embedded default, one file) and
``PostgresEscalationStore`` (clusters, shared by every router replica). ``open_store(url)``
picks one by URL scheme and migrates the schema on open.

A record holds ids, levels, reasons, model versions and timestamps. The seeker's message text is
stored only when the store is opened with ``include_text=True``: the audit trail does not need
it, and a leaked audit table then leaks no conversations.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from services.common.errors import InvalidArgument, Unavailable

log = logging.getLogger(__name__)

PENDING = "pending"
DELIVERED = "delivered"

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a conversation was escalated: one screening line that fired."""

    # The C-SSRS line or policy rule, e.g. "suicidal_intent_with_method" (never seeker text).
    line: str
    # What found it, e.g. "risk_classifier", "lexicon", "output_screen".
    source: str
    # The risk level this line implies on its own.
    level: str

    def as_dict(self) -> dict[str, str]:
        return {"line": self.line, "source": self.source, "level": self.level}


@dataclass(frozen=True)
class Escalation:
    """What the router hands to ``EscalationStore.record``."""

    request_id: str
    risk_level: str
    reasons: Sequence[Reason | Mapping[str, Any]] = ()
    model_versions: Mapping[str, str] = field(default_factory=dict)
    locale: str = ""
    api_key_name: str = ""
    # The seeker's message; dropped unless the store was opened with include_text=True.
    text: str = ""
    escalation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=utcnow)

    def reason_dicts(self) -> list[dict[str, str]]:
        out = []
        for i, reason in enumerate(self.reasons):
            if isinstance(reason, Reason):
                out.append(reason.as_dict())
                continue
            try:
                out.append({k: str(reason[k]) for k in ("line", "source", "level")})
            except KeyError as exc:
                raise InvalidArgument(f"reasons[{i}]", f"missing {exc.args[0]!r}") from exc
        return out

    def validate(self) -> None:
        if not self.risk_level:
            raise InvalidArgument("risk_level", "required")
        try:
            uuid.UUID(self.escalation_id)
        except ValueError as exc:
            raise InvalidArgument("escalation_id", "must be a UUID") from exc
        if self.created_at.tzinfo is None:
            raise InvalidArgument("created_at", "must be timezone-aware")


@dataclass(frozen=True)
class EscalationRecord:
    """One stored escalation with its delivery state."""

    escalation_id: str
    request_id: str
    created_at: datetime
    risk_level: str
    reasons: list[dict[str, str]]
    model_versions: dict[str, str]
    locale: str
    api_key_name: str
    text: str | None
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None
    lease_owner: str | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON body sent to the operators' webhook."""
        body: dict[str, Any] = {
            "escalation_id": self.escalation_id,
            "request_id": self.request_id,
            "created_at": self.created_at.isoformat(),
            "risk_level": self.risk_level,
            "reasons": self.reasons,
            "model_versions": self.model_versions,
            "locale": self.locale,
            "api_key_name": self.api_key_name,
            "attempt": self.attempts,
        }
        if self.text is not None:
            body["text"] = self.text
        return body


class EscalationStore(abc.ABC):
    """Durable escalation records and their delivery state.

    Contract: ``record`` returns only after the row is committed (the router awaits it before
    replying) and is idempotent on ``escalation_id``. ``claim_due`` leases due pending records
    to one ``owner`` for ``lease_s`` seconds and counts the attempt; no other caller can claim
    a leased record until the lease runs out. ``mark_delivered`` is final: a delivered record is
    never claimed again. Methods are coroutines and never block the event loop.
    """

    include_text: bool = False

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and migrate the schema (CREATE ... IF NOT EXISTS). Idempotent."""

    @abc.abstractmethod
    async def record(self, escalation: Escalation) -> str:
        """Commit one escalation as pending delivery; returns its id."""

    @abc.abstractmethod
    async def claim_due(
        self, owner: str, *, limit: int = 16, lease_s: float = 60.0
    ) -> list[EscalationRecord]:
        """Lease up to ``limit`` pending records that are due and not leased."""

    @abc.abstractmethod
    async def mark_delivered(self, escalation_id: str) -> bool:
        """Mark delivered (after a 2xx). False if it already was."""

    @abc.abstractmethod
    async def mark_failed(
        self, escalation_id: str, owner: str, *, error: str, retry_in_s: float
    ) -> None:
        """Give the lease back and schedule the next attempt ``retry_in_s`` from now."""

    @abc.abstractmethod
    async def release_leases(self, owner: str) -> int:
        """Give back every lease ``owner`` holds (graceful stop), so others retry at once."""

    @abc.abstractmethod
    async def get(self, escalation_id: str) -> EscalationRecord | None: ...

    @abc.abstractmethod
    async def count_by_state(self) -> dict[str, int]: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> EscalationStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _text_of(self, escalation: Escalation) -> str | None:
        return escalation.text if self.include_text else None


# ---------------------------------------------------------------------------------------------
# SQLite


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


# ---------------------------------------------------------------------------------------------
# PostgreSQL


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


# ---------------------------------------------------------------------------------------------
# Choosing a store


def default_sqlite_path(models_dir: str | Path) -> Path:
    """``<models_dir>/../escalations.db``: beside the models, outside any model version."""
    return Path(models_dir).expanduser().resolve().parent / "escalations.db"


def _split_schema(url: str) -> tuple[str, str | None]:
    """Take Solace's own ``schema=`` query parameter off a PostgreSQL URL (libpq rejects it)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema or None


def store_for_url(
    url: str = "",
    *,
    models_dir: str | Path | None = None,
    include_text: bool = False,
    **options: Any,
) -> EscalationStore:
    """The store a URL names, not yet opened.

    ``""``: SQLite at ``default_sqlite_path(models_dir)`` (``models_dir`` from the settings when
    not given). ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (SQLAlchemy's
    convention) or a bare path: SQLite. ``postgresql://...`` / ``postgres://...``: PostgreSQL,
    with an optional ``?schema=name`` to keep the table in its own schema.
    """
    if not url:
        if models_dir is None:
            from services.common.config import load_settings

            models_dir = load_settings().models_dir
        return SqliteEscalationStore(default_sqlite_path(models_dir), include_text=include_text)
    scheme = url.split(":", 1)[0].lower() if "://" in url else ""
    if scheme in ("postgresql", "postgres"):
        dsn, schema = _split_schema(url)
        return PostgresEscalationStore(
            dsn, schema=options.pop("schema", None) or schema, include_text=include_text, **options
        )
    if scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path or path == ":memory:":
            raise InvalidArgument("escalation_store_url", "sqlite URL needs a file path")
        return SqliteEscalationStore(path, include_text=include_text)
    if scheme:
        raise InvalidArgument("escalation_store_url", f"unsupported scheme {scheme!r}")
    return SqliteEscalationStore(url, include_text=include_text)


async def open_store(
    url: str = "",
    *,
    models_dir: str | Path | None = None,
    include_text: bool = False,
    **options: Any,
) -> EscalationStore:
    """``store_for_url`` + ``open()``: connected, schema migrated, ready to ``record``."""
    store = store_for_url(url, models_dir=models_dir, include_text=include_text, **options)
    await store.open()
    return store
