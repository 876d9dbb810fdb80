"""Who may call, and how often: API-key authentication plus per-key rate limits, in one place
for both entry points (the grpc.aio interceptor's guard and the Ray Serve ingress)."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Sequence
from typing import Any

from services.common.auth import (
    INTERNAL_KEY_NAME,
    ApiKey,
    ApiKeyAuthenticator,
    hash_key,
    read_key_file,
)
from services.common.config import AccessSettings
from services.common.errors import InvalidArgument
from services.common.ratelimit import check_request_size, open_rate_limiter

log = logging.getLogger("solace.access")

# The admitted key's name, for the handler of the same call (audit records carry it).
_KEY_NAME: contextvars.ContextVar[str] = contextvars.ContextVar("solace_key_name", default="")


class AccessControl:
    """``accept_internal``: also admit the internal key of ``access.internal_api_key_file``
    (what the standalone Support router sends to the standalone services; docs/safety.md,
    "Access and limits"). It is admitted as ``INTERNAL_KEY_NAME`` and draws on no rate limit
    (the router has already limited the partner whose request it is), unless its hash is in
    the keys file, where that entry's name and limits apply. With no keys configured access
    stays open: the internal key alone never closes a server."""

    def __init__(self, access: AccessSettings, *, accept_internal: bool = False) -> None:
        self._auth = (
            ApiKeyAuthenticator.from_file(access.api_keys_file)
            if access.api_keys_file
            else ApiKeyAuthenticator()
        )
        self._unlimited = ""
        if accept_internal and access.internal_api_key_file and not self._auth.is_open:
            digest = hash_key(
                read_key_file("SOLACE_INTERNAL_API_KEY_FILE", access.internal_api_key_file)
            )
            if INTERNAL_KEY_NAME in self._auth.names:
                raise InvalidArgument(
                    "SOLACE_API_KEYS_FILE",
                    f"the name {INTERNAL_KEY_NAME!r} is kept for the internal key",
                )
            if not self._auth.knows(digest):
                self._auth = self._auth.accepting(ApiKey(INTERNAL_KEY_NAME, digest))
                self._unlimited = INTERNAL_KEY_NAME
        self._limiter = open_rate_limiter(access, overrides=self._auth.rate_limits())
        self._max_request_bytes = access.max_request_bytes
        if self._auth.is_open:
            log.warning("running OPEN: no API keys configured (set SOLACE_API_KEYS_FILE)")

    @property
    def is_open(self) -> bool:
        return self._auth.is_open

    async def admit(
        self, metadata: Sequence[tuple[str, Any]] | None, request_bytes: int | None = None
    ) -> str:
        """The caller's key name; raises Unauthenticated or ResourceExhausted."""
        name = self._auth.authenticate(metadata)
        if request_bytes is not None:
            check_request_size(request_bytes, self._max_request_bytes)
        if name != self._unlimited:
            await self._limiter.check(name)
        _KEY_NAME.set(name)
        return name

    async def guard(self, details: Any) -> None:
        """Guard for ``services.common.server.start_server``."""
        await self.admit(details.invocation_metadata)

    async def close(self) -> None:
        await self._limiter.close()


def key_name_of(context: Any = None) -> str:
    """The key name the guard admitted for the current call ("" when none ran)."""
    return _KEY_NAME.get()
