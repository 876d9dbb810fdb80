"""Per-key limits: a token bucket per API key name, and the request size limit.

``InProcessRateLimiter`` keeps buckets in this process (the embedded default).
``RedisRateLimiter`` keeps them in Redis so every router replica draws on one quota; the refill
and take happen in one Lua script, so concurrent replicas cannot both spend the last token.
``open_rate_limiter(settings.access)`` picks by whether ``redis_url`` (``SOLACE_REDIS_URL``) is set.

``check(key_name)`` returns when the call may go on and raises ``RateLimited`` (a
``ResourceExhausted``, so RESOURCE_EXHAUSTED) with ``retry_after_s`` when it may not.
No transport imports: a gRPC interceptor or the Ray Serve router calls it directly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Protocol

from services.common.config import AccessSettings
from services.common.errors import ResourceExhausted

log = logging.getLogger(__name__)


class RateLimited(ResourceExhausted):
    """Over quota; ``retry_after_s`` says when one token will be back."""

    def __init__(self, key_name: str, retry_after_s: float) -> None:
        super().__init__(
            f"rate limit exceeded for key {key_name!r}; retry after {retry_after_s:.2f}s"
        )
        self.key_name = key_name
        self.retry_after_s = retry_after_s


class RateLimiter(Protocol):
    async def check(self, key_name: str) -> None: ...

    async def close(self) -> None: ...


Overrides = Mapping[str, tuple[float, int]]


class _Limits:
    """The (rate, burst) that applies to each key name."""

    def __init__(self, rate_per_s: float, burst: int, overrides: Overrides | None) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.default = (float(rate_per_s), int(burst))
        self.overrides = {k: (float(r), int(b)) for k, (r, b) in (overrides or {}).items()}

    def __call__(self, key_name: str) -> tuple[float, int]:
        return self.overrides.get(key_name, self.default)


class InProcessRateLimiter:
    """Token buckets in this process's memory: one per key name."""

    def __init__(self, rate_per_s: float, burst: int, *, overrides: Overrides | None = None):
        self._limits = _Limits(rate_per_s, burst, overrides)
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, at)
        # A threading lock, not an asyncio one: the check is a few arithmetic operations and
        # the same limiter may serve threads (sync servers) as well as event loops.
        self._lock = threading.Lock()

    def try_acquire(self, key_name: str, *, now: float | None = None) -> float:
        """Take one token; returns 0.0 on success, else seconds until one is available."""
        rate, burst = self._limits(key_name)
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.get(key_name, (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * rate)
            if tokens >= 1.0:
                self._buckets[key_name] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_name] = (tokens, now)
            return (1.0 - tokens) / rate

    async def check(self, key_name: str) -> None:
        wait = self.try_acquire(key_name)
        if wait > 0:
            raise RateLimited(key_name, wait)

    async def close(self) -> None:
        return None


# KEYS[1]: the bucket; ARGV: rate per second, burst. Redis's own clock (TIME) is used so that
# replicas with skewed clocks still share one consistent bucket. Returns {allowed, wait_ms}.
_TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, wait_ms}
"""


class RedisRateLimiter:
    """Token buckets in Redis, shared by every process that uses the same ``prefix``.

    When Redis cannot be reached the limiter falls back to in-process buckets (each replica
    then enforces the quota on its own) rather than turning partners away: a broken cache must
    not take the support line down. The fallback is logged.
    """

    def __init__(
        self,
        redis_url: str,
        rate_per_s: float,
        burst: int,
        prefix: str = "solace:ratelimit",
        *,
        overrides: Overrides | None = None,
        timeout_s: float = 0.5,
    ) -> None:
        import redis.asyncio as aioredis

        self._limits = _Limits(rate_per_s, burst, overrides)
        self.prefix = prefix
        self._client = aioredis.from_url(
            redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._script = self._client.register_script(_TOKEN_BUCKET_LUA)
        self._fallback = InProcessRateLimiter(rate_per_s, burst, overrides=overrides)
        self._degraded = False

    async def check(self, key_name: str) -> None:
        import redis

        rate, burst = self._limits(key_name)
        try:
            allowed, wait_ms = await self._script(
                keys=[f"{self.prefix}:{key_name}"], args=[rate, burst]
            )
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if not self._degraded:
                log.error("rate limiter: Redis unreachable (%s); limiting per process", exc)
                self._degraded = True
            await self._fallback.check(key_name)
            return
        if self._degraded:
            log.warning("rate limiter: Redis reachable again; shared limits restored")
            self._degraded = False
        if not allowed:
            raise RateLimited(key_name, int(wait_ms) / 1000)

    async def close(self) -> None:
        await self._client.aclose()


class NoRateLimit:
    """Limits turned off (``rate_limit_per_s`` = 0)."""

    async def check(self, key_name: str) -> None:
        return None

    async def close(self) -> None:
        return None


def open_rate_limiter(access: AccessSettings, *, overrides: Overrides | None = None) -> RateLimiter:
    """The limiter the settings ask for: Redis-shared when ``redis_url`` is set, else in-process;
    none when ``rate_limit_per_s`` is 0.

    ``access``: ``load_settings().access`` (``SOLACE_RATE_LIMIT_PER_S``,
    ``SOLACE_RATE_LIMIT_BURST``, ``SOLACE_RATE_LIMIT_PREFIX``, ``SOLACE_REDIS_URL``);
    ``overrides``: per-key (rate, burst), e.g. ``ApiKeyAuthenticator.rate_limits()``.
    """
    rate = float(access.rate_limit_per_s)
    burst = int(access.rate_limit_burst)
    if rate <= 0:
        return NoRateLimit()
    if access.redis_url:
        return RedisRateLimiter(
            access.redis_url, rate, burst, access.rate_limit_prefix, overrides=overrides
        )
    return InProcessRateLimiter(rate, burst, overrides=overrides)


def message_size_options(max_request_bytes: int) -> list[tuple[str, int]]:
    """grpc server options enforcing the request size limit (pass as ``options=``)."""
    return [("grpc.max_receive_message_length", int(max_request_bytes))]


def check_request_size(size_bytes: int, max_request_bytes: int) -> None:
    """For entry points whose transport does not enforce the limit (the Ray Serve ingress):
    raise ``ResourceExhausted`` as gRPC itself would for an oversized message."""
    if size_bytes > max_request_bytes:
        raise ResourceExhausted(
            f"request of {size_bytes} bytes exceeds the limit of {max_request_bytes} bytes"
        )


__all__ = [
    "InProcessRateLimiter",
    "NoRateLimit",
    "RateLimited",
    "RateLimiter",
    "RedisRateLimiter",
    "check_request_size",
    "message_size_options",
    "open_rate_limiter",
]
