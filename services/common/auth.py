"""API-key authentication, transport-free: a grpc.aio interceptor and the Ray Serve router both
pass the call's metadata to ``ApiKeyAuthenticator.authenticate`` and get the key's name back.

Keys are kept as SHA-256 hashes only (a leaked key file grants nothing), in a YAML or JSON file
named by ``SOLACE_API_KEYS_FILE``::

    keys:
      - {name: partner-a, sha256: 9f86d0...}
      - {name: partner-a, sha256: 60303a...}   # a second key under one name: rotation
      - {name: ops, sha256: fd61a0..., rate_per_s: 50, burst: 100}

A key is presented as ``x-api-key: <key>`` or ``authorization: Bearer <key>``. With no keys
configured the authenticator is *open* (the local embedded default): every call passes as
``OPEN_KEY_NAME`` and the server must say so at start.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.common.config import AccessSettings
from services.common.errors import InvalidArgument, Unauthenticated

API_KEY_HEADER = "x-api-key"
OPEN_KEY_NAME = "anonymous"
# The name the standalone services admit the internal key under (``internal_api_key_file``).
INTERNAL_KEY_NAME = "solace-internal"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def hash_key(key: str) -> str:
    """SHA-256 hex digest of a key: what goes in the keys file (``solace keys hash <key>``).

    A plain hash, not a slow password hash: keys are long random strings (``generate_key``),
    so there is nothing to brute-force, and every request must be cheap to check.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def read_key_file(setting: str, path: str | Path) -> str:
    """The key held in ``path`` (a mounted Secret: the key alone, surrounding whitespace
    ignored); raises ``InvalidArgument`` naming ``setting`` when it is unreadable or empty."""
    try:
        key = Path(path).read_text().strip()
    except OSError as exc:
        raise InvalidArgument(setting, f"cannot read {path}: {exc}") from exc
    if not key or any(c.isspace() for c in key):
        raise InvalidArgument(setting, f"{path} must hold one key and nothing else")
    return key


def generate_key() -> str:
    """A new random API key (256 bits, URL-safe) to hand to a partner."""
    return "sk_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ApiKey:
    """One configured key: its name (for quotas, logs and audit records) and hash."""

    name: str
    sha256: str
    # Per-key rate limit overriding the default; None means the default.
    rate_per_s: float | None = None
    burst: int | None = None


class ApiKeyAuthenticator:
    """Checks presented API keys against configured hashes."""

    def __init__(self, keys: Iterable[ApiKey] = ()) -> None:
        self._keys = tuple(keys)
        seen: set[str] = set()
        for i, key in enumerate(self._keys):
            if not key.name:
                raise InvalidArgument(f"keys[{i}].name", "required")
            if not _SHA256_HEX.match(key.sha256):
                raise InvalidArgument(f"keys[{i}].sha256", "must be 64 lowercase hex digits")
            if key.sha256 in seen:
                raise InvalidArgument(f"keys[{i}].sha256", "the same key is listed twice")
            seen.add(key.sha256)
        self._hashes = tuple(bytes.fromhex(k.sha256) for k in self._keys)

    @classmethod
    def from_file(cls, path: str | Path) -> ApiKeyAuthenticator:
        text = Path(path).read_text()
        loaded: Any = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        entries = loaded.get("keys") if isinstance(loaded, Mapping) else loaded
        if not isinstance(entries, list):
            raise InvalidArgument(str(path), "expected a list of {name, sha256} under 'keys'")
        keys = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                raise InvalidArgument(f"{path}:keys[{i}]", "expected a mapping")
            unknown = set(entry) - {"name", "sha256", "rate_per_s", "burst"}
            if unknown:
                raise InvalidArgument(f"{path}:keys[{i}]", f"unknown fields {sorted(unknown)}")
            keys.append(
                ApiKey(
                    name=str(entry.get("name", "")),
                    sha256=str(entry.get("sha256", "")).lower(),
                    rate_per_s=_opt(entry.get("rate_per_s"), float),
                    burst=_opt(entry.get("burst"), int),
                )
            )
        return cls(keys)

    @classmethod
    def from_settings(cls, access: AccessSettings) -> ApiKeyAuthenticator:
        """From ``access.api_keys_file`` (``SOLACE_API_KEYS_FILE``); open when it is empty."""
        path = access.api_keys_file
        return cls.from_file(path) if path else cls()

    def accepting(self, key: ApiKey) -> ApiKeyAuthenticator:
        """A new authenticator: these keys plus ``key`` (whose hash must not be listed yet)."""
        return ApiKeyAuthenticator((*self._keys, key))

    def knows(self, sha256: str) -> bool:
        """True when a key with this hash is configured."""
        return any(k.sha256 == sha256 for k in self._keys)

    @property
    def is_open(self) -> bool:
        """True when no keys are configured: every call is let in."""
        return not self._keys

    @property
    def names(self) -> list[str]:
        return sorted({k.name for k in self._keys})

    def rate_limits(self) -> dict[str, tuple[float, int]]:
        """Per-name (rate_per_s, burst) overrides, for ``ratelimit.open_rate_limiter``."""
        return {
            k.name: (k.rate_per_s, k.burst)  # type: ignore[misc]
            for k in self._keys
            if k.rate_per_s is not None and k.burst is not None
        }

    def authenticate(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
        """The name of the key presented in ``metadata``; raises ``Unauthenticated``.

        ``metadata`` is the call's invocation metadata as (key, value) pairs, e.g.
        ``context.invocation_metadata()`` or a handler call details' ``invocation_metadata``.
        """
        if self.is_open:
            return OPEN_KEY_NAME
        presented = _presented_key(metadata or ())
        if presented is None:
            raise Unauthenticated(
                "missing API key: send it as 'x-api-key' or 'authorization: Bearer' metadata"
            )
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        match: str | None = None
        # Compare against every hash with no early exit, so timing says nothing about which
        # (or whether an earlier) entry matched.
        for key, stored in zip(self._keys, self._hashes, strict=True):
            if hmac.compare_digest(digest, stored) and match is None:
                match = key.name
        if match is None:
            raise Unauthenticated("invalid API key")
        return match


def _opt(value: Any, kind: type) -> Any:
    return None if value is None else kind(value)


def _presented_key(metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
    for name, value in metadata:
        if isinstance(value, bytes):
            continue  # "-bin" metadata never carries a key
        lowered = name.lower()
        if lowered == API_KEY_HEADER and value.strip():
            return value.strip()
        if lowered == "authorization":
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None
