"""Who may call, and how often: API-key authentication plus per-key rate limits, in one place
for both entry points (the grpc.aio interceptor's guard and the Ray Serve ingress)."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Sequence
from typing import Any

from services.common.auth import ApiKeyAuthenticator
from services.common.config import Settings
from services.common.ratelimit import check_request_size, open_rate_limiter

log = logging.getLogger("solace.access")

# The admitted key's name, for the handler of the same call (audit records carry it).
_KEY_NAME: contextvars.ContextVar[str] = contextvars.ContextVar("solace_key_name", default="")


class AccessControl:
    def __init__(self, settings: Settings) -> None:
        self._auth = (
            ApiKeyAuthenticator.from_file(settings.api_keys_file)
            if settings.api_keys_file
            else ApiKeyAuthenticator()
        )
        self._limiter = open_rate_limiter(settings, overrides=self._auth.rate_limits())
        self._max_request_bytes = settings.max_request_bytes
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
