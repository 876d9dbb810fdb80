"""The audit store of escalations: one durable row per HIGH/IMMINENT verdict, written before the
reply is returned, and the delivery state the outbox works from.

This module holds the interface (``EscalationStore``), the record types, and ``open_store(url)``,
which picks a backend by URL scheme and migrates the schema on open. The backends have a module
each: ``sqlite_store`` (``SqliteEscalationStore``, the embedded default, one file) and
``postgres_store`` (``PostgresEscalationStore``, clusters, shared by every router replica).

A record holds ids, levels, reasons, model versions and timestamps. The seeker's message text is
stored only when the store is opened with ``include_text=True``: the audit trail does not need
it, and a leaked audit table then leaks no conversations.
"""

from __future__ import annotations

import abc
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from services.common.errors import InvalidArgument

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
    from services.escalation.postgres_store import PostgresEscalationStore
    from services.escalation.sqlite_store import SqliteEscalationStore

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
